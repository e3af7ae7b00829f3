"""Classification data sets from folders: find the layout, list and check the images, split them.

Accepted layouts (found from the folder the user gives, through extra wrapper folders a zip adds):

    train/<class>/*.jpg + test/<class>/*.jpg     (or val/, valid/, validation/ instead of test/)
    seg_train/seg_train/<class>/ + seg_test/seg_test/<class>/ + seg_pred/   Kaggle's Intel set as it unpacks;
                                                 seg_pred/ holds unlabelled images and is ignored
    <class>/*.jpg                                one pile: split into train/test, stratified and seeded

    data = load_dataset("intel.zip")              # or a folder, or "scenes" / None for the offline default
    data.classes, data.counts(), data.report.summary()
    # for training: classify.inputs.ImageListDataset(data.train, build_transform(96, train=True), report=data.report)

Loading is cheap: files are listed by suffix and each header is opened (size and mode, no pixel
decoding), so non-images, broken headers and decompression bombs are skipped and reported up front.
A file whose pixel data turns out broken later (truncated, or damaged after loading) is skipped by
classify.inputs.ImageListDataset during training and recorded in the same report: one bad file is never
fatal. This module finds and checks data; it never imports torch.
"""
from __future__ import annotations

import logging
import os
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from vision_demo.errors import BadImageError, VisionDemoError
from vision_demo.folders import relative
from vision_demo.images import IMAGE_SUFFIXES, probe_image

log = logging.getLogger(__name__)

TEST_NAMES = ("test", "testing", "val", "valid", "validation")   # first found wins
_JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints"}
_REPORT_LOCK = threading.Lock()   # module level, not a field: a report must pickle into DataLoader workers


@dataclass
class DatasetReport:
    """What loading found wrong or odd; paths are relative to the data set's root where possible."""
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (path, why it is not used)
    converted: list[tuple[str, str]] = field(default_factory=list)   # (path, e.g. "CMYK -> RGB")
    notes: list[str] = field(default_factory=list)                   # layout remarks: "seg_pred/ ignored", class mismatches

    def add_skipped(self, path: str, reason: str) -> None:
        with _REPORT_LOCK:
            if not any(p == path for p, _ in self.skipped):
                self.skipped.append((path, reason))

    def summary(self) -> str:
        """One line: "skipped 2 files (1 corrupt, 1 not an image); converted 1 (1 CMYK -> RGB); <notes>"."""
        with _REPORT_LOCK:
            skipped, converted, notes = list(self.skipped), list(self.converted), list(self.notes)
        line = f"skipped {len(skipped)} file{'s' * (len(skipped) != 1)}"
        if skipped:
            line += " (" + ", ".join(f"{n} {kind}" for kind, n in Counter(_kind(r) for _, r in skipped).most_common()) + ")"
        line += f"; converted {len(converted)}"
        if converted:
            line += " (" + ", ".join(f"{n} {c}" for c, n in Counter(c for _, c in converted).most_common(3)) + ")"
        return "; ".join([line] + notes)

    def to_dict(self) -> dict:
        """JSON-ready: summary, skipped, converted (lists of [path, reason]), notes."""
        summary = self.summary()
        with _REPORT_LOCK:
            return {"summary": summary, "skipped": [list(x) for x in self.skipped],
                    "converted": [list(x) for x in self.converted], "notes": list(self.notes)}


def _kind(reason: str) -> str:
    """A short category of a skip reason, for the summary line."""
    for key, word in (("bomb", "too large"), ("over the limit", "too large"), ("not an image", "not an image"),
                      ("suffix", "not an image"), ("empty", "empty"), ("truncated", "corrupt"), ("corrupt", "corrupt"),
                      ("no such file", "missing"), ("class", "class not in training")):
        if key in reason:
            return word
    return "unreadable"


@dataclass
class ClassificationData:
    root: Path
    layout: str                           # "imagefolder" | "intel" | "single-split"
    classes: list[str]
    train: list[tuple[str, int]]          # (absolute path, class index)
    test: list[tuple[str, int]]
    report: DatasetReport

    def counts(self) -> dict[str, dict[str, int]]:
        """{"train": {class: n}, "test": {class: n}}, every class present (0 when none)."""
        out = {}
        for split, items in (("train", self.train), ("test", self.test)):
            n = Counter(label for _, label in items)
            out[split] = {c: n.get(i, 0) for i, c in enumerate(self.classes)}
        return out


# ---- finding the layout ---------------------------------------------------------------------------

def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir()
                      if p.is_dir() and not p.is_symlink() and p.name not in _JUNK and not p.name.startswith("."))
    except OSError:
        return []


def _has_image_files(folder: Path) -> bool:
    try:
        return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())
    except OSError:
        return False


def _child(folder: Path, names) -> Path | None:
    by_name = {p.name.lower(): p for p in _subdirs(folder)}
    return next((by_name[n] for n in names if n in by_name), None)


def _walk_dirs(root: Path, max_depth: int = 3):
    """Folders breadth-first, root first, down to max_depth below root."""
    level = [root]
    for _ in range(max_depth + 1):
        yield from level
        level = [d for folder in level for d in _subdirs(folder)]


def _intel_split(folder: Path) -> Path:
    """seg_train/seg_train/<class> as Kaggle ships it, or seg_train/<class> if someone flattened it."""
    inner = _child(folder, (folder.name.lower(),))
    return inner if inner is not None and _subdirs(inner) else folder


def _unwrap(folder: Path) -> Path:
    """Step through folders that hold nothing but one folder (what zipping a folder adds)."""
    for _ in range(5):
        subs = _subdirs(folder)
        if len(subs) != 1 or _has_image_files(folder) or not _subdirs(subs[0]):
            break
        folder = subs[0]
    return folder


def _find_layout(root: Path) -> tuple[str, Path, Path | None, list[str]]:
    """(layout, train folder, test folder or None, notes)."""
    for folder in _walk_dirs(root):
        seg_train = _child(folder, ("seg_train",))
        if seg_train is not None:
            seg_test = _child(folder, ("seg_test",))
            notes = ["seg_pred/ (unlabelled) ignored"] if _child(folder, ("seg_pred",)) else []
            return "intel", _intel_split(seg_train), _intel_split(seg_test) if seg_test else None, notes
    for folder in _walk_dirs(root):
        train = _child(folder, ("train", "training"))
        if train is not None and _subdirs(train) and not _has_image_files(train):   # a split, not a class named "train"
            test = _child(folder, TEST_NAMES)
            notes = []
            if test is not None:
                others = [p.name for p in _subdirs(folder) if p.name.lower() in TEST_NAMES and p != test]
                if others:
                    notes.append(f"{', '.join(others)}/ not used ({test.name}/ is the test split)")
                return "imagefolder", train, test, notes
            return "single-split", train, None, [f"no test/ or val/ next to {train.name}/: split {train.name}/"]
    return "single-split", _unwrap(root), None, []


# ---- listing and checking the files ------------------------------------------------------------

def _list_class(class_dir: Path, root: Path, report: DatasetReport) -> list[Path]:
    """Image files under class_dir (recursively, symlinked folders not followed), sorted; others reported."""
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if d not in _JUNK and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name in _JUNK or name.startswith("."):
                continue                         # .DS_Store, ._photo.jpg (macOS metadata): silent
            if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(root):
                report.skipped.append((relative(path, root), "a link to a file outside the data set"))
                continue                         # the data set's files are the folder's own, nothing else
            if path.suffix.lower() in IMAGE_SUFFIXES:
                found.append(path)
            else:
                report.skipped.append((relative(path, root), f"not an image file (suffix {path.suffix or 'none'})"))
    return found


def _check_headers(paths: list[Path], root: Path, report: DatasetReport) -> list[Path]:
    """Open every header (no pixel decoding) in a few threads; keep the good ones in order."""
    def probe(path: Path):
        rel = relative(path, root)
        try:
            return path, rel, probe_image(path, name=rel).conversion, None
        except BadImageError as err:
            msg = str(err)
            return path, rel, None, msg[len(rel) + 2:] if msg.startswith(rel + ": ") else msg

    if len(paths) > 64:
        with ThreadPoolExecutor(max_workers=4) as pool:   # header reads wait on the disk, not the CPU
            results = list(pool.map(probe, paths, chunksize=64))
    else:
        results = [probe(p) for p in paths]
    good = []
    for path, rel, conversion, error in results:
        if error is not None:
            report.skipped.append((rel, error))
            continue
        if conversion is not None:
            report.converted.append((rel, conversion))
        good.append(path)
    return good


def _scan_split(folder: Path, root: Path, report: DatasetReport) -> dict[str, list[Path]]:
    """{class name: good image paths} for every class folder directly under folder."""
    return {d.name: _check_headers(_list_class(d, root, report), root, report) for d in _subdirs(folder)}


def _describe_folder(folder: Path) -> str:
    subs = [p.name + "/" for p in _subdirs(folder)][:8]
    files = []
    try:
        files = sorted(p.name for p in folder.iterdir() if p.is_file())[:5]
    except OSError:
        pass
    found = ", ".join(subs + files) or "nothing"
    return f"found {found}"


_EXPECTED = ("expected train/<class>/*.jpg with test/<class>/ (or val/), Kaggle's Intel layout "
             "(seg_train/, seg_test/), or just one folder per class")


def _split_stratified(per_class: dict[str, list[Path]], test_fraction: float, seed: int):
    """Per class: shuffle with a seeded generator, put round(n * test_fraction) (at least 1) into test."""
    rng = random.Random(seed)
    train, test = {}, {}
    for name in sorted(per_class):
        paths = sorted(per_class[name])
        rng.shuffle(paths)
        n_test = min(max(1, round(len(paths) * test_fraction)), len(paths) - 1) if len(paths) >= 2 else 0
        test[name], train[name] = paths[:n_test], paths[n_test:]
    return train, test


def stratified_subset(items: list[tuple[str, int]], fraction: float, seed: int,
                      per_class: int | None = None) -> list[tuple[str, int]]:
    """`fraction` of the (path, label) items of every class (at least one each), drawn with a seeded generator:
    the same seed gives the same images, and each smaller fraction is a subset of a larger one.
    per_class: at most that many of every class instead (a big set cut to fit a class period)."""
    rng = random.Random(seed)
    by_class: dict[int, list[tuple[str, int]]] = {}
    for item in items:
        by_class.setdefault(item[1], []).append(item)
    kept = []
    for label in sorted(by_class):
        members = sorted(by_class[label])
        rng.shuffle(members)
        kept += members[:per_class if per_class else max(1, round(len(members) * fraction))]
    return sorted(kept, key=lambda item: (item[1], item[0]))


def _load_folder(root: Path, test_fraction: float, seed: int) -> ClassificationData:
    layout, train_dir, test_dir, notes = _find_layout(root)
    report = DatasetReport(notes=list(notes))
    train_found = _scan_split(train_dir, root, report)
    if test_dir is None:
        train_found, test_found = _split_stratified(train_found, test_fraction, seed)
    else:
        test_found = _scan_split(test_dir, root, report)

    # Classes are what the training split holds images of.
    empty = sorted(c for c, paths in train_found.items() if not paths)
    classes = sorted(c for c, paths in train_found.items() if paths)
    if empty:
        report.notes.append(f"class folder{'s' * (len(empty) > 1)} without usable training images ignored: {', '.join(empty)}")
    if len(classes) < 2:
        where = f"{relative(train_dir, root)}/" if train_dir != root else "the data set's top folder"
        raise VisionDemoError(f"{where}: need at least two class folders with images, {_describe_folder(train_dir)}; "
                              f"{_EXPECTED}")
    if test_dir is not None:
        test_classes = sorted(c for c, paths in test_found.items() if paths)
        if test_classes and not set(test_classes) & set(classes):
            raise VisionDemoError(f"the class folders of {relative(train_dir, root)}/ ({', '.join(classes)}) and "
                                  f"{relative(test_dir, root)}/ ({', '.join(test_classes)}) share no class: "
                                  "name the class folders alike in both splits")
        extra = [c for c in test_classes if c not in classes]
        for c in extra:
            for p in test_found[c]:
                report.skipped.append((relative(p, root), f"class {c!r} has no training images"))
        if extra:
            report.notes.append(f"test classes not in training, their images skipped: {', '.join(extra)}")
    missing = [c for c in classes if not test_found.get(c)]
    if missing:
        report.notes.append(f"classes without test images: {', '.join(missing)}")
    index = {c: i for i, c in enumerate(classes)}
    train = [(str(p.resolve()), index[c]) for c in classes for p in train_found[c]]
    test = [(str(p.resolve()), index[c]) for c in classes for p in test_found.get(c, [])]
    if not test:
        left = ", ".join(f"{c} {len(train_found[c])}" for c in classes)
        raise VisionDemoError(f"no test images (readable training images per class: {left}): each class needs at "
                              "least two images to split, or give a test/ folder with images of each class")
    return ClassificationData(root=root, layout=layout, classes=classes, train=train, test=test, report=report)


def load_dataset(source=None, test_fraction: float = 0.2, seed: int = 0) -> ClassificationData:
    """A classification data set from a folder, a .zip, or "scenes" / None (the offline default).

    test_fraction and seed are used only when the folder has no test split (stratified, seeded:
    the same seed gives the same split).
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise VisionDemoError(f"test_fraction must be between 0 and 1 (got {test_fraction}); 0.2 is usual")
    if source is None or str(source).strip().lower() in ("", "scenes"):
        from vision_demo.datasets.scenes import default_scenes
        source = default_scenes()
    path = Path(str(source).strip()).expanduser()
    if path.is_file() and path.suffix.lower() == ".zip":
        from vision_demo.datasets import archive

        folder = archive.extract_once(path)   # the four jobs of a comparison share one extraction
        try:
            return _load_folder(folder.resolve(), float(test_fraction), int(seed))
        except VisionDemoError:
            archive.discard(folder)   # refused as a data set: its files must not stay on the disk
            raise
    if path.is_file():
        raise VisionDemoError(f"{path}: is a file; give a folder of class folders or a .zip of one")
    if not path.is_dir():
        raise VisionDemoError(f"{path}: no such folder or zip file")
    return _load_folder(path.resolve(), float(test_fraction), int(seed))
