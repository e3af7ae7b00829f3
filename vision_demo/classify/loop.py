"""The training loops and their metrics, in the shape of torchvision's references/classification/train.py.

    seed_everything(0)
    loader = make_loader(dataset, batch_size=32, shuffle=True, device=device, seed=0)
    stats = train_one_epoch(model, criterion, optimizer, loader, device, epoch=1, ctx=ctx, epochs=3)
    evaluation = evaluate(model, criterion, test_loader, device, ctx)   # loss, acc, every prediction
    classification_report(evaluation["targets"], evaluation["preds"], classes)

`ctx` is the job's JobContext (progress a few times a second, the stop flag every batch); None runs the
loop bare (benchmarks, a notebook).
"""
from __future__ import annotations

import os
import random
import time
from typing import Any

from vision_demo import devices


class Meter:
    """Running mean of a loss and accuracy over the images seen (like torchvision's SmoothedValue)."""

    def __init__(self) -> None:
        self.loss_sum, self.correct, self.count = 0.0, 0, 0

    def update(self, loss: float, correct: int, n: int) -> None:
        self.loss_sum += loss * n
        self.correct += correct
        self.count += n

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.count, 1)

    @property
    def acc(self) -> float:
        return self.correct / max(self.count, 1)


def classification_report(targets: list[int], preds: list[int], classes: list[str]) -> dict[str, Any]:
    """Confusion matrix (rows = true class), per-class precision/recall/F1, the most confused pairs.

    Counted from the matrix with numpy (scikit-learn gives the same numbers, but importing it costs ~1 s
    that the first training job of a server would pay): precision = right / predicted as the class,
    recall = right / truly the class, F1 = their harmonic mean; 0 where a class was never predicted or seen.
    """
    import numpy as np

    n = len(classes)
    t, p = np.asarray(targets, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    matrix = np.bincount(t * n + p, minlength=n * n).reshape(n, n) if len(t) else np.zeros((n, n), dtype=np.int64)
    right, predicted, support = np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, right / predicted, 0.0)
        recall = np.where(support > 0, right / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    matrix = matrix.tolist()
    per_class = {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                     "support": int(support[i])} for i, c in enumerate(classes)}
    pairs = [{"true": classes[a], "pred": classes[b], "count": matrix[a][b]}
             for a in range(n) for b in range(n) if a != b and matrix[a][b] > 0]
    pairs.sort(key=lambda d: -d["count"])
    return {"confusion_matrix": matrix, "per_class": per_class, "most_confused": pairs[:6]}


def peak_memory(device) -> tuple[float | None, str]:
    """(MB, what it measures): CUDA's max allocated on a GPU, else this process's peak resident memory."""
    if device.type == "cuda":
        return devices.peak_memory_mb(device), "cuda max allocated"
    try:
        import resource
    except ImportError:  # Windows
        return None, "unknown"
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # kilobytes on Linux (bytes on macOS)
    return (kb / 2**20 if os.uname().sysname == "Darwin" else kb / 1024), "process peak RSS"


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)   # also seeds CUDA


def make_loader(dataset, batch_size: int, shuffle: bool, device, seed: int):
    import torch
    from torch.utils.data import DataLoader

    on_gpu = device.type == "cuda"
    # CPU: num_workers=0. Worker processes would fight the training threads for the same 2 cores, and
    # decoding a few hundred small images costs far less than the convolutions. A GPU waits for data,
    # so there a few workers decode ahead and pinned (page-locked) memory makes the copy asynchronous.
    workers = min(4, max((os.cpu_count() or 1) - 1, 0)) if on_gpu else 0
    generator = torch.Generator().manual_seed(seed)
    # A last batch of one image breaks BatchNorm in train mode (no variance to compute): drop it.
    drop_last = shuffle and len(dataset) % batch_size == 1 and len(dataset) > 1
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      pin_memory=on_gpu, generator=generator, drop_last=drop_last)


def train_one_epoch(model, criterion, optimizer, data_loader, device, epoch, ctx=None, *, epochs=1,
                    strategy="scratch") -> dict[str, float]:
    """One pass over the training data: {loss, acc, images, seconds}. Checks the stop flag every batch."""
    from vision_demo.classify.models import set_train_mode

    set_train_mode(model, strategy)
    meter, n_batches, t0 = Meter(), len(data_loader), time.perf_counter()
    for i, (images, targets) in enumerate(data_loader):
        if ctx is not None:
            ctx.check_stop()                             # cancel stops within one batch
        images = images.to(device, non_blocking=True)    # (B, 3, S, S); non_blocking overlaps with pinned memory
        targets = targets.to(device, non_blocking=True)  # (B,)
        logits = model(images)                           # (B, classes)
        loss = criterion(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        meter.update(loss.item(), (logits.argmax(1) == targets).sum().item(), len(targets))
        if ctx is not None:
            ctx.progress(((epoch - 1) + (i + 1) / n_batches) / epochs,
                         f"epoch {epoch}/{epochs} batch {i + 1}/{n_batches} loss {meter.loss:.3f}", epoch,
                         force=i + 1 == n_batches)
    return {"loss": meter.loss, "acc": meter.acc, "images": meter.count, "seconds": time.perf_counter() - t0}


def evaluate(model, criterion, data_loader, device, ctx=None) -> dict[str, Any]:
    """Loss and accuracy on a split in eval mode, with every prediction and its confidence."""
    import torch

    model.eval()
    meter = Meter()
    targets_all, preds_all, conf_all = [], [], []
    with torch.inference_mode():
        for images, targets in data_loader:
            if ctx is not None:
                ctx.check_stop()
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            logits = model(images)
            confidence, preds = logits.softmax(1).max(1)
            meter.update(criterion(logits, targets).item(), (preds == targets).sum().item(), len(targets))
            targets_all += targets.tolist()
            preds_all += preds.tolist()
            conf_all += confidence.tolist()
    return {"loss": meter.loss, "acc": meter.acc, "targets": targets_all, "preds": preds_all, "confidences": conf_all}
