"""Live video: one webcam frame in (a JPEG as a data URL, as a browser canvas makes it), its boxes out as JSON.

The browser keeps the frame it sent and draws the boxes on it itself, so a frame crosses the network once
(the upload) and the answer is a few hundred bytes: no annotated picture to encode, write, serve and decode
per frame. What the class sees is exactly the frame the model saw, with its boxes — never boxes from an
older frame laid over a newer one.

    answer = detect_frame(detector, data_url, conf=0.25, iou=0.7, imgsz=320, runtime="auto")
    # {"boxes": [{"name": "Normal", "conf": 0.91, "xyxy": [...], "colour": "#ff3838", "label": "person · upright 0.91"}],
    #  "w": 640, "h": 480,
    #  "size": 320, "ms": {...}, "runtime": "openvino", "note": "", "summary": "2 boxes (2 person) in 24 ms (openvino)"}
    # or {"busy": True} when the model stayed busy with others (the browser then sends a newer frame)

    LIVE_VIEWERS.seen(viewer, "server", frame_ms)   # each frame: who streams, and the server's time per frame
    LIVE_VIEWERS.snapshot()   # {"viewers": 3, "on_server": 1, "frame_ms": 14.2, "capacity_fps": 70.4}
"""
from __future__ import annotations

import base64
import binascii
import collections
import re
import threading
import time

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
    from vision_demo.detect.detector import box_label, class_meanings

    meanings = class_meanings(det.names)   # "label": the text the page draws, the server's picture's own words
    boxes = [{"name": b["class_name"], "conf": round(b["confidence"], 3), "xyxy": [round(v, 1) for v in b["xyxy"]],
              "colour": colour_hex(b["class_id"]), "label": box_label(b, meanings)} for b in det.boxes]
    return {"boxes": boxes, "w": det.image_size[0], "h": det.image_size[1], "size": int(imgsz), "ms": det.timings_ms,
            "runtime": det.runtime, "precision": det.precision, "note": det.runtime_note, "summary": det.summary()}


# ---- who streams now, and how long the server takes a frame: what `auto` decides with ------------------------
VIEWER_WINDOW_S = 5.0      # a viewer counts while it sent a frame (or, in the browser, asked the plan) this recently
MAX_VIEWERS = 10_000       # ids remembered at most (a hostile page could invent one per request)
FRAME_SAMPLES = 30         # the server's frame time is the median of its last 30 frames
VIEWER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def viewer_id(payload_id, request_host: str | None = None) -> str:
    """The page's own random id (one per open page), or the client's address when it sent none or a bad one."""
    if isinstance(payload_id, str) and VIEWER_ID.fullmatch(payload_id):
        return payload_id
    return f"host-{request_host or 'unknown'}"


class LiveViewers:
    """Pages streaming the Detect webcam now (on either path) and the server's time per frame.

    The server can do about 1000 / frame_ms frames a second in all (one model, frames take turns); with N pages
    streaming, each page's share is that over N. Pages that run the model themselves still count: they are the
    ones that would come back if the server looked free, and all of them coming back at once would make it not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, str]] = {}   # viewer -> (last seen, "server" | "browser")
        self._frame_ms: collections.deque[float] = collections.deque(maxlen=FRAME_SAMPLES)

    def seen(self, viewer: str, path: str, frame_ms: float | None = None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._seen[viewer] = (now, "browser" if path == "browser" else "server")
            if frame_ms is not None:
                self._frame_ms.append(float(frame_ms))
            if len(self._seen) > MAX_VIEWERS or len(self._seen) % 64 == 0:
                self._forget(now)

    def _forget(self, now: float) -> None:
        for key in [k for k, (t, _) in self._seen.items() if now - t > VIEWER_WINDOW_S]:
            del self._seen[key]
        while len(self._seen) > MAX_VIEWERS:   # the oldest first
            del self._seen[min(self._seen, key=lambda k: self._seen[k][0])]

    def snapshot(self, now: float | None = None) -> dict:
        """{"viewers": pages streaming now, "on_server": of them on the server path, "frame_ms": the server's
        median time per frame (None before its first), "capacity_fps": frames a second the server does in all}."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget(now)
            paths = [p for _, p in self._seen.values()]
            samples = sorted(self._frame_ms)
        frame_ms = samples[len(samples) // 2] if samples else None
        return {"viewers": len(paths), "on_server": paths.count("server"),
                "frame_ms": round(frame_ms, 1) if frame_ms else None,
                "capacity_fps": round(1000 / frame_ms, 1) if frame_ms else None}

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
            self._frame_ms.clear()


LIVE_VIEWERS = LiveViewers()
