"""Real short training runs through the job registry on small generated scenes.

Frozen = feature extraction: the backbone must run once per image (counted with a real forward hook);
the four-run comparison finishes with the fine-tune job starting from the frozen job's head; a cancel
stops within one batch; a GPU out-of-memory error becomes the lesson's advice.
"""
import threading
import time

import pytest
import torch
from torch import nn

from vision_demo.classify.loop import train_one_epoch
from vision_demo.classify.train import PRESETS, TrainConfig, submit, submit_compare, submit_preset
from vision_demo.devices import oom_as_advice
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry

RESULT_KEYS = {"model", "model_label", "strategy", "weights_source", "device", "img_size", "normalize", "classes",
               "epochs", "test_acc", "confusion_matrix", "per_class", "most_confused", "wall_seconds",
               "images_per_second", "trainable_params", "total_params", "peak_memory_mb", "feature_extraction",
               "checkpoint", "predictions", "data_report"}
EPOCH_KEYS = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    from vision_demo.datasets.scenes import write_scenes

    root = tmp_path_factory.mktemp("scenes")
    write_scenes(root, per_class=12, size=64, seed=1, test_per_class=8)
    return str(root)


class StemCounter:
    """Counts the images that go through every 3-input-channel convolution (a backbone's first layer)."""

    def __init__(self, module_type=nn.Conv2d):
        self.images, self.calls, self.module_type = 0, 0, module_type
        self._lock = threading.Lock()

    def __call__(self, module, args):
        if isinstance(module, self.module_type) and getattr(module, "in_channels", None) == 3:
            with self._lock:
                self.images += args[0].shape[0]
                self.calls += 1

    def __enter__(self):
        self._handle = torch.nn.modules.module.register_module_forward_pre_hook(self)
        return self

    def __exit__(self, *exc):
        self._handle.remove()


@pytest.mark.slow
def test_frozen_backbone_runs_once_per_image_and_beats_chance(scenes, tmp_path, no_network):
    registry = JobRegistry(tmp_path / "jobs")
    events = []
    registry.add_listener(events.append)
    config = TrainConfig(data=scenes, model="efficientnet_lite0", strategy="frozen", epochs=4, img_size=64)
    with StemCounter() as stem:
        state = registry.wait(submit(registry, config), timeout=120)
    assert state.status == "finished", state.error
    result = state.result
    assert RESULT_KEYS <= set(result)
    n_images = sum(sum(c.values()) for c in result["data_report"]["counts"].values())
    assert n_images == 6 * (12 + 8)
    assert stem.images == n_images          # 4 epochs, yet every image went through the backbone once
    assert result["test_acc"] > 0.5         # chance is 1/6
    assert result["weights_source"] == "bundled"
    assert result["trainable_params"] == 1280 * 6 + 6
    fx = result["feature_extraction"]
    assert fx["feature_dim"] == 1280 and fx["extract_seconds"] > 0
    print(f"\nfrozen: extract {fx['extract_seconds']:.2f} s, head {1000 * fx['head_seconds_per_epoch']:.1f} ms/epoch, "
          f"epoch seconds {[round(e['seconds'], 3) for e in result['epochs']]}")
    epoch_events = [e.data for e in events if e.type == "epoch_end"]
    assert [e["epoch"] for e in epoch_events] == [1, 2, 3, 4]
    assert all(EPOCH_KEYS <= set(e) for e in epoch_events)
    progress = [e.data for e in events if e.type == "progress"]
    assert any("extracting features" in p["message"] for p in progress)
    assert all(0.0 <= p["fraction"] <= 1.0 for p in progress)
    matrix = result["confusion_matrix"]
    assert sum(map(sum, matrix)) == 48 and sum(matrix[i][i] for i in range(6)) == round(result["test_acc"] * 48)
    assert set(result["per_class"]) == set(result["classes"])
    assert 0 < len(result["predictions"]) <= 48
    assert (tmp_path / "jobs" / state.id / "model.pt").is_file()


@pytest.mark.slow
def test_compare_runs_all_four_and_finetune_starts_from_the_frozen_head(scenes, tmp_path):
    registry = JobRegistry(tmp_path / "jobs")
    ids = submit_compare(registry, data=scenes, epochs=1, img_size=48, batch_size=16)
    states = [registry.wait(i, timeout=120) for i in ids]
    assert [s.status for s in states] == ["finished"] * 4, [s.error for s in states]
    results = [s.result for s in states]
    assert [(r["model"], r["strategy"]) for r in results] == [
        ("simple_cnn", "scratch"), ("resnet18", "scratch"), ("efficientnet_lite0", "frozen"),
        ("efficientnet_lite0", "finetune")]
    frozen, finetune = results[2], results[3]
    assert finetune["init_from"] == frozen["checkpoint"]
    assert frozen["trainable_params"] < finetune["trainable_params"] < results[1]["trainable_params"]
    assert [r["weights_source"] for r in results] == ["none", "none", "bundled", "bundled"]
    for r in results:
        print(f"{r['model_label']:45s} acc {r['test_acc']:.3f}  {r['wall_seconds']:.1f} s  "
              f"{r['images_per_second']:.0f} img/s")
        assert r["images_per_second"] > 0 and len(r["epochs"]) == 1


@pytest.mark.slow
def test_cancel_mid_epoch_stops_within_one_batch(scenes, tmp_path):
    registry = JobRegistry(tmp_path / "jobs")
    config = TrainConfig(data=scenes, model="resnet18", strategy="scratch", epochs=3, img_size=48, batch_size=4)
    with StemCounter() as stem:   # ResNet's conv1 sees every training batch
        job_id = submit(registry, config)
        deadline = time.monotonic() + 60
        while stem.calls < 3 and time.monotonic() < deadline:   # a few batches into epoch 1 (18 batches)
            time.sleep(0.005)
        batches_at_cancel = stem.calls
        assert registry.cancel(job_id)
        state = registry.wait(job_id, timeout=30)
    assert state.status == "cancelled"
    assert state.history == []                        # stopped inside the first epoch
    assert stem.calls - batches_at_cancel <= 1        # at most the batch already running
    assert not (tmp_path / "jobs" / job_id / "model.pt").exists()


class OutOfMemoryOnForward(nn.Module):
    """A real module that fails the way a too-big batch fails on a GPU (there is no GPU here)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_cuda_out_of_memory_becomes_the_lesson_advice():
    model = OutOfMemoryOnForward()
    batches = [(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))]
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(VisionDemoError, match="halve the batch size"):
        with oom_as_advice():
            train_one_epoch(model, nn.CrossEntropyLoss(), optimizer, batches, torch.device("cpu"), 1)
    with pytest.raises(RuntimeError, match="shape"):   # other errors pass through unchanged
        with oom_as_advice():
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


def test_bad_configs_fail_before_anything_is_queued(tmp_path):
    registry = JobRegistry(tmp_path / "jobs")
    bad = [dict(model="simple_cnn", strategy="finetune"), dict(model="alexnet"), dict(strategy="distill"),
           dict(epochs=0), dict(img_size=8), dict(lr=5.0), dict(data=str(tmp_path / "missing")),
           dict(strategy="finetune", init_from="no-such-job"), dict(device="gpu")]
    for kwargs in bad:
        with pytest.raises(VisionDemoError):
            submit(registry, TrainConfig(**kwargs))
    with pytest.raises(VisionDemoError, match="unknown training option"):
        TrainConfig.from_dict({"modle": "resnet18"})
    with pytest.raises(VisionDemoError, match="unknown preset"):
        submit_preset(registry, "Exercise 9")
    assert registry.snapshot() == []
    assert len(PRESETS) == 5 and all(PRESETS.values())


def test_feature_store_on_disk_skips_the_backbone_next_time():
    from torch.utils.data import DataLoader, TensorDataset

    from vision_demo.classify.feature_cache import FeatureStore, cache_key
    from vision_demo.classify.models import build_model

    model, _ = build_model("resnet18", 3, pretrained=False)
    loader = DataLoader(TensorDataset(torch.randn(10, 3, 32, 32), torch.arange(10) % 3), batch_size=4)
    key = cache_key([("/nonexistent/a.png", 0)], "resnet18", "none", 32, True)
    with StemCounter() as stem:
        first = FeatureStore.build(model, "resnet18", loader, loader, torch.device("cpu"), key=key, disk=True)
        second = FeatureStore.build(model, "resnet18", loader, loader, torch.device("cpu"), key=key, disk=True)
    assert (first.source, second.source) == ("computed", "disk")
    assert stem.images == 20                       # both splits once, the second build read the file
    assert first.train.shape == (10, 512) and torch.equal(first.train, second.train)
    assert cache_key([("/nonexistent/a.png", 0)], "resnet18", "none", 32, False) != key   # normalization changes it


def _truncated_cache():
    import io
    buf = io.BytesIO()
    torch.save({"train": torch.zeros(10, 512)}, buf)
    return buf.getvalue()[:200]


def _wrong_content_cache():
    import io
    buf = io.BytesIO()
    torch.save([1, 2, 3], buf)
    return buf.getvalue()


@pytest.mark.parametrize("broken", [b"", b"garbage" * 50, b"PK\x03\x04junk", _truncated_cache(), _wrong_content_cache()],
                         ids=["empty", "garbage", "zip-junk", "truncated", "wrong-content"])
def test_broken_feature_cache_is_recomputed_and_rewritten(broken, tmp_path, caplog):
    from torch.utils.data import DataLoader, TensorDataset

    from vision_demo import settings
    from vision_demo.classify.feature_cache import FeatureStore, cache_key
    from vision_demo.classify.models import build_model

    model, _ = build_model("resnet18", 3, pretrained=False)
    loader = DataLoader(TensorDataset(torch.randn(10, 3, 32, 32), torch.arange(10) % 3), batch_size=4)
    key = cache_key([(str(tmp_path / "a.png"), 0)], "resnet18", "none", 32, True)   # unique to this test
    cache = settings.subdir("feature_cache") / f"{key}.pt"
    cache.write_bytes(broken)
    with StemCounter() as stem, caplog.at_level("WARNING", logger="vision_demo.classify.feature_cache"):
        first = FeatureStore.build(model, "resnet18", loader, loader, torch.device("cpu"), key=key, disk=True)
        second = FeatureStore.build(model, "resnet18", loader, loader, torch.device("cpu"), key=key, disk=True)
    assert (first.source, second.source) == ("computed", "disk")   # ignored, then rebuilt on disk
    assert stem.images == 20
    assert torch.equal(first.train, second.train) and torch.equal(first.test_labels, second.test_labels)
    assert any("unreadable feature cache" in r.getMessage() for r in caplog.records)
    assert not list(cache.parent.glob(f"{key}*.tmp"))


def test_feature_cache_writers_with_the_same_key_do_not_collide(tmp_path):
    from vision_demo import settings
    from vision_demo.classify.feature_cache import _read_cache, _write_cache, cache_key

    key = cache_key([(str(tmp_path / "a.png"), 0)], "resnet18", "none", 32, True)
    cache = settings.subdir("feature_cache") / f"{key}.pt"
    errors = []

    def write(i):
        try:
            for _ in range(5):
                x = torch.full((50, 512), float(i))
                _write_cache(cache, {"train": x, "train_labels": torch.zeros(50, dtype=torch.long),
                                     "test": x, "test_labels": torch.zeros(50, dtype=torch.long)})
        except BaseException as err:   # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    train, _, test, _ = _read_cache(cache)       # one writer's complete file, never a mix
    assert train.unique().numel() == 1 and torch.equal(train, test)
    assert not list(cache.parent.glob(f"{key}*.tmp"))


@pytest.mark.slow
def test_with_two_workers_finetune_waits_for_its_frozen_run(scenes, tmp_path):
    registry = JobRegistry(tmp_path / "jobs", max_concurrent=2)   # a GPU machine's default
    messages = []
    registry.add_listener(lambda e: messages.append((e.job_id, e.data.get("message", ""))))
    ids = submit_preset(registry, "Exercise 4: pretrained backbone, fine-tuned from the frozen run",
                        data=scenes, epochs=1, img_size=32, batch_size=16)
    frozen, finetune = (registry.wait(i, timeout=120) for i in ids)
    assert (frozen.status, finetune.status) == ("finished", "finished"), (frozen.error, finetune.error)
    assert finetune.config["init_from"] == frozen.id
    assert finetune.result["init_from"] == frozen.result["checkpoint"]
    assert finetune.ended > frozen.ended
    assert any(job == ids[1] and msg.startswith("waiting for") for job, msg in messages)


def test_init_from_a_broken_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    from vision_demo.classify.models import build_model
    from vision_demo.classify.train import _load_init

    model, _ = build_model("resnet18", 3, pretrained=False)
    classes = ["a", "b", "c"]

    def init_from(path):
        return _load_init(model, TrainConfig(model="resnet18", strategy="finetune", init_from=str(path)),
                          classes, None)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"garbage" * 10)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for bad in (garbage, empty):
        with pytest.raises(VisionDemoError, match=r"is not a vision_demo classification checkpoint .*"
                                                  r"give the job id of a finished frozen run"):
            init_from(bad)
    torch.save({"model": "resnet18", "classes": classes}, tmp_path / "keys.pt")     # no state_dict: was a KeyError
    with pytest.raises(VisionDemoError, match="expected keys"):
        init_from(tmp_path / "keys.pt")
    good = {"model": "resnet18", "classes": classes, "img_size": 32, "normalize": True,
            "state_dict": model.state_dict(), "weights_source": "none"}
    torch.save({**good, "model": "simple_cnn"}, tmp_path / "other_model.pt")
    with pytest.raises(VisionDemoError, match="holds a simple_cnn model, not resnet18"):
        init_from(tmp_path / "other_model.pt")
    torch.save({**good, "classes": ["x", "y", "z"]}, tmp_path / "other_classes.pt")
    with pytest.raises(VisionDemoError, match="was trained on classes"):
        init_from(tmp_path / "other_classes.pt")
    torch.save({**good, "state_dict": {"fc.weight": torch.zeros(3, 7)}}, tmp_path / "misfit.pt")
    with pytest.raises(VisionDemoError, match="weights do not fit a resnet18 with 3 classes"):
        init_from(tmp_path / "misfit.pt")
    torch.save(good, tmp_path / "good.pt")
    assert init_from(tmp_path / "good.pt") == (str(tmp_path / "good.pt"), "none")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_report_counts_what_scikit_learn_counts(seed):
    """Our numpy counts against scikit-learn's, on random predictions with a class never predicted and one never seen."""
    import random

    metrics = pytest.importorskip("sklearn.metrics")
    from vision_demo.classify.loop import classification_report

    rng = random.Random(seed)
    classes = ["a", "b", "c", "d", "e"]
    targets = [rng.choice([0, 1, 2, 3]) for _ in range(60)]      # "e" is never the truth
    preds = [rng.choice([0, 1, 2, 4]) for _ in range(60)]        # "d" is never predicted
    report = classification_report(targets, preds, classes)
    labels = list(range(len(classes)))
    assert report["confusion_matrix"] == metrics.confusion_matrix(targets, preds, labels=labels).tolist()
    precision, recall, f1, support = metrics.precision_recall_fscore_support(targets, preds, labels=labels,
                                                                             zero_division=0)
    for i, c in enumerate(classes):
        ours = report["per_class"][c]
        assert ours["precision"] == pytest.approx(precision[i]) and ours["recall"] == pytest.approx(recall[i])
        assert ours["f1"] == pytest.approx(f1[i]) and ours["support"] == support[i]
    counts = [d["count"] for d in report["most_confused"]]
    assert counts == sorted(counts, reverse=True) and len(counts) <= 6
    assert classification_report([], [], classes)["confusion_matrix"] == [[0] * 5 for _ in range(5)]
