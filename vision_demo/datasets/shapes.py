"""A generated YOLO-format detection set of three shapes, so the detection lab works offline in seconds.

    python -m vision_demo data shapes /tmp/shapes --train 64 --val 16 --size 320
    # /tmp/shapes/images/{train,val}/*.jpg, labels/{train,val}/*.txt, data.yaml (absolute `path:`)

Each image has 2-6 shapes (circle, square, triangle) of varied colour and size on a plain, gradient or
noisy background; shapes may overlap a little, as objects do. A label line is YOLO's
`class cx cy w h`, all normalised to 0..1. Everything is a function of the seed: the same seed gives
the same files, byte for byte.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vision_demo import settings
from vision_demo.folders import building

NAMES = ("circle", "square", "triangle")
_MIN_SHAPES, _MAX_SHAPES = 2, 6


def write_shapes(out, train: int = 64, val: int = 16, size: int = 320, seed: int = 0) -> Path:
    """Write `train` + `val` images with labels and a data.yaml under `out`; return the data.yaml path."""
    if train < 1 or val < 1:
        raise ValueError("write_shapes needs at least one train and one val image")
    if size < 64:
        raise ValueError(f"size {size} is too small to draw shapes on: use 64 px or more")
    root = Path(out).expanduser().resolve()
    for split, count in (("train", train), ("val", val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])  # one stream per image
            image, labels = _draw_image(rng, size)
            stem = f"{split}_{i:04d}"
            image.save(root / "images" / split / f"{stem}.jpg", quality=92)
            (root / "labels" / split / f"{stem}.txt").write_text(
                "".join(f"{c} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in labels))
    return write_data_yaml(root, NAMES)


def write_data_yaml(root: Path, names, splits=("train", "val"), path_in_yaml: Path | None = None) -> Path:
    """data.yaml with an ABSOLUTE `path:` (a relative one resolves against Ultralytics' datasets_dir)."""
    import yaml

    data = {"path": str(path_in_yaml or root), **{s: f"images/{s}" for s in splits},
            "names": {i: str(n) for i, n in enumerate(names)}}
    yaml_path = Path(root) / "data.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return yaml_path


def default_shapes(train: int = 64, val: int = 16, size: int = 320, seed: int = 0) -> Path:
    """The offline default set, generated once into WORK/datasets/shapes-<train>-<val>-<size>-<seed>/."""
    final = settings.subdir("datasets") / f"shapes-{train}-{val}-{size}-{seed}"
    if (final / "data.yaml").exists():
        return final / "data.yaml"
    with building(final) as tmp:   # a reader never sees half a data set
        write_shapes(tmp, train=train, val=val, size=size, seed=seed)
        write_data_yaml(tmp, NAMES, path_in_yaml=final)
    return final / "data.yaml"


# ---- drawing ---------------------------------------------------------------------------------
def _draw_image(rng: np.random.Generator, size: int) -> tuple[Image.Image, list[tuple]]:
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    boxes: list[tuple[float, float, float, float]] = []
    labels = []
    for _ in range(int(rng.integers(_MIN_SHAPES, _MAX_SHAPES + 1))):
        for _attempt in range(20):  # find a place that does not hide an earlier shape
            cls = int(rng.integers(len(NAMES)))
            side = float(rng.uniform(0.10, 0.35)) * size
            cx, cy = rng.uniform(side / 2, size - side / 2, size=2)
            points = _shape_points(cls, cx, cy, side, float(rng.uniform(0, 2 * math.pi)))
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            box = (max(min(xs), 0), max(min(ys), 0), min(max(xs), size - 1), min(max(ys), size - 1))
            if all(_overlap(box, other) < 0.35 for other in boxes):
                break
        else:
            continue
        colour = _colour_unlike(rng, image.getpixel((int(cx), int(cy))))
        if cls == 0:
            draw.ellipse([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], fill=colour)
        else:
            draw.polygon(points, fill=colour)
        boxes.append(box)
        x1, y1, x2, y2 = box
        labels.append((cls, (x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.2))))
    return image, labels


def _shape_points(cls: int, cx: float, cy: float, side: float, angle: float) -> list[tuple[float, float]]:
    r = side / 2
    if cls == 0:  # circle: its bounding square
        return [(cx - r, cy - r), (cx + r, cy + r)]
    if cls == 1:  # square, turned by at most 20 degrees so it still reads as a square
        turn = (angle % (math.pi / 2)) / (math.pi / 2) * math.radians(40) - math.radians(20)
        return [(cx + r * math.sqrt(2) * math.cos(turn + math.pi / 4 + k * math.pi / 2),
                 cy + r * math.sqrt(2) * math.sin(turn + math.pi / 4 + k * math.pi / 2)) for k in range(4)]
    # triangle: equilateral, any rotation
    return [(cx + r * math.cos(angle + k * 2 * math.pi / 3), cy + r * math.sin(angle + k * 2 * math.pi / 3))
            for k in range(3)]


def _overlap(a, b) -> float:
    """Intersection over the smaller box: 1.0 when one box hides inside the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(smaller, 1e-9)


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    kind = rng.integers(3)
    base = rng.integers(0, 256, size=3)
    if kind == 0:  # plain
        array = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    elif kind == 1:  # linear gradient between two colours
        other = rng.integers(0, 256, size=3)
        t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
        array = base * (1 - t) + other * t
        array = np.broadcast_to(array, (size, size, 3))
        if rng.random() < 0.5:
            array = array.transpose(1, 0, 2)
    else:  # noisy texture
        array = base + rng.normal(0, 30, size=(size, size, 3))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def _colour_unlike(rng: np.random.Generator, background) -> tuple[int, int, int]:
    """A random colour far enough from the background that the shape is visible."""
    for _ in range(50):
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - np.asarray(background)).sum() > 180:
            break
    return tuple(int(c) for c in colour)
