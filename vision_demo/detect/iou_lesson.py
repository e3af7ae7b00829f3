"""IoU and mAP by hand: one picture with its ground truth, the model's boxes, and a box the student draws.

    from vision_demo.detect.iou_lesson import load_picture, predict_boxes, score, draw
    picture = load_picture("photo:bus.jpg")          # or "shapes:val_0003.jpg" (the generated set), or an image
    boxes = predict_boxes(picture, conf=0.25)        # the model runs once; cache the boxes, not the model
    lesson = score(picture, boxes, threshold=0.75, box=[50, 399, 246, 901])
    lesson.box_line      # "Your box: IoU 0.93 with the model's #1 Normal ..., 0.99 with a ground-truth person"
    lesson.map_line      # "mAP50 = 0.75, mAP50-95 = 0.41 on this picture ..."
    image = draw(picture, boxes, lesson)             # ground truth green, TP blue, FP red, your box yellow

Moving the IoU threshold only re-scores cached boxes (box_match.py, no model run), so a slider can move
live: at 0.5 a box in roughly the right place counts; at 0.9 only a box that hugs the object does. That is
the whole difference between mAP50 and mAP50-95.

Pictures with ground truth: the validation images of the generated shapes set (the set the "Train a
detector" tab trains on: pick a detector trained there), and Ultralytics' bus.jpg and zidane.jpg, whose
people were labelled by hand for this lesson (so the bundled person detector has something to be scored
against offline). Any other picture (the Detect tab's upload) has no ground truth: only the student's box
is compared with the model's.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision_demo.detect.box_match import IOU_THRESHOLDS, evaluate, iou, match
from vision_demo.errors import VisionDemoError

# People in Ultralytics' example photos, labelled by hand for this lesson: corners read by eye on zoomed crops
# (±3 px), the whole visible person from hair to shoe, cut-off people too. The bus is not labelled: the lesson's
# offline model sees people only.
PHOTO_TRUTHS = {
    "bus.jpg": [[50, 399, 246, 901], [225, 407, 344, 857], [668, 395, 810, 877], [0, 555, 78, 872]],
    "zidane.jpg": [[122, 202, 1150, 720], [752, 42, 1135, 720]],
}
# The bundled detector is a fall detector: its Normal (upright) and Fall (lying) are both people. For scoring
# against a "person" label, both count as person (the table still shows what the model said).
SAME_AS = {"normal": "person", "fall": "person"}


def _shapes_val_count() -> int:
    from vision_demo.datasets.shapes import default_shapes

    return int(inspect.signature(default_shapes).parameters["val"].default)   # the set the app trains on


def picture_choices() -> list[tuple[str, str]]:
    """(label, key) for the picture picker: the hand-labelled photos, then the shapes set's validation images."""
    from vision_demo.images import example_folder

    folder = example_folder()
    photos = [(f"{name} (people labelled by hand)", f"photo:{name}") for name in PHOTO_TRUTHS
              if folder and (folder / name).is_file()]
    shapes = [(f"shapes val_{i:04d} (generated, with labels)", f"shapes:val_{i:04d}.jpg")
              for i in range(_shapes_val_count())]
    return photos + shapes


@dataclass
class Picture:
    key: str                          # what picture_choices() named it ("photo:bus.jpg"), or "upload"
    name: str                         # for people: "bus.jpg", "val_0003.jpg"
    rgb: np.ndarray                   # (height, width, 3) uint8
    truths: list[dict] | None         # {"class_name", "xyxy"}; None when the picture has no ground truth

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def load_picture(key: str, upload=None) -> Picture:
    """A picture by its picker key; key "upload" (or empty) takes `upload` (a path or bytes) with no ground truth.

    Keys name pictures of the app's own (the example photos, the generated set), never a path: only names
    listed by picture_choices() are accepted."""
    from vision_demo.images import example_folder, load_rgb

    key = str(key or "upload").strip()
    if key == "upload":
        if upload is None:
            raise VisionDemoError("no picture: choose one in the list, or put an image on the Image tab first")
        return Picture("upload", "your picture", np.asarray(load_rgb(upload)), None)
    if key not in {k for _, k in picture_choices()}:
        raise VisionDemoError(f"unknown picture {key!r}: choose bus.jpg, zidane.jpg or a shapes image from the list")
    kind, name = key.split(":", 1)
    if kind == "photo":
        rgb = np.asarray(load_rgb(example_folder() / name))
        truths = [{"class_name": "person", "xyxy": [float(v) for v in box]} for box in PHOTO_TRUTHS[name]]
        return Picture(key, name, rgb, truths)
    from vision_demo.datasets.shapes import default_shapes
    from vision_demo.datasets.yolo import read_data_yaml

    yaml_path = default_shapes()          # generated once into the work folder (about a second)
    names = read_data_yaml(yaml_path)["names"]
    image_path = yaml_path.parent / "images" / "val" / name
    rgb = np.asarray(load_rgb(image_path))
    return Picture(key, name, rgb, read_yolo_labels(yaml_path.parent / "labels" / "val" / f"{Path(name).stem}.txt",
                                                    rgb.shape[1], rgb.shape[0], names))


def read_yolo_labels(path: Path, width: int, height: int, names) -> list[dict]:
    """YOLO label lines `class cx cy w h` (0..1 of the image size) -> boxes in pixels with class names."""
    names = names if isinstance(names, dict) else dict(enumerate(names))
    truths = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            cls, cx, cy, w, h = int(fields[0]), *(float(v) for v in fields[1:5])
        except (ValueError, IndexError):
            raise VisionDemoError(f"{Path(path).name} line {lineno} is not 'class cx cy w h'") from None
        if cls not in names:
            raise VisionDemoError(f"{Path(path).name} line {lineno}: class {cls} is not in the data set's names")
        truths.append({"class_name": str(names[cls]),
                       "xyxy": [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
                                (cy + h / 2) * height]})
    return truths


def model_size(picture: Picture) -> int:
    """The model sees the picture at its own size rounded up to a multiple of 32, at most 640 px: the shapes
    (320 px) at the size the detector trained at, the photos at the Detect tab's size."""
    return int(min(640, max(64, -(-max(picture.size) // 32) * 32)))


def predict_boxes(picture: Picture, weights=None, conf: float = 0.25, nms_iou: float = 0.7, runtime: str = "torch",
                  registry=None) -> list[dict]:
    """The model's boxes on the picture (the only step that runs a model: cache what it returns)."""
    from vision_demo.detect.detector import get_detector

    det = get_detector(weights or None, registry=registry).predict(
        picture.rgb, conf=float(conf), iou=float(nms_iou), imgsz=model_size(picture), runtime=runtime or "torch")
    return sorted(det.boxes, key=lambda b: -b["confidence"])   # #1 is the most confident, as matching takes them


def _scored(boxes: list[dict]) -> list[dict]:
    """The class names matching compares (Normal/Fall count as person); everything else unchanged."""
    return [{**b, "class_name": SAME_AS.get(str(b["class_name"]).lower(), b["class_name"])} for b in boxes]


def normalise_box(box, size: tuple[int, int]) -> list[float] | None:
    """[x1, y1, x2, y2] in any corner order, clipped to the picture; None when a corner is missing or it has no area."""
    if box is None or len(box) != 4 or any(v is None or v == "" for v in box):
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise VisionDemoError(f"the box needs four numbers x1, y1, x2, y2 (got {box!r})") from None
    width, height = size
    x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
    y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


@dataclass
class Lesson:
    threshold: float
    tp: list[bool]                    # per prediction (in the given order): a true positive at `threshold`
    rows: list[list]                  # the predictions table (PREDICTION_HEADERS)
    per_threshold: list[list]         # the thresholds table (THRESHOLD_HEADERS)
    tp_counts: list[int]              # per IOU_THRESHOLDS (what the plot shows)
    fp_counts: list[int]
    map_per_threshold: list[float]
    box: list[float] | None           # the student's box, clipped
    box_line: str
    map_line: str
    map50: float | None = None        # None without ground truth
    map50_95: float | None = None


PREDICTION_HEADERS = ["#", "class", "confidence", "best IoU with ground truth", "TP at the slider?",
                      "TP at 0.50 … 0.95"]
THRESHOLD_HEADERS = ["IoU threshold", "TP", "FP", "missed (FN)", "AP (mean over classes)"]


def _ticks(row) -> str:
    """✓✓✓✓✓✗✗✗✗✗: a prediction's verdict at each of the ten thresholds, and how many it passes."""
    return "".join("✓" if v else "✗" for v in row) + f" ({int(sum(row))}/10)"


def score(picture: Picture, boxes: list[dict], threshold: float = 0.5, box=None, model_classes=None) -> Lesson:
    """Everything the lesson shows for these boxes at this IoU threshold (no model run: slider speed).

    model_classes: the names the model knows; when none of them is in the ground truth the line says so
    (the bundled person detector on the shapes finds nothing: a detector trained on them does)."""
    threshold = float(threshold)
    if not 0.05 <= threshold <= 1.0:
        raise VisionDemoError(f"IoU threshold {threshold} is outside 0.05..1.0: 0.5 is mAP50's, 0.5-0.95 mAP50-95's")
    student = normalise_box(box, picture.size)
    preds = _scored(boxes)
    truths = _scored(picture.truths) if picture.truths is not None else None
    rows, per_threshold = [], []
    if truths is None:
        tp = [False] * len(boxes)
        tp_counts = fp_counts = [0] * len(IOU_THRESHOLDS)
        maps = [0.0] * len(IOU_THRESHOLDS)
        for i, b in enumerate(boxes, 1):
            rows.append([i, b["class_name"], round(b["confidence"], 3), "no ground truth", "—", "—"])
        map_line = (f"**No ground truth for {picture.name}**: {len(boxes)} model boxes, nothing to score them "
                    "against. Pick bus.jpg, zidane.jpg or a shapes image to see TP, FP and mAP.")
        result = Lesson(threshold, tp, rows, per_threshold, tp_counts, fp_counts, maps, student,
                        _box_line(student, boxes, preds, None), map_line)
        return result
    at_slider = match(preds, truths, (threshold,))
    ten = match(preds, truths)
    slider_tp = np.zeros(len(preds), bool)
    slider_tp[at_slider.order] = at_slider.tp[:, 0]
    ten_tp = np.zeros((len(preds), len(IOU_THRESHOLDS)), bool)
    ten_tp[ten.order] = ten.tp
    best = np.zeros(len(preds))
    best[ten.order] = ten.best_iou
    for i, b in enumerate(boxes):
        rows.append([i + 1, b["class_name"], round(b["confidence"], 3), round(float(best[i]), 3),
                     "TP" if slider_tp[i] else "FP", _ticks(ten_tp[i])])
    ev = evaluate([(preds, truths)])
    maps = ev.map_per_threshold
    for t, thr in enumerate(IOU_THRESHOLDS):
        per_threshold.append([f"{thr:.2f}", ev.tp_counts[t], ev.fp_counts[t], ev.fn_counts[t], round(maps[t], 3)])
    n_tp = int(slider_tp.sum())
    map_line = (f"**mAP50 = {ev.map50:.2f}, mAP50-95 = {ev.map50_95:.2f}** on this picture "
                f"({len(truths)} ground-truth boxes, {len(boxes)} predictions). At IoU ≥ {threshold:.2f}: "
                f"**{n_tp} TP, {len(boxes) - n_tp} FP, {len(truths) - n_tp} missed**.")
    if ev.map50 > ev.map50_95:
        map_line += " mAP50-95 is lower: a box good enough at 0.5 fails at 0.9."
    known = {SAME_AS.get(str(c).lower(), str(c)) for c in (model_classes or [])}
    if model_classes and not known & set(ev.classes):
        map_line = (f"**This model cannot find these objects**: it knows {', '.join(map(str, model_classes))}; "
                    f"the picture has {', '.join(ev.classes)}. Train a detector on the shapes (tab \"Train a "
                    "detector\") and pick it as the Model. " + map_line)
    return Lesson(threshold, slider_tp.tolist(), rows, per_threshold, ev.tp_counts, ev.fp_counts, maps, student,
                  _box_line(student, boxes, preds, truths), map_line, ev.map50, ev.map50_95)


def _box_line(student, boxes, preds, truths) -> str:
    """The student's box against the nearest model box and the nearest ground-truth box, by IoU."""
    if student is None:
        return ("**Draw a box**: click two opposite corners of an object on the picture (or type x1, y1, x2, y2), "
                "and see its IoU with the model's box and the ground truth.")
    corners = ", ".join(f"{v:.0f}" for v in student)
    parts = [f"**Your box** ({corners})"]
    if boxes:
        j = int(np.argmax([iou(student, b["xyxy"]) for b in boxes]))
        parts.append(f"IoU **{iou(student, boxes[j]['xyxy']):.2f}** with the model's #{j + 1} "
                     f"({boxes[j]['class_name']} {boxes[j]['confidence']:.2f})")
    else:
        parts.append("the model found nothing to compare it with")
    if truths:
        overlaps = [iou(student, t["xyxy"]) for t in truths]
        k = int(np.argmax(overlaps))
        passes = [t for t in IOU_THRESHOLDS if overlaps[k] >= t]
        verdict = (f"as a {truths[k]['class_name']} detection it would count up to IoU {passes[-1]:.2f}"
                   if passes else "below 0.50: as a detection it would not count at all")
        parts.append(f"IoU **{overlaps[k]:.2f}** with the ground-truth {truths[k]['class_name']} ({verdict})")
    elif truths is None:
        parts.append("no ground truth for this picture")
    return parts[0] + ": " + "; ".join(parts[1:]) + "."


# Colours (RGB) that read on a projector; the legend under the picture says the same.
GROUND_TRUTH, TRUE_POSITIVE, FALSE_POSITIVE, STUDENT = (0, 200, 80), (40, 110, 255), (255, 50, 50), (255, 200, 0)
LEGEND = ("green = ground truth · blue = prediction that counts (TP) at the slider's IoU · red = one that does not "
          "(FP) · yellow = your box")


def draw(picture: Picture, boxes: list[dict], lesson: Lesson, corner=None) -> np.ndarray:
    """The picture with the ground truth, the model's boxes numbered like the table, and the student's box."""
    import cv2

    out = np.ascontiguousarray(picture.rgb, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    thick = max(2, round(max(h, w) / 320))
    scale = max(0.45, max(h, w) / 1100)

    def rect(xyxy, colour, width, label=None):
        x1, y1, x2, y2 = (int(round(v)) for v in xyxy)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, width, cv2.LINE_AA)
        if label:
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, thick - 1))
            ty = y1 + th + base + 2 if y1 + th + base + 2 < h else y1 - 2   # inside the box, at its top
            cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + 1), colour, -1)
            cv2.putText(out, label, (x1 + 1, ty - base + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                        max(1, thick - 1), cv2.LINE_AA)

    for t in picture.truths or []:
        rect(t["xyxy"], GROUND_TRUTH, thick + 1)
    for i, (b, ok) in enumerate(zip(boxes, lesson.tp), 1):
        colour = TRUE_POSITIVE if ok or picture.truths is None else FALSE_POSITIVE
        rect(b["xyxy"], colour, thick, f"#{i} {b['confidence']:.2f}")
    if lesson.box is not None:
        rect(lesson.box, STUDENT, thick + 1, "you")
    if corner is not None:   # the first click of two: a cross where it landed
        x, y = (int(round(v)) for v in corner)
        size = 4 * thick
        cv2.line(out, (x - size, y), (x + size, y), STUDENT, thick, cv2.LINE_AA)
        cv2.line(out, (x, y - size), (x, y + size), STUDENT, thick, cv2.LINE_AA)
    return out
