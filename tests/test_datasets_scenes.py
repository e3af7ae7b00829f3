"""The generated scenes set: deterministic per seed, right counts, atomic writes, cached default, the CLI."""
import hashlib
import os
import time

import pytest

from vision_demo import settings
from vision_demo.datasets import scenes
from vision_demo.datasets.imagefolder import load_dataset
from vision_demo.datasets.scenes import CLASSES, default_scenes, draw_scene, write_scenes
from vision_demo.errors import VisionDemoError


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.png")):
        h.update(str(p.relative_to(folder)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_write_scenes_counts_and_determinism(tmp_path):
    start = time.perf_counter()
    summary = write_scenes(tmp_path / "a", per_class=3, size=64, seed=5)
    print(f"\n6 classes x (3 + 2) images at 64 px: {time.perf_counter() - start:.2f} s")
    assert summary.startswith("wrote 30 images (6 classes x 3 train + 2 test, 64 px, seed 5)")
    data = load_dataset(tmp_path / "a")
    assert data.classes == list(CLASSES) and data.layout == "imagefolder"
    assert data.counts() == {"train": {c: 3 for c in CLASSES}, "test": {c: 2 for c in CLASSES}}
    assert data.report.skipped == [] and data.report.converted == []

    write_scenes(tmp_path / "b", per_class=3, size=64, seed=5)
    write_scenes(tmp_path / "c", per_class=3, size=64, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")      # same seed, same bytes
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    # images differ within a class and between train and test
    assert draw_scene("sea", 64, 5, "train", 0).tobytes() != draw_scene("sea", 64, 5, "train", 1).tobytes()
    assert draw_scene("sea", 64, 5, "train", 0).tobytes() != draw_scene("sea", 64, 5, "test", 0).tobytes()
    img = draw_scene("street", 96, 0)
    assert img.mode == "RGB" and img.size == (96, 96)


def test_overwrite_rules(tmp_path):
    out = tmp_path / "set"
    write_scenes(out, per_class=1, size=32, test_per_class=1)
    write_scenes(out, per_class=2, size=32, test_per_class=1)        # an earlier scenes set is replaced
    assert len(list((out / "train" / "sea").glob("*.png"))) == 2
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.txt").write_text("keep me")
    with pytest.raises(VisionDemoError, match="not a scenes data set"):
        write_scenes(other, per_class=1, size=32)
    assert (other / "thesis.txt").read_text() == "keep me"
    with pytest.raises(VisionDemoError, match="per_class"):
        write_scenes(tmp_path / "x", per_class=0)
    with pytest.raises(VisionDemoError, match="size"):
        write_scenes(tmp_path / "x", size=8)
    with pytest.raises(VisionDemoError, match="unknown scene class"):
        draw_scene("desert")


def test_a_crash_leaves_no_half_set(tmp_path, monkeypatch):
    real = scenes.draw_scene
    calls = []

    def crash_after_ten(*args, **kwargs):
        calls.append(1)
        if len(calls) > 10:
            raise KeyboardInterrupt("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(scenes, "draw_scene", crash_after_ten)
    with pytest.raises(KeyboardInterrupt):
        write_scenes(tmp_path / "half", per_class=4, size=32)
    assert list(tmp_path.iterdir()) == []                         # neither the set nor its temporary folder


def test_default_scenes_cached(tmp_path):
    first = default_scenes(size=48, per_class=2, seed=3)
    assert first.parent == settings.subdir("datasets") and first.name == "scenes-48-2-3"
    stamp = (first / "scenes.json").stat().st_mtime_ns
    assert default_scenes(size=48, per_class=2, seed=3) == first
    assert (first / "scenes.json").stat().st_mtime_ns == stamp     # reused, not redrawn
    (first / "scenes.json").unlink()                               # an unfinished set is redrawn
    debris = first.parent / f".{first.name}.partial-crashed"       # and an old crash's leftovers go
    (debris / "train").mkdir(parents=True)
    os.utime(debris, (time.time() - 7200, time.time() - 7200))
    assert default_scenes(size=48, per_class=2, seed=3) == first
    assert (first / "scenes.json").is_file() and not debris.exists()


@pytest.mark.slow
def test_load_dataset_default_is_the_scenes_set():
    start = time.perf_counter()
    data = load_dataset(None)
    print(f"\ndefault scenes (6 x (40 + 30) at 128 px) ready in {time.perf_counter() - start:.1f} s")
    assert data.root == default_scenes().resolve()
    assert data.counts() == {"train": {c: 40 for c in CLASSES}, "test": {c: 30 for c in CLASSES}}
    assert load_dataset("scenes").train == data.train


def test_cli_data_scenes(tmp_path, capsys):
    from vision_demo.cli import main

    out = tmp_path / "cli_scenes"
    assert main(["data", "scenes", str(out), "--per-class", "3", "--size", "64"]) == 0
    assert "wrote 30 images" in capsys.readouterr().out
    assert len(list(out.rglob("*.png"))) == 30
    assert main(["data", "scenes", str(out), "--per-class", "0"]) == 1
    assert "per_class" in capsys.readouterr().err


def test_a_folder_is_built_whole_or_not_at_all(tmp_path):
    from vision_demo.folders import building

    final = tmp_path / "set"
    with pytest.raises(RuntimeError):
        with building(final) as tmp:
            (tmp / "half.txt").write_text("written before the crash")
            raise RuntimeError("crash while building")
    assert not final.exists() and list(tmp_path.iterdir()) == []         # nothing half-made stays
    with building(final) as tmp:
        (tmp / "a.txt").write_text("mine")
    with building(final) as tmp:                                          # someone else's, finished first
        (tmp / "b.txt").write_text("theirs")
    assert sorted(p.name for p in final.iterdir()) == ["a.txt"] and len(list(tmp_path.iterdir())) == 1
    with building(final, replace=True) as tmp:
        (tmp / "c.txt").write_text("newer")
    assert sorted(p.name for p in final.iterdir()) == ["c.txt"] and len(list(tmp_path.iterdir())) == 1
