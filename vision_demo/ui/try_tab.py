"""Tab 4, Try a model: a photo or a webcam snapshot -> the top classes of any finished classification job,
and "Where does it look?": the Grad-CAM maps of two jobs side by side on the same picture.

The image goes through the same resize and normalization as the job's test images (classify.predict);
the checkpoint is loaded with weights_only=True, once per job (classify.predict.cached_classifier).
The maps come from classify.gradcam; here they are only laid out.
"""
from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import gradio as gr

from vision_demo.classify.catalog import STRATEGIES, is_pretrained_strategy
from vision_demo.classify.gradcam import PREDICTED
from vision_demo.classify.predict import cached_classifier
from vision_demo.jobs import JobRegistry
from vision_demo.ui import job_view
from vision_demo.ui.common import gallery_items, image_source, intro, upload_named, user_errors
from vision_demo.images import example_photos
from vision_demo.ui.projector import reveal

TryHandlers = namedtuple("TryHandlers", "predict list_jobs explain gradcam pair_choices test_images pick_test_image")

SURE = 0.8  # below this top probability the answer is flagged: probably none of the classes the model knows


def make_handlers(registry: JobRegistry):
    """The tab's callbacks bound to one registry, by name (tests call them without a server)."""
    @user_errors
    def predict(image, job_id, k=5):
        """Top-k classes with probabilities for one image, from a finished classification job."""
        source = image_source(image)
        if not job_id:
            raise gr.Error("Pick a finished job first (train one on the Train & compare tab).")
        classifier = cached_classifier(finished(job_id).out_dir)
        with upload_named(image):
            return dict(classifier.predict(source, k=int(k)))

    def finished(job_id):
        """The job's state; gr.Error unless it is a finished classification job of this registry."""
        try:
            state = registry.get(job_id)
        except KeyError:
            raise gr.Error(f"No job {job_id!r}: pick one from the list.") from None
        if state.kind != "classify" or state.status != "finished":
            raise gr.Error(f"{state.name} is {state.status}: pick a finished classification job.")
        return state

    def list_jobs(current, current_a=None, current_b=None):
        """The tab's three job pickers: Predict's, and Grad-CAM's A (a scratch job) and B (a pretrained one)."""
        states = registry.snapshot(kind="classify")
        choices = job_view.finished_choices(states)
        ids = [c[1] for c in choices]
        a, b = _default_pair(states, ids)
        return (gr.Dropdown(choices=choices, value=current if current in ids else (ids[0] if ids else None)),
                gr.Dropdown(choices=choices, value=current_a if current_a in ids else a),
                gr.Dropdown(choices=choices, value=current_b if current_b in ids else b))

    @user_errors
    def gradcam(image, job_a, job_b, class_name=PREDICTED):
        """Where does it look: the Grad-CAM overlay of jobs A and B on one image, for the class each predicts
        (or `class_name`), each with a caption (its answer and how to read the colours)."""
        source = image_source(image)
        if not job_a and not job_b:
            raise gr.Error("Pick two finished jobs (A: from scratch, B: pretrained) to compare where they look.")
        out = []
        with upload_named(image):
            for job_id in (job_a, job_b):
                out += _one_map(source, finished(job_id), class_name) if job_id else [None, "Pick a job here too."]
        return tuple(out)

    def pair_choices(job_a, job_b, class_name):
        """The class picker for A and B: "predicted", then every class either knows (keeping the pick)."""
        classes = []
        for job_id in (job_a, job_b):
            try:
                classes += [c for c in (registry.get(job_id).result or {}).get("classes") or [] if c not in classes]
            except KeyError:
                continue
        choices = [PREDICTED] + classes
        return gr.Dropdown(choices=choices, value=class_name if class_name in choices else PREDICTED)

    def test_images(job_id):
        """Thumbnails of the job's own test pictures, right and wrong ones, each captioned with its true class and
        ✔ or ✗ (the wrong answer): pictures like its training set, where the model has a fair chance."""
        try:
            rows = _test_rows(registry.get(job_id)) if job_id else []
        except KeyError:
            rows = []
        return gallery_items([(r["path"], _verdict(r)) for r in rows], size=96)

    @user_errors
    def pick_test_image(job_id, evt: gr.SelectData):
        """A clicked test image becomes the tab's image (decoded here: the path never comes from the browser)."""
        from vision_demo.images import load_rgb

        rows = _test_rows(finished(job_id))
        if not isinstance(evt.index, int) or not 0 <= evt.index < len(rows):
            raise gr.Error("That test image is gone: pick another one.")
        return load_rgb(rows[evt.index]["path"])

    def explain(confidences, job_id):
        """What the model knows and what its answer means: it must pick one of its classes, even for a bus."""
        try:
            state = registry.get(job_id) if job_id else None
        except KeyError:
            state = None
        classes = list(((state.result or {}).get("classes") or []) if state else [])
        if not classes:
            return "Pick a finished job: it says here which classes it knows."
        known = (f"**This model knows {len(classes)} classes only:** {', '.join(classes)}. Whatever the picture, "
                 "it must answer one of them: softmax shares out 100 % among these classes, and "
                 "\"none of these\" is not one of them.")
        if not (isinstance(confidences, dict) and confidences):
            return known
        best, p = max(confidences.items(), key=lambda kv: kv[1])
        if p < SURE:  # the surprise first: it is what the class is looking at
            verdict = (f"⚠ **Only {100 * p:.0f} % sure of {best}.** A low top score often means the picture shows "
                       f"none of the {len(classes)} classes (it is *out of distribution*: a bus, a person); the "
                       "model still has to pick the nearest one.")
        else:
            verdict = (f"**{100 * p:.0f} % {best}.** Sure is not the same as right: on a picture unlike its training "
                       "images a model can be sure and wrong.")
        return f"{verdict}\n\n{known}"

    return TryHandlers(predict, list_jobs, explain, gradcam, pair_choices, test_images, pick_test_image)


TEST_IMAGES = 8   # test pictures offered as examples (at most half of them mistakes): two rows of four


def _test_rows(state) -> list[dict]:
    """The job's saved test predictions whose files are still there, a mistake and a right answer in turn (a
    mistake first), at most TEST_IMAGES: the same list for the gallery and for picking from it (a click's index
    is a row of this list)."""
    rows = list((state.result or {}).get("test_predictions") or (state.result or {}).get("predictions") or [])
    rows = [r for r in rows if Path(r["path"]).is_file()]   # an upload's extraction may have been cleared since
    wrong = [r for r in rows if r.get("pred") != r.get("true")]
    right = [r for r in rows if r.get("pred") == r.get("true")]
    mixed = [r for pair in zip(wrong, right) for r in pair]
    rest = wrong[len(mixed) // 2:] + right[len(mixed) // 2:]   # what one side has more of, after the pairs
    return (mixed + rest)[:TEST_IMAGES]


def _verdict(row: dict) -> str:
    """A test picture's caption: its true class, ✔ when the model got it right at test time, ✗ when not (what it
    said instead is Predict's answer, one click away: a thumbnail has room for one word)."""
    return f"{row['true']} {'✔' if row.get('pred') == row.get('true') else '✗'}"


def _default_pair(states, ids: list[str]) -> tuple[str | None, str | None]:
    """(A, B) for Grad-CAM: the newest finished scratch job and the newest pretrained one (frozen or fine-tuned),
    else the two newest."""
    strategy = {s.id: (s.result or {}).get("strategy") or s.config.get("strategy") for s in states}
    scratch = [i for i in ids if strategy.get(i) in STRATEGIES and not is_pretrained_strategy(strategy.get(i))]
    pretrained = [i for i in ids if is_pretrained_strategy(strategy.get(i))]
    a = scratch[0] if scratch else (ids[1] if len(ids) > 1 else (ids[0] if ids else None))
    b = pretrained[0] if pretrained else next((i for i in ids if i != a), None)
    return a, b


def _one_map(source, state, class_name) -> list:
    """[overlay, caption] of one job; a class this model does not know is said in its caption, not an error."""
    from vision_demo.classify.gradcam import class_index, gradcam
    from vision_demo.errors import VisionDemoError

    classifier = cached_classifier(state.out_dir)
    try:
        class_index(classifier, class_name)
    except VisionDemoError as err:   # two jobs on different data: A knows the class, B does not
        return [None, f"**{state.name}**: {err}"]
    cam = gradcam(classifier, source, class_name)
    caption = (f"**{state.name}** says **{cam.predicted}** ({100 * cam.probability:.0f} %). {cam.legend} "
               f"({cam.grid[0]}×{cam.grid[1]} cells" + (f", computed at {cam.map_px} px" if cam.map_px != cam.model_px
                                                     else "") + ")")
    return [cam.overlay, caption]


def build(demo: gr.Blocks, registry: JobRegistry):
    """The tab. Returns (its job pickers: Predict's, Grad-CAM's A and B; the function that refreshes all three),
    for the app to refresh them when the tab is opened."""
    handlers = make_handlers(registry)
    predict, list_jobs, explain = handlers.predict, handlers.list_jobs, handlers.explain
    intro("**Try a model.** A model that scored well on the test set meets your own photos: does it still know "
          "a forest from a street? And what does it say to a bus? Pick a finished job, then upload a picture, "
          "take one with the webcam, or click an example.")
    with gr.Row(equal_height=True):
        job = gr.Dropdown([], label="Finished classification job (newest first)", allow_custom_value=True, scale=4,
                          elem_id="try-job")
        refresh_btn = gr.Button("Refresh list", scale=1, size="sm")
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(label="Your image", sources=["upload", "webcam", "clipboard"], type="filepath",
                             elem_id="try-image", height=260,
                             webcam_options=gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640}}}))
            # First the job's own test pictures (like its training set: a fair test, right and wrong), then
            # photos of no scene class at all (out of distribution: the surprise).
            tests = gr.Gallery(label="Its own test pictures (✔ right, ✗ wrong): click one", columns=4, height=330,
                               object_fit="cover", elem_id="try-tests", elem_classes=["vd-captions"],
                               allow_preview=False)
            examples = example_photos()
            if examples:
                gr.Examples([[p] for p in examples], inputs=[image],
                            label="Photos of no scene at all (out of distribution): it must still answer a class",
                            example_labels=[Path(p).name for p in examples])
        with gr.Column(scale=1):
            with gr.Row(equal_height=True):
                k = gr.Slider(1, 6, value=3, step=1, label="Top k", scale=2)
                predict_btn = gr.Button("Predict", variant="primary", scale=1, elem_id="try-btn")
            label = gr.Label(label="Prediction", elem_id="try-label")
            note = gr.Markdown("Pick a finished job: it says here which classes it knows.", elem_id="try-note",
                               elem_classes=["vd-note"])
    predict_btn.click(predict, [image, job, k], label, api_name="predict", preprocess=False, concurrency_limit=4
                      ).then(explain, [label, job], note, api_visibility="private")
    reveal(predict_btn, "try-label")
    image.change(lambda i, j, n: predict(i, j, n) if i and j else None, [image, job, k], label, preprocess=False,
                 api_visibility="private", concurrency_limit=4).then(explain, [label, job], note,
                                                                     api_visibility="private")
    job.change(lambda j: explain(None, j), job, note, api_visibility="private")
    job.change(handlers.test_images, job, tests, api_visibility="private")
    tests.select(handlers.pick_test_image, job, image, api_visibility="private")
    pickers = [job, *_build_gradcam(handlers, image)]
    refresh_btn.click(list_jobs, pickers, pickers, api_visibility="private")
    demo.load(list_jobs, pickers, pickers, api_visibility="private")
    return pickers, list_jobs


def _build_gradcam(handlers: TryHandlers, image: gr.Image) -> tuple[gr.Dropdown, gr.Dropdown]:
    """"Where does it look?": two jobs' Grad-CAM maps side by side on the tab's image; returns the two pickers."""
    gr.Markdown("**Where does it look?** The same picture under two models: the heat map (Grad-CAM) shows which "
                "pixels raised the score of a class. Does the model from scratch look at the trees, or at a colour in "
                "a corner?", elem_id="gradcam-section", elem_classes=["vd-intro"])
    with gr.Row(equal_height=True):   # wide pickers: the lesson's job names are long
        job_a = gr.Dropdown([], label="A (e.g. from scratch)", allow_custom_value=True, scale=5, elem_id="gradcam-a-job")
        job_b = gr.Dropdown([], label="B (e.g. pretrained)", allow_custom_value=True, scale=5, elem_id="gradcam-b-job")
        class_name = gr.Dropdown([PREDICTED], value=PREDICTED, label="Map for class", scale=2, elem_id="gradcam-class")
    with gr.Row(elem_id="gradcam-result"):
        outputs = []
        for side in ("a", "b"):
            with gr.Column(scale=1, min_width=300):
                outputs.append(gr.Image(label=f"{side.upper()}: where it looks", type="pil", height=240,
                                        format="png",   # lossless: webp would blur a heat map's colours
                                        interactive=False, elem_id=f"gradcam-{side}", buttons=["download"]))
                # min_height: the captions' room is kept before they arrive, so the reveal scroll shows them too
                outputs.append(gr.Markdown(f"{side.upper()}'s answer, and how to read its colours.", min_height=100,
                                           elem_id=f"gradcam-{side}-note", elem_classes=["vd-note"]))
        with gr.Column(scale=1, min_width=300):
            button = gr.Button("Where does it look?", variant="primary", elem_id="gradcam-btn")
            tests = gr.Gallery(label="A's test pictures (✔ right, ✗ wrong): click one", columns=3, height=230,
                               object_fit="cover", elem_id="gradcam-tests", elem_classes=["vd-captions"],
                               allow_preview=False)
    button.click(handlers.gradcam, [image, job_a, job_b, class_name], outputs, api_name="gradcam", preprocess=False,
                 concurrency_limit=2)
    reveal(button, "gradcam-result", whole=True)   # both maps and their captions on screen
    gr.on([job_a.change, job_b.change], handlers.pair_choices, [job_a, job_b, class_name], class_name,
          api_visibility="private")
    job_a.change(handlers.test_images, job_a, tests, api_visibility="private")
    tests.select(handlers.pick_test_image, job_a, image, api_visibility="private")
    return job_a, job_b
