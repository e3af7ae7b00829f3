"""IoU, matching and mAP (detect/box_match.py): hand-computed cases, then Ultralytics' own functions as the referee."""
import numpy as np
import pytest

from vision_demo.detect.box_match import IOU_THRESHOLDS, average_precision, evaluate, iou, match


def pred(xyxy, conf, name="cat"):
    return {"class_name": name, "confidence": conf, "xyxy": list(map(float, xyxy))}


def truth(xyxy, name="cat"):
    return {"class_name": name, "xyxy": list(map(float, xyxy))}


def test_iou_by_hand():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)         # half of each: 1/3, not 1/2
    assert iou([0, 0, 10, 10], [2, 2, 8, 8]) == pytest.approx(36 / 100)           # one inside the other
    assert iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0                            # touching edges: no area
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0                                 # no area: 0, not a division error
    assert iou([0, 0, 4, 4], [2, 2, 6, 6]) == pytest.approx(4 / 28)


def test_thresholds_are_cocos_ten():
    assert IOU_THRESHOLDS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def test_a_box_good_enough_at_half_fails_at_ninety():
    # IoU 0.8: a true positive from 0.50 to 0.80, a false positive (and the object missed) from 0.85 on
    m = match([pred([0, 0, 10, 10], 0.9)], [truth([0, 0, 10, 8])])
    assert iou([0, 0, 10, 10], [0, 0, 10, 8]) == pytest.approx(0.8)
    assert m.tp[0].tolist() == [True] * 7 + [False] * 3
    assert [m.missed(t) for t in range(10)] == [0] * 7 + [1] * 3


def test_a_duplicate_is_a_false_positive_and_each_truth_is_matched_once():
    boxes = [pred([1, 0, 11, 10], 0.6), pred([0, 0, 10, 10], 0.9)]   # the better box is also the more confident
    m = match(boxes, [truth([0, 0, 10, 10])])
    assert m.order == [1, 0]                        # most confident first
    assert m.tp[0].all() and not m.tp[1].any()      # the second box on the same cat: FP at every threshold
    assert m.truth[0].tolist() == [0] * 10 and m.truth[1].tolist() == [-1] * 10
    assert m.best_iou.tolist() == pytest.approx([1.0, iou([1, 0, 11, 10], [0, 0, 10, 10])])


def test_confidence_not_iou_decides_who_gets_the_truth():
    # The sloppier box is more confident: it claims the cat at 0.5; the tight box is left as a FP.
    # At 0.9 the sloppy box (IoU 0.6) fails, so the tight one gets the cat there: a TP at high IoU only.
    sloppy, tight = pred([0, 0, 10, 6], 0.9), pred([0, 0, 10, 10], 0.5)
    m = match([tight, sloppy], [truth([0, 0, 10, 10])])
    assert m.order == [1, 0]
    assert m.tp[0].tolist() == [True, True, True] + [False] * 7       # sloppy: IoU 0.6
    assert m.tp[1].tolist() == [False, False, False] + [True] * 7     # tight: only once the sloppy one fails


def test_a_wrong_class_is_a_false_positive_and_the_object_a_miss():
    m = match([pred([0, 0, 10, 10], 0.9, "dog")], [truth([0, 0, 10, 10], "cat")])
    assert not m.tp.any() and m.best_iou.tolist() == [0.0] and m.missed(0) == 1


def test_each_prediction_takes_its_best_unclaimed_truth():
    # two cats side by side; the first box overlaps both, more the right one
    cats = [truth([0, 0, 10, 10]), truth([8, 0, 18, 10])]
    m = match([pred([7, 0, 17, 10], 0.9), pred([0, 0, 10, 10], 0.8)], cats)
    assert m.truth[:, 0].tolist() == [1, 0] and m.tp[:, 0].all()


def test_no_predictions_or_no_truths():
    assert match([], [truth([0, 0, 1, 1])]).missed(0) == 1
    m = match([pred([0, 0, 1, 1], 0.5)], [])
    assert not m.tp.any() and m.best_iou.tolist() == [0.0]
    result = evaluate([([], [])])
    assert result.map50 == 0.0 and result.map50_95 == 0.0 and result.classes == []


def test_average_precision_by_hand():
    # one box, one object, found: 0.995, not 1 (the last hundredth of recall is half a trapezoid down to 0)
    assert average_precision(np.array([1.0]), np.array([1.0])) == pytest.approx(0.995)
    # TP, FP, TP over two objects: precision 1, 1/2, 2/3 at recall .5, .5, 1 -> envelope 1 up to .5, 2/3 to 1
    ap = average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
    assert ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=0.01)
    assert average_precision(np.array([0.0, 0.0]), np.array([0.0, 0.0])) == 0.0   # nothing found


def test_evaluate_one_image_map50_and_map50_95():
    result = evaluate([([pred([0, 0, 10, 10], 0.9), pred([20, 0, 30, 9], 0.8)],
                        [truth([0, 0, 10, 10]), truth([20, 0, 30, 10])])])
    # first box exact (TP everywhere), second IoU 0.9 (TP up to 0.90): AP 0.995 (perfect) at nine thresholds,
    # at 0.95 only the first (more confident) one: recall 0.5 at precision 1 -> AP 0.5
    assert result.tp_counts == [2] * 9 + [1] and result.fp_counts == [0] * 9 + [1] and result.fn_counts[-1] == 1
    assert result.map50 == pytest.approx(0.995)
    assert result.map_per_threshold[-1] == pytest.approx(0.5, abs=0.01)
    assert result.map50_95 == pytest.approx((9 * 0.995 + 0.5) / 10, abs=0.01)
    assert result.map50_95 < result.map50


def test_a_class_only_predicted_has_no_ap_but_its_false_positives_count():
    result = evaluate([([pred([0, 0, 10, 10], 0.9), pred([50, 50, 60, 60], 0.95, "dog")], [truth([0, 0, 10, 10])])])
    assert result.classes == ["cat"] and result.map50 == pytest.approx(0.995)
    assert result.fp_counts[0] == 1


# ---- Ultralytics as the referee ----------------------------------------------------------------------------

def _random_set(seed: int, images: int = 12):
    """Images with 0-5 objects of 3 classes; predictions near them (some sloppy, duplicates, wrong classes) and
    random false alarms, with random confidences."""
    rng = np.random.default_rng(seed)
    names = ["circle", "square", "triangle"]
    data = []
    for _ in range(images):
        truths, preds = [], []
        for _ in range(int(rng.integers(0, 6))):
            x, y, w, h = rng.uniform(0, 200), rng.uniform(0, 200), rng.uniform(10, 80), rng.uniform(10, 80)
            name = names[int(rng.integers(3))]
            truths.append(truth([x, y, x + w, y + h], name))
            for _ in range(int(rng.integers(0, 3))):          # 0, 1 or 2 guesses (a duplicate) per object
                jitter = rng.normal(0, 0.12, 4) * [w, h, w, h]
                guess = name if rng.random() > 0.15 else names[int(rng.integers(3))]
                box = np.array([x, y, x + w, y + h]) + jitter
                preds.append(pred([box[0], box[1], max(box[2], box[0] + 1), max(box[3], box[1] + 1)],
                                  float(rng.uniform(0.05, 1)), guess))
        for _ in range(int(rng.integers(0, 3))):
            x, y = rng.uniform(0, 250, 2)
            preds.append(pred([x, y, x + 30, y + 30], float(rng.uniform(0.05, 1)), names[int(rng.integers(3))]))
        data.append((preds, truths))
    return data, names


def _ultralytics_map(data, names):
    """The same boxes through Ultralytics' matching (DetectionValidator.match_predictions) and ap_per_class."""
    from vision_demo.ultralytics_env import ultralytics_ready

    ultralytics_ready()   # imported inside the work folder, offline
    import torch
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils.metrics import ap_per_class, box_iou

    validator = DetectionValidator()
    ids = {n: i for i, n in enumerate(names)}
    tps, confs, pred_cls, target_cls = [], [], [], []
    for preds, truths in data:
        preds = sorted(preds, key=lambda p: -p["confidence"])            # NMS output order: most confident first
        pc = torch.tensor([ids[p["class_name"]] for p in preds], dtype=torch.float32)
        tc = torch.tensor([ids[t["class_name"]] for t in truths], dtype=torch.float32)
        if preds and truths:
            overlaps = box_iou(torch.tensor([t["xyxy"] for t in truths]), torch.tensor([p["xyxy"] for p in preds]))
            tps.append(validator.match_predictions(pc, tc, overlaps).numpy())
        else:
            tps.append(np.zeros((len(preds), 10), bool))
        confs += [p["confidence"] for p in preds]
        pred_cls += pc.tolist()
        target_cls += tc.tolist()
    out = ap_per_class(np.concatenate(tps), np.array(confs), np.array(pred_cls), np.array(target_cls))
    ap = out[5]                                                           # (classes with labels, 10)
    return float(ap[:, 0].mean()), float(ap.mean()), np.concatenate(tps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_our_map_equals_ultralytics_on_the_same_boxes(seed):
    data, names = _random_set(seed)
    ours = evaluate(data)
    map50, map50_95, their_tp = _ultralytics_map(data, names)
    assert ours.map50 == pytest.approx(map50, abs=1e-6)
    assert ours.map50_95 == pytest.approx(map50_95, abs=1e-6)
    assert sum(ours.tp_counts) == int(their_tp.sum())          # the same true positives, threshold by threshold
    assert ours.tp_counts == their_tp.sum(axis=0).tolist()
    assert 0 < ours.map50_95 < ours.map50 < 1                   # a set where the lesson's point shows
