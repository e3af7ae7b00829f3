"""Live video: one webcam frame in (a JPEG as a data URL, as a browser canvas makes it), its boxes out as JSON.

The browser keeps the frame it sent and draws the boxes on it itself, so a frame crosses the network once
(the upload) and the answer is a few hundred bytes: no annotated picture to encode, write, serve and decode
per frame. What the class sees is exactly the frame the model saw, with its boxes — never boxes from an
older frame laid over a newer one.

    answer = detect_frame(detector, data_url, conf=0.25, iou=0.7, imgsz=320, runtime="auto")
    # {"boxes": [{"name": "person", "conf": 0.91, "xyxy": [...], "colour": "#ff3838"}], "w": 640, "h": 480,
    #  "size": 320, "ms": {...}, "runtime": "openvino", "note": "", "summary": "2 boxes (2 person) in 24 ms (openvino)"}
    # or {"busy": True} when the model stayed busy with others (the browser then sends a newer frame)
"""
from __future__ import annotations

import base64
import binascii

from vision_demo.errors import VisionDemoError

MAX_FRAME_BYTES = 3 * 1024**2   # a 640x480 JPEG is ~40 KB; even 1920x1080 at quality 0.95 stays under 1 MB
MAX_FRAME_PIXELS = 1920 * 1440  # the largest a browser camera gives; more is not a webcam frame
# A frame that finds the model busy (another viewer's frame, a photo) waits this long for it, then is dropped.
# Waiting, not dropping at once: a dropped frame was captured, encoded, sent and decoded for nothing, and with a
# class streaming at once the retries would eat the cores the model needs.
WAIT_FOR_MODEL_S = 0.5
PREFIXES = ("data:image/jpeg;base64,", "data:image/png;base64,", "data:image/webp;base64,")


def frame_bytes(data_url) -> bytes:
    """The encoded picture inside a `data:image/...;base64,` URL; VisionDemoError for anything else."""
    if not isinstance(data_url, str) or not data_url.startswith(PREFIXES):
        raise VisionDemoError("a webcam frame must be a data:image/jpeg;base64 URL (a canvas's toDataURL)")
    body = data_url.split(",", 1)[1]
    if len(body) > MAX_FRAME_BYTES * 4 // 3 + 4:
        raise VisionDemoError(f"webcam frame over {MAX_FRAME_BYTES // 1024**2} MB: capture at 640x480")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise VisionDemoError("webcam frame: not valid base64") from None


def colour_hex(class_id: int) -> str:
    from vision_demo.detect.detector import _PALETTE

    r, g, b = _PALETTE[int(class_id) % len(_PALETTE)]
    return f"#{r:02x}{g:02x}{b:02x}"


def detect_frame(detector, data_url, conf: float = 0.25, iou: float = 0.7, classes=None, imgsz: int = 320,
                 runtime: str = "auto") -> dict:
    """Boxes for one frame as JSON-ready data, or {"busy": True} when the model is answering another frame."""
    import time

    from vision_demo.images import load_rgb

    start = time.perf_counter()
    image = load_rgb(frame_bytes(data_url), MAX_FRAME_PIXELS, name="the webcam frame")   # decoded once, checked
    det = detector.predict_frame(image, conf=conf, iou=iou, classes=classes, imgsz=imgsz, runtime=runtime,
                                 draw=False, start=start, wait_s=WAIT_FOR_MODEL_S)
    if det is None:
        return {"busy": True}
    boxes = [{"name": b["class_name"], "conf": round(b["confidence"], 3), "xyxy": [round(v, 1) for v in b["xyxy"]],
              "colour": colour_hex(b["class_id"])} for b in det.boxes]
    return {"boxes": boxes, "w": det.image_size[0], "h": det.image_size[1], "size": int(imgsz), "ms": det.timings_ms,
            "runtime": det.runtime, "precision": det.precision, "note": det.runtime_note, "summary": det.summary()}
