"""What each stage sees: a few feature maps of every stage for one picture, pretrained and scratch side by side.

A stage's output is (C, H, W): C maps, each H x W. The stem's maps still look like the picture (edges, colour
regions at half its size); each stage halves the size and adds channels, so by the last one the maps are a few
cells of abstract "this pattern is here" (3 x 3 for EfficientNet-Lite0 at 96 px) — coarser and stranger with depth.
Per stage we show the maps of the channels that answer most to this picture (highest mean activation).

    from vision_demo.classify.feature_maps import stage_maps, maps_image
    maps = stage_maps(model, "efficientnet_lite0", image, img_size=96)    # [StageMaps(stage, channels, size, maps)]
    maps_image([("ImageNet", maps), ("scratch", scratch_maps)], picture).save("maps.png")
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vision_demo.classify.catalog import CATALOG

MAPS_PER_STAGE = 4     # columns per side: enough to see variety, small enough for a 1280 px projector
TILE_PX = 48


@dataclass
class StageMaps:
    stage: str                 # the module: "blocks.2"
    channels: int              # C
    size: tuple[int, int]      # (H, W)
    maps: np.ndarray           # (MAPS_PER_STAGE, H, W) float32 scaled to 0..1, most active channel first
    channel_ids: list[int]


def model_input(image, img_size: int, normalize: bool = True):
    """(1, 3, S, S): the picture as the models are fed (resize, ImageNet normalization), and the PIL picture."""
    from vision_demo.classify.inputs import build_transform
    from vision_demo.images import load_rgb

    picture = load_rgb(image)
    return build_transform(int(img_size), normalize=normalize, train=False)(picture).unsqueeze(0), picture


def stage_maps(model, name: str, x, n: int = MAPS_PER_STAGE) -> list[StageMaps]:
    """The n most active channels' maps of every catalogue stage of `model` for input x (1, 3, S, S)."""
    import torch

    from vision_demo.classify.probe import StageTap

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), StageTap(model, name) as tap:
            model(x)
            out = []
            for stage in CATALOG[name].stages:
                fmap = tap.outputs[stage][0].float()                   # (C, H, W)
                top = fmap.mean(dim=(1, 2)).topk(min(n, fmap.shape[0])).indices.tolist()
                chosen = fmap[top]                                      # (n, H, W)
                lo = chosen.amin(dim=(1, 2), keepdim=True)
                hi = chosen.amax(dim=(1, 2), keepdim=True)
                scaled = ((chosen - lo) / (hi - lo).clamp_min(1e-8)).cpu().numpy().astype(np.float32)
                out.append(StageMaps(stage, int(fmap.shape[0]), (int(fmap.shape[1]), int(fmap.shape[2])), scaled, top))
    finally:
        model.train(was_training)
    return out


def _tile(m: np.ndarray, px: int):
    """One map as a viridis picture, px x px, nearest neighbour: a 3 x 3 map shows as 3 x 3 cells."""
    from matplotlib import colormaps
    from PIL import Image

    rgb = (colormaps["viridis"](m)[..., :3] * 255).round().astype(np.uint8)
    return Image.fromarray(rgb).resize((px, px), Image.Resampling.NEAREST)


def maps_image(sides: list[tuple[str, list[StageMaps]]], picture=None, tile_px: int = TILE_PX, font_px: int = 15):
    """Rows = stages (stem at the top), for each side `MAPS_PER_STAGE` maps; each row labelled with its stage's
    channels and spatial size. `sides`: [(title, stage maps), ...]. One PIL image."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=font_px)
    gap, label_w, head = 3, 150, font_px * 2 + 10
    n = MAPS_PER_STAGE
    side_w = n * (tile_px + gap) + gap
    rows = max(len(maps) for _, maps in sides)
    pic_w = tile_px * 2 + 12 if picture is not None else 0
    width = pic_w + len(sides) * (label_w + side_w + 12)
    height = head + rows * (tile_px + gap) + gap + 4
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if picture is not None:
        thumb = picture.convert("RGB").resize((tile_px * 2, tile_px * 2))
        draw.text((0, 4), "the picture", fill="black", font=font)
        canvas.paste(thumb, (0, head))
    x0 = pic_w
    for title, maps in sides:
        draw.text((x0, 4), title[:60], fill="black", font=font)
        for r, sm in enumerate(maps):
            y = head + r * (tile_px + gap)
            draw.text((x0, y + 2), sm.stage, fill="black", font=font)
            draw.text((x0, y + font_px + 6), f"{sm.channels} ch, {sm.size[0]}x{sm.size[1]}", fill="#555", font=font)
            for c, m in enumerate(sm.maps):
                canvas.paste(_tile(m, tile_px), (x0 + label_w + gap + c * (tile_px + gap), y))
        x0 += label_w + side_w + 12
    return canvas


def compare_maps(image, model: str, img_size: int = 96, scratch_job: str | None = None, registry=None, seed: int = 0):
    """(PIL image, [(title, [StageMaps])]) for a picture: the ImageNet backbone `model` and the scratch side (a
    finished scratch job, or the same network with random weights)."""
    from vision_demo.classify.catalog import model_label
    from vision_demo.classify.filters import initial_model
    from vision_demo.classify.models import build_model

    x, picture = model_input(image, img_size)
    pretrained, _ = build_model(model, 6, pretrained=True)
    sides = [(f"{model_label(model)} · ImageNet", stage_maps(pretrained, model, x))]
    if scratch_job:
        from vision_demo.classify.gradcam import load_job

        classifier, job_name = load_job(scratch_job, registry=registry)
        name = str(classifier.info["model"])
        xs, _ = model_input(image, img_size, normalize=classifier.normalize)
        with classifier._lock:   # the cached classifier is shared with the Try tab: one pass at a time
            sides.append((f"{model_label(name, classifier.info.get('strategy'))} · trained", stage_maps(classifier.model, name, xs)))
    else:
        sides.append((f"{model_label(model)} · random weights", stage_maps(initial_model(model, 6, seed), model, x)))
    return maps_image(sides, picture), sides
