"""The lesson's models: real bundled ImageNet weights, the seed CNN's layers, what each strategy trains."""

import pytest
import torch
from torch import nn

from vision_demo.classify import models
from vision_demo.classify.models import (apply_strategy, build_model, count_parameters, rename_lite0_keys,
                                         set_train_mode)
from vision_demo.errors import VisionDemoError
from conftest import asset  # the module pytest loaded (tests.conftest would run it again: a new WORK)

BUS_LIKE = {"minibus", "trolleybus", "school bus", "passenger car", "streetcar", "police van", "tram"}


def _imagenet_top5(model, image_path):
    from PIL import Image
    from timm.data import ImageNetInfo
    from torchvision import transforms as T

    from vision_demo.classify.inputs import IMAGENET_MEAN, IMAGENET_STD

    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    x = tf(Image.open(image_path).convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        probs = model.eval()(x).softmax(1)[0]
    info = ImageNetInfo()
    top = probs.topk(5)
    return [(info.index_to_description(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


def test_lite0_bundled_imagenet_weights_recognise_a_bus(no_network):
    bus = asset("bus.jpg")
    model, source = build_model("efficientnet_lite0", 1000, pretrained=True)
    assert source == "bundled"
    top5 = _imagenet_top5(model, bus)
    names = [name.split(",")[0] for name, _ in top5]
    assert BUS_LIKE & set(names), top5
    assert top5[0][1] > 0.3, top5   # random weights would spread ~0.001 over 1000 classes
    assert not no_network


def test_lite0_keys_rename_onto_every_timm_tensor():
    import timm

    raw = torch.load(models.lite0_weights_file(), map_location="cpu", weights_only=True)
    renamed = rename_lite0_keys(raw)
    timm_keys = set(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict())
    assert len(raw) == len(renamed) == len(timm_keys) == 296
    assert set(renamed) == timm_keys
    assert models.lite0_imagenet_state_dict() is models.lite0_imagenet_state_dict()  # read from disk once


def test_lite0_new_head_keeps_the_imagenet_backbone():
    model, _ = build_model("efficientnet_lite0", 6, pretrained=True)
    state = models.lite0_imagenet_state_dict()
    assert model.classifier.out_features == 6
    assert torch.equal(model.conv_stem.weight, state["conv_stem.weight"])
    assert torch.equal(model.blocks[6][0].conv_pwl.weight, state["blocks.6.0.conv_pwl.weight"])


def test_simple_cnn_has_the_seed_layers():
    model, source = build_model("simple_cnn", 6, pretrained=False)
    assert source == "none"
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (3, 16, (3, 3), (1, 1)), (16, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1))]
    assert [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == [16, 32, 64]
    order = [type(m).__name__ for m in model.features.modules() if not isinstance(m, nn.Sequential)]
    assert order == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU",
                     "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert model.dropout.p == 0.5
    assert (model.fc.in_features, model.fc.out_features) == (64, 6)
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 6)
    assert model(torch.zeros(2, 3, 96, 96)).shape == (2, 6)   # global pooling: any size


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_lite0"])
def test_strategies_train_what_they_should(name):
    counts = {}
    for strategy in ("scratch", "frozen", "finetune"):
        model, _ = build_model(name, 6, pretrained=False)  # counting needs no weight values
        params = apply_strategy(model, name, strategy)
        trainable, total = count_parameters(model)
        assert trainable == sum(p.numel() for p in params)
        counts[strategy] = trainable
    head = models.head_of(model)
    head_size = head.weight.numel() + head.bias.numel()
    assert counts["frozen"] == head_size                         # only the new head
    assert head_size < counts["finetune"] < counts["scratch"] == total
    if name == "resnet18":
        assert counts["finetune"] == head_size + sum(p.numel() for p in model.layer4.parameters())


def test_finetune_keeps_batchnorm_in_eval_mode():
    model, _ = build_model("efficientnet_lite0", 6, pretrained=True)
    apply_strategy(model, "efficientnet_lite0", "finetune")
    set_train_mode(model, "finetune")
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert bns and not any(bn.training for bn in bns)
    assert model.classifier.training
    before = model.bn2.running_mean.clone()
    model(torch.randn(4, 3, 64, 64))
    assert torch.equal(model.bn2.running_mean, before)   # ImageNet statistics untouched
    set_train_mode(model, "scratch")
    assert all(bn.training for bn in bns)


def test_strategies_are_asked_what_they_do_not_compared_by_name(monkeypatch):
    """A strategy is its catalogue entry: one more entry (here a head-only run that does not cache features)
    trains what its spec says, through the same functions, with no name of it anywhere else."""
    from vision_demo.classify import catalog

    specs = catalog.STRATEGY_SPECS
    assert [s.name for s in specs.values() if not s.pretrained] == ["scratch"]
    assert [s.name for s in specs.values() if s.features_once] == ["frozen"]
    assert {s.name: s.trains for s in specs.values()} == {"scratch": "all", "frozen": "head", "finetune": "finetune"}
    probe = catalog.StrategySpec("probe", "linear probe", 1e-3, "only the head, on augmented images",
                                 pretrained=True, trains="head", features_once=False)
    monkeypatch.setitem(catalog.STRATEGY_SPECS, "probe", probe)
    model, _ = build_model("resnet18", 6, pretrained=False)
    params = apply_strategy(model, "resnet18", "probe")
    assert sum(p.numel() for p in params) == model.fc.weight.numel() + model.fc.bias.numel()
    set_train_mode(model, "probe")
    assert model.fc.training and not model.layer4.training
    with pytest.raises(VisionDemoError, match="probe needs pretrained weights"):
        apply_strategy(build_model("simple_cnn", 6, False)[0], "simple_cnn", "probe")
    with pytest.raises(VisionDemoError, match="unknown strategy 'probes': choose one of"):
        apply_strategy(model, "resnet18", "probes")


def test_pairs_that_cannot_work_say_what_to_choose():
    with pytest.raises(VisionDemoError, match="scratch"):
        apply_strategy(build_model("simple_cnn", 6, False)[0], "simple_cnn", "frozen")
    with pytest.raises(VisionDemoError, match="efficientnet_lite0"):
        build_model("simple_cnn", 6, pretrained=True)
    with pytest.raises(VisionDemoError, match="choose one of"):
        build_model("vgg16", 6, pretrained=False)


def test_resnet18_pretrained_offline_points_to_the_bundled_model(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))          # an empty hub cache
    monkeypatch.setenv("VISION_DEMO_ONLINE", "0")
    with pytest.raises(VisionDemoError, match="efficientnet_lite0.*--online"):
        build_model("resnet18", 6, pretrained=True)
    assert not no_network


def build_resnet34(num_classes: int, pretrained: bool = False):
    """The builder a fourth backbone's spec names (a test module's function, found by 'module:function')."""
    from torch import nn
    from torchvision.models import resnet34

    model = resnet34(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model, "none"


def resnet34_weights_available() -> str:
    return "cache"


def test_a_fourth_backbone_is_one_spec_in_the_catalog(monkeypatch):
    """Everything that reads a model (build, strategies, feature extraction, fine-tuning) works from one spec."""
    import torch

    from vision_demo.classify import catalog, feature_cache, models

    spec = catalog.ModelSpec("resnet34", "ResNet-34", "ResNet-34 (torchvision)",
                             builder=f"{__name__}:build_resnet34", head="fc", finetune=("layer4", "fc"),
                             feature_dim=512, gradcam_layer="layer4", weights="a test's",
                             availability=f"{__name__}:resnet34_weights_available")
    monkeypatch.setitem(catalog.CATALOG, "resnet34", spec)
    monkeypatch.setattr(catalog, "PRETRAINED_MODELS", (*catalog.PRETRAINED_MODELS, "resnet34"))
    monkeypatch.setattr(models, "PRETRAINED_MODELS", catalog.PRETRAINED_MODELS)
    monkeypatch.setattr(models, "MODELS", (*catalog.MODELS, "resnet34"))
    model, source = models.build_model("resnet34", num_classes=4, pretrained=False)
    assert source == "none" and models.check_pretrained_available("resnet34") == "cache"
    models.apply_strategy(model, "resnet34", "finetune")
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer4", "fc"}
    assert models.head_of(model, "resnet34") is model.fc
    with torch.no_grad():
        features = feature_cache.backbone_features(model.eval(), "resnet34", torch.zeros(2, 3, 64, 64))
    assert features.shape == (2, 512) and isinstance(model.fc, torch.nn.Linear)   # the head is back in place
