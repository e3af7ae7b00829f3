"""Ultralytics' results -> our boxes: plain dicts of floats, the one shape every part of detection passes around.

    from vision_demo.detect.boxes import boxes_from_result
    boxes = boxes_from_result(model.predict("bus.jpg")[0], {0: "Normal", 1: "Fall"})
    boxes[0]   # {"class_id": 0, "class_name": "Normal", "confidence": 0.91, "xyxy": [x1, y1, x2, y2], "xywhn": [...]}

A leaf: the detector (which runs a model) and the export check (which compares two models' boxes) both use it,
and it imports neither.
"""
from __future__ import annotations


def boxes_from_result(result, names: dict[int, str]) -> list[dict]:
    """One Ultralytics `Results` -> [{class_id, class_name, confidence, xyxy (pixels), xywhn (0..1)}], rounded plain
    floats: nothing keeps a reference to the tensors."""
    if result.boxes is None or len(result.boxes) == 0:
        return []
    b = result.boxes.cpu()
    xyxy, xywhn = b.xyxy.numpy().tolist(), b.xywhn.numpy().tolist()
    cls, confs = b.cls.numpy().astype(int).tolist(), b.conf.numpy().tolist()
    return [{"class_id": c, "class_name": names.get(c, str(c)), "confidence": round(float(p), 4),
             "xyxy": [round(float(v), 1) for v in box], "xywhn": [round(float(v), 5) for v in boxn]}
            for c, p, box, boxn in zip(cls, confs, xyxy, xywhn)]
