"""Fast CPU runtimes for a detector: the same weights exported once to OpenVINO (or ONNX Runtime), checked
against torch on the example photos, then served instead of torch.

    from vision_demo.detect.export import EXPORTS
    status = EXPORTS.request("best.pt", imgsz=320, fmt="openvino")   # starts a background export job if needed
    status.state        # "exporting" (status.progress 0..1), then "ready" (status.path) or "failed" (status.reason)
    EXPORTS.wait("best.pt", 320, "openvino").state                 # the CLI waits; the UI serves torch meanwhile

Why: PyTorch runs the model op by op in eager mode. An exporter traces the network once into a static graph
for ONE input size; the runtime then fuses layers and picks kernels for this CPU. Measured here (2 cores):
the bundled detector takes 74 ms in torch and 22.5 ms in OpenVINO at 320 px (242 vs 86 ms at 640 px).
Because the graph is static, an export serves one input shape: the key is (weights content, shape, format).
The shape is the one torch itself would run: the image scaled so its long side is `imgsz`, each side padded
up to a multiple of 32 (`input_shape`). A 640x480 webcam frame at 320 px is a 256x320 input, 20 % fewer
pixels than the 320x320 square, so a square export would do more work than torch and lose part of its lead.

Each export runs as a job of the ordinary job system (events, progress, a state.json), in a registry of its
own under WORK/exports/jobs: a minute-long training job queued in the app's registry must not hold up a
five-second export. The exported model lands in WORK/exports/<sha256[:16]>-<h>x<w>-<format>/ only after its
boxes matched torch's on bus.jpg and zidane.jpg (see `compare_boxes`); a later process finds it there.
"""
from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vision_demo import settings
from vision_demo.detect.box_match import iou
from vision_demo.errors import VisionDemoError

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "openvino", "onnx")   # what --runtime and the Detect tab's switch offer
FORMATS = ("openvino", "onnx")                       # what can be exported, fastest first (auto takes the first present)
# The packages each format needs at export AND at inference (YOLO_AUTOINSTALL stays off: nothing is pip-installed).
NEEDS = {"openvino": ("openvino",), "onnx": ("onnx", "onnxruntime")}
CHECK_IMAGES = ("bus.jpg", "zidane.jpg")             # Ultralytics' example photos: people, offline
IOU_MIN = 0.85    # an exported box must overlap its torch twin this much (the graph is the same; only rounding
CONF_TOL = 0.05   # and the letterbox differ) and its confidence differ by at most this much
CONF_MARGIN = 0.1  # boxes within this of the threshold may appear in one runtime only: they are not compared


STRIDE = 32      # YOLO's coarsest feature map is 1/32 of the input: both sides must be multiples of it


def input_shape(imgsz, image_hw=None) -> tuple[int, int]:
    """(height, width) of the model's input for an image of `image_hw` (h, w) at `imgsz`, as torch letterboxes it
    (Ultralytics' LetterBox with auto=True): scaled so the long side is imgsz, each side padded up to a multiple
    of 32. No image size (or a (h, w) already given as imgsz): the imgsz x imgsz square, or that shape.

        input_shape(320, (480, 640)) == (256, 320)    # a webcam frame
        input_shape(640, (1080, 810)) == (640, 480)   # bus.jpg, portrait
    """
    if isinstance(imgsz, (tuple, list)):
        h, w = (int(v) for v in imgsz)
        return h, w
    size = int(imgsz)
    if not image_hw:
        return size, size
    h, w = (int(v) for v in image_hw[:2])
    r = min(size / h, size / w)
    new_h, new_w = round(h * r), round(w * r)
    return new_h + (size - new_h) % STRIDE, new_w + (size - new_w) % STRIDE


def shape_text(shape) -> str:
    """'320 px' for a square, '320x256 px' (width x height, as people say) otherwise."""
    h, w = input_shape(shape)
    return f"{h} px" if h == w else f"{w}x{h} px"


@dataclass
class ExportStatus:
    fmt: str
    imgsz: tuple[int, int]   # the input shape (height, width)
    state: str              # "ready" | "exporting" | "failed" | "unavailable" | "missing" (not asked for yet)
    path: str | None = None  # what YOLO(path, task="detect") loads, when ready
    progress: float = 0.0
    message: str = ""        # the job's latest line, or why it failed / is unavailable
    job_id: str | None = None

    def text(self) -> str:
        size = shape_text(self.imgsz)
        if self.state == "ready":
            return f"{self.fmt} ({size}) ready"
        if self.state == "exporting":
            return f"{self.fmt} export for {size} running ({100 * self.progress:.0f} %: {self.message})"
        if self.state == "missing":
            return f"{self.fmt} for {size} not exported yet (it starts on the first detection at that size)"
        return f"{self.fmt} for {size} {self.state}: {self.message}"


def missing_packages(fmt: str) -> list[str]:
    """The packages `fmt` needs that are not installed (found without importing them: that takes seconds)."""
    if fmt not in NEEDS:
        raise VisionDemoError(f"unknown runtime {fmt!r}: choose one of {', '.join(RUNTIMES)}")
    return [name for name in NEEDS[fmt] if importlib.util.find_spec(name) is None]


def best_format() -> str | None:
    """The fastest exported runtime installed here (OpenVINO, then ONNX Runtime), or None."""
    return next((fmt for fmt in FORMATS if not missing_packages(fmt)), None)


_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def weights_digest(path) -> str:
    """sha256 of the file's content, remembered per (path, size, mtime): the key of its exports."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _digest_lock:
        if key in _digests:
            return _digests[key]
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    with _digest_lock:
        _digests[key] = digest
    return digest


def export_folder(digest: str, imgsz, fmt: str) -> Path:
    h, w = input_shape(imgsz)
    return settings.work_dir() / "exports" / f"{digest[:16]}-{h}x{w}-{fmt}"


def _model_path(folder: Path, fmt: str) -> Path:
    return folder / ("model_openvino_model" if fmt == "openvino" else "model.onnx")


def find_export(digest: str, imgsz, fmt: str) -> Path | None:
    """A finished, checked export on disk (from this process or an earlier one), else None."""
    folder = export_folder(digest, imgsz, fmt)
    model = _model_path(folder, fmt)
    try:
        check = json.loads((folder / "check.json").read_text())
    except (OSError, ValueError):
        return None
    return model if check.get("agree") and model.exists() else None


# ---- checking an export against torch ------------------------------------------------------------------
def compare_boxes(reference: list[dict], candidate: list[dict], conf: float = 0.25) -> str | None:
    """None when both lists show the same objects, else what differs.

    Every box clearly above the threshold (conf + CONF_MARGIN) in one list needs a twin in the other: same
    class, IoU >= IOU_MIN, confidence within CONF_TOL. Boxes near the threshold are not compared: rounding
    may push one just under it in one runtime only."""
    for name, ours, theirs in (("torch", reference, candidate), ("export", candidate, reference)):
        for box in ours:
            if box["confidence"] < conf + CONF_MARGIN:
                continue
            twins = [(b, iou(box["xyxy"], b["xyxy"])) for b in theirs if b["class_id"] == box["class_id"]]
            best, overlap = max(twins, key=lambda t: t[1], default=(None, 0.0))
            if best is None or overlap < IOU_MIN:
                return (f"a {box['class_name']} box ({box['confidence']:.2f}) of {name} has no twin in the other "
                        f"runtime (best IoU {overlap:.2f} < {IOU_MIN})")
            if abs(best["confidence"] - box["confidence"]) > CONF_TOL:
                return (f"a {box['class_name']} box: confidence {box['confidence']:.2f} in {name} against "
                        f"{best['confidence']:.2f} (more than {CONF_TOL} apart)")
    return None


def check_images() -> list[Path]:
    """bus.jpg and zidane.jpg from Ultralytics' package folder (located without importing it)."""
    spec = importlib.util.find_spec("ultralytics")
    folder = Path(spec.origin).parent / "assets" if spec and spec.origin else None
    return [folder / name for name in CHECK_IMAGES if folder and (folder / name).is_file()]


def _boxes_of(model, image, shape, conf: float) -> list[dict]:
    from vision_demo.detect.detector import _boxes

    # rect=False: torch letterboxes to exactly the static export's shape (by default it pads only to a
    # multiple of 32 for each image, which moves the weaker boxes a little). Same input, so any difference is
    # the export's.
    result = model.predict(str(image), imgsz=list(input_shape(shape)), conf=conf, device="cpu", rect=False,
                           verbose=False)[0]
    return _boxes(result, {int(k): str(v) for k, v in model.names.items()})


# ---- the export job ------------------------------------------------------------------------------------
def export_job(ctx, weights: str, imgsz, fmt: str, images: list[str] | None = None) -> dict:
    """Job body: export, check against torch, then move into place. Raises VisionDemoError saying why not.
    images: the photos to check the boxes on besides the example photos (a trained job's validation images:
    a detector of shapes finds nothing in bus.jpg, so only its own images make the check say something)."""
    from vision_demo.ultralytics_env import ultralytics_ready

    ultralytics_ready()
    from ultralytics import YOLO

    missing = missing_packages(fmt)
    if missing:
        raise VisionDemoError(f"{fmt} needs {' and '.join(missing)}: pip install {' '.join(missing)} "
                              "(the app never installs packages itself)")
    started = time.perf_counter()
    digest, shape = weights_digest(weights), input_shape(imgsz)
    final = export_folder(digest, shape, fmt)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Ultralytics writes the export next to the .pt it was given: give it a copy in a private folder (the
    # bundled .pt sits in site-packages), so two exports at once and a crash halfway never leave half a model.
    build = Path(tempfile.mkdtemp(prefix=f".building-{final.name}-", dir=final.parent))
    try:
        ctx.emit("progress", fraction=0.05, message="copying the weights")
        shutil.copyfile(weights, build / "model.pt")
        ctx.emit("progress", fraction=0.1, message=f"tracing the network into a static {shape_text(shape)} {fmt} graph")
        try:
            YOLO(str(build / "model.pt"), task="detect").export(format=fmt, imgsz=list(shape), device="cpu",
                                                                 verbose=False)
        except Exception as err:  # the exporter fails in many ways (tracing, converter, disk): one line for a person
            log.exception("%s export of %s failed", fmt, weights)
            raise VisionDemoError(f"{fmt} export failed ({type(err).__name__}: {str(err)[:200]}); serving torch") from err
        ctx.check_stop()
        model_path = _model_path(build, fmt)
        if not model_path.exists():
            raise VisionDemoError(f"{fmt} export wrote no {model_path.name}; serving torch")
        (build / "model.pt").unlink()   # 20+ MB that the export no longer needs
        export_s = time.perf_counter() - started

        ctx.emit("progress", fraction=0.6, message="checking the boxes against torch on the example photos")
        reference, candidate = YOLO(weights, task="detect"), YOLO(str(model_path), task="detect")
        checks = []
        for image in [*check_images(), *(images or [])]:
            a, b = _boxes_of(reference, image, shape, 0.25), _boxes_of(candidate, image, shape, 0.25)
            diff = compare_boxes(a, b)
            checks.append({"image": Path(image).name, "torch_boxes": len(a), "export_boxes": len(b), "differs": diff})
            if diff:
                raise VisionDemoError(f"the {fmt} export disagrees with torch on {Path(image).name}: {diff}; "
                                      "serving torch")
        if not checks:
            raise VisionDemoError("no example photos to check the export against (ultralytics/assets is missing); "
                                  "serving torch")
        ctx.check_stop()
        (build / "check.json").write_text(json.dumps({"agree": True, "weights": str(weights), "sha256": digest,
                                                      "imgsz": list(shape), "format": fmt, "checks": checks}, indent=1))
        try:
            os.replace(build, final)   # atomic: a reader finds the whole checked export or nothing
        except OSError as err:
            if find_export(digest, shape, fmt) is None:   # not merely another process that got there first
                raise VisionDemoError(f"could not move the {fmt} export into {final}: {err}; serving torch") from err
        return {"path": str(_model_path(final, fmt)), "format": fmt, "imgsz": list(shape), "sha256": digest,
                "export_seconds": round(export_s, 2), "total_seconds": round(time.perf_counter() - started, 2),
                "checks": checks}
    finally:
        shutil.rmtree(build, ignore_errors=True)   # only our own private folder (gone already once moved)


class Exports:
    """Which exports exist, which are being built and which failed (and why), for this process.

    Every request goes through `request`: a checked export on disk is `ready` at once; otherwise one job is
    submitted per key and its state is read back (queued/running -> exporting, failed -> failed). A failed
    export is not retried in this process (the reason stays on the Detect tab); restarting retries it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, tuple[int, int], str], str] = {}   # (sha256, input shape, format) -> job id
        self._registry = None
        self._registry_root: Path | None = None

    def registry(self):
        from vision_demo.jobs import JobRegistry

        root = settings.work_dir() / "exports" / "jobs"
        with self._lock:
            if self._registry is None or self._registry_root != root:   # a new work folder (tests) gets its own
                if self._registry is None:
                    atexit.register(self.shutdown)
                else:
                    self._registry.shutdown(cancel=True, timeout=60)
                self._registry, self._registry_root, self._jobs = JobRegistry(root, max_concurrent=1), root, {}
            return self._registry

    def shutdown(self, timeout: float = 60) -> None:
        """Cancel waiting exports and let a running one end (at exit: a converter thread killed halfway
        aborts the whole process with 'terminate called without an active exception')."""
        with self._lock:
            registry = self._registry
        if registry is not None:
            registry.shutdown(cancel=True, timeout=timeout)

    def request(self, weights, imgsz, fmt: str, start: bool = True, images: list[str] | None = None) -> ExportStatus:
        """The export's status; starts its job when there is neither an export nor a job yet (and `start`).
        imgsz: a square's side, or the input shape (h, w) (`input_shape`). images: more photos to check the
        export's boxes on (see export_job)."""
        imgsz = input_shape(imgsz)
        missing = missing_packages(fmt)
        if missing:
            return ExportStatus(fmt, imgsz, "unavailable",
                                message=f"needs {' and '.join(missing)} (pip install {' '.join(missing)})")
        digest = weights_digest(weights)
        found = find_export(digest, imgsz, fmt)
        if found is not None:
            return ExportStatus(fmt, imgsz, "ready", str(found), 1.0, "ready")
        registry = self.registry()
        key = (digest, imgsz, fmt)
        with self._lock:
            job_id = self._jobs.get(key)
            if job_id is None:
                if not start:
                    return ExportStatus(fmt, imgsz, "missing", message="not exported yet")
                job_id = registry.submit("export", f"{fmt} export, {shape_text(imgsz)}: {Path(weights).name}",
                                         {"weights": str(weights), "imgsz": list(imgsz), "format": fmt},
                                         lambda ctx: export_job(ctx, str(weights), imgsz, fmt, images))
                self._jobs[key] = job_id
        return self._status(registry.get(job_id), fmt, imgsz)

    def wait(self, weights, imgsz, fmt: str, timeout: float = 600, images: list[str] | None = None) -> ExportStatus:
        """request(), then block until its job ends."""
        status = self.request(weights, imgsz, fmt, images=images)
        if status.state == "exporting":
            state = self.registry().wait(status.job_id, timeout)
            status = self._status(state, fmt, input_shape(imgsz))
        return status

    @staticmethod
    def _status(state, fmt: str, imgsz: tuple[int, int]) -> ExportStatus:
        if state.status == "finished":
            return ExportStatus(fmt, imgsz, "ready", state.result["path"], 1.0, "ready", state.id)
        if state.status in ("failed", "cancelled"):
            return ExportStatus(fmt, imgsz, "failed", message=state.error or state.message, job_id=state.id)
        return ExportStatus(fmt, imgsz, "exporting", progress=state.progress, message=state.message, job_id=state.id)


EXPORTS = Exports()


def runtime_summary(weights, runtime: str = "auto", sizes=(320, 640), device: str = "cpu") -> tuple[str, bool]:
    """(one line for the Detect tab: what answers at each size, True while an export is still running).
    sizes: squares' sides or input shapes (h, w). Reads state only: exports start when a detection asks for
    them (or the app's warm-up)."""
    runtime = str(runtime or "auto").lower()
    if runtime == "torch":
        return "Runtime: **torch** (the .pt as trained, eager PyTorch).", False
    if not str(device).startswith("cpu"):
        return f"Runtime: **torch** on {device} (OpenVINO / ONNX exports are for CPUs; on a GPU torch is the fast path).", False
    fmt = best_format() if runtime == "auto" else runtime
    if fmt is None:
        return "Runtime: **torch** (no fast runtime installed: pip install openvino).", False
    statuses = [EXPORTS.request(weights, size, fmt, start=False) for size in sizes]
    parts = []
    for st in statuses:
        if st.state == "ready":
            parts.append(f"{shape_text(st.imgsz)} **{fmt}**")
        elif st.state == "exporting":
            parts.append(f"{shape_text(st.imgsz)} torch for now ({fmt} export {100 * st.progress:.0f} %: {st.message})")
        elif st.state == "missing":
            parts.append(f"{shape_text(st.imgsz)} torch until the {fmt} export (it starts with the first detection at that size)")
        else:
            parts.append(f"{shape_text(st.imgsz)} **torch**: {st.message}")
    return "Runtime: " + " · ".join(parts) + ".", any(st.state == "exporting" for st in statuses)
