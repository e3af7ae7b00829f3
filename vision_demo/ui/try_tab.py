"""Tab 4, Try a model: a photo or a webcam snapshot -> the top classes of any finished classification job.

The image goes through the same resize and normalization as the job's test images (classify.predict);
the checkpoint is loaded with weights_only=True, once per job (classify.predict.cached_classifier).
"""
from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import gradio as gr

from vision_demo.classify.predict import cached_classifier
from vision_demo.jobs import JobRegistry
from vision_demo.ui import job_view
from vision_demo.ui.common import image_source, intro, upload_named, user_errors
from vision_demo.images import example_photos
from vision_demo.ui.projector import reveal

TryHandlers = namedtuple("TryHandlers", "predict list_jobs explain")

SURE = 0.8  # below this top probability the answer is flagged: probably none of the classes the model knows


def make_handlers(registry: JobRegistry):
    """The tab's callbacks bound to one registry, by name (tests call them without a server)."""
    @user_errors
    def predict(image, job_id, k=5):
        """Top-k classes with probabilities for one image, from a finished classification job."""
        source = image_source(image)
        if not job_id:
            raise gr.Error("Pick a finished job first (train one on the Train & compare tab).")
        try:
            state = registry.get(job_id)
        except KeyError:
            raise gr.Error(f"No job {job_id!r}: pick one from the list.") from None
        if state.kind != "classify" or state.status != "finished":
            raise gr.Error(f"{state.name} is {state.status}: pick a finished classification job.")
        classifier = cached_classifier(state.out_dir)
        with upload_named(image):
            return dict(classifier.predict(source, k=int(k)))

    def list_jobs(current):
        choices = job_view.finished_choices(registry.snapshot(kind="classify"))
        ids = [c[1] for c in choices]
        return gr.Dropdown(choices=choices, value=current if current in ids else (ids[0] if ids else None))

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

    return TryHandlers(predict, list_jobs, explain)


def build(demo: gr.Blocks, registry: JobRegistry):
    predict, list_jobs, explain = make_handlers(registry)
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
                             elem_id="try-image", height=300,
                             webcam_options=gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640}}}))
            examples = example_photos()
            if examples:  # photos of no scene class at all: the surprise this tab is for
                gr.Examples([[p] for p in examples], inputs=[image], label="Examples (none of them is a scene)",
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
    refresh_btn.click(list_jobs, job, job, api_visibility="private")
    demo.load(list_jobs, job, job, api_visibility="private")
    return job, list_jobs
