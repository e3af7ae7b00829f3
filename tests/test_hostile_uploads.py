"""Issue 7, the core: every hostile upload of hostile.py is refused fast with a sentence, and nothing is kept.

Data sets are confined to their own folder, YAML bombs and zip bombs are refused before they cost anything,
bad label lines are reported problems, and the uploads folder stays under its quota.
"""
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from hostile import (ALIAS_BOMB, ESCAPE_FILES, ESCAPES, FileSystemWatch, classification_zip, shapes_set, tree,
                     yolo_zip, zip_bomb)
from vision_demo import settings
from vision_demo.datasets import archive
from vision_demo.datasets.imagefolder import load_dataset
from vision_demo.datasets.yolo import prepare_yolo_dataset, read_data_yaml
from vision_demo.errors import VisionDemoError


@pytest.fixture
def uploads(monkeypatch):
    """An empty uploads folder for the test (other tests' extractions moved out of the way)."""
    folder = archive.uploads_dir()
    keep = folder.with_name(f"uploads-before-{os.getpid()}-{time.monotonic_ns()}")
    folder.rename(keep)
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
    keep.rename(folder)


def _extracted(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


@pytest.mark.parametrize("attack", sorted(ESCAPES))
def test_a_data_yaml_that_reaches_outside_its_upload_is_refused(attack, tmp_path, uploads):
    yaml_text, key = ESCAPES[attack]
    upload = yolo_zip(tmp_path / "escape.zip", yaml_text, extra=ESCAPE_FILES.get(attack))
    with FileSystemWatch(tmp_path) as watch:
        started = time.monotonic()
        with pytest.raises(VisionDemoError) as info:
            prepare_yolo_dataset(upload)
        seconds = time.monotonic() - started
    message = str(info.value)
    assert f"`{key}" in message and "points outside the data set" in message and "inside" in message, message
    assert "passwd" not in message.replace("`val: /usr/share`", "")   # no server file is named back
    assert seconds < 5
    assert _extracted(uploads) == []                    # the refused upload does not stay on the disk
    assert not list(settings.subdir("datasets", "prepared").glob("escape-*"))
    assert watch.new_outside() == {} and watch.links_outside() == []


def test_existing_and_missing_outside_paths_get_the_same_answer(tmp_path, uploads):
    """No oracle: whether /usr/share exists or not, a visitor learns only that the path is outside."""
    answers = []
    for attack in ("absolute", "absolute, missing"):
        with pytest.raises(VisionDemoError) as info:
            prepare_yolo_dataset(yolo_zip(tmp_path / f"{attack}.zip", ESCAPES[attack][0]))
        answers.append(str(info.value).replace("/usr/share", "X").replace("/no/such/folder", "X")
                       .replace(f"{attack}.zip", "Z"))
    assert answers[0] == answers[1]


def test_an_outside_path_key_is_ignored_and_only_the_uploads_own_files_are_used(tmp_path, uploads):
    upload = yolo_zip(tmp_path / "colab.zip", "path: /etc\ntrain: images/train\nval: images/val\n"
                                              "names: [circle, square, triangle]\n")
    yaml_path, report = prepare_yolo_dataset(upload)
    assert report.counts["train"]["images"] == 3 and report.counts["val"]["images"] == 2   # the zip's own
    assert any("`path: /etc` is outside the data set: ignored" in p for p in report.problems)
    prepared = yaml_path.parent
    for link in prepared.rglob("*"):
        if link.is_symlink():
            assert Path(os.path.realpath(link)).is_relative_to(os.path.realpath(uploads)), link


def test_the_prepared_copy_links_only_inside_and_can_be_prepared_again(tmp_path, uploads):
    """The check -> train flow of the UI: a prepared data.yaml (links into the upload) is a valid source."""
    with FileSystemWatch(tmp_path) as watch:
        yaml_path, _ = prepare_yolo_dataset(yolo_zip(tmp_path / "good.zip"))
        again, report = prepare_yolo_dataset(yaml_path)
    assert report.counts["train"]["images"] == 3 and report.ok
    assert watch.links_outside() == [] and watch.new_outside() == {}
    # a link planted in a server folder that points outside is left out, not followed
    folder = tmp_path / "planted"
    shutil.copytree(shapes_set(tmp_path / "src-planted"), folder)
    os.symlink("/usr/share/pixmaps", folder / "images" / "train" / "outside")
    outside_file = tmp_path / "secret.jpg"
    shutil.copyfile(next((folder / "images" / "val").glob("*.jpg")), outside_file)
    os.symlink(outside_file, folder / "images" / "train" / "linked.jpg")
    (folder / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [circle, square, triangle]\n")
    _, report = prepare_yolo_dataset(folder)
    assert report.counts["train"]["images"] == 3
    assert any("link outside the data set" in p and "linked.jpg" in p for p in report.problems)


@pytest.mark.parametrize("text, match", [
    (ALIAS_BOMB, "aliases"),
    ("names: " + "[" * 5000 + "]" * 5000 + "\ntrain: images/train\n", "nested too deeply|not a usable"),
    ("names: [a]\ntrain: images/train\n# " + "x" * 100_000 + "\n", "KB"),
    ("names: 5\ntrain: images/train\n", "`names` must be a list"),
    ("names: [" + ", ".join(f"c{i}" for i in range(5000)) + "]\ntrain: images/train\n", "limit is 1000"),
    ("names: [" + "x" * 500 + "]\ntrain: images/train\n", "printable characters"),
    ("names: [[a, b]]\ntrain: images/train\n", "class name 0 is a list"),
    ("names: {0: a, 2: b}\ntrain: images/train\n", "without gaps"),
    ("names: [a]\ntrain: 5\n", "`train` must be a folder"),
    ("names: [a]\ntrain: {x: y}\n", "`train` must be a folder"),
    ("names: [a]\npath: [1, 2]\ntrain: images/train\n", "`path` must be a folder name"),
    ("- just\n- a list\n", "should be a mapping"),
], ids=["alias bomb", "deep nesting", "100 KB", "names 5", "5000 names", "long name", "name a list", "id gap",
        "train 5", "train a dict", "path a list", "not a mapping"])
def test_bad_data_yaml_is_refused_in_well_under_a_second(text, match, tmp_path, uploads):
    upload = yolo_zip(tmp_path / "bad.zip", text)
    started = time.monotonic()
    with pytest.raises(VisionDemoError, match=match) as info:
        prepare_yolo_dataset(upload)
    assert time.monotonic() - started < 1.0
    assert len(str(info.value)) < 400        # an upload cannot make our messages huge
    assert _extracted(uploads) == []


def test_the_alias_bomb_never_expands(tmp_path):
    (tmp_path / "data.yaml").write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 600
    started = time.monotonic()
    with pytest.raises(VisionDemoError, match="aliases"):
        read_data_yaml(tmp_path / "data.yaml")
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("line, why", [
    ("nan 0.5 0.5 0.1 0.1", "nan or inf"),
    ("0 inf 0.5 0.1 0.1", "nan or inf"),
    ("0 0.5 -inf 0.1 0.1", "nan or inf"),
    ("-1 0.5 0.5 0.1 0.1", "class -1 on line 2"),
    ("1e999 0.5 0.5 0.1 0.1", "nan or inf"),
    ("0 -0.2 0.5 0.1 0.1", "outside 0..1"),
    ("0 0.5 0.5 nan 0.1", "nan or inf"),
])
def test_nan_inf_and_negative_labels_are_reported_problems(line, why, tmp_path, uploads):
    source = shapes_set(tmp_path / "bad-labels-source")
    first = sorted((source / "labels" / "train").glob("*.txt"))[0]
    labels = {f"labels/train/{first.name}": first.read_text().splitlines()[0] + "\n" + line + "\n"}
    yaml_path, report = prepare_yolo_dataset(yolo_zip(tmp_path / "bad-labels.zip", labels=labels))
    problem = next(p for p in report.problems if first.name in p)
    assert why in problem and "line 2" in problem, report.problems       # file, line and why
    assert report.counts["train"]["images"] == 2 and report.counts["train"]["skipped"] == 1 and not report.ok


def test_a_zip_bomb_is_refused_before_anything_is_written(tmp_path, uploads):
    bomb = zip_bomb(tmp_path / "bomb.zip")              # ~5 MB that would inflate to 1 GiB
    assert bomb.stat().st_size < 8 * 2**20
    with FileSystemWatch(tmp_path) as watch:
        for load in (load_dataset, prepare_yolo_dataset):
            started = time.monotonic()
            with pytest.raises(VisionDemoError, match="would inflate to 1,024 MiB") as info:
                load(bomb)
            assert time.monotonic() - started < 5
            assert "zip bomb" in str(info.value)
    assert archive.folder_bytes(uploads) == 0 and tree(uploads) == set()
    assert watch.new_outside() == {}


def test_a_bomb_under_the_cap_is_refused_by_its_ratio(tmp_path, uploads, monkeypatch):
    bomb = zip_bomb(tmp_path / "ratio.zip", inflated=128 * 2**20)   # 128 MiB, under 768 MiB, from ~0.6 MB
    with pytest.raises(VisionDemoError, match="50x its own size"):
        load_dataset(bomb)
    assert archive.folder_bytes(uploads) == 0


def test_a_refused_data_set_does_not_stay_and_the_same_zip_is_extracted_once(tmp_path, uploads):
    one_class = classification_zip(tmp_path / "one-class.zip", classes=("cats",))
    for _ in range(3):
        with pytest.raises(VisionDemoError, match="need at least two class folders"):
            load_dataset(one_class)
        assert _extracted(uploads) == []
    good = classification_zip(tmp_path / "pets.zip")
    copies = [good] + [Path(shutil.copyfile(good, tmp_path / f"pets-{i}.zip")) for i in range(2)]
    roots = {load_dataset(c).root for c in copies}          # three uploads of the same bytes
    assert len(roots) == 1 and len(_extracted(uploads)) == 1


def test_the_uploads_folder_stays_under_its_quota_oldest_unused_first(tmp_path, uploads, monkeypatch):
    sizes = {}
    zips = []
    for i in range(4):
        z = classification_zip(tmp_path / f"set{i}.zip", classes=("a", "b", f"c{i}"), per_class=6)
        zips.append(z)
    first = load_dataset(zips[0]).root
    sizes = archive.folder_bytes(first)
    monkeypatch.setattr(settings, "MAX_UPLOADS_BYTES", int(sizes * 2.5))
    monkeypatch.setattr(settings, "UPLOAD_KEEP_SECONDS", 0)
    with archive.using(first):                    # set0 is being trained on: never removed
        for z in zips[1:]:
            time.sleep(0.02)                      # distinct last-use times
            load_dataset(z)
            assert archive.folder_bytes(uploads) <= settings.MAX_UPLOADS_BYTES
        kept = _extracted(uploads)
    assert first.name in kept and len(kept) == 2 and any(k.startswith("set3-") for k in kept)
    # a new upload that cannot fit while everything is in use is refused, not written
    monkeypatch.setattr(settings, "UPLOAD_KEEP_SECONDS", 3600)
    with pytest.raises(VisionDemoError, match="uploads folder is full"):
        load_dataset(classification_zip(tmp_path / "one-more.zip", classes=("x", "y", "z"), per_class=6))
    assert len(_extracted(uploads)) == 2


def test_a_classification_folder_never_reads_files_linked_from_outside(tmp_path):
    folder = tmp_path / "pets"
    with zipfile.ZipFile(classification_zip(tmp_path / "pets.zip")) as zf:
        zf.extractall(folder)
    secret = tmp_path / "secret.png"
    shutil.copyfile(folder / "train" / "cats" / "0.png", secret)
    os.symlink(secret, folder / "train" / "cats" / "linked.png")
    data = load_dataset(folder)
    assert not any("linked" in p for p, _ in data.train)
    assert ("train/cats/linked.png", "a link to a file outside the data set") in data.report.skipped


def test_one_bad_test_image_leaves_the_others_and_an_empty_split_says_what_to_add(tmp_path):
    from vision_demo.classify.inputs import ImageListDataset

    folder = tmp_path / "pets"
    with zipfile.ZipFile(classification_zip(tmp_path / "pets.zip", per_class=3)) as zf:
        zf.extractall(folder)
    data = load_dataset(folder)
    bad = Path(data.test[0][0])
    bad.write_bytes(bad.read_bytes()[:60])                  # header intact, pixels cut off
    test_set = ImageListDataset(data.test, report=data.report, split="test")
    images = [test_set[i] for i in range(len(test_set))]   # one of three bad: the others stand in
    assert len(images) == len(data.test) and any("failed while training" in r for _, r in data.report.skipped)
    for path, _ in data.test:
        Path(path).write_bytes(b"")
    with pytest.raises(VisionDemoError, match=r"test split: all 6 of its files failed.*add readable images"):
        test_set[1]
