"""The "Take it home" area of both training tabs: a finished job as one file, the comparison table as CSV,
the charts as HTML or PNG.

    export_job, download_table, download_chart = make_handlers(registry, "classify")
    build(registry, "classify", job_ids, show_all, inspect_choice, sweep_ids)     # inside a tab's Blocks

Everything is made by vision_demo.take_home (no Gradio there); this module only wires it. A model export runs
as a job (take_home.DOWNLOADS) and the click waits for it with a progress bar: the work is in the job's thread,
the handler only reads its state, and the event has its own small concurrency limit, so the rest of the app
stays as fast while a download is being made. The first export of a job takes seconds (a YOLO OpenVINO
export ~10-30 s here), later ones return the same file at once.

Visitors (not the server's own browser) name jobs by id only, never a folder of the server. Every file handed
out is a hard link (or copy) in Gradio's upload folder, inside the work folder: nothing else is served.
"""
from __future__ import annotations

import os
import shutil
from collections import namedtuple
from pathlib import Path

import gradio as gr

from vision_demo.formats import EXPORT_FORMATS
from vision_demo.jobs import JobRegistry
from vision_demo.ui import job_view
from vision_demo.ui.common import at_the_server, client_key, user_errors

def served(path: Path) -> str:
    """`path` as a file Gradio may serve: a hard link (same disk: no copy) in its upload folder."""
    from gradio.utils import get_upload_folder

    path = Path(path)
    target = Path(get_upload_folder()) / "take-home" / path.parent.name / path.name
    if not target.is_file() or target.stat().st_size != path.stat().st_size:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)
        except OSError:   # another disk (GRADIO_TEMP_DIR set elsewhere): a copy
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return str(target)


def export_note(path: Path, info: dict) -> str:
    """'**name.zip** (3.2 MB) — same top-1 class as PyTorch on 18/18 test images': what the file is, how it was checked."""
    size = Path(path).stat().st_size
    head = f"**{Path(path).name}** ({size / 2**20:.1f} MB)"
    check = info.get("check") or {}
    if check.get("images") and "same_top1" in check:
        return (f"{head} — same top-1 class as PyTorch on {check['same_top1']}/{check['images']} test images "
                f"(probabilities at most {check['max_prob_diff']:.0e} apart). Unzip it: README.md shows how to run it.")
    if check.get("images"):
        return f"{head} — the same boxes as torch on {check['images']} images. README.md inside shows how to run it."
    return f"{head} — the trained weights themselves. README.md inside shows how to load them."


def chart_makers(registry: JobRegistry, kind: str) -> dict:
    """{chart label: fn(states, inspect_id, sweep_ids) -> plotly figure}: the charts the tab shows."""
    if kind == "detect":
        return {
            "Loss curves": lambda states, *_: job_view.history_figure(
                states, job_view.YOLO_LOSS, "Losses (box solid, cls dashed, dfl dotted)", "loss"),
            "mAP curves": lambda states, *_: job_view.history_figure(
                states, job_view.YOLO_METRICS, "Validation mAP (mAP50 solid, mAP50-95 dashed)", "mAP"),
        }

    def confusion(states, inspect_id, sweep_ids):
        from vision_demo.errors import VisionDemoError

        try:
            result = registry.get(inspect_id).result if inspect_id else None
        except KeyError:
            result = None
        if not (result or {}).get("confusion_matrix"):
            raise VisionDemoError("pick a finished job under 'Look inside a finished job' first")
        return job_view.confusion_figure(result)

    def sweep(states, inspect_id, sweep_ids):
        from vision_demo.classify.sweep import sweep_rows
        from vision_demo.errors import VisionDemoError

        rows = sweep_rows(registry.snapshot(list(sweep_ids or [])))
        if not rows:
            raise VisionDemoError("run the sweep first (the accordion 'When does pretraining matter most?')")
        return job_view.sweep_figure(rows)

    return {
        "Loss curves": lambda states, *_: job_view.history_figure(
            states, job_view.CLASSIFY_LOSS, "Loss (train dashed, val solid)", "cross-entropy"),
        "Accuracy curves": lambda states, *_: job_view.history_figure(
            states, job_view.CLASSIFY_ACC, "Accuracy (train dashed, val solid)", "%", percent=True),
        "Confusion matrix (the job picked below)": confusion,
        "Accuracy vs training images (sweep)": sweep,
    }


DownloadHandlers = namedtuple("DownloadHandlers", "export_job download_table download_chart job_choices")


def make_handlers(registry: JobRegistry, kind: str):
    """The area's callbacks bound to one registry and one kind of job (tests call them without a server)."""
    from vision_demo import take_home

    charts = chart_makers(registry, kind)

    @user_errors
    def export_job(job_id, fmt, request: gr.Request = None, progress=gr.Progress()):
        """A finished job (classification or detection) as one .zip: the model in `fmt`, model.json, README.md.
        Exported and checked against PyTorch the first time (seconds), the same file at once afterwards."""
        job = take_home.find_job(job_id, registry, allow_folders=at_the_server(request))   # visitors: ids only
        fmt = take_home.check_format(job, fmt)
        progress(0, desc=f"{fmt} export of {job.name}")
        path = take_home.DOWNLOADS.wait(job, fmt, owner=client_key(request),
                                        on_progress=lambda fraction, message: progress(fraction, desc=message))
        return served(path), export_note(path, take_home.download_info(path))

    @user_errors
    def download_table(show_all=True, job_ids=None):
        """The comparison table (finished classification jobs) as CSV: the rows the tab shows."""
        states = registry.snapshot(None if show_all else list(job_ids or []), kind="classify")
        return served(take_home.table_csv(job_view.COMPARISON_HEADERS, job_view.comparison_rows(states)))

    @user_errors
    def download_chart(chart, fmt, show_all=True, job_ids=None, inspect_id=None, sweep_ids=None):
        """One of the tab's charts as a standalone HTML page (opens offline) or a PNG."""
        if chart not in charts:
            raise gr.Error(f"Pick a chart: {', '.join(charts)}.")
        states = registry.snapshot(None if show_all else list(job_ids or []), kind=kind)
        fig = charts[chart](states, inspect_id, sweep_ids)
        return served(take_home.figure_file(fig, fmt, name=chart.split(" (")[0]))

    def job_choices(current):
        finished = job_view.finished_choices if kind == "classify" else job_view.detect_finished_choices
        choices = finished(registry.snapshot(kind=kind))
        ids = [c[1] for c in choices]
        return gr.Dropdown(choices=choices, value=current if current in ids else (ids[0] if ids else None))

    return DownloadHandlers(export_job, download_table, download_chart, job_choices)


def build(registry: JobRegistry, kind: str, job_ids, show_all, inspect_choice=None, sweep_ids=None,
          api_names: bool = True) -> None:
    """Lay out the folded area; each button's file appears in the same row, next to it.

    kind: "classify" (Train tab: models, table, four charts) or "detect" (Train a detector: models, two charts).
    api_names: give the events their API names (once per app: the Train tab's)."""
    from vision_demo.formats import formats_for

    export_job, download_table, download_chart, job_choices = make_handlers(registry, kind)
    prefix = "dl" if kind == "classify" else "yolo-dl"
    with gr.Accordion("Take it home: download a model, the table, the charts", open=False) as area:
        with gr.Row(equal_height=True):
            job = gr.Dropdown([], label="Finished job", allow_custom_value=True, scale=3, elem_id=f"{prefix}-job")
            fmt = gr.Dropdown([(EXPORT_FORMATS[f].label, f) for f in formats_for(kind)], value="onnx", label="Format", scale=2,
                              elem_id=f"{prefix}-format")
            export_btn = gr.Button("Export model", scale=1, min_width=110, elem_id=f"{prefix}-export-btn")
            model_file = gr.File(label="Model (.zip)", interactive=False, scale=3, height=80,
                                 elem_id=f"{prefix}-model-file")
        note = gr.Markdown(elem_id=f"{prefix}-note")
        chart_names = list(chart_makers(registry, kind))
        with gr.Row(equal_height=True):
            chart = gr.Dropdown(chart_names, value=chart_names[0], label="Chart", scale=3, elem_id=f"{prefix}-chart")
            chart_fmt = gr.Dropdown([("HTML (interactive, offline)", "html"), ("PNG (a picture)", "png")],
                                    value="html", label="As", scale=2, elem_id=f"{prefix}-chart-format")
            chart_btn = gr.Button("Download chart", scale=1, min_width=110, elem_id=f"{prefix}-chart-btn")
            chart_file = gr.File(label="Chart or table", interactive=False, scale=3, height=80,
                                 elem_id=f"{prefix}-file")
        if kind == "classify":
            table_btn = gr.Button("Comparison table as CSV", size="sm", elem_id=f"{prefix}-table-btn")
    area.expand(job_choices, job, job, api_visibility="private")
    named = (lambda name: dict(api_name=name)) if api_names else (lambda name: dict(api_visibility="private"))
    # Exports wait on their job (see the docstring): their own queue, two at a time, never the app's slots.
    export_btn.click(export_job, [job, fmt], [model_file, note], concurrency_limit=2, concurrency_id="take-home",
                     **named("export_job"))
    chart_inputs = [chart, chart_fmt, show_all, job_ids, inspect_choice or gr.State(None), sweep_ids or gr.State([])]
    # A PNG starts a headless Chromium (~3 s): one at a time.
    chart_btn.click(download_chart, chart_inputs, chart_file, concurrency_limit=1, **named("download_chart"))
    if kind == "classify":
        table_btn.click(download_table, [show_all, job_ids], chart_file, concurrency_limit=None,
                        **named("download_table"))
