"""The Detect tab's runtime switch and webcam path, called as the server calls them (real model, no server)."""
import numpy as np
import pytest
from PIL import Image

from conftest import asset  # the module pytest loaded (tests.conftest would run it again: a new WORK)


@pytest.fixture(scope="module")
def handlers(tmp_path_factory):
    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import detect_tab

    return detect_tab.make_handlers(JobRegistry(tmp_path_factory.mktemp("jobs")))


def webcam_frame(width=640, height=480) -> np.ndarray:
    """What Gradio hands the stream handler: an RGB array at the capture's size (here a crop of bus.jpg)."""
    img = Image.open(asset("bus.jpg")).convert("RGB")
    return np.asarray(img.crop((0, 300, 810, 300 + 810 * height // width)).resize((width, height)))


def data_url(frame: np.ndarray, fmt: str = "JPEG") -> str:
    """What the webcam view sends: the frame as a canvas's toDataURL("image/jpeg") makes it."""
    import base64
    import io

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def payload(frame, **settings) -> dict:
    return {"image": data_url(frame) if isinstance(frame, np.ndarray) else frame, "weights": "person (bundled)",
            "conf": 0.25, "iou": 0.7, "classes": [], "runtime": "openvino", "size": 320, **settings}


@pytest.mark.slow
def test_webcam_frame_gives_boxes_in_the_capture_size_and_names_the_runtime(handlers, no_network):
    from vision_demo.detect.export import EXPORTS, input_shape
    from vision_demo.detect.weights import default_weights

    frame = webcam_frame()
    # the export traced for this frame's input at 320 px (256x320), as the app's warm-up makes it
    assert EXPORTS.wait(default_weights(), input_shape(320, frame.shape[:2]), "openvino").state == "ready"
    answer = handlers.webcam_frame(payload(frame))
    assert (answer["w"], answer["h"], answer["size"]) == (640, 480, 320)
    assert (answer["runtime"], answer["precision"]) == ("openvino", "f32") and not answer["note"]
    assert answer["boxes"] and {b["name"] for b in answer["boxes"]} <= {"Normal", "Fall"}
    for b in answer["boxes"]:   # pixel corners in the full frame (not the model's 320 px), a palette colour
        x1, y1, x2, y2 = b["xyxy"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480 and b["colour"].startswith("#") and 0 < b["conf"] <= 1
    assert max(b["xyxy"][2] for b in answer["boxes"]) > 330   # boxes beyond 320 px: the capture's coordinates
    assert set(answer["ms"]) >= {"decode", "inference", "total"} and "boxes" in answer["summary"]

    # the same boxes torch finds on the decoded frame (the export was checked against it before serving)
    torch_answer = handlers.webcam_frame(payload(frame, runtime="torch", size="480"))
    assert torch_answer["runtime"] == "torch" and len(torch_answer["boxes"]) >= 1
    # a higher threshold keeps fewer boxes; a class filter keeps only that class
    strict = handlers.webcam_frame(payload(frame, conf=0.9))
    assert len(strict["boxes"]) < len(answer["boxes"])
    only = handlers.webcam_frame(payload(frame, classes=["Fall"]))
    assert all(b["name"] == "Fall" for b in only["boxes"])
    small = handlers.webcam_frame(payload(webcam_frame(320, 240), runtime="torch"))
    assert (small["w"], small["h"]) == (320, 240)
    assert no_network == []


@pytest.mark.parametrize("bad, message", [
    (dict(size=1000), "not offered"),
    (dict(runtime="tensorrt"), "unknown runtime"),
    (dict(conf="lots"), "numbers between 0 and 1"),
    (dict(conf=3), "between 0 and 1"),
    (dict(classes=["zebra"]), "unknown class"),
    (dict(image="https://example.com/cat.jpg"), "data:image/jpeg;base64"),
    (dict(image="data:image/jpeg;base64,@@@@"), "not valid base64"),
    (dict(image="data:image/jpeg;base64," + "QUFB" * 1_100_000), "over 3 MB"),
    (dict(image="data:image/png;base64,aGVsbG8gd29ybGQ="), "is not an image (JPEG, PNG"),   # bytes, no picture
    (dict(weights="/etc/passwd"), "can only be opened from the server itself"),         # a path from a visitor: refused
])
def test_webcam_frame_answers_bad_input_with_a_message(handlers, bad, message):
    import types

    visitor = types.SimpleNamespace(client=types.SimpleNamespace(host="127.0.0.2"), headers={})
    answer = handlers.webcam_frame(payload(webcam_frame(64, 48), **bad), visitor)
    assert set(answer) == {"error"} and message in answer["error"], answer
    assert "Traceback" not in answer["error"]


def test_webcam_frame_waits_for_a_busy_model_then_drops_the_frame(handlers, monkeypatch):
    import threading
    import time

    from vision_demo.detect import live
    from vision_demo.detect.detector import get_detector

    engine, _ = get_detector("person (bundled)").engine("torch", 320, image_hw=(48, 64))
    frame = payload(webcam_frame(64, 48), runtime="torch")
    monkeypatch.setattr(live, "WAIT_FOR_MODEL_S", 0.2)
    with engine.lock:   # another viewer's frame for longer than a frame may wait: this one is dropped
        start = time.perf_counter()
        assert handlers.webcam_frame(frame) == {"busy": True}
        assert time.perf_counter() - start >= 0.2
    engine.lock.acquire()   # busy for less than that: the frame waits its turn and gets its boxes
    threading.Timer(0.05, engine.lock.release).start()
    assert "boxes" in handlers.webcam_frame(frame)


@pytest.mark.slow
def test_runtime_line_names_what_answers_at_each_size(handlers):
    from vision_demo.detect.export import EXPORTS
    from vision_demo.ui.detect_tab import WEBCAM_SHAPE
    from vision_demo.detect.weights import default_weights

    assert EXPORTS.wait(default_weights(), WEBCAM_SHAPE, "openvino").state == "ready"
    text, timer = handlers.runtime_status("person (bundled)", "openvino")
    assert "320x256 px **openvino** (f32)" in text      # the webcam's 640x480 frames at 320 px, in f32
    text, _ = handlers.runtime_status("person (bundled)", "torch")
    assert "torch" in text and "openvino" not in text
    _, table, latency = handlers.detect(str(asset("zidane.jpg")), "person (bundled)", 0.25, 0.7, [], None, "torch")
    assert "runtime **torch**" in latency and len(table) >= 1


def test_the_live_webcam_writes_the_static_pictures_words_on_its_boxes(handlers, no_network):
    """The page draws each live box with the server's words ("person · upright 0.68", not "Normal 0.68"): a
    server frame's answer carries them box by box, and the plan gives the browser model's page the table."""
    from vision_demo.detect.detector import box_label, class_labels, class_meanings, get_detector

    from vision_demo.detect.live import frame_bytes

    sent = data_url(webcam_frame())
    answer = handlers.webcam_frame(payload(sent, runtime="torch"))
    detector = get_detector()
    # the Detect tab's own picture of the same frame (the JPEG the page sent), same runtime and size: its labels
    static = detector.predict(frame_bytes(sent), imgsz=320, runtime="torch")
    assert len(answer["boxes"]) >= 2
    assert [b["label"] for b in answer["boxes"]] == [box_label(b, class_meanings(detector.names)) for b in static.boxes]
    assert all(b["label"].startswith("person · ") for b in answer["boxes"]), answer["boxes"]
    plan = handlers.webcam_plan({"weights": "person (bundled)", "size": 320, "prepare": False})
    assert plan["labels"] == {str(k): v for k, v in class_labels(detector.names).items()}
    assert plan["labels"] == {"0": "person · upright", "1": "person · fallen"}   # the bundled model's two classes
    assert no_network == []
