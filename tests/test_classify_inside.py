"""Inside the model, for real (issue 23): the first layer's filters, the linear probe per stage, the unfreeze-k
sweep, and their CLI commands. Real models (the bundled EfficientNet-Lite0), real short training on generated
scenes, a real logistic regression.
"""
import json

import pytest
import torch

from vision_demo.classify.catalog import CATALOG, PRETRAINED_MODELS
from vision_demo.classify.models import apply_strategy, build_model, count_parameters
from vision_demo.cli import main
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry

LITE0 = "efficientnet_lite0"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Six classes, 16 train / 12 test each at 64 px: enough held-out images for the chance test to mean something."""
    from vision_demo.datasets.scenes import write_scenes

    root = tmp_path_factory.mktemp("inside_scenes")
    write_scenes(root, per_class=16, size=64, seed=3, test_per_class=12)
    return str(root)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = JobRegistry(tmp_path_factory.mktemp("inside_jobs"))
    yield reg
    reg.shutdown()


def _train(registry, **kw):
    from vision_demo.classify.train import TrainConfig, submit

    state = registry.wait(submit(registry, TrainConfig(**kw)), timeout=300)
    assert state.status == "finished", state.error
    return state


# ---- the catalogue ------------------------------------------------------------------------------------

def test_every_catalogue_entry_names_modules_that_exist():
    for name, spec in CATALOG.items():
        model, _ = build_model(name, 6, pretrained=False)
        modules = dict(model.named_modules())
        assert spec.first_conv in modules and modules[spec.first_conv].weight.shape[1] == 3, name
        for block in spec.blocks:
            assert all(path in modules for path in block.split("+")), (name, block)
        assert spec.stages and all(stage in modules for stage in spec.stages), name
        # "all blocks" + the head is every weight of the model: nothing is left out of the count
        everything = {n for n, _ in model.named_parameters()}
        covered = {n for n in everything if any(n == p or n.startswith(p + ".") for p in spec.last_blocks(len(spec.blocks)))}
        assert covered == everything, (name, everything - covered)
    # the existing fine-tune strategy is one point of the sweep
    assert CATALOG[LITE0].last_blocks(2) == CATALOG[LITE0].finetune
    assert CATALOG["resnet18"].last_blocks(1) == CATALOG["resnet18"].finetune


# ---- 1. the filters -----------------------------------------------------------------------------------

def test_filter_grid_has_one_tile_per_first_conv_filter():
    from vision_demo.classify.filters import first_conv, grid_image, grid_shape, imagenet_filters, TILE_PX, GAP_PX

    panel = imagenet_filters(LITE0)
    model, _ = build_model(LITE0, 6, pretrained=True)
    out_channels, _, k, _ = first_conv(model, LITE0).weight.shape
    assert len(panel.tiles) == out_channels == 32 and panel.shape == (32, 3, k, k)
    assert all(tile.shape == (k, k, 3) and tile.dtype.name == "uint8" for tile in panel.tiles)
    rows, cols = grid_shape(len(panel.tiles))
    image = grid_image(panel.tiles)
    assert rows * cols >= out_channels > (rows - 1) * cols          # no empty row: every tile drawn, no extra one
    assert image.size == (cols * TILE_PX + (cols + 1) * GAP_PX, rows * TILE_PX + (rows + 1) * GAP_PX)
    # every tile is its filter: the last tile's top-left pixel is where the grid puts filter 31
    r, c = divmod(out_channels - 1, cols)
    assert image.getpixel((GAP_PX + c * (TILE_PX + GAP_PX), GAP_PX + r * (TILE_PX + GAP_PX))) == \
        tuple(int(v) for v in panel.tiles[-1][0, 0])


@pytest.mark.slow
def test_filters_of_a_scratch_run_change_with_training_and_start_where_the_job_started(registry, scenes, tmp_path):
    from vision_demo.classify.filters import job_filters, panels_image

    state = _train(registry, data=scenes, model="simple_cnn", strategy="scratch", epochs=2, img_size=32, seed=5)
    panels = job_filters(state.id, registry=registry)
    imagenet, after, before = panels.panels
    assert "ImageNet" in imagenet.title and len(imagenet.tiles) == 32          # the offline backbone's 32 filters
    assert len(after.tiles) == len(before.tiles) == 16 and after.shape == (16, 3, 3, 3)
    assert panels.changed > 0.001                                              # training moved them
    assert any((a != b).any() for a, b in zip(after.tiles, before.tiles))
    # "before" is the job's own start: the same seed gives the same weights, another seed does not
    from vision_demo.classify.filters import first_conv, initial_model
    again = first_conv(initial_model("simple_cnn", 6, 5), "simple_cnn").weight
    other = first_conv(initial_model("simple_cnn", 6, 6), "simple_cnn").weight
    ckpt = torch.load(state.result["checkpoint"], weights_only=True)
    trained = ckpt["state_dict"]["features.0.0.weight"]
    assert (again - trained).abs().mean() < (other - trained).abs().mean()
    image = panels_image(panels)
    assert image.width > 3 * 200 and image.height > 100

    # the CLI writes the picture; a job that does not exist is one line and exit 1
    out = tmp_path / "filters.png"
    assert main(["filters", "--job", state.out_dir, "--out", str(out)]) == 0
    from PIL import Image
    assert Image.open(out).size == image.size


def test_filters_cli_bad_job_is_one_line(capsys, tmp_path):
    assert main(["filters", "--job", str(tmp_path / "nothing"), "--out", str(tmp_path / "f.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


# ---- 3. the probe -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_probe_gives_one_held_out_accuracy_per_stage_and_shuffled_labels_give_chance(scenes, tmp_path, capsys):
    from vision_demo.classify.probe import ProbeConfig, run_probe
    from vision_demo.datasets.imagefolder import load_dataset

    data = load_dataset(scenes)
    result = run_probe(ProbeConfig(data=scenes, model=LITE0, img_size=64))
    stages = CATALOG[LITE0].stages
    assert [row["stage"] for row in result["pretrained"]] == list(stages)
    assert [row["stage"] for row in result["scratch"]] == list(stages)      # random weights, the same network
    assert result["test_images"] == len(data.test) == 72 and result["train_images"] == len(data.train) == 96
    for row in result["pretrained"] + result["scratch"]:
        assert 0.0 <= row["test_acc"] <= 1.0 and 0.0 <= row["train_acc"] <= 1.0
        # a score on 72 test images is a multiple of 1/72
        assert abs(row["test_acc"] * 72 - round(row["test_acc"] * 72)) < 1e-6
    best = max(row["test_acc"] for row in result["pretrained"])
    assert best > 0.6                                                       # ImageNet features separate the scenes
    assert result["pretrained"][0]["size"][0] > result["pretrained"][-1]["size"][0]   # coarser with depth

    # The control: the same features with shuffled training labels know nothing about the test images.
    shuffled = run_probe(ProbeConfig(data=scenes, model=LITE0, img_size=64, shuffle_labels=True, scratch=""))
    accs = [row["test_acc"] for row in shuffled["pretrained"]]
    chance = shuffled["chance"]
    assert chance == pytest.approx(1 / 6)
    assert abs(sum(accs) / len(accs) - chance) < 0.1, accs                  # the mean over stages ~ 1/6
    assert max(accs) < best - 0.25, (accs, best)
    assert shuffled["scratch"] == []
    assert shuffled["features_from"] == "disk"                              # the feature cache: computed once

    # the CLI: per-stage accuracies in probe.json
    out = tmp_path / "probe.json"
    assert main(["probe", "--data", scenes, "--img-size", "64", "--scratch", "none", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert [r["test_acc"] for r in saved["pretrained"]] == [r["test_acc"] for r in result["pretrained"]]
    assert "blocks.6" in capsys.readouterr().out


def test_probe_accuracy_is_scored_on_the_test_split_only():
    """Features that identify the training images perfectly but say nothing about the test labels: train 1.0,
    test at chance. A probe that scored its own training images would report 1.0."""
    import numpy as np

    from vision_demo.classify.probe import probe_accuracy

    rng = np.random.default_rng(0)
    train_y = np.repeat(np.arange(4), 30)
    train_x = np.eye(4)[train_y] * 5 + rng.normal(size=(120, 4)) * 0.1
    test_y = np.repeat(np.arange(4), 50)
    test_x = np.eye(4)[rng.permutation(test_y)] * 5 + rng.normal(size=(200, 4)) * 0.1
    acc = probe_accuracy(train_x, train_y, test_x, test_y)
    assert acc["train_acc"] == 1.0 and acc["test_acc"] < 0.4


def test_probe_refuses_a_model_without_imagenet_weights(capsys):
    from vision_demo.classify.probe import ProbeConfig, validate

    with pytest.raises(VisionDemoError, match="pretrained backbone"):
        validate(ProbeConfig(model="simple_cnn"))
    with pytest.raises(SystemExit) as exit:                                 # argparse: not one of the choices
        main(["probe", "--model", "simple_cnn"])
    assert exit.value.code == 2


# ---- 4. the unfreeze sweep ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", PRETRAINED_MODELS)
def test_unfreezing_k_blocks_trains_exactly_those_modules(name):
    spec = CATALOG[name]
    model, _ = build_model(name, 6, pretrained=False)
    previous = -1
    for k in range(len(spec.blocks) + 1):
        params = apply_strategy(model, name, "finetune", unfreeze_blocks=k)
        prefixes = spec.last_blocks(k)
        expected = {n for n, _ in model.named_parameters() if any(n == p or n.startswith(p + ".") for p in prefixes)}
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trainable == expected, (k, trainable ^ expected)
        assert len(params) == len(expected)
        count = count_parameters(model)[0]
        assert count == sum(p.numel() for n, p in model.named_parameters() if n in expected)
        assert count > previous                                              # each block adds weights
        previous = count
    assert previous == count_parameters(model)[1]                            # k = all: every weight
    with pytest.raises(VisionDemoError, match="blocks"):
        apply_strategy(model, name, "finetune", unfreeze_blocks=len(spec.blocks) + 1)


@pytest.mark.slow
def test_unfreeze_sweep_changes_only_the_unfrozen_weights(scenes, tmp_path, capsys):
    from vision_demo.classify.unfreeze import unfreeze_rows

    out = tmp_path / "unfreeze"
    assert main(["unfreeze", "--data", scenes, "--model", LITE0, "--blocks", "0", "1", "all", "--epochs", "1",
                 "--frozen-epochs", "2", "--img-size", "48", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "k     trainable weights" in text and "best:" in text
    summary = json.loads((out / "unfreeze.json").read_text())
    assert [row["k"] for row in summary["runs"]] == [0, 1, 8]
    frozen = torch.load(json.loads((out / "frozen" / "result.json").read_text())["checkpoint"], weights_only=True)
    for row in summary["runs"]:
        result = json.loads((out / f"k{row['k']}" / "result.json").read_text())
        assert result["lr"] == 1e-4 and result["strategy"] == "finetune" and result["init_from"]
        assert 0 <= result["test_acc"] <= 1 and row["wall_seconds"] > 0
        tuned = torch.load(result["checkpoint"], weights_only=True)["state_dict"]
        unfrozen = CATALOG[LITE0].last_blocks(row["k"])
        inside = lambda key: any(key == p or key.startswith(p + ".") for p in unfrozen)  # noqa: E731
        moved = {key for key, value in tuned.items() if not torch.equal(value, frozen["state_dict"][key])}
        # weights moved only inside the unfrozen modules (BatchNorm's running statistics stay ImageNet's)
        assert moved and all(inside(key) for key in moved), sorted(k for k in moved if not inside(k))[:5]
        assert any(key.startswith("classifier.") for key in moved)
        trainable = sum(v.numel() for key, v in tuned.items() if inside(key) and "running_" not in key
                        and "num_batches_tracked" not in key)
        assert result["trainable_params"] == row["trainable_params"] == trainable
    assert summary["runs"][-1]["trainable_params"] == summary["runs"][-1]["total_params"]
    assert unfreeze_rows([]) == []


def test_unfreeze_cli_bad_blocks_is_one_line(capsys):
    assert main(["unfreeze", "--blocks", "0", "99"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "8 blocks" in err and "\n" not in err
