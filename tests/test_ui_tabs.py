"""The UI's plain parts without a server: error mapping, launch options, lists mirrored from the core, app.py."""
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from vision_demo.errors import BadImageError, VisionDemoError
from vision_demo.ui import common, sliding_tab, train_tab
from vision_demo.ui.app import launch_options

ROOT = Path(__file__).parent.parent


def test_user_errors_turns_our_errors_into_gr_error_and_bugs_into_a_readable_one(caplog):
    @common.user_errors
    def ours():
        raise VisionDemoError("batch size 0: use 1 or more")

    @common.user_errors
    def bug():
        return {}["missing"]

    with pytest.raises(gr.Error) as info:
        ours()
    assert info.value.message == "batch size 0: use 1 or more"
    with pytest.raises(gr.Error) as info:
        bug()
    assert "KeyError" in info.value.message and "server log" in info.value.message
    assert "unexpected error" in caplog.text  # the bug is logged with its traceback


def test_upload_named_replaces_the_cache_path_with_the_file_name():
    upload = {"path": "/tmp/gradio/abc123/holiday.jpg", "orig_name": "holiday.jpg"}
    with pytest.raises(BadImageError, match=r"^holiday.jpg: not an image$"):
        with common.upload_named(upload):
            raise BadImageError("/tmp/gradio/abc123/holiday.jpg: not an image")
    with pytest.raises(BadImageError, match="no image"):
        common.image_source(None)
    assert common.image_source(upload) == upload["path"]
    assert common.image_source({"url": "data:image/png;base64,iVBORw0KGgo="}) == b"\x89PNG\r\n\x1a\n"


def test_server_folders_open_only_for_someone_at_the_server(tmp_path):
    from types import SimpleNamespace

    from vision_demo import settings

    student = SimpleNamespace(client=SimpleNamespace(host="192.168.1.23"))
    teacher = SimpleNamespace(client=SimpleNamespace(host="127.0.0.1"))
    with pytest.raises(VisionDemoError, match="upload a zip"):
        common.check_server_folder(str(tmp_path), student)
    with pytest.raises(VisionDemoError, match="upload a zip"):
        common.check_server_folder("~/Pictures", student)
    for relative in ("..", ".", "vision_demo"):  # relative to the server's working folder, with no slash
        with pytest.raises(VisionDemoError, match="upload a zip"):
            common.check_server_folder(relative, student)
    common.check_server_folder(str(tmp_path), teacher)
    common.check_server_folder(str(settings.subdir("uploads", "x")), student)   # an extracted upload
    common.check_server_folder("scenes", student)
    common.check_server_folder(str(tmp_path), None)                            # Python, not the web


def test_launch_options_serve_only_ultralytics_examples_and_cap_uploads():
    from vision_demo import settings

    options = launch_options()
    assert options["max_file_size"] == f"{settings.MAX_UPLOAD_MB}mb"
    assert options["share"] is False and options["server_name"] is None  # Gradio reads GRADIO_SERVER_NAME/PORT
    assert len(options["allowed_paths"]) == 1 and options["allowed_paths"][0].endswith("assets")
    assert "/" not in options["allowed_paths"]
    assert launch_options(ssl_certfile="c.pem", ssl_keyfile="k.pem")["ssl_verify"] is False  # self-signed, LAN


def test_the_lists_the_ui_shows_are_the_cores(tmp_path):
    """The pickers the Train tab builds offer exactly the catalogue's models (with their labels), strategies and
    exercises, read from the components themselves."""
    from vision_demo.classify import catalog
    from vision_demo.jobs import JobRegistry

    with gr.Blocks() as demo:
        train_tab.build(JobRegistry(tmp_path))
    pickers = {c.label: c for c in demo.blocks.values() if isinstance(c, (gr.Dropdown, gr.Radio))}
    assert [value for _, value in pickers["Model"].choices] == list(catalog.MODELS)
    assert [label for label, _ in pickers["Model"].choices] == [catalog.PICKER_LABELS[m] for m in catalog.MODELS]
    assert [value for _, value in pickers["Strategy"].choices] == list(catalog.STRATEGIES)
    exercises = [value for _, value in pickers["Or one exercise"].choices]
    assert exercises and set(exercises) <= set(catalog.PRESETS)


def test_sliding_window_outputs_from_a_cost_dict():
    cost = {"scales": [{"window": 64, "stride": 32, "positions_x": 19, "positions_y": 19, "n_windows": 361}],
            "passes": 361, "classifier": "resnet18", "classifier_size": 224, "classifier_ms": 30.0, "yolo_ms": 200.0,
            "yolo_imgsz": 640, "yolo_runtime": "torch", "detect_ms": 57.0, "detect_runtime": "torch",
            "sliding_seconds": 10.83, "yolo_seconds": 0.2, "speedup": 54.2}
    rows, fig, text = sliding_tab.cost_outputs(cost)
    assert rows[0] == [64, 32, "19 × 19", 361] and rows[-1] == ["total", "", "", 361]
    assert fig.layout.yaxis.type == "log" and list(fig.data[0].y) == [10.83, 0.2]
    assert "10.8 s" in text and "54×" in text and "both in torch" in text and "Detect tab" not in text
    # the Detect tab serving an export: one line says why its figure is smaller
    _, _, text = sliding_tab.cost_outputs({**cost, "detect_runtime": "openvino-int8"})
    assert "The Detect tab runs the same model exported to openvino-int8: 57 ms" in text
    with pytest.raises(VisionDemoError):
        sliding_tab._sizes("64, big")


@pytest.mark.slow
def test_app_help_lists_the_options_and_building_the_page_imports_no_torch(tmp_path):
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--host", "--port", "--work-dir", "--online", "--share", "--ssl-certfile", "--ssl-keyfile"):
        assert flag in out.stdout
    bad = subprocess.run([sys.executable, "app.py", "--ssl-certfile", "c.pem"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "go together" in bad.stderr
    code = ("import sys, vision_demo\n"
            "from vision_demo.jobs import JobRegistry\n"
            "from vision_demo.ui.app import build_demo\n"
            f"build_demo(JobRegistry({str(tmp_path)!r}), warm_up=False)\n"
            "print(sorted(m for m in ('torch', 'ultralytics', 'timm') if m in sys.modules))\n")
    built = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**__import__("os").environ, "VISION_DEMO_HOME": str(tmp_path)})
    assert built.returncode == 0, built.stderr[-2000:]
    assert built.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_uploaded_weights_that_are_no_yolo_model_are_refused_readably(tmp_path):
    import torch

    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import detect_tab

    upload_weights = detect_tab.make_handlers(JobRegistry(tmp_path / "jobs")).upload_weights
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    plain = tmp_path / "plain.pt"
    torch.save({"model": "just a string"}, plain)
    for bad in (text, plain):
        with pytest.raises(gr.Error) as info:
            upload_weights(str(bad))
        assert bad.name in info.value.message and "Traceback" not in info.value.message
    # a real YOLO checkpoint passes the safe loader, lands in WORK/weights/uploads and is selected
    from vision_demo import settings
    from vision_demo.detect.weights import default_weights

    picker, _, _ = upload_weights(str(default_weights()))
    assert Path(picker.value).parent == settings.work_dir() / "weights" / "uploads"
    assert picker.value in [key for _, key in picker.choices]


def test_a_student_cancels_only_their_own_jobs_and_loads_no_weights_by_server_path(tmp_path):
    import threading
    from types import SimpleNamespace

    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import detect_tab

    student = SimpleNamespace(client=SimpleNamespace(host="192.168.1.23"))
    teacher = SimpleNamespace(client=SimpleNamespace(host="127.0.0.1"))
    registry = JobRegistry(tmp_path / "jobs")
    gate = threading.Event()

    def waiting(ctx):
        while not gate.wait(0.01):
            ctx.check_stop()
        return {}

    handlers = train_tab.make_handlers(registry)
    teachers_job = registry.submit("classify", "teacher's run", {}, waiting)
    students_job = registry.submit("classify", "student's run", {}, waiting)
    with pytest.raises(gr.Error, match="started on another page"):
        handlers.cancel_job(teachers_job, [students_job], student)
    assert handlers.cancel_job(students_job, [students_job], student) == f"Stop requested for {students_job}."
    assert handlers.cancel_job(teachers_job, [], teacher) == f"Stop requested for {teachers_job}."
    assert registry.wait(teachers_job, 5).status == "cancelled"
    assert registry.wait(students_job, 5).status == "cancelled"
    with pytest.raises(gr.Error, match="No job with id"):
        handlers.inspect_job("no-such-job")

    detect = detect_tab.make_handlers(registry).detect
    secret = tmp_path / "secret.pt"
    secret.write_bytes(b"not for students")
    with pytest.raises(gr.Error, match="upload"):
        detect({"path": "unused.jpg"}, str(secret), 0.25, 0.7, [], student)
    registry.shutdown()


def test_gradio_cache_writes_are_atomic_for_viewers_of_the_same_picture(tmp_path):
    """Eight viewers get the same annotated photo: no reader may ever see the shared file short."""
    import threading

    import numpy as np
    from gradio import processing_utils

    import vision_demo.ui  # noqa: F401  (installs the fix)

    picture = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    path = processing_utils.save_img_array_to_cache(picture, str(tmp_path))
    size = Path(path).stat().st_size
    short, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                n = len(Path(path).read_bytes())
            except FileNotFoundError:   # between the unlink and the rewrite below
                continue
            if n != size:
                short.append(n)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    for _ in range(100):
        assert processing_utils.save_img_array_to_cache(picture, str(tmp_path)) == path
        Path(path).unlink()   # forces a real rewrite each time, as for a cache cleaned meanwhile
        processing_utils.save_img_array_to_cache(picture, str(tmp_path))
    stop.set()
    for r in readers:
        r.join()
    assert short == [] and Path(path).stat().st_size == size


def test_the_lesson_plan_lists_the_seeds_exercises_in_order_each_with_a_question():
    from vision_demo.classify import train
    from vision_demo.ui import lesson_tab

    numbers = [ex.number for ex in lesson_tab.EXERCISES]
    assert numbers == ["1", "2", "3", "4", "5", "6", "6b", "7"]
    presets = [ex.key for ex in lesson_tab.EXERCISES if ex.tab == "train"]
    assert presets == [name for name in train.PRESETS if name.startswith("Exercise")]  # the seed's order
    assert all(ex.question.endswith("?") for ex in lesson_tab.EXERCISES)


def test_each_exercise_names_the_tab_it_opens_from_the_tabs_themselves(tmp_path):
    """Exercise 6b opens tab 7: the row says so, read from the tab labels (a new tab renumbers it)."""
    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import lesson_tab
    from vision_demo.ui.app import build_demo

    demo = build_demo(JobRegistry(tmp_path / "jobs"), warm_up=False)
    values = [c["props"].get("value") for c in demo.get_config_file()["components"]]
    tabs = {c["props"].get("id"): c["props"].get("label") for c in demo.get_config_file()["components"]
            if c.get("type") == "tabitem"}
    for ex in lesson_tab.EXERCISES:
        number = tabs[ex.tab].split(" · ")[0]
        assert any(isinstance(v, str) and v.startswith(f"**{ex.number} · ") and f"→ tab {number}<" in v
                   for v in values), (ex, tabs[ex.tab])


def test_try_a_model_says_what_the_model_knows_and_flags_an_unsure_answer(tmp_path):
    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import try_tab

    registry = JobRegistry(tmp_path / "jobs")
    classes = ["buildings", "forest", "glacier", "mountain", "sea", "street"]
    job_id = registry.submit("classify", "EfficientNet-Lite0 · finetune", {}, lambda ctx: {"classes": classes})
    registry.wait(job_id, 5)
    explain = try_tab.make_handlers(registry).explain
    known = explain(None, job_id)
    assert "knows 6 classes only" in known and "sea, street" in known and "must answer one of them" in known
    unsure = explain({"sea": 0.55, "street": 0.2}, job_id)        # what the scenes model says to bus.jpg
    assert "Only 55 % sure of sea" in unsure and "out of distribution" in unsure
    sure = explain({"forest": 0.97}, job_id)
    assert "97 % forest" in sure and "Only" not in sure
    assert "Pick a finished job" in explain(None, None)
    registry.shutdown()


def test_detect_says_what_the_chosen_model_detects():
    from vision_demo.ui import detect_tab

    bundled = detect_tab.model_note({0: "Normal", 1: "Fall"})
    assert "people only" in bundled and "fall detector" in bundled and "80 classes" in bundled
    coco = detect_tab.model_note({i: f"class{i}" for i in range(80)})
    assert coco.startswith("**What this model sees:** 80 classes") and "(80 in all)" in coco


@pytest.mark.slow
def test_python_app_py_answers_then_warms_up_the_webcam_export(tmp_path):
    """The README's start command: the page answers first, then the warm-up (started after the server) loads the
    detector and exports it for the webcam's 640x480 frames at 320 px; SIGTERM stops it."""
    import os
    import socket
    import time
    import urllib.request
    from vision_demo.detect.export import best_format

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISION_DEMO_")}
    env.update(VISION_DEMO_HOME=str(tmp_path / "work"), PYTHONPATH=str(ROOT))
    app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, status = time.time() + 120, None
        while status != 200 and time.time() < deadline and app.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    status = r.status
            except OSError:
                time.sleep(0.2)
        assert status == 200, app.stderr.read() if app.poll() is not None else "no answer in 120 s"
        exports = tmp_path / "work" / "exports"
        made = f"*-256x320-{best_format()}/check.json"   # the fastest runtime installed: OpenVINO INT8 here
        while not list(exports.glob(made)) and time.time() < deadline + 180:
            assert app.poll() is None, app.stderr.read()
            time.sleep(1)
        assert list(exports.glob(made)), "the warm-up made no webcam export in 5 min"
    finally:
        app.terminate()
        app.wait(60)
    assert app.returncode is not None


def test_a_bad_picture_on_detect_keeps_its_reason_on_screen(tmp_path):
    """An upload that is no picture: the latency line says why (a toast would vanish); the button still raises."""
    from vision_demo.detect.weights import BUNDLED_KEY
    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import detect_tab

    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is a text file, not a photo")
    handlers = detect_tab.make_handlers(JobRegistry(tmp_path / "jobs"))
    image = {"path": str(fake), "orig_name": "holiday.jpg"}
    boxes, table, line = handlers.detect_if_image(image, BUNDLED_KEY, 0.25, 0.7, [])
    assert boxes is None and table is None
    assert line.startswith("**Cannot detect on this picture:**") and "holiday.jpg" in line and "not an image" in line
    with pytest.raises(gr.Error, match="not an image"):
        handlers.detect(image, BUNDLED_KEY, 0.25, 0.7, [])
