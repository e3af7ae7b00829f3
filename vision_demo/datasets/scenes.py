"""The offline default data set: the six Intel Image Classification classes, drawn procedurally.

    python -m vision_demo data scenes /tmp/scenes --per-class 40 --size 128
    from vision_demo.datasets.scenes import default_scenes
    root = default_scenes()           # WORK/datasets/scenes-128-40-0/{train,test}/<class>/*.png, cached

Why drawn, not downloaded: the app must teach transfer learning in a classroom without internet.
The pictures are built to carry the same lesson as the real photos, so every scene is made of
shapes and textures (ridges with snow caps, crevassed ice, waves and boats, trunks and canopies,
window grids, roads in perspective) and NOT of colours: skies, seasons, light and a per-image
colour jitter make a colour histogram a poor classifier. With 40 training images per class, a
small network trained from scratch has too few examples to learn shapes, while an ImageNet-
pretrained backbone already knows edges, textures and layouts and only needs a new head.
Measured on this 2-core CPU (generator version 3; benchmarks/bench_scenes.py --seeds 0 1 2 --epochs 4,
40 train / 30 test per class at 128 px, models at 96 px): colour histogram + logistic regression
23-28 %; small CNN from scratch 32-41 %; EfficientNet-Lite0 frozen features + logistic regression
88-92 %. `python -m vision_demo compare` (defaults: 3 epochs, 96 px; data seed 0, --seed 0/1/2 for
training): small CNN 30-37 %, ResNet-18 from scratch 30-36 %, Lite0 frozen 86-87 %, Lite0 fine-tuned
90-91 % (+3.9 points on average), ~30 s in all. The camera jitter is strong on purpose (version 2's
milder jitter gave frozen 96 % = fine-tuned 96 %, so fine-tuning had nothing left to add): wider
crops and rotations, more blur, low resolution, noise, colour casts and grayscale move the pictures
away from ImageNet photos, and fine-tuning the last stages wins back part of what the frozen
features lose. Deliberate overlaps keep the task honest, as in the real data set: mountains
behind glaciers, ice floes on the sea, trees in streets and in front of buildings, lakes below
mountains.

Every image has its own random generator seeded by (seed, split, class, index): the same seed
gives the same bytes, and any image can be redrawn alone.
"""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vision_demo import settings
from vision_demo.folders import building, locked
from vision_demo.errors import VisionDemoError

CLASSES = ("buildings", "forest", "glacier", "mountain", "sea", "street")
GENERATOR_VERSION = 3          # bump when the pictures change: cached sets of another version are redrawn
# The offline default set (what "scenes" means): 128 px, 40 training pictures per class, seed 0.
DEFAULT_SIZE, DEFAULT_PER_CLASS, DEFAULT_SEED = 128, 40, 0
_MARKER = "scenes.json"        # written last: a folder without it is not a finished set

# ---- palettes: every class draws from shared skies and lights, so colour alone says little ----------
SKIES = {  # (top, bottom near the horizon, cloud colour)
    "clear": ((55, 115, 200), (165, 205, 240), (250, 250, 252)),
    "overcast": ((125, 130, 140), (195, 198, 202), (165, 168, 175)),
    "sunset": ((70, 75, 145), (245, 165, 95), (250, 190, 160)),
    "dusk": ((30, 35, 75), (175, 105, 120), (110, 85, 120)),
    "haze": ((160, 178, 195), (225, 222, 210), (235, 235, 232)),
    "storm": ((60, 65, 75), (120, 125, 130), (85, 88, 95)),
}
SKY_KINDS = tuple(SKIES)
LIGHT = {  # multiplies the whole scene: the colour of the light
    "clear": (1.0, 1.0, 1.0), "overcast": (0.92, 0.94, 0.97), "sunset": (1.08, 0.88, 0.72),
    "dusk": (0.62, 0.58, 0.78), "haze": (1.02, 1.0, 0.96), "storm": (0.7, 0.73, 0.78),
}
ROCK = [(110, 105, 100), (95, 85, 75), (125, 112, 92), (80, 90, 102), (72, 82, 62), (140, 128, 115), (60, 58, 62)]
SLOPE = [(70, 110, 55), (95, 120, 70), (120, 110, 80), (60, 85, 70), (150, 140, 100)]
SNOW = [(240, 243, 247), (225, 232, 240), (250, 250, 250), (215, 222, 235)]
ICE = [(222, 236, 246), (190, 222, 238), (160, 205, 228), (242, 246, 250), (138, 188, 214), (205, 215, 225)]
CREVASSE = [(55, 105, 150), (38, 68, 108), (80, 130, 170), (45, 60, 80)]
WATER = [(30, 80, 130), (22, 100, 118), (50, 110, 150), (62, 88, 98), (25, 58, 88), (70, 130, 138), (90, 110, 115)]
SAND = [(220, 200, 150), (200, 182, 140), (180, 170, 152), (232, 216, 182), (150, 140, 125)]
SEASONS = {  # leaves, ground
    "summer": ([(40, 110, 40), (62, 130, 52), (30, 88, 42), (82, 140, 62), (50, 100, 60)], [(70, 115, 50), (95, 110, 60)]),
    "autumn": ([(200, 110, 30), (180, 62, 32), (220, 170, 42), (150, 82, 40), (120, 110, 40)], [(140, 100, 60), (120, 80, 50)]),
    "winter": ([(225, 230, 236), (60, 82, 66), (200, 208, 215), (90, 85, 80)], [(232, 236, 242), (210, 215, 225)]),
    "spring": ([(140, 200, 90), (228, 182, 202), (120, 182, 82), (245, 240, 225)], [(110, 160, 70), (130, 150, 80)]),
}
BARK = [(80, 60, 45), (60, 50, 45), (110, 95, 80), (165, 160, 150), (45, 40, 38)]
FACADE = [(182, 172, 160), (150, 82, 62), (202, 192, 172), (120, 130, 140), (90, 112, 132), (222, 212, 192),
          (172, 122, 92), (100, 100, 106), (62, 92, 112), (212, 202, 152), (130, 150, 120), (190, 140, 140)]
WINDOW = [(40, 50, 60), (72, 92, 112), (152, 182, 212), (232, 212, 142), (30, 30, 36), (110, 140, 150)]
ASPHALT = [(70, 70, 75), (95, 95, 100), (55, 55, 60), (112, 106, 100), (82, 86, 96), (128, 125, 120)]
CAR = [(180, 30, 30), (30, 60, 150), (230, 230, 230), (30, 30, 30), (150, 150, 155), (220, 190, 40), (40, 110, 60)]
HULL = [(240, 240, 240), (180, 40, 40), (40, 50, 70), (200, 170, 60), (90, 60, 40)]


def _pick(rng, palette, spread=14.0):
    """A palette colour with a little variation: no two scenes share exact colours."""
    c = np.asarray(palette[rng.integers(len(palette))], float) + rng.normal(0, spread, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _shade(c, f):
    return tuple(int(np.clip(v * f, 0, 255)) for v in c)


def _profile(rng, n=65, roughness=0.55):
    """A ridge line in 0..1 by midpoint displacement: n = 2^k + 1 points, rougher for larger roughness."""
    y = np.zeros(n)
    y[0], y[-1] = rng.uniform(0.1, 0.7, 2)
    step, scale = n - 1, 1.0
    while step > 1:
        half = step // 2
        for i in range(half, n - 1, step):
            y[i] = (y[i - half] + y[i + half]) / 2 + rng.normal(0, scale * 0.5)
        step, scale = half, scale * roughness
    y -= y.min()
    return y / max(y.max(), 1e-6)


# ---- shared layers -----------------------------------------------------------------------------------

def _sky(rng, C, kind=None):
    """A sky gradient with clouds; returns (image, kind, haze colour near the horizon)."""
    kind = kind or SKY_KINDS[rng.integers(len(SKY_KINDS))]
    top, bottom, cloud = (np.asarray(c, float) + rng.normal(0, 10, 3) for c in SKIES[kind])
    t = np.linspace(0, 1, C)[:, None] ** rng.uniform(0.6, 1.6)
    rows = top * (1 - t) + bottom * t                                     # (C, 3)
    img = Image.fromarray(np.repeat(rows[:, None, :], C, axis=1).clip(0, 255).astype(np.uint8))
    n_clouds = rng.integers(0, 4) if kind in ("clear", "sunset", "haze") else rng.integers(3, 8)
    if n_clouds:
        mask = Image.new("L", (C, C), 0)
        d = ImageDraw.Draw(mask)
        for _ in range(n_clouds):
            cx, cy, w = rng.uniform(-0.1, 1.1) * C, rng.uniform(0.02, 0.5) * C, rng.uniform(0.1, 0.45) * C
            for _ in range(rng.integers(3, 7)):
                ex, ey = cx + rng.normal(0, w / 3), cy + rng.normal(0, w / 10)
                rx, ry = w * rng.uniform(0.15, 0.4), w * rng.uniform(0.06, 0.16)
                d.ellipse([ex - rx, ey - ry, ex + rx, ey + ry], fill=int(rng.uniform(120, 235)))
        mask = mask.filter(ImageFilter.GaussianBlur(C / rng.uniform(40, 90)))
        img.paste(tuple(int(v) for v in cloud.clip(0, 255)), mask=mask)
    return img, kind, tuple(int(v) for v in bottom.clip(0, 255))


def _ridges(d, rng, C, haze, n_layers, top_range, base_range, snow_p=0.7, slope=False):
    """Layered mountain ridges, far (hazy, lighter) to near; snow caps above a ragged snow line."""
    for k in range(n_layers):
        near = (k + 1) / n_layers
        peak = C * rng.uniform(*top_range) + (1 - near) * C * 0.08
        base = C * rng.uniform(*base_range) + near * C * 0.06
        prof = _profile(rng, 65, rng.uniform(0.45, 0.65))
        xs = np.linspace(-0.05 * C, 1.05 * C, len(prof))
        ys = base - (base - peak) * prof
        rock = _pick(rng, SLOPE if slope and rng.random() < 0.5 else ROCK)
        colour = _mix(rock, haze, 0.65 * (1 - near))
        d.polygon(list(zip(xs, ys)) + [(1.05 * C, C * 1.05), (-0.05 * C, C * 1.05)], fill=colour)
        # gullies: darker strokes running down from the crest (texture, not colour)
        dark = _shade(colour, rng.uniform(0.7, 0.88))
        for i in rng.choice(len(xs), size=rng.integers(3, 9), replace=False):
            length = rng.uniform(0.05, 0.25) * C
            d.line([(xs[i], ys[i]), (xs[i] + rng.normal(0, 4), ys[i] + length)], fill=dark, width=max(1, C // 120))
        if rng.random() < snow_p:
            line = peak + (base - peak) * rng.uniform(0.25, 0.6) + rng.normal(0, C * 0.015, len(xs))
            bottom = np.maximum(ys, line)
            snow = _mix(_pick(rng, SNOW, 6), haze, 0.4 * (1 - near))
            d.polygon(list(zip(xs, ys)) + list(zip(xs[::-1], bottom[::-1])), fill=snow)


def _conifer(d, x, ground, h, leaves, trunk, snowy=False):
    w = h * 0.38
    d.rectangle([x - h * 0.03, ground - h * 0.35, x + h * 0.03, ground], fill=trunk)
    for j in range(3):  # three stacked tiers
        top = ground - h + j * h * 0.22
        bot = ground - h * 0.15 - (2 - j) * h * 0.2
        half = w * (0.5 + 0.25 * j)
        d.polygon([(x, top), (x + half, bot), (x - half, bot)], fill=leaves)
        if snowy:
            d.line([(x - half * 0.8, bot - 1), (x + half * 0.8, bot - 1)], fill=(235, 238, 242), width=max(1, int(h / 25)))


def _broadleaf(d, rng, x, ground, h, leaves_palette, trunk, bare=False):
    tw = max(1.0, h * rng.uniform(0.04, 0.08))
    d.rectangle([x - tw, ground - h * 0.6, x + tw, ground], fill=trunk)
    if bare:  # winter: branches only
        for _ in range(rng.integers(4, 8)):
            y0 = ground - h * rng.uniform(0.35, 0.6)
            d.line([(x, y0), (x + rng.normal(0, h * 0.25), y0 - h * rng.uniform(0.15, 0.4))], fill=trunk,
                   width=max(1, int(tw / 2)))
        return
    cx, cy, r = x, ground - h * 0.7, h * rng.uniform(0.22, 0.34)
    for _ in range(rng.integers(4, 8)):
        ox, oy, rr = rng.normal(0, r * 0.45), rng.normal(0, r * 0.3), r * rng.uniform(0.45, 0.8)
        d.ellipse([cx + ox - rr, cy + oy - rr, cx + ox + rr, cy + oy + rr], fill=_pick(rng, leaves_palette, 10))


def _tree(d, rng, x, ground, h, season):
    leaves, _ = SEASONS[season]
    trunk = _pick(rng, BARK, 8)
    if rng.random() < 0.45:
        colour = _pick(rng, SEASONS["summer"][0][2:4] if season != "winter" else [(50, 75, 60)], 10)
        _conifer(d, x, ground, h, colour, trunk, snowy=season == "winter")
    else:
        _broadleaf(d, rng, x, ground, h, leaves, trunk, bare=season == "winter" and rng.random() < 0.7)


def _windows(d, rng, box, rows, cols, style=None):
    """A grid of windows inside box (x0, y0, x1, y1): the texture that says "building"."""
    x0, y0, x1, y1 = box
    if rows < 1 or cols < 1 or x1 - x0 < 4 or y1 - y0 < 4:
        return
    cw, ch = (x1 - x0) / cols, (y1 - y0) / rows
    fx, fy = rng.uniform(0.35, 0.75), rng.uniform(0.4, 0.75)
    base = _pick(rng, WINDOW, 10)
    for r in range(rows):
        for c in range(cols):
            colour = base if rng.random() < 0.8 else _pick(rng, WINDOW, 10)
            wx, wy = x0 + c * cw + cw * (1 - fx) / 2, y0 + r * ch + ch * (1 - fy) / 2
            d.rectangle([wx, wy, wx + cw * fx, wy + ch * fy], fill=colour)


def _facade(d, rng, box, colour=None):
    x0, y0, x1, y1 = box
    colour = colour or _pick(rng, FACADE)
    d.rectangle(box, fill=colour)
    d.rectangle([x0, y0, x1, y0 + max(1, (y1 - y0) * 0.02)], fill=_shade(colour, 0.75))   # cornice
    floors = max(1, int((y1 - y0) / ((x1 - x0) * rng.uniform(0.12, 0.3) + 3)))
    cols = max(1, int((x1 - x0) / max(3.0, (y1 - y0) / floors * rng.uniform(0.7, 1.4))))
    _windows(d, rng, (x0 + 2, y0 + 3, x1 - 2, y1 - (y1 - y0) / (floors + 1)), floors, cols)
    if rng.random() < 0.5:  # shop front: a darker band with a big window
        band = y1 - (y1 - y0) / (floors + 1)
        d.rectangle([x0, band, x1, y1], fill=_shade(colour, 0.7))
        d.rectangle([x0 + (x1 - x0) * 0.1, band + 2, x1 - (x1 - x0) * 0.1, y1 - 1], fill=_pick(rng, WINDOW, 10))


def _car(d, rng, x, y, w):
    """A car seen from behind/side, bottom centre at (x, y), width w."""
    h = w * rng.uniform(0.45, 0.6)
    body = _pick(rng, CAR, 12)
    d.rectangle([x - w / 2, y - h * 0.6, x + w / 2, y - h * 0.15], fill=body)
    d.polygon([(x - w * 0.35, y - h * 0.6), (x - w * 0.25, y - h), (x + w * 0.25, y - h), (x + w * 0.35, y - h * 0.6)], fill=body)
    d.rectangle([x - w * 0.22, y - h * 0.92, x + w * 0.22, y - h * 0.64], fill=_pick(rng, WINDOW[:2], 8))
    for side in (-1, 1):
        d.rectangle([x + side * w * 0.42 - w * 0.07, y - h * 0.2, x + side * w * 0.42 + w * 0.07, y], fill=(25, 25, 25))


def _boat(d, rng, x, y, w):
    hull = _pick(rng, HULL, 10)
    d.polygon([(x - w / 2, y - w * 0.18), (x + w / 2, y - w * 0.18), (x + w * 0.38, y), (x - w * 0.38, y)], fill=hull)
    if rng.random() < 0.6:  # a sail
        d.line([(x, y - w * 0.18), (x, y - w * 1.1)], fill=(60, 50, 40), width=max(1, int(w / 20)))
        d.polygon([(x + 1, y - w * 1.05), (x + 1, y - w * 0.25), (x + w * 0.45, y - w * 0.25)], fill=_pick(rng, SNOW, 10))
    else:  # a cabin
        d.rectangle([x - w * 0.2, y - w * 0.38, x + w * 0.15, y - w * 0.18], fill=_pick(rng, HULL, 10))


def _water(img, d, rng, C, horizon, haze):
    deep = np.asarray(_pick(rng, WATER), float)
    far = np.asarray(_mix(deep, haze, rng.uniform(0.3, 0.6)), float)
    n = C - int(horizon)
    if n <= 0:
        return
    t = np.linspace(0, 1, n)[:, None] ** 0.7
    rows = far * (1 - t) + deep * t
    img.paste(Image.fromarray(np.repeat(rows[:, None, :], C, axis=1).clip(0, 255).astype(np.uint8)), (0, int(horizon)))
    light, dark = _shade(deep, rng.uniform(1.3, 1.7)), _shade(deep, 0.7)
    y = horizon + 1.0
    while y < C:                       # wave crests: short strokes, longer and sparser towards the viewer
        s = (y - horizon) / max(C - horizon, 1)
        for _ in range(int(3 + 10 * rng.random())):
            x, length = rng.uniform(0, C), C * (0.02 + 0.12 * s) * rng.uniform(0.5, 1.5)
            d.line([(x, y), (x + length, y + rng.normal(0, 0.6))], fill=light if rng.random() < 0.6 else dark,
                   width=max(1, int(1 + 2.5 * s)))
        y += 1.0 + 7.0 * s * rng.uniform(0.6, 1.4)


def _ice_wall(d, rng, C, top, bottom):
    """An ice cliff: a serrated top edge, vertical faces in shades of white and blue, crevasses."""
    n = rng.integers(12, 30)
    xs = np.linspace(-0.05 * C, 1.05 * C, n)
    tops = top + rng.uniform(-0.06, 0.12, n) * C
    base = _pick(rng, ICE, 8)
    for i in range(n - 1):  # faces between serrations, alternately lit and shaded
        face = _shade(base, rng.uniform(0.8, 1.08))
        d.polygon([(xs[i], tops[i]), (xs[i + 1], tops[i + 1]), (xs[i + 1], bottom), (xs[i], bottom)], fill=face)
    crev = _pick(rng, CREVASSE, 10)
    for _ in range(rng.integers(5, 14)):
        x, y = rng.uniform(0, C), rng.uniform(top, bottom)
        pts = [(x, y)]
        for _ in range(rng.integers(2, 5)):
            x, y = x + rng.normal(0, C * 0.01), y + rng.uniform(0.02, 0.08) * C
            pts.append((x, min(y, bottom)))
        d.line(pts, fill=crev, width=max(1, int(C * rng.uniform(0.004, 0.012))))


def _ice_tongue(d, rng, C, haze):
    """A valley glacier: ice flowing towards the viewer between rock slopes, crossed by crevasses."""
    top, left, right = C * rng.uniform(0.3, 0.5), C * rng.uniform(-0.3, 0.2), C * rng.uniform(0.8, 1.3)
    mid = C * rng.uniform(0.35, 0.65)
    t = np.linspace(0, 1, 12)
    wobble = rng.normal(0, C * 0.03, (2, 12))
    lx = mid - C * 0.12 + (left - mid + C * 0.12) * t + wobble[0]          # ragged margins, not straight kerbs
    rx = mid + C * 0.12 + (right - mid - C * 0.12) * t + wobble[1]
    ys = top + (C - top) * t
    rock = _pick(rng, ROCK)
    d.polygon([(-0.1 * C, top - C * 0.15)] + list(zip(lx, ys)) + [(-0.1 * C, C)], fill=_shade(rock, 0.9))
    d.polygon([(1.1 * C, top - C * 0.12)] + list(zip(rx, ys)) + [(1.1 * C, C)], fill=rock)
    ice = _pick(rng, ICE, 8)
    d.polygon(list(zip(lx, ys)) + list(zip(rx[::-1], ys[::-1])), fill=ice)
    crev = _pick(rng, CREVASSE, 10)
    for _ in range(rng.integers(10, 24)):   # transverse crevasses: arcs across the flow, wider when nearer
        k = rng.uniform(0, 11)
        i = int(k)
        s = k / 11
        y = ys[i] + (ys[i + 1] - ys[i]) * (k - i)
        xl, xr = lx[i], rx[i]
        a, b = xl + (xr - xl) * rng.uniform(0, 0.5), xl + (xr - xl) * rng.uniform(0.5, 1.0)
        d.arc([a, y - C * 0.03 * s, b, y + C * 0.05 * s], 200, 340, fill=crev, width=max(1, int(1 + 3 * s)))
    for edge in (lx, rx):  # lateral moraines: dark debris along the margins
        d.line(list(zip(edge, ys)), fill=_shade(rock, 0.55), width=max(1, C // 50))


def _seracs(d, rng, C, top):
    """Jumbled ice blocks: quadrilaterals in blue-white shades with dark gaps."""
    for _ in range(rng.integers(15, 35)):
        x, y = rng.uniform(-0.1, 1.1) * C, rng.uniform(top, C * 1.05)
        w, h = rng.uniform(0.06, 0.2) * C, rng.uniform(0.05, 0.18) * C
        pts = [(x + rng.normal(0, w * 0.15) + dx * w, y + rng.normal(0, h * 0.15) + dy * h) for dx, dy in ((0, 0), (1, -0.2), (1.1, 1), (-0.1, 1.1))]
        d.polygon(pts, fill=_pick(rng, ICE, 12), outline=_pick(rng, CREVASSE, 10))


def _floes(d, rng, C, horizon, n):
    for _ in range(n):
        y = rng.uniform(horizon + 2, C)
        s = (y - horizon) / max(C - horizon, 1)
        x, w = rng.uniform(0, C), C * (0.03 + 0.2 * s) * rng.uniform(0.5, 1.5)
        d.polygon([(x, y), (x + w * 0.3, y - w * 0.12 * s - 1), (x + w, y - w * 0.1 * s), (x + w * 0.85, y + 2)],
                  fill=_pick(rng, SNOW, 10))


# ---- the six classes -----------------------------------------------------------------------------

def _mountain(rng, C):
    img, kind, haze = _sky(rng, C)
    d = ImageDraw.Draw(img)
    _ridges(d, rng, C, haze, rng.integers(2, 5), (0.05, 0.35), (0.5, 0.85), snow_p=0.75, slope=True)
    if rng.random() < 0.2:  # a small glacier in a high valley (a glacier overlap, as on the real photos)
        x, y, w = rng.uniform(0.2, 0.8) * C, rng.uniform(0.3, 0.55) * C, rng.uniform(0.1, 0.25) * C
        d.polygon([(x - w, y), (x + w, y), (x + w * 0.3, y + w * 1.2), (x - w * 0.3, y + w * 1.1)], fill=_pick(rng, ICE, 8))
    fore = rng.random()
    if fore < 0.3:      # a band of conifers at the foot (a forest overlap)
        ground = C * rng.uniform(0.85, 1.0)
        for x in np.sort(rng.uniform(0, C, rng.integers(6, 18))):
            _conifer(d, x, ground + rng.uniform(0, 0.1) * C, C * rng.uniform(0.08, 0.2), _pick(rng, SEASONS["summer"][0]), (60, 50, 40))
    elif fore < 0.5:    # a lake below (a sea overlap)
        _water(img, d, rng, C, C * rng.uniform(0.75, 0.9), haze)
    elif fore < 0.7:    # scree
        for _ in range(rng.integers(10, 30)):
            x, y, r = rng.uniform(0, C), rng.uniform(0.8, 1.0) * C, rng.uniform(0.005, 0.025) * C
            d.ellipse([x - r, y - r * 0.7, x + r, y + r * 0.7], fill=_pick(rng, ROCK, 16))
    return img, kind


def _glacier(rng, C):
    img, kind, haze = _sky(rng, C)
    d = ImageDraw.Draw(img)
    if rng.random() < 0.7:  # mountains behind the ice (a mountain overlap); sometimes they fill half the frame
        low = rng.random() < 0.25
        _ridges(d, rng, C, haze, rng.integers(1, 3), (0.05, 0.3), (0.6, 0.75) if low else (0.4, 0.6), snow_p=0.9)
    style = rng.random()
    if style < 0.4:         # a tidewater cliff with floes (a sea overlap)
        waterline = C * rng.uniform(0.6, 0.85)
        _ice_wall(d, rng, C, C * rng.uniform(0.3, 0.5), waterline)
        _water(img, d, rng, C, waterline, haze)
        _floes(d, rng, C, waterline, rng.integers(2, 10))
    elif style < 0.75:
        _ice_tongue(d, rng, C, haze)
    else:
        top = C * rng.uniform(0.35, 0.55)
        d.rectangle([0, top, C, C], fill=_pick(rng, ICE, 8))
        _seracs(d, rng, C, top)
    return img, kind


def _sea(rng, C):
    img, kind, haze = _sky(rng, C)
    d = ImageDraw.Draw(img)
    horizon = C * rng.uniform(0.3, 0.62)
    if rng.random() < 0.3:  # a far coast or island (a mountain overlap, kept low)
        _ridges(d, rng, C, haze, 1, (horizon / C - 0.12, horizon / C - 0.04), (horizon / C + 0.01, horizon / C + 0.02), snow_p=0.2)
    if rng.random() < 0.15:  # a town on the far shore (a buildings overlap, small and hazy)
        x = rng.uniform(-0.1, 0.6) * C
        for _ in range(rng.integers(3, 9)):
            w, h = C * rng.uniform(0.03, 0.08), C * rng.uniform(0.03, 0.12)
            d.rectangle([x, horizon - h, x + w, horizon + 1], fill=_mix(_pick(rng, FACADE), haze, 0.4))
            x += w * rng.uniform(0.8, 1.2)
    _water(img, d, rng, C, horizon, haze)
    if kind in ("sunset", "clear") and rng.random() < 0.5:   # glitter of the sun on the water
        cx = rng.uniform(0.2, 0.8) * C
        for _ in range(rng.integers(15, 40)):
            y = rng.uniform(horizon, C)
            s = (y - horizon) / (C - horizon)
            x = cx + rng.normal(0, C * (0.02 + 0.08 * s))
            d.line([(x, y), (x + C * 0.03 * (0.3 + s), y)], fill=_mix(haze, (255, 255, 240), 0.6), width=1)
    if rng.random() < 0.4:  # a beach with a foam line
        edge = C * rng.uniform(0.72, 0.9)
        xs = np.linspace(-0.05 * C, 1.05 * C, 12)
        ys = edge + rng.normal(0, C * 0.025, 12) + np.linspace(0, rng.normal(0, C * 0.1), 12)
        d.polygon(list(zip(xs, ys)) + [(1.05 * C, 1.05 * C), (-0.05 * C, 1.05 * C)], fill=_pick(rng, SAND))
        d.line(list(zip(xs, ys)), fill=(240, 242, 240), width=max(1, C // 60))
    if rng.random() < 0.55:
        for _ in range(rng.integers(1, 4)):
            y = rng.uniform(horizon + 2, C * 0.9)
            s = (y - horizon) / max(C - horizon, 1)
            _boat(d, rng, rng.uniform(0.1, 0.9) * C, y, C * (0.04 + 0.2 * s))
    if rng.random() < 0.15:  # ice floes (a glacier overlap)
        _floes(d, rng, C, horizon, rng.integers(2, 8))
    return img, kind


def _forest(rng, C):
    season = ("summer", "autumn", "winter", "spring")[rng.integers(4)]
    leaves, ground_palette = SEASONS[season]
    if rng.random() < 0.55:
        img, kind, haze = _sky(rng, C)
        if rng.random() < 0.3:  # hills or mountains behind the trees (a mountain overlap)
            _ridges(ImageDraw.Draw(img), rng, C, haze, rng.integers(1, 3), (0.1, 0.35), (0.5, 0.7), snow_p=0.3, slope=True)
    else:  # inside the wood: no sky, a dim wall of far foliage
        kind = SKY_KINDS[rng.integers(len(SKY_KINDS))]
        far = _pick(rng, leaves)
        haze = _mix(far, SKIES[kind][1], 0.5)
        img = Image.new("RGB", (C, C), _mix(far, haze, 0.5))
    d = ImageDraw.Draw(img)
    ground = C * rng.uniform(0.62, 0.92)
    d.rectangle([0, ground, C, C], fill=_pick(rng, ground_palette))
    if rng.random() < 0.3:  # a path into the wood
        vx = rng.uniform(0.3, 0.7) * C
        d.polygon([(vx - 2, ground), (vx + 2, ground), (vx + C * rng.uniform(0.1, 0.4), C), (vx - C * rng.uniform(0.1, 0.4), C)],
                  fill=_pick(rng, [(130, 110, 85), (150, 140, 120), (110, 95, 80)]))
    for depth in range(3):  # far rows small and hazy, near rows big: depth from size and haze
        n = (30, 14, 5)[depth] + rng.integers(0, 6)
        for x in np.sort(rng.uniform(-0.1, 1.1, n)) * C:
            h = C * rng.uniform(*((0.15, 0.3), (0.35, 0.6), (0.7, 1.1))[depth])
            g = ground + depth * C * 0.03 + rng.uniform(0, 0.05) * C
            _tree(d, rng, x, g, h, season)
    for x in rng.uniform(0, C, rng.integers(1, 6)):  # near trunks crossing the frame: bark texture up close
        w, bark = C * rng.uniform(0.02, 0.08), _pick(rng, BARK, 10)
        d.rectangle([x - w, -1, x + w, C], fill=bark)
        for _ in range(rng.integers(3, 9)):
            y = rng.uniform(0, C)
            d.line([(x - w, y), (x + w, y + rng.normal(0, 2))], fill=_shade(bark, rng.uniform(0.6, 1.3)), width=1)
    return img, kind


def _buildings(rng, C):
    img, kind, haze = _sky(rng, C)
    d = ImageDraw.Draw(img)
    x = -rng.uniform(0, 0.2) * C
    while x < C:  # facades side by side, varied heights; some rise out of the frame
        w = C * rng.uniform(0.25, 0.7)
        top = C * rng.uniform(-0.3, 0.45)
        if rng.random() < 0.25:   # a glass tower: a fine grid on a blue/green/grey body
            body = _pick(rng, [(70, 100, 130), (90, 120, 110), (120, 125, 135), (60, 70, 90)])
            d.rectangle([x, top, x + w, C], fill=body)
            _windows(d, rng, (x, top, x + w, C), int(rng.uniform(10, 25)), int(rng.uniform(5, 12)))
        else:
            _facade(d, rng, (x, top, x + w, C))
        x += w * rng.uniform(0.85, 1.0)
    if rng.random() < 0.25:  # the road in front, with a car or two (a street overlap)
        top = C * rng.uniform(0.8, 0.9)
        d.rectangle([0, top, C, C], fill=_pick(rng, ASPHALT))
        for cx in rng.uniform(0.1, 0.9, rng.integers(0, 3)) * C:
            _car(d, rng, cx, C * rng.uniform(0.95, 1.0), C * rng.uniform(0.15, 0.3))
    if rng.random() < 0.3:  # trees in front (a forest overlap)
        season = ("summer", "autumn", "winter", "spring")[rng.integers(4)]
        for tx in rng.uniform(0, C, rng.integers(1, 4)):
            _tree(d, rng, tx, C * rng.uniform(0.95, 1.05), C * rng.uniform(0.3, 0.6), season)
    return img, kind


def _street(rng, C):
    img, kind, haze = _sky(rng, C)
    d = ImageDraw.Draw(img)
    vx, vy = C * rng.uniform(0.3, 0.7), C * rng.uniform(0.3, 0.5)
    if rng.random() < 0.2:  # mountains at the end of the street (a mountain overlap)
        _ridges(d, rng, C, haze, 1, (vy / C - 0.25, vy / C - 0.1), (vy / C, vy / C + 0.05), snow_p=0.6)
    left, right = C * rng.uniform(-0.4, 0.15), C * rng.uniform(0.85, 1.4)
    walk = C * rng.uniform(0.1, 0.3)
    # buildings on both sides, in perspective: their roof lines run to the vanishing point
    for side in (-1, 1):
        if rng.random() < 0.8:
            edge = left - walk if side < 0 else right + walk
            outer = -0.2 * C if side < 0 else 1.2 * C
            roof = C * rng.uniform(-0.3, 0.2)
            colour = _pick(rng, FACADE)
            near_x = vx + (edge - vx) * 1.0
            d.polygon([(outer, roof), (vx + side * C * 0.02, vy - C * 0.04), (vx + side * C * 0.02, vy), (near_x, C), (outer, C)], fill=colour)
            dark = _pick(rng, WINDOW, 10)
            for f in np.linspace(0.1, 0.9, rng.integers(3, 8)):          # floor lines towards the vanishing point
                y_out = roof + (C - roof) * f
                d.line([(outer, y_out), (vx + side * C * 0.02, vy - C * 0.04 * (1 - f))], fill=_shade(colour, 0.7), width=1)
            for s in np.geomspace(0.08, 1.0, rng.integers(4, 10)):      # window columns, closer together in the distance
                xw = vx + (outer - vx) * s
                yt, yb = vy + (roof - vy) * s, vy + (C - vy) * s
                d.line([(xw, yt + (yb - yt) * 0.1), (xw, yb - (yb - yt) * 0.15)], fill=dark, width=max(1, int(C * 0.03 * s)))
    # sidewalks and the road
    d.polygon([(vx - 1, vy), (vx + 1, vy), (right + walk, C), (left - walk, C)], fill=_pick(rng, [(170, 168, 162), (140, 140, 140), (190, 180, 170)]))
    road = _pick(rng, ASPHALT)
    d.polygon([(vx - 1, vy), (vx + 1, vy), (right, C), (left, C)], fill=road)
    mark = (235, 235, 225) if rng.random() < 0.7 else (230, 200, 60)
    centre = (left + right) / 2
    for s0 in np.geomspace(0.05, 1.0, 12)[:-1]:   # dashed centre line: dashes grow towards the viewer
        s1 = s0 * 1.12
        d.line([(vx + (centre - vx) * s0, vy + (C - vy) * s0), (vx + (centre - vx) * s1, vy + (C - vy) * s1)],
               fill=mark, width=max(1, int(C * 0.012 * s0 + 1)))
    for edge in (left, right):
        d.line([(vx, vy), (edge, C)], fill=_shade(mark, 0.9), width=max(1, C // 100))
    for _ in range(rng.integers(0, 4)):  # cars on the road
        s = rng.uniform(0.15, 0.9)
        lane = rng.uniform(0.25, 0.75)
        x = vx + ((left + (right - left) * lane) - vx) * s
        _car(d, rng, x, vy + (C - vy) * s, C * 0.45 * s)
    for side in (-1, 1):  # lamp posts along the kerb
        if rng.random() < 0.6:
            edge = left - walk * 0.5 if side < 0 else right + walk * 0.5
            for s in np.geomspace(0.2, 1.0, rng.integers(2, 5)):
                x, y = vx + (edge - vx) * s, vy + (C - vy) * s
                h = C * 0.7 * s
                d.line([(x, y), (x, y - h)], fill=(50, 50, 55), width=max(1, int(C * 0.012 * s)))
                d.line([(x, y - h), (x - side * h * 0.15, y - h)], fill=(50, 50, 55), width=max(1, int(C * 0.01 * s)))
    if rng.random() < 0.35:  # street trees (a forest overlap)
        season = ("summer", "autumn", "winter", "spring")[rng.integers(4)]
        for side in (-1, 1):
            edge = left - walk * 0.6 if side < 0 else right + walk * 0.6
            for s in np.geomspace(0.25, 1.0, rng.integers(1, 4)):
                _tree(d, rng, vx + (edge - vx) * s, vy + (C - vy) * s, C * 0.6 * s, season)
    return img, kind


_DRAW = {"buildings": _buildings, "forest": _forest, "glacier": _glacier, "mountain": _mountain, "sea": _sea, "street": _street}


# ---- per-image jitter: what a camera and a photographer add --------------------------------------

def _jitter(img, kind, rng, size):
    # Strong on purpose: ImageNet features alone are not the whole answer (frozen ~87 %, fine-tuned
    # ~90 % on the default set). A few dark, noisy or blurred pictures are hard even for a person.
    C = img.width
    # 1) small rotation, then a crop that keeps the rotated corners out; 2) zoom; 3) flip
    angle = rng.uniform(-12, 12) if rng.random() < 0.6 else 0.0
    max_scale = 0.78 if angle else 1.0
    if angle:
        img = img.rotate(angle, resample=Image.BILINEAR)
    scale = rng.uniform(0.42, max_scale)
    w = C * scale
    margin = (C - w) / 2 if not angle else C * 0.11
    x0 = rng.uniform(min(margin, C - w - margin), max(margin, C - w - margin)) if angle else rng.uniform(0, C - w)
    y0 = rng.uniform(min(margin, C - w - margin), max(margin, C - w - margin)) if angle else rng.uniform(0, C - w)
    img = img.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + w, y0 + w))
    if rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    # 4) optics: a little blur
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.4) * size / 128))
    elif rng.random() < 0.35:  # a low-resolution camera: detail lost, then scaled back up
        small = max(16, int(size * rng.uniform(0.25, 0.45)))
        img = img.resize((small, small), Image.BILINEAR).resize((size, size), Image.BILINEAR)
    # 5) colour: hue shift, saturation, the light of the sky, a colour cast, gamma, contrast
    hsv = np.asarray(img.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.normal(0, 18))) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.45, 1.4), 0, 255).astype(np.uint8)
    a = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"), np.float32) / 255.0
    a *= np.asarray(LIGHT[kind], np.float32) * (1 + rng.normal(0, 0.11, 3)).astype(np.float32)
    a = np.clip(a, 0, 1) ** rng.uniform(0.65, 1.5)
    a = (a - 0.5) * rng.uniform(0.65, 1.2) + 0.5 + rng.normal(0, 0.06)
    if rng.random() < 0.18:   # some black-and-white photos
        a = np.repeat(a @ np.array([[0.299], [0.587], [0.114]], np.float32), 3, axis=2)
    # 6) sensor noise, and a soft large-scale brightness variation (uneven light)
    a += rng.normal(0, rng.uniform(0.0, 0.1), a.shape).astype(np.float32)
    if rng.random() < 0.5:
        g = rng.normal(0, 1, (4, 4)).astype(np.float32)
        light = np.asarray(Image.fromarray(g, "F").resize((size, size), Image.BICUBIC))
        a *= 1 + 0.14 * light[..., None]
    return Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


def draw_scene(cls: str, size: int = 128, seed: int = 0, split: str = "train", index: int = 0) -> Image.Image:
    """One picture of class `cls`, the same for the same (seed, split, class, index)."""
    if cls not in CLASSES:
        raise VisionDemoError(f"unknown scene class {cls!r}: choose one of {', '.join(CLASSES)}")
    rng = np.random.default_rng([int(seed), ("train", "test").index(split), CLASSES.index(cls), int(index)])
    canvas = int(round(size * 1.25))       # drawn larger, then cropped / zoomed
    img, kind = _DRAW[cls](rng, canvas)
    return _jitter(img, kind, rng, size)


# ---- writing the data set ------------------------------------------------------------------------

def _write_into(folder: Path, per_class: int, size: int, seed: int, test_per_class: int) -> int:
    n = 0
    for split, count in (("train", per_class), ("test", test_per_class)):
        for cls in CLASSES:
            out = folder / split / cls
            out.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                draw_scene(cls, size, seed, split, i).save(out / f"{cls}_{i:04d}.png", optimize=False)
                n += 1
    return n


def _check_args(per_class, size, test_per_class):
    if int(per_class) < 1 or int(per_class) > 5000:
        raise VisionDemoError(f"per_class must be between 1 and 5000 (got {per_class})")
    if int(size) < 32 or int(size) > 1024:
        raise VisionDemoError(f"size must be between 32 and 1024 pixels (got {size}); 96-128 is the demo's choice")
    if test_per_class is not None and (int(test_per_class) < 1 or int(test_per_class) > 5000):
        raise VisionDemoError(f"test_per_class must be between 1 and 5000 (got {test_per_class})")


def _is_complete(folder: Path, per_class: int, size: int, seed: int, test_per_class: int) -> bool:
    try:
        meta = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return meta.get("version") == GENERATOR_VERSION and meta.get("per_class") == per_class and \
        meta.get("size") == size and meta.get("seed") == seed and meta.get("test_per_class") == test_per_class


def write_scenes(out, per_class: int = 40, size: int = 128, seed: int = 0, test_per_class: int | None = None) -> str:
    """Write out/train/<class>/*.png and out/test/<class>/*.png; returns a one-line summary.

    test_per_class defaults to 3/4 of per_class. The set is drawn into a temporary folder beside
    `out` and renamed into place at the end, so a crash never leaves a half set that looks complete.
    An existing `out` is replaced only if it is an earlier scenes set (it holds scenes.json) or empty.
    """
    _check_args(per_class, size, test_per_class)
    per_class, size, seed = int(per_class), int(size), int(seed)
    test_per_class = int(test_per_class) if test_per_class is not None else max(1, round(per_class * 3 / 4))
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / _MARKER).is_file())):
        raise VisionDemoError(f"{out} exists and is not a scenes data set: choose a new or empty folder")
    start = time.perf_counter()
    with building(out, replace=True) as tmp:   # an earlier set (or an empty folder) is swapped out
        n = _write_into(tmp, per_class, size, seed, test_per_class)
        seconds = time.perf_counter() - start
        meta = {"version": GENERATOR_VERSION, "classes": list(CLASSES), "per_class": per_class, "size": size,
                "seed": seed, "test_per_class": test_per_class, "images": n, "seconds": round(seconds, 2)}
        (tmp / _MARKER).write_text(json.dumps(meta, indent=1))
    return (f"wrote {n} images ({len(CLASSES)} classes x {per_class} train + {test_per_class} test, "
            f"{size} px, seed {seed}) to {out} in {seconds:.1f} s")


_default_lock = threading.Lock()


def default_scenes(size: int = DEFAULT_SIZE, per_class: int = DEFAULT_PER_CLASS, seed: int = DEFAULT_SEED) -> Path:
    """The offline default set, generated once into WORK/datasets/scenes-<size>-<per_class>-<seed>/ and reused."""
    _check_args(per_class, size, None)
    folder = settings.subdir("datasets") / f"scenes-{int(size)}-{int(per_class)}-{int(seed)}"
    test_per_class = max(1, round(int(per_class) * 3 / 4))
    # two jobs starting at once draw the set once: two threads here, or two processes (Ray workers) on one folder
    with _default_lock, locked(folder.parent / f".{folder.name}.lock"):
        for debris in folder.parent.glob(f".{folder.name}.*-*"):   # a crashed run's temporary folders
            if time.time() - debris.stat().st_mtime > 3600:          # (an hour old: not a run in progress)
                shutil.rmtree(debris, ignore_errors=True)
        if not _is_complete(folder, int(per_class), int(size), int(seed), test_per_class):
            if folder.exists() and not (folder / _MARKER).is_file():
                shutil.rmtree(folder)   # debris of an older layout: ours are always complete or absent
            write_scenes(folder, per_class, size, seed)
    return folder
