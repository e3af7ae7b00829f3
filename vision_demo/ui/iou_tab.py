"""Detect tab, "IoU by hand": draw a box, read its IoU; move the IoU threshold, watch TPs turn into FPs.

The model runs once per picture (and model, confidence, NMS): its boxes are cached in the session's
gr.State, so the threshold slider, the clicks and the x1..y2 fields only re-score (detect/iou_lesson.py)
and answer at once. API: /iou_by_hand (picture, threshold, x1, y1, x2, y2, model, conf, NMS IoU, runtime,
the Image tab's picture) -> the scored picture, the box line, the mAP line, the status line, both tables
and the plot.

Drawing a box: two clicks on the picture, one per opposite corner (gr.Image's select event gives the pixel
clicked, in the image's own pixels whatever its size on screen). Gradio 6 has no rectangle drag on an image;
gr.ImageEditor could give the bounding box of brush strokes, but a stroke has a width (the box grows by it),
its toolbar is one more thing to learn in front of a class, and it uploads the whole layered image on every
change. Two clicks are exact, obvious ("click the top-left corner, then the bottom-right one") and light;
the four number fields are there for precision.
"""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from vision_demo.detect.box_match import IOU_THRESHOLDS
from vision_demo.detect.iou_lesson import (LEGEND, PREDICTION_HEADERS, THRESHOLD_HEADERS, draw, picture_choices,
                                           score)
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry
from vision_demo.ui.common import check_server_folder, image_source, upload_named, user_errors
from vision_demo.ui.projector import reveal

UPLOAD_CHOICE = ("the picture on the Image tab (no ground truth)", "upload")
FONT_SIZE = 14
FIRST_CLICK = "**First corner set** (the cross): now click the opposite corner of the object."


def threshold_figure(lesson) -> go.Figure:
    """TP and FP counts at each IoU threshold 0.50…0.95 with mAP at that threshold; the slider's one marked."""
    xs = [f"{t:.2f}" for t in IOU_THRESHOLDS]
    fig = go.Figure([
        go.Bar(name="TP", x=xs, y=lesson.tp_counts, marker_color="#2868ff"),
        go.Bar(name="FP", x=xs, y=lesson.fp_counts, marker_color="#ff3232"),
        go.Scatter(name="mAP at this IoU", x=xs, y=lesson.map_per_threshold, yaxis="y2", mode="lines+markers",
                   line=dict(color="#2ca02c", width=3)),
    ])
    marked = min(range(len(IOU_THRESHOLDS)), key=lambda i: abs(IOU_THRESHOLDS[i] - lesson.threshold))
    fig.add_vline(x=marked, line_dash="dot", line_color="#555")
    fig.update_layout(
        title=dict(text="What counts as found, threshold by threshold", font=dict(size=FONT_SIZE + 2)),
        barmode="stack", height=260, font=dict(size=FONT_SIZE), template="plotly_white", uirevision="keep",
        margin=dict(l=50, r=50, t=40, b=40), legend=dict(orientation="h", y=-0.25),
        xaxis=dict(title=None, type="category"), yaxis=dict(title="boxes", rangemode="tozero"),
        yaxis2=dict(title="mAP", overlaying="y", side="right", range=[0, 1.02], showgrid=False))
    return fig


def _key(picture, image, weights, conf, nms_iou, runtime) -> list:
    """What the cached boxes depend on (the picture, the model and its thresholds; not the IoU slider)."""
    upload = image.get("path") if isinstance(image, dict) else image
    return [picture, upload if picture == "upload" else None, weights, float(conf), float(nms_iou), runtime]


def _shown(cache: dict, threshold, box, corner=None) -> tuple:
    """(image, box line, mAP line, predictions rows, thresholds rows, plot) from the cached boxes: no model run."""
    picture, boxes = cache["picture"], cache["boxes"]
    lesson = score(picture, boxes, threshold, box, model_classes=cache["classes"])
    box_line = FIRST_CLICK if corner is not None and lesson.box is None else lesson.box_line
    return (draw(picture, boxes, lesson, corner), box_line, lesson.map_line, lesson.rows, lesson.per_threshold,
            threshold_figure(lesson))


def make_handlers(registry: JobRegistry):
    """The section's callbacks bound to one registry (tests call them without a server)."""

    @user_errors
    def iou_by_hand(picture, threshold, x1, y1, x2, y2, weights, conf, nms_iou, runtime, image, cache=None,
                    request: gr.Request = None):
        """Detect on the picture (or take the cached boxes) and score them and the student's box."""
        from vision_demo.detect.detector import get_detector
        from vision_demo.detect.iou_lesson import load_picture, model_size, predict_boxes

        check_server_folder(weights, request)   # a weights *path* only from the server's own browser
        key = _key(picture, image, weights, conf, nms_iou, runtime)
        if not cache or cache.get("key") != key:
            with upload_named(image):
                pic = load_picture(picture, image_source(image) if picture == "upload" and image else None)
                detector = get_detector(weights or None, registry=registry)
                boxes = predict_boxes(pic, weights, conf, nms_iou, runtime or "auto", registry)
            classes = [detector.names[k] for k in sorted(detector.names)]
            status = (f"{len(boxes)} model boxes on {pic.name} at {model_size(pic)} px (conf ≥ {float(conf):.2f}). "
                      "Moving the slider or drawing a box re-scores these boxes: the model does not run again.")
            cache = {"key": key, "picture": pic, "boxes": boxes, "classes": classes, "status": status}
            status_line = status
        else:
            status_line = cache["status"].split(". ")[0] + " (cached: the model did not run again)."
        return (*_shown(cache, threshold, [x1, y1, x2, y2]), status_line, cache, None)

    def rescore(threshold, x1, y1, x2, y2, cache, corner=None):
        """The slider or the number fields moved: score the cached boxes again."""
        if not cache:
            return (gr.skip(),) * 6
        return _shown(cache, threshold, [x1, y1, x2, y2], corner)

    @user_errors
    def click_corner(cache, corner, threshold, x1, y1, x2, y2, evt: gr.SelectData, request: gr.Request = None):
        """A click on the picture: the first sets one corner, the second completes the box (then a new one)."""
        if not cache:
            raise VisionDemoError("press Detect and score first: the picture needs the model's boxes")
        x, y = (float(v) for v in evt.index)
        if corner is None:
            return (gr.skip(),) * 4 + ([x, y],) + rescore(threshold, None, None, None, None, cache, [x, y])
        box = [min(corner[0], x), min(corner[1], y), max(corner[0], x), max(corner[1], y)]
        return (*box, None) + rescore(threshold, *box, cache)

    return iou_by_hand, rescore, click_corner


def build(registry: JobRegistry, image, weights, conf, nms_iou, runtime) -> None:
    """The "IoU by hand" sub-tab, next to the Detect tab's Image and Webcam ones (that tab owns the model picker,
    the confidence and NMS thresholds and the upload). Opening it scores bus.jpg at once."""
    iou_by_hand, rescore, click_corner = make_handlers(registry)
    with gr.Tab("IoU by hand", elem_id="iou-tab") as page:
        ui = _layout()
    _wire(ui, page, iou_by_hand, rescore, click_corner, [weights, conf, nms_iou, runtime, image])


def _layout() -> dict:
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            shown = gr.Image(label="Click two opposite corners of an object: your box", interactive=False,
                             height=310, elem_id="iou-image", buttons=[])
            box_line = gr.Markdown(elem_id="iou-box-line")
            gr.Markdown(LEGEND, elem_classes=["vd-note"])
        with gr.Column(scale=1, min_width=300):
            picture = gr.Dropdown(picture_choices() + [UPLOAD_CHOICE], value="photo:bus.jpg", label="Picture",
                                  elem_id="iou-picture")
            run_btn = gr.Button("Detect and score", variant="primary", elem_id="iou-btn")
            threshold = gr.Slider(0.5, 0.95, value=0.5, step=0.05, elem_id="iou-threshold",
                                  label="IoU threshold for a true positive")
            map_line = gr.Markdown(elem_id="iou-map-line")
            with gr.Row():
                corners = [gr.Number(label=name, precision=0, minimum=0, min_width=70, elem_id=f"iou-{name}")
                           for name in ("x1", "y1", "x2", "y2")]
            status = gr.Markdown(elem_id="iou-status", elem_classes=["vd-note"])
    plot = gr.Plot(show_label=False, elem_id="iou-plot")
    rows = gr.Dataframe(headers=PREDICTION_HEADERS, interactive=False, label="The model's boxes (numbered on the "
                        "picture, most confident first)", elem_id="iou-predictions", elem_classes=["vd-table"],
                        wrap=True)
    per_threshold = gr.Dataframe(headers=THRESHOLD_HEADERS, interactive=False, label="Per IoU threshold",
                                 elem_id="iou-thresholds", elem_classes=["vd-table"], wrap=True)
    cache, corner = gr.State(None), gr.State(None)   # this visitor's boxes (the picture's model run), a first click
    return dict(picture=picture, shown=shown, run_btn=run_btn, threshold=threshold, corners=corners,
                box_line=box_line, map_line=map_line, status=status, plot=plot, rows=rows,
                per_threshold=per_threshold, cache=cache, corner=corner)


def _wire(ui: dict, page: gr.Tab, iou_by_hand, rescore, click_corner, detect_inputs: list) -> None:
    picture, shown, run_btn, threshold, corners, status, cache, corner = (
        ui[k] for k in ("picture", "shown", "run_btn", "threshold", "corners", "status", "cache", "corner"))
    shown_outputs = [shown, ui["box_line"], ui["map_line"], ui["rows"], ui["per_threshold"], ui["plot"]]
    detect_io = dict(fn=iou_by_hand, inputs=[picture, threshold, *corners, *detect_inputs, cache],
                     outputs=[*shown_outputs, status, cache, corner], preprocess=False, concurrency_limit=8,
                     concurrency_id="detect")
    run_btn.click(**detect_io, api_name="iou_by_hand")
    reveal(run_btn, "iou-image")
    picture.change(**detect_io, api_visibility="private")
    page.select(**detect_io, api_visibility="private")   # opening the sub-tab shows a scored picture at once
    # Re-scoring is cheap (no model): no queue limit, and only the slider's latest position matters.
    rescore_io = dict(fn=rescore, inputs=[threshold, *corners, cache], outputs=shown_outputs,
                      concurrency_limit=None, show_progress="hidden", api_visibility="private",
                      trigger_mode="always_last")
    threshold.change(**rescore_io)
    gr.on([e for c in corners for e in (c.submit, c.blur)], **rescore_io)
    shown.select(click_corner, [cache, corner, threshold, *corners], [*corners, corner, *shown_outputs],
                 concurrency_limit=None, show_progress="hidden", api_visibility="private")

