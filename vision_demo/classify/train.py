"""The classification training job: one model, one strategy, one data set -> metrics, plots, a checkpoint.

    from vision_demo.classify.train import TrainConfig, submit, submit_compare
    job_id = submit(registry, TrainConfig(model="efficientnet_lite0", strategy="frozen", epochs=3))
    registry.wait(job_id).result["test_acc"]

    python -m vision_demo train --model resnet18 --strategy scratch --epochs 3
    python -m vision_demo compare          # the lesson's four runs on the generated scenes

Recipe of `run_training` (the job function):
  1) load the data set (bad files skipped and reported), fix the seeds, pick the device;
  2) build the model (pretrained for frozen / finetune) and set which weights train;
  3) frozen: run the backbone once per image (feature_cache), then train the head on stored features;
     scratch / finetune: the usual loop, `train_one_epoch` + `evaluate` per epoch;
  4) measure on the test split: accuracy, confusion matrix, per-class precision / recall / F1;
  5) save a plain-dict checkpoint (model.pt) and return the result dict (saved as result.json).
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from vision_demo import devices, settings
from vision_demo.classify.models import (DEFAULT_LR, MODELS, PRETRAINED_MODELS, STRATEGIES,
                                         check_pretrained_available, check_strategy, model_label)
from vision_demo.devices import oom_as_advice  # also importable from here, as before
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobContext, JobRegistry

MAX_PREDICTIONS = 48          # test images whose prediction the result lists (the UI's gallery)
PROGRESS_EVERY = 0.5          # seconds between progress events: a few per second at most


@dataclass
class TrainConfig:
    data: str = "scenes"              # a folder, a .zip, or "scenes" (generated offline)
    model: str = "efficientnet_lite0"  # simple_cnn | resnet18 | efficientnet_lite0
    strategy: str = "frozen"          # scratch | frozen | finetune
    epochs: int = 3
    img_size: int = 96                # small: fast on a CPU; ImageNet models were trained at 224
    batch_size: int = 32
    lr: float | None = None           # None -> the strategy's default (DEFAULT_LR)
    normalize: bool = True            # ImageNet mean/std: what the pretrained weights expect as input
    seed: int = 0
    device: str | None = None         # None -> CUDA, then MPS, then CPU
    init_from: str | None = None      # finetune: job id (or folder) of a finished frozen run to start from
    name: str | None = None           # label shown in plots; default e.g. "EfficientNet-Lite0 · frozen"
    cache_features: bool = False      # frozen: also keep extracted features on disk (WORK/feature_cache)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.strategy]

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        label = model_label(self.model, self.strategy)
        if self.init_from:
            label += " (from frozen)"
        if not self.normalize:
            label += " (no normalization)"
        return label

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise VisionDemoError(f"unknown training option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
        return cls(**data)


# The seed notebook's exercises. "@frozen" in init_from: the frozen run submitted before it in the same preset.
PRESETS: dict[str, list[dict[str, Any]]] = {
    "Exercise 1: simple CNN from scratch": [dict(model="simple_cnn", strategy="scratch")],
    "Exercise 2: ResNet-18 from scratch": [dict(model="resnet18", strategy="scratch")],
    "Exercise 3: EfficientNet-Lite0 frozen (feature extraction)": [dict(model="efficientnet_lite0", strategy="frozen")],
    "Exercise 4: EfficientNet-Lite0 fine-tuned from the frozen run": [
        dict(model="efficientnet_lite0", strategy="frozen"),
        dict(model="efficientnet_lite0", strategy="finetune", init_from="@frozen"),
    ],
    "Compare all four": [
        dict(model="simple_cnn", strategy="scratch"),
        dict(model="resnet18", strategy="scratch"),
        dict(model="efficientnet_lite0", strategy="frozen"),
        dict(model="efficientnet_lite0", strategy="finetune", init_from="@frozen"),
    ],
}


# ---- metrics, in one small place ----------------------------------------------------------------------

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
    """Confusion matrix (rows = true class), per-class precision/recall/F1, the most confused pairs."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    matrix = confusion_matrix(targets, preds, labels=labels).tolist() if targets else [[0] * len(labels) for _ in labels]
    precision, recall, f1, support = precision_recall_fscore_support(targets, preds, labels=labels, zero_division=0)
    per_class = {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                     "support": int(support[i])} for i, c in enumerate(classes)}
    pairs = [{"true": classes[t], "pred": classes[p], "count": matrix[t][p]}
             for t in labels for p in labels if t != p and matrix[t][p] > 0]
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


# ---- reporting: progress events and the stop flag -----------------------------------------------------

class Reporter:
    """Sends `progress` events (at most every PROGRESS_EVERY s) and checks the stop flag; ctx may be None."""

    def __init__(self, ctx: JobContext | None, every: float = PROGRESS_EVERY):
        self.ctx, self.every, self._last = ctx, every, 0.0

    def check_stop(self) -> None:
        if self.ctx is not None:
            self.ctx.check_stop()

    def progress(self, fraction: float, message: str, epoch: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if self.ctx is None or (not force and now - self._last < self.every):
            return
        self._last = now
        data = {"fraction": min(max(fraction, 0.0), 1.0), "message": message}
        if epoch is not None:
            data["epoch"] = epoch
        self.ctx.emit("progress", **data)


# ---- one epoch, one evaluation (torchvision's references/classification/train.py shape) ---------------

def train_one_epoch(model, criterion, optimizer, data_loader, device, epoch, ctx=None, *, epochs=1,
                    strategy="scratch", reporter: Reporter | None = None) -> dict[str, float]:
    """One pass over the training data: {loss, acc, images, seconds}. Checks the stop flag every batch."""
    from vision_demo.classify.models import set_train_mode

    reporter = reporter or Reporter(ctx)
    set_train_mode(model, strategy)
    meter, n_batches, t0 = Meter(), len(data_loader), time.perf_counter()
    for i, (images, targets) in enumerate(data_loader):
        reporter.check_stop()   # cancel stops within one batch
        images = images.to(device, non_blocking=True)    # (B, 3, S, S); non_blocking overlaps with pinned memory
        targets = targets.to(device, non_blocking=True)  # (B,)
        logits = model(images)                           # (B, classes)
        loss = criterion(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        meter.update(loss.item(), (logits.argmax(1) == targets).sum().item(), len(targets))
        reporter.progress(((epoch - 1) + (i + 1) / n_batches) / epochs,
                          f"epoch {epoch}/{epochs} batch {i + 1}/{n_batches} loss {meter.loss:.3f}", epoch,
                          force=i + 1 == n_batches)
    return {"loss": meter.loss, "acc": meter.acc, "images": meter.count, "seconds": time.perf_counter() - t0}


def evaluate(model, criterion, data_loader, device, ctx=None, *, reporter: Reporter | None = None,
             label: str = "test") -> dict[str, Any]:
    """Loss and accuracy on a split in eval mode, with every prediction and its confidence."""
    import torch

    reporter = reporter or Reporter(ctx)
    model.eval()
    meter = Meter()
    targets_all, preds_all, conf_all = [], [], []
    with torch.inference_mode():
        for i, (images, targets) in enumerate(data_loader):
            reporter.check_stop()
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            logits = model(images)
            confidence, preds = logits.softmax(1).max(1)
            meter.update(criterion(logits, targets).item(), (preds == targets).sum().item(), len(targets))
            targets_all += targets.tolist()
            preds_all += preds.tolist()
            conf_all += confidence.tolist()
    return {"loss": meter.loss, "acc": meter.acc, "targets": targets_all, "preds": preds_all, "confidences": conf_all}


# ---- the job ------------------------------------------------------------------------------------------

def validate_config(config: TrainConfig) -> None:
    """VisionDemoError for options that cannot work, saying what to change."""
    check_strategy(config.model, config.strategy)
    if not 1 <= int(config.epochs) <= 200:
        raise VisionDemoError(f"epochs must be between 1 and 200, not {config.epochs}")
    if not 32 <= int(config.img_size) <= 512:
        raise VisionDemoError(f"image size must be between 32 and 512 pixels, not {config.img_size}")
    if not 1 <= int(config.batch_size) <= 1024:
        raise VisionDemoError(f"batch size must be between 1 and 1024, not {config.batch_size}")
    if config.lr is not None and not (0 < float(config.lr) < 1 and math.isfinite(config.lr)):
        raise VisionDemoError(f"learning rate must be between 0 and 1 (e.g. 1e-3), not {config.lr}")
    if config.init_from and config.strategy == "scratch":
        raise VisionDemoError("--init-from starts from a trained model: use it with --strategy finetune (or frozen)")
    data = str(config.data or "scenes")
    if data != "scenes" and not Path(data).expanduser().exists():
        raise VisionDemoError(f"data not found: {data} (give a folder with class sub-folders, a .zip, or 'scenes')")
    if config.strategy != "scratch" and not config.init_from:
        check_pretrained_available(config.model)   # fails fast: ResNet-18 offline without a cached file
    if config.device:
        try:
            devices.pick_device(config.device)     # VisionDemoError for cuda on a machine without one
        except RuntimeError:                       # torch.device("gpu"): not a device name at all
            raise VisionDemoError(f"unknown device {config.device!r}: use cpu, cuda, cuda:1 or mps") from None


def _seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)   # also seeds CUDA


def _loader(dataset, batch_size: int, shuffle: bool, device, seed: int):
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


def _resolve_checkpoint(init_from: str, ctx: JobContext | None, registry: JobRegistry | None) -> Path:
    """A job id or folder (or model.pt) -> the checkpoint path; waits for a job that has not finished yet."""
    path = Path(init_from).expanduser()
    if not path.exists():
        if registry is not None and init_from in {s.id for s in registry.snapshot()}:
            # compare on a GPU (2 workers): the fine-tune job may start before its frozen run is done
            state = registry.get(init_from)
            while not state.done:
                if ctx is not None:
                    ctx.check_stop()
                    ctx.emit("progress", fraction=0.0, message=f"waiting for {state.name} to finish")
                state = registry.wait(init_from, timeout=0.5)
            if state.status != "finished":
                raise VisionDemoError(f"cannot start from job {init_from}: it ended {state.status} "
                                      f"({state.error or state.message}); run it again first")
            path = Path(state.out_dir)
        else:
            roots = [ctx.out_dir.parent] if ctx is not None else []
            roots.append(settings.subdir("jobs"))
            path = next((r / init_from for r in roots if (r / init_from).exists()), path)
    if path.is_dir() and not (path / "model.pt").is_file() and (path / "result.json").is_file():
        try:  # an --out folder of `train`: its result.json names the checkpoint
            path = Path(json.loads((path / "result.json").read_text()).get("checkpoint") or path)
        except (OSError, ValueError, AttributeError):
            pass  # not our result.json: the error below says what to give instead
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise VisionDemoError(f"--init-from {init_from}: no finished run there (looked for {path}); "
                              "give the job id of a finished frozen run or its folder")
    return path


def _load_init(model, config: TrainConfig, classes: list[str], ctx, registry) -> tuple[str, str]:
    """Start from a finished run's weights (its trained head on the same ImageNet backbone).
    Returns (checkpoint path, where that run's backbone weights came from)."""
    from vision_demo.classify.predict import read_checkpoint

    path = _resolve_checkpoint(str(config.init_from), ctx, registry)
    ckpt = read_checkpoint(path, name=str(path), hint="give the job id of a finished frozen run")
    if ckpt["model"] != config.model:
        raise VisionDemoError(f"{path} holds a {ckpt['model']} model, not {config.model}: start from a run of the same model")
    if list(ckpt.get("classes", [])) != list(classes):
        raise VisionDemoError(f"{path} was trained on classes {ckpt.get('classes')}, this data has {classes}: "
                              "start from a run on the same data")
    # The whole state dict: the frozen run's backbone is the bundled ImageNet one (untouched), its head is trained.
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError) as err:
        raise VisionDemoError(f"{path}: its weights do not fit a {config.model} with {len(classes)} classes "
                              f"({str(err).splitlines()[0][:200] if str(err) else type(err).__name__})") from None
    return str(path), str(ckpt.get("weights_source", "none"))


def run_training(config: TrainConfig, ctx: JobContext, registry: JobRegistry | None = None) -> dict[str, Any]:
    """The job function body. Returns the result dict (see CONTRACTS.md)."""
    with oom_as_advice():
        return _run(config, ctx, registry)


def _run(config: TrainConfig, ctx: JobContext | None, registry: JobRegistry | None) -> dict[str, Any]:
    import torch
    from torch import nn

    from vision_demo.classify import feature_cache
    from vision_demo.classify.models import apply_strategy, build_model, count_parameters, head_of
    from vision_demo.datasets.imagefolder import ImageListDataset, build_transform, load_dataset

    validate_config(config)
    t_start = time.perf_counter()
    reporter = Reporter(ctx)
    out_dir = Path(ctx.out_dir) if ctx is not None else settings.subdir("runs", time.strftime("%Y%m%d-%H%M%S"))
    epochs, strategy = int(config.epochs), config.strategy

    # 1) data, seeds, device
    reporter.progress(0.0, "loading the data set", force=True)
    data = load_dataset(None if config.data in (None, "", "scenes") else config.data)
    if len(data.train) == 0 or len(data.test) == 0:
        raise VisionDemoError(f"the data set needs training and test images: found {len(data.train)} / {len(data.test)}")
    _seed_everything(config.seed)
    device = devices.pick_device(config.device)
    devices.reset_peak_memory(device)
    reporter.check_stop()

    # 2) model and strategy
    reporter.progress(0.0, f"building {config.label}", force=True)
    # Starting from a finished run loads all its weights, so the ImageNet ones are not needed again.
    pretrained = strategy != "scratch" and not config.init_from
    model, weights_source = build_model(config.model, len(data.classes), pretrained=pretrained)
    init_checkpoint = None
    if config.init_from:
        init_checkpoint, weights_source = _load_init(model, config, data.classes, ctx, registry)
    params = apply_strategy(model, config.model, strategy)
    trainable_params, total_params = count_parameters(model)
    model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(params, lr=config.learning_rate)

    # ImageNet normalization: pretrained weights expect inputs scaled the way ImageNet images were
    # ((x - mean) / std per channel). Without it every activation is shifted: the seed's warning.
    eval_tf = build_transform(config.img_size, normalize=config.normalize, train=False)
    test_set = ImageListDataset(data.test, eval_tf, report=data.report)
    test_loader = _loader(test_set, config.batch_size, False, device, config.seed)

    # 3) train
    history: list[dict[str, Any]] = []
    train_seconds, train_images = 0.0, 0
    extraction = None
    if strategy == "frozen":
        # The backbone is a fixed function and there is no random augmentation: run it once per image.
        head = head_of(model)
        train_set = ImageListDataset(data.train, eval_tf, report=data.report)
        train_loader = _loader(train_set, config.batch_size, False, device, config.seed)
        n_extract = len(train_loader) + len(test_loader)

        def on_batch(split, i, n):
            reporter.check_stop()
            done = i + 1 + (len(train_loader) if split == "test" else 0)
            reporter.progress(0.9 * done / n_extract,
                              f"extracting features ({split}) batch {i + 1}/{n}", 1, force=done == n_extract)

        key = feature_cache.cache_key(data.train + data.test, config.model, weights_source, config.img_size,
                                      config.normalize) if config.cache_features and not init_checkpoint else None
        store = feature_cache.FeatureStore.build(model, config.model, train_loader, test_loader, device,
                                                 key=key, disk=bool(key), on_batch=on_batch)
        generator = torch.Generator().manual_seed(config.seed)
        head_seconds = []
        train_seconds = store.train_extract_seconds
        for epoch in range(1, epochs + 1):
            loss, acc, seconds = feature_cache.train_head_epoch(head, store.train, store.train_labels, optimizer,
                                                                criterion, config.batch_size, generator,
                                                                reporter.check_stop)
            evaluation = feature_cache.evaluate_head(head, store.test, store.test_labels, criterion)
            head_seconds.append(seconds)
            train_seconds += seconds
            train_images += len(store.train)
            epoch_seconds = seconds + (store.extract_seconds if epoch == 1 else 0.0)
            entry = {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": evaluation["loss"],
                     "val_acc": evaluation["acc"], "seconds": epoch_seconds}
            history.append(entry)
            if ctx is not None:
                ctx.emit("epoch_end", **entry, message=f"epoch {epoch}/{epochs} val acc {evaluation['acc']:.3f}")
        extraction = {"extract_seconds": store.extract_seconds,
                      "head_seconds_per_epoch": sum(head_seconds) / len(head_seconds),
                      "features_from": store.source, "feature_dim": int(store.train.shape[1]),
                      "images": len(store.train) + len(store.test)}
    else:
        train_tf = build_transform(config.img_size, normalize=config.normalize, train=True)   # random augmentation
        train_set = ImageListDataset(data.train, train_tf, report=data.report)
        train_loader = _loader(train_set, config.batch_size, True, device, config.seed)
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            stats = train_one_epoch(model, criterion, optimizer, train_loader, device, epoch, ctx,
                                    epochs=epochs, strategy=strategy, reporter=reporter)
            evaluation = evaluate(model, criterion, test_loader, device, ctx, reporter=reporter)
            train_seconds += stats["seconds"]
            train_images += stats["images"]
            entry = {"epoch": epoch, "train_loss": stats["loss"], "train_acc": stats["acc"],
                     "val_loss": evaluation["loss"], "val_acc": evaluation["acc"],
                     "seconds": time.perf_counter() - t0}
            history.append(entry)
            if ctx is not None:
                ctx.emit("epoch_end", **entry, message=f"epoch {epoch}/{epochs} val acc {evaluation['acc']:.3f}")

    # 4) measure on the test split (the last evaluation is the final model's)
    report = classification_report(evaluation["targets"], evaluation["preds"], data.classes)
    rng = random.Random(config.seed)
    shown = sorted(rng.sample(range(len(data.test)), min(MAX_PREDICTIONS, len(data.test))))
    predictions = [{"path": data.test[i][0], "true": data.classes[evaluation["targets"][i]],
                    "pred": data.classes[evaluation["preds"][i]], "confidence": float(evaluation["confidences"][i])}
                   for i in shown]

    # 5) checkpoint: a plain dict, loadable with torch.load(weights_only=True)
    checkpoint = out_dir / "model.pt"
    model_cpu_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    config_dict = asdict(config)
    torch.save({"model": config.model, "strategy": strategy, "weights_source": weights_source,
                "classes": list(data.classes),
                "img_size": int(config.img_size), "normalize": bool(config.normalize),
                "state_dict": model_cpu_state, "config": config_dict}, checkpoint)

    memory_mb, memory_kind = peak_memory(device)
    return {
        "model": config.model, "model_label": config.label, "strategy": strategy, "weights_source": weights_source,
        "device": str(device), "img_size": int(config.img_size), "normalize": bool(config.normalize),
        "lr": config.learning_rate, "batch_size": int(config.batch_size), "seed": int(config.seed),
        "init_from": init_checkpoint,
        "classes": list(data.classes), "epochs": history,
        "test_acc": float(evaluation["acc"]), "test_loss": float(evaluation["loss"]),
        **report,
        "wall_seconds": time.perf_counter() - t_start,
        "train_seconds": train_seconds,
        "images_per_second": train_images / train_seconds if train_seconds > 0 else None,
        "trainable_params": int(trainable_params), "total_params": int(total_params),
        "peak_memory_mb": memory_mb, "peak_memory_kind": memory_kind,
        "feature_extraction": extraction,
        "checkpoint": str(checkpoint),
        "predictions": predictions,
        "data_report": {"summary": data.report.summary(), "layout": data.layout, "root": str(data.root),
                        "counts": data.counts(),
                        "skipped": [list(x) for x in data.report.skipped],
                        "converted": [list(x) for x in data.report.converted]},
    }


# ---- submitting ---------------------------------------------------------------------------------------

def submit(registry: JobRegistry, config: TrainConfig) -> str:
    """Validate (VisionDemoError at once, before anything is queued) and queue the training job."""
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    if config.init_from == "@frozen":
        raise VisionDemoError("init_from='@frozen' names the frozen run of a preset: use submit_preset")
    validate_config(config)
    if config.init_from:
        ids = {s.id: s for s in registry.snapshot()}
        known = config.init_from in ids or Path(config.init_from).expanduser().exists() \
            or (registry.root / config.init_from).exists()
        if not known:
            raise VisionDemoError(f"--init-from {config.init_from}: no such job or folder; give the id of a "
                                  "finished frozen run (python -m vision_demo train ... prints it)")
        state = ids.get(config.init_from)
        if state is not None and state.done and state.status != "finished":
            raise VisionDemoError(f"--init-from {config.init_from}: that job ended {state.status}; start from a finished run")
    return registry.submit("classify", config.label, asdict(config),
                           lambda ctx: run_training(config, ctx, registry), epochs=int(config.epochs))


def submit_preset(registry: JobRegistry, preset: str, **overrides: Any) -> list[str]:
    """Queue a preset's runs in order; `overrides` (data, epochs, img_size, ...) apply to each."""
    if preset not in PRESETS:
        raise VisionDemoError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    configs = []
    for kwargs in PRESETS[preset]:
        config = TrainConfig.from_dict({**kwargs, **{k: v for k, v in overrides.items() if k not in kwargs}})
        configs.append(config)
    for config in configs:   # validate all before queueing any ("@frozen" is resolved below)
        validate_config(replace(config, init_from=None) if config.init_from == "@frozen" else config)
    ids: list[str] = []
    last_frozen: str | None = None
    for config in configs:
        if config.init_from == "@frozen":
            if last_frozen is None:
                raise VisionDemoError(f"preset {preset!r} fine-tunes from a frozen run but has none before it")
            config.init_from = last_frozen
        job_id = submit(registry, config)
        if config.strategy == "frozen":
            last_frozen = job_id
        ids.append(job_id)
    return ids


def submit_compare(registry: JobRegistry, data: str = "scenes", epochs: int = 3, img_size: int = 96,
                   batch_size: int = 32, **kw: Any) -> list[str]:
    """The seed's four, in order: SimpleCNN scratch, ResNet-18 scratch, Lite0 frozen, Lite0 fine-tuned from it.

    With one worker (CPU) they run one after the other; with two (GPU) the fine-tune job waits for the
    frozen one, whose head it starts from.
    """
    return submit_preset(registry, "Compare all four", data=data, epochs=epochs, img_size=img_size,
                         batch_size=batch_size, **kw)


__all__ = ["TrainConfig", "PRESETS", "MODELS", "STRATEGIES", "PRETRAINED_MODELS", "run_training", "submit",
           "submit_preset", "submit_compare", "train_one_epoch", "evaluate", "oom_as_advice"]
