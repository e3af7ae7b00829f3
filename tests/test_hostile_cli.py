"""Issue 7 through the real command line: a hostile data set or .pt is one line on stderr and exit 1."""
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import ALIAS_BOMB, ESCAPE_FILES, ESCAPES, FileSystemWatch, yolo_zip
from vision_demo.cli import main

EVIL = """
import sys, torch
class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"model": Evil(), "epoch": 1}, sys.argv[1])
"""


def _cli(*args, home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vision_demo", "--work-dir", str(home), *args],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)


@pytest.mark.parametrize("attack", ["absolute", "dot-dot", "txt list, dot-dot"])
def test_yolo_train_on_an_escaping_zip_is_one_line(attack, tmp_path, capsys):
    yaml_text, key = ESCAPES[attack]
    upload = yolo_zip(tmp_path / "escape.zip", yaml_text, extra=ESCAPE_FILES.get(attack))
    with FileSystemWatch(tmp_path) as watch:
        code = main(["yolo-train", "--data", str(upload), "--epochs", "1", "--imgsz", "64"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert f"`{key}" in err and "points outside the data set" in err
    assert watch.new_outside() == {} and watch.links_outside() == []


def test_the_same_rules_for_a_data_yaml_given_by_path(tmp_path, capsys):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "data.yaml").write_text("train: ../../../../../../../usr/share\nnames: [a]\n")
    assert main(["yolo-train", "--data", str(tmp_path / "set" / "data.yaml"), "--epochs", "1"]) == 1
    assert "`train: ../../../../../../../usr/share` points outside the data set" in capsys.readouterr().err


def test_an_alias_bomb_is_refused_at_once_with_a_short_message(tmp_path):
    (tmp_path / "laughs").mkdir()
    (tmp_path / "laughs" / "data.yaml").write_text(ALIAS_BOMB)
    done = _cli("yolo-train", "--data", str(tmp_path / "laughs" / "data.yaml"), home=tmp_path / "work")
    assert done.returncode == 1
    assert "aliases" in done.stderr and len(done.stderr) < 600 and len(done.stdout) < 2000, done.stderr[:2000]


def test_yolo_train_with_a_pt_that_holds_code_says_so_and_never_runs_it(tmp_path):
    evil, marker = tmp_path / "evil.pt", tmp_path / "PWNED"
    subprocess.run([sys.executable, "-c", EVIL, str(evil), str(marker)], check=True)
    done = _cli("yolo-train", "--weights", str(evil), "--epochs", "1", "--imgsz", "64", home=tmp_path / "work")
    assert done.returncode == 1 and not marker.exists()
    last = done.stderr.strip().splitlines()[-1]
    assert "evil.pt was not loaded: it holds code or types outside the YOLO checkpoint format" in last, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


@pytest.mark.slow
def test_yolo_train_prints_what_it_left_out(tmp_path, capsys):
    labels = {"labels/train/train_0001.txt": "0 0.5 0.5 0.2 0.2\nnan 0.5 0.5 0.1 0.1\n"}
    upload = yolo_zip(tmp_path / "nan.zip", labels=labels)
    code = main(["yolo-train", "--data", str(upload), "--epochs", "1", "--imgsz", "64", "--batch", "2",
                 "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert "data set: 1 problem" in out and "labels/train/train_0001.txt line 2 has nan or inf" in out
