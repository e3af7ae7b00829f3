"""Fast CPU runtimes for a detector: the same weights exported once to OpenVINO (INT8, or float) or ONNX
Runtime, checked against torch on the example photos, then served instead of torch.

    from vision_demo.detect.export import EXPORTS
    status = EXPORTS.request("best.pt", imgsz=320, fmt="openvino")   # starts a background export job if needed
    status.state        # "exporting" (status.progress 0..1), then "ready" (status.path) or "failed" (status.reason)
    EXPORTS.wait("best.pt", 320, "openvino").state                 # the CLI waits; the UI serves torch meanwhile

Why: PyTorch runs the model op by op in eager mode. An exporter traces the network once into a static graph
for ONE input size; the runtime then fuses layers and picks kernels for this CPU. Measured here (2 cores):
the bundled detector takes 74 ms in torch and 22.5 ms in OpenVINO at 320 px (242 vs 86 ms at 640 px).
INT8 goes one step further: weights and activations are rounded to 8-bit integers, with scales measured by
running the float graph on calibration pictures (nncf, through Ultralytics' `quantize=8`); this CPU's
AVX-512 VNNI instructions multiply 8-bit numbers several at a time: 12 ms for a webcam frame at 320 px and 30 ms at 640 px
here, against 25 and 78 ms in float OpenVINO. Rounding moves a weak box a little, so its check allows a
little more (TOLERANCE); a model whose INT8 boxes still disagree is served in float instead.
bfloat16 is the other shortcut, on CPUs that compute it natively (AMX / AVX512_BF16): the same float IR compiled
to multiply 16-bit floats, its own runtime `openvino-bf16`, checked with INT8's tolerance. Plain `openvino` is
compiled in f32 on purpose: on such a CPU OpenVINO would otherwise quietly run it in bf16 (precision.py).
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
from vision_demo.detect.boxes import boxes_from_result
from vision_demo.errors import VisionDemoError
from vision_demo.formats import DETECT_RUNTIMES
from vision_demo.jobs import OncePerKey

log = logging.getLogger(__name__)

# From the table of runtimes (vision_demo/formats.py: labels, packages, arithmetic, check tolerance):
RUNTIMES = tuple(DETECT_RUNTIMES)   # what --runtime and the Detect tab offer
# What can be exported, fastest first: auto serves the first one whose export is ready and checked.
# openvino-bf16 only where the CPU computes bfloat16 natively (AMX / AVX512_BF16; see precision.py).
FORMATS = tuple(r.name for r in DETECT_RUNTIMES.values() if r.exported)
# The packages each format needs at export AND at inference (YOLO_AUTOINSTALL stays off: nothing is pip-installed).
NEEDS = {r.name: r.needs for r in DETECT_RUNTIMES.values() if r.exported}
# What each runtime computes in (the runtime line names it): OpenVINO's is read back from the compiled model.
ARITHMETIC = {r.name: r.arithmetic for r in DETECT_RUNTIMES.values() if r.name != "auto"}
CHECK_IMAGES = ("bus.jpg", "zidane.jpg")             # Ultralytics' example photos: people, offline
IOU_MIN = 0.85    # an exported box must overlap its torch twin this much (the graph is the same; only rounding
CONF_TOL = 0.05   # and the letterbox differ) and its confidence differ by at most this much
CONF_MARGIN = 0.1  # boxes within this of the threshold may appear in one runtime only: they are not compared
# INT8 and bf16 round more than float does: their checks allow a little more (why, measured: formats.py).
TOLERANCE = {r.name: r.tolerance for r in DETECT_RUNTIMES.values() if r.tolerance}   # format -> (IOU_MIN, CONF_TOL)


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


def unavailable(fmt: str) -> str | None:
    """Why `fmt` cannot run here (missing packages, or a CPU without native bf16), else None."""
    missing = missing_packages(fmt)
    if missing:
        return f"needs {' and '.join(missing)} (pip install {' '.join(missing)})"
    if fmt == "openvino-bf16":
        from vision_demo.detect.precision import cpu_has_bf16

        if not cpu_has_bf16():
            return "this CPU has no native bfloat16 (AMX or AVX512_BF16): float OpenVINO is as fast here"
    return None


def best_format() -> str | None:
    """The fastest exported runtime installed here (OpenVINO INT8, OpenVINO, then ONNX Runtime), or None."""
    return next(iter(installed_formats()), None)


def installed_formats() -> list[str]:
    return [fmt for fmt in FORMATS if unavailable(fmt) is None]


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
    return folder / DETECT_RUNTIMES[fmt].output


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
def compare_boxes(reference: list[dict], candidate: list[dict], conf: float = 0.25, iou_min: float = IOU_MIN,
                  conf_tol: float = CONF_TOL) -> str | None:
    """None when both lists show the same objects, else what differs.

    Every box clearly above the threshold (conf + CONF_MARGIN) in one list needs a twin in the other: same
    class, IoU >= iou_min, confidence within conf_tol. Boxes near the threshold are not compared: rounding
    may push one just under it in one runtime only."""
    for name, ours, theirs in (("torch", reference, candidate), ("export", candidate, reference)):
        for box in ours:
            if box["confidence"] < conf + CONF_MARGIN:
                continue
            twins = [(b, iou(box["xyxy"], b["xyxy"])) for b in theirs if b["class_id"] == box["class_id"]]
            best, overlap = max(twins, key=lambda t: t[1], default=(None, 0.0))
            if best is None or overlap < iou_min:
                return (f"a {box['class_name']} box ({box['confidence']:.2f}) of {name} has no twin in the other "
                        f"runtime (best IoU {overlap:.2f} < {iou_min})")
            if abs(best["confidence"] - box["confidence"]) > conf_tol:
                return (f"a {box['class_name']} box: confidence {box['confidence']:.2f} in {name} against "
                        f"{best['confidence']:.2f} (more than {conf_tol} apart)")
    return None


def check_images() -> list[Path]:
    """bus.jpg and zidane.jpg from Ultralytics' package folder (located without importing it)."""
    spec = importlib.util.find_spec("ultralytics")
    folder = Path(spec.origin).parent / "assets" if spec and spec.origin else None
    return [folder / name for name in CHECK_IMAGES if folder and (folder / name).is_file()]


def load_export(path, fmt: str, shape):
    """(a loaded export as Ultralytics' YOLO, the precision it runs in): compiled for this CPU by one predict at
    its input shape, an OpenVINO one then recompiled in the precision its runtime promises (precision.py). The
    check below and the Detect tab load exports through here, so both run the same arithmetic."""
    import numpy as np
    from ultralytics import YOLO

    from vision_demo.detect.precision import PRECISION, pin_precision

    model = YOLO(str(path), task="detect")
    model.predict(np.zeros((*input_shape(shape), 3), np.uint8), imgsz=list(input_shape(shape)), device="cpu",
                  verbose=False)
    if fmt in PRECISION:
        return model, pin_precision(model, path, PRECISION[fmt])
    return model, ARITHMETIC.get(fmt, "f32")


def _boxes_of(model, image, shape, conf: float) -> list[dict]:
    # rect=False: torch letterboxes to exactly the static export's shape (by default it pads only to a
    # multiple of 32 for each image, which moves the weaker boxes a little). Same input, so any difference is
    # the export's.
    result = model.predict(str(image), imgsz=list(input_shape(shape)), conf=conf, device="cpu", rect=False,
                           verbose=False)[0]
    return boxes_from_result(result, {int(k): str(v) for k, v in model.names.items()})


# ---- the export job ------------------------------------------------------------------------------------
def calibration_set(folder: Path, names: dict[int, str], images: list[str] | None = None) -> Path:
    """A data.yaml over pictures for INT8 calibration, written under `folder`: the example photos (and a trained
    job's validation images), each also mirrored and cropped four ways (the quantizer needs the range of
    every activation, and these are all the real photos there are offline). Ultralytics reads only `val`."""
    from PIL import ImageOps

    from vision_demo.images import load_rgb

    out = folder / "calibration" / "images"
    out.mkdir(parents=True)
    n = 0
    for source in [*check_images(), *(images or [])][:24]:
        im = load_rgb(source)
        w, h = im.size
        crops = [im.crop((int(w * fx), int(h * fy), int(w * (fx + 0.75)), int(h * (fy + 0.75))))
                 for fx, fy in ((0, 0), (0.25, 0), (0, 0.25), (0.25, 0.25))]
        for variant in (im, *crops):
            for picture in (variant, ImageOps.mirror(variant)):
                picture.save(out / f"{n:03d}.jpg", quality=92)
                n += 1
    yaml_path = folder / "calibration" / "data.yaml"
    yaml_path.write_text(json.dumps({"path": str(out.parent), "train": "images", "val": "images",
                                     "names": names}))   # JSON is YAML
    return yaml_path


def export_job(ctx, weights: str, imgsz, fmt: str, images: list[str] | None = None) -> dict:
    """Job body: export, check against torch, then move into place. Raises VisionDemoError saying why not.
    images: the photos to check the boxes on besides the example photos (a trained job's validation images:
    a detector of shapes finds nothing in bus.jpg, so only its own images make the check say something)."""
    from vision_demo.ultralytics_env import expected_export_noise, ultralytics_ready

    ultralytics_ready()
    from ultralytics import YOLO

    missing, reason = missing_packages(fmt), unavailable(fmt)
    if missing:
        raise VisionDemoError(f"{fmt} needs {' and '.join(missing)}: pip install {' '.join(missing)} "
                              "(the app never installs packages itself)")
    if reason:
        raise VisionDemoError(f"{fmt}: {reason}")
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
        reference = YOLO(weights, task="detect")   # torch: its class names now, its boxes for the check
        options = {}
        if fmt == "openvino-int8":
            ctx.emit("progress", fraction=0.1, message=f"tracing into a {shape_text(shape)} graph, then measuring "
                                                        "its activations on the example photos to pick 8-bit scales")
            names = {int(k): str(v) for k, v in reference.names.items()}
            # quantize=8: Ultralytics 8.4's name for INT8 (its older int8=True prints a deprecation warning)
            options = dict(quantize=8, data=str(calibration_set(build, names, images)))
            import nncf

            nncf.set_log_level(logging.WARNING)   # (at INFO it logs each of the ~60 layers it leaves in float)
        else:
            ctx.emit("progress", fraction=0.1, message=f"tracing the network into a static {shape_text(shape)} {fmt} graph")
        try:
            with expected_export_noise():   # calibration without labels, few pictures, the tracer's deprecation
                YOLO(str(build / "model.pt"), task="detect").export(format=DETECT_RUNTIMES[fmt].exporter,
                                                                     imgsz=list(shape), device="cpu", verbose=False,
                                                                     **options)
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
        candidate, precision = load_export(model_path, fmt, shape)
        checks = []
        iou_min, conf_tol = TOLERANCE.get(fmt, (IOU_MIN, CONF_TOL))
        for image in [*check_images(), *(images or [])]:
            a, b = _boxes_of(reference, image, shape, 0.25), _boxes_of(candidate, image, shape, 0.25)
            diff = compare_boxes(a, b, 0.25, iou_min, conf_tol)
            checks.append({"image": Path(image).name, "torch_boxes": len(a), "export_boxes": len(b), "differs": diff})
            if diff:
                raise VisionDemoError(f"the {fmt} export disagrees with torch on {Path(image).name}: {diff}; "
                                      "serving torch")
        if not checks:
            raise VisionDemoError("no example photos to check the export against (ultralytics/assets is missing); "
                                  "serving torch")
        ctx.check_stop()
        (build / "check.json").write_text(json.dumps({"agree": True, "weights": str(weights), "sha256": digest,
                                                      "imgsz": list(shape), "format": fmt, "precision": precision,
                                                      "checks": checks}, indent=1))
        try:
            os.replace(build, final)   # atomic: a reader finds the whole checked export or nothing
        except OSError as err:
            if find_export(digest, shape, fmt) is None:   # not merely another process that got there first
                raise VisionDemoError(f"could not move the {fmt} export into {final}: {err}; serving torch") from err
        return {"path": str(_model_path(final, fmt)), "format": fmt, "precision": precision, "imgsz": list(shape), "sha256": digest,
                "export_seconds": round(export_s, 2), "total_seconds": round(time.perf_counter() - started, 2),
                "checks": checks}
    finally:
        shutil.rmtree(build, ignore_errors=True)   # only our own private folder (gone already once moved)


class Exports:
    """Which exports exist, which are being built and which failed (and why), for this process.

    Every request goes through `request`: a checked export on disk is `ready` at once; otherwise one job is
    submitted per key (jobs.OncePerKey, a registry of its own under WORK/exports/jobs) and its state is read
    back (queued/running -> exporting, failed -> failed). A failed export is not retried in this process (the
    reason stays on the Detect tab); restarting retries it. Once shut down (at exit) no export starts."""

    def __init__(self) -> None:
        self.jobs = OncePerKey(lambda: settings.work_dir() / "exports" / "jobs")   # (sha256, shape, format) -> job

    def registry(self):
        return self.jobs.registry()

    def shutdown(self, timeout: float = 60) -> None:
        """Cancel waiting exports and let a running one end (at exit: a converter thread killed halfway
        aborts the whole process with 'terminate called without an active exception')."""
        self.jobs.shutdown(timeout)

    def request(self, weights, imgsz, fmt: str, start: bool = True, images: list[str] | None = None) -> ExportStatus:
        """The export's status; starts its job when there is neither an export nor a job yet (and `start`).
        imgsz: a square's side, or the input shape (h, w) (`input_shape`). images: more photos to check the
        export's boxes on (see export_job)."""
        imgsz = input_shape(imgsz)
        reason = unavailable(fmt)
        if reason:
            return ExportStatus(fmt, imgsz, "unavailable", message=reason)
        digest = weights_digest(weights)
        found = find_export(digest, imgsz, fmt)
        if found is not None:
            return ExportStatus(fmt, imgsz, "ready", str(found), 1.0, "ready")
        key = (digest, imgsz, fmt)
        state = self.jobs.job(key)
        if state is None:
            if not start:
                return ExportStatus(fmt, imgsz, "missing", message="not exported yet")
            job_id = self.jobs.submit_once(key, "export", f"{fmt} export, {shape_text(imgsz)}: {Path(weights).name}",
                                           {"weights": str(weights), "imgsz": list(imgsz), "format": fmt},
                                           lambda ctx: export_job(ctx, str(weights), imgsz, fmt, images))
            if job_id is None:   # e.g. the warm-up moving on to the next format after a cancelled export
                return ExportStatus(fmt, imgsz, "unavailable", message="the app is stopping")
            state = self.registry().get(job_id)
        return self._status(state, fmt, imgsz)

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


def choose(weights, shape, runtime: str = "auto", start: bool = True, wait: bool = False):
    """Which export answers `runtime` at input `shape`: (its ready status, or None for torch; the statuses
    looked at, fastest first).

    "auto" tries FORMATS fastest first: the first one ready and checked is served. One that failed its check
    (INT8 may move boxes too far on some model) is passed over for the next. While a faster one is still
    exporting, a slower one already on disk answers meanwhile; none is started behind it (exports take turns).
    start=False only reads the state; wait=True (the CLI) waits for each export instead."""
    formats = installed_formats() if runtime == "auto" else [runtime]
    seen, busy = [], False
    for fmt in formats:
        if busy or not start:
            status = EXPORTS.request(weights, shape, fmt, start=False)
        else:
            status = (EXPORTS.wait if wait else EXPORTS.request)(weights, shape, fmt)
        seen.append(status)
        if status.state == "ready":
            return status, seen
        busy = busy or status.state in ("exporting", "missing")
    return None, seen


def waiting_for(seen) -> ExportStatus | None:
    """Of the statuses `choose` looked at, the one torch is standing in for: an export running, else one not
    started yet, else the first that failed."""
    for state in ("exporting", "missing"):
        status = next((st for st in seen if st.state == state), None)
        if status is not None:
            return status
    return seen[0] if seen else None


def runtime_summary(weights, runtime: str = "auto", sizes=(320, 640), device: str = "cpu") -> tuple[str, bool]:
    """(one line for the Detect tab: what answers at each size, True while an export is still running).
    sizes: squares' sides or input shapes (h, w). Reads state only: exports start when a detection asks for
    them (or the app's warm-up)."""
    runtime = str(runtime or "auto").lower()
    if runtime == "torch":
        return "Runtime: **torch** (f32: the .pt as trained, eager PyTorch).", False
    if not str(device).startswith("cpu"):
        return f"Runtime: **torch** on {device} (OpenVINO / ONNX exports are for CPUs; on a GPU torch is the fast path).", False
    if runtime == "auto" and best_format() is None:
        return "Runtime: **torch** (no fast runtime installed: pip install openvino).", False
    parts, busy = [], False
    for size in sizes:
        shape = input_shape(size)
        chosen, seen = choose(weights, shape, runtime, start=False)
        other = waiting_for([st for st in seen if st is not chosen])
        busy = busy or any(st.state == "exporting" for st in seen)
        if chosen is not None:
            faster = (f" (the faster {other.fmt} is exporting: {100 * other.progress:.0f} %)"
                      if other is not None and other.state == "exporting" else "")
            parts.append(f"{shape_text(shape)} **{chosen.fmt}** ({ARITHMETIC[chosen.fmt]}){faster}")
        elif other is None:
            parts.append(f"{shape_text(shape)} **torch**")
        elif other.state == "exporting":
            parts.append(f"{shape_text(shape)} torch for now ({other.fmt} export {100 * other.progress:.0f} %: "
                         f"{other.message})")
        elif other.state == "missing":
            parts.append(f"{shape_text(shape)} torch until the {other.fmt} export (it starts with the first "
                         "detection at that size)")
        else:
            parts.append(f"{shape_text(shape)} **torch**: {other.message}")
    return "Runtime: " + " · ".join(parts) + ".", busy
