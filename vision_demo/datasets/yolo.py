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
  links to the good files, so nothing is written into the user's folder.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vision_demo import settings
from vision_demo.errors import VisionDemoError

SPLITS = ("train", "val", "test")
_EXAMPLES = 5  # file names listed per kind of problem


@dataclass
class YoloReport:
    names: list[str]
    counts: dict[str, dict] = field(default_factory=dict)   # {split: {images, labelled, background, instances, skipped}}
    problems: list[str] = field(default_factory=list)
    ok: bool = True                                          # False when a problem made files be left out
    source: str = ""

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
        return _prepare_folder(_extracted(path), label=path.name)
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return _prepare_yaml(path, label=str(path))
    if path.is_dir():
        return _prepare_folder(path, label=str(path))
    bare_name = os.sep not in text and "/" not in text
    if bare_name and (not path.suffix or path.suffix.lower() in (".yaml", ".yml")):
        return _prepare_named(text)
    raise VisionDemoError(f"{text}: no such file or folder. Give a YOLO folder (images/, labels/, data.yaml), "
                          "a .zip of one, its data.yaml, or 'shapes' for the generated set")


# ---- sources -------------------------------------------------------------------------------------
_extracted_zips: dict[tuple[str, str], Path] = {}   # (work folder, zip's sha256) -> the folder it was extracted to
_extract_locks: dict[tuple[str, str], threading.Lock] = {}
_zips_lock = threading.Lock()


def _extracted(zip_path: Path) -> Path:
    """extract_zip(), once per zip content in this process: every job on the same zip (up to
    settings.MAX_UNZIPPED_BYTES inflated) reuses the folder while it still exists. The prepared copy is made of
    links into it and nothing writes into it, so reuse is safe."""
    from vision_demo.datasets.archive import extract_zip

    try:
        with open(zip_path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()   # streamed: zips can be large
    except OSError as err:
        raise VisionDemoError(f"{zip_path.name}: cannot read it ({err})") from None
    key = (str(settings.work_dir()), digest)
    with _zips_lock:
        lock = _extract_locks.setdefault(key, threading.Lock())
    with lock:   # the same zip in two jobs at once: one extracts, the other waits and reuses the folder
        with _zips_lock:
            folder = _extracted_zips.get(key)
        if folder is not None and folder.is_dir():
            return folder
        folder = extract_zip(zip_path)
        with _zips_lock:
            _extracted_zips[key] = folder
        return folder


def _prepare_named(name: str) -> tuple[Path, YoloReport]:
    """An Ultralytics data set by name (coco8, coco128, ...): downloaded into WORK/datasets, online only."""
    stem = Path(name).stem
    if not settings.online():
        raise VisionDemoError(f"'{stem}' is an Ultralytics data set that is downloaded on first use, and the app is "
                              "offline: start with --online, or use 'shapes' (generated here) or your own YOLO folder/zip")
    from vision_demo.detect.runtime import ultralytics_ready
    ultralytics_ready()  # datasets_dir -> WORK/datasets
    from ultralytics.data.utils import check_det_dataset
    try:
        info = check_det_dataset(f"{stem}.yaml")
    except Exception as err:  # unknown name, network failure: both mean "cannot get it"
        raise VisionDemoError(f"could not get the data set '{stem}': {err}") from err
    return _prepare_yaml_data(info, Path(info["path"]), label=stem)


def _prepare_folder(folder: Path, label: str) -> tuple[Path, YoloReport]:
    folder = folder.resolve()
    yamls = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not yamls:  # a zip often holds one top folder
        subdirs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
        if len(subdirs) == 1:
            yamls = sorted(subdirs[0].glob("*.yaml")) + sorted(subdirs[0].glob("*.yml"))
            if not yamls and (subdirs[0] / "images").is_dir():
                folder = subdirs[0]
    if yamls:
        preferred = [y for y in yamls if y.stem in ("data", "dataset")] or yamls
        return _prepare_yaml(preferred[0], label=label)
    if not (folder / "images").is_dir():
        raise VisionDemoError(f"{label}: no data.yaml and no images/ folder found. A YOLO set needs "
                              "images/train (and images/val) with labels/ beside it and a data.yaml with `names`")
    names = _names_from_files(folder)
    data = {"path": str(folder), "names": names,
            **{s: f"images/{s}" for s in SPLITS if (folder / "images" / s).is_dir()}}
    return _prepare_yaml_data(data, folder, label=label)


def _prepare_yaml(yaml_path: Path, label: str) -> tuple[Path, YoloReport]:
    import yaml

    try:
        data = yaml.safe_load(yaml_path.read_text(errors="replace"))
    except yaml.YAMLError as err:
        raise VisionDemoError(f"{yaml_path.name} is not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(data, dict):
        raise VisionDemoError(f"{yaml_path.name} should be a mapping with path, train, val and names")
    # `path:` relative to the yaml's own folder: what its author meant (Ultralytics would use datasets_dir).
    root = Path(str(data.get("path") or "."))
    root = (root if root.is_absolute() else yaml_path.parent / root).resolve()
    if not root.is_dir():
        root = yaml_path.parent.resolve()  # a path: from the author's machine; the files are next to the yaml
    return _prepare_yaml_data(data, root, label=label)


def _names_from_files(folder: Path) -> list[str]:
    for candidate in ("classes.txt", "names.txt", "obj.names"):
        f = folder / candidate
        if f.is_file():
            names = [line.strip() for line in f.read_text(errors="replace").splitlines() if line.strip()]
            if names:
                return names
    raise VisionDemoError(f"{folder.name}: no class names. Add a data.yaml with `names: [cat, dog, ...]` "
                          "(or a classes.txt, one name per line)")


def _parse_names(data: dict, label: str) -> list[str]:
    names = data.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise VisionDemoError(f"{label}: `names` keys must be class ids 0, 1, 2, ...") from None
        if keys != list(range(len(keys))):
            raise VisionDemoError(f"{label}: `names` ids must run 0..{len(keys) - 1} without gaps, got {keys}")
        names = [str(names.get(k, names.get(str(k)))) for k in keys]
    elif isinstance(names, (list, tuple)):
        names = [str(n) for n in names]
    else:
        names = []
    if not names:
        raise VisionDemoError(f"{label}: data.yaml has no class `names`: add e.g. `names: [person, car]`")
    return names


# ---- checking ------------------------------------------------------------------------------------
def _split_images(root: Path, entry) -> list[Path]:
    """Images of one split entry: a folder, a .txt list of image paths, or a list of those."""
    from vision_demo.images import IMAGE_SUFFIXES

    if entry in (None, ""):
        return []
    entries = entry if isinstance(entry, (list, tuple)) else [entry]
    images: list[Path] = []
    for e in entries:
        p = Path(str(e))
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            images += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        elif p.suffix == ".txt" and p.is_file():
            for line in p.read_text(errors="replace").splitlines():
                line = line.strip()
                if line:
                    q = Path(line)
                    images.append(q if q.is_absolute() else (p.parent / q).resolve())
    return images


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
        if cls_f != int(cls_f) or not 0 <= int(cls_f) < nc:
            problems.append(("unknown class ids", f"class {fields[0]} on line {lineno} (ids are 0..{nc - 1})"))
            continue
        if any(not 0.0 <= c <= 1.0 for c in coords):
            problems.append(("coordinates outside 0..1 (YOLO labels are normalised by the image size)",
                             f"line {lineno}: {' '.join(fields[1:])}"))
            continue
        n += 1
    return n, problems


def _check_split(root: Path, split: str, entry, nc: int, report: YoloReport) -> list[Path]:
    """Check one split; return the images that are fit to train on."""
    from vision_demo.errors import BadImageError
    from vision_demo.images import probe_image

    images = _split_images(root, entry)
    good: list[Path] = []
    kinds: dict[str, list[str]] = {}
    counts = {"images": 0, "labelled": 0, "background": 0, "instances": 0, "skipped": 0}
    for image in images:
        rel = _rel(image, root)
        try:
            probe_image(image)
        except BadImageError as err:
            kinds.setdefault("unreadable images: skipped", []).append(f"{rel}: {err}")
            counts["skipped"] += 1
            continue
        label = _label_path(image)
        if not label.is_file():
            kinds.setdefault("images without a label file (trained as background: no objects)", []).append(rel)
            counts["background"] += 1
            good.append(image)
            continue
        n, problems = _check_label(label, nc)
        if problems:
            for kind, detail in problems:
                kinds.setdefault(f"labels with {kind}: image skipped", []).append(f"{_rel(label, root)} {detail}")
            counts["skipped"] += 1
            continue
        counts["labelled" if n else "background"] += 1
        counts["instances"] += n
        good.append(image)
    counts["images"] = len(good)
    # Labels with no image: a renamed or deleted picture, or a typo in the extension.
    label_dirs = {_label_path(i).parent for i in images} or {root / "labels" / split}
    stems = {(_label_path(i).parent, i.stem) for i in images}
    for d in sorted(label_dirs):
        if d.is_dir():
            for f in sorted(d.glob("*.txt")):
                if (d, f.stem) not in stems:
                    kinds.setdefault("labels without an image (ignored)", []).append(_rel(f, root))
    for kind, items in kinds.items():
        shown = "; ".join(items[:_EXAMPLES]) + (f"; ... {len(items) - _EXAMPLES} more" if len(items) > _EXAMPLES else "")
        report.problems.append(f"{split}: {len(items)} {kind}: {shown}")
        if "skipped" in kind:
            report.ok = False
    report.counts[split] = counts
    return good


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def validate_yolo_dataset(yaml_path) -> YoloReport:
    """Check a data.yaml's files in place (nothing written) and return the report."""
    import yaml

    yaml_path = Path(yaml_path)
    data = yaml.safe_load(yaml_path.read_text())
    root = Path(str(data.get("path") or yaml_path.parent))
    root = root if root.is_absolute() else (yaml_path.parent / root)
    names = _parse_names(data, yaml_path.name)
    report = YoloReport(names=names, source=str(yaml_path))
    for split in SPLITS:
        if split in data:
            _check_split(root, split, data[split], len(names), report)
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


def _prepare_yaml_data(data: dict, root: Path, label: str) -> tuple[Path, YoloReport]:
    """Check every split, then write WORK/datasets/prepared/<name>/ with links to the good files and a data.yaml."""
    import yaml

    names = _parse_names(data, label)
    report = YoloReport(names=names, source=label)
    good = {s: _check_split(root, s, data[s], len(names), report) for s in SPLITS if s in data and data[s]}
    _fatal_checks(report, label)
    if not good.get("val"):
        good["val"] = good["train"]

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
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp", dir=parent))
    try:
        for split, images in good.items():
            for image in images:
                rel = _unique_rel(image, root, split)
                _link(image, tmp / "images" / split / rel)
                label_file = _label_path(image)
                if label_file.is_file():
                    _link(label_file, (tmp / "labels" / split / rel).with_suffix(".txt"))
        (tmp / "data.yaml").write_text(yaml.safe_dump({"path": str(out), **{s: f"images/{s}" for s in good},
                                                       "names": dict(enumerate(names))}, sort_keys=False))
        try:
            os.rename(tmp, out)
        except OSError:  # prepared by someone else meanwhile
            if not (out / "data.yaml").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out / "data.yaml", report


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _unique_rel(image: Path, root: Path, split: str) -> Path:
    """The image's path inside its split folder, kept relative so equal file names in subfolders don't clash."""
    rel = Path(_rel(image, root))
    parts = rel.parts
    if "images" in parts:  # images/train/a/b.jpg -> a/b.jpg
        i = len(parts) - 1 - parts[::-1].index("images")
        parts = parts[i + 2:] if len(parts) > i + 2 else parts[-1:]
    elif rel.is_absolute():
        parts = (hashlib.sha1(str(rel.parent).encode()).hexdigest()[:6], rel.name)
    return Path(*parts)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source.resolve(), target)
    except OSError:  # a file system without symlinks: copy instead
        shutil.copyfile(source, target)
