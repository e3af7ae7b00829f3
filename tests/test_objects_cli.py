"""`python -m vision_demo objects …` end to end: a set built with `objects add` from the generated shapes set's
own boxes trains to mAP50 >= 0.5 on its validation pictures; its zip is a YOLO data set that `yolo-train --data`
and Ultralytics itself train on; bad input is one line and exit 1.

The training runs are real (the bundled detector, a few epochs at 320 px): marked slow.
"""
import json
import os
import zipfile
from pathlib import Path

import pytest

from vision_demo.cli import main

N_TRAIN, N_VAL = 36, 12   # shapes pictures put into the set (the set makes its own split: 20 % val)


def boxes_of(label: Path, size: int) -> list[str]:
    """A shapes label file (YOLO, normalised) -> the CLI's --box texts ("class x1 y1 x2 y2" in pixels)."""
    from vision_demo.datasets.shapes import NAMES

    out = []
    for line in label.read_text().splitlines():
        c, cx, cy, w, h = line.split()
        cx, cy, w, h = (float(v) * size for v in (cx, cy, w, h))
        out.append(f"{NAMES[int(c)]} {cx - w / 2:.1f} {cy - h / 2:.1f} {cx + w / 2:.1f} {cy + h / 2:.1f}")
    return out


@pytest.fixture(scope="module")
def shapes_set(tmp_path_factory):
    """The set 'shapes-cli', built picture by picture with `objects new` and `objects add`."""
    from vision_demo.datasets.shapes import write_shapes

    folder = tmp_path_factory.mktemp("shapes_src")
    write_shapes(folder, train=N_TRAIN, val=N_VAL, size=320, seed=5)
    assert main(["objects", "new", "shapes-cli"]) == 0
    for split in ("train", "val"):
        for image in sorted((folder / "images" / split).glob("*.jpg")):
            args = ["objects", "add", "shapes-cli", "--image", str(image)]
            for box in boxes_of(folder / "labels" / split / f"{image.stem}.txt", 320):
                args += ["--box", box]
            assert main(args) == 0
    return "shapes-cli"


@pytest.mark.slow
def test_objects_train_on_boxes_from_the_shapes_set_reaches_map50_half(shapes_set, tmp_path, capsys):
    from vision_demo.datasets.objects import find_set

    s = find_set(shapes_set)
    assert s.classes() == ["circle", "square", "triangle"] or sorted(s.classes()) == ["circle", "square", "triangle"]
    assert len(s.pictures()) == N_TRAIN + N_VAL
    capsys.readouterr()
    assert main(["objects", "train", shapes_set, "--epochs", "8", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    print(f"\nobjects train on shapes: mAP50 {result['map50']:.3f} mAP50-95 {result['map50_95']:.3f} "
          f"in {result['wall_seconds']:.0f} s (loaded shared machine)")
    assert result["map50"] >= 0.5, result
    assert {"map50", "map50_95", "per_class", "best_weights"} <= set(result)
    assert f"mAP50 {result['map50']:.3f}" in out
    assert result["config"]["freeze"] == 10 and result["config"]["imgsz"] == 320
    assert result["data_report"]["counts"]["val"]["images"] == round((N_TRAIN + N_VAL) * 0.2)


@pytest.mark.slow
def test_the_zip_round_trips_through_yolo_train_and_ultralytics_itself(shapes_set, tmp_path, capsys, monkeypatch):
    zip_path = tmp_path / "shapes-cli.zip"
    assert main(["objects", "zip", shapes_set, "--out", str(zip_path)]) == 0
    assert "train +" in capsys.readouterr().out
    assert main(["yolo-train", "--data", str(zip_path), "--epochs", "1", "--out", str(tmp_path / "yolo")]) == 0
    result = json.loads((tmp_path / "yolo" / "result.json").read_text())
    assert result["names"] == ["circle", "square", "triangle"]
    assert result["data_report"]["problems"] == [] and result["data_report"]["ok"]

    # Ultralytics' own trainer on the unzipped data.yaml, started from another folder: it finds every picture.
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(unzipped)
        n_train = sum(n.startswith("images/train/") for n in zf.namelist())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()
    from ultralytics import YOLO

    model = YOLO(result["best_weights"])
    model.train(data=str(unzipped / "data.yaml"), epochs=1, imgsz=320, batch=16, workers=0, amp=False, plots=False,
                device="cpu", project=str(tmp_path / "ultra"), name="run", exist_ok=True, verbose=False, freeze=10)
    assert len(model.trainer.train_loader.dataset) == n_train
    assert os.listdir(elsewhere) == []   # nothing written into the current folder either


def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys):
    from objects_scene import scene

    picture = tmp_path / "pic.jpg"
    scene(7)[0].save(picture)
    assert main(["objects", "new", "bad-input", "--classes", "ball, book"]) == 0
    capsys.readouterr()
    cases = [
        (["objects", "add", "bad-input", "--image", str(picture), "--box", "ball 600 100 700 200"], "outside"),
        (["objects", "add", "bad-input", "--image", str(picture), "--box", "ball 10 10 10 200"], "real size"),
        (["objects", "add", "bad-input", "--image", str(picture), "--box", "cat 10 10 100 200"], "unknown class"),
        (["objects", "add", "bad-input", "--image", str(picture), "--box", "ball nan 10 100 200"], "not a number"),
        (["objects", "add", "bad-input", "--image", str(picture), "--box", "ball 10 10 100"], "x1 y1 x2 y2"),
        (["objects", "add", "nobody", "--image", str(picture)], "no object set called"),
        (["objects", "add", "bad-input", "--image", str(tmp_path / "missing.jpg")], "missing.jpg"),
        (["objects", "new", "bad-input"], "already a set called"),
        (["objects", "train", "bad-input"], "at least 2 pictures"),
        (["objects", "zip", "bad-input", "--out", str(tmp_path / "x.zip")], "at least 2 pictures"),
    ]
    from vision_demo.datasets.objects import find_set

    before = len(find_set("bad-input").pictures())
    for args, words in cases:
        assert main(args) == 1, args
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err, (args, err)
    assert len(find_set("bad-input").pictures()) == before == 0   # a refused picture is not kept
    assert not (tmp_path / "x.zip").exists()
    assert main(["objects", "list"]) == 0 and "bad-input" in capsys.readouterr().out
    assert main(["objects", "delete", "bad-input"]) == 0
    assert main(["objects", "add", "bad-input", "--image", str(picture)]) == 1
