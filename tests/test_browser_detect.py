"""The detector in the page (onnxruntime-web + yolo_browser.js) against Python (onnxruntime + browser_export's
numpy twin) on the same INT8 export and the same thresholds: box for box on the example photos and on frames
of chromium's fake camera. Every request stays on 127.0.0.1 (the page fixture aborts and records the others)."""
import base64
import io

import numpy as np
import pytest

from conftest import asset, serve_fresh_app
from test_browser import browser, page  # noqa: F401  (fixtures: chromium with the fake camera, a guarded page)
from vision_demo.detect import browser_export as bx
from vision_demo.detect.export import CONF_MARGIN, iou
from vision_demo.detect.weights import default_weights
from vision_demo.images import load_rgb

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SHAPE = (256, 320)
IOU_MIN = 0.9      # the same graph and resize (cv2's bilinear in JS floats against its fixed point: a grey level
CONF_TOL = 0.03    # here and there, which INT8 turns into a hundredth of confidence)


@pytest.fixture(scope="module")
def exported():
    weights = default_weights()
    status = bx.BROWSER_EXPORTS.wait(weights, SHAPE)
    assert status.state == "ready" and status.variant == "int8", status
    return status


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, exported):
    with serve_fresh_app(tmp_path_factory.mktemp("browser_detect_jobs")) as (url, _):
        yield url


def png_url(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")   # lossless: both sides see the very same pixels
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def rgb_of(data_url: str) -> np.ndarray:
    return np.asarray(load_rgb(base64.b64decode(data_url.split(",", 1)[1])))


DETECT_JS = """async ([url, shape, images, settings]) => {
  const yolo = await import('/vd/web/yolo_browser.js');
  const det = window.vdDet || (window.vdDet = await yolo.loadDetector(url, shape, {0: 'Normal', 1: 'Fall'}));
  const out = [];
  for (const src of images) {
    const img = new Image(); img.src = src; await img.decode();
    const row = [];
    for (const s of settings) row.push((await det.detect(img, s)).boxes);
    out.push(row);
  }
  return {out, text: det.text};
}"""

CAMERA_JS = """async ([url, shape, n]) => {
  const yolo = await import('/vd/web/yolo_browser.js');
  const det = window.vdDet || (window.vdDet = await yolo.loadDetector(url, shape, {0: 'Normal', 1: 'Fall'}));
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}});
  const video = document.createElement('video'); video.muted = true; video.srcObject = stream; await video.play();
  const frames = [], grab = document.createElement('canvas');
  for (let i = 0; i < n; i++) {
    await new Promise(r => setTimeout(r, 150));
    grab.width = video.videoWidth; grab.height = video.videoHeight;
    grab.getContext('2d').drawImage(video, 0, 0);   // the frame, kept: the model and Python see the same one
    frames.push({png: grab.toDataURL('image/png'), boxes: (await det.detect(grab, {conf: 0.25, iou: 0.7})).boxes});
  }
  stream.getTracks().forEach(t => t.stop());
  return frames;
}"""


def same_boxes(python: list[dict], browser: list[dict], conf: float) -> None:
    """Box for box: every box clear of the threshold has its twin (class, IoU, confidence) on the other side."""
    js = [{"class_id": b["class_id"], "confidence": b["conf"], "xyxy": b["xyxy"]} for b in browser]
    for name, ours, theirs in (("python", python, js), ("browser", js, python)):
        for box in ours:
            if box["confidence"] < conf + CONF_MARGIN / 2:
                continue
            twins = [b for b in theirs if b["class_id"] == box["class_id"]]
            best = max(twins, key=lambda b: iou(b["xyxy"], box["xyxy"]), default=None)
            assert best is not None, f"{name}'s {box} has no twin in {theirs}"
            assert iou(best["xyxy"], box["xyxy"]) >= IOU_MIN, (name, box, best)
            assert abs(best["confidence"] - box["confidence"]) <= CONF_TOL, (name, box, best)
    clear = lambda boxes: sum(b["confidence"] >= conf + CONF_MARGIN / 2 for b in boxes)   # noqa: E731
    assert clear(python) == clear(js)


def test_browser_boxes_match_python_on_the_example_photos(page, app_url, exported):
    session = bx.session_for(bx.served_model(exported.url.rsplit("/", 1)[1].removesuffix(".onnx")))
    photos = [np.asarray(load_rgb(asset(n))) for n in ("bus.jpg", "zidane.jpg")]
    photos.append(np.ascontiguousarray(photos[1][:, ::-1]))   # zidane mirrored: a different picture, same people
    settings = [{"conf": 0.25, "iou": 0.7}, {"conf": 0.5, "iou": 0.7}, {"conf": 0.25, "iou": 0.3},
                {"conf": 0.25, "iou": 0.7, "classes": [1]}]   # the page's controls: each one changes the answer
    page.goto(app_url, wait_until="load")
    result = page.evaluate(DETECT_JS, [exported.url, list(SHAPE), [png_url(p) for p in photos], settings])
    total = 0
    for rgb, row in zip(photos, result["out"]):
        for s, boxes in zip(settings, row):
            python = bx.detect_onnx(session, rgb, s["conf"], s["iou"], s.get("classes"))
            same_boxes(python, boxes, s["conf"])
            total += len(python)
    assert total >= 12                      # people were found: the comparison compared something
    assert "WASM" in result["text"]
    assert page.outside_requests == []


def test_browser_boxes_match_python_on_camera_frames(page, app_url, exported):
    session = bx.session_for(bx.served_model(exported.url.rsplit("/", 1)[1].removesuffix(".onnx")))
    page.goto(app_url, wait_until="load")
    frames = page.evaluate(CAMERA_JS, [exported.url, list(SHAPE), 3])
    assert len(frames) == 3
    for frame in frames:
        rgb = rgb_of(frame["png"])
        assert rgb.shape == (480, 640, 3)
        python = bx.detect_onnx(session, rgb, 0.25, 0.7)
        assert python, "the bus camera shows people"
        same_boxes(python, frame["boxes"], 0.25)
    assert page.outside_requests == []
