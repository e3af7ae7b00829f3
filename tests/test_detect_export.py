"""Fast runtimes: the bundled detector really exported to OpenVINO / ONNX, checked against torch, cached, reused,
and torch answering (with the reason) when an export cannot be made."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import asset  # the module pytest loaded (tests.conftest would run it again: a new WORK)

ROOT = Path(__file__).parent.parent


def box(cls=0, conf=0.9, xyxy=(10, 10, 110, 210)):
    return {"class_id": cls, "class_name": "Normal" if cls == 0 else "Fall", "confidence": conf, "xyxy": list(xyxy)}


def test_compare_boxes_accepts_rounding_and_names_a_real_difference():
    from vision_demo.detect.export import compare_boxes

    torch_boxes = [box(), box(1, 0.6, (200, 50, 300, 150)), box(0, 0.27, (400, 0, 450, 60))]
    assert compare_boxes(torch_boxes, [box(conf=0.89, xyxy=(11, 10, 110, 211)), box(1, 0.62, (200, 51, 300, 150))]) is None
    moved = compare_boxes(torch_boxes, [box(xyxy=(60, 10, 160, 210)), box(1, 0.6, (200, 50, 300, 150))])
    assert moved and "no twin" in moved and "IoU" in moved
    assert "confidence" in compare_boxes(torch_boxes, [box(conf=0.7), box(1, 0.6, (200, 50, 300, 150))])
    assert "no twin" in compare_boxes(torch_boxes[:1], torch_boxes[:1] + [box(1, 0.8, (500, 500, 600, 600))])
    assert compare_boxes([box(1)], [box(0)]) is not None                       # same place, other class


def test_unknown_runtime_is_a_message(tmp_path):
    from vision_demo.detect.export import missing_packages
    from vision_demo.errors import VisionDemoError

    with pytest.raises(VisionDemoError, match="choose one of auto, torch, openvino-int8, openvino-bf16, openvino, onnx"):
        missing_packages("tensorrt")
    assert missing_packages("openvino") == [] and missing_packages("onnx") == []   # requirements.txt has them


def test_bf16_is_offered_exactly_where_the_cpu_computes_it():
    """openvino-bf16 is a runtime where OpenVINO reports native bf16 (AMX / AVX512_BF16), and says why not elsewhere;
    float OpenVINO is always compiled in f32, whatever the CPU's default."""
    import openvino as ov

    from vision_demo.detect import export
    from vision_demo.detect.precision import PRECISION, cpu_flags, cpu_has_bf16, precision_name

    native = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert cpu_has_bf16() is native
    assert ("openvino-bf16" in export.installed_formats()) is native
    assert (export.unavailable("openvino-bf16") is None) is native
    if not native:
        assert "no native bfloat16" in export.unavailable("openvino-bf16")
    if {"amx_bf16", "avx512_bf16"} & set(cpu_flags()):
        assert native   # the flags lscpu shows are the ones OpenVINO uses
    assert PRECISION["openvino"] == "f32" and precision_name(ov.Type.bf16) == "bf16"
    assert precision_name("<Type: 'float32'>") == "f32"


@pytest.fixture(scope="module")
def detector():
    from vision_demo.detect.detector import get_detector
    return get_detector()


def needs_native_bf16(fmt: str) -> None:
    """openvino-bf16 is offered only where the CPU computes bfloat16 itself (AMX / AVX512_BF16)."""
    from vision_demo.detect.precision import cpu_has_bf16

    if fmt == "openvino-bf16" and not cpu_has_bf16():
        pytest.skip("this CPU has no native bfloat16: the openvino-bf16 runtime is not offered here")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["openvino-int8", "openvino-bf16", "openvino", "onnx"])
def test_export_gives_the_same_boxes_as_torch_and_is_reused(detector, fmt, no_network):
    from ultralytics import YOLO

    from vision_demo.detect import export

    needs_native_bf16(fmt)
    status = export.EXPORTS.wait(detector.weights, 320, fmt)
    assert status.state == "ready", status.message
    folder = Path(status.path).parent
    assert folder.parent == Path(os.environ["VISION_DEMO_HOME"]).resolve() / "exports"
    assert folder.name == f"{export.weights_digest(detector.weights)[:16]}-320x320-{fmt}"
    check = json.loads((folder / "check.json").read_text())
    assert check["agree"] and {c["image"] for c in check["checks"]} == {"bus.jpg", "zidane.jpg"}
    assert not (folder / "model.pt").exists()                       # the copy made for the exporter is gone
    # what it computes in, read back from the compiled model: f32 where float is promised (a CPU with AMX would
    # otherwise run "openvino" in bf16), bf16 for openvino-bf16, INT8's float layers in f32
    exported, precision = export.load_export(status.path, fmt, (320, 320))
    assert precision == check["precision"] == {"openvino-bf16": "bf16"}.get(fmt, "f32")

    # Same input (the square letterbox of a static graph): the same boxes, box for box.
    torch_model = YOLO(detector.weights, task="detect")
    for name in ("bus.jpg", "zidane.jpg"):
        ours = export._boxes_of(torch_model, asset(name), (320, 320), 0.25)
        theirs = export._boxes_of(exported, asset(name), (320, 320), 0.25)
        tolerance = export.TOLERANCE.get(fmt, (export.IOU_MIN, export.CONF_TOL))   # INT8: a little looser
        assert len(ours) >= 2 and export.compare_boxes(ours, theirs, 0.25, *tolerance) is None, name

    # The app path with that runtime: it names the runtime and finds the same people as torch.
    fast = detector.predict(asset("bus.jpg"), imgsz=320, runtime=fmt)
    slow = detector.predict(asset("bus.jpg"), imgsz=320, runtime="torch")
    assert (fast.runtime, fast.runtime_note, slow.runtime) == (fmt, "", "torch")
    assert fast.precision == precision and detector.engine(fmt, 320)[0].precision == precision
    assert f"({fmt})" in fast.summary()
    assert len([b for b in fast.boxes if b["confidence"] > 0.5]) == len([b for b in slow.boxes if b["confidence"] > 0.5])
    assert fast.annotated.shape == slow.annotated.shape

    # Reused: asking again starts no job; a fresh process (a new Exports) finds it on disk.
    jobs = len(export.EXPORTS.registry().snapshot())
    stamp = Path(status.path).stat().st_mtime_ns
    assert export.EXPORTS.request(detector.weights, 320, fmt).state == "ready"
    later = export.Exports()
    assert later.request(detector.weights, 320, fmt).path == status.path
    assert len(export.EXPORTS.registry().snapshot()) == jobs and later.jobs.ids() == {}   # no job submitted
    assert Path(status.path).stat().st_mtime_ns == stamp
    assert no_network == []


def test_input_shape_is_what_torch_letterboxes_to():
    """The export's shape is the one Ultralytics' own letterbox gives the image (long side imgsz, sides padded to 32)."""
    import numpy as np
    from ultralytics.data.augment import LetterBox

    from vision_demo.detect.export import input_shape, shape_text

    for hw in ((480, 640), (1080, 810), (720, 1280), (500, 500), (333, 1000), (1000, 37)):
        for imgsz in (320, 480, 640):
            theirs = LetterBox((imgsz, imgsz), auto=True, stride=32)(image=np.zeros((*hw, 3), np.uint8)).shape[:2]
            assert input_shape(imgsz, hw) == theirs, (hw, imgsz)
    assert input_shape(320) == (320, 320) and input_shape((256, 320)) == (256, 320)
    assert (shape_text((256, 320)), shape_text(640)) == ("320x256 px", "640 px")


@pytest.mark.slow
def test_webcam_frames_run_an_export_of_their_own_shape(detector):
    """A 640x480 frame at 320 px: torch runs a 256x320 input, so the export is traced for exactly that (not the
    320x320 square, 25 % more pixels) and finds what torch finds on the same frame."""
    import numpy as np
    from PIL import Image

    from vision_demo.detect import export

    img = Image.open(asset("bus.jpg")).convert("RGB")
    frame = np.asarray(img.crop((0, 300, 810, 908)).resize((640, 480)))      # the people, as a webcam frame
    status = export.EXPORTS.wait(detector.weights, export.input_shape(320, frame.shape[:2]), "openvino")
    assert status.state == "ready", status.message
    assert Path(status.path).parent.name.endswith("-256x320-openvino")
    engine, _ = detector.engine("openvino", 320, image_hw=frame.shape[:2])   # load (and compile) before the frame
    assert engine.precision == "f32"   # float, read back from the compiled model (bf16 by default on an AMX CPU)
    fast = detector.predict_frame(frame, imgsz=320, runtime="openvino")
    slow = detector.predict_frame(frame, imgsz=320, runtime="torch")
    assert (fast.runtime, fast.runtime_note, fast.precision) == ("openvino", "", "f32")
    assert fast.annotated.shape == frame.shape                      # drawn on the frame at its captured size
    strong = [b for b in slow.boxes if b["confidence"] > 0.5]
    assert len(strong) >= 2 and export.compare_boxes(slow.boxes, fast.boxes) is None
    # a still image at 320 keeps using the square export: one export for photos of every aspect ratio
    assert detector.engine("openvino", 320)[0].shape == (320, 320)


@pytest.mark.slow
def test_a_failed_export_serves_torch_and_says_why(detector):
    from vision_demo.detect import export

    # A file where the finished export must go: the real export runs, then cannot be moved into place.
    blocked = export.export_folder(export.weights_digest(detector.weights), 352, "openvino")
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("in the way")
    det = detector.predict(asset("bus.jpg"), imgsz=352, runtime="openvino")   # the export starts; torch answers
    assert det.runtime == "torch" and "openvino" in det.runtime_note and det.boxes
    engine, note = detector.engine("openvino", 352, wait=True)
    assert engine.runtime == "torch" and "failed" in note and "could not move" in note
    again = detector.predict(asset("bus.jpg"), imgsz=352, runtime="openvino")
    assert again.runtime == "torch" and "could not move" in again.runtime_note   # not retried in this process
    assert blocked.read_text() == "in the way"
    assert not list(blocked.parent.glob(f".building-{blocked.name}-*"))       # no half-built folder left

    # Sizes a static graph cannot take, and torch asked for by name, never start an export.
    engine, note = detector.engine("auto", 100)
    assert engine.runtime == "torch" and "multiple of 32" in note
    assert detector.engine("torch", 320) == (detector.torch, "")


@pytest.mark.slow
def test_auto_serves_int8_and_passes_over_an_int8_that_failed(detector, monkeypatch):
    """auto: INT8 when its export passed the check; when it failed, the next runtime that passed (bf16 on a CPU
    that has it, then float OpenVINO) instead of torch. The failures are made on purpose (an impossible
    tolerance, a folder in the way), not left to where this CPU's rounding lands."""
    from vision_demo.detect import export

    engine, note = detector.engine("auto", 320, wait=True)
    assert (engine.runtime, note, engine.precision) == ("openvino-int8", "", "f32")
    assert "320 px **openvino-int8** (int8)" in export.runtime_summary(detector.weights, "auto", (320,))[0]

    # INT8 (and bf16, where offered) disagree with torch at 384 px: their checks ask for more than any rounding gives
    monkeypatch.setitem(export.TOLERANCE, "openvino-int8", (1.01, 0.0))
    monkeypatch.setitem(export.TOLERANCE, "openvino-bf16", (1.01, 0.0))
    engine, note = detector.engine("auto", 384, wait=True)
    assert (engine.runtime, note, engine.precision) == ("openvino", "", "f32")
    det = detector.predict(asset("bus.jpg"), imgsz=384, runtime="auto")
    assert (det.runtime, det.precision) == ("openvino", "f32") and det.boxes
    assert "384 px **openvino** (f32)" in export.runtime_summary(detector.weights, "auto", (384,))[0]
    engine, note = detector.engine("openvino-int8", 384)   # asked for by name: torch, and why
    assert engine.runtime == "torch" and "disagrees with torch" in note and "IoU" in note

    # a folder in the way: the INT8 export passes its check (any boxes will do here), then cannot be moved into place
    monkeypatch.undo()   # bf16's own tolerance again
    monkeypatch.setitem(export.TOLERANCE, "openvino-int8", (0.0, 1.0))
    blocked = export.export_folder(export.weights_digest(detector.weights), 448, "openvino-int8")
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("in the way")
    engine, note = detector.engine("auto", 448, wait=True)
    assert engine.runtime == export.installed_formats()[1] and note == ""   # bf16 here if the CPU has it, else f32
    engine, note = detector.engine("openvino-int8", 448)
    assert engine.runtime == "torch" and "could not move" in note


@pytest.mark.slow
def test_cli_runtime_openvino_writes_only_into_the_work_folder(tmp_path):
    """A fresh process: --runtime openvino exports (into WORK/exports), then serves from it; OpenVINO's
    telemetry writes nothing into the home folder (it would create ~/intel/openvino_ga_cid)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISION_DEMO_", "YOLO_", "_VISION_DEMO"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp_path / "home"), VISION_DEMO_HOME=str(tmp_path / "work"))
    (tmp_path / "home").mkdir()
    out = tmp_path / "boxes.json"
    run = subprocess.run([sys.executable, "-m", "vision_demo", "detect", str(asset("bus.jpg")), "--imgsz", "320",
                          "--runtime", "openvino", "--json", str(out)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "(openvino)" in run.stdout
    data = json.loads(out.read_text())
    assert data["runtime"] == "openvino" and data["images"][0]["runtime"] == "openvino"
    assert len(data["images"][0]["boxes"]) >= 2
    assert not (tmp_path / "home" / "intel").exists()   # (matplotlib's empty ~/.config/matplotlib is another matter)
    assert len(list((tmp_path / "work" / "exports").glob("*-320x320-openvino/check.json"))) == 1


def test_on_a_gpu_torch_stays_and_says_so(detector):
    """The choice is made from the detector's device (no GPU here: the attribute is what a CUDA machine has)."""
    from vision_demo.detect.export import runtime_summary

    real = detector.device
    try:
        detector.device = "cuda:0"
        engine, note = detector.engine("openvino", 320)
        assert engine is detector.torch and "torch on cuda:0" in note
    finally:
        detector.device = real
    text, busy = runtime_summary(detector.weights, "auto", device="cuda:0")
    assert "torch" in text and "GPU" in text and busy is False


@pytest.mark.slow
def test_the_warm_up_follows_a_failed_int8_export_with_the_float_one(detector):
    """No request may come at that size for a while: the warm-up itself starts the next runtime."""
    from vision_demo.detect import export
    from vision_demo.warmup import Warmup

    digest = export.weights_digest(detector.weights)
    blocked = export.export_folder(digest, 416, "openvino-int8")
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("in the way")   # the INT8 export fails (it cannot be moved into place)
    warm = Warmup()
    warm.start(export_sizes=(416,))
    warm._thread.join(300)
    assert warm.state == "ready" and not warm._thread.is_alive()
    following = export.installed_formats()[1]   # openvino-bf16 on a CPU with native bf16, else float openvino
    assert export.find_export(digest, 416, following) is not None
    assert f"416 px **{following}**" in export.runtime_summary(detector.weights, "auto", (416,))[0]


def test_a_shut_down_exports_starts_no_export(detector):
    """At exit the export registry is shut down; a thread still asking (the warm-up moving on to the next format
    after its export was cancelled) must not start a converter that the interpreter then kills halfway: that
    aborts the whole process ("terminate called without an active exception", exit 134)."""
    from vision_demo.detect import export

    exports = export.Exports()
    before = {state.id for state in exports.registry().snapshot()}   # (the work folder's earlier export jobs)
    exports.shutdown()
    status = exports.request(detector.weights, 288, "openvino")
    assert (status.state, status.message) == ("unavailable", "the app is stopping")
    assert exports.jobs.ids() == {} and {state.id for state in exports.registry().snapshot()} == before


class Lines(logging.Handler):
    """A logging handler that keeps what reaches the loggers' handlers (the terminal), from any thread. Not the
    captured stdout: Ultralytics' handler keeps the stream it found when first imported, which in a whole
    suite may be an earlier test's capture."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_expected_export_noise_hides_only_the_expected_lines_of_its_own_thread(recwarn):
    """The filter itself: the expected lines go, in the export's thread only; anything else still shows."""
    import logging
    import threading
    import warnings

    from vision_demo.ultralytics_env import ultralytics_ready, expected_export_noise

    ultralytics_ready()
    from ultralytics.utils import LOGGER

    seen, loggers = Lines(), [LOGGER, logging.getLogger("torch.utils.cpp_extension")]
    for logger in loggers:
        logger.addHandler(seen)
    try:
        expected = "val: No labels found in /w/exports/.building-x/calibration/labels.cache."
        with expected_export_noise():
            LOGGER.warning(expected)
            warnings.warn("`torch.jit.trace` is deprecated. Please switch to `torch.compile`.", FutureWarning)
            LOGGER.warning("corrupt image /w/x.jpg ignored")            # a real problem: shown
            warnings.warn("a real deprecation", FutureWarning)            # shown
            other = threading.Thread(target=LOGGER.warning, args=("No labels found in /data/my_set/labels.cache",))
            other.start()   # a student's training on a set really without labels, at the same moment: shown
            other.join()
        LOGGER.warning(expected)   # after the export: shown again
        logging.getLogger("torch.utils.cpp_extension").warning("No CUDA runtime is found, using CUDA_HOME='/usr'")
    finally:
        for logger in loggers:
            logger.removeHandler(seen)
    out = "\n".join(seen.lines)
    assert out.count("No labels found in /w/exports") == 1 and "/data/my_set" in out and "corrupt image" in out, out
    assert "No CUDA runtime" in out   # outside the context
    messages = [str(w.message) for w in recwarn]
    assert "a real deprecation" in messages and not any("torch.jit.trace" in m for m in messages), messages


@pytest.mark.slow
def test_an_int8_export_prints_none_of_the_expected_warnings(detector, capfd, recwarn):
    """The real INT8 export (calibration on pictures without labels, torch.jit tracing) at a size no other test
    exports: none of the lines a teacher read as alarms at the app's start (issue 20, item 9)."""
    import logging

    from vision_demo.detect import export
    from vision_demo.ultralytics_env import EXPECTED_EXPORT_LOGS

    seen, loggers = Lines(), [logging.getLogger(name) for name in ("ultralytics", "torch.utils.cpp_extension")]
    for logger in loggers:
        logger.addHandler(seen)
    try:
        status = export.EXPORTS.wait(detector.weights, 224, "openvino-int8")
    finally:
        for logger in loggers:
            logger.removeHandler(seen)
    assert status.state == "ready", status.message
    out = "".join(capfd.readouterr()) + "\n".join(seen.lines)
    for _, pattern in EXPECTED_EXPORT_LOGS:
        assert not pattern.search(out), out
    assert "'int8' is deprecated" not in out, out   # quantize=8 is the argument's current name
    assert not [w for w in recwarn if "torch.jit" in str(w.message)], [str(w.message) for w in recwarn]
