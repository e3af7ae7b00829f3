"""Feature extraction done as its name says: the frozen backbone runs ONCE per image.

A frozen backbone is a fixed function. Without random augmentation the same image always gives the
same features, so running it every epoch recomputes identical numbers. We run it once (no_grad, eval
mode), keep the features, and train the small head on them: epochs after the first cost almost nothing.

    features = extract_features(model, "efficientnet_lite0", loader, device)   # (N, 1280) on the CPU
    store = FeatureStore.build(model, name, train_loader, test_loader, device, key=cache_key(...))
    loss, acc, seconds = train_head_epoch(head_of(model), store.train, store.train_labels, optimizer, ...)

Feature sizes: EfficientNet-Lite0 1280 (conv_head + global average pool), ResNet-18 512 (layer4 + avgpool).
With `disk=True` the features are also saved under WORK/feature_cache/<key>.pt, where the key covers
the image files (path, size, mtime), the model, its weights, the image size and the normalization.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from vision_demo import settings
from vision_demo.classify.catalog import CATALOG

log = logging.getLogger(__name__)

FEATURE_DIMS = {name: spec.feature_dim for name, spec in CATALOG.items()}


def backbone_features(model: nn.Module, name: str, images: torch.Tensor) -> torch.Tensor:
    """Everything before the head: (B, 3, H, W) -> (B, D) pooled features.

    The model runs its own forward with its head (the catalog's `head`) swapped for nn.Identity for the call,
    so every architecture pools exactly as it does when it classifies: ResNet's avgpool -> 512, Lite0's
    conv_head + global pool -> 1280."""
    parent_path, _, attr = CATALOG[name].head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    head = getattr(parent, attr)
    setattr(parent, attr, nn.Identity())
    try:
        return model(images)
    finally:
        setattr(parent, attr, head)


@torch.inference_mode()
def extract_features(model: nn.Module, name: str, loader, device: torch.device,
                     on_batch: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the frozen backbone over `loader` once: (features (N, D), labels (N,)), both on the CPU.

    `on_batch(i, n)` is called after each batch (progress + the job's stop check).
    """
    was_training = model.training
    model.eval()   # BatchNorm with ImageNet's running statistics, no dropout: a fixed function
    # Channels-last (NHWC) is the layout oneDNN's CPU convolutions (and cuDNN's tensor cores) run fastest:
    # EfficientNet-Lite0 at 96 px goes from ~3.1 to ~2.2 ms per image here. Only for this pass: the model
    # goes back to the usual layout before the head trains and the checkpoint is saved.
    model.to(memory_format=torch.channels_last)
    features, labels = [], []
    n = len(loader)
    try:
        for i, (images, targets) in enumerate(loader):
            images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
            features.append(backbone_features(model, name, images).float().cpu())
            labels.append(targets.cpu())
            if on_batch is not None:
                on_batch(i, n)
    finally:
        model.to(memory_format=torch.contiguous_format)
        model.train(was_training)
    dim = FEATURE_DIMS.get(name, 0)
    if not features:
        return torch.empty(0, dim), torch.empty(0, dtype=torch.long)
    return torch.cat(features), torch.cat(labels)


def cache_key(items: list[tuple[str, int]], model_name: str, weights_source: str, img_size: int,
              normalize: bool) -> str:
    """A short hash that changes when any image file, the model, its weights, the size or normalization does."""
    digest = hashlib.sha256()
    digest.update(json.dumps([model_name, weights_source, int(img_size), bool(normalize)]).encode())
    for path, label in items:
        try:
            stat = Path(path).stat()
            digest.update(f"{path}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:  # a file that vanished: make the key unique so nothing stale is reused
            digest.update(f"{path}|{label}|missing\n".encode())
    return f"{model_name}-{img_size}-{digest.hexdigest()[:16]}"


@dataclass
class FeatureStore:
    """Features of the train and test split, kept in memory for the head to train on."""
    train: torch.Tensor            # (N_train, D)
    train_labels: torch.Tensor     # (N_train,)
    test: torch.Tensor             # (N_test, D)
    test_labels: torch.Tensor      # (N_test,)
    extract_seconds: float         # backbone time for both splits (0 when read from disk)
    train_extract_seconds: float   # the part of it spent on the training images
    source: str                    # "computed" | "disk"

    @classmethod
    def build(cls, model: nn.Module, name: str, train_loader, test_loader, device: torch.device,
              key: str | None = None, disk: bool = False,
              on_batch: Callable[[str, int, int], None] | None = None) -> "FeatureStore":
        """Extract (or read from WORK/feature_cache when `disk` and the key matches) both splits."""
        path = settings.subdir("feature_cache") / f"{key}.pt" if (disk and key) else None
        if path is not None and path.is_file():
            try:
                return cls(*_read_cache(path), 0.0, 0.0, "disk")
            # A cache is only a shortcut: whatever is wrong with the file (empty -> EOFError, garbage ->
            # UnpicklingError, truncated -> RuntimeError, wrong content -> KeyError/TypeError/ValueError),
            # recompute and overwrite it rather than fail the job.
            except Exception as err:  # noqa: BLE001
                log.warning("ignoring unreadable feature cache %s (%s: %s); recomputing it",
                            path, type(err).__name__, err)

        def report(split):
            return (lambda i, n: on_batch(split, i, n)) if on_batch else None

        t0 = time.perf_counter()
        train, train_labels = extract_features(model, name, train_loader, device, report("train"))
        t1 = time.perf_counter()
        test, test_labels = extract_features(model, name, test_loader, device, report("test"))
        t2 = time.perf_counter()
        store = cls(train, train_labels, test, test_labels, t2 - t0, t1 - t0, "computed")
        if path is not None:
            _write_cache(path, {"train": train, "train_labels": train_labels, "test": test, "test_labels": test_labels})
        return store


_CACHE_KEYS = ("train", "train_labels", "test", "test_labels")


def _read_cache(path: Path) -> tuple[torch.Tensor, ...]:
    """The four tensors of a cache file, or an exception when the file is not one we wrote."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    tensors = tuple(saved[k] for k in _CACHE_KEYS)
    if not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("not a feature cache (expected four tensors)")
    train, train_labels, test, test_labels = tensors
    if train.dim() != 2 or test.dim() != 2 or len(train) != len(train_labels) or len(test) != len(test_labels):
        raise ValueError("feature and label counts do not match")
    return tensors


def _write_cache(path: Path, tensors: dict) -> None:
    """Save atomically: a unique temp file in the same folder, then os.replace. Two jobs with the same key
    each write their own temp file; whichever replaces last wins, and a reader never sees a half-written file.
    A failed write (disk full, ...) only loses the shortcut: it is logged, the job goes on."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{path.stem}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(tensors, f)
        os.replace(tmp, path)
        tmp = None
    except (OSError, RuntimeError) as err:   # torch's zip writer reports a failed write as RuntimeError
        log.warning("could not save the feature cache %s: %s", path, err)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_tensors(path: Path, tensors: dict) -> None:
    """Save any dict of tensors (the probe's per-stage features) the same atomic way; a failed write is logged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_cache(path, tensors)


def train_head_epoch(head: nn.Module, features: torch.Tensor, labels: torch.Tensor, optimizer, criterion,
                     batch_size: int, generator: torch.Generator,
                     check_stop: Callable[[], None] | None = None) -> tuple[float, float, float]:
    """One epoch of the head on stored features, shuffled mini-batches: (mean loss, accuracy, seconds).

    The head is a single linear layer: (B, D) -> (B, classes). A few hundred images take milliseconds.
    """
    t0 = time.perf_counter()
    device = next(head.parameters()).device
    head.train()
    order = torch.randperm(len(features), generator=generator)
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        if check_stop is not None:
            check_stop()
        idx = order[start:start + batch_size]
        x, y = features[idx].to(device), labels[idx].to(device)
        logits = head(x)
        loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += (logits.argmax(1) == y).sum().item()
    n = max(len(order), 1)
    return total_loss / n, correct / n, time.perf_counter() - t0


@torch.no_grad()
def evaluate_head(head: nn.Module, features: torch.Tensor, labels: torch.Tensor, criterion) -> dict:
    """Loss, accuracy, predictions and confidences of the head on stored features."""
    device = next(head.parameters()).device
    head.eval()
    logits = head(features.to(device))
    probs = logits.softmax(1)
    confidence, preds = probs.max(1)
    y = labels.to(device)
    return {"loss": criterion(logits, y).item() if len(y) else 0.0,
            "acc": (preds == y).float().mean().item() if len(y) else 0.0,
            "targets": labels.tolist(), "preds": preds.cpu().tolist(), "confidences": confidence.cpu().tolist()}
