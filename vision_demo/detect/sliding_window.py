"""Why a sliding window cannot compete with one-pass detection: count the windows, time the passes.

    from vision_demo.detect.sliding_window import count_windows, sliding_window_cost
    count_windows((640, 640), window_sizes=(128,), stride_fraction=0.5)   # [{"window": 128, "stride": 64, "n_windows": 81, ...}]
    cost = sliding_window_cost()          # measured on this machine, now
    print(cost["sliding_seconds"], cost["yolo_seconds"], cost["speedup"])
    # CLI: python -m vision_demo sliding-window --image-size 640 640 --windows 64 128 256 --stride 0.5

The classic detector (the seed's Exercise 7) slides a square window over the image at several sizes, with
a stride of half a window so objects on a border are not missed, resizes each crop to the classifier's input
and runs the classifier on it: one forward pass per window. YOLO runs ONE pass over the whole image and
predicts all boxes from it. Both times below are measured (median of a few warm runs, batch 1, no_grad), both in
PyTorch so the race is fair; the sliding-window total is then estimated as passes x one classifier pass (running
all of them would take minutes, which is the point). The Detect tab serves YOLO exported to OpenVINO, a few times
faster again: that pass is measured too, and the tab says so rather than showing two different "YOLO" times.
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


def measure_yolo_ms(weights=None, imgsz: int = 640, runs: int = 5, registry=None, runtime: str = "torch",
                    image_size=None) -> tuple[float, str]:
    """(ms, runtime that ran): one warm YOLO pass (preprocess + inference + NMS) over a whole image of
    `image_size` (height, width; default a square of imgsz), the median of `runs` after one untimed pass, with
    the chosen detector (registry: where "job:<id>" weights are looked up).

    runtime "torch" races the classifier on equal terms (both eager PyTorch); "auto" is what the Detect tab
    serves (the exported OpenVINO/ONNX model once its export is ready, else torch, which is then said)."""
    import numpy as np

    from vision_demo.detect.detector import get_detector

    detector = get_detector(weights, registry=registry)
    height, width = (int(v) for v in (image_size or (imgsz, imgsz)))
    engine, _ = detector.engine(runtime, int(imgsz))   # non-blocking: an export still running means torch now
    key = ("yolo", detector.weights, engine.runtime, int(imgsz), height, width)
    with _measure_lock:
        if key in _measured:
            return _measured[key], engine.runtime
        image = (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)
        # time the model's own stages, not decoding or drawing: a sliding window would do neither
        samples = []
        for i in range(runs + 1):
            t = detector.predict(image, imgsz=imgsz, runtime=engine.runtime).timings_ms
            if i:
                samples.append(t["preprocess"] + t["inference"] + t["postprocess"])
        _measured[key] = statistics.median(samples)
        return _measured[key], engine.runtime


def sliding_window_cost(image_size=(640, 640), window_sizes=(64, 128, 256), stride_fraction=0.5,
                        classifier="resnet18", classifier_size=224, weights=None, yolo_imgsz=640, registry=None) -> dict:
    """Measured cost of one classifier pass and one YOLO pass; the sliding-window estimate; the speedup.

    The race is torch against torch (the classifier is eager PyTorch too). The Detect tab serves the same model
    exported (OpenVINO), several times faster: that pass is measured here the same way (`detect_ms`,
    `detect_runtime`), so the tab can say why its figure is not the Detect tab's."""
    scales = count_windows(image_size, window_sizes, stride_fraction)
    passes = sum(row["n_windows"] for row in scales)
    classifier_ms = measure_classifier_ms(classifier, classifier_size)
    yolo_ms, yolo_runtime = measure_yolo_ms(weights, yolo_imgsz, registry=registry, image_size=image_size)
    detect_ms, detect_runtime = measure_yolo_ms(weights, yolo_imgsz, registry=registry, runtime="auto",
                                                image_size=image_size)
    sliding_seconds = passes * classifier_ms / 1000
    yolo_seconds = yolo_ms / 1000
    return {
        "image_size": [int(v) for v in image_size], "stride_fraction": float(stride_fraction),
        "scales": scales, "passes": passes,
        "classifier": classifier, "classifier_size": int(classifier_size), "classifier_ms": round(classifier_ms, 2),
        "yolo_imgsz": int(yolo_imgsz), "yolo_ms": round(yolo_ms, 2), "yolo_runtime": yolo_runtime,
        "detect_ms": round(detect_ms, 2), "detect_runtime": detect_runtime,
        "sliding_seconds": round(sliding_seconds, 3), "yolo_seconds": round(yolo_seconds, 4),
        "speedup": round(sliding_seconds / yolo_seconds, 1) if yolo_seconds > 0 else math.inf,
    }


def runtime_note(cost: dict) -> str:
    """One line: why the Detect tab's time for the same model is not this one (empty when it runs the same)."""
    if cost.get("detect_runtime", cost.get("yolo_runtime", "torch")) == cost.get("yolo_runtime", "torch"):
        return ""
    return (f"The Detect tab runs the same model exported to {cost['detect_runtime']}: {cost['detect_ms']:.0f} ms "
            f"a pass, measured the same way; its own line also counts decoding and drawing the photo.")


def format_cost(cost: dict) -> str:
    """The table the CLI prints and the UI shows."""
    h, w = cost["image_size"]
    lines = [f"image {w}x{h}, stride {cost['stride_fraction']:g} x window",
             f"{'window':>8} {'stride':>7} {'windows':>9}"]
    lines += [f"{r['window']:>8} {r['stride']:>7} {r['n_windows']:>9}" for r in cost["scales"]]
    lines += [f"{'total':>8} {'':>7} {cost['passes']:>9}",
              f"one {cost['classifier']} pass at {cost['classifier_size']} px: {cost['classifier_ms']:.1f} ms (measured)",
              f"sliding window: {cost['passes']} passes x {cost['classifier_ms']:.1f} ms = {cost['sliding_seconds']:.1f} s (estimated)",
              f"one YOLO pass at {cost['yolo_imgsz']} px in {cost.get('yolo_runtime', 'torch')}: "
              f"{cost['yolo_ms']:.1f} ms (measured)",
              f"YOLO is ~{cost['speedup']:,.0f}x faster on this machine"]
    if runtime_note(cost):
        lines.append(runtime_note(cost))
    return "\n".join(lines)
