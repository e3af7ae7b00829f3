"""Why a sliding window cannot compete with one-pass detection: count the windows, time the passes.

    from vision_demo.detect.sliding_window import count_windows, sliding_window_cost
    count_windows((640, 640), window_sizes=(128,), stride_fraction=0.5)   # [{"window": 128, "stride": 64, "n_windows": 81, ...}]
    cost = sliding_window_cost()          # measured on this machine, now
    print(cost["sliding_seconds"], cost["yolo_seconds"], cost["speedup"])
    # CLI: python -m vision_demo sliding-window --image-size 640 640 --windows 64 128 256 --stride 0.5

The classic detector (the seed's Exercise 7) slides a square window over the image at several sizes, with
a stride of half a window so objects on a border are not missed, resizes each crop to the classifier's input
and runs the classifier on it: one forward pass per window. YOLO runs ONE pass over the whole image and
predicts all boxes from it. Both times below are measured (median of a few runs, batch 1, no_grad); the
sliding-window total is then estimated as passes x one classifier pass (running all of them would take
minutes, which is the point).
"""
from __future__ import annotations

import math
import statistics
import threading
import time

_measured: dict[tuple, float] = {}   # (what, model, size) -> ms per pass, for this process
_measure_lock = threading.Lock()


def count_windows(image_size=(640, 640), window_sizes=(64, 128, 256), stride_fraction=0.5) -> list[dict]:
    """Windows per scale for an image of (height, width): positions = floor((side - window) / stride) + 1 per axis."""
    height, width = (int(v) for v in image_size)
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {image_size}")
    if not 0 < float(stride_fraction) <= 1:
        raise ValueError(f"stride_fraction must be in (0, 1], got {stride_fraction}")
    rows = []
    for window in window_sizes:
        window = int(window)
        if window < 1:
            raise ValueError(f"window sizes must be positive, got {window}")
        if window > min(height, width):
            rows.append({"window": window, "stride": 0, "positions_x": 0, "positions_y": 0, "n_windows": 0})
            continue
        stride = max(1, int(round(window * float(stride_fraction))))
        nx = (width - window) // stride + 1
        ny = (height - window) // stride + 1
        rows.append({"window": window, "stride": stride, "positions_x": nx, "positions_y": ny, "n_windows": nx * ny})
    return rows


def median_ms(fn, runs: int = 5, warmup: int = 1) -> float:
    """The median wall time of `runs` calls of fn() after `warmup` untimed ones, in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure_classifier_ms(classifier: str = "resnet18", size: int = 224, runs: int = 5) -> float:
    """One forward pass of a torchvision classifier (random weights: speed does not depend on them), batch 1."""
    key = ("classifier", classifier, int(size))
    with _measure_lock:
        if key in _measured:
            return _measured[key]
        import torch
        import torchvision

        try:
            model = torchvision.models.get_model(classifier, weights=None).eval()
        except ValueError as err:
            from vision_demo.errors import VisionDemoError
            raise VisionDemoError(f"unknown classifier {classifier!r}: use a torchvision model name such as resnet18") from err
        x = torch.rand(1, 3, int(size), int(size))

        def one_pass():
            with torch.no_grad():
                model(x)
        _measured[key] = median_ms(one_pass, runs)
        return _measured[key]


def measure_yolo_ms(weights=None, imgsz: int = 640, runs: int = 5, registry=None) -> float:
    """One YOLO pass (preprocess + inference + NMS) over a whole image, with the chosen detector (registry: where
    "job:<id>" weights are looked up)."""
    import numpy as np

    from vision_demo.detect.detector import get_detector

    detector = get_detector(weights, registry=registry)
    key = ("yolo", detector.weights, int(imgsz))
    with _measure_lock:
        if key in _measured:
            return _measured[key]
        image = (np.random.default_rng(0).random((int(imgsz), int(imgsz), 3)) * 255).astype(np.uint8)

        def one_pass():
            t = detector.predict(image, imgsz=imgsz).timings_ms
            return t
        # time the model's own stages, not the drawing: a sliding window would not draw either
        samples = []
        for i in range(runs + 1):
            t = one_pass()
            if i:
                samples.append(t["preprocess"] + t["inference"] + t["postprocess"])
        _measured[key] = statistics.median(samples)
        return _measured[key]


def sliding_window_cost(image_size=(640, 640), window_sizes=(64, 128, 256), stride_fraction=0.5,
                        classifier="resnet18", classifier_size=224, weights=None, yolo_imgsz=640, registry=None) -> dict:
    """Measured cost of one classifier pass and one YOLO pass; the sliding-window estimate; the speedup."""
    scales = count_windows(image_size, window_sizes, stride_fraction)
    passes = sum(row["n_windows"] for row in scales)
    classifier_ms = measure_classifier_ms(classifier, classifier_size)
    yolo_ms = measure_yolo_ms(weights, yolo_imgsz, registry=registry)
    sliding_seconds = passes * classifier_ms / 1000
    yolo_seconds = yolo_ms / 1000
    return {
        "image_size": [int(v) for v in image_size], "stride_fraction": float(stride_fraction),
        "scales": scales, "passes": passes,
        "classifier": classifier, "classifier_size": int(classifier_size), "classifier_ms": round(classifier_ms, 2),
        "yolo_imgsz": int(yolo_imgsz), "yolo_ms": round(yolo_ms, 2),
        "sliding_seconds": round(sliding_seconds, 3), "yolo_seconds": round(yolo_seconds, 4),
        "speedup": round(sliding_seconds / yolo_seconds, 1) if yolo_seconds > 0 else math.inf,
    }


def format_cost(cost: dict) -> str:
    """The table the CLI prints and the UI shows."""
    h, w = cost["image_size"]
    lines = [f"image {w}x{h}, stride {cost['stride_fraction']:g} x window",
             f"{'window':>8} {'stride':>7} {'windows':>9}"]
    lines += [f"{r['window']:>8} {r['stride']:>7} {r['n_windows']:>9}" for r in cost["scales"]]
    lines += [f"{'total':>8} {'':>7} {cost['passes']:>9}",
              f"one {cost['classifier']} pass at {cost['classifier_size']} px: {cost['classifier_ms']:.1f} ms (measured)",
              f"sliding window: {cost['passes']} passes x {cost['classifier_ms']:.1f} ms = {cost['sliding_seconds']:.1f} s (estimated)",
              f"one YOLO pass at {cost['yolo_imgsz']} px: {cost['yolo_ms']:.1f} ms (measured)",
              f"YOLO is ~{cost['speedup']:,.0f}x faster on this machine"]
    return "\n".join(lines)
