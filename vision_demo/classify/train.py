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
     scratch / finetune: the usual loop, `train_one_epoch` + `evaluate` per epoch (classify/loop.py);
  4) measure on the test split: accuracy, confusion matrix, per-class precision / recall / F1;
  5) save a plain-dict checkpoint (model.pt) and return the result dict (saved as result.json).
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from vision_demo import devices, settings
from vision_demo.classify.catalog import (BACKBONE, DEFAULT_LR, MODELS, PRESETS, PRETRAINED_MODELS, STRATEGIES,
                                          model_label, strategy_spec)
from vision_demo.classify.loop import (classification_report, evaluate, make_loader, peak_memory, seed_everything,
                                       train_one_epoch)
from vision_demo.classify.models import check_strategy
from vision_demo.classify.pretrained import check_pretrained_available, default_backbone
from vision_demo.devices import oom_as_advice, use_all_cores
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobContext, JobRegistry, config_from_dict

MAX_PREDICTIONS = 48          # test images whose prediction the result lists (the UI's gallery)


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
    train_fraction: float = 1.0       # train on this share of the training images (stratified, seeded): the sweep
    unfreeze_blocks: int | None = None  # finetune: the last k blocks of the catalog's `blocks` (+ head) train
    per_class: int | None = None      # at most this many training images of each class (seeded): a big set made small

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
        if self.train_fraction < 1:
            label += f" ({self.train_fraction:.0%} of the data)"
        if self.unfreeze_blocks is not None:
            label += " (head only)" if self.unfreeze_blocks == 0 else f" (last {self.unfreeze_blocks} blocks)"
        if self.per_class:
            label += f" ({self.per_class} per class)"
        return label

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return config_from_dict(cls, data, "training")


# ---- the job ------------------------------------------------------------------------------------------

def validate_config(config: TrainConfig) -> None:
    """VisionDemoError for options that cannot work, saying what to change."""
    check_strategy(config.model, config.strategy)
    if not 0 < float(config.train_fraction) <= 1:
        raise VisionDemoError(f"train_fraction must be in (0, 1], e.g. 0.25 for a quarter of the images, "
                              f"not {config.train_fraction}")
    if config.per_class is not None and not 1 <= int(config.per_class) <= 100_000:
        raise VisionDemoError(f"per_class must be a number of images (1 or more), e.g. 100, not {config.per_class}")
    if not 1 <= int(config.epochs) <= 200:
        raise VisionDemoError(f"epochs must be between 1 and 200, not {config.epochs}")
    if not 32 <= int(config.img_size) <= 512:
        raise VisionDemoError(f"image size must be between 32 and 512 pixels, not {config.img_size}")
    if not 1 <= int(config.batch_size) <= 1024:
        raise VisionDemoError(f"batch size must be between 1 and 1024, not {config.batch_size}")
    if config.lr is not None and not (0 < float(config.lr) < 1 and math.isfinite(config.lr)):
        raise VisionDemoError(f"learning rate must be between 0 and 1 (e.g. 1e-3), not {config.lr}")
    if config.unfreeze_blocks is not None:
        from vision_demo.classify.catalog import CATALOG

        blocks = len(CATALOG[config.model].blocks)
        if config.strategy != "finetune":
            raise VisionDemoError("unfreeze_blocks says how many blocks fine-tuning trains: use it with --strategy finetune")
        if not 0 <= int(config.unfreeze_blocks) <= blocks:
            raise VisionDemoError(f"{config.model} has {blocks} blocks: unfreeze 0 (the head only) to {blocks} (all), "
                                  f"not {config.unfreeze_blocks}")
    if config.init_from and not strategy_spec(config.strategy).pretrained:
        raise VisionDemoError("--init-from starts from a trained model: use it with --strategy finetune (or frozen)")
    data = str(config.data or "scenes")
    if data != "scenes" and not Path(data).expanduser().exists():
        raise VisionDemoError(f"data not found: {data} (give a folder with class sub-folders, a .zip, or 'scenes')")
    if strategy_spec(config.strategy).pretrained and not config.init_from:
        check_pretrained_available(config.model)   # fails fast: ResNet-18 offline without a cached file
    if config.device:
        try:
            devices.pick_device(config.device)     # VisionDemoError for cuda on a machine without one
        except RuntimeError:                       # torch.device("gpu"): not a device name at all
            raise VisionDemoError(f"unknown device {config.device!r}: use cpu, cuda, cuda:1 or mps") from None


def _resolve_checkpoint(init_from: str, ctx: JobContext | None) -> Path:
    """A job id or folder (or model.pt) -> the checkpoint path. A job id names a finished job of the same
    registry (read through ctx): the fine-tune job depends on its frozen run (JobRegistry's depends_on), so that
    one has ended before this runs."""
    path = Path(init_from).expanduser()
    if not path.exists():
        try:
            state = ctx.get(init_from) if ctx is not None else None
        except KeyError:
            state = None
        if state is not None:
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


def _load_init(model, config: TrainConfig, classes: list[str], ctx) -> tuple[str, str]:
    """Start from a finished run's weights (its trained head on the same ImageNet backbone).
    Returns (checkpoint path, where that run's backbone weights came from)."""
    from vision_demo.classify.predict import read_checkpoint

    path = _resolve_checkpoint(str(config.init_from), ctx)
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


def run_training(config: TrainConfig, ctx: JobContext) -> dict[str, Any]:
    """The job function: the recipe at the top of this module. Returns the result dict, saved as result.json:
    the run's options (model, strategy, weights_source, device, img_size, lr, ...), `epochs` (one entry per
    epoch: train/val loss and accuracy, seconds), test_acc / test_loss, confusion_matrix, per_class,
    most_confused, timings, parameter counts, peak memory, the checkpoint path, every test prediction
    (test_predictions: path, true, pred, confidence), a sample of them for the gallery (predictions) and the
    data report."""
    from vision_demo.datasets import archive

    validate_config(config)
    started = time.perf_counter()
    use_all_cores()   # a detection in this process may have left torch one thread (see devices.use_all_cores)
    with oom_as_advice(), archive.using(config.data):   # an extracted upload stays while we read it
        run = _prepare(config, ctx)
        fit = _fit_frozen(run, ctx) if strategy_spec(config.strategy).features_once else _fit_full(run, ctx)
        return _result(run, fit, ctx, started)


@dataclass
class _Run:
    """What the steps of one training job share."""
    config: TrainConfig
    data: Any                    # datasets.imagefolder.ClassificationData
    device: Any                  # torch.device
    model: Any
    criterion: Any
    optimizer: Any
    weights_source: str
    init_checkpoint: str | None
    trainable_params: int
    total_params: int
    eval_transform: Any
    test_loader: Any


@dataclass
class _Fit:
    """What training produced: the history, the final evaluation on the test split, the timings."""
    history: list[dict[str, Any]]
    evaluation: dict[str, Any]
    train_seconds: float
    train_images: int
    extraction: dict[str, Any] | None = None


def _prepare(config: TrainConfig, ctx: JobContext) -> _Run:
    """Steps 1-2: the data (bad files skipped and reported), seeds, device, the model with its strategy."""
    import torch
    from torch import nn

    from vision_demo.classify.inputs import ImageListDataset, build_transform
    from vision_demo.classify.models import apply_strategy, build_model, count_parameters
    from vision_demo.datasets.imagefolder import load_dataset, stratified_subset

    ctx.progress(0.0, "loading the data set", force=True)
    data = load_dataset(None if config.data in (None, "", "scenes") else config.data)
    if config.train_fraction < 1:   # the same share of every class, the same images for the same seed
        data.train = stratified_subset(data.train, float(config.train_fraction), config.seed)
    if config.per_class:            # at most N of every class, the same images for the same seed
        data.train = stratified_subset(data.train, 1.0, config.seed, per_class=int(config.per_class))
    if len(data.train) == 0 or len(data.test) == 0:
        raise VisionDemoError(f"the data set needs training and test images: found {len(data.train)} / {len(data.test)}")
    seed_everything(config.seed)
    device = devices.pick_device(config.device)
    devices.reset_peak_memory(device)
    ctx.check_stop()

    ctx.progress(0.0, f"building {config.label}", force=True)
    # Starting from a finished run loads all its weights, so the ImageNet ones are not needed again.
    pretrained = strategy_spec(config.strategy).pretrained and not config.init_from
    model, weights_source = build_model(config.model, len(data.classes), pretrained=pretrained)
    init_checkpoint = None
    if config.init_from:
        init_checkpoint, weights_source = _load_init(model, config, data.classes, ctx)
    params = apply_strategy(model, config.model, config.strategy, unfreeze_blocks=config.unfreeze_blocks)
    trainable_params, total_params = count_parameters(model)
    model.to(device)

    # ImageNet normalization: pretrained weights expect inputs scaled the way ImageNet images were
    # ((x - mean) / std per channel). Without it every activation is shifted: the seed's warning.
    eval_tf = build_transform(config.img_size, normalize=config.normalize, train=False)
    test_set = ImageListDataset(data.test, eval_tf, report=data.report, split="test")
    return _Run(config, data, device, model, nn.CrossEntropyLoss(), torch.optim.Adam(params, lr=config.learning_rate),
                weights_source, init_checkpoint, trainable_params, total_params, eval_tf,
                make_loader(test_set, config.batch_size, False, device, config.seed))


def _fit_frozen(run: _Run, ctx: JobContext) -> _Fit:
    """Step 3, frozen: the backbone is a fixed function and there is no random augmentation, so it runs once
    per image (feature_cache) and the head trains on the stored features."""
    import torch

    from vision_demo.classify import feature_cache
    from vision_demo.classify.inputs import ImageListDataset
    from vision_demo.classify.models import head_of

    config, epochs = run.config, int(run.config.epochs)
    train_set = ImageListDataset(run.data.train, run.eval_transform, report=run.data.report)
    train_loader = make_loader(train_set, config.batch_size, False, run.device, config.seed)
    n_extract = len(train_loader) + len(run.test_loader)

    def on_batch(split, i, n):
        ctx.check_stop()
        done = i + 1 + (len(train_loader) if split == "test" else 0)
        ctx.progress(0.9 * done / n_extract, f"extracting features ({split}) batch {i + 1}/{n}", 1,
                     force=done == n_extract)

    key = feature_cache.cache_key(run.data.train + run.data.test, config.model, run.weights_source, config.img_size,
                                  config.normalize) if config.cache_features and not run.init_checkpoint else None
    store = feature_cache.FeatureStore.build(run.model, config.model, train_loader, run.test_loader, run.device,
                                             key=key, disk=bool(key), on_batch=on_batch)
    head = head_of(run.model, config.model)
    generator = torch.Generator().manual_seed(config.seed)
    fit = _Fit([], {}, store.train_extract_seconds, 0)
    head_seconds = []
    for epoch in range(1, epochs + 1):
        loss, acc, seconds = feature_cache.train_head_epoch(head, store.train, store.train_labels, run.optimizer,
                                                            run.criterion, config.batch_size, generator,
                                                            ctx.check_stop)
        fit.evaluation = feature_cache.evaluate_head(head, store.test, store.test_labels, run.criterion)
        head_seconds.append(seconds)
        fit.train_seconds += seconds
        fit.train_images += len(store.train)
        _end_epoch(ctx, fit, epoch, epochs, loss, acc, seconds + (store.extract_seconds if epoch == 1 else 0.0))
    fit.extraction = {"extract_seconds": store.extract_seconds,
                      "head_seconds_per_epoch": sum(head_seconds) / len(head_seconds),
                      "features_from": store.source, "feature_dim": int(store.train.shape[1]),
                      "images": len(store.train) + len(store.test)}
    return fit


def _fit_full(run: _Run, ctx: JobContext) -> _Fit:
    """Step 3, scratch / finetune: the usual loop, train_one_epoch + evaluate per epoch, with augmentation."""
    from vision_demo.classify.inputs import ImageListDataset, build_transform

    config, epochs = run.config, int(run.config.epochs)
    train_tf = build_transform(config.img_size, normalize=config.normalize, train=True)   # random augmentation
    train_set = ImageListDataset(run.data.train, train_tf, report=run.data.report)
    train_loader = make_loader(train_set, config.batch_size, True, run.device, config.seed)
    fit = _Fit([], {}, 0.0, 0)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        stats = train_one_epoch(run.model, run.criterion, run.optimizer, train_loader, run.device, epoch, ctx,
                                epochs=epochs, strategy=config.strategy)
        fit.evaluation = evaluate(run.model, run.criterion, run.test_loader, run.device, ctx)
        fit.train_seconds += stats["seconds"]
        fit.train_images += stats["images"]
        _end_epoch(ctx, fit, epoch, epochs, stats["loss"], stats["acc"], time.perf_counter() - t0)
    return fit


def _end_epoch(ctx: JobContext, fit: _Fit, epoch: int, epochs: int, loss: float, acc: float, seconds: float) -> None:
    use_all_cores()   # (a detector loaded meanwhile may have taken threads away)
    entry = {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": fit.evaluation["loss"],
             "val_acc": fit.evaluation["acc"], "seconds": seconds}
    fit.history.append(entry)
    ctx.emit("epoch_end", **entry, message=f"epoch {epoch}/{epochs} val acc {fit.evaluation['acc']:.3f}")


def _result(run: _Run, fit: _Fit, ctx: JobContext, started: float) -> dict[str, Any]:
    """Steps 4-5: measure on the test split (the last evaluation is the final model's), save the checkpoint."""
    import torch

    config, data, evaluation = run.config, run.data, fit.evaluation
    report = classification_report(evaluation["targets"], evaluation["preds"], data.classes)
    rng = random.Random(config.seed)
    shown = sorted(rng.sample(range(len(data.test)), min(MAX_PREDICTIONS, len(data.test))))
    # Every test prediction (the error diff between two jobs needs them all, after a restart too), and a sample
    # of them for the gallery.
    test_predictions = [{"path": path, "true": data.classes[t], "pred": data.classes[p], "confidence": round(float(c), 4)}
                        for (path, _), t, p, c in zip(data.test, evaluation["targets"], evaluation["preds"],
                                                      evaluation["confidences"])]
    predictions = [dict(test_predictions[i], confidence=float(evaluation["confidences"][i])) for i in shown]

    # a plain dict, loadable with torch.load(weights_only=True)
    checkpoint = ctx.out_dir / "model.pt"
    torch.save({"model": config.model, "strategy": config.strategy, "weights_source": run.weights_source,
                "classes": list(data.classes), "img_size": int(config.img_size), "normalize": bool(config.normalize),
                "state_dict": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
                "config": asdict(config)}, checkpoint)

    memory_mb, memory_kind = peak_memory(run.device)
    return {
        "model": config.model, "model_label": config.label, "strategy": config.strategy,
        "weights_source": run.weights_source, "device": str(run.device), "img_size": int(config.img_size),
        "normalize": bool(config.normalize), "lr": config.learning_rate, "batch_size": int(config.batch_size),
        "seed": int(config.seed), "init_from": run.init_checkpoint,
        "classes": list(data.classes), "epochs": fit.history,
        "train_fraction": float(config.train_fraction), "train_images": len(data.train),
        "unfreeze_blocks": config.unfreeze_blocks, "train_per_class": config.per_class,
        "test_acc": float(evaluation["acc"]), "test_loss": float(evaluation["loss"]),
        **report,
        "wall_seconds": time.perf_counter() - started,
        "train_seconds": fit.train_seconds,
        "images_per_second": fit.train_images / fit.train_seconds if fit.train_seconds > 0 else None,
        "trainable_params": int(run.trainable_params), "total_params": int(run.total_params),
        "peak_memory_mb": memory_mb, "peak_memory_kind": memory_kind,
        "feature_extraction": fit.extraction,
        "checkpoint": str(checkpoint),
        "predictions": predictions,
        "test_predictions": test_predictions,
        "data_report": {"summary": data.report.summary(), "layout": data.layout, "root": str(data.root),
                        "counts": data.counts(),
                        "skipped": [list(x) for x in data.report.skipped],
                        "converted": [list(x) for x in data.report.converted]},
    }


# ---- submitting ---------------------------------------------------------------------------------------

def job_from_config(config: TrainConfig | dict[str, Any]):
    """The runner of the "classify" and "captured" kinds (jobs.KINDS): the job function for a config, a saved
    one too (the registry makes it when the job starts, and again after a restart)."""
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    return lambda ctx: run_training(config, ctx)


def submit(registry: JobRegistry, config: TrainConfig, owner: str | None = None, kind: str = "classify") -> str:
    """Validate (VisionDemoError at once, before anything is queued) and queue the training job.
    owner: who asked (None: the server itself; a visitor's jobs wait behind its own). kind: the registry's
    kind ("captured": a student's webcam classes, kept off the Train & compare tab)."""
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    if _earlier_run(config):
        raise VisionDemoError(f"init_from={config.init_from!r} names an earlier run of a preset: use submit_preset")
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
    depends_on = [config.init_from] if config.init_from and config.init_from in {s.id for s in registry.snapshot()} else []
    return registry.submit(kind, config.label, asdict(config), epochs=int(config.epochs), owner=owner,
                           depends_on=depends_on)


def submit_preset(registry: JobRegistry, preset: str, owner: str | None = None, backbone: str | None = None,
                  **overrides: Any) -> list[str]:
    """Queue a preset's runs in order; `overrides` (data, epochs, img_size, ...) apply to each.
    backbone: the pretrained model of its frozen / fine-tuned runs (default: default_backbone())."""
    if preset not in PRESETS:
        raise VisionDemoError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    backbone = backbone or default_backbone()
    if backbone not in PRETRAINED_MODELS:
        raise VisionDemoError(f"backbone {backbone!r} has no pretrained weights: use one of {', '.join(PRETRAINED_MODELS)}")
    configs = []
    for kwargs in PRESETS[preset]:
        kwargs = {**kwargs, "model": backbone} if kwargs["model"] == BACKBONE else kwargs
        config = TrainConfig.from_dict({**kwargs, **{k: v for k, v in overrides.items() if k not in kwargs}})
        configs.append(config)
    for config in configs:   # validate all before queueing any ("@<strategy>" is resolved below)
        validate_config(replace(config, init_from=None) if _earlier_run(config) else config)
    ids: list[str] = []
    latest: dict[str, str] = {}   # strategy -> the id of its latest run in this preset
    for config in configs:
        wanted = _earlier_run(config)
        if wanted:
            if wanted not in latest:
                raise VisionDemoError(f"preset {preset!r} starts a {config.strategy} run from a {wanted} run but "
                                      "has none before it")
            config.init_from = latest[wanted]
        job_id = submit(registry, config, owner=owner)
        latest[config.strategy] = job_id
        ids.append(job_id)
    return ids


def _earlier_run(config: TrainConfig) -> str | None:
    """The strategy named by a preset's init_from "@frozen" (the latest frozen run before this one), else None."""
    text = str(config.init_from or "")
    return text[1:] if text.startswith("@") and text[1:] in STRATEGIES else None


def submit_compare(registry: JobRegistry, data: str = "scenes", epochs: int = 3, img_size: int = 96,
                   batch_size: int = 32, owner: str | None = None, **kw: Any) -> list[str]:
    """The seed's four, in order: SimpleCNN scratch, ResNet-18 scratch, the pretrained backbone frozen, and
    fine-tuned from it (ResNet-18 when its weights can be had, else EfficientNet-Lite0: see default_backbone).

    With one worker (CPU) they run one after the other; with two (GPU) the fine-tune job waits for the
    frozen one, whose head it starts from.
    """
    return submit_preset(registry, "Compare all four", owner=owner, data=data, epochs=epochs, img_size=img_size,
                         batch_size=batch_size, **kw)


__all__ = ["TrainConfig", "PRESETS", "BACKBONE", "default_backbone", "MODELS", "STRATEGIES", "PRETRAINED_MODELS",
           "run_training", "submit", "submit_preset", "submit_compare", "job_from_config"]
