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

import functools
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
                runtime: str = "torch", shown: tuple[int, int] | None = None) -> Detection:
        """Boxes for one image (path, bytes, PIL image or RGB numpy array). BadImageError on a bad image.
        shown: the (width, height) in CSS px of the area the page fits the picture into; labels are sized for it."""
        start = time.perf_counter()
        _check_imgsz(imgsz)
        rgb = self._decode(image)
        decode_ms = (time.perf_counter() - start) * 1000
        engine, note = self.engine(runtime, imgsz)
        with engine.lock:
            return self._run(engine, note, rgb, conf, iou, classes, imgsz, start, decode_ms,
                             shown=shown)

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
             decode_ms: float, draw: bool = True, shown: tuple[int, int] | None = None) -> Detection:
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
        annotated = draw_boxes(rgb, boxes, shown, class_meanings(self.names)) if draw else None
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

# What the bundled fall detector's two class names mean, said in the box label itself: a class reads the
# picture, not the paragraph above it ("Normal" alone reads as "nothing special here").
CLASS_MEANINGS = {"Normal": "person · upright", "Fall": "person · fallen"}
LABEL_PX = 16          # label text height on screen, in CSS pixels: readable from the back of a classroom
SHOWN_LONG_SIDE = 800  # with no shown size given (the CLI's --save): the picture as a viewer fits it on screen


def class_meanings(names) -> dict[str, str]:
    """{class name: what to write on its boxes} for a model whose names need saying (the bundled one), else {}."""
    return dict(CLASS_MEANINGS) if set(dict(names).values()) == set(CLASS_MEANINGS) else {}


def class_labels(names) -> dict[int, str]:
    """{class id: the name written on its boxes}: "person · upright" for the bundled model's "Normal", else the
    model's own name. The live webcam's page draws with these (sent with its plan and each answer), so a box
    reads the same in the browser as on the server's picture."""
    meanings = class_meanings(names)
    return {int(k): meanings.get(v, v) for k, v in dict(names).items()}


def box_label(box: dict, meanings: dict[str, str] | None = None) -> str:
    """ "person · upright 0.68": the class (with its meaning where the name needs one) and the confidence."""
    return f"{(meanings or {}).get(box['class_name'], box['class_name'])} {box['confidence']:.2f}"


@functools.lru_cache(maxsize=16)
def _label_font(px: int):
    """A bold TrueType font of `px` pixels: DejaVu Sans Bold from matplotlib (installed with Ultralytics; found
    without importing it), else Pillow's own scalable font. Nothing is downloaded."""
    import importlib.util

    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.origin:
        path = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
        if path.is_file():
            return ImageFont.truetype(str(path), px)
    return ImageFont.load_default(size=px)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(boxes: list[dict], sizes: list[tuple[int, int]], width: int, height: int) -> list[tuple[int, int]]:
    """Top-left corners for the labels so that no two overlap and each stays inside the picture.

    The most confident box is placed first. Each label tries, in order: just above its box, inside its top
    edge, just below it, inside its bottom edge; when all four touch a placed label it is stacked right above
    or below a placed label, the free spot nearest its box winning (a line then joins it to its box).
    """
    placed: list[tuple[int, int, int, int]] = []
    corners: list[tuple[int, int]] = [(0, 0)] * len(boxes)
    for i in sorted(range(len(boxes)), key=lambda i: -boxes[i]["confidence"]):
        (lw, lh), (x1, y1, x2, y2) = sizes[i], (int(round(v)) for v in boxes[i]["xyxy"])
        x = min(max(0, x1), max(0, width - lw))
        top, bottom = max(0, height - lh), y1 - lh

        def free(y):
            return 0 <= y <= top and not any(_overlaps((x, y, x + lw, y + lh), r) for r in placed)

        first = [min(max(0, y), top) for y in (y1 - lh, y1, y2, y2 - lh)]
        stacked = sorted({y for r in placed for y in (r[1] - lh, r[3])}, key=lambda y: abs(y - bottom))
        y = next((y for y in first + stacked if free(y)), first[0])   # no room at all: the first, overlapping
        placed.append((x, y, x + lw, y + lh))
        corners[i] = (x, y)
    return corners


@dataclass
class LabelLayout:
    """Where draw_boxes writes each box's label, in the picture's pixels (tests read it too)."""
    texts: list[str]
    rects: list[tuple[int, int, int, int]]   # x1, y1, x2, y2 of each label's filled background
    per_css_px: float                        # picture pixels per CSS pixel at the size it is shown
    font_px: int
    pad: int
    line: int                                # the boxes' line width


def label_layout(width: int, height: int, boxes: list[dict], shown: tuple[int, int] | None = None,
                 meanings: dict[str, str] | None = None) -> LabelLayout:
    """Size the labels for the size the picture is shown at (LABEL_PX high on screen) and place them apart.

    shown: the (width, height) in CSS pixels of the area the page fits the picture into (None: a viewer's
    window, SHOWN_LONG_SIDE): a 4000 px photo shown 320 px tall gets letters 200 px high.
    """
    if shown:    # the picture is scaled to fit the area: by its width or its height, whichever is tighter
        per_css_px = max(width / shown[0], height / shown[1])
    else:
        per_css_px = max(1.0, max(width, height) / SHOWN_LONG_SIDE)
    font_px = max(10, round(LABEL_PX * per_css_px))
    font = _label_font(font_px)
    pad = max(1, round(3 * per_css_px))
    texts = [box_label(b, meanings) for b in boxes]
    sizes = []
    for text in texts:
        left, top, right, bottom = font.getbbox(text)
        sizes.append((right - left + 2 * pad, bottom - top + 2 * pad))
    corners = place_labels(boxes, sizes, width, height)
    rects = [(x, y, x + lw, y + lh) for (x, y), (lw, lh) in zip(corners, sizes)]
    return LabelLayout(texts, rects, per_css_px, font_px, pad, max(2, round(2.5 * per_css_px)))


def draw_boxes(rgb: np.ndarray, boxes: list[dict], shown: tuple[int, int] | None = None,
               meanings: dict[str, str] | None = None) -> np.ndarray:
    """A copy of `rgb` with each box and its label ("person · upright 0.68") drawn: labels sized for the size
    the picture is shown at, never overlapping one another, the boxes' lines under them (label_layout)."""
    from PIL import Image, ImageDraw

    out = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    layout = label_layout(out.width, out.height, boxes, shown, meanings)
    font, pad, thick = _label_font(layout.font_px), layout.pad, layout.line
    draw = ImageDraw.Draw(out)
    for b in boxes:
        draw.rectangle([round(v) for v in b["xyxy"]], outline=_PALETTE[b["class_id"] % len(_PALETTE)], width=thick)
    for b, text, (x, y, x2, y2) in zip(boxes, layout.texts, layout.rects):
        colour = _PALETTE[b["class_id"] % len(_PALETTE)]
        lw, lh = x2 - x, y2 - y
        bx1, by1, _, by2 = (round(v) for v in b["xyxy"])
        if not by1 - lh - 1 <= y <= by2 + 1:   # stacked away from its box: a line says whose label it is
            draw.line([(x + lw // 2, y + lh if y < by1 else y), (x + lw // 2, by1)], fill=colour, width=thick)
        draw.rectangle([x, y, x2 - 1, y2 - 1], fill=colour)
        left, top, _, _ = font.getbbox(text)
        draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(out)


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
