"""A finished run's checkpoint predicts new images like the run did; inspect draws and explains the models."""
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from vision_demo.classify.inspect import autograd_graph_png, model_text, parameter_table, residual_explanation
from vision_demo.classify.models import apply_strategy, build_model
from vision_demo.classify.predict import load_classifier
from vision_demo.classify.train import TrainConfig, submit
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry

COLOURS = {"red": (210, 40, 40), "green": (40, 190, 60), "blue": (40, 60, 210)}


def write_squares(root, train=10, test=4, size=40, seed=0):
    """Three classes: a coloured square on grey noise."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("test", test)):
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(60, 160, (size, size, 3), dtype=np.uint8)
                x, y = rng.integers(0, size // 2, 2)
                pixels[y:y + size // 2, x:x + size // 2] = colour
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    data = write_squares(tmp_path_factory.mktemp("squares"))
    registry = JobRegistry(tmp_path_factory.mktemp("jobs"))
    config = TrainConfig(data=str(data), model="simple_cnn", strategy="scratch", epochs=2, img_size=32, batch_size=8)
    state = registry.wait(submit(registry, config), timeout=60)
    assert state.status == "finished", state.error
    return state


def test_checkpoint_predicts_what_the_run_predicted(finished_run):
    clf = load_classifier(finished_run.out_dir)
    assert clf.classes == finished_run.result["classes"] == sorted(COLOURS)
    for shown in finished_run.result["predictions"][:6]:
        top = clf.predict(shown["path"], k=3)
        assert [c for c, _ in top][0] == shown["pred"]
        assert top[0][1] == pytest.approx(shown["confidence"], abs=1e-4)
        probs = [p for _, p in top]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0, abs=1e-4)
    # anything load_rgb accepts: a numpy array, a PIL image, bytes of a file
    path = finished_run.result["predictions"][0]["path"]
    assert len(clf.predict(np.asarray(Image.open(path)), k=1)) == 1
    assert len(clf.predict(Image.open(path).convert("L"), k=5)) == 3   # k is capped at the number of classes


def test_untrusted_or_broken_checkpoints_are_refused(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"model": "simple_cnn", "payload": Boom()}, f, protocol=2)
    with pytest.raises(VisionDemoError, match="not a vision_demo classification checkpoint"):
        load_classifier(evil)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(VisionDemoError, match="expected keys"):
        load_classifier(tmp_path / "other.pt")
    with pytest.raises(VisionDemoError, match="no checkpoint"):
        load_classifier(tmp_path / "nowhere")


def test_bad_image_is_a_clear_error(finished_run):
    clf = load_classifier(finished_run.result["checkpoint"])
    with pytest.raises(VisionDemoError):
        clf.predict(b"definitely not an image")


def test_autograd_graph_is_a_png(tmp_path):
    model, _ = build_model("simple_cnn", 6, pretrained=False)
    out = autograd_graph_png(model, tmp_path / "graph.png", img_size=32)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    frozen, _ = build_model("resnet18", 6, pretrained=False)
    apply_strategy(frozen, "resnet18", "frozen")
    small = autograd_graph_png(frozen, tmp_path / "frozen.png", img_size=32)
    assert small.stat().st_size < out.stat().st_size   # autograd records only the trainable head


def test_inspect_texts_and_parameter_table():
    text = residual_explanation()
    assert "out += identity" in text and "The line `out += identity` adds the block's input" in text
    model, _ = build_model("simple_cnn", 6, pretrained=False)
    assert model_text(model, "scratch").startswith("SimpleCNN_BN_DO: 24,086 of 24,086 weights trainable")
    rows = parameter_table(6)
    assert [(r["model"], r["strategy"]) for r in rows] == [
        ("simple_cnn", "scratch"), ("resnet18", "scratch"), ("resnet18", "frozen"), ("resnet18", "finetune"),
        ("efficientnet_lite0", "scratch"), ("efficientnet_lite0", "frozen"), ("efficientnet_lite0", "finetune")]
    for r in rows:
        assert r["trainable"] + r["frozen"] == r["total"]
    by = {(r["model"], r["strategy"]): r["trainable"] for r in rows}
    assert by[("resnet18", "frozen")] == 512 * 6 + 6
    assert by[("efficientnet_lite0", "frozen")] < by[("efficientnet_lite0", "finetune")] < by[("efficientnet_lite0", "scratch")]


def test_read_checkpoint_is_shared_and_names_what_is_wrong(tmp_path):
    from vision_demo.classify.predict import read_checkpoint

    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(VisionDemoError, match=r"^empty\.pt is not a vision_demo classification checkpoint \(EOFError"):
        read_checkpoint(empty)
    with pytest.raises(VisionDemoError, match=r"^EMPTY is not .*\): try again$"):
        read_checkpoint(empty, name="EMPTY", hint="try again")
    with pytest.raises(VisionDemoError, match="no checkpoint"):   # load_classifier checks existence first
        load_classifier(empty.with_name("missing.pt"))
    with pytest.raises(VisionDemoError, match=r"empty\.pt is not a vision_demo classification checkpoint"):
        load_classifier(empty)


def test_a_classifier_is_loaded_once_and_the_cache_stays_small(finished_run, tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    from vision_demo.classify import predict

    monkeypatch.setattr(predict, "_cache", predict.OrderedDict())
    job_dir = Path(finished_run.out_dir)
    first = predict.cached_classifier(job_dir)
    assert predict.cached_classifier(str(job_dir) + "/") is first          # the same job, however it is named
    for i in range(predict.CACHE_SIZE + 1):                                 # more jobs than the cache holds
        copy = tmp_path / f"job{i}"
        shutil.copytree(job_dir, copy)
        predict.cached_classifier(copy)
    assert len(predict._cache) == predict.CACHE_SIZE
    assert predict.cached_classifier(job_dir) is not first                  # the oldest was dropped, loaded again
