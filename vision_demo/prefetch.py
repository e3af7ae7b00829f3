"""The offline pack: download, once and while online, everything the online features use, into the work folder.

    python -m vision_demo --online prefetch                       # all of it
    python -m vision_demo --online prefetch --what resnet18,yolo11n
    python -m vision_demo prefetch --list                         # what is cached, its size, what is missing

A teacher prepares at home; in class the app runs fully offline from the pack: torchvision's ImageNet
ResNet-18 (the seed's backbone) lands where classify.models looks for it (WORK/weights), the COCO detectors
where detect.weights looks (WORK/weights), coco8 where Ultralytics' datasets_dir points (WORK/datasets), and
Intel Image Classification in kagglehub's cache inside WORK. Copy the work folder to the classroom machine
(or start it with --work-dir pointing at the copy).

Downloads are resumable (an interrupted one continues from its .partial file with an HTTP Range request)
and checked: torchvision publishes the first 8 hex digits of each file's sha256 in its name, which must
match; Ultralytics' release assets publish none, so they are checked to be loadable checkpoints instead.
`VISION_DEMO_MIRROR=http://host/dir/` fetches every file from one folder instead (a school's mirror; the
tests' local server).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vision_demo import settings
from vision_demo.errors import VisionDemoError


@dataclass(frozen=True)
class Item:
    name: str            # what --what takes
    what: str            # what a person reads
    url: str             # the published source
    target: str          # where it goes, relative to the work folder
    sha256_prefix: str = ""   # published checksum (prefix), when the source publishes one
    unzip: bool = False       # a zipped data set: extracted next to the zip


ITEMS = {i.name: i for i in (
    Item("resnet18", "ImageNet ResNet-18 (torchvision), the seed's backbone for exercises 3-4",
         "https://download.pytorch.org/models/resnet18-f37072fd.pth", "weights/resnet18-f37072fd.pth",
         sha256_prefix="f37072fd"),
    Item("yolo11n", "YOLO11n, COCO's 80 classes (Ultralytics)",
         "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolo11n.pt", "weights/yolo11n.pt"),
    Item("yolov8n", "YOLOv8n, COCO's 80 classes (Ultralytics)",
         "https://github.com/ultralytics/assets/releases/download/v8.3.0/yolov8n.pt", "weights/yolov8n.pt"),
    Item("coco8", "8 COCO images with their boxes: a YOLO data set (Ultralytics)",
         "https://github.com/ultralytics/assets/releases/download/v0.0.0/coco8.zip", "datasets/coco8.zip",
         unzip=True),
)}
EXTRA = ("intel",)   # downloaded by kagglehub, not by URL
CHUNK = 1 << 20

Progress = Callable[[str, int, int | None], None]   # (item name, bytes so far, total or None)


def source_url(item: Item) -> str:
    mirror = os.environ.get("VISION_DEMO_MIRROR", "").strip()
    return mirror.rstrip("/") + "/" + Path(item.url).name if mirror else item.url


def status() -> list[dict]:
    """Every item: {name, what, cached, bytes, path}, for `prefetch --list` and the Data tab's panel."""
    rows = []
    for item in ITEMS.values():
        path = _present(item)
        rows.append({"name": item.name, "what": item.what, "cached": path is not None,
                     "bytes": _size(path) if path else 0, "path": str(path) if path else ""})
    intel = settings.work_path() / "datasets" / "kaggle"
    rows.append({"name": "intel", "what": "Intel Image Classification (Kaggle, ~350 MB)", "cached": _has_intel(intel),
                 "bytes": _size(intel) if intel.exists() else 0, "path": str(intel) if intel.exists() else ""})
    return rows


def _present(item: Item) -> Path | None:
    target = settings.work_path() / item.target
    if item.unzip:
        folder = target.with_suffix("")
        return folder if folder.is_dir() and any(folder.iterdir()) else None
    if item.name == "resnet18":
        from vision_demo.classify.pretrained import _resnet18_candidates
        return next((p for p in _resnet18_candidates() if p.is_file()), None)
    if item.name in ("yolo11n", "yolov8n"):
        from vision_demo.detect.weights import _cached_coco
        return _cached_coco(Path(item.target).name)
    return target if target.is_file() else None


def _has_intel(folder: Path) -> bool:
    return folder.is_dir() and any(p.name == "seg_train" for p in folder.rglob("seg_train"))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def prefetch(names: list[str] | None = None, on_progress: Progress | None = None) -> list[dict]:
    """Download the named items (default: all) that are not cached yet. Online only. Returns status rows of
    what was asked for. VisionDemoError for an unknown name, no connection, or a checksum that does not match."""
    names = list(names or [*ITEMS, *EXTRA])
    unknown = [n for n in names if n not in ITEMS and n not in EXTRA]
    if unknown:
        raise VisionDemoError(f"unknown item(s) {', '.join(unknown)}: choose from {', '.join([*ITEMS, *EXTRA])}")
    if not settings.online():
        raise VisionDemoError("prefetch downloads: start it with --online (or VISION_DEMO_ONLINE=1), on a machine "
                              "with internet; then copy the work folder to the classroom machine")
    for name in names:
        if name == "intel":
            from vision_demo.datasets.intel import download_intel
            download_intel()
            continue
        item = ITEMS[name]
        if _present(item) is None:
            fetch(item, on_progress)
    return [row for row in status() if row["name"] in names]


def fetch(item: Item, on_progress: Progress | None = None) -> Path:
    """Download one item into the work folder, resuming a .partial file, checking it, then putting it in place."""
    target = settings.work_path() / item.target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    url = source_url(item)
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            if have and response.status != 206:   # the server ignored the Range: start over
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            with open(partial, "ab" if have else "wb") as out:
                done = have
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if on_progress:
                        on_progress(item.name, done, total)
            if total is not None and done < total:   # http.client ends a cut-off body quietly
                raise ConnectionError(f"the connection closed after {done:,} of {total:,} bytes")
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:   # the .partial is already whole
            pass
        else:
            raise VisionDemoError(f"{item.name}: the download failed ({err.code} {err.reason} from {url})") from None
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise VisionDemoError(f"{item.name}: the download was interrupted ({reason}); run prefetch again to "
                              f"resume it ({partial.stat().st_size if partial.exists() else 0:,} bytes kept)") from None
    _check(item, partial)
    os.replace(partial, target)
    if item.unzip:
        _unzip(target)
    return target


def _check(item: Item, path: Path) -> None:
    if item.sha256_prefix:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if not digest.startswith(item.sha256_prefix):
            path.unlink(missing_ok=True)
            raise VisionDemoError(f"{item.name}: checksum mismatch (sha256 {digest[:8]}…, the source publishes "
                                  f"{item.sha256_prefix}…): the file was refused and deleted; run prefetch again")
    elif path.suffix == ".pt":
        from vision_demo.detect.weights import check_safe_checkpoint
        try:
            check_safe_checkpoint(path, display_name=Path(item.target).name)
        except VisionDemoError:
            path.unlink(missing_ok=True)
            raise


def _unzip(zip_path: Path) -> None:
    from vision_demo.datasets.archive import extract_zip

    folder = zip_path.with_suffix("")
    extracted = extract_zip(zip_path, dest_parent=zip_path.parent)   # the same checks as an upload
    inner = [p for p in extracted.iterdir() if p.is_dir()]
    source = inner[0] if len(inner) == 1 and inner[0].name == folder.name else extracted
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(source, folder)
    shutil.rmtree(extracted, ignore_errors=True)
    zip_path.unlink(missing_ok=True)
    if not any(folder.iterdir()):
        raise VisionDemoError(f"{zip_path.name} held no files")

