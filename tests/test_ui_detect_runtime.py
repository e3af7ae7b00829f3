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


@pytest.mark.slow
def test_webcam_frame_comes_back_at_the_capture_size_with_fps_and_runtime(handlers, no_network, monkeypatch):
    import gradio as gr

    from vision_demo.detect.export import EXPORTS, input_shape
    from vision_demo.detect.weights import default_weights
    from vision_demo.ui.detect_tab import StreamMeter

    frame = webcam_frame()
    # the export traced for this frame's input at 320 px (256x320), as the app's warm-up makes it
    assert EXPORTS.wait(default_weights(), input_shape(320, frame.shape[:2]), "openvino").state == "ready"
    monkeypatch.setattr(StreamMeter, "TEXT_EVERY_S", 3600)   # (a slow machine may take 0.5 s per call)
    handlers.detect_frame(frame, "person (bundled)", 0.25, 0.7, [], None, "openvino", 320)
    out, rows_next, latency_next = handlers.detect_frame(frame, "person (bundled)", 0.25, 0.7, [], None, "openvino", 320)
    assert out.shape == frame.shape                                       # the frame: every time
    assert isinstance(rows_next, type(gr.skip())) and isinstance(latency_next, type(gr.skip()))  # the text: not
    monkeypatch.setattr(StreamMeter, "TEXT_EVERY_S", 0)
    out, rows, latency = handlers.detect_frame(frame, "person (bundled)", 0.25, 0.7, [], None, "openvino", 320)
    assert out.shape == frame.shape and not np.array_equal(out, frame)      # boxes drawn on the full frame
    assert rows and all(r[0] in ("Normal", "Fall") for r in rows)
    assert "fps" in latency and "runtime **openvino**" in latency and "model input 320 px" in latency
    assert "image 640×480 px" in latency
    out, _, latency = handlers.detect_frame(webcam_frame(320, 240), "person (bundled)", 0.25, 0.7, [], None, "torch", 480)
    assert out.shape == (240, 320, 3) and "runtime **torch**" in latency and "model input 480 px" in latency
    with pytest.raises(Exception, match="not offered"):
        handlers.detect_frame(frame, "person (bundled)", 0.25, 0.7, [], None, "auto", 1000)
    with pytest.raises(Exception, match="unknown runtime"):
        handlers.detect_frame(frame, "person (bundled)", 0.25, 0.7, [], None, "tensorrt", 320)
    assert no_network == []


@pytest.mark.slow
def test_runtime_line_names_what_answers_at_each_size(handlers):
    from vision_demo.detect.export import EXPORTS
    from vision_demo.ui.detect_tab import WEBCAM_SHAPE
    from vision_demo.detect.weights import default_weights

    assert EXPORTS.wait(default_weights(), WEBCAM_SHAPE, "openvino").state == "ready"
    text, timer = handlers.runtime_status("person (bundled)", "openvino")
    assert "320x256 px **openvino**" in text      # the webcam's 640x480 frames at 320 px
    text, _ = handlers.runtime_status("person (bundled)", "torch")
    assert "torch" in text and "openvino" not in text
    _, table, latency = handlers.detect(str(asset("zidane.jpg")), "person (bundled)", 0.25, 0.7, [], None, "torch")
    assert "runtime **torch**" in latency and len(table) >= 1
