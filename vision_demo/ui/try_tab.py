"""Tab 3, Try a model: a photo or a webcam snapshot -> the top classes of any finished classification job.

The image goes through the same resize and normalization as the job's test images (classify.predict);
the checkpoint is loaded with weights_only=True, once per job (a small cache).
"""
from __future__ import annotations

import threading
from collections import OrderedDict, namedtuple

import gradio as gr

from vision_demo.jobs import JobRegistry
from vision_demo.ui import job_view
from vision_demo.ui.common import image_source, intro, upload_named, user_errors

_CACHE_SIZE = 4  # classifiers kept in memory (a ResNet-18 is ~45 MB)


class ClassifierCache:
    """The last few loaded classifiers by job folder; loading one builds the model and reads its weights."""

    def __init__(self, size: int = _CACHE_SIZE):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, job_dir: str):
        from vision_demo.classify.predict import load_classifier

        with self._lock:
            if job_dir in self._items:
                self._items.move_to_end(job_dir)
                return self._items[job_dir]
        clf = load_classifier(job_dir)
        with self._lock:
            self._items[job_dir] = clf
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return clf


TryHandlers = namedtuple("TryHandlers", "predict list_jobs")


def make_handlers(registry: JobRegistry):
    """The tab's callbacks bound to one registry, by name (tests call them without a server)."""
    cache = ClassifierCache()

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
        classifier = cache.get(state.out_dir)
        with upload_named(image):
            return dict(classifier.predict(source, k=int(k)))

    def list_jobs(current):
        choices = job_view.finished_choices(registry.snapshot(kind="classify"))
        ids = [c[1] for c in choices]
        return gr.Dropdown(choices=choices, value=current if current in ids else (ids[0] if ids else None))

    return TryHandlers(predict, list_jobs)


def build(demo: gr.Blocks, registry: JobRegistry):
    predict, list_jobs = make_handlers(registry)
    intro("**Try a model.** A model that scored well on the test set meets your own photos: does it still know "
          "a forest from a street?\nPick any finished job, then upload a picture or take one with the webcam.")
    with gr.Row():
        job = gr.Dropdown([], label="Finished classification job", allow_custom_value=True, scale=4,
                          elem_id="try-job")
        refresh_btn = gr.Button("Refresh list", scale=1)
    with gr.Row():
        image = gr.Image(label="Your image", sources=["upload", "webcam", "clipboard"], type="filepath",
                         elem_id="try-image",
                         webcam_options=gr.WebcamOptions(constraints={"video": {"width": {"ideal": 640}}}))
        with gr.Column():
            k = gr.Slider(1, 6, value=3, step=1, label="Top k")
            label = gr.Label(label="Prediction", elem_id="try-label")
            predict_btn = gr.Button("Predict", variant="primary")
    predict_btn.click(predict, [image, job, k], label, api_name="predict", preprocess=False, concurrency_limit=4)
    image.change(lambda i, j, n: predict(i, j, n) if i and j else None, [image, job, k], label, preprocess=False,
                 api_visibility="private", concurrency_limit=4)
    refresh_btn.click(list_jobs, job, job, api_visibility="private")
    demo.load(list_jobs, job, job, api_visibility="private")
    return job, list_jobs
