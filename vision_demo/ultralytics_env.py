"""Import Ultralytics so that it stays inside the work folder, off the network, and loads .pt files safely.

    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()          # idempotent; call before YOLO(...) / model.train(...)

`settings.configure()` already set YOLO_CONFIG_DIR (settings.json), YOLO_OFFLINE, ULTRALYTICS_SAFE_LOAD and
MPLBACKEND before the first import. Here we fix what the environment cannot (and `expected_export_noise` hushes what an INT8 export always prints):
1. SETTINGS' datasets_dir / weights_dir / runs_dir default to folders next to the Python install
   (seen here: /root/datasets, /root/.pyenv/runs): point them into WORK so nothing is written elsewhere;
   turn off settings sync and the experiment-tracker integrations (they would phone home).
2. Plots and `check_det_dataset` call `check_font("Arial.ttf")`, which downloads when the font is missing:
   put matplotlib's DejaVuSans.ttf into the config folder under the names it asks for.
3. Importing ultralytics replaces PIL.Image.open for the whole process (utils/patches.py): on a file PIL
   cannot identify, the patch runs check_requirements("pi-heif") -- a pip install when online -- and,
   offline, raises ModuleNotFoundError instead of PIL's UnidentifiedImageError, so a junk upload became an
   internal error in images.load_rgb. We put PIL's own Image.open back (HEIC support needs pi-heif, which
   we do not install anyway).
4. Safe loading of checkpoints (`weights_only=True` against Ultralytics' allow-list) for EVERY .pt this app
   opens: an uploaded .pt is untrusted code. The env flag is read once at import; we assert it on the module
   that reads it at call time, so a stray ULTRALYTICS_SAFE_LOAD=0 cannot turn it off.
"""
from __future__ import annotations

import contextlib
import logging
import re
import shutil
import threading
import warnings
from pathlib import Path

from vision_demo import settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_ready_for: Path | None = None


def ultralytics_ready() -> None:
    """Configure Ultralytics for the current work folder (once per work folder, thread-safe)."""
    global _ready_for
    work = settings.work_dir()
    with _lock:
        if _ready_for == work:
            return
        settings.configure()  # a no-op when vision_demo was imported first; needed if someone imported us directly
        import ultralytics.nn.tasks as tasks
        import ultralytics.utils as uutils
        from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

        wanted = {
            "datasets_dir": str(settings.subdir("datasets")),
            "weights_dir": str(settings.subdir("weights")),
            "runs_dir": str(settings.subdir("runs")),
            "sync": False,
            **{k: False for k in ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb", "hub")
               if k in SETTINGS},
        }
        changed = {k: v for k, v in wanted.items() if SETTINGS.get(k) != v}
        if changed:
            SETTINGS.update(changed)  # writes settings.json under YOLO_CONFIG_DIR (inside WORK)

        dejavu = _matplotlib_font()
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            target = Path(USER_CONFIG_DIR) / name
            if dejavu is not None and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(dejavu, target)

        import ultralytics.utils.patches as patches
        from PIL import Image

        if Image.open is getattr(patches, "image_open", None):
            Image.open = patches._image_open  # PIL's original; see point 3 above

        # Ultralytics logs every batch and a progress bar to the console; our events carry the same news.
        # Keep its warnings; show the rest only when the app runs verbose (python -m vision_demo -v).
        if logging.getLogger().getEffectiveLevel() > logging.INFO:
            uutils.LOGGER.setLevel(logging.WARNING)

        if not tasks.SAFE_LOAD:
            log.warning("ULTRALYTICS_SAFE_LOAD was off; vision_demo loads every .pt with weights_only=True anyway")
            tasks.SAFE_LOAD = uutils.SAFE_LOAD = True
        _ready_for = work


def _matplotlib_font() -> Path | None:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.exists() else None


# ---- what an export prints that is expected here ------------------------------------------------------------
# The INT8 export (detect/export.py) prints these every time, on every machine: none says anything to act on,
# and on a teacher's terminal in the first 20 s of the app they read as if something were broken. Each is
# named with why it is expected; every other warning of those libraries still shows.
EXPECTED_EXPORT_LOGS = (
    # calibration pictures need no boxes (only their activations are measured): Ultralytics' dataset warns anyway
    ("ultralytics", re.compile(r"No labels found in .*calibration")),
    ("ultralytics", re.compile(r"Labels are missing or empty in .*calibration")),
    # we calibrate on 20 crops of the two example photos on purpose; the check against torch decides (export.py)
    ("ultralytics", re.compile(r">300 images recommended for INT8 calibration")),
    # torch looks for CUDA when nncf imports its C++ extension helper: a CPU machine has none, as it should
    ("torch.utils.cpp_extension", re.compile(r"No CUDA runtime is found")),
)
# Ultralytics' OpenVINO export traces the model with torch.jit.trace, which torch 2.14 calls deprecated: our
# code never calls it, and there is no other tracer to choose in Ultralytics 8.4.
EXPECTED_EXPORT_WARNINGS = ((FutureWarning, r"`torch\.jit\.trace(_method)?` is deprecated"),)


class _DropExpected(logging.Filter):
    """Drops the records of `patterns` logged by one thread (the export's): the same message from another
    thread -- a student's detector training on a set that really has no labels -- still shows."""

    def __init__(self, patterns, thread: int):
        super().__init__()
        self.patterns, self.thread = patterns, thread

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == self.thread and any(p.search(record.getMessage()) for p in self.patterns))


@contextlib.contextmanager
def expected_export_noise():
    """Inside: the expected lines above are not printed (the thread's own logs; the torch.jit deprecation for the
    process while it lasts -- the warnings module has no per-thread filter -- and only that message)."""
    filters = []
    for name in dict.fromkeys(name for name, _ in EXPECTED_EXPORT_LOGS):
        patterns = [p for n, p in EXPECTED_EXPORT_LOGS if n == name]
        filters.append((logging.getLogger(name), _DropExpected(patterns, threading.get_ident())))
    for logger, f in filters:
        logger.addFilter(f)
    try:
        with warnings.catch_warnings():
            for category, message in EXPECTED_EXPORT_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        for logger, f in filters:
            logger.removeFilter(f)
