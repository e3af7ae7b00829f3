"""YOLO-format detection data: find it, check it, and hand Ultralytics a data.yaml it cannot misread.

    from vision_demo.datasets.yolo import prepare_yolo_dataset
    yaml_path, report = prepare_yolo_dataset("/data/my_set")    # or a .zip, a data.yaml, "shapes", "coco8"
    print(report.summary())       # counts per split and every problem found

The YOLO layout: images/{train,val,test}/x.jpg with labels/{train,val,test}/x.txt next to them, one line
per object: `class cx cy w h`, normalised to 0..1 by the image size; plus a data.yaml with `names`.

Why prepare instead of passing the folder straight to Ultralytics:
- a relative `path:` in data.yaml resolves against Ultralytics' datasets_dir, not the yaml's folder, so a
  set that works on one machine silently trains on nothing (or something else) on another;
- Ultralytics skips broken labels with a warning in a log nobody reads; here every problem is listed
  (images without labels, labels without images, coordinates outside 0..1, unknown class ids, malformed
  lines, unreadable images, empty splits) and the files with bad labels are left out, not fatal;
- it writes label caches next to the labels: the prepared copy lives in WORK/datasets/prepared/, made of
  links to the good files, so nothing is written into the user's folder;
- a data.yaml is untrusted text from an upload: every path it names (`path`, `train`, `val`, `test`, each
  line of a .txt list, each image and label found) must stay inside the data set's own folder, or a zip
  could make the app list, train on and show the server's own files; YAML aliases are refused (a 400-byte
  "billion laughs" file expands to gigabytes) and the file is capped at settings.MAX_DATA_YAML_BYTES.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from vision_demo import settings
from vision_demo.folders import building, relative
from vision_demo.errors import VisionDemoError

SPLITS = ("train", "val", "test")
_EXAMPLES = 5                 # file names listed per kind of problem
MAX_LIST_BYTES = 16 * 2**20   # a .txt list of image paths (40k lines of 400 characters)
MAX_LABEL_BYTES = 2**20       # one label file (~25k boxes): more is not a label
MAX_NAME_CHARS = 100          # one class name
MAX_SPLIT_ENTRIES = 16        # folders / lists in one split entry


@dataclass
class YoloReport:
    names: list[str]
    counts: dict[str, dict] = field(default_factory=dict)   # {split: {images, labelled, background, instances, skipped}}
    problems: list[str] = field(default_factory=list)
    ok: bool = True                                          # False when a problem made files be left out
    source: str = ""
    data_root: str = ""                                      # the folder the files really are in (an upload's)

    def summary(self) -> str:
        lines = [f"{len(self.names)} classes: {', '.join(self.names)}"]
        for split, c in self.counts.items():
            lines.append(f"{split}: {c['images']} images ({c['background']} without boxes), "
                         f"{c['instances']} boxes" + (f", {c['skipped']} skipped" if c["skipped"] else ""))
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"names": self.names, "counts": self.counts, "problems": self.problems, "ok": self.ok,
                "source": self.source}


def prepare_yolo_dataset(source=None) -> tuple[Path, YoloReport]:
    """A folder / .zip / data.yaml / "shapes" (default) / an Ultralytics set name such as "coco8" (online)
    -> (a data.yaml with absolute paths inside WORK, the report). VisionDemoError when nothing can train."""
    text = str(source).strip() if source not in (None, "") else "shapes"
    if text == "shapes":
        from vision_demo.datasets.shapes import default_shapes
        yaml_path = default_shapes()
        return yaml_path, validate_yolo_dataset(yaml_path)  # generated and in WORK already: check, no copy
    path = Path(text).expanduser()
    if path.suffix.lower() == ".zip" and path.is_file():
        from vision_demo.datasets import archive

        folder = archive.extract_once(path)
        try:
            return _prepare_folder(folder, label=path.name)
        except VisionDemoError:
            archive.discard(folder)   # refused as a data set: its files must not stay on the disk
            raise
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return _prepare_yaml(path, label=str(path), root=path.parent)
    if path.is_dir():
        return _prepare_folder(path, label=str(path))
    bare_name = os.sep not in text and "/" not in text
    if bare_name and (not path.suffix or path.suffix.lower() in (".yaml", ".yml")):
        return _prepare_named(text)
    raise VisionDemoError(f"{text}: no such file or folder. Give a YOLO folder (images/, labels/, data.yaml), "
                          "a .zip of one, its data.yaml, or 'shapes' for the generated set")


# ---- sources -------------------------------------------------------------------------------------
def _prepare_named(name: str) -> tuple[Path, YoloReport]:
    """An Ultralytics data set by name (coco8, coco128, ...): downloaded into WORK/datasets, online only."""
    stem = Path(name).stem
    if not settings.online():
        raise VisionDemoError(f"'{stem}' is an Ultralytics data set that is downloaded on first use, and the app is "
                              "offline: start with --online, or use 'shapes' (generated here) or your own YOLO folder/zip")
    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()  # datasets_dir -> WORK/datasets
    from ultralytics.data.utils import check_det_dataset
    try:
        info = check_det_dataset(f"{stem}.yaml")
    except Exception as err:  # unknown name, network failure: both mean "cannot get it"
        raise VisionDemoError(f"could not get the data set '{stem}': {err}") from err
    base = Path(info["path"]).resolve()
    return _prepare_yaml_data(info, base, root=base, label=stem)


def _prepare_folder(folder: Path, label: str) -> tuple[Path, YoloReport]:
    """A folder (the user's, or an extracted upload): its data.yaml, or images/ + classes.txt. The folder is the
    data set's root: nothing outside it is read."""
    folder = root = folder.resolve()
    yamls = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not yamls:  # a zip often holds one top folder
        subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
        if len(subdirs) == 1:
            yamls = sorted(subdirs[0].glob("*.yaml")) + sorted(subdirs[0].glob("*.yml"))
            if not yamls and (subdirs[0] / "images").is_dir():
                folder = subdirs[0]
    if yamls:
        preferred = [y for y in yamls if y.stem in ("data", "dataset")] or yamls
        return _prepare_yaml(preferred[0], label=label, root=root)
    if not (folder / "images").is_dir():
        raise VisionDemoError(f"{label}: no data.yaml and no images/ folder found. A YOLO set needs "
                              "images/train (and images/val) with labels/ beside it and a data.yaml with `names`")
    names = _names_from_files(folder, root)
    data = {"names": names, **{s: f"images/{s}" for s in SPLITS if (folder / "images" / s).is_dir()}}
    return _prepare_yaml_data(data, folder, root=root, label=label)


def _prepare_yaml(yaml_path: Path, label: str, root: Path) -> tuple[Path, YoloReport]:
    """A data.yaml whose paths must all stay inside `root` (the upload, or the folder the yaml lies in)."""
    root = Path(os.path.realpath(root))
    data = read_data_yaml(yaml_path)
    notes: list[str] = []
    yaml_out, report = _prepare_yaml_data(data, _base(data, yaml_path, root, notes), root=root, label=label)
    report.problems[:0] = notes
    return yaml_out, report


def _base(data: dict, yaml_path: Path, root: Path, notes: list[str] | None = None) -> Path:
    """The folder the splits are relative to: `path:` relative to the yaml's own folder, which is what its author
    meant (Ultralytics would use its datasets_dir).

    A `path:` outside the data set is ignored (and noted), whether or not it exists here, so its answer tells
    nothing about this server's folders: yamls written by Ultralytics' tools, Colab or our own generator carry
    the absolute path of the author's machine, and the files are beside the yaml. The splits themselves must
    be inside (see _split_images)."""
    here = Path(os.path.realpath(yaml_path)).parent
    value = data.get("path")
    if value in (None, ""):
        return here
    if not isinstance(value, str):
        raise VisionDemoError(f"{yaml_path.name}: `path` must be a folder name, not {type(value).__name__}")
    if not _within(here / value, root):
        if notes is not None:
            notes.append(f"`path: {_short(value)}` is outside the data set: ignored, the splits are read "
                         f"relative to {yaml_path.name}")
        return here
    base = Path(os.path.realpath(here / value))
    return base if base.is_dir() else here   # e.g. `path: coco8` of Ultralytics' own yamls: files beside the yaml


class _NoAliasLoader:
    """yaml.SafeLoader that refuses aliases: `*a` repeated in nested lists is the "billion laughs" bomb (a
    400-byte file that expands to gigabytes). Anchors alone are harmless; a data set never needs aliases."""

    @staticmethod
    def make():
        import yaml

        class Loader(yaml.SafeLoader):
            def compose_node(self, parent, index):
                if self.check_event(yaml.AliasEvent):
                    event = self.peek_event()
                    raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a data set's "
                                                      "YAML: write the values out", event.start_mark)
                return super().compose_node(parent, index)
        return Loader


def read_data_yaml(yaml_path) -> dict:
    """A data.yaml parsed safely: at most settings.MAX_DATA_YAML_BYTES, no aliases, a mapping. VisionDemoError
    in well under a second for anything else."""
    import yaml

    yaml_path = Path(yaml_path)
    name = yaml_path.name
    try:
        size = yaml_path.stat().st_size
        if size > settings.MAX_DATA_YAML_BYTES:
            raise VisionDemoError(f"{name} is {size / 1024:,.0f} KB; a data.yaml is a few hundred bytes (the limit "
                                  f"is {settings.MAX_DATA_YAML_BYTES // 1024} KB): keep path, train, val and names")
        text = yaml_path.read_bytes()[:settings.MAX_DATA_YAML_BYTES].decode("utf-8", errors="replace")
    except OSError as err:
        raise VisionDemoError(f"{name}: cannot read it ({err.strerror or err})") from None
    depth = deepest = 0
    for c in text:   # flow collections [[[[...]]]] thousands deep: PyYAML recurses once per level
        depth += (c in "[{") - (c in "]}")
        deepest = max(deepest, depth)
    if deepest > 32:
        raise VisionDemoError(f"{name} is nested too deeply to be a data.yaml")
    try:
        data = yaml.load(text, Loader=_NoAliasLoader.make())
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()
        reason = next((line for line in first if "alias" in line), first[0] if first else "")
        raise VisionDemoError(f"{name} is not a usable data.yaml: {reason[:200]}") from None
    except RecursionError:   # [[[[[...]]]]] thousands deep
        raise VisionDemoError(f"{name} is nested too deeply to be a data.yaml") from None
    if not isinstance(data, dict):
        raise VisionDemoError(f"{name} should be a mapping with path, train, val and names")
    return data


def _short(value, limit: int = 80) -> str:
    """A value from an upload, shortened for a message (an upload must not make our messages huge)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _inside(path: Path, root: Path, what: str) -> Path:
    """path with every link and '..' resolved; VisionDemoError naming `what` when it is outside the data set."""
    if not _within(path, root):
        raise VisionDemoError(f"{what} points outside the data set: the paths in a data set must be inside its "
                              "own folder (write them relative to data.yaml, e.g. images/val)")
    return Path(os.path.realpath(path))


def _within(path: Path, root: Path) -> bool:
    """True when path, every link and '..' resolved, is inside the data set rooted at `root`.

    A copy this module prepared (WORK/datasets/...) is made of links into WORK/uploads: for it, those two
    folders count as inside too. Nothing but this module and the zip extractor writes there."""
    resolved = Path(os.path.realpath(path))
    roots = [root]
    work = Path(os.path.realpath(settings.work_path()))
    if root.is_relative_to(work / "datasets"):
        roots += [work / "datasets", work / "uploads"]
    return any(resolved == r or resolved.is_relative_to(r) for r in roots)


def _names_from_files(folder: Path, root: Path) -> list[str]:
    for candidate in ("classes.txt", "names.txt", "obj.names"):
        f = folder / candidate
        if f.is_file() and _within(f, root):
            if f.stat().st_size > settings.MAX_DATA_YAML_BYTES:
                raise VisionDemoError(f"{candidate} is too large for a list of class names")
            names = [line.strip() for line in f.read_text(errors="replace").splitlines() if line.strip()]
            if names:
                return _check_names(names, candidate)
    raise VisionDemoError(f"{folder.name}: no class names. Add a data.yaml with `names: [cat, dog, ...]` "
                          "(or a classes.txt, one name per line)")


def _parse_names(data: dict, label: str) -> list[str]:
    label = Path(label).name
    names = data.get("names")
    if isinstance(names, dict):
        if len(names) > settings.MAX_CLASSES:
            raise VisionDemoError(f"{label}: `names` lists {len(names):,} classes; the limit is {settings.MAX_CLASSES}")
        try:
            by_id = {int(k): v for k, v in names.items()}
        except (TypeError, ValueError):
            raise VisionDemoError(f"{label}: `names` keys must be class ids 0, 1, 2, ...") from None
        keys = sorted(by_id)
        if keys != list(range(len(keys))):
            raise VisionDemoError(f"{label}: `names` ids must run 0..{len(keys) - 1} without gaps, "
                                  f"got {_short(keys)}")
        names = [by_id[k] for k in keys]
    elif isinstance(names, (list, tuple)):
        if len(names) > settings.MAX_CLASSES:
            raise VisionDemoError(f"{label}: `names` lists {len(names):,} classes; the limit is {settings.MAX_CLASSES}")
    elif names not in (None, ""):
        raise VisionDemoError(f"{label}: `names` must be a list of class names, e.g. `names: [person, car]`")
    else:
        names = []
    if not names:
        raise VisionDemoError(f"{label}: data.yaml has no class `names`: add e.g. `names: [person, car]`")
    return _check_names(names, label)


def _check_names(names: list, label: str) -> list[str]:
    out = []
    for i, name in enumerate(names):
        if isinstance(name, bool) or not isinstance(name, (str, int, float)):
            raise VisionDemoError(f"{label}: class name {i} is a {type(name).__name__}; names are short words")
        text = str(name).strip()
        if not text or len(text) > MAX_NAME_CHARS or any(ord(c) < 32 for c in text):
            raise VisionDemoError(f"{label}: class name {i} ({_short(text, 40)!r}) must be 1 to {MAX_NAME_CHARS} "
                                  "printable characters")
        out.append(text)
    return out


# ---- checking ------------------------------------------------------------------------------------
def _split_images(base: Path, root: Path, split: str, entry, label: str) -> tuple[list[Path], list[str]]:
    """(images of one split entry, files left out because they link outside the data set).

    An entry is a folder, a .txt list of image paths, or a list of those, relative to `base`. Every folder,
    list and line must resolve inside `root` (VisionDemoError naming the key otherwise); Roboflow's exports say
    `train: ../train/images` from a data.yaml that sits next to train/, which Ultralytics reads as train/images:
    so do we, when that stays inside."""
    from vision_demo.images import IMAGE_SUFFIXES

    if entry in (None, ""):
        return [], []
    entries = entry if isinstance(entry, (list, tuple)) else [entry]
    if len(entries) > MAX_SPLIT_ENTRIES or not all(isinstance(e, str) and e.strip() for e in entries):
        raise VisionDemoError(f"{label}: `{split}` must be a folder or a .txt list inside the data set "
                              "(or a short list of them), e.g. `val: images/val`")
    images: list[Path] = []
    outside: list[str] = []
    for e in entries:
        what = f"{label}: `{split}: {_short(e)}`"
        candidate = base / e
        if e.startswith("../") and not _within(candidate, root):
            candidate = base / e[3:]
        p = _inside(candidate, root, what)
        if not p.is_relative_to(root):   # a prepared copy's link into the uploads: keep the path under root
            p = Path(os.path.normpath(candidate))
        if p.is_dir():
            for f in sorted(p.rglob("*")):   # rglob does not descend into linked folders
                if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file():
                    (images if _within(f, root) else outside).append(f)
        elif p.suffix == ".txt" and p.is_file():
            if p.stat().st_size > MAX_LIST_BYTES:
                raise VisionDemoError(f"{what}: the list is over {MAX_LIST_BYTES // 2**20} MB")
            for lineno, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
                line = line.strip()
                if line:
                    image = _inside(p.parent / line, root, f"{label}: `{split}` list {relative(p, root)} line {lineno}")
                    lexical = Path(os.path.normpath(p.parent / line))
                    images.append(lexical if lexical.is_relative_to(root) else image)
    return images, [relative(f, root) for f in outside]


def _label_path(image: Path) -> Path:
    """Ultralytics' rule: the last /images/ in the path becomes /labels/, the suffix .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _check_label(path: Path, nc: int) -> tuple[int, list[tuple[str, str]]]:
    """(number of boxes, [(kind of problem, detail)]) for one label file."""
    problems = []
    n = 0
    if path.stat().st_size > MAX_LABEL_BYTES:
        return 0, [("files too large", f"over {MAX_LABEL_BYTES // 1024} KB")]
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:  # 5 for boxes; YOLO segments (more fields) are not what a detector trains on
            problems.append(("malformed lines", f"line {lineno} has {len(fields)} fields, want 'class cx cy w h'"))
            continue
        try:
            cls_f, *coords = (float(f) for f in fields)
        except ValueError:
            problems.append(("malformed lines", f"line {lineno} is not numbers"))
            continue
        if not all(math.isfinite(v) for v in (cls_f, *coords)):   # float() reads "nan" and "inf" happily
            problems.append(("malformed lines", f"line {lineno} has nan or inf ({_short(' '.join(fields), 60)})"))
            continue
        if cls_f != int(cls_f) or not 0 <= int(cls_f) < nc:
            problems.append(("unknown class ids", f"class {fields[0]} on line {lineno} (ids are 0..{nc - 1})"))
            continue
        if any(not 0.0 <= c <= 1.0 for c in coords):
            problems.append(("coordinates outside 0..1 (YOLO labels are normalised by the image size)",
                             f"line {lineno}: {' '.join(fields[1:])}"))
            continue
        n += 1
    return n, problems


def _check_split(base: Path, root: Path, split: str, entry, nc: int, report: YoloReport,
                 label_name: str = "data.yaml") -> list[Path]:
    """Check one split; return the images that are fit to train on."""
    from vision_demo.errors import BadImageError
    from vision_demo.images import probe_image

    images, outside = _split_images(base, root, split, entry, label_name)
    good: list[Path] = []
    kinds: dict[str, list[str]] = {}
    if outside:
        kinds["files that link outside the data set: skipped"] = outside
    counts = {"images": 0, "labelled": 0, "background": 0, "instances": 0, "skipped": len(outside)}
    for image in images:
        rel = relative(image, root)
        try:
            probe_image(image, name=rel)
        except BadImageError as err:
            kinds.setdefault("unreadable images: skipped", []).append(str(err))
            counts["skipped"] += 1
            continue
        label = _label_path(image)
        if not label.is_file() or not _within(label, root):   # a label outside the data set is never read
            kinds.setdefault("images without a label file (trained as background: no objects)", []).append(rel)
            counts["background"] += 1
            good.append(image)
            continue
        n, problems = _check_label(label, nc)
        if problems:
            for kind, detail in problems:
                kinds.setdefault(f"labels with {kind}: image skipped", []).append(f"{relative(label, root)} {detail}")
            counts["skipped"] += 1
            continue
        counts["labelled" if n else "background"] += 1
        counts["instances"] += n
        good.append(image)
    counts["images"] = len(good)
    # Labels with no image: a renamed or deleted picture, or a typo in the extension.
    label_dirs = {_label_path(i).parent for i in images} or {base / "labels" / split}
    stems = {(_label_path(i).parent, i.stem) for i in images}
    for d in sorted(label_dirs):
        if d.is_dir() and _within(d, root):
            for f in sorted(d.glob("*.txt")):
                if (d, f.stem) not in stems:
                    kinds.setdefault("labels without an image (ignored)", []).append(relative(f, root))
    for kind, items in kinds.items():
        shown = "; ".join(items[:_EXAMPLES]) + (f"; ... {len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else "")
        report.problems.append(f"{split}: {len(items)} {kind}: {shown}")
        if "skipped" in kind:
            report.ok = False
    report.counts[split] = counts
    return good


def validate_yolo_dataset(yaml_path, root=None) -> YoloReport:
    """Check a data.yaml's files in place (nothing written) and return the report. Its paths must stay inside
    `root` (default: the yaml's folder)."""
    yaml_path = Path(yaml_path)
    root = Path(os.path.realpath(root if root is not None else yaml_path.parent))
    data = read_data_yaml(yaml_path)
    notes: list[str] = []
    base = _base(data, yaml_path, root, notes)
    names = _parse_names(data, yaml_path.name)
    report = YoloReport(names=names, source=str(yaml_path), problems=notes)
    for split in SPLITS:
        if split in data:
            _check_split(base, root, split, data[split], len(names), report, yaml_path.name)
    _fatal_checks(report, yaml_path.name)
    return report


def _fatal_checks(report: YoloReport, label: str) -> None:
    if not report.counts.get("train", {}).get("images"):
        raise VisionDemoError(f"{label}: no usable training images (looked for images/train with labels/train "
                              f"beside it). {' '.join(report.problems[:3])}".strip())
    if not report.counts["train"]["instances"]:
        raise VisionDemoError(f"{label}: the training images have no boxes at all: check the labels/ folder")
    if not report.counts.get("val", {}).get("images"):
        report.problems.append("val: empty: validating on the training images instead, so the metrics will "
                               "look better than they are; add images/val for honest numbers")


def _prepare_yaml_data(data: dict, base: Path, root: Path, label: str) -> tuple[Path, YoloReport]:
    """Check every split (paths relative to `base`, all inside `root`), then write WORK/datasets/prepared/<name>/
    with links to the good files and a data.yaml."""
    import yaml

    names = _parse_names(data, label)
    report = YoloReport(names=names, source=label)
    name = Path(label).name
    good = {s: _check_split(base, root, s, data[s], len(names), report, name) for s in SPLITS if s in data and data[s]}
    _fatal_checks(report, name)
    if not good.get("val"):
        good["val"] = good["train"]
    from vision_demo.datasets.archive import upload_folder_of
    report.data_root = str(upload_folder_of(good["train"][0]) or root)

    # The prepared folder is named by what it holds (files, their times, the names): preparing the same data
    # again reuses it (and Ultralytics' label cache in it), and a job still training on an older version
    # keeps its files, because nothing is ever rebuilt in place.
    fingerprint = hashlib.sha1(repr((names, sorted(
        (split, str(image), image.stat().st_mtime_ns, _mtime(_label_path(image)))
        for split, images in good.items() for image in images))).encode()).hexdigest()[:10]
    base = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(label).stem)[:40] or "data"
    parent = settings.subdir("datasets", "prepared")
    out = parent / f"{base}-{fingerprint}"
    if (out / "data.yaml").is_file():
        return out / "data.yaml", report
    with building(out) as tmp:   # prepared by someone else meanwhile: theirs is kept
        for split, images in good.items():   # every image is inside root (checked): its relative path is clean
            for image in images:
                rel = _uniquerelative(image, root, split)
                _link(image, tmp / "images" / split / rel, tmp)
                label_file = _label_path(image)
                if label_file.is_file() and _within(label_file, root):
                    _link(label_file, (tmp / "labels" / split / rel).with_suffix(".txt"), tmp)
        (tmp / "data.yaml").write_text(yaml.safe_dump({"path": str(out), **{s: f"images/{s}" for s in good},
                                                       "names": dict(enumerate(names))}, sort_keys=False))
    return out / "data.yaml", report


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _uniquerelative(image: Path, root: Path, split: str) -> Path:
    """The image's path inside its split folder, kept relative so equal file names in subfolders don't clash."""
    parts = image.relative_to(root).parts   # every image listed is under root (checked): never a ValueError
    if "images" in parts:  # images/train/a/b.jpg -> a/b.jpg
        i = len(parts) - 1 - parts[::-1].index("images")
        parts = parts[i + 2:] if len(parts) > i + 2 else parts[-1:]
    return Path(*parts)


def _link(source: Path, target: Path, inside: Path) -> None:
    """target -> source; target must land inside the prepared copy `inside` (belt and braces after the checks)."""
    if ".." in target.parts or not target.is_relative_to(inside):
        raise VisionDemoError(f"{target.name}: would be written outside the prepared copy; refusing")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(os.path.realpath(source), target)
    except OSError:  # a file system without symlinks: copy instead
        shutil.copyfile(source, target)
