"""Pictures of two kinds of objects at known places, for the Your objects tests (a fake camera shows them).

    frame, boxes = scene(seed=3)              # 640x480 RGB, [("ball", x1, y1, x2, y2), ("book", ...)]
    write_y4m(path, [scene(i)[0] for i in range(10)])   # chromium's --use-file-for-fake-video-capture

A "ball" is an orange disc with a highlight, a "book" a dark-blue rectangle with a pale spine, on a
noisy desk-coloured background with some clutter (grey blobs that are neither). Positions jitter a little
from picture to picture, as a student's objects do between webcam frames.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

W, H = 640, 480
BALL_AT = (150, 250)      # centre of the ball in the fake camera's frames
BOOK_AT = (450, 230)      # centre of the book


def scene(seed: int = 0, jitter: float = 12.0, ball=True, book=True, ball_at=BALL_AT, book_at=BOOK_AT,
          size_jitter: bool = True):
    """(picture, [(class, x1, y1, x2, y2)]) for one seed; jitter 0 and size_jitter False: the objects exactly at
    ball_at / book_at with their standard sizes (what the fake camera shows)."""
    rng = np.random.default_rng(seed)
    base = np.array([186, 160, 128]) + rng.integers(-20, 20, size=3)
    pixels = base + rng.normal(0, 9, size=(H, W, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(3):   # clutter
        x, y, r = rng.uniform(0, W), rng.uniform(0, H), rng.uniform(10, 30)
        draw.ellipse([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=tuple(int(v) for v in rng.integers(90, 140, 3)))
    boxes = []
    if ball:
        cx, cy = (np.asarray(ball_at) + rng.normal(0, jitter, 2))
        r = 55 + (rng.uniform(-6, 6) if size_jitter else 0)
        cx, cy = np.clip(cx, r + 2, W - r - 2), np.clip(cy, r + 2, H - r - 2)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(235, 110, 20))
        draw.ellipse([cx - r * 0.5, cy - r * 0.6, cx - r * 0.1, cy - r * 0.2], fill=(255, 200, 140))
        boxes.append(("ball", cx - r, cy - r, cx + r, cy + r))
    if book:
        cx, cy = (np.asarray(book_at) + rng.normal(0, jitter, 2))
        w, h = (120 + rng.uniform(-8, 8), 160 + rng.uniform(-8, 8)) if size_jitter else (120, 160)
        cx, cy = np.clip(cx, w / 2 + 2, W - w / 2 - 2), np.clip(cy, h / 2 + 2, H - h / 2 - 2)
        draw.rectangle([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=(25, 40, 120))
        draw.rectangle([cx - w / 2, cy - h / 2, cx - w / 2 + 14, cy + h / 2], fill=(220, 220, 200))
        boxes.append(("book", cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return img, [(c, *(round(float(v), 1) for v in xyxy)) for c, *xyxy in boxes]


def write_y4m(path, frames, fps: int = 10) -> None:
    """Frames (PIL, all W x H) as a YUV4MPEG2 file (4:2:0, what chromium's fake camera reads)."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            y, cb, cr = frame.convert("YCbCr").split()
            f.write(b"FRAME\n")
            f.write(y.tobytes())
            f.write(cb.resize((W // 2, H // 2)).tobytes())
            f.write(cr.resize((W // 2, H // 2)).tobytes())
