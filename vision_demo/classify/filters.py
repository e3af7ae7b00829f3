"""What the first layer learned: the first convolution's filters as a grid of small RGB pictures.

Each filter of the first convolution (catalogue: `first_conv`) looks at the three colour channels of a small
patch: (out_channels, 3, k, k) weights. Scaled to 0..255 one filter at a time, each is a k x k colour
picture of the pattern it answers most to. ImageNet's filters show edges at several angles and colour blobs;
a model from scratch, trained a few epochs on a few hundred pictures, still shows the noise it started from.

    from vision_demo.classify.filters import filter_tiles, grid_image, job_filters, panels_image
    tiles = filter_tiles(model.conv_stem.weight)          # one (k, k, 3) uint8 picture per filter
    panels = job_filters("<scratch job id>")              # ImageNet | this job after training | before it
    panels_image(panels).save("filters.png")

    python -m vision_demo filters --job JOB --out filters.png

"Before any training" is the job's own starting point: the job seeds torch (its `seed`) right before it
builds the model, so building the same model after the same seed gives exactly the weights it started from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vision_demo.classify.catalog import CATALOG, model_label
from vision_demo.errors import VisionDemoError

TILE_PX = 36        # each filter drawn this big (nearest neighbour: a 3x3 filter stays 3x3 blocks)
GAP_PX = 3          # white space between tiles
MAX_COLUMNS = 8     # 32 filters -> 4 rows of 8, ResNet's 64 -> 8 rows


@dataclass
class FilterPanel:
    title: str                      # "EfficientNet-Lite0 · ImageNet"
    tiles: list[np.ndarray]         # one (k, k, 3) uint8 picture per filter
    shape: tuple[int, ...]          # the weight's shape: (out_channels, 3, k, k)
    note: str = ""

    @property
    def image(self):
        return grid_image(self.tiles)


@dataclass
class FilterPanels:
    panels: list[FilterPanel]
    job_name: str = ""
    changed: float | None = None    # mean |after - before| / mean |before| of the job's first convolution
    notes: list[str] = field(default_factory=list)


def first_conv(model, name: str):
    """The first convolution of catalogue model `name`, as a module with a 4-d `weight`."""
    spec = CATALOG.get(name)
    if spec is None or not spec.first_conv:
        raise VisionDemoError(f"no first convolution known for model {name!r}: known are {', '.join(CATALOG)}")
    conv = model.get_submodule(spec.first_conv)
    if getattr(conv, "weight", None) is None or conv.weight.dim() != 4 or conv.weight.shape[1] != 3:
        raise VisionDemoError(f"{name}'s {spec.first_conv} is not an RGB convolution")
    return conv


def filter_tiles(weight) -> list[np.ndarray]:
    """(out, 3, k, k) weights -> one (k, k, 3) uint8 picture per filter, each scaled on its own range
    (the same scaling for its three channels, so its colour stays its colour)."""
    w = weight.detach().float().cpu().numpy()
    tiles = []
    for f in w:                                   # (3, k, k)
        lo, hi = float(f.min()), float(f.max())
        scaled = (f - lo) / (hi - lo) if hi > lo else np.full_like(f, 0.5)
        tiles.append((scaled.transpose(1, 2, 0) * 255).round().astype(np.uint8))   # (k, k, 3)
    return tiles


def grid_shape(n: int, columns: int = MAX_COLUMNS) -> tuple[int, int]:
    """(rows, columns) of the grid for n tiles."""
    columns = max(1, min(columns, n))
    return -(-n // columns), columns


def grid_image(tiles: list[np.ndarray], tile_px: int = TILE_PX, gap: int = GAP_PX, columns: int = MAX_COLUMNS):
    """The tiles in rows of `columns`, each tile_px big, on white: a PIL image."""
    from PIL import Image

    rows, cols = grid_shape(len(tiles), columns)
    canvas = Image.new("RGB", (cols * tile_px + (cols + 1) * gap, rows * tile_px + (rows + 1) * gap), "white")
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        img = Image.fromarray(tile).resize((tile_px, tile_px), Image.Resampling.NEAREST)
        canvas.paste(img, (gap + c * (tile_px + gap), gap + r * (tile_px + gap)))
    return canvas


def model_filters(model, name: str, title: str, note: str = "") -> FilterPanel:
    weight = first_conv(model, name).weight
    return FilterPanel(title, filter_tiles(weight), tuple(weight.shape), note)


def imagenet_filters(name: str) -> FilterPanel:
    """The ImageNet backbone's first-layer filters (EfficientNet-Lite0 bundled; ResNet-18 when its weights are here)."""
    from vision_demo.classify.models import build_model

    model, source = build_model(name, 6, pretrained=True)   # the head does not matter here
    return model_filters(model, name, f"{model_label(name)} · ImageNet", f"weights: {source}")


def initial_model(name: str, num_classes: int, seed: int):
    """The model a job of `name` with `seed` started from: train.py seeds torch, then builds it (its random init
    draws on torch's generator only). Built under fork_rng, so the caller's torch random state is restored after."""
    import torch

    from vision_demo.classify.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model, _ = build_model(name, num_classes, pretrained=False)
    return model


def relative_change(before, after) -> float:
    """mean |after - before| / mean |before|: 0 when training left the filters as they were."""
    before, after = before.detach().float(), after.detach().float()
    return float((after - before).abs().mean() / before.abs().mean().clamp_min(1e-12))


def job_filters(job: str, registry=None, backbone: str | None = None) -> FilterPanels:
    """The panels for a finished classification job: the ImageNet backbone's filters (the job's own model when it
    has ImageNet weights, else `backbone`, default default_backbone()), the job's after training, and the
    job's before training (its random start for a scratch job; ImageNet's for frozen / fine-tuned runs)."""
    import torch

    from vision_demo.classify.gradcam import load_job
    from vision_demo.classify.pretrained import check_pretrained_available, default_backbone

    classifier, job_name = load_job(job, registry=registry)
    name = str(classifier.info["model"])
    strategy = str(classifier.info.get("strategy") or "")
    config = classifier.info.get("config") or {}
    trained = first_conv(classifier.model, name).weight
    panels, notes = [], []
    reference = name if CATALOG[name].pretrained else (backbone or default_backbone())
    try:
        check_pretrained_available(reference)
        panels.append(imagenet_filters(reference))
    except VisionDemoError as err:   # ResNet-18 offline: say why there is no ImageNet panel
        notes.append(str(err))
    if strategy == "scratch":
        before = first_conv(initial_model(name, len(classifier.classes), int(config.get("seed", 0))), name).weight
        start_note = f"random start (seed {config.get('seed', 0)})"
    else:   # frozen / finetune start from ImageNet's filters
        before = first_conv(_imagenet_model(name), name).weight
        start_note = "ImageNet's weights"
    label = model_label(name, strategy)
    panels.append(FilterPanel(f"{label} · after training", filter_tiles(trained), tuple(trained.shape),
                              f"job {job_name}"))
    panels.append(FilterPanel(f"{label} · before training", filter_tiles(before), tuple(before.shape), start_note))
    with torch.no_grad():
        change = relative_change(before, trained)
    return FilterPanels(panels, job_name, change, notes)


def _imagenet_model(name: str):
    from vision_demo.classify.models import build_model

    return build_model(name, 6, pretrained=True)[0]


def panels_image(panels: FilterPanels, font_px: int = 16):
    """The panels side by side, each with its title and shape above its grid: one PIL image."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_px)
    grids = [p.image for p in panels.panels]
    head = 3 * (font_px + 6)
    pad = 16
    width = sum(g.width for g in grids) + pad * (len(grids) + 1)
    height = head + max(g.height for g in grids) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = pad
    for panel, grid in zip(panels.panels, grids):
        out, _, k, _ = panel.shape
        draw.text((x, 4), panel.title, fill="black", font=font)
        draw.text((x, 4 + font_px + 6), f"{out} filters of {k}x{k}x3", fill="#444", font=font)
        if panel.note:
            draw.text((x, 4 + 2 * (font_px + 6)), panel.note[:48], fill="#666", font=font)
        canvas.paste(grid, (x, head))
        x += grid.width + pad
    return canvas


def caption(panels: FilterPanels) -> str:
    """What to read the picture by, with the measured change of the job's filters."""
    text = ("ImageNet's first layer: edges at several angles and colour blobs, the same in every network trained on "
            "photos. The job's filters after training next to where they started:")
    if panels.changed is not None:
        text += f" training moved them by {panels.changed:.1%} of their size on average."
    if panels.notes:
        text += " " + " ".join(panels.notes)
    return text
