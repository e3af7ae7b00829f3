""""Your objects": pictures a student captured (or uploaded) with the boxes they drew on them, one set per browser.

Where "Your classes" (datasets/captured.py) keeps an ImageFolder, a detection set keeps a picture and its
boxes: WORK/objects/<set id>/ holds

    set.json              {"name": "my desk", "classes": ["mug", "phone"]}   (the class order = YOLO class ids)
    images/<pic>.jpg      downscaled to settings.OBJECTS_SIDE, under a name of ours
    labels/<pic>.txt      YOLO lines `class cx cy w h`, normalised 0..1; empty = a background picture
    proposed/<pic>.json   label assist: boxes a trained detector proposed, until the student accepts or edits them

    s = ObjectSet.for_id(new_set_id()); s.set_classes("mug, phone")
    pic = s.add(frame, boxes=[("mug", 120, 80, 300, 260)])   # boxes in pixels: class, x1, y1, x2, y2
    s.set_boxes(pic, [{"class": "phone", "xyxy": [10, 10, 90, 200]}])
    s.split(seed=0)        # {"train": [...], "val": [...]}: seeded, at least one val picture per class
    s.zip_to(Path("/tmp/objects.zip"))   # images/{train,val}, labels/{train,val}, data.yaml (relative paths)

The zip is an ordinary YOLO data set: the Train-a-detector tab and `yolo-train --data set.zip` take it as
they take any upload (same extraction limits, same confinement checks), and the one-click training of this
set trains on exactly that zip. Everything here comes from an untrusted browser: the id is 32 hex digits,
picture names are ours, boxes are checked (inside the picture, a real size, a known class, finite numbers)
and refused with one sentence, and nothing is written outside the set's folder but the training zips
(WORK/datasets/objects/, named by a hash of the id: see export_key). This module never imports torch.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
import secrets
import shutil
import time
import zipfile
from pathlib import Path

from vision_demo import settings
# The same ids, class names, locks, upload checks and clean-up as "Your classes":
from vision_demo.datasets.captured import (add_uploads, check_set_id, clean_class_name, folder_lock, new_set_id,
                                           prune_sets)
from vision_demo.errors import VisionDemoError
from vision_demo.folders import folder_bytes
from vision_demo.images import load_rgb

__all__ = ["ObjectSet", "new_set_id", "check_set_id", "parse_box", "list_sets", "find_set", "prune"]

DEFAULT_CLASSES = ("mug", "phone")
MIN_CLASSES = 1
MIN_BOXED = 2              # pictures with a box of a class it needs to train: one to learn from, one to check on
VAL_FRACTION = 0.2         # of the pictures held out to measure mAP (at least one per class, see split())
JPEG_QUALITY = 90          # ~30-50 KB a 640x480 picture; boxes are drawn on it, keep the edges sharp
MIN_BOX_PX = 2.0           # a box thinner than this is a slip of the mouse, not an object
_PICTURE = re.compile(r"[0-9a-f]{12,16}-[0-9a-f]{4}")   # the names we give pictures (stem): time + random
_META = "set.json"


def objects_root() -> Path:
    return settings.subdir("objects")


def parse_class_names(text) -> list[str]:
    """'mug, phone' (or one per line) -> cleaned names; VisionDemoError for none, more than
    settings.OBJECTS_MAX_CLASSES, or one given twice."""
    raw = [part for part in re.split(r"[,\n;]", str(text or "")) if part.strip()]
    names = [clean_class_name(part) for part in raw]
    if not MIN_CLASSES <= len(names) <= settings.OBJECTS_MAX_CLASSES:
        raise VisionDemoError(f"name {MIN_CLASSES} to {settings.OBJECTS_MAX_CLASSES} object classes, separated by "
                              f"commas (e.g. {', '.join(DEFAULT_CLASSES)}), not {len(names)}")
    lowered = [n.lower() for n in names]
    twice = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if twice:
        raise VisionDemoError(f"class name {', '.join(twice)} given twice: each class needs its own name")
    return names


def parse_box(text) -> tuple[str, float, float, float, float]:
    """The CLI's --box "mug 120 80 300 260" (class, then x1 y1 x2 y2 in pixels; the class may have spaces)."""
    parts = str(text or "").split()
    if len(parts) < 5:
        raise VisionDemoError(f"box {str(text)[:60]!r}: write the class then x1 y1 x2 y2 in pixels, "
                              "e.g. \"mug 120 80 300 260\"")
    try:
        coords = [float(v) for v in parts[-4:]]
    except ValueError:
        raise VisionDemoError(f"box {str(text)[:60]!r}: x1 y1 x2 y2 must be numbers (pixels), "
                              "e.g. \"mug 120 80 300 260\"") from None
    return (" ".join(parts[:-4]), *coords)


def _as_box(box) -> tuple[object, list]:
    """(class, [x1, y1, x2, y2]) from a dict {"class", "xyxy"} or a tuple (class, x1, y1, x2, y2)."""
    if isinstance(box, dict):
        return box.get("class", box.get("name")), list(box.get("xyxy") or [])
    if isinstance(box, (list, tuple)) and len(box) == 5:
        return box[0], list(box[1:])
    raise VisionDemoError("a box is a class and four corners (x1, y1, x2, y2 in pixels)")


class ObjectSet:
    """One student's detection set: pictures, their YOLO labels, the class names (set.json)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = folder_lock(self.folder)

    @classmethod
    def for_id(cls, set_id) -> "ObjectSet":
        """The set of a browser (WORK/objects/<id>); the folder is made on the first write."""
        return cls(objects_root() / check_set_id(set_id))

    @property
    def id(self) -> str:
        return self.folder.name

    # ---- reading ----------------------------------------------------------------------------------
    def meta(self) -> dict:
        try:
            data = json.loads((self.folder / _META).read_text())
            if isinstance(data, dict):
                return data
        except (OSError, ValueError):
            pass
        return {}

    def name(self) -> str:
        return str(self.meta().get("name") or "")

    def classes(self) -> list[str]:
        names = self.meta().get("classes")
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names   # may be empty: a CLI set named by the boxes it gets
        return list(DEFAULT_CLASSES)

    def exists(self) -> bool:
        return (self.folder / _META).is_file()

    def pictures(self) -> list[str]:
        """The pictures' names (stems), oldest first (names start with the capture time)."""
        try:
            return sorted(p.stem for p in (self.folder / "images").iterdir()
                          if p.suffix == ".jpg" and _PICTURE.fullmatch(p.stem) and p.is_file())
        except OSError:
            return []

    def _check_picture(self, picture) -> str:
        stem = Path(str(picture or "")).stem
        if not _PICTURE.fullmatch(stem) or not (self.folder / "images" / f"{stem}.jpg").is_file():
            raise VisionDemoError(f"{str(picture)[:60]!r} is not one of your pictures")
        return stem

    def image_path(self, picture) -> Path:
        return self.folder / "images" / f"{self._check_picture(picture)}.jpg"

    def size(self, picture) -> tuple[int, int]:
        from vision_demo.images import probe_image

        info = probe_image(self.image_path(picture))
        return info.width, info.height

    def boxes(self, picture) -> list[dict]:
        """The picture's boxes in pixels: [{"class": "mug", "xyxy": [x1, y1, x2, y2]}], as the student drew them."""
        stem = self._check_picture(picture)
        return self._read_labels(stem, self.size(stem))

    def _read_labels(self, stem: str, size: tuple[int, int]) -> list[dict]:
        w, h = size
        names = self.classes()
        out = []
        try:
            lines = (self.folder / "labels" / f"{stem}.txt").read_text().splitlines()
        except OSError:
            return out
        for line in lines:
            fields = line.split()
            if len(fields) != 5:
                continue
            c, cx, cy, bw, bh = int(fields[0]), *(float(v) for v in fields[1:])
            if 0 <= c < len(names):
                out.append({"class": names[c], "xyxy": [round((cx - bw / 2) * w, 1), round((cy - bh / 2) * h, 1),
                                                         round((cx + bw / 2) * w, 1), round((cy + bh / 2) * h, 1)]})
        return out

    def labelled(self, picture) -> bool:
        """True once the student saved boxes (or none: background) for the picture."""
        return (self.folder / "labels" / f"{self._check_picture(picture)}.txt").is_file()

    def proposed(self, picture) -> list[dict]:
        """Label assist: the boxes a trained detector proposed for this picture (with "conf"), not yet accepted."""
        stem = self._check_picture(picture)
        try:
            data = json.loads((self.folder / "proposed" / f"{stem}.json").read_text())
        except (OSError, ValueError):
            return []
        names = self.classes()
        return [b for b in data if isinstance(b, dict) and b.get("class") in names] if isinstance(data, list) else []

    def counts(self) -> dict[str, int]:
        """Boxes per class over the set (what the tab shows beside each class)."""
        out = {n: 0 for n in self.classes()}
        for stem in self.pictures():
            for c in self._class_ids(stem):
                name = self.classes()[c]
                out[name] += 1
        return out

    def picture_counts(self) -> dict[str, int]:
        """Pictures that hold at least one box of each class (what the split and training need)."""
        names = self.classes()
        out = {n: 0 for n in names}
        for stem in self.pictures():
            for c in set(self._class_ids(stem)):
                out[names[c]] += 1
        return out

    def _class_ids(self, stem: str) -> list[int]:
        try:
            lines = (self.folder / "labels" / f"{stem}.txt").read_text().splitlines()
        except OSError:
            return []
        nc = len(self.classes())
        ids = []
        for line in lines:
            fields = line.split()
            if len(fields) == 5 and fields[0].isdigit() and int(fields[0]) < nc:
                ids.append(int(fields[0]))
        return ids

    def summary(self) -> dict:
        """Counts for a status line: pictures, labelled, background, waiting for review, boxes per class."""
        stems = self.pictures()
        labelled = [s for s in stems if (self.folder / "labels" / f"{s}.txt").is_file()]
        background = [s for s in labelled if not self._class_ids(s)]
        return {"pictures": len(stems), "labelled": len(labelled), "background": len(background),
                "unlabelled": len(stems) - len(labelled), "boxes": self.counts()}

    def total_bytes(self) -> int:
        return folder_bytes(self.folder)

    # ---- writing ----------------------------------------------------------------------------------
    def _write_meta(self, **changes) -> None:
        meta = {**self.meta(), "name": self.name(), "classes": self.classes(), **changes}
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{_META}.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.folder / _META)
        self.touch()

    def set_name(self, name) -> str:
        text = re.sub(r"\s+", " ", str(name or "")).strip()[:60]
        if not text or any(ord(c) < 32 for c in text):
            raise VisionDemoError("give the set a short name, e.g. 'my desk'")
        with self._lock:
            self._write_meta(name=text)
        return text

    def set_classes(self, names) -> list[str]:
        """Name the classes (a list, or one text 'a, b'). The class ids in the labels follow the positions, so a
        renamed class keeps its boxes; a class dropped from the end must have no boxes left."""
        names = parse_class_names(names if isinstance(names, str) else ", ".join(names))
        with self._lock:
            old = self.classes() if self.exists() else []
            if len(names) < len(old):
                counts = self.counts()
                used = [o for o in old[len(names):] if counts.get(o)]
                if used:
                    raise VisionDemoError(f"{', '.join(used)} still has {counts[used[0]]} boxes: delete them first, "
                                          "or keep the class")
            self._write_meta(classes=names)
        return names

    def add_class(self, name) -> str:
        """Append a class when it is new (the CLI names classes as it meets them); its clean name."""
        name = clean_class_name(name)
        with self._lock:
            names = self.classes() if self.exists() else []
            if name not in names:
                if len(names) >= settings.OBJECTS_MAX_CLASSES:
                    raise VisionDemoError(f"a set has at most {settings.OBJECTS_MAX_CLASSES} object classes: "
                                          f"{', '.join(names)}")
                self._write_meta(classes=names + [name])
        return name

    def yolo_lines(self, boxes, size: tuple[int, int]) -> list[str]:
        """Boxes in pixels -> YOLO label lines; VisionDemoError (one sentence) for the first bad one."""
        w, h = size
        names = self.classes()
        if len(boxes or []) > settings.OBJECTS_MAX_BOXES:
            raise VisionDemoError(f"{len(boxes)} boxes on one picture: at most {settings.OBJECTS_MAX_BOXES}")
        lines = []
        for i, box in enumerate(boxes or [], 1):
            cls, xyxy = _as_box(box)
            where = f"box {i}"
            if cls not in names:
                known = ", ".join(names)
                raise VisionDemoError(f"{where}: unknown class {str(cls)[:40]!r}: the set's classes are {known} "
                                      "(add the class to the names first)")
            try:
                x1, y1, x2, y2 = (float(v) for v in xyxy)
            except (TypeError, ValueError):
                raise VisionDemoError(f"{where} ({cls}): the corners must be four numbers x1, y1, x2, y2 in pixels") from None
            if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
                raise VisionDemoError(f"{where} ({cls}): a corner is not a number (NaN or infinite): draw it again")
            x1, x2 = min(x1, x2), max(x1, x2)
            y1, y2 = min(y1, y2), max(y1, y2)
            if x1 < -0.5 or y1 < -0.5 or x2 > w + 0.5 or y2 > h + 0.5:
                raise VisionDemoError(f"{where} ({cls}) [{x1:g}, {y1:g}, {x2:g}, {y2:g}] goes outside the "
                                      f"{w}×{h} picture: keep it inside")
            x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h))
            if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
                raise VisionDemoError(f"{where} ({cls}) is {x2 - x1:g}×{y2 - y1:g} px: a box needs a real size "
                                      f"(at least {MIN_BOX_PX:g} px each way): drag across the object")
            c = names.index(cls)
            lines.append(f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
        return lines

    def add(self, image, boxes=None, label: str | None = None, proposed=None) -> str:
        """Save one picture (decoded safely, downscaled to settings.OBJECTS_SIDE; boxes given in the ORIGINAL
        picture's pixels are scaled with it). boxes None: not labelled yet; []: a background picture.
        proposed: label assist's boxes (in the original pixels, with "conf") to show for review. Returns the name."""
        img = load_rgb(image, name=label)
        original = img.size
        img.thumbnail((settings.OBJECTS_SIDE, settings.OBJECTS_SIDE))
        scale = img.size[0] / original[0]
        lines = None
        if boxes is not None:   # checked against the original size (what the caller measured in), then scaled
            self.yolo_lines(boxes, original)
            lines = self.yolo_lines([_scaled(b, scale) for b in boxes], img.size)
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=JPEG_QUALITY)
        data = buffer.getvalue()
        with self._lock:
            if not self.exists():
                self._write_meta()
            n = len(self.pictures())
            if n >= settings.OBJECTS_MAX_PICTURES:
                raise VisionDemoError(f"your set has {n} pictures, the most a set may have: delete some first")
            if self.total_bytes() + len(data) > settings.OBJECTS_MAX_BYTES:
                raise VisionDemoError(f"your set is full ({settings.OBJECTS_MAX_BYTES // 2**20} MB): delete some "
                                      "pictures first")
            stem = f"{time.time_ns() // 1000:x}-{secrets.token_hex(2)}"
            _write_atomic(self.folder / "images" / f"{stem}.jpg", data)
            if lines is not None:
                _write_atomic(self.folder / "labels" / f"{stem}.txt", "".join(f"{ln}\n" for ln in lines).encode())
            if proposed:
                kept = [{**_scaled(b, scale), "conf": round(float(b.get("conf", 0.0)), 3)}
                        for b in proposed if isinstance(b, dict) and b.get("class") in self.classes()]
                _write_atomic(self.folder / "proposed" / f"{stem}.json", json.dumps(kept).encode())
            self.touch()
        return stem

    def add_files(self, files) -> tuple[list[str], list[str]]:
        """Uploaded pictures (no boxes yet): ([names added], ['file: why not', ...]). Stops at the first limit."""
        return add_uploads(files, lambda path: self.add(path, label=path.name))

    def set_boxes(self, picture, boxes) -> list[dict]:
        """Replace the picture's boxes (pixels); [] makes it a background picture. The proposal is done with."""
        stem = self._check_picture(picture)
        size = self.size(stem)
        lines = self.yolo_lines(boxes, size)
        with self._lock:
            _write_atomic(self.folder / "labels" / f"{stem}.txt", "".join(f"{ln}\n" for ln in lines).encode())
            with contextlib.suppress(FileNotFoundError):
                (self.folder / "proposed" / f"{stem}.json").unlink()
            self.touch()
        return self._read_labels(stem, size)

    def delete(self, picture) -> bool:
        """Remove one picture with its boxes."""
        try:
            stem = self._check_picture(picture)
        except VisionDemoError:
            return False
        with self._lock:
            for path in (self.folder / "images" / f"{stem}.jpg", self.folder / "labels" / f"{stem}.txt",
                         self.folder / "proposed" / f"{stem}.json"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            self.touch()
        return True

    def clear(self) -> None:
        """Remove the set: pictures, boxes, names, and its training zips."""
        with self._lock:
            for path in self.exports():
                path.unlink(missing_ok=True)
            shutil.rmtree(self.folder, ignore_errors=True)

    def touch(self) -> None:
        with contextlib.suppress(OSError):
            os.utime(self.folder)

    # ---- the YOLO data set ------------------------------------------------------------------------
    def split(self, seed: int = 0, val_fraction: float = VAL_FRACTION) -> dict[str, list[str]]:
        """Labelled pictures into train and val, the same for the same pictures and seed. Every class gets at least
        one val picture and keeps at least one train picture (VisionDemoError naming a class with fewer than
        MIN_BOXED pictures); background pictures are split like the others."""
        names = self.classes()
        stems = [s for s in self.pictures() if (self.folder / "labels" / f"{s}.txt").is_file()]
        has = {s: set(self._class_ids(s)) for s in stems}
        few = [f"{n} ({sum(c in h for h in has.values())})" for c, n in enumerate(names)
               if sum(c in h for h in has.values()) < MIN_BOXED]
        if few:
            raise VisionDemoError(f"each class needs boxes on at least {MIN_BOXED} pictures (one to learn from, one to "
                                  f"check on): draw boxes of {', '.join(few)}")
        rng = random.Random(seed)
        order = stems[:]
        rng.shuffle(order)
        val: list[str] = []
        # Rarest class first: give each class one val picture while it keeps one in train.
        for c in sorted(range(len(names)), key=lambda c: sum(c in h for h in has.values())):
            if any(c in has[s] for s in val):
                continue
            for s in order:
                if c in has[s] and s not in val and all(
                        any(k in has[t] for t in order if t not in val and t != s) for k in has[s]):
                    val.append(s)
                    break
        target = max(len(val), round(len(order) * val_fraction))
        for s in order:
            if len(val) >= target:
                break
            if s not in val and all(any(k in has[t] for t in order if t not in val and t != s) for k in has[s]):
                val.append(s)
        train = [s for s in order if s not in val]
        return {"train": sorted(train), "val": sorted(val)}

    def data_yaml(self) -> str:
        """data.yaml with paths relative to itself. No `path:` at all: Ultralytics then reads the splits beside
        the yaml wherever the set is unzipped (an absolute one names this server's folder, a relative one —
        even `.` — resolves against the current directory or Ultralytics' datasets_dir, not the yaml's)."""
        import yaml

        return yaml.safe_dump({"train": "images/train", "val": "images/val",
                               "names": dict(enumerate(self.classes()))}, sort_keys=False)

    def zip_to(self, target: Path, seed: int = 0) -> Path:
        """The set as a YOLO data set in a zip: images/{train,val}/x.jpg, labels/{train,val}/x.txt, data.yaml."""
        split = self.split(seed)
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name("." + target.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("data.yaml", self.data_yaml())
            for part, stems in split.items():
                for stem in stems:
                    zf.write(self.folder / "images" / f"{stem}.jpg", f"images/{part}/{stem}.jpg",
                             compress_type=zipfile.ZIP_STORED)   # JPEGs do not compress
                    zf.write(self.folder / "labels" / f"{stem}.txt", f"labels/{part}/{stem}.txt")
        os.replace(tmp, target)
        return target

    def export_key(self) -> str:
        """What names this set's training zips: a hash of the id, never the id itself. A job's config (its data
        path) is shown to anyone who asks /job_status, and the id is the key to the set."""
        import hashlib

        return hashlib.sha256(f"vision_demo objects {self.id}".encode()).hexdigest()[:16]

    def export_zip(self, seed: int = 0) -> Path:
        """The zip a training job reads: WORK/datasets/objects/<export key>-<content>.zip. The same pictures and
        boxes give the same file; an older one stays while a job may still read it (the newest 3 are kept).
        It is the only thing a set writes outside its folder, and clear() removes it too."""
        import hashlib

        split = self.split(seed)
        digest = hashlib.sha1(json.dumps([self.classes(), split, [
            (self.folder / "labels" / f"{s}.txt").read_text() for part in split.values() for s in part]]).encode())
        target = exports_root() / f"{self.export_key()}-{digest.hexdigest()[:12]}.zip"
        with self._lock:
            if not target.is_file():
                self.zip_to(target, seed)
            os.utime(target)
            for old in self.exports()[:-3]:
                old.unlink(missing_ok=True)
        return target

    def exports(self) -> list[Path]:
        """This set's training zips, oldest first."""
        return sorted(exports_root().glob(f"{self.export_key()}-*.zip"), key=lambda p: p.stat().st_mtime)

    def owns_export(self, path) -> bool:
        """True when `path` is one of this set's training zips (what a job trained on)."""
        p = Path(str(path or ""))
        return p.parent == exports_root() and p.name.startswith(f"{self.export_key()}-") and p.suffix == ".zip"


def exports_root() -> Path:
    return settings.subdir("datasets", "objects")


def _scaled(box, scale: float):
    cls, xyxy = _as_box(box)
    try:
        coords = [float(v) * scale for v in xyxy]
    except (TypeError, ValueError):
        coords = xyxy
    return {"class": cls, "xyxy": coords}


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)   # a reader (the editor, a training job's zip) never sees half a file


def list_sets() -> list[ObjectSet]:
    """Every set in the work folder, most recently used first (the CLI's `objects list`)."""
    root = objects_root()
    folders = [p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{32}", p.name)]
    return [ObjectSet(p) for p in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)]


def find_set(name_or_id) -> ObjectSet:
    """A set by its id, or by the name `objects new NAME` gave it; VisionDemoError when there is none."""
    text = str(name_or_id or "").strip()
    with contextlib.suppress(VisionDemoError):
        s = ObjectSet.for_id(text)
        if s.exists():
            return s
    matches = [s for s in list_sets() if s.name() == text]
    if not matches:
        raise VisionDemoError(f"no object set called {text[:60]!r}: make one with `objects new NAME` "
                              "(`objects list` shows them)")
    return matches[0]


def prune(now: float | None = None, keep_recent: float = 600.0) -> list[str]:
    """Remove sets nobody used for settings.CAPTURED_KEEP_DAYS, then the least recently used ones while all sets
    together exceed settings.OBJECTS_TOTAL_BYTES (never one used in the last `keep_recent` seconds). Their ids."""
    return prune_sets(list_sets(), settings.OBJECTS_TOTAL_BYTES, now, keep_recent)
