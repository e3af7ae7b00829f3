"""Tab 7, Train a detector: fine-tune (or train from scratch) a YOLO detector on a YOLO-format data set.

The default is a generated set of circles, squares and triangles (offline). Loss and mAP curves
update live from the job's epoch_end events (same Timer pattern and plots as the Train tab); the
trained model then appears in the Detect tab's model picker.
"""
from __future__ import annotations

from collections import namedtuple

import gradio as gr

from vision_demo.jobs import JobRegistry
from vision_demo.ui import download_view, job_view
from vision_demo.ui.common import (check_job_quota, check_server_folder, client_path, for_client, gallery_items, intro,
                                   user_errors)
from vision_demo.ui.projector import reveal


YoloHandlers = namedtuple("YoloHandlers", "check_data yolo_train yolo_compare refresh show_result show_pair")


def make_handlers(registry: JobRegistry):
    """The tab's callbacks bound to one registry, by name (tests call them without a server)."""

    @user_errors
    def check_data(source, zip_file, request: gr.Request = None, progress=gr.Progress()):
        """Validate a YOLO data set; returns (report text, the data.yaml to train with: it replaces the box)."""
        from vision_demo.datasets.yolo import prepare_yolo_dataset

        progress(0, desc="extracting and checking the zip" if zip_file else "checking every image and label")
        yaml_path, report = prepare_yolo_dataset(zip_file or check_server_folder(source, request) or "shapes")
        status = "ready to train" if report.ok else "usable, but some files were left out"
        return (f"**{for_client(yaml_path, request)}** — {status}\n\n```\n{for_client(report.summary(), request)}\n```",
                client_path(yaml_path, request))

    @user_errors
    def yolo_train(data, pretrained, epochs, imgsz, job_ids, request: gr.Request = None):
        """Start a YOLO training job; returns its id at once."""
        from vision_demo.detect.train import YoloTrainConfig, submit

        data = check_server_folder(data, request)
        owner = check_job_quota(registry, request)
        config = YoloTrainConfig(data=data or "shapes", scratch=(pretrained == "scratch"),
                                 epochs=int(epochs), imgsz=int(imgsz))
        job_id = submit(registry, config, owner=owner)
        return (job_ids or []) + [job_id], [job_id]

    @user_errors
    def yolo_compare(data, epochs, imgsz, job_ids, request: gr.Request = None):
        """Transfer learning for detection in one click: the same epochs from the bundled detector and from scratch."""
        from vision_demo.detect.train import YoloTrainConfig, submit

        data = check_server_folder(data, request)
        owner = check_job_quota(registry, request, adding=2)
        ids = [submit(registry, YoloTrainConfig(data=data or "shapes", scratch=scratch, epochs=int(epochs),
                                                imgsz=int(imgsz)), owner=owner)
               for scratch in (False, True)]
        return (job_ids or []) + ids, ids

    # Titles short enough for a plot half the right column wide (~370 px at 1280×720): the long form clipped.
    refresh = job_view.live_refresh(
        registry, "detect",
        charts=[(job_view.YOLO_LOSS, "Loss: box —, cls - -, dfl ···", "loss", False),
                (job_view.YOLO_METRICS, "mAP50 —, mAP50-95 - -", "mAP", False)],
        finished_fn=job_view.detect_finished_choices)

    @user_errors
    def show_result(job_id):
        """One finished detector: (its mAP line, its per-class table, its validation pictures with its boxes)."""
        if not job_id:
            return "", None, []
        try:
            state = registry.get(job_id)
        except KeyError:
            raise gr.Error(f"No job with id {job_id!r}.") from None
        result = state.result or {}
        images = [(p, "validation image") for p in result.get("val_images") or []]
        return (job_view.yolo_summary(state), job_view.yolo_side_rows(result) or None,
                gallery_items(images, size=320))

    def show_pair(job_id):
        """The picked detector and, next to it, the one that started the other way on the same data."""
        states = registry.snapshot(kind="detect")
        other = job_view.counterpart(job_id, states)
        return (*show_result(job_id), gr.Dropdown(choices=job_view.detect_finished_choices(states), value=other))

    return YoloHandlers(check_data, yolo_train, yolo_compare, refresh, show_result, show_pair)


YoloTab = namedtuple("YoloTab", "refresh start")


def build(registry: JobRegistry):
    """Lay out the tab: controls on the left, progress and curves on the right (on screen at 1280×720).

    Returns the live refresh (fn, inputs, outputs) and start(button): a button elsewhere (the lesson plan)
    that starts *Pretrained vs scratch* with this tab's settings.
    """
    check_data, yolo_train, yolo_compare, refresh, show_result, show_pair = make_handlers(registry)
    intro("**Train a detector.** Start from the bundled person detector and teach it new classes in a few epochs — "
          "or from scratch, and see how far random weights get in the same time. "
          "mAP50 counts a box as right when it overlaps the truth by half; mAP50-95 also asks for tight boxes.")
    job_ids = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=380):
            data = gr.Textbox(value="shapes", label="YOLO data set",
                              info="'shapes' (generated), a folder with data.yaml + images/ + labels/, "
                                   "or a data.yaml path")
            pretrained = gr.Radio(["pretrained", "scratch"], value="pretrained", label="Start from",
                                  info="pretrained: the bundled person detector · scratch: random weights")
            with gr.Row():
                epochs = gr.Slider(1, 50, value=6, step=1, label="Epochs", elem_id="yolo-epochs", min_width=140)
                imgsz = gr.Slider(160, 640, value=320, step=32, label="Image size (imgsz)", min_width=140)
            with gr.Row():
                train_btn = gr.Button("Train detector", variant="primary", elem_id="yolo-train-btn")
                compare_btn = gr.Button("Pretrained vs scratch", variant="primary", elem_id="yolo-compare-btn")
            with gr.Accordion("Check a data set before training (or upload a zip)", open=False):
                zip_file = gr.File(label="Upload a zip", file_types=[".zip"], height=90)
                check_btn = gr.Button("Check data set", elem_id="yolo-check-btn")
                report = gr.Markdown(elem_id="yolo-report")
            show_all, cancel_choice, cancel_btn, cancel_msg = job_view.job_controls(
                "Show every detection job on this server", cancel_id="yolo-cancel-btn")
        with gr.Column(scale=3):
            started, progress, loss_plot, map_plot = job_view.live_panel(
                "yolo-progress", [("Losses", "yolo-loss"), ("mAP", "yolo-map")])
            board = job_view.board_buttons("yolo")
    # Two finished detectors side by side (after "Pretrained vs scratch": pretrained left), each with its mAP,
    # its per-class table and the same validation pictures with its own boxes.
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            inspect_choice = gr.Dropdown([], label="Finished detector (newest first; pretrained before scratch)",
                                         allow_custom_value=True, elem_id="yolo-job-a")
            summary = gr.Markdown(elem_id="yolo-summary-a")
            metrics = gr.Dataframe(headers=job_view.SIDE_BY_SIDE_HEADERS, label="Final metrics per class",
                                   interactive=False, elem_id="yolo-metrics", elem_classes=["vd-table"])
            gallery = gr.Gallery(label="Validation images with its boxes", columns=2, height=360,
                                 elem_id="yolo-gallery-a", elem_classes=["vd-captions"])
        with gr.Column(min_width=300):
            other_choice = gr.Dropdown([], label="Next to it (the other start, same data)",
                                       allow_custom_value=True, elem_id="yolo-job-b")
            summary_b = gr.Markdown(elem_id="yolo-summary-b")
            metrics_b = gr.Dataframe(headers=job_view.SIDE_BY_SIDE_HEADERS, label="Final metrics per class",
                                     interactive=False, elem_id="yolo-metrics-b", elem_classes=["vd-table"])
            gallery_b = gr.Gallery(label="The same images with its boxes", columns=2, height=360,
                                   elem_id="yolo-gallery-b", elem_classes=["vd-captions"])
    download_view.build(registry, "detect", job_ids, show_all, inspect_choice, api_names=False)

    timer = gr.Timer(1.0, active=False)
    shown = gr.State({})
    outputs = [progress, loss_plot, map_plot, cancel_choice, inspect_choice, timer, shown]
    inputs = [job_ids, show_all, cancel_choice, inspect_choice, shown]
    timer.tick(refresh, inputs, outputs, concurrency_limit=None, show_progress="hidden", api_visibility="private")
    show_all.change(refresh, inputs, outputs, concurrency_limit=None, api_visibility="private")
    job_view.wire_board(registry, "detect", board, refresh, inputs, outputs)
    gr.Timer(5.0).tick(job_view.watch(registry, "detect"), [job_ids, show_all, shown], timer, concurrency_limit=None,
                       show_progress="hidden", api_visibility="private")
    check_btn.click(check_data, [data, zip_file], [report, data], api_visibility="undocumented",
                    api_name="check_yolo_data")
    start_timer = dict(fn=lambda: gr.Timer(active=True), inputs=None, outputs=timer, api_visibility="private")
    train_btn.click(yolo_train, [data, pretrained, epochs, imgsz, job_ids], [job_ids, started],
                    api_name="yolo_train", concurrency_limit=None).success(**start_timer)
    compare_btn.click(yolo_compare, [data, epochs, imgsz, job_ids], [job_ids, started],
                      api_name="yolo_compare", concurrency_limit=None).success(**start_timer)
    for button in (train_btn, compare_btn):
        reveal(button, "yolo-progress")
    cancel_btn.click(job_view.cancel_handler(registry), [cancel_choice, job_ids], cancel_msg, api_visibility="private")
    inspect_choice.change(show_pair, inspect_choice, [summary, metrics, gallery, other_choice],
                          api_visibility="private")
    other_choice.change(show_result, other_choice, [summary_b, metrics_b, gallery_b], api_visibility="private")

    def start(button: gr.Button) -> None:
        button.click(yolo_compare, [data, epochs, imgsz, job_ids], [job_ids, started], api_visibility="private",
                     concurrency_limit=None).success(**start_timer)

    return YoloTab((refresh, inputs, outputs), start)
