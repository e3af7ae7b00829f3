"""The detector's export for the browser: INT8 made, checked against torch and cached; the numpy twin of the page's
pipeline gives Ultralytics' boxes; only checked exports are ever served."""
import json

import numpy as np
import pytest

from conftest import asset
from vision_demo.detect import browser_export as bx
from vision_demo.detect.export import _boxes_of, compare_boxes, find_export, weights_digest
from vision_demo.detect.weights import default_weights
from vision_demo.images import load_rgb

SHAPE = (256, 320)   # a 640x480 webcam frame at 320 px


@pytest.fixture(scope="module")
def exported():
    weights = default_weights()
    status = bx.BROWSER_EXPORTS.wait(weights, SHAPE)
    assert status.state == "ready", status
    return weights, status


@pytest.mark.slow
def test_int8_export_is_checked_cached_and_a_quarter_of_the_float(exported):
    weights, status = exported
    digest = weights_digest(weights)
    assert status.variant == "int8" and status.url == f"/vd/model/{digest}-256x320-int8.onnx"
    check = json.loads((bx.int8_folder(digest, SHAPE) / "check.json").read_text())
    assert check["agree"] and [c["image"] for c in check["checks"]] == ["bus.jpg", "zidane.jpg"]
    assert all(c["torch_boxes"] >= 2 for c in check["checks"])   # people found: the check compared something
    float_bytes = find_export(digest, SHAPE, "onnx").stat().st_size
    assert status.bytes < float_bytes / 3                       # ~11 MB against ~44 MB
    assert bx.BROWSER_EXPORTS.request(weights, SHAPE).url == status.url   # a second ask: from disk, no job


@pytest.mark.slow
@pytest.mark.parametrize("photo", ["bus.jpg", "zidane.jpg"])
def test_numpy_pipeline_gives_ultralytics_boxes_on_the_float_export(exported, photo):
    from ultralytics import YOLO

    weights, _ = exported
    session = bx.session_for(find_export(weights_digest(weights), SHAPE, "onnx"))
    ours = bx.detect_onnx(session, np.asarray(load_rgb(asset(photo))), 0.25, 0.7)
    theirs = _boxes_of(YOLO(str(weights), task="detect"), asset(photo), SHAPE, 0.25)
    assert len(ours) >= 2
    assert compare_boxes(theirs, ours, 0.25, iou_min=0.95, conf_tol=0.01) is None


def test_decode_keeps_classes_apart_and_filters():
    # Two anchors, same place, two classes: class-wise NMS keeps both; a class filter keeps one; conf drops both.
    out = np.zeros((1, 6, 3), np.float32)
    out[0, :4, 0] = out[0, :4, 1] = [160, 128, 40, 80]
    out[0, 4, 0], out[0, 5, 1] = 0.9, 0.8
    out[0, :4, 2], out[0, 4, 2] = [162, 130, 40, 80], 0.6    # overlaps anchor 0, same class: suppressed
    boxes = bx.decode(out, (480, 640), SHAPE, conf=0.25, iou=0.7)
    assert [(b["class_id"], round(b["confidence"], 2)) for b in boxes] == [(0, 0.9), (1, 0.8)]
    # 640x480 -> 320x240 (gain 0.5) centred in 320x256: 8 px of grey on top. x1 = (140 - 0) / 0.5, y1 = (88 - 8) / 0.5
    assert boxes[0]["xyxy"] == pytest.approx([280, 160, 360, 320])
    assert [b["class_id"] for b in bx.decode(out, (480, 640), SHAPE, classes=[1])] == [1]
    assert bx.decode(out, (480, 640), SHAPE, conf=0.95) == []


def test_letterbox_matches_ultralytics():
    from ultralytics.data.augment import LetterBox

    rgb = np.asarray(load_rgb(asset("bus.jpg")))   # 810x1080, portrait: padded left and right
    theirs = LetterBox(SHAPE, auto=False)(image=rgb)
    ours = bx.letterbox(rgb, SHAPE)[0].transpose(1, 2, 0) * 255
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 0.5


def test_only_checked_exports_are_served(exported, tmp_path):
    weights, status = exported
    digest = weights_digest(weights)
    assert bx.served_model(f"{digest}-256x320-int8") is not None
    assert bx.served_model(f"{digest}-256x320-f32") == find_export(digest, SHAPE, "onnx")
    for bad in (f"{digest}-320x320-int8", f"{digest[:16]}-256x320-int8", "../../etc/passwd", f"{digest}-256x320-fp16"):
        assert bx.served_model(bad) is None, bad
