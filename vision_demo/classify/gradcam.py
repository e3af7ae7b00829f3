"""Where does it look? Grad-CAM: the part of the picture that raised a class's score, drawn over the picture.

    from vision_demo.classify.gradcam import gradcam, load_job
    classifier, name = load_job("<job id>")          # or the --out folder of a `train` run
    cam = gradcam(classifier, "photo.jpg")          # the predicted class; class_name="forest" for another one
    cam.overlay.save("heat.png")                    # the picture as the model saw it, the map over it
    cam.predicted, cam.probability, cam.target      # "forest", 0.91, "forest"
    cam.legend                                      # one sentence to read the colours by

    python -m vision_demo gradcam --job JOB --image photo.jpg [--class forest] --out heat.png

How Grad-CAM works (Selvaraju et al., https://arxiv.org/abs/1610.02391), in the model's own terms:
1) run the picture forward and keep the feature maps of the last convolutional stage (the catalogue's
   `gradcam_layer`: SimpleCNN's `features`, ResNet-18's `layer4`, EfficientNet-Lite0's `bn2`) — a coarse
   grid, e.g. 3×3 cells for ResNet-18 at 96 px (it halves the picture five times);
2) ask autograd how much the class's score (its logit, before softmax) would rise per feature map: the
   gradient, averaged over the grid, is one weight per channel;
3) add the maps up with those weights and keep the positive part (ReLU): the cells whose features pushed
   the score up. Scaled to 0..1 and stretched over the picture, that is the heat map.

A 3×3 grid says little more than "left or right". When the model's own size gives fewer than MIN_CELLS
cells a side, the map is computed on the picture enlarged until the grid has them (ResNet-18 and Lite0:
224 px, ImageNet's own size, for 7×7): a convolutional network with a global pool takes any size. The
answer and its probability stay those of the model's own size (what Predict says); the map is for that
answer, and the caption names both sizes. If nothing raised the class's score (every cell pushed it
down, so ReLU leaves nothing), the map is blank, and the legend says so and what to try.

The maps come from `torchcam` (its GradCAM extractor; its hooks are removed after every call). The
cached classifier is shared by every visitor, so one map is computed at a time per model, under the same
lock as its predictions; nothing about the model is changed. A frozen backbone has requires_grad False
on its weights: the input tensor asks for gradients instead, so every feature map is still on the
autograd graph (and no weight gets a .grad).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision_demo.errors import VisionDemoError

PREDICTED = "predicted"   # what the UI and the CLI say for "the class the model picked"
DISPLAY_PX = 224          # small models see 48–96 px: the overlay is shown larger (never smaller than the input)
COLORMAP = "jet"          # blue (nothing) -> green -> yellow -> red (most): the usual Grad-CAM palette
IMAGE_WEIGHT = 0.5        # the picture's share in the blend; the map's is the rest
MIN_CELLS = 7             # the map's grid at least 7×7 (enlarging the picture when the model's size gives fewer)
MAX_MAP_PX = 512          # ... but never past this: the enlargement stops here


@dataclass
class GradCam:
    overlay: "object"          # PIL RGB image: the picture as the model saw it (resized), the map over it
    heat: np.ndarray           # (H, W) float32 in 0..1, aligned with `overlay`: how much each pixel raised the score
    predicted: str             # the model's answer
    probability: float         # its softmax probability
    target: str                # the class the map is for (the predicted one unless asked)
    target_probability: float
    grid: tuple[int, int]      # the hooked layer's map size (rows, columns): how coarse the map is
    layer: str                 # the module hooked (the catalogue's gradcam_layer)
    legend: str                # one sentence to read the colours by (and, for a blank map, why and what to try)
    model_px: int = 0          # the size the model answers at (its training size)
    map_px: int = 0            # the size the map was computed at (larger than model_px when that gave < MIN_CELLS)
    empty: bool = False        # nothing raised the target's score: the map is blank
    model_grid: tuple[int, int] = (0, 0)   # the grid at model_px (coarser than `grid` when the map was enlarged)

    @property
    def sizes(self) -> str:
        """How fine the map is and where it was computed, for a caption: '7×7 cells (the picture at 224 px; at
        the model's own 96 px its last grid is 3×3; the answer is the model's at 96 px)'."""
        cells = f"{self.grid[0]}×{self.grid[1]} cells"
        if self.map_px == self.model_px:
            return f"{cells} of {self.layer} at {self.model_px} px"
        return (f"{cells} of {self.layer}: the map is computed on the picture at {self.map_px} px (at the model's own "
                f"{self.model_px} px that grid is only {self.model_grid[0]}×{self.model_grid[1]}); the answer is "
                f"the model's at {self.model_px} px")


def _layer_for(classifier) -> str:
    from vision_demo.classify.catalog import CATALOG

    model = str(classifier.info.get("model"))
    if model not in CATALOG:
        raise VisionDemoError(f"no Grad-CAM layer known for model {model!r}: known are {', '.join(CATALOG)}")
    return CATALOG[model].gradcam_layer


def class_index(classifier, class_name: str | None) -> int | None:
    """None for the predicted class ("predicted", "" or None); else the class's index, or a VisionDemoError
    listing the classes this model knows."""
    name = str(class_name or "").strip()
    if not name or name == PREDICTED:
        return None
    if name not in classifier.classes:
        raise VisionDemoError(f"unknown class {name!r}: this model knows {', '.join(classifier.classes)} "
                              f"(or '{PREDICTED}')")
    return classifier.classes.index(name)


def legend(target: str, predicted: str, empty: bool) -> str:
    """The sentence under a map: what red means, for which class (`predicted`: the model's answer); for a blank
    map, why it is blank and what to try instead."""
    if empty:
        return (f"The map is blank (all blue): no part of this picture raised the score of {target} — in every "
                f"cell the features pushed it down, and Grad-CAM keeps only what pushed it up. The score comes "
                f"from the picture as a whole. Try another class under 'Map for class', one of the data set's own "
                f"test pictures, or the other model.")
    answer = "its answer" if target == predicted else "not its answer"
    return f"Red = the pixels that most raised the score of {target} ({answer}); blue = little or nothing."


def _cam(model, layer: str, x, target: int | None):
    """One Grad-CAM pass of `model` on input `x` (1, 3, S, S): (logits (classes,), the class mapped, the map
    (h, w) in 0..1). `target` None: the class the model picks on this input."""
    import torch
    from torchcam.methods import GradCAM

    x = x.clone().requires_grad_(True)   # a frozen backbone's weights ask for no gradients: the input does
    with torch.enable_grad(), GradCAM(model, layer) as extractor:   # hooks on `layer`; removed after the block
        scores = model(x)                                     # (1, classes) logits
        target = int(scores.detach().argmax(1)) if target is None else int(target)
        [cam] = extractor(class_idx=target, scores=scores)    # (1, h, w) in 0..1, ReLU'd: the grid
    return scores.detach()[0], target, cam[0]


def map_size(model_px: int, grid: tuple[int, int]) -> int:
    """The picture size at which the hooked layer's grid has MIN_CELLS a side, from its grid at `model_px`
    (a network that halves the picture five times has 3×3 cells at 96 px and 7×7 at 224 px); `model_px`
    itself when that grid is already fine enough."""
    cells = min(grid)
    if cells >= MIN_CELLS:
        return model_px
    return min(MAX_MAP_PX, math.ceil(MIN_CELLS * model_px / max(cells, 1)))


def gradcam(classifier, image, class_name: str | None = None) -> GradCam:
    """Grad-CAM of `classifier` (predict.Classifier) on `image` (anything images.load_rgb accepts) for
    `class_name` (default: the predicted class). VisionDemoError for a bad image or an unknown class."""
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchcam.utils import overlay_mask

    from vision_demo.classify.inputs import IMAGENET_MEAN, IMAGENET_STD, build_transform
    from vision_demo.images import load_rgb

    wanted = class_index(classifier, class_name)          # a bad class fails before any work
    layer = _layer_for(classifier)
    picture = load_rgb(image)
    x = classifier.transform(picture).unsqueeze(0)        # (1, 3, S, S): the same input predict() gives
    with classifier._lock:                                # one pass at a time on the shared model
        scores, predicted, cam = _cam(classifier.model, layer, x, None)
        target = predicted if wanted is None else wanted
        model_grid = (int(cam.shape[-2]), int(cam.shape[-1]))
        map_px = map_size(classifier.img_size, model_grid)
        if target != predicted and map_px == classifier.img_size:   # another class's map: its own gradients
            _, _, cam = _cam(classifier.model, layer, x, target)     # (an enlarged map is computed for it below)
        step = math.ceil(classifier.img_size / max(min(model_grid), 1))   # about one cell's worth of pixels
        while map_px != classifier.img_size:             # too coarse: the same class, on the picture enlarged
            x = build_transform(map_px, normalize=classifier.normalize, train=False)(picture).unsqueeze(0)
            _, _, cam = _cam(classifier.model, layer, x, target)
            if min(cam.shape[-2:]) >= MIN_CELLS or map_px >= MAX_MAP_PX:   # a padded stage may round down
                break
            map_px = min(MAX_MAP_PX, map_px + step)
    probs = scores.softmax(0)                             # (classes,): the answer at the model's own size
    grid = (int(cam.shape[-2]), int(cam.shape[-1]))
    size = max(DISPLAY_PX, map_px)
    # The map stretched over the picture, smoothly (each cell covers many pixels): (size, size) in 0..1
    heat = F.interpolate(cam[None, None].float(), size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    heat = heat.clamp(0, 1).numpy().astype(np.float32)

    # The picture as the map saw it: its input tensor with ImageNet's normalization undone.
    seen = x.detach()[0]
    if classifier.normalize:
        seen = seen * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    seen = Image.fromarray((seen.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    seen = seen.resize((size, size), Image.Resampling.BICUBIC)
    mask = Image.fromarray(heat)                           # mode F, floats 0..1: overlay_mask colours mask ** 2
    overlay = overlay_mask(seen, mask, colormap=COLORMAP, alpha=IMAGE_WEIGHT)

    names = classifier.classes
    empty = float(heat.max()) <= 0
    return GradCam(overlay=overlay, heat=heat, predicted=names[predicted], probability=float(probs[predicted]),
                   target=names[target], target_probability=float(probs[target]), grid=grid, layer=layer,
                   legend=legend(names[target], names[predicted], empty=empty),
                   model_px=classifier.img_size, map_px=map_px, empty=empty, model_grid=model_grid)


def load_job(job_or_folder: str, registry=None):
    """(Classifier, name) of a finished classification run: a job id of `registry` (default: the work folder's)
    or a folder holding result.json (a job's folder, the --out folder of `train`); loaded once (cached)."""
    from vision_demo.classify.diff import load_result
    from vision_demo.classify.predict import cached_classifier

    result = load_result(job_or_folder, registry=registry)
    checkpoint = result.get("checkpoint")
    if not checkpoint:
        raise VisionDemoError(f"{job_or_folder}: this run saved no checkpoint; give a finished classification job")
    path = Path(checkpoint)
    if not path.is_file() and Path(str(job_or_folder)).expanduser().is_dir():
        path = Path(str(job_or_folder)).expanduser() / "model.pt"   # a run folder moved since it was written
    # a job's folder, as the Try tab names it: one cached copy per job whichever way it was asked for
    key = path.parent if path.name == "model.pt" else path
    return cached_classifier(key), result.get("name") or str(job_or_folder)
