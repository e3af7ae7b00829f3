"""IoU, matching predictions to ground truth, and mAP: the arithmetic behind every detection score.

    from vision_demo.detect.box_match import iou, match, evaluate
    iou([0, 0, 10, 10], [5, 0, 15, 10])               # 50 / 150 = 0.333...
    m = match(predictions, truths)                     # dicts with "class_name", "xyxy" (+ "confidence")
    m.tp[0]          # prediction 0 (the most confident): True/False at IoU 0.50, 0.55, ..., 0.95
    result = evaluate([(predictions, truths)])         # one image, or many
    result.map50, result.map50_95, result.tp_counts    # mAP at 0.5, mAP averaged over 0.50:0.95, TPs per threshold

1. IoU (intersection over union) says how well two boxes agree: the overlap's area divided by the area
   the two cover together. 1.0 is the same box; 0.5 is the usual "found it" line.
2. Matching turns boxes into true and false positives, the way COCO and Ultralytics do it: predictions are
   taken in order of confidence, most confident first; each takes the unclaimed ground-truth box of its own
   class that it overlaps most; it is a TRUE POSITIVE when that IoU reaches the threshold, else a FALSE
   POSITIVE. Each ground-truth box is claimed at most once, so a second box on the same object is a false
   positive (a duplicate NMS did not remove), and so is a box of the wrong class. Ground-truth boxes nobody
   claimed are misses (false negatives). This runs separately at each of ten IoU thresholds, 0.50 to 0.95.
3. AP (average precision) of one class: walk down the predictions by confidence, and after each one note
   precision (TP / predictions so far) and recall (TP / ground-truth boxes). AP is the area under that
   precision-recall curve, with precision first made non-increasing, read at 101 recall points
   (Ultralytics' `compute_ap`; COCO reads the same 101 points). mAP is AP averaged over the classes.
4. mAP50 uses the threshold 0.5 only; mAP50-95 averages mAP over the ten thresholds 0.50, 0.55, ..., 0.95.
   mAP50-95 is lower because a box that is "good enough" at 0.5 (it found the object) fails at 0.9 (its
   edges are a few pixels off): it rewards boxes that fit tightly, not just boxes in the right place.

Everything here is plain numbers (no model, no torch): tests check it against Ultralytics' own functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))   # 0.50, 0.55, ..., 0.95: COCO's ten


def iou(a, b) -> float:
    """Intersection over union of two boxes given as [x1, y1, x2, y2] (pixels; x2 > x1, y2 > y1)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))   # width of the overlap (0 when they do not touch)
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def iou_matrix(truths: list, predictions: list) -> np.ndarray:
    """IoU of every ground-truth box (rows) with every prediction (columns): shape (len(truths), len(predictions))."""
    out = np.zeros((len(truths), len(predictions)))
    for i, t in enumerate(truths):
        for j, p in enumerate(predictions):
            out[i, j] = iou(t["xyxy"], p["xyxy"])
    return out


@dataclass
class Match:
    """The outcome of matching one image's predictions (sorted most confident first) to its ground truth."""
    order: list[int]               # index in the caller's list of each row below (rows go by confidence)
    tp: np.ndarray                 # (predictions, thresholds) bool: a true positive at that IoU threshold
    truth: np.ndarray              # (predictions, thresholds) int: the ground-truth box it claimed, -1 for none
    best_iou: np.ndarray           # (predictions,) its best IoU with a ground-truth box of its class (claimed or not)
    n_truths: int
    thresholds: tuple[float, ...]

    def missed(self, t: int) -> int:
        """Ground-truth boxes no prediction claimed at threshold index t (false negatives)."""
        return self.n_truths - int(self.tp[:, t].sum())


def match(predictions: list, truths: list, thresholds=IOU_THRESHOLDS) -> Match:
    """Greedy matching by confidence at each threshold (see the module's step 2).

    predictions: dicts with "class_name", "xyxy" and "confidence"; truths: dicts with "class_name" and "xyxy".
    Classes are compared by name, so a model and a data set that number their classes differently still agree.
    """
    order = sorted(range(len(predictions)), key=lambda j: -float(predictions[j]["confidence"]))  # stable on ties
    preds = [predictions[j] for j in order]
    thresholds = tuple(float(t) for t in thresholds)
    n_p, n_t, n_thr = len(preds), len(truths), len(thresholds)
    tp = np.zeros((n_p, n_thr), dtype=bool)
    claimed_by = np.full((n_p, n_thr), -1)
    overlaps = iou_matrix(truths, preds)
    same_class = np.array([[t["class_name"] == p["class_name"] for p in preds] for t in truths], dtype=bool)
    overlaps = np.where(same_class.reshape(overlaps.shape), overlaps, 0.0)   # a box of another class never counts
    best = overlaps.max(axis=0) if n_t else np.zeros(n_p)
    claimed = np.zeros((n_t, n_thr), dtype=bool)   # ground-truth boxes taken so far, per threshold
    limits = np.array(thresholds)
    for j in range(n_p):                            # most confident first: it has the first pick
        if not n_t:
            break
        free = np.where(claimed, 0.0, overlaps[:, j, None])   # (truths, thresholds): IoU with the unclaimed ones
        k = free.argmax(axis=0)                                # the best unclaimed box at each threshold
        hit = free[k, range(n_thr)] >= limits
        tp[j] = hit
        claimed_by[j] = np.where(hit, k, -1)
        claimed[k[hit], np.flatnonzero(hit)] = True
    return Match(order, tp, claimed_by, best, n_t, thresholds)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under a precision-recall curve the way Ultralytics (`compute_ap`) and COCO read it.

    The curve gets end points (recall 0 at precision 1, then precision 0 past the last recall), precision is
    made non-increasing from the right (the best precision reachable at this recall or more), and the area
    is integrated over 101 recall points 0.00, 0.01, ..., 1.00. A perfect detector scores 0.995, not 1.0: at
    recall 1.00 the curve already reads the end point's precision 0, so the last hundredth is a half
    trapezoid. Ultralytics' figures share the quirk (its mAP50 on an easy set reads 0.995).
    """
    mrec = np.concatenate(([0.0], recall, [recall[-1] if len(recall) else 1.0], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    y = np.interp(x, mrec, mpre)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))   # the trapezoid rule, as Ultralytics integrates


@dataclass
class Evaluation:
    """Scores over one or more images."""
    thresholds: tuple[float, ...]
    classes: list[str]              # the ground-truth classes (mAP averages over these, as Ultralytics does)
    ap: np.ndarray                  # (classes, thresholds) average precision
    tp_counts: list[int]            # per threshold, over all images
    fp_counts: list[int]
    fn_counts: list[int]

    @property
    def map_per_threshold(self) -> list[float]:
        return [float(v) for v in self.ap.mean(axis=0)] if len(self.classes) else [0.0] * len(self.thresholds)

    @property
    def map50(self) -> float:
        return self.map_per_threshold[0]

    @property
    def map50_95(self) -> float:
        return float(np.mean(self.map_per_threshold))


def evaluate(images, thresholds=IOU_THRESHOLDS) -> Evaluation:
    """mAP over images given as (predictions, truths) pairs: match each image, then rank all predictions together.

    A class that is predicted but absent from every ground truth has no AP (its false positives still count
    in fp_counts); a class with ground truth but no prediction has AP 0. Same rules as Ultralytics' val.
    """
    thresholds = tuple(float(t) for t in thresholds)
    rows, confs, names, truth_names = [], [], [], []
    tp_counts, fp_counts, fn_counts = np.zeros(len(thresholds), int), np.zeros(len(thresholds), int), \
        np.zeros(len(thresholds), int)
    for predictions, truths in images:
        m = match(predictions, truths, thresholds)
        rows.append(m.tp)
        confs += [float(predictions[j]["confidence"]) for j in m.order]
        names += [predictions[j]["class_name"] for j in m.order]
        truth_names += [t["class_name"] for t in truths]
        tp_counts += m.tp.sum(axis=0)
        fp_counts += len(m.order) - m.tp.sum(axis=0)
        fn_counts += [m.missed(t) for t in range(len(thresholds))]
    tp = np.concatenate(rows) if rows else np.zeros((0, len(thresholds)), bool)
    confs, names = np.array(confs), np.array(names, dtype=object)
    classes = sorted(set(truth_names))
    ap = np.zeros((len(classes), len(thresholds)))
    for ci, name in enumerate(classes):
        mine = names == name
        n_truths = truth_names.count(name)
        if not mine.any():
            continue                                   # objects of this class, no prediction of it: AP 0
        ranked = np.argsort(-confs[mine], kind="stable")
        hits = tp[mine][ranked]
        tpc = hits.cumsum(axis=0)
        fpc = (~hits).cumsum(axis=0)
        recall = tpc / n_truths
        precision = tpc / (tpc + fpc)
        for t in range(len(thresholds)):
            ap[ci, t] = average_precision(recall[:, t], precision[:, t])
    return Evaluation(thresholds, classes, ap, tp_counts.tolist(), fp_counts.tolist(), fn_counts.tolist())
