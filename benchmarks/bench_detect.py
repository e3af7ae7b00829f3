"""Detection speed on this machine: figures, not asserts.

    python benchmarks/bench_detect.py                 # detect latency, webcam frame rate, sliding window
    python benchmarks/bench_detect.py --train         # + the fine-tune vs scratch comparison (a few CPU minutes)

Prints: bundled person detector on bus.jpg (people found; cold first call; warm median at 320 and 640 px;
the stages), how many webcam frames per second predict_frame sustains and how many it drops when frames
arrive faster than that, the sliding-window cost table, and with --train the mAP of 6 epochs fine-tuned
from the bundled detector against 6 epochs from scratch on the generated shapes.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vision_demo  # noqa: E402,F401  (offline environment first)


def bench_detect() -> None:
    import ultralytics

    from vision_demo.detect.detector import get_detector

    bus = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
    t = time.perf_counter()
    detector = get_detector()
    print(f"load bundled person detector: {(time.perf_counter() - t) * 1000:.0f} ms")
    cold = detector.predict(bus, imgsz=640)
    print(f"bus.jpg cold first call at 640 px: {cold.timings_ms['total']:.0f} ms, {len(cold.boxes)} people")
    for imgsz in (320, 640):
        runs = [detector.predict(bus, imgsz=imgsz) for _ in range(7)]
        total = statistics.median(r.timings_ms["total"] for r in runs)
        stages = {k: statistics.median(r.timings_ms[k] for r in runs) for k in runs[0].timings_ms}
        people = len([b for b in runs[-1].boxes if b["class_name"] in ("Normal", "Fall")])
        print(f"bus.jpg at {imgsz} px: {people} people, median {total:.0f} ms  "
              + " ".join(f"{k} {v:.1f}" for k, v in stages.items()))


def bench_frames(seconds: float = 5.0, fps: float = 20.0) -> None:
    """Frames arriving at `fps` from one thread per frame (as a browser would send them)."""
    import numpy as np

    from vision_demo.detect.detector import get_detector

    detector = get_detector()
    frame = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    done, dropped, latencies = [], [], []
    lock = threading.Lock()

    def send():
        t = time.perf_counter()
        result = detector.predict_frame(frame, imgsz=320)
        with lock:
            (done if result is not None else dropped).append(1)
            if result is not None:
                latencies.append((time.perf_counter() - t) * 1000)

    threads = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        th = threading.Thread(target=send)
        th.start()
        threads.append(th)
        time.sleep(1 / fps)
    for th in threads:
        th.join()
    print(f"webcam: {len(threads)} frames at {fps:.0f} fps in {seconds:.0f} s -> {len(done)} processed "
          f"({len(done) / seconds:.1f}/s), {len(dropped)} dropped; latency median "
          f"{statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms (does not grow: no queue)")


def bench_sliding() -> None:
    from vision_demo.detect.sliding_window import format_cost, sliding_window_cost

    print(format_cost(sliding_window_cost()))


def bench_train() -> None:
    from vision_demo.detect.train import YoloTrainConfig, submit
    from vision_demo.jobs import JobRegistry

    with tempfile.TemporaryDirectory() as tmp:
        registry = JobRegistry(tmp)
        for scratch in (False, True):
            job = submit(registry, YoloTrainConfig(data="shapes", epochs=6, imgsz=320, batch=16, scratch=scratch))
            state = registry.wait(job)
            r = state.result or {}
            print(f"{state.name}: {state.status} mAP50 {r.get('map50', 0):.3f} mAP50-95 {r.get('map50_95', 0):.3f} "
                  f"in {r.get('wall_seconds', 0):.0f} s")
        registry.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", action="store_true", help="also run the fine-tune vs scratch comparison")
    args = parser.parse_args()
    bench_detect()
    bench_frames()
    bench_sliding()
    if args.train:
        bench_train()
