"""Tab "Your objects": from webcam pictures to a detector that finds them live, in one class period, offline.

Name 1-6 objects, capture bursts from the webcam (or upload pictures), drag a box around each object on each
picture (ui/objects_editor.py: the browser draws, the server checks and stores YOLO labels), press Train — the
bundled detector fine-tuned at 320 px on the set's own zip (detect/objects.py) — and the trained detector
appears on the Detect tab's model picker, on its live webcam too. Once a detector of the set is trained, new
captures arrive with its proposed boxes (label assist): accept or correct them, and watch it get better.

Each browser has its own set, as on Your classes: a random 32-hex id kept in localStorage (gr.BrowserState),
the folder WORK/objects/<id>/ (datasets/objects.py).

API (the hidden textbox `objects-set` is the set id; `/objects_new_set` makes one):
    /objects_new_set -> id · /objects_names (id, "a, b") · /objects_add (id, files) · /objects_summary (id) ->
    {pictures: [{picture, boxes}], counts} · /objects_boxes (id, picture, boxes) · /objects_train (id, scratch,
    epochs) -> job ids · /objects_zip (id) -> zip · /objects_clear (id)
"""
from __future__ import annotations

import base64
import functools
from collections import namedtuple
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from vision_demo.datasets.objects import ObjectSet, check_set_id, new_set_id, prune
from vision_demo.detect import objects as training
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry
from vision_demo.ui import job_view, objects_editor
from vision_demo.ui.captured_tab import browser_secret
from vision_demo.ui.common import _as_gr_error, check_job_quota, gallery_items, intro, user_errors
from vision_demo.ui.projector import reveal

STORAGE_KEY = "vision_demo_objects_set"   # the localStorage entry that holds the browser's set id
MAX_FRAME_BYTES = 3 * 1024**2             # a 640x480 JPEG is ~40-60 KB


def _answer(fn):
    """A server function for the editor: its dict, or {"error": one sentence} (never a traceback, never raised:
    the page shows the message under the picture)."""
    @functools.wraps(fn)
    def wrapper(payload, request: gr.Request = None):
        try:
            p = payload if isinstance(payload, dict) else {}
            return fn(ObjectSet.for_id(p.get("set")), p)
        except Exception as err:
            return {"error": _as_gr_error(err, request).message}
    del wrapper.__wrapped__   # Gradio reads the wrapper's own signature: it fills `request`
    return wrapper


def _state(s: ObjectSet) -> dict:
    return {"classes": s.classes(), "pictures": s.pictures(), "counts": s.counts(), "summary": s.summary()}


def _frame(data_url) -> bytes:
    from vision_demo.detect.live import frame_bytes

    data = frame_bytes(data_url)
    if len(data) > MAX_FRAME_BYTES:
        raise VisionDemoError("that picture is over 3 MB: capture at 640x480")
    return data


def status_line(s: ObjectSet) -> str:
    summary = s.summary()
    boxes = " · ".join(f"**{k}** {n} box{'es' * (n != 1)}" for k, n in summary["boxes"].items())
    return (f"{summary['pictures']} pictures ({summary['unlabelled']} without boxes yet, {summary['background']} "
            f"background) · {boxes}")


ObjectsHandlers = namedtuple("ObjectsHandlers", "new_set open_set set_names add_uploads server_functions summary "
                                                "set_boxes train refresh show_result zip_set clear_set")


def make_handlers(registry: JobRegistry):
    """The tab's callbacks bound to one registry (tests call them without a server)."""

    def new_set() -> str:
        """A fresh set id for a script (a browser gets one by itself and keeps it)."""
        prune()
        return new_set_id()

    def open_set(stored):
        """Page load: the browser's set (a new one when it has none), its class names and its jobs."""
        try:
            set_id = check_set_id(stored)
        except VisionDemoError:
            set_id = new_set()
        s = ObjectSet.for_id(set_id)
        s.touch()
        return (set_id, set_id, ", ".join(s.classes()), status_line(s), *refresh(set_id, None))

    @user_errors
    def set_names(set_id, text):
        """Name the object classes ('mug, phone'); a class renamed in place keeps its boxes."""
        s = ObjectSet.for_id(set_id)
        names = s.set_classes(text)
        return ", ".join(names), status_line(s)

    @user_errors
    def add_uploads(set_id, files):
        """Uploaded pictures join the set, without boxes yet (what is not an image is listed)."""
        s = ObjectSet.for_id(set_id)
        added, refused = s.add_files([getattr(f, "name", f) for f in files or []])
        status = f"Added {len(added)} picture{'s' * (len(added) != 1)}: draw their boxes. " + status_line(s)
        if refused:
            status += " Not added: " + "; ".join(refused[:5])
        return status

    # ---- the editor's server functions (ui/objects_editor.py) -------------------------------------
    @_answer
    def objects_state(s, p):
        return _state(s)

    @_answer
    def objects_picture(s, p):
        picture = p.get("picture")
        w, h = s.size(picture)
        out = {"picture": picture, "w": w, "h": h, "boxes": s.boxes(picture), "labelled": s.labelled(picture),
               "proposed": s.proposed(picture)}
        if not p.get("meta_only"):
            out["image"] = "data:image/jpeg;base64," + base64.b64encode(s.image_path(picture).read_bytes()).decode()
        return out

    @_answer
    def objects_save(s, p):
        boxes = p.get("boxes")
        if not isinstance(boxes, list):
            raise VisionDemoError("boxes must be a list of {class, xyxy}")
        return {"boxes": s.set_boxes(p.get("picture"), boxes), "counts": s.counts()}

    @_answer
    def objects_capture(s, p):
        from vision_demo.images import load_rgb

        image = load_rgb(_frame(p.get("image")), name="the webcam frame")
        proposed = []
        if p.get("assist"):
            job = training.best_job(training.jobs_of(registry, s))
            if job:
                proposed = training.propose(registry, s, job, image)
        picture = s.add(image, proposed=proposed)
        return {"picture": picture, "proposed": len(proposed)}

    @_answer
    def objects_delete(s, p):
        if not s.delete(p.get("picture")):
            raise VisionDemoError("that picture was already gone")
        return {"state": _state(s)}

    # ---- named API endpoints ------------------------------------------------------------------------
    @user_errors
    def summary(set_id: str) -> dict:
        """The set: classes, boxes per class, and every picture with its boxes (pixels)."""
        s = ObjectSet.for_id(set_id)
        return {"classes": s.classes(), "counts": s.counts(), **s.summary(),
                "pictures": [{"picture": p, "size": s.size(p), "boxes": s.boxes(p), "labelled": s.labelled(p)}
                             for p in s.pictures()]}

    @user_errors
    def set_boxes(set_id: str, picture: str, boxes: list) -> list:
        """Replace a picture's boxes: [{"class": "mug", "xyxy": [x1, y1, x2, y2]}] in pixels ([]: background)."""
        return ObjectSet.for_id(set_id).set_boxes(picture, boxes)

    @user_errors
    def train(set_id, scratch, epochs, job_ids, request: gr.Request = None):
        """One click: the bundled detector fine-tuned on the set (and, if ticked, the same epochs from scratch)."""
        s = ObjectSet.for_id(set_id)
        owner = check_job_quota(registry, request, adding=1 + bool(scratch))
        ids = training.submit_objects(registry, s, epochs=int(epochs), compare=bool(scratch), owner=owner)
        return (job_ids or []) + ids, ids

    def refresh(set_id, current):
        """This set's jobs: the progress table, the live mAP50 curve, the finished ones to inspect, the timer."""
        try:
            s = ObjectSet.for_id(set_id)
        except VisionDemoError:
            return gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False)
        states = training.jobs_of(registry, s)[-4:]
        html = job_view.progress_html(states) if states else (
            "<p class='vd-empty'>Draw boxes on a few pictures of every object, then press Train.</p>")
        figure = job_view.history_figure(states, job_view.YOLO_METRICS, "Validation mAP (mAP50 solid, "
                                         "mAP50-95 dashed)", "mAP")
        choices = job_view.finished_choices(states)
        ids = [c[1] for c in choices]
        value = current if current in ids else training.best_job(states)
        return html, figure, gr.Dropdown(choices=choices, value=value), gr.Timer(active=not job_view.all_done(states))

    @user_errors
    def show_result(job_id):
        if not job_id:
            return None, [], ""
        try:
            state = registry.get(job_id)
        except KeyError:
            raise VisionDemoError(f"no job {job_id!r}") from None
        result = state.result or {}
        images = [(p, "validation picture: the model's boxes") for p in result.get("val_images") or []]
        where = (f"**{state.name}** is on the **Detect** tab's model picker (job {state.id}): open it, pick the "
                 "model, and use its **Webcam** for live boxes." if state.status == "finished" else "")
        return job_view.yolo_per_class_rows(result) or None, gallery_items(images, size=320), where

    @user_errors
    def zip_set(set_id):
        """The set as a YOLO data set (what Train a detector and `yolo-train --data` take back)."""
        s = ObjectSet.for_id(set_id)
        target = Path(get_upload_folder()) / "objects-zips" / f"{s.id}.zip"   # Gradio serves its own folder
        return str(s.zip_to(target))

    @user_errors
    def clear_set(set_id):
        """Delete the whole set: pictures, boxes and names (trained jobs stay until the server's owner removes them)."""
        s = ObjectSet.for_id(set_id)
        s.clear()
        return ", ".join(s.classes()), "Your set is deleted: every picture and box is gone."

    @_answer
    def objects_live(s, p):
        from vision_demo.detect.detector import get_detector
        from vision_demo.detect.live import detect_frame

        job = training.best_job(training.jobs_of(registry, s))
        if not job:
            raise VisionDemoError("no trained detector of your objects yet: press Train first")
        answer = detect_frame(get_detector(f"job:{job}", registry=registry), p.get("image"), imgsz=training.IMGSZ)
        if "boxes" in answer:   # one box per object, as label assist proposes them
            answer["boxes"] = training.one_box_per_object(answer["boxes"])
        return answer

    server_functions = [objects_state, objects_picture, objects_save, objects_capture, objects_delete, objects_live]
    return ObjectsHandlers(new_set, open_set, set_names, add_uploads, server_functions, summary, set_boxes, train,
                           refresh, show_result, zip_set, clear_set)


ObjectsTab = namedtuple("ObjectsTab", "store set_box")


def build(demo: gr.Blocks, registry: JobRegistry):
    """Lay out the tab: the editor (camera, picture, boxes) on the left, classes and training on the right.
    Returns the browser's id store (app.py renders it outside the tabs) and the hidden set-id box."""
    h = make_handlers(registry)
    intro("**Your objects.** Teach a detector your own objects: name them, capture pictures from the webcam, drag "
          "a box around each object, press Train — the bundled detector learns them in a few minutes — then see "
          "its boxes live on the **Detect** tab's webcam. Your pictures stay yours.")
    store = gr.BrowserState("", storage_key=STORAGE_KEY, secret=browser_secret(), render=False)
    set_box = gr.Textbox(visible=False, elem_id="objects-set")
    job_ids, started = gr.State([]), gr.JSON(visible=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=6, min_width=420):
            editor = objects_editor.build(h.server_functions)
        with gr.Column(scale=4, min_width=340):
            names = gr.Textbox(", ".join(("mug", "phone")), label="Objects (1–6, commas; Enter to apply)",
                               elem_id="objects-names")
            with gr.Row(equal_height=True):
                upload_btn = gr.UploadButton("Upload pictures…", file_count="multiple", file_types=["image"],
                                             elem_id="objects-upload", size="sm")
                zip_btn = gr.Button("Zip my set (YOLO)", size="sm", elem_id="objects-zip-btn")
            status = gr.Markdown(elem_id="objects-status")
            with gr.Row(equal_height=True):
                epochs = gr.Slider(1, 50, value=training.EPOCHS, step=1, label="Epochs", elem_id="objects-epochs",
                                   min_width=140)
                scratch = gr.Checkbox(False, label="also from scratch, side by side", elem_id="objects-scratch",
                                      min_width=140)
            train_btn = gr.Button("Train a detector on my objects", variant="primary", elem_id="objects-train")
            progress = gr.HTML(elem_id="objects-progress")
            plot = gr.Plot(show_label=False, elem_id="objects-map")
            with gr.Accordion("Your set: download it, delete it", open=False):
                zip_file = gr.File(label="Download", elem_id="objects-zip", height=70)
                clear_btn = gr.Button("Delete my whole set", size="sm", variant="stop", elem_id="objects-clear")
    result_choice = gr.Dropdown([], label="Finished detector of your objects", elem_id="objects-result",
                                allow_custom_value=True)
    where = gr.Markdown(elem_id="objects-where-live")
    metrics = gr.Dataframe(headers=job_view.PER_CLASS_HEADERS, label="Final metrics per class", interactive=False,
                           elem_id="objects-metrics", elem_classes=["vd-table"])
    gallery = gr.Gallery(label="Validation pictures with the model's boxes", columns=4, height=300,
                         elem_classes=["vd-captions"])
    timer = gr.Timer(1.0, active=False)

    private = dict(api_visibility="private")
    reload = dict(fn=None, inputs=None, outputs=None, js=objects_editor.RELOAD_JS, queue=False, **private)
    demo.load(h.open_set, store, [store, set_box, names, status, progress, plot, result_choice, timer],
              concurrency_limit=None, **private).then(
        None, set_box, None, js=objects_editor.SET_JS, queue=False, **private)
    gr.api(h.new_set, api_name="objects_new_set")
    gr.api(h.summary, api_name="objects_summary")
    gr.api(h.set_boxes, api_name="objects_boxes")
    names.submit(h.set_names, [set_box, names], [names, status], api_name="objects_names").success(**reload)
    upload_btn.upload(h.add_uploads, [set_box, upload_btn], status, api_name="objects_add").success(**reload)
    zip_btn.click(h.zip_set, set_box, zip_file, api_name="objects_zip")
    clear_btn.click(h.clear_set, set_box, [names, status], api_name="objects_clear").success(**reload)
    train_btn.click(h.train, [set_box, scratch, epochs, job_ids], [job_ids, started], api_name="objects_train",
                    concurrency_limit=None).success(lambda: gr.Timer(active=True), None, timer, **private)
    reveal(train_btn, "objects-progress")
    refresh_io = dict(fn=h.refresh, inputs=[set_box, result_choice], outputs=[progress, plot, result_choice, timer],
                      concurrency_limit=None, show_progress="hidden", **private)
    timer.tick(**refresh_io)
    # The editor saved boxes or captured pictures (its JS triggers `change`): the counts beside it follow.
    editor.change(user_errors(lambda set_id: status_line(ObjectSet.for_id(set_id))), set_box, status,
                  concurrency_limit=None, show_progress="hidden", trigger_mode="always_last", **private)
    result_choice.change(h.show_result, result_choice, [metrics, gallery, where], **private)
    return ObjectsTab(store, set_box)
