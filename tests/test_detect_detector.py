"""Detection with the bundled person detector: real model, real image, offline."""
import threading
import time

import numpy as np
import pytest
from PIL import Image

from vision_demo.errors import BadImageError
from conftest import asset  # the module pytest loaded (tests.conftest would run it again: a new WORK)


@pytest.fixture(scope="module")
def detector():
    from vision_demo.detect.detector import get_detector
    return get_detector()


@pytest.mark.slow
def test_bus_has_people_inside_the_image_with_timings(no_network):
    from vision_demo.detect.detector import clear_detectors, get_detector
    clear_detectors()  # load the model here too, under no_network: loading must not touch the network
    detector = get_detector()
    det = detector.predict(asset("bus.jpg"), conf=0.25, imgsz=640)
    people = [b for b in det.boxes if b["class_name"] in ("Normal", "Fall") and b["confidence"] >= 0.25]
    assert len(people) >= 2
    width, height = det.image_size
    assert (width, height) == Image.open(asset("bus.jpg")).size
    for b in det.boxes:
        x1, y1, x2, y2 = b["xyxy"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert all(0 <= v <= 1 for v in b["xywhn"])
    assert det.annotated.shape == (height, width, 3) and det.annotated.dtype == np.uint8
    assert not np.array_equal(det.annotated, np.asarray(Image.open(asset("bus.jpg")).convert("RGB")))  # boxes drawn
    for key in ("preprocess", "inference", "postprocess", "draw", "total"):
        assert det.timings_ms[key] >= 0
    assert det.timings_ms["inference"] > 0 and det.timings_ms["total"] >= det.timings_ms["inference"]
    assert no_network == []


def test_same_weights_give_the_same_detector(detector):
    from vision_demo.detect.detector import get_detector
    assert get_detector(None) is detector and get_detector("person (bundled)") is detector
    assert detector.names == {0: "Normal", 1: "Fall"}


def test_bad_inputs_raise_bad_image_and_the_detector_keeps_working(detector, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(asset("bus.jpg").read_bytes()[:300])
    for bad in (b"", b"\x00\x01corrupt bytes", text, truncated):
        with pytest.raises(BadImageError):
            detector.predict(bad, imgsz=320)
    det = detector.predict(asset("zidane.jpg"), imgsz=320)
    assert len(det.boxes) >= 1


def test_class_filter_and_bad_settings(detector):
    from vision_demo.errors import VisionDemoError
    det = detector.predict(asset("bus.jpg"), imgsz=320, classes=["Fall"])
    assert all(b["class_name"] == "Fall" for b in det.boxes)
    with pytest.raises(VisionDemoError, match="unknown class"):
        detector.predict(asset("bus.jpg"), imgsz=320, classes=["giraffe"])
    with pytest.raises(VisionDemoError, match="conf"):
        detector.predict(asset("bus.jpg"), conf=1.5)


@pytest.mark.slow
def test_predict_frame_drops_frames_while_the_model_is_busy(detector):
    big = np.asarray(Image.open(asset("bus.jpg")).convert("RGB"))
    first: list = []
    worker = threading.Thread(target=lambda: first.append(detector.predict_frame(big, imgsz=640)))
    worker.start()
    deadline = time.time() + 10
    while not detector._lock.locked() and worker.is_alive() and time.time() < deadline:
        time.sleep(0.001)
    assert detector._lock.locked(), "the first frame never started"
    dropped_before = detector.frames_dropped
    started = time.perf_counter()
    assert detector.predict_frame(big, imgsz=640) is None       # busy: dropped, not queued
    assert time.perf_counter() - started < 0.05                  # and it did not wait
    assert detector.frames_dropped == dropped_before + 1
    worker.join(30)
    assert first and first[0] is not None and first[0].boxes
    # the boxes come back drawn on the frame at the size it was captured, whatever the model's size
    assert first[0].image_size == (big.shape[1], big.shape[0]) and first[0].annotated.shape == big.shape
    again = detector.predict_frame(big, imgsz=320)              # free again: processed
    assert again is not None and again.annotated.shape == big.shape
    assert not np.array_equal(again.annotated, big)             # boxes drawn


def test_detector_cache_keeps_the_most_recently_used_few(tmp_path, monkeypatch):
    from vision_demo.detect import detector as mod

    loaded = []

    class FakeDetector:
        def __init__(self, path):
            loaded.append(path.name)
            self.path = path

        def warmup(self, imgsz):
            return 0.0
    monkeypatch.setattr(mod, "Detector", FakeDetector)
    monkeypatch.setattr(mod, "_detectors", mod.OrderedDict())
    monkeypatch.setattr(mod, "_resolved", {})
    files = []
    for i in range(mod.MAX_DETECTORS + 1):
        files.append(tmp_path / f"w{i}.pt")
        files[-1].write_bytes(b"x")
    first = mod.get_detector(str(files[0]))
    for f in files[1:mod.MAX_DETECTORS]:
        mod.get_detector(str(f))
    assert mod.get_detector(str(files[0])) is first             # a hit, and now the most recently used
    mod.get_detector(str(files[-1]))                           # one too many: w1 (least recently used) goes
    assert len(mod._detectors) == mod.MAX_DETECTORS and mod.get_detector(str(files[0])) is first
    assert loaded == [f.name for f in files]
    mod.get_detector(str(files[1]))
    assert loaded[-1] == "w1.pt" and len(mod._detectors) == mod.MAX_DETECTORS


def test_get_detector_resolves_a_stable_key_once(tmp_path, monkeypatch):
    from vision_demo.detect import detector as mod
    from vision_demo.detect import weights

    calls = []
    real = weights.resolve_weights

    def counting(key=None, registry=None):
        calls.append(key)
        return real(key, registry=registry)
    monkeypatch.setattr(weights, "resolve_weights", counting)
    monkeypatch.setattr(mod, "_resolved", {})
    monkeypatch.setattr(mod, "_detectors", mod.OrderedDict({str(weights.default_weights()): "bundled"}))
    for key in (None, "person (bundled)", None, "default"):
        assert mod.get_detector(key) == "bundled"
    assert calls == [None]
    monkeypatch.setattr(mod, "_resolved", {})
    with pytest.raises(Exception, match="unknown weights"):
        mod.get_detector(str(tmp_path / "gone.pt"))            # a missing file is not remembered
    with pytest.raises(Exception, match="unknown weights"):
        mod.get_detector(str(tmp_path / "gone.pt"))
    assert mod._resolved == {}


def test_out_of_memory_becomes_the_lesson_advice_with_the_detection_hint(detector, monkeypatch):
    from vision_demo.devices import OOM_ADVICE, oom_as_advice
    from vision_demo.errors import VisionDemoError

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    monkeypatch.setattr(detector.model, "predict", oom)
    with pytest.raises(VisionDemoError) as info:
        detector.predict(np.zeros((64, 64, 3), np.uint8), imgsz=320)
    assert str(info.value) == OOM_ADVICE + " (for detection: lower imgsz)"
    with pytest.raises(ValueError):          # anything else passes unchanged
        with oom_as_advice(" / lower imgsz"):
            raise ValueError("not memory")
    with pytest.raises(RuntimeError, match="other"):
        with oom_as_advice():
            raise RuntimeError("other")


# ---- box labels that read on a projector (issue 20, item 1) ------------------------------------------------

def test_box_labels_say_what_the_bundled_classes_mean(detector):
    from vision_demo.detect.detector import box_label, class_meanings

    meanings = class_meanings(detector.names)
    assert box_label({"class_name": "Normal", "confidence": 0.684}, meanings) == "person · upright 0.68"
    assert box_label({"class_name": "Fall", "confidence": 0.5}, meanings) == "person · fallen 0.50"
    assert class_meanings({0: "circle", 1: "square"}) == {}          # other models' names are their own
    assert box_label({"class_name": "circle", "confidence": 0.9}, {}) == "circle 0.90"


@pytest.mark.parametrize("photo, shown", [("bus.jpg", (360, 320)), ("zidane.jpg", (360, 320)), ("bus.jpg", None)])
def test_labels_are_readable_at_the_shown_size_and_never_overlap(detector, photo, shown):
    """The Detect tab shows bus.jpg (810x1080) 237x316 px: its labels must still be >= 16 px high on screen,
    inside the picture and apart from each other (they were 8 px and overlapping: "Normal 0.Normal 0.38")."""
    from vision_demo.detect.detector import LABEL_PX, class_meanings, label_layout

    det = detector.predict(str(asset(photo)), imgsz=640, runtime="torch", shown=shown)
    assert len(det.boxes) >= 2
    width, height = det.image_size
    layout = label_layout(width, height, det.boxes, shown, class_meanings(det.names))
    assert all(text.startswith("person · upright ") for text in layout.texts)
    for i, (x1, y1, x2, y2) in enumerate(layout.rects):
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (layout.rects[i], width, height)
        assert (y2 - y1) / layout.per_css_px >= LABEL_PX, "label text smaller than LABEL_PX on screen"
        for other in layout.rects[i + 1:]:
            assert not (x1 < other[2] and other[0] < x2 and y1 < other[3] and other[1] < y2), (layout.rects[i], other)
    # and it is what draw_boxes painted: each label's background is its box's colour
    colour = np.array([255, 56, 56])
    for x1, y1, x2, y2 in layout.rects:
        assert (det.annotated[y1 + 1, x1 + 1] == colour).all()


def test_crowded_labels_are_stacked_apart():
    """Ten boxes at nearly the same place: ten labels, none on another, all inside the picture."""
    from vision_demo.detect.detector import place_labels

    boxes = [{"xyxy": [100 + i, 200 + i, 180 + i, 400], "confidence": 0.5 + i / 100} for i in range(10)]
    sizes = [(150, 30)] * 10
    corners = place_labels(boxes, sizes, 640, 480)
    rects = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes)]
    assert all(0 <= x1 and x2 <= 640 and 0 <= y1 and y2 <= 480 for x1, y1, x2, y2 in rects)
    assert all(not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
               for i, a in enumerate(rects) for b in rects[i + 1:])
