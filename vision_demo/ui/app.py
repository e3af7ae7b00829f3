"""The whole app: the lesson plan and eight tabs over one job registry, and the launch options that keep it safe.

    from vision_demo.ui.app import build_demo, launch_options, start_warmup
    demo = build_demo(warm_up=False)
    demo.launch(**launch_options(), prevent_thread_lock=True)
    start_warmup()        # after the server answers: the first page is not held up by torch's import
    demo.block_thread()

Tabs follow the lesson: look at the data, teach a model your own classes from the webcam, train and
compare four strategies, try a model, look inside it; then detection: detect, train a detector, and why a
sliding window cannot compete. The first tab lists the exercises in that order, each with a button that starts it.
"""
from __future__ import annotations

import gradio as gr

from vision_demo import settings
from vision_demo.images import example_folder
from vision_demo.jobs import JobRegistry, default_registry
from vision_demo.ui import (data_tab, detect_tab, inside_tab, lesson_tab, projector, sliding_tab, train_tab,
                            try_tab, yolo_tab)
from vision_demo.ui import captured_tab, objects_tab, web_runtime
from vision_demo.warmup import WARMUP

HEADER = "### Practical computer vision: transfer learning and one-pass detection"

QUEUE_SIZE = 256          # requests waiting beyond this get "queue full" (HTTP 503) instead of a hang
DEFAULT_CONCURRENCY = 2   # heavy handlers at once (2 CPU cores); cheap ones (timer ticks, submits) are unlimited


def build_demo(registry: JobRegistry | None = None, warm_up: bool = True) -> gr.Blocks:
    """The Blocks app.

    registry: where jobs live (default: WORK/jobs). warm_up: draw the default scenes and load the
    detector in a background thread, so the first visitor waits for neither (`start_warmup`).
    """
    registry = registry or default_registry()
    registry.resume()   # jobs still queued when the server last stopped run now
    # delete_cache: webcam frames and results Gradio writes to its cache go after an hour, checked every 10 minutes.
    with gr.Blocks(title="vision_demo: transfer learning & detection", delete_cache=(600, 3600)) as demo:
        with gr.Row(elem_id="vd-header", equal_height=True):
            gr.Markdown(HEADER, scale=1, min_width=600)
            projector.presenter_switches(demo)
        question = lesson_tab.question_banner()   # the question of the exercise last started, over every tab
        with gr.Tabs(selected="lesson", overflow_behavior="wrap") as tabs:   # every tab in sight, never in a menu
            with gr.Tab("Lesson plan", id="lesson"):
                lesson_buttons = lesson_tab.build()
            with gr.Tab("1 · Data", id="data"):
                data_source, data_events = data_tab.build(demo, registry)
            with gr.Tab("2 · Your classes", id="classes"):
                classes_ui = captured_tab.build(demo, registry)
            with gr.Tab("2b · Your objects", id="objects"):
                objects_ui = objects_tab.build(demo, registry)
            with gr.Tab("3 · Train & compare", id="train"):
                train_ui = train_tab.build(registry)
            with gr.Tab("4 · Try a model", id="try") as try_page:
                try_job, list_try_jobs = try_tab.build(demo, registry)
            with gr.Tab("5 · Inside the model", id="inside") as inside_page:
                inside_ui = inside_tab.build(registry)
            with gr.Tab("6 · Detect", id="detect") as detect_page:
                detect_ui = detect_tab.build(demo, registry)
            with gr.Tab("7 · Train a detector", id="yolo"):
                yolo_ui = yolo_tab.build(registry)
            with gr.Tab("8 · Sliding window vs YOLO", id="sliding"):
                sliding_ui = sliding_tab.build()
        classes_ui.store.render()   # the browser's set id, in localStorage: outside the tabs, read at page load
        objects_ui.store.render()
        # Across tabs: the data set chosen on tab 1 is what tab 3 trains on.
        for event in data_events:
            event.success(lambda source: source, data_source, train_ui.data, api_visibility="private", queue=False)
            event.success(lambda source: source, data_source, inside_ui.data, api_visibility="private", queue=False)
        # A student's own classes, trained on the Train & compare tab: its data box gets the set, the tab opens.
        classes_ui.use_button.click(classes_ui.use_in_train, classes_ui.set_box, train_ui.data, api_visibility="private"
                                    ).success(lambda: gr.Tabs(selected="train"), None, tabs, api_visibility="private")
        # Jobs live on the server: the page shows them on load (and after a reload or restart).
        for fn, inputs, outputs in (train_ui.refresh, yolo_ui.refresh):
            demo.load(fn, inputs, outputs, api_visibility="private", concurrency_limit=None)
        # Finished jobs appear in the pickers when their tab is opened.
        try_page.select(list_try_jobs, try_job, try_job, api_visibility="private")
        detect_page.select(detect_ui.list_weights, detect_ui.weights, detect_ui.picker_outputs,
                           api_visibility="private")
        inside_page.select(inside_ui.fill, inside_ui.data, inside_ui.fill_outputs, api_visibility="private")
        # The lesson plan's buttons start what each tab starts.
        starters = {ex.key: train_ui.start_exercise(ex.key) for ex in lesson_tab.EXERCISES if ex.tab == "train"}
        starters.update(inside=inside_ui.start, detect=detect_ui.start, yolo=yolo_ui.start, sliding=sliding_ui.start)
        lesson_tab.wire(lesson_buttons, tabs, starters, question)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_SIZE)
    calm_queue(demo)
    if warm_up:
        start_warmup()
    return demo


QUEUE_POLL_S = 0.02   # how often an idle queue looks for new events (Gradio: every 1 ms on Linux)


def calm_queue(demo: gr.Blocks) -> None:
    """Let Gradio's queue poll for new events every 20 ms instead of every millisecond.

    Training runs in a thread of this process. Gradio's queue loop, on the server's event loop, wakes 1000
    times a second even when nothing is queued, and each wake-up takes the GIL from the training thread
    between two torch operations: measured here, "Compare all four" submitted through the API with no page
    open took 43.9 s against 33 s from the CLI. An event now waits at most 20 ms more to start, which no one
    sees (a click's round trip is longer); the webcam's frames do not go through the queue at all.
    """
    queue = demo._queue   # Gradio's Queue; both intervals are plain attributes it reads on every loop
    queue.sleep_when_free = max(queue.sleep_when_free, QUEUE_POLL_S)
    queue.progress_update_sleep_when_free = max(queue.progress_update_sleep_when_free, 0.1)


def start_warmup() -> None:
    """Draw the default scenes, load the detector and export it for the webcam's and the images' input, in a
    background thread. `python app.py` calls it once the server answers: its imports (torch, Ultralytics)
    would otherwise compete with the server's start for the CPU and the GIL."""
    WARMUP.start(export_sizes=(detect_tab.WEBCAM_SHAPE, detect_tab.IMAGE_SIZE))


def launch_options(host: str | None = None, port: int | None = None, share: bool = False,
                   ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
                   isolation: bool | None = None) -> dict:
    """Keyword arguments for demo.launch().

    host/port None: Gradio's own defaults, which read GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
    (Hugging Face Spaces sets them), else 127.0.0.1:7860. The server serves only Ultralytics'
    example images besides its own upload cache: every image we show is returned in memory.
    isolation: send COOP/COEP so in-browser models may use threads (None: VISION_DEMO_ISOLATION decides, on
    by default); the browser runtime's routes are added either way (`web_runtime`).
    """
    assets = example_folder()
    return dict(
        server_name=host, server_port=port, share=share, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
        ssl_verify=not (ssl_certfile and ssl_keyfile),  # a self-signed pair for the class LAN
        max_file_size=f"{settings.MAX_UPLOAD_MB}mb", allowed_paths=[str(assets)] if assets else [],
        show_error=True, css=projector.CSS, theme=projector.theme(), app_kwargs=web_runtime.app_kwargs(isolation),
    )
