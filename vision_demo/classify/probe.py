"""How general is each stage, measured: a linear probe on the frozen features after every stage.

"Early layers learn general representations, later layers task-specific ones": if so, a plain linear classifier
on a stage's features tells the lesson's classes apart better the deeper the stage, up to where ImageNet's
features stop fitting these pictures. The recipe:
  1) run the frozen network once over the training and the test images (eval mode, no gradients), keeping the
     output of every stage the catalogue names (`stages`: stem -> last stage), each global-average-pooled to one
     number per channel: (N, C_stage);
  2) per stage, standardise the features (the training images' mean/std) and fit a logistic regression on the
     training images only;
  3) score it on the held-out test images: one test accuracy per stage.
The same for the same network with random weights (a model from scratch before any training), or for a trained
scratch job (`scratch_job`): how much of the curve is the architecture, how much is ImageNet.

    from vision_demo.classify.probe import ProbeConfig, run_probe, submit_probe
    result = run_probe(ProbeConfig(data="scenes", model="efficientnet_lite0"))
    [(s["stage"], s["test_acc"]) for s in result["pretrained"]]

    python -m vision_demo probe --data scenes --model efficientnet_lite0 --img-size 96 --out probe.json

The pooled features of the pretrained network are kept in the feature cache (WORK/feature_cache, keyed like
the frozen runs' by the image files, the model, its weights, the size and the normalization).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from vision_demo.classify.catalog import CATALOG, PRETRAINED_MODELS, model_label
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import config_from_dict

log = logging.getLogger(__name__)

RANDOM = "random"    # the scratch side: the same network with random weights (seeded), untrained


@dataclass
class ProbeConfig:
    data: str = "scenes"               # a folder, a .zip, or "scenes" (generated offline)
    model: str | None = None           # the pretrained backbone; None: default_backbone()
    img_size: int = 96
    batch_size: int = 64
    seed: int = 0
    scratch: str = RANDOM              # "random" (same network, random weights), a scratch job's id or folder, or ""
    shuffle_labels: bool = False       # the control: training labels shuffled -> test accuracy ~ chance
    c: float = 1.0                     # inverse regularization strength of the logistic regression
    device: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeConfig":
        return config_from_dict(cls, data, "probe")


def validate(config: ProbeConfig) -> ProbeConfig:
    from pathlib import Path

    from vision_demo.classify.pretrained import check_pretrained_available, default_backbone

    model = config.model or default_backbone()
    if model not in PRETRAINED_MODELS:
        raise VisionDemoError(f"the probe reads a pretrained backbone: use one of {', '.join(PRETRAINED_MODELS)}, "
                              f"not {model!r}")
    check_pretrained_available(model)
    if not 32 <= int(config.img_size) <= 512:
        raise VisionDemoError(f"image size must be between 32 and 512 pixels, not {config.img_size}")
    if not 0 < float(config.c) < 1e6:
        raise VisionDemoError(f"C must be a positive number (e.g. 1.0), not {config.c}")
    data = str(config.data or "scenes")
    if data != "scenes" and not Path(data).expanduser().exists():
        raise VisionDemoError(f"data not found: {data} (give a folder with class sub-folders, a .zip, or 'scenes')")
    config.model = model
    return config


# ---- 1) the stages' pooled features -------------------------------------------------------------------

class StageTap:
    """Forward hooks on the catalogue's `stages` of a model: after a forward pass, `outputs[stage]` holds
    each stage's output (B, C, H, W). Use as a context manager (the hooks go when it ends)."""

    def __init__(self, model, name: str):
        self.stages = CATALOG[name].stages
        if not self.stages:
            raise VisionDemoError(f"no stages known for model {name!r}")
        self.model, self.outputs, self._hooks = model, {}, []

    def __enter__(self) -> "StageTap":
        for stage in self.stages:
            module = self.model.get_submodule(stage)
            self._hooks.append(module.register_forward_hook(
                lambda _m, _i, out, stage=stage: self.outputs.__setitem__(stage, out)))
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()


def stage_features(model, name: str, loader, device, on_batch=None) -> dict[str, Any]:
    """One pass over `loader`: {stage: (N, C) pooled features, "labels": (N,), "shapes": {stage: (C, H, W)}}."""
    import torch

    model.eval()   # BatchNorm with its running statistics, no dropout: a fixed function
    pooled: dict[str, list] = {}
    labels, shapes = [], {}
    with torch.inference_mode(), StageTap(model, name) as tap:
        for i, (images, targets) in enumerate(loader):
            model(images.to(device))
            for stage in tap.stages:
                out = tap.outputs[stage]                      # (B, C, H, W)
                shapes[stage] = tuple(int(d) for d in out.shape[1:])
                pooled.setdefault(stage, []).append(out.float().mean(dim=(2, 3)).cpu())   # (B, C)
            labels.append(targets.cpu())
            if on_batch is not None:
                on_batch(i, len(loader))
    features = {stage: torch.cat(chunks) for stage, chunks in pooled.items()}
    features["labels"] = torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)
    features["shapes"] = shapes
    return features


# ---- 2-3) a logistic regression per stage ---------------------------------------------------------------

def probe_accuracy(train_x, train_y, test_x, test_y, c: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Fit standardisation + logistic regression on the training features only; accuracy on both splits."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, test_x = np.asarray(train_x, dtype=np.float64), np.asarray(test_x, dtype=np.float64)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=float(c), max_iter=2000, random_state=seed))
    clf.fit(train_x, np.asarray(train_y))
    return {"train_acc": float(clf.score(train_x, np.asarray(train_y))),
            "test_acc": float(clf.score(test_x, np.asarray(test_y)))}


def probe_stages(train: dict, test: dict, stages, c: float = 1.0, seed: int = 0, shuffle_labels: bool = False,
                 check_stop=None) -> list[dict]:
    """[{stage, channels, size, test_acc, train_acc}, ...] stem first."""
    import numpy as np

    train_y = train["labels"].numpy()
    if shuffle_labels:   # the control: the same features, labels that mean nothing
        train_y = np.random.default_rng(seed).permutation(train_y)
    rows = []
    for stage in stages:
        if check_stop is not None:
            check_stop()
        channels, h, w = train["shapes"][stage]
        acc = probe_accuracy(train[stage].numpy(), train_y, test[stage].numpy(), test["labels"].numpy(), c, seed)
        rows.append({"stage": stage, "channels": channels, "size": [h, w], **acc})
    return rows


# ---- the job --------------------------------------------------------------------------------------------

def _loaders(config: ProbeConfig, data, device):
    from vision_demo.classify.inputs import ImageListDataset, build_transform
    from vision_demo.classify.loop import make_loader

    tf = build_transform(config.img_size, normalize=True, train=False)   # ImageNet normalization, no augmentation
    return (make_loader(ImageListDataset(data.train, tf, report=data.report), config.batch_size, False, device, 0),
            make_loader(ImageListDataset(data.test, tf, report=data.report, split="test"), config.batch_size, False,
                        device, 0))


def _pretrained_features(config, data, loaders, device, source, report) -> tuple[dict, dict, str]:
    """Both splits' stage features of the ImageNet backbone, from the feature cache when it has them."""
    import torch

    from vision_demo import settings
    from vision_demo.classify import feature_cache
    from vision_demo.classify.models import build_model

    key = feature_cache.cache_key(data.train + data.test, config.model, source, config.img_size, True)
    path = settings.subdir("feature_cache") / f"{key}-stages.pt"
    if path.is_file():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            return saved["train"], saved["test"], "disk"
        except Exception as err:  # noqa: BLE001 (a cache is only a shortcut: recompute whatever is wrong with it)
            log.warning("ignoring unreadable probe feature cache %s (%s: %s); recomputing it",
                        path, type(err).__name__, err)
    model, _ = build_model(config.model, len(data.classes), pretrained=True)
    model.to(device)
    train = stage_features(model, config.model, loaders[0], device, report("ImageNet backbone, train"))
    test = stage_features(model, config.model, loaders[1], device, report("ImageNet backbone, test"))
    feature_cache.write_tensors(path, {"train": train, "test": test})
    return train, test, "computed"


def _scratch_model(config: ProbeConfig, num_classes: int, classes: list[str]):
    """(model, name, label) of the scratch side: random weights of the same network, or a trained scratch job."""
    from vision_demo.classify.filters import initial_model

    if config.scratch == RANDOM:
        return (initial_model(config.model, num_classes, config.seed), config.model,
                f"{model_label(config.model)} · random weights (untrained)")
    from vision_demo.classify.gradcam import load_job

    classifier, name = load_job(config.scratch)
    model = str(classifier.info["model"])
    if classifier.info.get("strategy") != "scratch":
        raise VisionDemoError(f"{name} is a {classifier.info.get('strategy')} run: give a run from scratch "
                              "(or 'random' for the same network with random weights)")
    return classifier.model, model, f"{name} · trained, its {classifier.info.get('config', {}).get('epochs', '?')} epochs"


def run_probe(config: ProbeConfig, ctx=None) -> dict[str, Any]:
    """The recipe at the top: per-stage test accuracy of the pretrained backbone (and of the scratch side)."""
    from vision_demo import devices
    from vision_demo.classify.pretrained import check_pretrained_available
    from vision_demo.datasets import archive
    from vision_demo.datasets.imagefolder import load_dataset

    config = validate(config)
    started = time.perf_counter()
    progress = (lambda f, m: ctx.progress(f, m, force=True)) if ctx is not None else (lambda f, m: None)
    check_stop = ctx.check_stop if ctx is not None else None

    def report(what):
        def on_batch(i, n):
            if check_stop is not None:
                check_stop()
            if ctx is not None:
                ctx.progress(None, f"{what} batch {i + 1}/{n}")
        return on_batch

    devices.use_all_cores()
    with devices.oom_as_advice(), archive.using(config.data):
        progress(0.0, "loading the data set")
        data = load_dataset(None if config.data in (None, "", "scenes") else config.data)
        if len(data.train) == 0 or len(data.test) == 0:
            raise VisionDemoError(f"the probe needs training and test images: found {len(data.train)} / {len(data.test)}")
        device = devices.pick_device(config.device)
        loaders = _loaders(config, data, device)
        source = check_pretrained_available(config.model)
        progress(0.05, "features of every stage: the ImageNet backbone")
        t0 = time.perf_counter()
        train, test, features_from = _pretrained_features(config, data, loaders, device, source, report)
        extract_s = time.perf_counter() - t0
        progress(0.4, "a logistic regression per stage")
        stages = CATALOG[config.model].stages
        pretrained = probe_stages(train, test, stages, config.c, config.seed, config.shuffle_labels, check_stop)
        scratch, scratch_label, scratch_model = [], "", None
        if config.scratch:
            progress(0.55, "features of every stage: the model from scratch")
            model, scratch_model, scratch_label = _scratch_model(config, len(data.classes), data.classes)
            model.to(device)
            s_train = stage_features(model, scratch_model, loaders[0], device, report("scratch, train"))
            s_test = stage_features(model, scratch_model, loaders[1], device, report("scratch, test"))
            scratch = probe_stages(s_train, s_test, CATALOG[scratch_model].stages, config.c, config.seed,
                                   config.shuffle_labels, check_stop)
    counts = {c: 0 for c in data.classes}
    for _, y in data.test:
        counts[data.classes[y]] += 1
    return {"kind": "probe", "model": config.model, "model_label": model_label(config.model),
            "weights_source": source, "img_size": int(config.img_size), "data": str(config.data),
            "classes": list(data.classes), "train_images": len(data.train), "test_images": len(data.test),
            "shuffle_labels": bool(config.shuffle_labels),
            "chance": max(counts.values()) / max(len(data.test), 1),   # always answering the largest class
            "pretrained": pretrained, "pretrained_label": f"{model_label(config.model)} · ImageNet (frozen)",
            "scratch": scratch, "scratch_label": scratch_label, "scratch_model": scratch_model,
            "features_from": features_from, "extract_seconds": extract_s,
            "wall_seconds": time.perf_counter() - started, "config": asdict(config)}


def job_from_config(config: ProbeConfig | dict[str, Any]):
    """The job function for a config (a saved one too: JobRegistry.resume after a restart)."""
    if isinstance(config, dict):
        config = ProbeConfig.from_dict(config)
    return lambda ctx: run_probe(config, ctx)


def submit_probe(registry, config: ProbeConfig, owner: str | None = None) -> str:
    """Validate (VisionDemoError at once) and queue the probe as a job of kind "probe"."""
    if isinstance(config, dict):
        config = ProbeConfig.from_dict(config)
    config = validate(config)
    name = f"probe · {model_label(config.model)}" + (" (shuffled labels)" if config.shuffle_labels else "")
    return registry.submit("probe", name, asdict(config), owner=owner)   # run by its kind: jobs.KINDS["probe"]


def summary(result: dict) -> str:
    """The curve in one sentence, with its figures."""
    rows = result.get("pretrained") or []
    if not rows:
        return "no probe result"
    best = max(rows, key=lambda r: r["test_acc"])
    first, last = rows[0], rows[-1]
    text = (f"{result['model_label']} (ImageNet, frozen), a linear probe per stage on {result['test_images']} held-out "
            f"test images: {first['stage']} {first['test_acc']:.1%} → best {best['stage']} {best['test_acc']:.1%} → "
            f"{last['stage']} {last['test_acc']:.1%}; chance {result['chance']:.1%}.")
    scratch = result.get("scratch") or []
    if scratch:
        sbest = max(scratch, key=lambda r: r["test_acc"])
        text += (f" {result['scratch_label']}: best {sbest['stage']} {sbest['test_acc']:.1%}, "
                 f"last {scratch[-1]['stage']} {scratch[-1]['test_acc']:.1%}.")
    return text
