"""Import Ultralytics so that it stays inside the work folder, off the network, and loads .pt files safely.

    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()          # idempotent; call before YOLO(...) / model.train(...)

`settings.configure()` already set YOLO_CONFIG_DIR (settings.json), YOLO_OFFLINE, ULTRALYTICS_SAFE_LOAD and
MPLBACKEND before the first import. Here we fix what the environment cannot:
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

import logging
import shutil
import threading
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
