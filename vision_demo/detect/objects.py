"""One click trains "Your objects": the set's zip (datasets/objects.py) through the ordinary YOLO training job.

    ids = submit_objects(registry, ObjectSet.for_id(set_id), scratch=True)   # fine-tuned, and from scratch
    python -m vision_demo objects train my-desk --epochs 10 --imgsz 320

The job is the Train-a-detector tab's own ("detect" kind, detect/train.py) on the zip the student could
download, so what it trains on is exactly that YOLO data set, checked like any upload; its best.pt then
appears on the Detect tab's model picker and on its live webcam like every finished detection job.

Defaults, measured here (benchmarks/objects_train.py: 2 classes x 20 webcam-like 640x480 pictures, one object
each, 32 train / 8 val; the shared 2-core CPU under a load of 4-8, so times are upper bounds):

    recipe (imgsz 320, batch 16)    s/epoch   mAP50 by epoch 2 / 4 / 6 / 10        12 epochs, wall
    backbone frozen (freeze 10)     ~10-20    0.74 / 0.91 / 0.995 / 0.995           224 s
    all layers train (freeze 0)     ~22-33    0.63 / 0.65 / 0.86 / 0.92             353 s

- freeze 10 (the backbone, layers 0-9): with 30-odd pictures the backbone's features are what we want to
  keep, and not back-propagating through it halves an epoch and learns faster; from scratch nothing is frozen;
- imgsz 320: a desk object fills a good part of a webcam frame, and a CPU step costs ~4x less than at 640;
- EPOCHS 10: mAP50 reached 0.995 by epoch 6 frozen; 10 leaves room for harder objects and stays ~2.5 min
  (epochs x ~13 s + ~30 s of loading and the final validation);
- mosaic (four pictures in one) multiplies few pictures into many layouts; the last CLOSE_MOSAIC epochs
  see the pictures as the webcam does, so the boxes settle on whole frames.
"""
from __future__ import annotations

from vision_demo.errors import VisionDemoError

EPOCHS = 10          # 2 x 20 pictures: mAP50 0.995 by epoch 6 here (see above); 10 for harder objects
IMGSZ = 320
FREEZE = 10          # the backbone of the YOLOv8 detector: layers 0-9
CLOSE_MOSAIC = 3     # the last 3 epochs see the pictures as they are
BATCH = 16
NAME_PREFIX = "Your objects"


def job_name(objects, scratch: bool) -> str:
    label = objects.name() or ", ".join(objects.classes())
    return f"{NAME_PREFIX} · {label} · " + ("from scratch" if scratch else "fine-tuned")


def submit_objects(registry, objects, epochs: int = EPOCHS, imgsz: int = IMGSZ, scratch: bool = False,
                   compare: bool = False, owner: str | None = None, seed: int = 0, device: str | None = None,
                   freeze: int | None = None, batch: int | None = None, step_every_batch: bool = False) -> list[str]:
    """Zip the set (VisionDemoError when a class has too few boxed pictures) and queue the fine-tuning job,
    or the scratch one (scratch=True), or both (compare=True); returns the job ids at once.
    step_every_batch: an optimizer step per batch and no lr warm-up (nbs = batch, warmup_epochs 0) instead of
    Ultralytics' one step per 64 images after 100 warm-up steps; measured (benchmark, batch 16): mAP50 0.83
    after one epoch, then 0.73-0.79 through epoch 8, where the default reached 0.995 by epoch 6: off by default."""
    from vision_demo.detect.train import YoloTrainConfig, submit, validate_config

    data = objects.export_zip(seed=seed)
    runs = [False, True] if compare else [bool(scratch)]
    batch = int(batch or BATCH)
    steps = dict(nbs=batch, warmup_epochs=0.0) if step_every_batch else {}
    configs = [YoloTrainConfig(data=str(data), scratch=s, epochs=int(epochs), imgsz=int(imgsz), batch=batch, **steps,
                               seed=int(seed), device=device, name=job_name(objects, s),
                               # From scratch nothing is worth keeping fixed: every layer learns.
                               freeze=0 if s else (FREEZE if freeze is None else int(freeze)),
                               close_mosaic=min(CLOSE_MOSAIC, int(epochs)))
               for s in runs]
    for config in configs:
        validate_config(config)
    return [submit(registry, config, owner=owner) for config in configs]


def jobs_of(registry, objects) -> list:
    """The detection jobs that trained on this set's zips (oldest first)."""
    return [s for s in registry.snapshot(kind="detect") if objects.owns_export(s.config.get("data"))]


def best_job(states) -> str | None:
    """The finished job to use: the highest mAP50, the newest on a tie."""
    done = [s for s in states if s.status == "finished" and s.result]
    if not done:
        return None
    return max(done, key=lambda s: (s.result.get("map50", 0.0), s.ended or 0)).id


def one_box_per_object(boxes: list[dict], iou: float = 0.7, key: str = "conf") -> list[dict]:
    """Drop a box that overlaps a more confident box of ANOTHER class by more than `iou`. Ultralytics' NMS is
    per class, so a young detector can put a "book 0.76" on the ball under its "ball 0.98": one object, one box
    (what a student would draw, and what label assist proposes). Boxes need "xyxy" and `key` (confidence)."""
    from vision_demo.detect.box_match import iou as box_iou

    kept: list[dict] = []
    for box in sorted(boxes, key=lambda b: -float(b[key])):
        if all(box_iou(box["xyxy"], k["xyxy"]) <= iou for k in kept):
            kept.append(box)
    return kept


def propose(registry, objects, job_id, image, conf: float = 0.35) -> list[dict]:
    """Label assist: the boxes a finished job of this set finds on a picture, as the editor takes them
    ({"class", "xyxy", "conf"}); only classes the set still has."""
    from vision_demo.detect.detector import get_detector

    try:
        state = registry.get(job_id)
    except KeyError:
        raise VisionDemoError(f"no job {job_id!r}: train first") from None
    if state.status != "finished" or state.id not in {s.id for s in jobs_of(registry, objects)}:
        raise VisionDemoError("label assist needs a finished detector trained on your objects")
    det = get_detector(f"job:{state.id}", registry=registry).predict(image, conf=conf, imgsz=IMGSZ, runtime="torch")
    names = objects.classes()
    return one_box_per_object([{"class": b["class_name"], "xyxy": [round(v, 1) for v in b["xyxy"]],
                                "conf": round(b["confidence"], 3)} for b in det.boxes if b["class_name"] in names])
