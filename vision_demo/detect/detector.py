"""YOLO prediction: one model per weights file, loaded once, guarded by a lock; boxes, a drawn image, timings.

    from vision_demo.detect.detector import get_detector
    detector = get_detector()                           # the bundled person detector
    det = detector.predict("bus.jpg", conf=0.25, imgsz=640)
    det.boxes[0]   # {"class_id": 0, "class_name": "Normal", "confidence": 0.91, "xyxy": [...], "xywhn": [...]}
    det.timings_ms # {"decode":..., "preprocess":..., "inference":..., "postprocess":..., "draw":..., "total":...}

Why YOLO is fast: ONE forward pass of the whole image predicts every box at once (a grid of cells, each
proposing boxes and class scores), then non-maximum suppression (`iou`) removes duplicates. Compare the
sliding window in sliding_window.py, which runs a classifier once per window.

Runtimes: `runtime="torch"` runs the .pt in PyTorch; "openvino-int8" / "openvino-bf16" / "openvino" / "onnx" run the same weights exported
once per input shape (export.py: a background job, checked against torch before it is used): webcam frames
get the exact shape torch would run for them (640x480 at 320 px is 320x256), a still image the imgsz square
(one export for photos of every aspect ratio); "auto" takes
the fastest one that is ready and passed its check (OpenVINO INT8, then bf16 where the CPU has it, then
float, then ONNX Runtime; precision.py says what each computes in). Until one
is ready, or when all failed, torch answers and
`Detection.runtime_note` says why. On a GPU torch is already the fast path: it is kept.

    det = detector.predict("bus.jpg", imgsz=320, runtime="auto")
    det.runtime, det.runtime_note    # "openvino", ""   or   "torch", "openvino export for 320 px running (60 %: ...)"

Concurrency: an Ultralytics predictor keeps per-call state and is not thread-safe, so each loaded model
(torch, and each export) has one lock around inference. `predict` waits its turn; `predict_frame` (webcam)
never waits: when the model is still busy with an earlier frame the new frame is DROPPED and `None` is
returned, so latency never grows with a queue of stale frames (the UI keeps showing the last result it got).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision_demo.detect.boxes import boxes_from_result
from vision_demo.errors import VisionDemoError


@dataclass
class Detection:
    boxes: list[dict]                 # {class_id, class_name, confidence, xyxy: [x1,y1,x2,y2] px, xywhn: [cx,cy,w,h] 0..1}
    annotated: np.ndarray | None      # RGB uint8 with the boxes drawn (None: predict_frame(draw=False))
    timings_ms: dict[str, float]      # decode, preprocess, inference, postprocess, draw, total
    image_size: tuple[int, int]       # (width, height) of the image the boxes refer to
    weights: str = ""
    names: dict[int, str] = field(default_factory=dict)
    runtime: str = "torch"            # what ran the model: torch | openvino-int8 | openvino-bf16 | openvino | onnx
    runtime_note: str = ""            # why not the runtime asked for (export running or failed, GPU), else ""
    precision: str = "f32"            # what its float layers computed in (read back from the compiled model)

    def to_dict(self) -> dict:
        """JSON-ready (without the image)."""
        return {"boxes": self.boxes, "timings_ms": self.timings_ms, "image_size": list(self.image_size),
                "weights": self.weights, "runtime": self.runtime, "runtime_note": self.runtime_note,
                "precision": self.precision}

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for b in self.boxes:
            counts[b["class_name"]] = counts.get(b["class_name"], 0) + 1
        what = ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or "nothing"
        return f"{len(self.boxes)} boxes ({what}) in {self.timings_ms['total']:.0f} ms ({self.runtime})"


@dataclass
class Engine:
    """One loaded model that can predict, with the lock that keeps its predictor single-threaded."""
    model: object                    # an Ultralytics YOLO (a .pt, an OpenVINO folder or an .onnx file)
    runtime: str                     # torch | openvino-int8 | openvino-bf16 | openvino | onnx
    shape: tuple[int, int] | None = None   # an export's static input (h, w); None: torch takes any size
    precision: str = "f32"           # what its float layers compute in (OpenVINO's: read back from the compiled model)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Detector:
    """One YOLO model (loaded once) and the lock that keeps its predictor single-threaded."""

    def __init__(self, weights_path: Path):
        from vision_demo.ultralytics_env import ultralytics_ready
        from vision_demo.devices import pick_device

        ultralytics_ready()  # safe loading is on: the .pt is opened with weights_only=True
        from ultralytics import YOLO

        self.weights = str(weights_path)
        try:
            self.model = YOLO(self.weights, task="detect")
        except (TypeError, ModuleNotFoundError, AttributeError, RuntimeError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0].replace("ERROR ❌️ ", "")
            raise VisionDemoError(f"could not load {Path(self.weights).name}: {first[:300]}") from err
        if self.model.task != "detect":
            raise VisionDemoError(f"{Path(self.weights).name} is a YOLO {self.model.task} model; this lab needs a detection model")
        self.names: dict[int, str] = {int(k): str(v) for k, v in self.model.names.items()}
        # The device is chosen once: the predictor moves the model there on its first call. Moving it
        # again per request (.to()) would deep-copy the model each time.
        self.device = str(pick_device())
        self.torch = Engine(self.model, "torch")
        self._lock = self.torch.lock          # the torch model's lock (tests look at it)
        self._engines: dict[tuple[str, tuple[int, int]], Engine] = {}   # (format, input shape) -> a loaded export
        self._engines_lock = threading.Lock()
        self.frames_dropped = 0

    # ---- runtimes ----------------------------------------------------------------------------
    def engine(self, runtime: str = "torch", imgsz: int = 640, image_hw=None, wait: bool = False) -> tuple[Engine, str]:
        """The model to run for `runtime` at `imgsz`, and a note when it is not the one asked for.

        image_hw: the (height, width) of the frames to come, for an export of exactly their input shape; None:
        the imgsz square (imgsz may also be an input shape (h, w) itself). "auto" and an export format start that export in the background (once) and answer
        with torch until it is ready; `wait=True` (the CLI) waits for it instead."""
        from vision_demo.detect.export import RUNTIMES, STRIDE, choose, input_shape, installed_formats, waiting_for

        runtime = str(runtime or "auto").strip().lower()
        if runtime not in RUNTIMES:
            raise VisionDemoError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if runtime == "torch":
            return self.torch, ""
        if not self.device.startswith("cpu"):
            # OpenVINO and ONNX Runtime are the CPU's fast paths; on a GPU, CUDA kernels in torch beat them.
            return self.torch, f"torch on {self.device}: exports are for CPUs"
        shape = input_shape(imgsz, image_hw)   # imgsz may already be a shape (h, w): the warm-up's
        if any(side % STRIDE for side in shape):
            return self.torch, f"exports need an image size that is a multiple of {STRIDE} (not {imgsz})"
        formats = installed_formats() if runtime == "auto" else [runtime]
        if not formats:
            return self.torch, "no fast runtime installed (pip install openvino)"
        with self._engines_lock:
            loaded = self._engines.get((formats[0], shape))   # the fastest one, already loaded: nothing to look up
        if loaded is not None:
            return loaded, ""
        chosen, seen = choose(self.weights, shape, runtime, wait=wait)
        if chosen is None:
            status = waiting_for(seen)
            return self.torch, status.text() if status else f"no export for {runtime}"
        return self._load_export(chosen.fmt, shape, chosen.path), ""

    def _load_export(self, fmt: str, shape: tuple[int, int], path: str) -> Engine:
        from vision_demo.detect.export import load_export

        with self._engines_lock:   # loading takes under a second; two requests never load it twice
            engine = self._engines.get((fmt, shape))
            if engine is None:
                # The first call compiles the graph for this CPU (in the precision the runtime promises, the same
                # load as the export's check): pay it here, not on a user's frame.
                model, precision = load_export(path, fmt, shape)
                engine = Engine(model, fmt, shape, precision)
                self._engines[(fmt, shape)] = engine
            return engine

    # ---- public ------------------------------------------------------------------------------
    def predict(self, image, conf: float = 0.25, iou: float = 0.7, classes=None, imgsz: int = 640,
                runtime: str = "torch") -> Detection:
        """Boxes for one image (path, bytes, PIL image or RGB numpy array). BadImageError on a bad image."""
        start = time.perf_counter()
        _check_imgsz(imgsz)
        rgb = self._decode(image)
        decode_ms = (time.perf_counter() - start) * 1000
        engine, note = self.engine(runtime, imgsz)
        with engine.lock:
            return self._run(engine, note, rgb, conf, iou, classes, imgsz, start, decode_ms)

    def predict_frame(self, frame, conf: float = 0.25, iou: float = 0.7, classes=None, imgsz: int = 320,
                      runtime: str = "torch", draw: bool = True, start: float | None = None,
                      wait_s: float = 0.0) -> Detection | None:
        """Webcam frames: latest frame wins. Returns None (the frame is dropped) while the model is busy.

        The model sees the frame letterboxed to `imgsz` (320 by default for live video: ~3x faster than 640);
        the boxes are drawn on the frame at the size it was captured, so the picture that comes back is as
        large and sharp as the one that went out.
        draw=False: boxes only (`annotated` is None), for a browser that draws them itself (detect/live.py:
        it mirrors the frame for display and writes the labels unmirrored).
        start: when the frame arrived (perf_counter), if decoding began before this call.
        wait_s: how long to wait for a busy model before dropping the frame (0: drop at once).
        """
        if frame is None:
            return None
        _check_imgsz(imgsz)
        start = time.perf_counter() if start is None else start
        rgb = self._decode(frame)
        decode_ms = (time.perf_counter() - start) * 1000
        engine, note = self.engine(runtime, imgsz, image_hw=rgb.shape[:2])   # an export of the frame's own shape
        if not (engine.lock.acquire(timeout=wait_s) if wait_s > 0 else engine.lock.acquire(blocking=False)):
            self.frames_dropped += 1
            return None
        try:
            return self._run(engine, note, rgb, conf, iou, classes, imgsz, start, decode_ms, draw)
        finally:
            engine.lock.release()

    def warmup(self, imgsz: int = 640) -> float:
        """Run one prediction on a blank image; returns its ms. The first call sets up the predictor
        (fusing layers, allocating buffers) and takes seconds: do it before the first user waits."""
        return self.predict(np.zeros((imgsz, imgsz, 3), np.uint8), imgsz=imgsz).timings_ms["total"]

    # ---- internals ---------------------------------------------------------------------------
    @staticmethod
    def _decode(image) -> np.ndarray:
        from vision_demo.images import load_rgb

        return np.asarray(load_rgb(image))  # BadImageError (a VisionDemoError) for anything unusable

    def _class_ids(self, classes) -> list[int] | None:
        if classes in (None, "", [], ()):
            return None
        if isinstance(classes, (str, int)):
            classes = [classes]
        by_name = {v.lower(): k for k, v in self.names.items()}
        ids = []
        for c in classes:
            text = str(c).strip()
            if text.isdigit() and int(text) in self.names:
                ids.append(int(text))
            elif text.lower() in by_name:
                ids.append(by_name[text.lower()])
            else:
                raise VisionDemoError(f"unknown class {c!r} for {Path(self.weights).name}: "
                                      f"choose from {', '.join(f'{k}={v}' for k, v in self.names.items())}")
        return ids

    def _run(self, engine: Engine, note: str, rgb: np.ndarray, conf, iou, classes, imgsz, start: float,
             decode_ms: float, draw: bool = True) -> Detection:
        if not 0.0 <= float(conf) <= 1.0 or not 0.0 <= float(iou) <= 1.0:
            raise VisionDemoError(f"conf and iou must be between 0 and 1 (got conf={conf}, iou={iou})")
        class_ids = self._class_ids(classes)
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # Ultralytics reads numpy arrays as OpenCV's BGR
        from vision_demo.devices import oom_as_advice, use_all_cores
        device = self.device if engine.runtime == "torch" else "cpu"
        with oom_as_advice(" (for detection: lower imgsz)"):
            # An export is a static graph: it gets the input shape it was traced for (the same one torch runs).
            result = engine.model.predict(bgr, conf=float(conf), iou=float(iou), classes=class_ids,
                                          imgsz=list(engine.shape) if engine.shape else int(imgsz), device=device,
                                          verbose=False)[0]
        use_all_cores()   # Ultralytics' first predict leaves torch one thread less for the whole process
        boxes = boxes_from_result(result, self.names)  # plain floats: nothing keeps a reference to tensors
        t_draw = time.perf_counter()
        annotated = draw_boxes(rgb, boxes) if draw else None
        draw_ms = (time.perf_counter() - t_draw) * 1000
        speed = result.speed or {}
        timings = {"decode": decode_ms,
                   "preprocess": float(speed.get("preprocess") or 0.0),
                   "inference": float(speed.get("inference") or 0.0),
                   "postprocess": float(speed.get("postprocess") or 0.0),
                   "draw": draw_ms,
                   "total": (time.perf_counter() - start) * 1000}
        height, width = rgb.shape[:2]
        return Detection(boxes, annotated, {k: round(v, 2) for k, v in timings.items()}, (width, height),
                         self.weights, dict(self.names), engine.runtime, note, engine.precision)


def _check_imgsz(imgsz) -> None:
    try:
        ok = 32 <= int(imgsz) <= 2048
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise VisionDemoError(f"imgsz {imgsz} is out of range: use 320 (fast) to 1280 (small objects)")


# Distinct colours that read on a projector (RGB).
_PALETTE = [(255, 56, 56), (56, 56, 255), (0, 200, 90), (255, 157, 0), (170, 0, 255), (0, 190, 210),
            (255, 0, 170), (120, 120, 0), (0, 120, 255), (200, 80, 0)]


def draw_boxes(rgb: np.ndarray, boxes: list[dict]) -> np.ndarray:
    """A copy of `rgb` with each box and its "name 0.87" label drawn (OpenCV: no fonts to download)."""
    import cv2

    out = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 400))
    scale = max(0.4, max(h, w) / 1200)
    for b in boxes:
        colour = _PALETTE[b["class_id"] % len(_PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in b["xyxy"])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick, cv2.LINE_AA)
        text = f"{b['class_name']} {b['confidence']:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thick - 1))
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2  # above the box, or inside at the top
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + 1), colour, -1)
        cv2.putText(out, text, (x1 + 1, ty - base + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    max(1, thick - 1), cv2.LINE_AA)
    return out


MAX_DETECTORS = 4   # models kept loaded (each job's weights and each upload would otherwise stay in memory)
_detectors: OrderedDict[str, Detector] = OrderedDict()   # weights path -> Detector, least recently used first
_cache_lock = threading.Lock()
_load_locks: dict[str, threading.Lock] = {}
_resolved: dict[str, str] = {}   # weights key -> path, for keys whose file cannot change (bundled, a .pt path)


def _weights_path(weights, registry) -> str:
    """resolve_weights(), remembered for the bundled key and file paths: get_detector runs per webcam frame and
    resolving costs a package lookup, settings reads and folder creation. COCO names (the cache may appear or
    move with the work folder) and job ids (they belong to a registry) are resolved every time."""
    from vision_demo.detect.weights import COCO_MODELS, BUNDLED_KEY, is_bundled_key, resolve_weights, weights_key

    chosen = weights_key(weights)   # None / "" / "default": COCO when it can be had, else the bundled one
    if is_bundled_key(chosen):
        key = BUNDLED_KEY
    else:
        key = chosen
        if key not in COCO_MODELS and not key.startswith("job:"):
            key = os.path.abspath(os.path.expanduser(key))   # a relative path names another file after a chdir
    with _cache_lock:
        path = _resolved.get(key)
    if path is not None and Path(path).is_file():   # a stat: a deleted file is resolved (and refused) again
        return path
    path = str(resolve_weights(weights, registry=registry))
    if key not in COCO_MODELS and not key.startswith("job:"):
        with _cache_lock:
            _resolved[key] = path
    return path


def _cached(path: str) -> Detector | None:
    """The loaded Detector for this path, marked most recently used; call with _cache_lock held."""
    detector = _detectors.get(path)
    if detector is not None:
        _detectors.move_to_end(path)
    return detector


def get_detector(weights=None, registry=None) -> Detector:
    """The Detector for these weights (None -> the bundled person detector), loaded and warmed up once per process.

    At most MAX_DETECTORS models stay loaded; loading another one forgets the least recently used (a caller still
    holding it keeps using it; the next get_detector for it loads it again)."""
    path = _weights_path(weights, registry)
    with _cache_lock:
        detector = _cached(path)
        if detector is not None:
            return detector
        load_lock = _load_locks.setdefault(path, threading.Lock())
    with load_lock:  # one thread loads; others asking for the same file wait and reuse it
        with _cache_lock:
            detector = _cached(path)
            if detector is not None:
                return detector
        detector = Detector(Path(path))
        # The first prediction sets up Ultralytics' predictor and imports torchvision: ~3 s here. Pay it now,
        # while loading (the UI loads in the background), not on the first image a user sends.
        detector.warmup(320)
        with _cache_lock:
            _detectors[path] = detector
            _detectors.move_to_end(path)
            while len(_detectors) > MAX_DETECTORS:
                _detectors.popitem(last=False)
            if _load_locks.get(path) is load_lock:
                del _load_locks[path]   # waiting threads hold it already; they find the detector in the cache
        return detector


def clear_detectors() -> None:
    """Forget loaded models (frees their memory; the next get_detector loads again)."""
    with _cache_lock:
        _detectors.clear()
        _resolved.clear()
