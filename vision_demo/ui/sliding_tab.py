"""Tab 8, Sliding window vs YOLO: why detection by "classify every crop" cannot compete with one pass.

A sliding window runs a classifier on every window at every scale; YOLO runs one network once.
Both costs are measured here, now, on this machine (detect.sliding_window.sliding_window_cost).
"""
from __future__ import annotations

from collections import namedtuple

import gradio as gr

from vision_demo.detect.sliding_window import runtime_note
from vision_demo.errors import VisionDemoError
from vision_demo.ui import job_view
from vision_demo.ui.common import intro, user_errors
from vision_demo.ui.projector import reveal

HEADERS = ["window (px)", "stride (px)", "positions x × y", "classifier passes"]


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in str(text).replace(",", " ").split())
    except ValueError:
        raise VisionDemoError(f"window sizes {text!r}: give whole numbers of pixels, e.g. 64, 128, 256") from None
    if not sizes or any(s < 8 for s in sizes):
        raise VisionDemoError("window sizes: give at least one size of 8 px or more, e.g. 64, 128, 256")
    return sizes


def cost_outputs(cost: dict):
    """(table rows, bar figure, summary markdown) from sliding_window_cost's result."""
    rows = [[s["window"], s["stride"], f"{s['positions_x']} × {s['positions_y']}", s["n_windows"]]
            for s in cost["scales"]]
    rows.append(["total", "", "", cost["passes"]])
    fig = job_view.bar_figure(["sliding window (estimated)", "YOLO (one pass)"],
                              {"seconds per image": [cost["sliding_seconds"], cost["yolo_seconds"]]},
                              title="Seconds per image (log scale)", yaxis="seconds", log_y=True)
    text = (f"**{cost['passes']:,} {cost['classifier']} passes** at {cost['classifier_size']} px × "
            f"{cost['classifier_ms']:.1f} ms = "
            f"**{cost['sliding_seconds']:.1f} s** per image, against **{cost['yolo_ms']:.0f} ms** for one YOLO pass "
            f"at {cost['yolo_imgsz']} px, both in {cost.get('yolo_runtime', 'torch')}: "
            f"YOLO is **{cost['speedup']:,.0f}× faster** (both measured on this machine just now, median of 5 "
            f"warm passes).")
    note = runtime_note(cost)   # why the Detect tab's time for the same model is smaller
    return rows, fig, text + (f"\n\n{note}" if note else "")


@user_errors
def sliding_window(width, height, window_sizes, stride_fraction):
    """Count the windows and measure one classifier pass and one YOLO pass on this machine."""
    from vision_demo.detect.sliding_window import sliding_window_cost

    if not 0.05 <= float(stride_fraction) <= 1.0:
        raise VisionDemoError("stride must be between 0.05 and 1 window (0.5 = windows overlap by half)")
    cost = sliding_window_cost(image_size=(int(height), int(width)), window_sizes=_sizes(window_sizes),
                               stride_fraction=float(stride_fraction))
    return cost_outputs(cost)


SlidingTab = namedtuple("SlidingTab", "start")


def build():
    """Lay out the tab; returns start(button): a button elsewhere (the lesson plan) that measures with these settings."""
    intro("**Sliding window vs YOLO.** Before one-pass detectors, a classifier looked at every crop of the image, "
          "at several sizes — thousands of forward passes per picture. Set the image and window sizes and measure "
          "how long that takes here, next to one YOLO pass.")
    with gr.Row():
        width = gr.Slider(160, 1920, value=640, step=32, label="Image width (px)")
        height = gr.Slider(160, 1920, value=640, step=32, label="Image height (px)")
        windows = gr.Textbox(value="64, 128, 256", label="Window sizes (px)")
        stride = gr.Slider(0.1, 1.0, value=0.5, step=0.05, label="Stride (fraction of the window)")
    run_btn = gr.Button("Measure", variant="primary", elem_id="sliding-btn")
    summary = gr.Markdown(elem_id="sliding-summary")
    with gr.Row():
        table = gr.Dataframe(headers=HEADERS, interactive=False, label="Windows per scale", elem_classes=["vd-table"],
                             wrap=True)
        plot = gr.Plot(label="Time per image", show_label=False)  # the figure has its own title
    run_btn.click(sliding_window, [width, height, windows, stride], [table, plot, summary], api_name="sliding_window")
    reveal(run_btn, "sliding-summary")

    def start(button: gr.Button) -> None:
        button.click(sliding_window, [width, height, windows, stride], [table, plot, summary],
                     api_visibility="private")

    return SlidingTab(start)
