"""YOLO data: the generated shapes set is deterministic and valid; planted problems are each reported."""
import hashlib
import zipfile
from pathlib import Path

import pytest
import yaml

from vision_demo.datasets.shapes import NAMES, write_shapes
from vision_demo.datasets.yolo import prepare_yolo_dataset, validate_yolo_dataset
from vision_demo.errors import VisionDemoError


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "data.yaml"):
        h.update(f.relative_to(root).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


def test_shapes_are_deterministic_valid_and_absolute(tmp_path):
    a = write_shapes(tmp_path / "a", train=6, val=3, size=96, seed=7)
    b = write_shapes(tmp_path / "b", train=6, val=3, size=96, seed=7)
    c = write_shapes(tmp_path / "c", train=6, val=3, size=96, seed=8)
    assert _digest(a.parent) == _digest(b.parent) != _digest(c.parent)
    data = yaml.safe_load(a.read_text())
    assert Path(data["path"]).is_absolute() and Path(data["path"]) == a.parent
    assert list(data["names"].values()) == list(NAMES)
    report = validate_yolo_dataset(a)
    assert report.problems == [] and report.ok
    assert report.counts["train"]["images"] == 6 and report.counts["val"]["images"] == 3
    assert report.counts["train"]["instances"] >= 12  # 2-6 shapes per image
    classes = {int(line.split()[0]) for f in (a.parent / "labels").rglob("*.txt") for line in f.read_text().splitlines()}
    assert classes == {0, 1, 2}


def test_planted_problems_are_each_reported_and_bad_files_left_out(tmp_path):
    root = tmp_path / "set"
    write_shapes(root, train=10, val=3, size=96, seed=1)
    (root / "labels/train/train_0000.txt").unlink()                                  # image without label
    (root / "labels/train/orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")             # label without image
    (root / "labels/train/train_0001.txt").write_text("0 1.3 0.5 0.1 0.1\n")         # coordinate 1.3
    (root / "labels/train/train_0002.txt").write_text("9 0.5 0.5 0.1 0.1\n")         # class id 9
    (root / "labels/train/train_0003.txt").write_text("1 0.5 0.5\n")                 # malformed
    (root / "images/train/train_0004.jpg").write_bytes(b"\x89PNG not really")        # unreadable image
    for f in (root / "images/val").iterdir():                                         # empty val
        f.unlink()
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [circle, square, triangle]\n")

    yaml_path, report = prepare_yolo_dataset(root)
    text = "\n".join(report.problems)
    assert "without a label file" in text and "train_0000.jpg" in text
    assert "without an image" in text and "orphan.txt" in text
    assert "outside 0..1" in text and "train_0001.txt" in text
    assert "unknown class ids" in text and "train_0002.txt" in text and "class 9" in text
    assert "malformed" in text and "train_0003.txt" in text
    assert "unreadable" in text and "train_0004.jpg" in text
    assert "val: empty" in text
    assert not report.ok
    assert report.counts["train"]["skipped"] == 4
    assert report.counts["train"]["images"] == 6   # 10 - 4 skipped; the unlabelled one trains as background

    # The prepared copy is in WORK, with an absolute path, and holds only the good files.
    from vision_demo import settings
    data = yaml.safe_load(yaml_path.read_text())
    assert Path(data["path"]).is_absolute() and settings.work_dir() in yaml_path.parents
    kept = sorted(p.name for p in (Path(data["path"]) / data["train"]).iterdir())
    assert "train_0001.jpg" not in kept and "train_0004.jpg" not in kept and "train_0000.jpg" in kept
    assert len(kept) == 6 and len(list((Path(data["path"]) / data["val"]).iterdir())) == 6  # val falls back to train


def test_zip_and_yaml_sources(tmp_path):
    root = tmp_path / "myset"
    write_shapes(root, train=4, val=2, size=64, seed=2)
    # a yaml whose path: is relative to itself (Ultralytics would resolve it against datasets_dir)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: {0: c, 1: s, 2: t}\n")
    yaml_path, report = prepare_yolo_dataset(root / "data.yaml")
    assert report.names == ["c", "s", "t"] and report.counts["val"]["images"] == 2
    archive = tmp_path / "myset.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in root.rglob("*"):
            if f.is_file():
                z.write(f, Path("myset") / f.relative_to(root))
    yaml_path, report = prepare_yolo_dataset(archive)
    assert report.counts["train"]["images"] == 4 and Path(yaml.safe_load(yaml_path.read_text())["path"]).is_dir()


def test_fatal_problems_and_offline_names_raise(tmp_path):
    root = tmp_path / "nonames"
    write_shapes(root, train=2, val=1, size=64)
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n")
    with pytest.raises(VisionDemoError, match="names"):
        prepare_yolo_dataset(root)
    empty = tmp_path / "empty"
    (empty / "images" / "train").mkdir(parents=True)
    (empty / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\nnames: [a]\n")
    with pytest.raises(VisionDemoError, match="no usable training images"):
        prepare_yolo_dataset(empty)
    with pytest.raises(VisionDemoError, match="offline"):
        prepare_yolo_dataset("coco8")
    with pytest.raises(VisionDemoError, match="no such file"):
        prepare_yolo_dataset(str(tmp_path / "missing" / "folder"))


def test_default_shapes_are_made_once_in_work():
    from vision_demo import settings
    first, report = prepare_yolo_dataset("shapes")
    again, _ = prepare_yolo_dataset(None)
    assert first == again and settings.subdir("datasets") in first.parents
    assert yaml.safe_load(first.read_text())["path"] == str(first.parent)
    assert report.ok and report.counts["train"]["images"] == 64 and report.counts["val"]["images"] == 16
    assert not list(first.parent.parent.glob(".shapes-*.partial-*"))  # no half-made copies left behind


def test_the_same_zip_is_extracted_once_while_its_folder_exists(tmp_path, monkeypatch):
    import shutil

    from vision_demo.datasets import archive

    root = tmp_path / "zset"
    write_shapes(root, train=2, val=1, size=64, seed=3)
    zipped = tmp_path / "zset.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for f in root.rglob("*"):
            if f.is_file():
                z.write(f, f.relative_to(root))
    extracted = []
    real = archive.extract_zip

    def counting(path, *args, **kwargs):
        extracted.append(real(path, *args, **kwargs))
        return extracted[-1]
    monkeypatch.setattr(archive, "extract_zip", counting)
    prepare_yolo_dataset(zipped)
    copy = tmp_path / "renamed.zip"            # same content under another name: still one extraction
    shutil.copyfile(zipped, copy)
    second, report = prepare_yolo_dataset(copy)
    assert len(extracted) == 1 and report.counts["train"]["images"] == 2
    shutil.rmtree(extracted[0])                # the folder is gone: extracted again
    prepare_yolo_dataset(zipped)
    assert len(extracted) == 2 and extracted[1].is_dir()
    with zipfile.ZipFile(zipped, "a") as z:    # other content: its own extraction
        z.writestr("notes.txt", "changed")
    prepare_yolo_dataset(zipped)
    assert len(extracted) == 3
