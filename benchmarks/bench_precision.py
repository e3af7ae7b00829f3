"""OpenVINO's precisions on this CPU: how far each one's boxes are from torch's, and how fast. Figures, not asserts.

    python benchmarks/bench_precision.py            # the bundled detector, a webcam frame's shape, 384 and 640 px

For each input shape: the float export compiled in f32, the same IR in bf16 (only where the CPU computes bf16
natively: AMX / AVX512_BF16), and the INT8 export with its float layers in f32 and in bf16. Prints the precision
read back from each compiled model, the worst IoU and confidence gap between a torch box (conf >= 0.35, what the
export check compares) and its twin on bus.jpg and zidane.jpg, and the median time of 15 calls on bus.jpg,
the variants interleaved so a busy machine slows them all alike. The CPU's flags come first.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("VISION_DEMO_HOME", tempfile.mkdtemp(prefix="bench_precision_"))

import vision_demo  # noqa: E402,F401  (offline environment first)


def main() -> int:
    import numpy as np
    from PIL import Image
    from ultralytics import YOLO

    from vision_demo.detect import export
    from vision_demo.detect.box_match import iou
    from vision_demo.detect.boxes import boxes_from_result
    from vision_demo.detect.precision import cpu_flags, cpu_has_bf16, pin_precision
    from vision_demo.detect.weights import default_weights

    weights = str(default_weights())
    print(f"CPU flags: {', '.join(cpu_flags()) or 'none of VNNI / AVX512_BF16 / AMX'}; native bf16: {cpu_has_bf16()}")
    reference = YOLO(weights, task="detect")
    images = [str(p) for p in export.check_images()]
    bus = np.asarray(Image.open(images[0]).convert("RGB"))[:, :, ::-1].copy()
    wanted = [("openvino", "f32"), ("openvino-bf16", "bf16"), ("openvino-int8", "f32"), ("openvino-int8", "bf16")]
    for shape in [(256, 320), (384, 384), (640, 640)]:
        variants = []
        for fmt, precision in wanted:
            if export.unavailable(fmt) or (precision == "bf16" and not cpu_has_bf16()):
                continue
            status = export.EXPORTS.wait(weights, shape, fmt)
            if status.state != "ready":
                print(f"{shape} {fmt}: {status.state} ({status.message})")
                continue
            model = YOLO(status.path, task="detect")
            model.predict(np.zeros((*shape, 3), np.uint8), imgsz=list(shape), device="cpu", verbose=False)
            variants.append((f"{fmt} ({pin_precision(model, status.path, precision)})", model))
        for name, model in variants:
            worst_iou, worst_conf = 1.0, 0.0
            for image in images:
                ours, theirs = (boxes_from_result(m.predict(image, imgsz=list(shape), conf=0.25, device="cpu", rect=False,
                                                            verbose=False)[0], reference.names) for m in (reference, model))
                for box in (b for b in ours if b["confidence"] >= 0.35):
                    twins = [(iou(box["xyxy"], t["xyxy"]), abs(t["confidence"] - box["confidence"]))
                             for t in theirs if t["class_id"] == box["class_id"]]
                    overlap, gap = max(twins, default=(0.0, 1.0))
                    worst_iou, worst_conf = min(worst_iou, overlap), max(worst_conf, gap)
            print(f"{shape[1]}x{shape[0]} {name:22s} worst IoU with torch {worst_iou:.3f}, worst confidence gap {worst_conf:.3f}")
        times = {name: [] for name, _ in variants}
        for _ in range(15):
            for name, model in variants:
                start = time.perf_counter()
                model.predict(bus, imgsz=list(shape), device="cpu", verbose=False, rect=False)
                times[name].append(time.perf_counter() - start)
        print(f"{shape[1]}x{shape[0]} median ms: " + "; ".join(f"{n} {1000 * np.median(t):.1f}" for n, t in times.items()),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
