"""`python -m vision_demo train / compare`: result files with the contract's keys; bad options are one line."""
import json
import subprocess
import sys

import pytest

from vision_demo.cli import main

from test_classify_predict import write_squares
from test_classify_train import RESULT_KEYS


@pytest.fixture(scope="module")
def squares(tmp_path_factory):
    return str(write_squares(tmp_path_factory.mktemp("cli-squares"), train=8, test=4, size=32))


@pytest.mark.slow
def test_train_writes_result_json(squares, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", squares, "--model", "simple_cnn", "--strategy", "scratch", "--epochs", "2",
                 "--img-size", "32", "--batch-size", "8", "--out", str(out), "--no-normalize", "--seed", "3"])
    printed = capsys.readouterr().out
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert RESULT_KEYS <= set(result)
    assert result["normalize"] is False and result["seed"] == 3 and len(result["epochs"]) == 2
    assert "test acc" in printed and f"{result['test_acc']:.1%}" in printed   # a percentage, as in the app
    assert "started: started" not in printed and "finished: finished" not in printed and "| finished" in printed
    assert result["trainable_params"] == result["total_params"] == 24_086 - 3 * 65   # 3 classes, not 6
    assert f"{result['trainable_params']:,} / {result['total_params']:,}" in printed
    assert (out / "jobs").is_dir()


@pytest.mark.slow
def test_compare_writes_one_result_per_run_and_a_comparison(squares, tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--data", squares, "--epochs", "1", "--img-size", "32", "--batch-size", "8",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    comparison = json.loads((out / "comparison.json").read_text())
    assert [(r["model"], r["strategy"], r["status"]) for r in comparison["runs"]] == [
        ("simple_cnn", "scratch", "finished"), ("resnet18", "scratch", "finished"),
        ("efficientnet_lite0", "frozen", "finished"), ("efficientnet_lite0", "finetune", "finished")]
    for name in ("simple_cnn-scratch", "resnet18-scratch", "efficientnet_lite0-frozen", "efficientnet_lite0-finetune"):
        assert RESULT_KEYS <= set(json.loads((out / name / "result.json").read_text()))
    table = capsys.readouterr().out
    assert "weights" in table and "bundled" in table


@pytest.mark.parametrize("args, code, message", [
    (["train", "--model", "alexnet"], 2, "invalid choice: 'alexnet'"),
    (["train", "--model", "simple_cnn", "--strategy", "frozen"], 1, "simple_cnn has none"),
    (["train", "--data", "/no/such/folder"], 1, "data not found: /no/such/folder"),
    (["train", "--epochs", "many"], 2, "invalid int value"),
    (["compare", "--img-size", "4"], 1, "image size must be between"),
])
def test_bad_options_are_one_line_and_a_nonzero_exit(args, code, message, capsys):
    try:
        got = main(args)
    except SystemExit as exit:   # argparse's own checks
        got = exit.code
    err = capsys.readouterr().err
    assert got == code
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_refused_run_leaves_no_empty_out_folder(tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    code = main(["train", "--data", str(tmp_path / "missing"), "--out", str(out)])
    assert code == 1 and "data not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()   # neither runs/x/jobs nor the folders above it


def test_a_lone_finetune_says_where_it_starts(squares, tmp_path, capsys):
    code = main(["train", "--data", squares, "--strategy", "finetune", "--epochs", "1", "--img-size", "32",
                 "--batch-size", "8", "--out", str(tmp_path / "ft")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "finetune starts from the ImageNet weights" in printed and "--init-from" in printed


def test_a_failed_job_is_a_nonzero_exit_with_its_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "train" / "a").mkdir(parents=True)
    code = main(["train", "--data", str(empty), "--model", "simple_cnn", "--strategy", "scratch", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_real_command_line_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vision_demo", "train", "--model", "resnet18", "--strategy", "frozen"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "VISION_DEMO_HOME": str(tmp_path / "work"),
                               "TORCH_HOME": str(tmp_path / "torch"), "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: ResNet-18's ImageNet weights need the internet: use efficientnet_lite0 "
        "(its weights are bundled, works offline) or run with --online"]


@pytest.mark.slow
def test_ctrl_c_cancels_the_running_job(squares, tmp_path):
    import signal
    import time

    out = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "vision_demo", "train", "--data", squares, "--model", "simple_cnn",
                             "--strategy", "scratch", "--epochs", "200", "--img-size", "32", "--batch-size", "4",
                             "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={"PATH": "/usr/bin:/bin", "VISION_DEMO_HOME": str(tmp_path / "work"),
                                 "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])})
    for line in proc.stdout:   # wait until training is under way
        if "| epoch 1 |" in line:
            break
    time.sleep(0.3)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert time.monotonic() - t0 < 20
    assert "cancelled" in stderr and "Traceback" not in stderr
    [state_file] = (out / "jobs").glob("*/state.json")
    state = json.loads(state_file.read_text())
    assert state["status"] == "cancelled" and 1 <= len(state["history"]) < 200


@pytest.mark.slow
def test_diff_lists_what_the_second_run_fixed_and_broke(squares, tmp_path, capsys):
    common = ["--data", squares, "--epochs", "1", "--img-size", "32", "--batch-size", "8"]
    assert main(["train", *common, "--model", "simple_cnn", "--strategy", "scratch", "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *common, "--model", "efficientnet_lite0", "--strategy", "frozen",
                 "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "result.json").read_text())
    b = json.loads((tmp_path / "b" / "result.json").read_text())
    n_matrix = sum(sum(row) for row in a["confusion_matrix"])   # every test image, counted by the confusion matrix
    assert len(a["test_predictions"]) == len(b["test_predictions"]) == n_matrix
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(tmp_path / "diff.json")]) == 0
    printed = capsys.readouterr().out
    diff = json.loads((tmp_path / "diff.json").read_text())
    c = diff["counts"]
    n_test = len(a["test_predictions"])
    assert sum(c.values()) == n_test
    right_a = sum(p["pred"] == p["true"] for p in a["test_predictions"])
    right_b = sum(p["pred"] == p["true"] for p in b["test_predictions"])
    assert c["both_right"] + c["broke"] == right_a and c["both_right"] + c["fixed"] == right_b   # the arithmetic
    assert round(right_b / n_test, 6) == round(b["test_acc"], 6)                                  # the saved accuracy
    assert f"B fixed {c['fixed']}, broke {c['broke']}" in printed
    for row in diff["fixed"]:
        assert row["a_pred"] != row["true"] == row["b_pred"]
    assert main(["diff", str(tmp_path / "a"), str(tmp_path / "nothing-here")]) == 1
    assert "no such finished job" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_trains_each_strategy_on_each_fraction_and_says_where_the_gap_is(squares, tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", "--data", squares, "--fractions", "0.5", "1", "--epochs", "1", "--img-size", "32",
                 "--batch-size", "8", "--models", "simple_cnn:scratch", "efficientnet_lite0:frozen",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    sweep = json.loads((out / "sweep.json").read_text())
    runs = {(r["fraction"], r["model"], r["strategy"]): r for r in sweep["runs"]}
    assert set(runs) == {(f, m, s) for f in (0.5, 1.0) for m, s in (("simple_cnn", "scratch"),
                                                                      ("efficientnet_lite0", "frozen"))}
    full, half = runs[(1.0, "simple_cnn", "scratch")]["train_images"], runs[(0.5, "simple_cnn", "scratch")]["train_images"]
    assert full == 3 * 8 and half == 3 * 4           # 8 training squares per class, half of each class
    assert all(0 <= r["test_acc"] <= 1 for r in sweep["runs"]) and set(sweep["gap_points"]) == {"0.5", "1.0"}
    assert "pretrained - scratch:" in printed and "widest at" in printed
    assert main(["sweep", "--data", squares, "--fractions", "0", "--out", str(tmp_path / "bad")]) == 1
    assert "fractions must be in (0, 1]" in capsys.readouterr().err


def test_per_class_trains_on_a_seeded_subset_of_every_class(squares, tmp_path, capsys):
    """--per-class N: at most N training images of each class, the same ones for the same seed."""
    runs = []
    for name in ("a", "b"):
        code = main(["train", "--data", squares, "--model", "simple_cnn", "--strategy", "scratch", "--epochs", "1",
                     "--img-size", "32", "--batch-size", "4", "--per-class", "3", "--out", str(tmp_path / name)])
        assert code == 0, capsys.readouterr().err
        runs.append(json.loads((tmp_path / name / "result.json").read_text()))
    classes = len(runs[0]["classes"])
    assert runs[0]["train_images"] == 3 * classes          # 8 a class in the set, 3 kept
    assert runs[0]["train_per_class"] == 3
    assert "(3 per class)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--per-class", "many"])
    assert main(["train", "--data", squares, "--per-class", "0"]) == 1
    assert "per_class must be" in capsys.readouterr().err
