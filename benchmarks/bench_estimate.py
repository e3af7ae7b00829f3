"""How good is the "about N left" line? Runs the Train a detector tab's "Pretrained vs scratch" pair (or the
Train & compare tab's four runs) through the job system and samples `job_view.progress_summary` every second.
Figures are printed, never asserted:

    python benchmarks/bench_estimate.py                   # detector pair, shapes, 6 epochs at 320 px
    python benchmarks/bench_estimate.py --compare         # classification: Compare all four, scenes

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


def submit_compare(registry, epochs: int) -> list[str]:
    from vision_demo.classify.train import submit_compare as compare
    return compare(registry, epochs=epochs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", action="store_true", help="the four classification runs instead of the detectors")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--imgsz", type=int, default=320)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as root:
        registry = JobRegistry(Path(root) / "jobs", max_concurrent=1)
        start = time.time()
        ids = (submit_compare(registry, args.epochs or 3) if args.compare
               else submit_pair(registry, args.epochs or 6, args.imgsz))
        samples = []   # (seconds since submit, seconds left as estimated or None, the line, the old estimate)
        while True:
            states = registry.snapshot(ids)
            now = time.time()
            line = job_view.progress_summary(states, now)
            left = None if job_view.all_done(states) else job_view.time_left(states, now)
            old = None if job_view.all_done(states) else from_start(states, now)
            samples.append((now - start, left, line, old))
            print(f"t={now - start:5.1f} s: {line}   [from the start: {'–' if old is None else f'{old:.0f} s'}]",
                  flush=True)
            if job_view.all_done(states):
                break
            time.sleep(1.0)
        total = samples[-1][0]
        registry.shutdown()
    print(f"\nqueue took {total:.0f} s from submit")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
