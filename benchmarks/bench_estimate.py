"""How good is the "about N left" line? Runs the Train a detector tab's "Pretrained vs scratch" pair (or the
Train & compare tab's four runs) through the job system and samples `job_view.progress_summary` every second.
Figures are printed, never asserted:

    python benchmarks/bench_estimate.py                   # detector pair, shapes, 6 epochs at 320 px
    python benchmarks/bench_estimate.py --rounds 2        # and the same pair again, after the first
    python benchmarks/bench_estimate.py --compare         # classification: Compare all four, scenes
    python benchmarks/bench_estimate.py --compare --data DIR --img-size 64 [--per-class N]
        # also the estimate Train & compare shows before a big set starts (classify/compare_time.py), against
        # the time the four runs then take

Prints each sample ("t=12 s: 1 running · 1 waiting — about 3 min 20 s left"), then the first figure shown
against the real time the queue took from the moment that figure was shown (what it should have said), for
job_view.time_left and, on the same snapshots, for the estimate it replaced (elapsed since the job's start /
progress, so the set-up was spread over the whole run): before and after on one run, under the same load.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision_demo.jobs import JobRegistry  # noqa: E402
from vision_demo.ui import job_view  # noqa: E402


def from_start(states, now):
    """The estimate before issue 20 item 3: a running job's elapsed time since its start / its progress."""
    lengths, left, waiting = [], 0.0, 0
    for s in states:
        if s.status == "finished" and s.started and s.ended:
            lengths.append(s.ended - s.started)
        elif s.status == "running" and s.started and s.progress >= 0.02:
            elapsed = max(0.0, now - s.started)
            lengths.append(elapsed / s.progress)
            left += elapsed * (1 - s.progress) / s.progress
        elif s.status in ("running", "queued"):
            waiting += 1
    if waiting and not lengths:
        return None
    return left + waiting * (sum(lengths) / len(lengths) if lengths else 0.0)


def submit_pair(registry, epochs: int, imgsz: int) -> list[str]:
    from vision_demo.detect.train import YoloTrainConfig, submit
    return [submit(registry, YoloTrainConfig(data="shapes", scratch=s, epochs=epochs, imgsz=imgsz))
            for s in (False, True)]


def submit_compare(registry, data: str, epochs: int, img_size: int, per_class: int | None) -> list[str]:
    from vision_demo.classify.train import submit_compare as compare
    return compare(registry, data=data, epochs=epochs, img_size=img_size, per_class=per_class)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="the four classification runs instead of the detectors")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--imgsz", type=int, default=320, help="detectors' image size")
    ap.add_argument("--data", default="scenes", help="--compare: the classification set")
    ap.add_argument("--img-size", type=int, default=96, help="--compare: the classifiers' image size")
    ap.add_argument("--per-class", type=int, default=None, help="--compare: at most N training images per class")
    ap.add_argument("--rounds", type=int, default=1, help="run it again on the same registry (a lesson's second "
                                                          "click: the earlier jobs' lengths are known)")
    args = ap.parse_args(argv)
    predicted = None
    if args.compare:
        from vision_demo.classify.compare_time import measure_compare
        estimate = measure_compare(args.data, img_size=args.img_size, batch_size=32)
        predicted = estimate.seconds(args.epochs or 3, args.per_class)
        print(f"measured in {estimate.measure_seconds:.1f} s from {estimate.batches_measured} batches: the compare "
              f"should take {predicted:.0f} s ({estimate.train_images_with(args.per_class)} training images)")
    with tempfile.TemporaryDirectory() as root:
        registry = JobRegistry(Path(root) / "jobs", max_concurrent=1)
        for round_ in range(1, args.rounds + 1):
            print(f"\nround {round_}: " + ("Compare all four" if args.compare else "Pretrained vs scratch"))
            start = time.time()
            ids = (submit_compare(registry, args.data, args.epochs or 3, args.img_size, args.per_class)
                   if args.compare else submit_pair(registry, args.epochs or 6, args.imgsz))
            samples = sample_until_done(registry, ids, start)
            report(samples, predicted if round_ == 1 else None)
        registry.shutdown()
    return 0


def sample_until_done(registry, ids, start):
    """Every second, what the board shows (every job of the registry, as 'Show every job' does, so an earlier
    round's finished jobs count) until the new jobs have ended: (t, time_left, line, the old estimate)."""
    samples = []
    while True:
        states = registry.snapshot()
        now = time.time()
        ended = all(s.done for s in states if s.id in ids)
        line = job_view.progress_summary(states, now)
        left = None if ended else job_view.time_left(states, now)
        old = None if ended else from_start(states, now)
        samples.append((now - start, left, line, old))
        print(f"t={now - start:5.1f} s: {line}   [from the start: {'–' if old is None else f'{old:.0f} s'}]",
              flush=True)
        if ended:
            return samples
        time.sleep(1.0)


def report(samples, predicted=None) -> None:
    total = samples[-1][0]
    print(f"\nqueue took {total:.0f} s from submit")
    if predicted is not None:
        print(f"compare_time predicted {predicted:.0f} s before it started: ratio {predicted / total:.2f}")
    for which, k in (("since the set-up (now)", 1), ("from the job's start (before)", 3)):
        first = next(((s[0], s[k]) for s in samples if s[k] is not None), None)
        if first:
            t, left = first
            print(f"{which}: first figure at t={t:.0f} s: about {left:.0f} s left; really {total - t:.0f} s "
                  f"(ratio {left / max(total - t, 1e-9):.2f})")
        for frac in (0.25, 0.5):
            s = min(samples, key=lambda s: abs(s[0] - frac * total))
            if s[k] is not None:
                print(f"    at t={s[0]:.0f} s ({frac:.0%}): about {s[k]:.0f} s left; really {total - s[0]:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
