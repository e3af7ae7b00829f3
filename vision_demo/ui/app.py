"""The whole app: seven tabs over one job registry, and the launch options that keep it safe.

    from vision_demo.ui.app import build_demo, launch_options
    build_demo().launch(**launch_options())

Tabs follow the lesson: look at the data, train and compare four strategies, try a model, look
inside it; then detection: detect, train a detector, and why a sliding window cannot compete.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import gradio as gr

from vision_demo import settings
from vision_demo.jobs import JobRegistry, default_registry, default_runners
from vision_demo.ui import data_tab, detect_tab, inside_tab, sliding_tab, train_tab, try_tab, yolo_tab

HEADER = ("# Practical computer vision: transfer learning and one-pass detection\n"
          "Work left to right. Everything runs on this server, offline; training runs in the background, "
          "so you can switch tabs and come back.")

CSS = """
.vd-intro { border-left: 4px solid #1f77b4; padding-left: 10px; }
table.vd-jobs { width: 100%; font-size: 0.9em; }
table.vd-jobs td, table.vd-jobs th { padding: 4px 8px; vertical-align: middle; }
"""

QUEUE_SIZE = 256          # requests waiting beyond this get "queue full" (HTTP 503) instead of a hang
DEFAULT_CONCURRENCY = 2   # heavy handlers at once (2 CPU cores); cheap ones (timer ticks, submits) are unlimited


def build_demo(registry: JobRegistry | None = None, warm_up: bool = True) -> gr.Blocks:
    """The Blocks app.

    registry: where jobs live (default: WORK/jobs). warm_up: draw the default scenes and load the
    detector in a background thread, so the first visitor waits for neither.
    """
    registry = registry or default_registry()
    registry.resume(default_runners(registry))   # jobs still queued when the server last stopped run now
    # delete_cache: webcam frames and results Gradio writes to its cache go after an hour, checked every 10 minutes.
    with gr.Blocks(title="vision_demo: transfer learning & detection", delete_cache=(600, 3600)) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("1 · Data", id="data"):
                data_source, data_events = data_tab.build(demo)
            with gr.Tab("2 · Train & compare", id="train"):
                train_data, train_refresh = train_tab.build(registry)
            with gr.Tab("3 · Try a model", id="try") as try_page:
                try_job, list_try_jobs = try_tab.build(demo, registry)
            with gr.Tab("4 · Inside the model", id="inside") as inside_page:
                fill_inside, inside_outputs = inside_tab.build()
            with gr.Tab("5 · Detect", id="detect") as detect_page:
                weights, (list_weights, picker_outputs) = detect_tab.build(demo, registry)
            with gr.Tab("6 · Train a detector", id="yolo"):
                yolo_refresh = yolo_tab.build(registry, train_tab_cancel(registry))
            with gr.Tab("7 · Sliding window vs YOLO", id="sliding"):
                sliding_tab.build()
        # Across tabs: the data set chosen on tab 1 is what tab 2 trains on.
        for event in data_events:
            event.success(lambda source: source, data_source, train_data, api_visibility="private", queue=False)
        # Jobs live on the server: the page shows them on load (and after a reload or restart).
        for fn, inputs, outputs in (train_refresh, yolo_refresh):
            demo.load(fn, inputs, outputs, api_visibility="private", concurrency_limit=None)
        # Finished jobs appear in the pickers when their tab is opened.
        try_page.select(list_try_jobs, try_job, try_job, api_visibility="private")
        detect_page.select(list_weights, weights, picker_outputs, api_visibility="private")
        inside_page.select(fill_inside, None, inside_outputs, api_visibility="private")
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_SIZE)
    if warm_up:
        detect_tab.WARMUP.start()
    return demo


def train_tab_cancel(registry: JobRegistry):
    """The cancel handler shared with the detector tab (one registry, one way to stop a job)."""
    return train_tab.make_handlers(registry).cancel_job


def ultralytics_assets() -> Path | None:
    """Ultralytics' example images folder (bus.jpg, zidane.jpg), located without importing it."""
    spec = importlib.util.find_spec("ultralytics")
    folder = Path(spec.origin).parent / "assets" if spec and spec.origin else None
    return folder if folder and folder.is_dir() else None


def launch_options(host: str | None = None, port: int | None = None, share: bool = False,
                   ssl_certfile: str | None = None, ssl_keyfile: str | None = None) -> dict:
    """Keyword arguments for demo.launch().

    host/port None: Gradio's own defaults, which read GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
    (Hugging Face Spaces sets them), else 127.0.0.1:7860. The server serves only Ultralytics'
    example images besides its own upload cache: every image we show is returned in memory.
    """
    assets = ultralytics_assets()
    return dict(
        server_name=host, server_port=port, share=share, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
        ssl_verify=not (ssl_certfile and ssl_keyfile),  # a self-signed pair for the class LAN
        max_file_size=f"{settings.MAX_UPLOAD_MB}mb", allowed_paths=[str(assets)] if assets else [],
        show_error=True, css=CSS, theme=gr.themes.Default(),
    )
