"""Your classes' core: a per-browser ImageFolder (add / delete / limits / zip / names / two sets apart), the
capture burst, and one real training round on it (frozen backbone, seconds)."""
import os
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from vision_demo import settings
from vision_demo.datasets.captured import (CapturedSet, Recorder, check_set_id, clean_class_name, new_set_id,
                                           parse_class_names, prune)
from vision_demo.errors import VisionDemoError


def picture(color, size=(320, 240)) -> np.ndarray:
    """A webcam-like frame: one colour with a little noise (so every JPEG differs)."""
    rng = np.random.default_rng(abs(hash(color)) % 2**32)
    base = np.zeros((size[1], size[0], 3), np.uint8) + np.array(color, np.uint8)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


def test_the_set_id_is_never_a_path():
    assert check_set_id(new_set_id()) != check_set_id(new_set_id())
    for bad in ("../../etc", "", None, "A" * 32, "0" * 31, "0" * 32 + "/x", "0" * 33):
        with pytest.raises(VisionDemoError, match="not a set id"):
            CapturedSet.for_id(bad)


def test_class_names_become_safe_folder_names():
    assert clean_class_name("  thumbs   up ") == "thumbs up"
    assert clean_class_name("../../etc/passwd") == "etc passwd"
    assert clean_class_name("Café_1-b") == "Café_1-b"
    assert len(clean_class_name("x" * 300)) == 40
    for bad in ("...", "/", "  ", "train", "VAL", "seg_train"):
        with pytest.raises(VisionDemoError):
            clean_class_name(bad)
    assert parse_class_names("a, b\nc") == ["a", "b", "c"]
    with pytest.raises(VisionDemoError, match="2 to 6"):
        parse_class_names("only one")
    with pytest.raises(VisionDemoError, match="2 to 6"):
        parse_class_names(",".join("abcdefg"))
    with pytest.raises(VisionDemoError, match="given twice"):
        parse_class_names("Cat, cat")


def test_add_downscales_lists_deletes_and_zips(tmp_path):
    s = CapturedSet.for_id(new_set_id())
    assert s.classes() == ["thumbs up", "thumbs down", "nothing"] and not s.exists()   # nothing written yet
    saved = s.add("thumbs up", picture((200, 30, 30), (640, 480)))
    assert saved.parent == s.folder / "thumbs up" and saved.suffix == ".jpg"
    with Image.open(saved) as img:
        assert max(img.size) == settings.CAPTURED_SIDE
    s.add("thumbs down", picture((30, 30, 200)))
    assert s.counts() == {"thumbs up": 1, "thumbs down": 1, "nothing": 0}
    with pytest.raises(VisionDemoError, match="no class"):
        s.add("dog", picture((0, 0, 0)))
    for bad in ("../../classes.json", "x.jpg", "/etc/passwd"):
        with pytest.raises(VisionDemoError, match="not one of your pictures"):
            s.delete("thumbs up", bad)
    zipped = s.zip_to(tmp_path / "set.zip")
    with zipfile.ZipFile(zipped) as zf:
        assert sorted(n.split("/")[0] for n in zf.namelist()) == ["thumbs down", "thumbs up"]
    assert s.delete("thumbs up", saved.name) and not s.delete("thumbs up", saved.name)
    assert s.counts()["thumbs up"] == 0
    s.clear()
    assert not s.exists()


def test_uploads_skip_what_is_not_a_picture(tmp_path):
    s = CapturedSet.for_id(new_set_id())
    good = tmp_path / "hand.png"
    Image.fromarray(picture((10, 200, 10))).save(good)
    fake = tmp_path / "holiday.jpg"
    fake.write_text("not a picture")
    notes = tmp_path / "notes.txt"
    notes.write_text("hi")
    added, refused = s.add_files("nothing", [good, fake, notes])
    assert added == 1 and s.counts()["nothing"] == 1
    assert any("holiday.jpg" in r for r in refused) and any("notes.txt" in r for r in refused)
    assert not any(str(tmp_path) in r for r in refused)   # named by file name, not by where it lies


def test_limits_per_class_and_per_set(monkeypatch):
    s = CapturedSet.for_id(new_set_id())
    monkeypatch.setattr(settings, "CAPTURED_MAX_PER_CLASS", 2)
    s.add("nothing", picture((1, 2, 3)))
    s.add("nothing", picture((4, 5, 6)))
    with pytest.raises(VisionDemoError, match="2 pictures, the most a class may have"):
        s.add("nothing", picture((7, 8, 9)))
    monkeypatch.setattr(settings, "CAPTURED_MAX_BYTES", s.total_bytes() + 100)
    with pytest.raises(VisionDemoError, match="your set is full"):
        s.add("thumbs up", picture((9, 9, 9)))


def test_renaming_keeps_pictures_and_dropping_a_class_with_pictures_is_refused():
    s = CapturedSet.for_id(new_set_id())
    s.set_classes("cat, dgo")
    s.add("dgo", picture((1, 1, 1)))
    assert s.set_classes("cat, dog") == ["cat", "dog"]            # a typo fixed: the picture follows
    assert s.counts() == {"cat": 0, "dog": 1}
    assert s.set_classes("dog, cat") == ["dog", "cat"] and s.counts()["dog"] == 1   # reordering moves nothing
    s.set_classes("dog, cat, fish")
    s.add("fish", picture((2, 2, 2)))
    with pytest.raises(VisionDemoError, match="fish still has 1 pictures"):
        s.set_classes("dog, cat")                              # pictures never go by renaming
    assert s.counts() == {"dog": 1, "cat": 0, "fish": 1}


def test_two_sets_do_not_see_each_other():
    a, b = CapturedSet.for_id(new_set_id()), CapturedSet.for_id(new_set_id())
    a.add("nothing", picture((50, 50, 50)))
    assert b.counts()["nothing"] == 0 and a.counts()["nothing"] == 1
    assert a.folder.parent == b.folder.parent == settings.subdir("captured")


def test_old_sets_are_pruned_by_age_and_quota(monkeypatch):
    old, recent = CapturedSet.for_id(new_set_id()), CapturedSet.for_id(new_set_id())
    old.add("nothing", picture((1, 1, 1)))
    recent.add("nothing", picture((2, 2, 2)))
    month_ago = time.time() - 30 * 86400
    os.utime(old.folder, (month_ago, month_ago))
    assert old.id in prune() and not old.exists() and recent.exists()
    monkeypatch.setattr(settings, "CAPTURED_TOTAL_BYTES", 1)
    assert recent.id not in prune()                            # used in the last minutes: kept
    assert recent.id in prune(now=time.time() + 3600) and not recent.exists()


def test_a_capture_burst_takes_one_frame_per_gap_then_stops():
    rec = Recorder(gap=0.2)
    assert rec.take("s", now=0.0) is None and rec.streaming("s", now=1.0) and not rec.streaming("s", now=5.0)
    rec.arm("s", "cat", 2)
    assert rec.take("s", now=10.0) == ("cat", 1)
    assert rec.take("s", now=10.1) is None                     # too soon: the next frame is dropped
    assert rec.take("s", now=10.3) == ("cat", 0)
    assert rec.take("s", now=11.0) is None and rec.armed("s") is None


def test_train_on_a_captured_set_and_predict(tmp_path):
    """The real thing, small: two colours x 6 pictures, the frozen backbone at 64 px; it tells them apart."""
    from vision_demo.classify.captured import KIND, best_job, jobs_of, submit_captured
    from vision_demo.classify.predict import cached_classifier
    from vision_demo.jobs import JobRegistry

    s = CapturedSet.for_id(new_set_id())
    s.set_classes("red, blue")
    with pytest.raises(VisionDemoError, match="at least 4 pictures"):
        s.add("red", picture((220, 20, 20)))
        submit_captured(JobRegistry(tmp_path / "none"), s.folder)
    for i in range(5):
        s.add("red", picture((220, 20 + i, 20)))
    for i in range(6):
        s.add("blue", picture((20, 20 + i, 220)))
    registry = JobRegistry(tmp_path / "jobs")
    try:
        [job_id] = submit_captured(registry, s.folder, img_size=64)
        state = registry.wait(job_id, timeout=120)
        assert state.status == "finished", state.error
        assert state.kind == KIND and [st.id for st in jobs_of(registry, s.folder)] == [job_id]
        assert best_job(registry.snapshot()) == job_id
        assert registry.snapshot(kind="classify") == []            # not on the Train & compare tab
        classifier = cached_classifier(state.out_dir)
        assert classifier.predict(picture((20, 40, 230)), k=1)[0][0] == "blue"
        assert classifier.predict(picture((230, 40, 20)), k=1)[0][0] == "red"
    finally:
        registry.shutdown()


def test_the_cli_builds_lists_zips_and_deletes_a_set(tmp_path, capsys):
    from vision_demo.cli import main

    files = []
    for i, color in enumerate(((200, 0, 0), (0, 0, 200))):
        files.append(tmp_path / f"p{i}.png")
        Image.fromarray(picture(color)).save(files[-1])
    assert main(["classes", "add", "new", "red", str(files[0])]) == 0
    set_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["classes", "add", set_id, "blue", str(files[1])]) == 0
    assert CapturedSet.for_id(set_id).counts() == {"red": 1, "blue": 1}
    assert main(["classes", "list"]) == 0 and f"{set_id}  red 1, blue 1" in capsys.readouterr().out
    assert main(["classes", "zip", set_id, str(tmp_path / "out.zip")]) == 0
    assert len(zipfile.ZipFile(tmp_path / "out.zip").namelist()) == 2
    assert main(["classes", "train", set_id]) == 1                         # 1 picture a class: says so, exit 1
    assert "at least 4 pictures" in capsys.readouterr().err
    assert main(["classes", "delete", set_id]) == 0 and not CapturedSet.for_id(set_id).exists()
    assert main(["classes", "add", "../../etc", "x", str(files[0])]) == 1
