""""Your classes": a small ImageFolder of pictures a student captured from the webcam (or uploaded), one per browser.

Teachable Machine's idea: the class puts itself in the loop. Each browser gets its own set, kept under
WORK/captured/<set id>/ as an ordinary ImageFolder (one sub-folder per class), so every other tab and the CLI
can train on it, and it can be downloaded as a zip.

    s = CapturedSet.for_id(new_set_id())
    s.set_classes(["thumbs up", "thumbs down", "nothing"])
    s.add("thumbs up", frame)              # a numpy frame, a path, bytes, a PIL image: downscaled, saved as JPEG
    s.counts()                             # {"thumbs up": 1, "thumbs down": 0, "nothing": 0}
    s.zip_to(Path("/tmp/my-classes.zip"))

Everything here comes from an untrusted browser: the set id must be 32 hex digits (it names a folder, so it
is never used as a path otherwise), class names are cleaned into safe folder names, picture names are ours,
and the limits in vision_demo.settings (classes, pictures per class, bytes per set) are checked before a
file is written. Old sets go by age and by an overall quota (`prune`). This module never imports torch.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import unicodedata
import zipfile
from pathlib import Path

from vision_demo import settings
from vision_demo.errors import BadImageError, VisionDemoError
from vision_demo.folders import folder_bytes
from vision_demo.images import IMAGE_SUFFIXES, load_rgb

DEFAULT_CLASSES = ("thumbs up", "thumbs down", "nothing")
MIN_CLASSES = 2
MAX_NAME = 40                          # characters of a class name
JPEG_QUALITY = 85                      # ~10-20 KB a 256 px picture; the model sees 128 px
_SET_ID = re.compile(r"[0-9a-f]{32}")
_PICTURE = re.compile(r"[0-9a-f]{12,16}-[0-9a-f]{4}\.jpg")   # the names we give pictures: time + random
_CLASSES_FILE = "classes.json"         # the class names in the order the student gave them
# Folder names that the ImageFolder reader (datasets/imagefolder.py) would take for a split, not a class.
_RESERVED = {"train", "training", "test", "testing", "val", "valid", "validation", "seg_train", "seg_test",
             "seg_pred", "__macosx", "thumbs.db", "desktop.ini"}

_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


def captured_root() -> Path:
    return settings.subdir("captured")


# ---- what every student set does the same way (this module's and datasets/objects.py's) ----------------------
def folder_lock(folder: Path) -> threading.Lock:
    """The one lock of a set's folder, shared by every object that names the same folder in this process."""
    with _locks_lock:
        return _locks.setdefault(str(folder), threading.Lock())


def add_uploads(files, add) -> tuple[list, list[str]]:
    """Call add(path) for each uploaded image file: ([what add returned], ['file: why not', ...]). Stops at the
    first limit reached (the rest would fail the same way); a file that is not a picture is only left out."""
    added, refused = [], []
    for f in files or []:
        path = Path(str(f))
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            refused.append(f"{path.name}: not an image file (suffix {path.suffix or 'none'})")
            continue
        try:
            added.append(add(path))
        except BadImageError as err:
            refused.append(str(err))
        except VisionDemoError as err:   # a limit: the next files would be refused too
            refused.append(str(err))
            break
    return added, refused


def prune_sets(sets, max_bytes: int, now: float | None = None, keep_recent: float = 600.0) -> list[str]:
    """Clear the sets (each with .folder, .id, .total_bytes(), .clear()) nobody used for
    settings.CAPTURED_KEEP_DAYS, then the least recently used ones while they together exceed max_bytes (never
    one used in the last `keep_recent` seconds). Returns the ids removed."""
    now = time.time() if now is None else now
    dated = []
    for s in sets:
        with contextlib.suppress(OSError):
            dated.append((s.folder.stat().st_mtime, s.id, s))
    removed, kept = [], []
    for mtime, _, s in sorted(dated, key=lambda d: d[:2]):   # oldest first
        if now - mtime > settings.CAPTURED_KEEP_DAYS * 86400:
            s.clear()
            removed.append(s.id)
        else:
            kept.append((mtime, s, s.total_bytes()))
    total = sum(size for _, _, size in kept)
    for mtime, s, size in kept:
        if total <= max_bytes:
            break
        if now - mtime < keep_recent:
            continue
        s.clear()
        total -= size
        removed.append(s.id)
    return removed


def new_set_id() -> str:
    """A fresh random id (128 bits): whoever holds it is the set's owner, nobody can guess another's."""
    return secrets.token_hex(16)


def check_set_id(set_id) -> str:
    """The id itself when it is 32 lowercase hex digits; VisionDemoError otherwise (it is never a path)."""
    text = str(set_id or "").strip()
    if not _SET_ID.fullmatch(text):
        raise VisionDemoError("that is not a set id (32 hex digits): reload the page to get your own set")
    return text


def clean_class_name(name) -> str:
    """A class name as a safe folder name: letters, digits, spaces, '-' and '_' only, at most MAX_NAME
    characters, not a name the ImageFolder reader treats specially. VisionDemoError when nothing is left."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = "".join(c if (c.isalnum() or c in " -_") else " " for c in text)
    text = re.sub(r"\s+", " ", text).strip(" -_")[:MAX_NAME].strip(" -_")
    if not text:
        raise VisionDemoError(f"class name {str(name)[:60]!r} has no letters or digits: name it e.g. 'thumbs up'")
    if text.lower() in _RESERVED:
        raise VisionDemoError(f"{text!r} cannot be a class name (the data set reader takes it for a split "
                              "folder): call it e.g. 'my_" + text + "'")
    return text


def parse_class_names(text) -> list[str]:
    """'thumbs up, thumbs down, nothing' (or one per line) -> cleaned names; VisionDemoError for fewer than 2,
    more than settings.CAPTURED_MAX_CLASSES, or two that are the same."""
    raw = [part for part in re.split(r"[,\n;]", str(text or "")) if part.strip()]
    names = [clean_class_name(part) for part in raw]
    if not MIN_CLASSES <= len(names) <= settings.CAPTURED_MAX_CLASSES:
        raise VisionDemoError(f"name {MIN_CLASSES} to {settings.CAPTURED_MAX_CLASSES} classes, separated by commas "
                              f"(e.g. {', '.join(DEFAULT_CLASSES)}), not {len(names)}")
    lowered = [n.lower() for n in names]
    twice = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if twice:
        raise VisionDemoError(f"class name{'s' * (len(twice) > 1)} {', '.join(twice)} given twice: each class "
                              "needs its own name")
    return names


class CapturedSet:
    """One student's classes: a folder of class folders of JPEGs, with the class order in classes.json."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = folder_lock(self.folder)

    @classmethod
    def for_id(cls, set_id) -> "CapturedSet":
        """The set of a browser (WORK/captured/<id>); the folder is made on the first write."""
        return cls(captured_root() / check_set_id(set_id))

    @property
    def id(self) -> str:
        return self.folder.name

    # ---- reading ----------------------------------------------------------------------------------
    def classes(self) -> list[str]:
        """The class names in the student's order (DEFAULT_CLASSES for a set never written)."""
        try:
            names = json.loads((self.folder / _CLASSES_FILE).read_text())
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return names
        except (OSError, ValueError):
            pass
        found = sorted(p.name for p in self._class_dirs())
        return found or list(DEFAULT_CLASSES)

    def _class_dirs(self) -> list[Path]:
        try:
            return [p for p in self.folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
        except OSError:
            return []

    def pictures(self, name: str) -> list[Path]:
        """The pictures of one class, oldest first (names start with the capture time)."""
        folder = self.folder / clean_class_name(name)
        try:
            return sorted(p for p in folder.iterdir() if p.is_file() and _PICTURE.fullmatch(p.name))
        except OSError:
            return []

    def counts(self) -> dict[str, int]:
        return {name: len(self.pictures(name)) for name in self.classes()}

    def total_bytes(self) -> int:
        return folder_bytes(self.folder)

    def exists(self) -> bool:
        return self.folder.is_dir()

    def is_captured(self) -> bool:
        """True for a folder written by this module (it holds the class list), not any ImageFolder."""
        return (self.folder / _CLASSES_FILE).is_file()

    # ---- writing ----------------------------------------------------------------------------------
    def set_classes(self, names) -> list[str]:
        """Name the classes (a list, or one text 'a, b, c'). A class whose name changes at the same position
        keeps its pictures (a typo fixed); a class dropped from the list must have no pictures left
        (VisionDemoError says so: pictures are never deleted by renaming)."""
        names = parse_class_names(names if isinstance(names, str) else ", ".join(names))
        with self._lock:
            old = self.classes()
            renames = {o: n for o, n in zip(old, names) if o != n and o not in names and n not in old}
            dropped = [o for o in old if o not in names and o not in renames]
            with_pictures = [o for o in dropped if self.pictures(o)]
            if with_pictures:
                raise VisionDemoError(f"{', '.join(with_pictures)} still has {len(self.pictures(with_pictures[0]))} "
                                      "pictures: delete them first, or keep the class")
            self.folder.mkdir(parents=True, exist_ok=True)
            for o, n in renames.items():   # the same position, a new name: the pictures move with it
                if (self.folder / o).is_dir() and not (self.folder / n).exists():
                    os.rename(self.folder / o, self.folder / n)
            for n in names:
                (self.folder / n).mkdir(exist_ok=True)
            for gone in dropped:
                shutil.rmtree(self.folder / gone, ignore_errors=True)   # empty: checked above
            (self.folder / _CLASSES_FILE).write_text(json.dumps(names))
            self.touch()
        return names

    def add_class(self, name) -> str:
        """Append a class (the CLI builds a set one class at a time); its clean name. A set never written starts
        empty here, not with the default names."""
        name = clean_class_name(name)
        with self._lock:
            names = self.classes() if self.is_captured() else []
            if name not in names:
                if len(names) >= settings.CAPTURED_MAX_CLASSES:
                    raise VisionDemoError(f"a set has at most {settings.CAPTURED_MAX_CLASSES} classes: {', '.join(names)}")
                self._write_classes(names + [name])
        return name

    def add(self, name: str, image, label: str | None = None) -> Path:
        """Save one picture into class `name`: decoded safely (images.load_rgb), downscaled to
        settings.CAPTURED_SIDE, stored as JPEG under a name of ours. VisionDemoError beyond a limit."""
        name = clean_class_name(name)
        if name not in self.classes():
            raise VisionDemoError(f"no class {name!r} in your set ({', '.join(self.classes())}): add it to the names")
        img = load_rgb(image, name=label)
        img.thumbnail((settings.CAPTURED_SIDE, settings.CAPTURED_SIDE))
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=JPEG_QUALITY)
        data = buffer.getvalue()
        with self._lock:
            if not (self.folder / _CLASSES_FILE).is_file():
                self._write_classes(self.classes())
            n = len(self.pictures(name))
            if n >= settings.CAPTURED_MAX_PER_CLASS:
                raise VisionDemoError(f"{name!r} has {n} pictures, the most a class may have: delete some first")
            if self.total_bytes() + len(data) > settings.CAPTURED_MAX_BYTES:
                raise VisionDemoError(f"your set is full ({settings.CAPTURED_MAX_BYTES // 2**20} MB): delete some "
                                      "pictures first")
            path = self.folder / name / f"{time.time_ns() // 1000:x}-{secrets.token_hex(2)}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("." + path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)   # a reader (the gallery, a training job) never sees half a picture
            self.touch()
        return path

    def add_files(self, name: str, files) -> tuple[int, list[str]]:
        """Add uploaded files to class `name`: (how many were added, ['file: why not', ...] for the others).
        Stops at the first limit reached (the rest would fail the same way)."""
        added, refused = add_uploads(files, lambda path: self.add(name, path, label=path.name))
        return len(added), refused

    def _write_classes(self, names: list[str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for n in names:
            (self.folder / n).mkdir(exist_ok=True)
        (self.folder / _CLASSES_FILE).write_text(json.dumps(names))

    def delete(self, name: str, picture: str) -> bool:
        """Remove one picture by its file name (only names of our own form: nothing else can be named)."""
        picture = Path(str(picture)).name
        if not _PICTURE.fullmatch(picture):
            raise VisionDemoError(f"{picture[:60]!r} is not one of your pictures")
        path = self.folder / clean_class_name(name) / picture
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            self.touch()
        return True

    def clear_class(self, name: str) -> int:
        """Remove every picture of one class (the class stays); returns how many went."""
        gone = 0
        with self._lock:
            for path in self.pictures(name):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    gone += 1
        return gone

    def clear(self) -> None:
        """Remove the whole set: pictures, class names (a later write starts from the default classes)."""
        with self._lock:
            shutil.rmtree(self.folder, ignore_errors=True)

    def touch(self) -> None:
        """The folder's mtime is its last use: `prune` removes the sets nobody used for longest."""
        with contextlib.suppress(OSError):
            os.utime(self.folder)

    def zip_to(self, target: Path) -> Path:
        """The set as a zip of <class>/<picture>.jpg (what the Data tab and `train --data` take back)."""
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name("." + target.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:   # JPEGs do not compress
            for name in self.classes():
                for path in self.pictures(name):
                    zf.write(path, f"{name}/{path.name}")
        os.replace(tmp, target)
        return target


def prune(now: float | None = None, keep_recent: float = 600.0) -> list[str]:
    """Remove sets nobody used for settings.CAPTURED_KEEP_DAYS, then the least recently used ones while all
    sets together exceed settings.CAPTURED_TOTAL_BYTES (never one used in the last `keep_recent` seconds).
    Returns the ids removed."""
    folders = [p for p in captured_root().iterdir()
               if p.is_dir() and not p.is_symlink() and _SET_ID.fullmatch(p.name)]
    return prune_sets([CapturedSet(p) for p in folders], settings.CAPTURED_TOTAL_BYTES, now, keep_recent)


def list_sets() -> list[CapturedSet]:
    """Every set in the work folder, most recently used first (the CLI's `classes list`)."""
    root = captured_root()
    folders = [p for p in root.iterdir() if p.is_dir() and _SET_ID.fullmatch(p.name)]
    return [CapturedSet(p) for p in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)]


class Recorder:
    """Which set is capturing into which class now: the Capture button arms it, the webcam stream feeds it.

    Why a burst of N frames rather than "hold a button": a web page cannot tell the server how long a button is
    held, and a toggle that someone forgets to switch off fills the class with pictures of the floor. A burst
    of CAPTURE_BURST pictures, one every `gap` seconds, takes a few seconds: move your hand while it runs (varied
    pictures teach more than twenty copies of one), then press again for more.
    """

    def __init__(self, gap: float = 0.2, stale: float = 2.0):
        self.gap, self.stale = gap, stale
        self._armed: dict[str, list] = {}       # set id -> [class, pictures still to take, time of the last one]
        self._seen: dict[str, float] = {}       # set id -> when its stream last sent a frame
        self._lock = threading.Lock()

    def arm(self, set_id: str, name: str, n: int) -> None:
        with self._lock:
            self._armed[set_id] = [name, int(n), 0.0]

    def stop(self, set_id: str) -> None:
        with self._lock:
            self._armed.pop(set_id, None)

    def streaming(self, set_id: str, now: float | None = None) -> bool:
        """True when this set's webcam sent a frame in the last `stale` seconds."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return now - self._seen.get(set_id, -1e9) < self.stale

    def take(self, set_id: str, now: float | None = None) -> tuple[str, int] | None:
        """A frame arrived: (class to save it into, pictures left after it) when it is due, else None."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._seen[set_id] = now
            armed = self._armed.get(set_id)
            if armed is None or now - armed[2] < self.gap:
                return None
            armed[1] -= 1
            armed[2] = now
            if armed[1] <= 0:
                del self._armed[set_id]
            return armed[0], max(armed[1], 0)

    def armed(self, set_id: str) -> tuple[str, int] | None:
        with self._lock:
            armed = self._armed.get(set_id)
            return (armed[0], armed[1]) if armed else None
