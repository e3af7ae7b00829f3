"""Detectors for the student's browser: an ONNX export per (weights, input shape), INT8 when it keeps the boxes,
and the same letterbox -> model -> decode -> class-wise NMS the page runs in JS, here in numpy to check it.

    from vision_demo.detect.browser_export import BROWSER_EXPORTS, detect_onnx
    status = BROWSER_EXPORTS.request(weights, (256, 320))   # starts an export job if needed; .state as in export.py
    status.url        # "/vd/model/<sha256>-256x320-int8.onnx" once ready: the page fetches it once, then caches it
    boxes = detect_onnx(session, rgb, conf=0.25, iou=0.7)   # Python's answer for the same export (the parity test)

Why a browser export: the server's two cores split across a class give each student 68/N frames a second
(issue 19); the student's own laptop runs the same graph with onnxruntime-web at ~5-10 frames a second for free.
The float graph is the ONNX export of export.py (format "onnx": same folder, same check against torch).
The INT8 one is onnxruntime's static quantization (QDQ: 8-bit weights per channel, 8-bit activations whose
scales were measured on crops of the example photos), 4x smaller (11 MB instead of 44 MB: the download per
student) and ~1.8x faster in WASM. One trap: the Detect head's decode (DFL, the concat of box coordinates and
class scores) shares one scale for pixel coordinates (0..320) and scores (0..1), which rounds every score to
0 and loses every box. So the head's non-convolution nodes stay in float (`nodes_to_exclude`), and the INT8
graph is served only after its boxes matched torch's on the example photos (export.py's check, its INT8
tolerance); else the page gets the float graph.

The model's output, (1, 4 + classes, anchors): per anchor cx, cy, w, h in input pixels, then one score per class
(already a sigmoid; YOLOv8 has no objectness). The page does what Ultralytics' postprocess does: keep anchors
whose best score passes conf (and the class filter), class-wise NMS at iou, at most 300 boxes, undo the letterbox.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision_demo.detect.export import (EXPORTS, TOLERANCE, _boxes_of, check_images, compare_boxes, export_folder,
                                       export_job, find_export, input_shape, shape_text, weights_digest)
from vision_demo.errors import VisionDemoError

log = logging.getLogger(__name__)

VARIANTS = ("int8", "f32")      # fastest first: the page gets the first one ready and checked
PAD_VALUE = 114                 # Ultralytics' letterbox grey
MAX_DET = 300                   # Ultralytics' max_det
MAX_WH = 7680                   # class offset for class-wise NMS in one pass (Ultralytics' value)
CALIBRATION_CROPS = 16          # pictures the INT8 scales are measured on (issue 19: 16 were enough)
MAX_IR_VERSION = 13             # onnxruntime-web 1.30 reads ONNX IR <= 13
KEY = re.compile(r"([0-9a-f]{64})-(\d{2,4})x(\d{2,4})-(int8|f32)")


# ---- the page's pipeline, in numpy (the JS in vision_demo/ui/web/yolo_browser.js does the same steps) ----------
def letterbox_params(image_hw, shape) -> tuple[float, int, int, int, int]:
    """(gain, new_w, new_h, left, top) of Ultralytics' LetterBox(auto=False, center=True) into `shape` (h, w)."""
    h, w = image_hw
    r = min(shape[0] / h, shape[1] / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    left, top = round((shape[1] - new_w) / 2 - 0.1), round((shape[0] - new_h) / 2 - 0.1)
    return r, new_w, new_h, left, top


def letterbox(rgb: np.ndarray, shape) -> np.ndarray:
    """The (1, 3, h, w) float32 input in 0..1: scaled to fit, centred on grey, as Ultralytics does it."""
    import cv2

    _, new_w, new_h, left, top = letterbox_params(rgb.shape[:2], shape)
    canvas = np.full((shape[0], shape[1], 3), PAD_VALUE, np.uint8)
    resized = rgb if (new_w, new_h) == rgb.shape[1::-1] else cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas[top:top + new_h, left:left + new_w] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS (torchvision's): indices kept, strongest first; a box goes when its IoU with a kept one > iou."""
    order, keep = np.argsort(-scores, kind="stable"), []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size and len(keep) < MAX_DET:
        i, order = order[0], order[1:]
        keep.append(int(i))
        xx1, yy1 = np.maximum(boxes[i, 0], boxes[order, 0]), np.maximum(boxes[i, 1], boxes[order, 1])
        xx2, yy2 = np.minimum(boxes[i, 2], boxes[order, 2]), np.minimum(boxes[i, 3], boxes[order, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        order = order[inter / (areas[i] + areas[order] - inter + 1e-9) <= iou]
    return keep


def decode(output: np.ndarray, image_hw, shape, conf: float = 0.25, iou: float = 0.7, classes=None,
           names: dict | None = None) -> list[dict]:
    """Boxes (export.py's dicts: class_id, class_name, confidence, xyxy in image pixels) from the raw output."""
    pred = output[0].T                                   # (anchors, 4 + nc)
    scores = pred[:, 4:]
    cls, best = scores.argmax(1), scores.max(1)
    keep = best > conf
    if classes:
        keep &= np.isin(cls, list(classes))
    pred, cls, best = pred[keep], cls[keep], best[keep]
    xyxy = np.concatenate([pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2], 1)
    kept = nms(xyxy + cls[:, None] * MAX_WH, best, iou)   # offset per class: boxes of two classes never overlap
    gain, new_w, new_h, left, top = letterbox_params(image_hw, shape)
    h, w = image_hw
    out = []
    for i in kept:
        x1, y1, x2, y2 = xyxy[i]
        x1, x2 = [float(np.clip((v - left) / (new_w / w), 0, w)) for v in (x1, x2)]
        y1, y2 = [float(np.clip((v - top) / (new_h / h), 0, h)) for v in (y1, y2)]
        c = int(cls[i])
        out.append({"class_id": c, "class_name": (names or {}).get(c, str(c)), "confidence": float(best[i]),
                    "xyxy": [x1, y1, x2, y2]})
    return out


def session_for(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def model_shape(session) -> tuple[int, int]:
    h, w = session.get_inputs()[0].shape[2:]
    return int(h), int(w)


def detect_onnx(session, rgb: np.ndarray, conf: float = 0.25, iou: float = 0.7, classes=None, names=None) -> list[dict]:
    """Python's boxes for one RGB picture through an ONNX export: the page's pipeline, step for step."""
    shape = model_shape(session)
    output = session.run(None, {session.get_inputs()[0].name: letterbox(rgb, shape)})[0]
    return decode(output, rgb.shape[:2], shape, conf, iou, classes, names)


# ---- the INT8 export -------------------------------------------------------------------------------------
def int8_folder(digest: str, shape) -> Path:
    return export_folder(digest, shape, "onnx-web-int8")


def find_int8(digest: str, shape) -> Path | None:
    folder = int8_folder(digest, shape)
    try:
        check = json.loads((folder / "check.json").read_text())
    except (OSError, ValueError):
        return None
    model = folder / "model.onnx"
    return model if check.get("agree") and model.exists() else None


def int8_failure(digest: str, shape) -> str | None:
    """Why the INT8 export was refused (its boxes moved), remembered on disk so it is not tried again."""
    try:
        check = json.loads((int8_folder(digest, shape) / "check.json").read_text())
    except (OSError, ValueError):
        return None
    return None if check.get("agree") else check.get("differs")


def head_nodes(model) -> list[str]:
    """The Detect head's nodes that must stay float: every non-Conv node of the last module (/model.N/)."""
    names = [n.name for n in model.graph.node]
    indices = [int(m.group(1)) for n in names if (m := re.match(r"/model\.(\d+)/", n))]
    if not indices:
        raise VisionDemoError("the ONNX graph has no /model.N/ node names: not an Ultralytics YOLO export")
    head = f"/model.{max(indices)}/"
    return [n.name for n in model.graph.node if n.name.startswith(head) and n.op_type != "Conv"]


def calibration_inputs(shape, images=()) -> list[np.ndarray]:
    """Letterboxed crops of the example photos (and a trained job's images): what the 8-bit scales are fitted to."""
    from vision_demo.images import load_rgb

    inputs = []
    for source in [*check_images(), *images]:
        rgb = np.asarray(load_rgb(source))
        h, w = rgb.shape[:2]
        for fx, fy in ((0, 0), (0.25, 0), (0, 0.25), (0.25, 0.25)):
            crop = rgb[int(h * fy):int(h * (fy + 0.75)), int(w * fx):int(w * (fx + 0.75))]
            inputs += [letterbox(crop, shape), letterbox(np.ascontiguousarray(crop[:, ::-1]), shape)]
        inputs.append(letterbox(rgb, shape))
    return inputs[:CALIBRATION_CROPS] if len(inputs) > CALIBRATION_CROPS else inputs


def quantize(float_path: Path, out: Path, shape, images=()) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_name("pre.onnx")
    quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
    model = onnx.load(str(pre))
    name = model.graph.input[0].name
    batches = iter([{name: x} for x in calibration_inputs(shape, images)])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(batches, None)

    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=head_nodes(model))
    pre.unlink()
    quantized = onnx.load(str(out))
    if quantized.ir_version > MAX_IR_VERSION:
        quantized.ir_version = MAX_IR_VERSION
        onnx.save(quantized, str(out))


def browser_export_job(ctx, weights: str, shape, images: list[str] | None = None) -> dict:
    """Job body: the float ONNX export (export.py's, made here if missing), then INT8, checked against torch."""
    from vision_demo.ultralytics_env import ultralytics_ready

    ultralytics_ready()
    from ultralytics import YOLO

    from vision_demo.images import load_rgb

    started, digest, shape = time.perf_counter(), weights_digest(weights), input_shape(shape)
    float_path = find_export(digest, shape, "onnx")
    if float_path is None:
        float_path = Path(export_job(ctx, weights, shape, "onnx", images)["path"])
    final = int8_folder(digest, shape)
    build = Path(tempfile.mkdtemp(prefix=f".building-{final.name}-", dir=final.parent))
    try:
        ctx.emit("progress", fraction=0.7, message=f"quantizing the {shape_text(shape)} graph to INT8 for the browser "
                                                    "(the head's decode stays float)")
        quantize(float_path, build / "model.onnx", shape, images or [])
        ctx.check_stop()
        ctx.emit("progress", fraction=0.9, message="checking the INT8 boxes against torch on the example photos")
        reference = YOLO(weights, task="detect")
        names = {int(k): str(v) for k, v in reference.names.items()}
        session = session_for(build / "model.onnx")
        iou_min, conf_tol = TOLERANCE["openvino-int8"]   # the same allowance as the server's INT8
        checks, differs = [], None
        for image in [*check_images(), *(images or [])]:
            a = _boxes_of(reference, image, shape, 0.25)
            b = detect_onnx(session, np.asarray(load_rgb(image)), 0.25, 0.7, names=names)
            diff = compare_boxes(a, b, 0.25, iou_min, conf_tol)
            checks.append({"image": Path(image).name, "torch_boxes": len(a), "export_boxes": len(b), "differs": diff})
            differs = differs or (diff and f"{Path(image).name}: {diff}")
        (build / "check.json").write_text(json.dumps({"agree": not differs, "differs": differs, "sha256": digest,
                                                      "imgsz": list(shape), "names": names, "checks": checks},
                                                     indent=1))
        if differs:
            (build / "model.onnx").unlink()   # 11 MB nobody will load; check.json stays: the reason, not retried
        try:
            os.replace(build, final)
        except OSError:
            if find_int8(digest, shape) is None and int8_failure(digest, shape) is None:
                raise
        if differs:
            raise VisionDemoError(f"the INT8 browser export disagrees with torch on {differs}; the browser gets float")
        return {"path": str(final / "model.onnx"), "imgsz": list(shape), "sha256": digest, "checks": checks,
                "seconds": round(time.perf_counter() - started, 2)}
    finally:
        shutil.rmtree(build, ignore_errors=True)


# ---- what the page is told -------------------------------------------------------------------------------
@dataclass
class BrowserModel:
    state: str                 # "ready" | "exporting" | "failed" | "missing"
    shape: tuple[int, int]
    variant: str | None = None  # "int8" | "f32" when ready
    url: str | None = None
    bytes: int = 0
    progress: float = 0.0
    message: str = ""

    def to_dict(self) -> dict:
        return {"state": self.state, "shape": list(self.shape), "variant": self.variant, "url": self.url,
                "bytes": self.bytes, "progress": round(self.progress, 2), "message": self.message}


def model_key(digest: str, shape, variant: str) -> str:
    h, w = input_shape(shape)
    return f"{digest}-{h}x{w}-{variant}"


def served_model(key: str) -> Path | None:
    """The file behind /vd/model/<key>.onnx: a checked export on disk, else None (never any other path)."""
    m = KEY.fullmatch(key)
    if not m:
        return None
    digest, shape, variant = m.group(1), (int(m.group(2)), int(m.group(3))), m.group(4)
    return find_int8(digest, shape) if variant == "int8" else find_export(digest, shape, "onnx")


class BrowserExports:
    """One INT8 job per (weights, shape), in the export registry (exports take turns on the CPU)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, tuple[int, int]], str] = {}
        self._root = None

    def request(self, weights, shape, start: bool = True, images: list[str] | None = None) -> BrowserModel:
        shape = input_shape(shape)
        digest = weights_digest(weights)
        for variant in VARIANTS:
            path = served_model(model_key(digest, shape, variant))
            if path is not None and (variant == "int8" or int8_failure(digest, shape) is not None or not start):
                return BrowserModel("ready", shape, variant, f"/vd/model/{model_key(digest, shape, variant)}.onnx",
                                    path.stat().st_size, 1.0, "ready")
        if int8_failure(digest, shape) is not None:   # refused, and no float either: the float export failed
            return BrowserModel("failed", shape, message=int8_failure(digest, shape))
        registry = EXPORTS.registry()
        with self._lock:
            if self._root is not registry:
                self._jobs, self._root = {}, registry
            job_id = self._jobs.get((digest, shape))
            if job_id is None:
                if not start:
                    return BrowserModel("missing", shape, message="not exported for the browser yet")
                job_id = registry.submit("export", f"browser INT8 export, {shape_text(shape)}: {Path(weights).name}",
                                         {"weights": str(weights), "imgsz": list(shape), "format": "onnx-web-int8"},
                                         lambda ctx: browser_export_job(ctx, str(weights), shape, images))
                self._jobs[(digest, shape)] = job_id
        state = registry.get(job_id)
        if state.status in ("failed", "cancelled"):
            float_path = find_export(digest, shape, "onnx")
            if float_path is not None:   # INT8 refused: the float graph it was made from
                return BrowserModel("ready", shape, "f32", f"/vd/model/{model_key(digest, shape, 'f32')}.onnx",
                                    float_path.stat().st_size, 1.0, state.error or "")
            return BrowserModel("failed", shape, message=state.error or state.message)
        if state.status == "finished":
            return self.request(weights, shape, start=False)
        return BrowserModel("exporting", shape, progress=state.progress, message=state.message)

    def wait(self, weights, shape, timeout: float = 900, images: list[str] | None = None) -> BrowserModel:
        status = self.request(weights, shape, images=images)
        if status.state == "exporting":
            job_id = self._jobs[(weights_digest(weights), input_shape(shape))]
            EXPORTS.registry().wait(job_id, timeout)
            status = self.request(weights, shape, images=images)
        return status


BROWSER_EXPORTS = BrowserExports()
