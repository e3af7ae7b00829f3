"""Tab 2, Your classes ("captured" in the code, as in datasets/, classify/ and commands/captured.py, and the jobs'
kind): Teachable Machine in the classroom. Name 2-6 classes, capture pictures of each from the
webcam (or upload some), train in seconds, then watch the model read the webcam live, a bar per class.

The pictures are an ordinary ImageFolder under WORK/captured/<id>/ (datasets/captured.py), one per browser:
the id is a random 32-hex key kept in the browser's localStorage (gr.BrowserState), so a reload finds the same
set and students never see each other's pictures. Training is the classification job (classify/captured.py):
the pretrained backbone frozen, features computed once. The one webcam stream does both jobs: while a capture
burst is armed its frames are saved, and once a model is trained every frame is classified.

API (the hidden textbox `classes-set` is the set id; `/classes_new_set` makes one):
    /classes_new_set -> id · /classes_names (id, "a, b, c") · /classes_add (id, class, files) · /classes_train
    (id, finetune, scratch) -> job ids · /classes_predict (image, id) -> label · /classes_zip (id) -> zip ·
    /classes_delete (id, class, picture) · /classes_clear (id)
"""
from __future__ import annotations

import os
import secrets
from collections import namedtuple
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from vision_demo import settings
from vision_demo.classify import captured as training
from vision_demo.datasets.captured import CapturedSet, Recorder, check_set_id, new_set_id, prune
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry
from vision_demo.ui import classes_web, job_view
from vision_demo.ui.common import (check_job_quota, client_path, gallery_items, image_source, intro,
                                   live_webcam_options, upload_named, user_errors)
from vision_demo.ui.projector import reveal

BURST = 20              # pictures one press of Capture takes (one every Recorder.gap = 0.2 s: ~4 s)
GALLERY_MAX = 48        # newest pictures shown per class
THUMB = 96              # px of a gallery thumbnail
STREAM_EVERY = 0.1      # seconds between webcam frames at most (the next frame waits for the answer anyway)
STREAM_SECONDS = 600    # a stream gives its worker slot back after 10 minutes (press Record again)
STREAM_SLOTS = 40       # students streaming at once
STORAGE_KEY = "vision_demo_classes_set"   # the localStorage entry that holds the browser's set id


# One click starts the camera: the page presses Gradio's own two buttons under the picture ("Click to Access
# Webcam", then "Record") and waits until the stream runs. "Start camera" does only that; Capture does it first
# when the camera is not streaming yet, then arms the burst (so pressing Capture first just works).
START_CAMERA_JS = """async function vdStartCamera() {
  const cam = document.querySelector('#classes-cam');
  if (!cam) return false;
  const seen = e => e.getClientRects().length > 0;
  const button = re => [...cam.querySelectorAll('button')].find(b => seen(b) && re.test(b.innerText || ''));
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const until = async (test, ms) => { for (let t = 0; t < ms; t += 100) { const v = test(); if (v) return v; await sleep(100); } return null; };
  if (button(/^\\s*Stop/)) return true;                       // already streaming
  const access = button(/Click to Access Webcam/) ||
    [...cam.querySelectorAll('*')].find(e => seen(e) && /^\\s*Click to Access Webcam\\s*$/.test(e.innerText || ''));
  if (access) access.click();
  const record = await until(() => button(/^\\s*Record/), 10000);
  if (!record) return false;                                     // no camera (or permission refused)
  record.click();
  return !!(await until(() => button(/^\\s*Stop/), 5000));
}"""
START_JS = f"async () => {{ {START_CAMERA_JS}; await vdStartCamera(); }}"
CAPTURE_JS = f"async (set_id, active) => {{ {START_CAMERA_JS}; await vdStartCamera(); return [set_id, active]; }}"


def browser_secret() -> str:
    """The key gr.BrowserState encrypts the id with, kept in the work folder so the id survives a server
    restart (Gradio would draw a new one at every start, and every student would lose their set)."""
    path = settings.subdir("captured") / ".browser-secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_hex(16)
        path.write_text(secret)
        os.chmod(path, 0o600)
        return secret


def _choices(s: CapturedSet) -> list[tuple[str, str]]:
    return [(f"{name} ({n})", name) for name, n in s.counts().items()]


def set_view(s: CapturedSet, active=None, status=""):
    """What every change of the set redraws: (counts, class picker, the chosen class's name, gallery of its
    pictures (newest first), their file names, status line)."""
    names = s.classes()
    active = active if active in names else names[0]
    pictures = list(reversed(s.pictures(active)))[:GALLERY_MAX]
    items = gallery_items([(p, None) for p in pictures], size=THUMB)
    return (s.counts(), gr.Radio(choices=_choices(s), value=active), active, items, [p.name for p in pictures],
            status)


def progress_and_choices(registry, s: CapturedSet, current=None):
    """This set's newest jobs as the progress table, the finished ones as the live model's choices (the best of
    the newest round chosen when the current choice is gone), and whether any still runs."""
    states = training.jobs_of(registry, s.folder)[-4:]   # the last round or two: this page is a small panel
    choices = job_view.finished_choices(states)
    ids = [c[1] for c in choices]
    value = current if current in ids else training.best_job(states)
    html = job_view.progress_html(states, narrow=True) if states else (
        "<p class='vd-empty'>Capture a few pictures of every class, then press Train.</p>")
    return html, gr.Dropdown(choices=choices, value=value), not job_view.all_done(states)


Handlers = namedtuple("Handlers", "new_set open_set set_names add_uploads arm on_frame predict_image train refresh "
                                  "pick delete_picture clear_class clear_set zip_set use_in_train")


def make_handlers(registry: JobRegistry, recorder: Recorder | None = None):
    """The tab's callbacks bound to one registry (tests call them without a server)."""
    recorder = recorder or Recorder()

    def new_set() -> str:
        """A fresh set id for a script (a browser gets one by itself and keeps it)."""
        prune()
        return new_set_id()

    def open_set(stored):
        """Page load: the browser's set (a new one when it has none), its classes, pictures and jobs."""
        try:
            set_id = check_set_id(stored)
        except VisionDemoError:
            set_id = new_set()
        s = CapturedSet.for_id(set_id)
        s.touch()
        html, model, running = progress_and_choices(registry, s)
        ids = [st.id for st in training.jobs_of(registry, s.folder)]
        return (set_id, set_id, ", ".join(s.classes()), *set_view(s), html, model, ids, gr.Timer(active=running))

    @user_errors
    def set_names(set_id, text, active):
        """Name the classes ('a, b, c'); a renamed class keeps its pictures."""
        s = CapturedSet.for_id(set_id)
        names = s.set_classes(text)
        return (", ".join(names), *set_view(s, active, f"Classes: {', '.join(names)}."))

    @user_errors
    def add_uploads(set_id, active, files):
        """Uploaded pictures join the chosen class (downscaled copies; what is not an image is listed)."""
        s = CapturedSet.for_id(set_id)
        if not active:
            raise VisionDemoError("pick the class the pictures show first")
        added, refused = s.add_files(active, [getattr(f, "name", f) for f in files or []])
        status = f"Added {added} picture{'s' * (added != 1)} to **{active}**."
        if refused:
            status += " Not added: " + "; ".join(refused[:5])
        return set_view(s, active, status)

    @user_errors
    def arm(set_id, active):
        """The Capture button: the next BURST webcam frames (one every 0.2 s) are saved into the chosen class."""
        s = CapturedSet.for_id(set_id)
        if active not in s.classes():
            raise VisionDemoError("pick the class to capture into first")
        left = settings.CAPTURED_MAX_PER_CLASS - len(s.pictures(active))
        if left <= 0:
            raise VisionDemoError(f"{active!r} has {settings.CAPTURED_MAX_PER_CLASS} pictures, the most a class may "
                                  "have: delete some first")
        n = min(BURST, left)
        recorder.arm(set_id, active, n)
        status = f"● Capturing {n} pictures into **{active}**: move a little while it runs."
        if not recorder.streaming(set_id):   # the page started the camera first: its first frames are on the way
            status = (f"● Capturing {n} pictures into **{active}** as soon as the camera's pictures arrive "
                      "(if nothing comes: allow the camera in the browser, or press **Start camera**).")
        return status

    def on_frame(frame, set_id, model_job):
        """One webcam frame: saved when a capture burst is due; classified when a model is chosen. Never raises
        (an error would end the stream): problems become the status line."""
        out = dict(live=gr.skip(), status=gr.skip(), active=gr.skip(), gallery=gr.skip(), shown=gr.skip(),
                   counts=gr.skip())
        try:
            s = CapturedSet.for_id(set_id)
        except VisionDemoError:
            return tuple(out.values())
        if frame is None:
            return tuple(out.values())
        took = recorder.take(s.id)
        if took is not None:
            name, left = took
            try:
                s.add(name, frame)
                n = len(s.pictures(name))
                out["status"] = (f"● **{name}**: {n} pictures, {left} more to take…" if left else
                                 f"✔ **{name}**: {n} pictures. Capture more, or pick another class.")
            except VisionDemoError as err:
                recorder.stop(s.id)
                left, out["status"] = 0, f"Capture stopped: {err}"
            if not left:   # the burst is over: redraw the counts and the gallery once
                counts, active, _, gallery, shown, _ = set_view(s, name)
                out.update(counts=counts, active=active, gallery=gallery, shown=shown)
        if model_job:
            try:
                out["live"] = _classify(s, model_job, frame)
            except VisionDemoError as err:
                out["live"], out["status"] = None, f"Live prediction stopped: {err}"
        return (out["live"], out["status"], out["counts"], out["active"], out["gallery"], out["shown"])

    def _classify(s: CapturedSet, job_id, image) -> dict[str, float]:
        from vision_demo.classify.predict import cached_classifier

        try:
            state = registry.get(job_id)
        except KeyError:
            raise VisionDemoError(f"no job {job_id!r}: train first") from None
        if state.kind != training.KIND or str(state.config.get("data")) != str(s.folder):
            raise VisionDemoError("that model was not trained on your classes: pick one of yours")
        if state.status != "finished":
            raise VisionDemoError(f"{state.name} is {state.status}: wait for it to finish")
        classifier = cached_classifier(state.out_dir)
        return dict(classifier.predict(image, k=len(classifier.classes)))

    @user_errors
    def predict_image(image, set_id, job_id=None):
        """One picture -> a probability per class, from the set's chosen (default: best) finished model."""
        s = CapturedSet.for_id(set_id)
        job_id = job_id or training.best_job(training.jobs_of(registry, s.folder))
        if not job_id:
            raise VisionDemoError("no trained model for your classes yet: press Train first")
        source = image_source(image)
        with upload_named(image):
            return _classify(s, job_id, source)

    @user_errors
    def train(set_id, finetune, scratch, job_ids, request: gr.Request = None):
        """One click: the frozen backbone (and, if ticked, fine-tuning and a small CNN from scratch) on the set."""
        s = CapturedSet.for_id(set_id)
        recorder.stop(s.id)   # no pictures land in the set while it is being read
        owner = check_job_quota(registry, request, adding=1 + bool(finetune) + bool(scratch))
        ids = training.submit_captured(registry, s.folder, finetune=bool(finetune), scratch=bool(scratch),
                                       owner=owner)
        return (job_ids or []) + ids, ids

    def refresh(set_id, current):
        try:
            s = CapturedSet.for_id(set_id)
        except VisionDemoError:
            return gr.skip(), gr.skip(), gr.Timer(active=False)
        html, model, running = progress_and_choices(registry, s, current)
        return html, model, gr.Timer(active=running)

    def pick(shown, evt: gr.SelectData):
        """A click on a thumbnail chooses it for Delete."""
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        return (shown or [""])[index] if 0 <= index < len(shown or []) else ""

    @user_errors
    def delete_picture(set_id, active, picture):
        s = CapturedSet.for_id(set_id)
        if not picture:
            raise VisionDemoError("click a picture first, then Delete")
        gone = s.delete(active, picture)
        return set_view(s, active, "Deleted one picture." if gone else "That picture was already gone.")

    @user_errors
    def clear_class(set_id, active):
        s = CapturedSet.for_id(set_id)
        n = s.clear_class(active)
        return set_view(s, active, f"Deleted all {n} pictures of **{active}**.")

    @user_errors
    def clear_set(set_id):
        """Delete the whole set: pictures and class names (the trained jobs stay until the server's owner removes them)."""
        s = CapturedSet.for_id(set_id)
        recorder.stop(s.id)
        s.clear()
        return (", ".join(s.classes()), *set_view(s, None, "Your set is deleted: every picture is gone."))

    @user_errors
    def zip_set(set_id):
        """The set as a zip of class folders (what the Data tab, `train --data` and Teachable-Machine-like tools take)."""
        s = CapturedSet.for_id(set_id)
        if not any(s.counts().values()):
            raise VisionDemoError("nothing to download yet: capture or upload some pictures first")
        target = Path(get_upload_folder()) / "classes-zips" / f"{s.id}.zip"   # Gradio serves its own folder
        return str(s.zip_to(target))

    @user_errors
    def use_in_train(set_id, request: gr.Request = None):
        """The set's folder for the Train & compare tab (a `work:` handle for a visitor, never a server path)."""
        s = CapturedSet.for_id(set_id)
        training.check_trainable(s.folder)
        return client_path(s.folder, request)

    return Handlers(new_set, open_set, set_names, add_uploads, arm, on_frame, predict_image, train, refresh, pick,
                    delete_picture, clear_class, clear_set, zip_set, use_in_train)


ClassesTab = namedtuple("ClassesTab", "store set_box use_button use_in_train")


def build(demo: gr.Blocks, registry: JobRegistry):
    """Lay out the tab in three columns that fit 1280×720: the webcam with the live bars, the classes with their
    pictures, training. Returns the browser's id store (app.py renders it outside the tabs), the hidden set-id
    box, the "Use in Train & compare" button and its handler (app.py wires them to the Train tab's data box)."""
    h = make_handlers(registry)
    intro("**Your classes.** Teach a model your own classes in a minute: name them, capture pictures of each from "
          "the webcam, press Train — only a new head on top of an ImageNet backbone learns — then watch it read "
          "the webcam live. Your pictures stay yours: nobody else's browser sees them.")
    # Rendered by app.py outside the tabs: a tab's components mount only when it is first opened, and the
    # browser must read localStorage before the page's load event asks for the id (else every reload is a new set).
    store = gr.BrowserState("", storage_key=STORAGE_KEY, secret=browser_secret(), render=False)
    set_box = gr.Textbox(visible=False, elem_id="classes-set")   # the set id: what every event (and the API) names
    shown, job_ids = gr.State([]), gr.State([])
    selected = gr.Textbox(visible=False, elem_id="classes-selected")   # the clicked thumbnail's file name
    # The class to capture into, as text: the radio shows it, but a radio refuses a value outside the choices
    # it was last sent, and a script names its class directly.
    active_name = gr.Textbox(visible=False, elem_id="classes-active-name")
    counts = gr.JSON(visible=False)   # {class: pictures}: what scripts read back
    started = gr.JSON(visible=False)
    # In this browser (the default): capture, train and the live bars with no server job (classes_web.py).
    web = classes_web.build()
    gr.Markdown("**On the server**: your set there (pictures you upload or send), fine-tuning, a CNN from scratch, "
                "the other tabs.", elem_classes=["vd-note"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            # 640x480 asked of the camera (pictures are kept at 256 px anyway), mirrored: left stays left.
            webcam = gr.Image(sources=["webcam"], streaming=True, label="Webcam", height=250,
                              elem_id="classes-cam", webcam_options=live_webcam_options())
            cam_btn = gr.Button("▶ Start camera", size="sm", elem_id="classes-cam-start")
            live = gr.Label(label="Live prediction (after training)", num_top_classes=6, elem_id="classes-live")
        with gr.Column(scale=5, min_width=380):
            with gr.Row(equal_height=True):
                names = gr.Textbox(", ".join(("thumbs up", "thumbs down", "nothing")), elem_id="classes-names",
                                   label="Classes (2–6, commas; Enter to apply)", scale=3)
            active = gr.Radio([], label="Capture into", elem_id="classes-active")
            with gr.Row(equal_height=True):
                capture_btn = gr.Button(f"● Capture {BURST}", variant="primary", elem_id="classes-capture",
                                        scale=2)
                upload_btn = gr.UploadButton("Upload…", file_count="multiple", file_types=["image"],
                                             elem_id="classes-upload", scale=1, min_width=140)
            status = gr.Markdown(elem_id="classes-status")
            gallery = gr.Gallery(label="Pictures of this class (newest first; click one to delete it)", columns=8,
                                 height=130, allow_preview=False, object_fit="cover", elem_id="classes-gallery")
            with gr.Row(equal_height=True):
                delete_btn = gr.Button("Delete the clicked one", size="sm", elem_id="classes-delete")
                clear_class_btn = gr.Button("Delete all of this class", size="sm", variant="stop")
        with gr.Column(scale=5, min_width=380):
            with gr.Row(equal_height=True):
                finetune = gr.Checkbox(False, label="also fine-tune", elem_id="classes-finetune", min_width=120)
                scratch = gr.Checkbox(False, label="also a small CNN from scratch", elem_id="classes-scratch",
                                      min_width=160)
            train_btn = gr.Button("Train on my classes", variant="primary", elem_id="classes-train")
            progress = gr.HTML(elem_id="classes-progress")
            model = gr.Dropdown([], label="Predict live with", elem_id="classes-model", allow_custom_value=True)
            with gr.Accordion("Your set: use it on other tabs, download it, delete it", open=False):
                use_btn = gr.Button("Use in Train & compare", size="sm", elem_id="classes-use")
                gr.Markdown("Jobs on *Train & compare* are seen by everyone on this server, with their test pictures.",
                            elem_classes=["vd-note"])
                with gr.Row(equal_height=True):
                    zip_btn = gr.Button("Zip my pictures", size="sm", elem_id="classes-zip-btn")
                    clear_btn = gr.Button("Delete my whole set", size="sm", variant="stop", elem_id="classes-clear")
                zip_file = gr.File(label="Download", elem_id="classes-zip", height=70)
    api_image = gr.Image(visible=False, type="filepath")   # /classes_predict's input (the page uses the webcam)
    api_predict = gr.Button(visible=False)
    timer = gr.Timer(1.0, active=False)

    set_outputs = [counts, active, active_name, gallery, shown, status]
    demo.load(h.open_set, store, [store, set_box, names, *set_outputs, progress, model, job_ids, timer],
              api_visibility="private", concurrency_limit=None)
    gr.api(h.new_set, api_name="classes_new_set")
    names.submit(h.set_names, [set_box, names, active_name], [names, *set_outputs], api_name="classes_names")
    upload_btn.upload(h.add_uploads, [set_box, active_name, upload_btn], set_outputs, api_name="classes_add")
    # The picker itself, not its echo in active_name: a click on a class then at once on Capture must capture into
    # that class, before the server's answer to the click has come back.
    capture_btn.click(h.arm, [set_box, active], status, api_visibility="private", concurrency_limit=None,
                      js=CAPTURE_JS)
    cam_btn.click(None, None, None, js=START_JS, api_visibility="private", queue=False)
    active.input(user_errors(lambda s, a: set_view(CapturedSet.for_id(s), a)), [set_box, active], set_outputs,
                 api_visibility="private")
    webcam.stream(h.on_frame, [webcam, set_box, model], [live, status, counts, active, gallery, shown],
                  stream_every=STREAM_EVERY,
                  time_limit=STREAM_SECONDS, concurrency_limit=STREAM_SLOTS, concurrency_id="classes-stream",
                  show_progress="hidden", api_visibility="private")
    api_predict.click(h.predict_image, [api_image, set_box, model], live, api_name="classes_predict",
                      preprocess=False, concurrency_limit=4)
    classes_web.wire(web, set_box, set_outputs, set_view)
    gallery.select(h.pick, shown, selected, api_visibility="private")
    delete_btn.click(h.delete_picture, [set_box, active_name, selected], set_outputs, api_name="classes_delete")
    clear_class_btn.click(h.clear_class, [set_box, active_name], set_outputs, api_visibility="private")
    clear_btn.click(h.clear_set, set_box, [names, *set_outputs], api_name="classes_clear")
    zip_btn.click(h.zip_set, set_box, zip_file, api_name="classes_zip")
    train_btn.click(h.train, [set_box, finetune, scratch, job_ids], [job_ids, started], api_name="classes_train",
                    concurrency_limit=None).success(lambda: gr.Timer(active=True), None, timer,
                                                    api_visibility="private")
    reveal(train_btn, "classes-progress")
    timer.tick(h.refresh, [set_box, model], [progress, model, timer], concurrency_limit=None, show_progress="hidden",
               api_visibility="private")
    return ClassesTab(store, set_box, use_btn, h.use_in_train)
