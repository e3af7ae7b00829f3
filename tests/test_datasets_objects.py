"""Your objects' core: pictures with boxes per browser (YOLO labels), bad boxes refused in one sentence, the
seeded split with a val picture per class, data.yaml with relative paths, the zip as a YOLO data set that the
app's own reader takes back, and nothing written outside the set's folder."""
import json
import os
import zipfile
from pathlib import Path

import pytest

from objects_scene import scene
from vision_demo import settings
from vision_demo.datasets.objects import ObjectSet, find_set, new_set_id, parse_box
from vision_demo.datasets.yolo import prepare_yolo_dataset
from vision_demo.errors import VisionDemoError


def tree(folder: Path) -> dict[str, int]:
    """Every file under folder (relative path -> mtime_ns): what changed where."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(folder))] = p.stat().st_mtime_ns
    return out


def new_set(classes="ball, book") -> ObjectSet:
    s = ObjectSet.for_id(new_set_id())
    s.set_classes(classes)
    return s


def test_boxes_are_stored_as_yolo_labels_and_read_back_in_pixels():
    s = new_set()
    img, boxes = scene(1)   # 640x480: stored as it is (OBJECTS_SIDE 640)
    pic = s.add(img, boxes=boxes)
    lines = (s.folder / "labels" / f"{pic}.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["0", "1"]
    (_, x1, y1, x2, y2) = boxes[0]
    cx, cy, w, h = (float(v) for v in lines[0].split()[1:])
    assert cx == pytest.approx((x1 + x2) / 2 / 640, abs=1e-5) and h == pytest.approx((y2 - y1) / 480, abs=1e-5)
    back = s.boxes(pic)
    assert [b["class"] for b in back] == ["ball", "book"]
    for b, want in zip(back, boxes):
        assert b["xyxy"] == pytest.approx(want[1:], abs=0.2)
    assert s.counts() == {"ball": 1, "book": 1}
    # A larger picture is downscaled, and its boxes with it.
    big = img.resize((1280, 960))
    pic2 = s.add(big, boxes=[("ball", *(v * 2 for v in boxes[0][1:]))])
    assert s.size(pic2) == (640, 480)
    assert s.boxes(pic2)[0]["xyxy"] == pytest.approx(boxes[0][1:], abs=0.6)
    # Replacing boxes; none at all is a background picture; a picture never labelled is not "labelled".
    s.set_boxes(pic2, [])
    assert s.boxes(pic2) == [] and s.labelled(pic2) and s.summary()["background"] == 1
    pic3 = s.add(img)
    assert not s.labelled(pic3) and s.summary()["unlabelled"] == 1


@pytest.mark.parametrize("box, words", [
    (("ball", -40, 10, 100, 100), "outside"),
    (("ball", 10, 10, 700, 100), "outside"),
    (("ball", 10, 10, 10, 100), "real size"),
    (("ball", 10, 10, 11, 11), "real size"),
    (("cat", 10, 10, 100, 100), "unknown class 'cat'"),
    (("ball", float("nan"), 10, 100, 100), "not a number"),
    (("ball", 10, float("inf"), 100, 100), "not a number"),
    ({"class": "ball", "xyxy": ["a", 1, 2, 3]}, "four numbers"),
    ({"class": "ball", "xyxy": [1, 2]}, "four numbers"),
])
def test_a_bad_box_gets_one_clear_sentence_and_nothing_is_written(box, words):
    s = new_set()
    img, _ = scene(2)
    good = s.add(img, boxes=[])
    before = tree(s.folder)
    with pytest.raises(VisionDemoError) as err:
        s.add(img, boxes=[box])
    message = str(err.value)
    assert words in message and "\n" not in message and message.count(". ") == 0
    with pytest.raises(VisionDemoError):
        s.set_boxes(good, [box])
    assert tree(s.folder) == before   # neither the new picture nor a changed label


def test_box_text_of_the_cli():
    assert parse_box("coffee mug 1 2 3.5 4") == ("coffee mug", 1.0, 2.0, 3.5, 4.0)
    for bad in ("mug 1 2 3", "mug 1 2 x 4", ""):
        with pytest.raises(VisionDemoError, match="x1 y1 x2 y2"):
            parse_box(bad)


def test_picture_names_and_ids_cannot_reach_other_files():
    s = new_set()
    s.add(scene(3)[0], boxes=[])
    for bad in ("../set", "../../../etc/passwd", "set.json", "x" * 16 + "-abcd"):
        with pytest.raises(VisionDemoError, match="not one of your pictures"):
            s.set_boxes(bad, [])
        assert s.delete(bad) is False
    for bad in ("../x", "", "0" * 31):
        with pytest.raises(VisionDemoError, match="not a set id"):
            ObjectSet.for_id(bad)


def test_limits(monkeypatch):
    s = new_set()
    monkeypatch.setattr(settings, "OBJECTS_MAX_PICTURES", 2)
    img, boxes = scene(4)
    s.add(img, boxes=boxes)
    s.add(img, boxes=boxes)
    with pytest.raises(VisionDemoError, match="most a set may have"):
        s.add(img, boxes=boxes)
    monkeypatch.setattr(settings, "OBJECTS_MAX_BOXES", 1)
    with pytest.raises(VisionDemoError, match="at most 1"):
        s.set_boxes(s.pictures()[0], boxes)
    with pytest.raises(VisionDemoError, match="1 to 6"):
        s.set_classes("a, b, c, d, e, f, g")
    with pytest.raises(VisionDemoError, match="book still has 2 boxes"):
        s.set_classes("ball")
    assert s.set_classes("red ball, book") == ["red ball", "book"]   # renamed in place: the boxes follow
    assert s.counts() == {"red ball": 2, "book": 2}


def make_set(n_ball=6, n_book=4, n_background=2, name="") -> ObjectSet:
    s = new_set()
    if name:
        s.set_name(name)
    for i in range(n_ball):
        img, boxes = scene(100 + i, book=False)
        s.add(img, boxes=boxes)
    for i in range(n_book):
        img, boxes = scene(200 + i, ball=False)
        s.add(img, boxes=boxes)
    for i in range(n_background):
        s.add(scene(300 + i, ball=False, book=False)[0], boxes=[])
    return s


def test_split_is_seeded_and_every_class_has_a_val_picture():
    s = make_set(n_ball=9, n_book=2, n_background=3)
    split = s.split(seed=0)
    assert split == s.split(seed=0)
    assert sorted(split["train"] + split["val"]) == s.pictures()
    assert not set(split["train"]) & set(split["val"])
    for part in ("train", "val"):
        classes = {c for stem in split[part] for c in s._class_ids(stem)}
        assert classes == {0, 1}, part   # both classes in both parts, the rare one (2 pictures) too
    assert len(split["val"]) == 3   # 20 % of 14
    assert any(s.split(seed=k) != split for k in range(1, 6))   # another seed, another split
    s1 = make_set(n_ball=1, n_book=3)
    with pytest.raises(VisionDemoError, match=r"at least 2 pictures .*ball \(1\)"):
        s1.split()


def test_the_zip_is_a_yolo_set_the_app_reads_back_and_nothing_is_written_outside_the_set():
    s = make_set(name="desk")
    work = settings.work_path()
    outside_before = {k: v for k, v in tree(work).items() if not k.startswith(f"objects/{s.id}/")}
    exported = s.export_zip()
    assert s.export_zip() == exported and s.owns_export(exported)   # same content, same file
    assert s.id not in str(exported)   # a job's data path is public (/job_status): the id is the set's key
    after = {k: v for k, v in tree(work).items() if not k.startswith(f"objects/{s.id}/")}
    assert set(after) - set(outside_before) == {str(exported.relative_to(work))}   # the training zip, nothing else
    assert all(after[k] == v for k, v in outside_before.items())
    with zipfile.ZipFile(exported) as zf:
        names = zf.namelist()
        data_yaml = zf.read("data.yaml").decode()
    assert "path:" not in data_yaml and "train: images/train" in data_yaml and str(work) not in data_yaml
    assert all(n == "data.yaml" or n.startswith(("images/train/", "images/val/", "labels/train/", "labels/val/"))
               for n in names)
    assert sum(n.startswith("images/") for n in names) == len(s.pictures())
    yaml_path, report = prepare_yolo_dataset(exported)
    assert report.names == ["ball", "book"] and report.ok, report.summary()
    assert report.counts["train"]["images"] + report.counts["val"]["images"] == 12
    assert report.counts["train"]["background"] + report.counts["val"]["background"] == 2
    assert report.counts["train"]["instances"] + report.counts["val"]["instances"] == 10
    assert find_set("desk").id == s.id and find_set(s.id).id == s.id
    other = make_set(n_ball=2, n_book=2, n_background=0)
    assert not other.owns_export(exported) and not s.owns_export(other.export_zip())
    s.clear()
    assert not exported.exists() and not s.folder.exists() and other.exports()
    with pytest.raises(VisionDemoError, match="no object set called"):
        find_set("nobody's")


def test_a_proposal_waits_for_review_and_is_gone_once_boxes_are_saved():
    s = new_set()
    img, boxes = scene(5)
    pic = s.add(img, proposed=[{"class": "ball", "xyxy": list(boxes[0][1:]), "conf": 0.8},
                               {"class": "cat", "xyxy": [1, 1, 50, 50], "conf": 0.9}])
    assert [b["class"] for b in s.proposed(pic)] == ["ball"] and not s.labelled(pic)
    s.set_boxes(pic, s.proposed(pic))
    assert s.proposed(pic) == [] and s.counts()["ball"] == 1
    assert json.loads((s.folder / "set.json").read_text())["classes"] == ["ball", "book"]


def test_prune_removes_old_sets_then_the_least_recently_used_beyond_the_quota(monkeypatch):
    from vision_demo.datasets.objects import prune

    old, used, fresh = make_set(1, 1, 0), make_set(1, 1, 0), make_set(1, 1, 0)
    now = __import__("time").time()
    os.utime(old.folder, (now - 15 * 86400,) * 2)
    os.utime(used.folder, (now - 3600,) * 2)
    assert prune(now) == [old.id] and not old.folder.exists()
    monkeypatch.setattr(settings, "OBJECTS_TOTAL_BYTES", fresh.total_bytes() + 1)
    assert prune(now) == [used.id]   # over the quota: the least recently used goes; sets used in the last 10 minutes stay
    assert fresh.exists() and not used.folder.exists()


def test_one_box_per_object_keeps_the_most_confident_class():
    from vision_demo.detect.objects import one_box_per_object

    boxes = [{"name": "book", "conf": 0.76, "xyxy": [94, 191, 202, 299]},
             {"name": "ball", "conf": 0.98, "xyxy": [98, 192, 206, 303]},
             {"name": "book", "conf": 0.95, "xyxy": [399, 146, 508, 313]},
             {"name": "ball", "conf": 0.57, "xyxy": [398, 148, 512, 293]},
             {"name": "ball", "conf": 0.40, "xyxy": [560, 10, 630, 80]}]
    kept = one_box_per_object(boxes)
    assert [(b["name"], b["conf"]) for b in kept] == [("ball", 0.98), ("book", 0.95), ("ball", 0.40)]
