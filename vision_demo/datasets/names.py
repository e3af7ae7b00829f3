"""What a person calls a data set: the one name every tab shows (the path stays for scripts and tooltips).

    from vision_demo.datasets.names import dataset_name
    dataset_name("scenes")                                   # "Scenes · 128 px · 40 per class"
    dataset_name(WORK / "datasets/scenes-128-40-0")         # the same set by its folder: the same name
    dataset_name(WORK / "uploads/flowers-3f2a9c0d1e2b4a5f")  # "your upload: flowers.zip"
    dataset_name(WORK / "datasets/kaggle/…/intel-image-classification/versions/2")  # "Intel Image Classification"

A job's `data` and a loaded set's root are paths on the server: right for the code that opens them, wrong on a
projector ("…/vision_demo_work/datasets/scenes-128-40-0" says nothing to a class and shows the server's
folders). The name is read from the set itself where it can be (a generated set's scenes.json), else from the
folder the app put it in. Nothing here opens an image.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from vision_demo import settings

WORK_HANDLE = "work:"   # how the UI names a folder of the work folder without its path (ui/common.py)
INTEL = "Intel Image Classification"
_UPLOAD = re.compile(r"(?P<stem>.+)-[0-9a-f]{16}")    # archive.extract_once's folders: <zip stem>-<content hash>
_INTEL_FOLDERS = ("seg_train", "seg_test")             # Kaggle's layout (imagefolder.py reads it as "intel")


def scenes_name(size: int, per_class: int, seed: int = 0) -> str:
    """ "Scenes · 128 px · 40 per class" (the seed only when it is not the default's 0)."""
    return f"Scenes · {int(size)} px · {int(per_class)} per class" + (f" · seed {int(seed)}" if int(seed) else "")


def _scenes_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / "scenes.json").read_text())   # scenes._MARKER, written by write_scenes
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and {"size", "per_class"} <= meta.keys() else None


def _work() -> Path:
    return Path(settings.work_path()).resolve()


def dataset_name(source) -> str:
    """A person's name for a data set, given what a job's `data` holds ("scenes", a folder, a `work:` handle, a
    .zip) or a loaded set's root. Never a path: a folder the app does not know is named by its last part."""
    text = str(source if source is not None else "").strip()
    if text.lower() in ("", "scenes"):
        from vision_demo.datasets.scenes import DEFAULT_PER_CLASS, DEFAULT_SEED, DEFAULT_SIZE

        return scenes_name(DEFAULT_SIZE, DEFAULT_PER_CLASS, DEFAULT_SEED)
    if text.startswith(WORK_HANDLE):
        text = str(_work() / text[len(WORK_HANDLE):].lstrip("/"))
    looks_like_path = any(c in text for c in "/\\~")
    if not looks_like_path:
        return text            # a name already ("shapes", "coco8")
    path = Path(text).expanduser()
    if path.suffix.lower() == ".zip":
        return f"your upload: {path.name}"
    try:
        path = path.resolve()
    except OSError:
        return f"folder {path.name}" if path.name else "a folder on the server"
    work = _work()
    parts = path.relative_to(work).parts if path.is_relative_to(work) else ()
    if parts[:1] == ("uploads",) and len(parts) > 1:   # an upload first: whatever it holds, it is the student's zip
        match = _UPLOAD.fullmatch(parts[1])   # (the set may be a folder inside the zip: still the upload)
        return f"your upload: {match['stem'] if match else parts[1]}.zip"
    if parts[:1] == ("captured",):
        return "your webcam classes"
    meta = _scenes_meta(path)
    if meta:
        return scenes_name(meta["size"], meta["per_class"], meta.get("seed", 0))
    if parts[:2] == ("datasets", "kaggle"):
        return INTEL
    if any((path / folder).is_dir() for folder in _INTEL_FOLDERS):
        return INTEL
    return f"folder {path.name}" if path.name else "a folder on the server"
