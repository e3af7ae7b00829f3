"""`python -m vision_demo detect` and `sliding-window`: one line per image, bad images don't stop the rest."""
import json
from pathlib import Path

import pytest

from vision_demo.cli import main
from conftest import asset  # the module pytest loaded (tests.conftest would run it again: a new WORK)


@pytest.mark.slow
def test_detect_one_good_one_bad_image(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    out_json, save = tmp_path / "boxes.json", tmp_path / "annotated"
    code = main(["detect", str(bad), str(asset("bus.jpg")), "--imgsz", "320", "--json", str(out_json),
                 "--save", str(save)])
    captured = capsys.readouterr()
    assert code == 1
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err
    assert "bus.jpg" in captured.out and "boxes" in captured.out
    data = json.loads(out_json.read_text())
    by_name = {Path(i["image"]).name: i for i in data["images"]}
    assert "error" in by_name["broken.jpg"]
    assert len(by_name["bus.jpg"]["boxes"]) >= 2 and Path(by_name["bus.jpg"]["annotated"]).is_file()


def test_unknown_weights_is_one_line_and_exit_1(capsys):
    assert main(["detect", str(asset("bus.jpg")), "--weights", "nonexistent.pt"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_sliding_window_prints_the_table(capsys, tmp_path):
    out = tmp_path / "cost.json"
    assert main(["sliding-window", "--image-size", "640", "640", "--windows", "128", "--stride", "0.5",
                 "--classifier-size", "64", "--yolo-imgsz", "320", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "81" in text and "faster" in text
    assert json.loads(out.read_text())["passes"] == 81
