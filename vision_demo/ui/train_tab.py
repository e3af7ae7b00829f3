"""Tab 3, Train & compare: the transfer-learning lesson as background jobs with live curves.

Handlers only submit jobs (classify.train.submit / submit_compare) and return at once; a
gr.Timer(1) reads registry snapshots and redraws (job_view). Jobs live on the server: a reload
or a restart shows them again ("Show every job on this server" is on by default).
"""
from __future__ import annotations

from collections import namedtuple

import gradio as gr

from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry
from vision_demo.ui import download_view, job_view
from vision_demo.ui.common import (check_job_quota, check_server_folder, data_box, gallery_items, intro, scrub,
                                   user_errors)
from vision_demo.ui.projector import reveal

# The names come from the catalog (no torch import: the page builds before torch is loaded).
from vision_demo.classify.catalog import EXERCISES, MODELS, STRATEGIES, STRATEGY_INFO  # noqa: E402
from vision_demo.classify.catalog import PICKER_LABELS as MODEL_LABELS  # noqa: E402
from vision_demo.classify.pretrained import default_backbone  # noqa: E402


def _number(value, what: str, kind=int):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise VisionDemoError(f"{what} {value!r} is not a number: type e.g. 32") from None


def _per_class(value) -> int | None:
    """The "Images per class" control: "all" (or empty) -> None, else a whole number of images, 1 or more."""
    if value is None or str(value).strip().lower() in ("", "all"):
        return None
    n = _number(str(value).strip(), "images per class")
    if n < 1:
        raise VisionDemoError(f"Images per class must be 'all' or a number of images such as 100, not {value!r}")
    return n


def _config(data, model, strategy, epochs, img_size, batch_size, lr, normalize, per_class=None):
    from vision_demo.classify.train import TrainConfig

    return TrainConfig(data=(data or "scenes").strip(), model=model, strategy=strategy,
                       epochs=_number(epochs, "epochs"), img_size=_number(img_size, "image size"),
                       batch_size=_number(batch_size, "batch size"),
                       lr=_number(lr, "learning rate", float) if lr else None, normalize=bool(normalize),
                       per_class=_per_class(per_class))


def estimate_text(estimate, epochs: int, per_class: int | None, budget: float, running: int = 0):
    """(markdown, N to offer or None): what "Compare all four" takes here, and the images per class that fit
    `budget`; ("", None) when it fits (no nagging)."""
    from vision_demo.ui.job_view import duration_text

    seconds = estimate.seconds(epochs, per_class)
    if seconds <= budget:
        return "", None
    what = f"with {per_class} images per class" if per_class else f"on all {estimate.train_images:,} training images"
    load = f"; {running} job{'s' * (running != 1)} running meanwhile, alone it is faster" if running else ""
    text = (f"**Compare all four {what}: about {duration_text(seconds)} on this machine** (measured from "
            f"{estimate.batches_measured} batches at {estimate.img_size} px{load}).")
    try:
        fit = estimate.per_class_for(budget, epochs)
    except VisionDemoError as err:
        return f"{text} {err}.", None
    text += (f" With **{fit} images per class**: about {duration_text(estimate.seconds(epochs, fit))} "
             f"(budget {duration_text(budget)}).")
    return text, fit


def backbone_choices() -> list[tuple[str, str]]:
    """The pretrained backbones, each saying whether its ImageNet weights can be had now (no torch import)."""
    from vision_demo.classify.catalog import CATALOG, PRETRAINED_MODELS
    from vision_demo.classify.pretrained import check_pretrained_available
    from vision_demo.errors import VisionDemoError

    choices = []
    for name in PRETRAINED_MODELS:
        try:
            where = {"cache": "weights cached", "downloaded": "weights downloaded on first use",
                     "bundled": "weights bundled"}.get(check_pretrained_available(name), "")
        except VisionDemoError:
            where = "weights need --online or the offline pack"
        choices.append((f"{CATALOG[name].label} ({where})", name))
    return choices


TrainHandlers = namedtuple("TrainHandlers", "train compare run_exercise refresh cancel_job job_status inspect_job "
                                            "diff_jobs diff_choices sweep sweep_plot estimate")


def make_handlers(registry: JobRegistry):
    """The tab's callbacks, bound to one registry (tests build them without a server)."""

    @user_errors
    def train(data, model, strategy, epochs, img_size, batch_size, lr, normalize, job_ids, per_class="all",
              request: gr.Request = None):
        """Start one classification job; returns the new job id at once (the job runs in the background)."""
        from vision_demo.classify import train as core

        data = check_server_folder(data, request)
        owner = check_job_quota(registry, request)
        job_id = core.submit(registry, _config(data, model, strategy, epochs, img_size, batch_size, lr, normalize,
                                               per_class), owner=owner)
        return (job_ids or []) + [job_id], [job_id]

    @user_errors
    def compare(data, epochs, img_size, batch_size, job_ids, backbone=None, per_class="all",
                request: gr.Request = None):
        """Start the seed's four strategies in order; returns their job ids at once.
        backbone: the pretrained model of the frozen and fine-tuned runs (default: ResNet-18 when its weights
        can be had, else EfficientNet-Lite0)."""
        from vision_demo.classify import train as core

        data = check_server_folder(data, request)
        owner = check_job_quota(registry, request, adding=len(core.PRESETS["Compare all four"]))
        ids = core.submit_compare(registry, data=data or "scenes", epochs=_number(epochs, "epochs"),
                                  img_size=_number(img_size, "image size"),
                                  batch_size=_number(batch_size, "batch size"), owner=owner, backbone=backbone or None,
                                  per_class=_per_class(per_class))
        return (job_ids or []) + list(ids), list(ids)

    @user_errors
    def run_exercise(exercise, data, epochs, img_size, batch_size, job_ids, backbone=None, per_class="all",
                     request: gr.Request = None):
        """Start one of the seed's exercises (Exercise 4 = a frozen run, then fine-tuning from it)."""
        from vision_demo.classify import train as core

        data = check_server_folder(data, request)
        if not exercise:
            raise gr.Error("Pick an exercise first.")
        owner = check_job_quota(registry, request, adding=len(core.PRESETS.get(exercise, [None])))
        ids = core.submit_preset(registry, exercise, owner=owner, backbone=backbone or None, data=data or "scenes",
                                 epochs=_number(epochs, "epochs"), img_size=_number(img_size, "image size"),
                                 batch_size=_number(batch_size, "batch size"), per_class=_per_class(per_class))
        return (job_ids or []) + list(ids), list(ids)

    refresh = job_view.live_refresh(
        registry, "classify",
        charts=[(job_view.CLASSIFY_LOSS, "Loss (train dashed, val solid)", "cross-entropy", False),
                (job_view.CLASSIFY_ACC, "Accuracy (train dashed, val solid)", "%", True)],
        finished_fn=job_view.finished_choices, table_fn=job_view.comparison_rows)

    cancel_job = job_view.cancel_handler(registry)

    @user_errors
    def job_status(job_id, request: gr.Request = None):
        """The state of any job as JSON: status, epoch, history, result (without per-image lists), error."""
        try:
            return scrub(job_view.status_dict(registry.get((job_id or "").strip())), request)
        except KeyError:
            raise gr.Error(f"No job with id {job_id!r}: ids look like 20261125-131500-ab12cd.") from None

    @user_errors
    def inspect_job(job_id):
        """Confusion matrix, its most confused pairs and test predictions of a finished job."""
        if not job_id:
            return None, "Pick a finished job.", []
        try:
            state = registry.get(job_id)
        except KeyError:
            raise gr.Error(f"No job with id {job_id!r}.") from None
        result = state.result or {}
        if not result.get("confusion_matrix"):
            return None, f"{state.name} has no results ({state.status}).", []
        return (job_view.confusion_figure(result), job_view.most_confused_text(result),
                gallery_items(job_view.prediction_captions(result), size=128))

    @user_errors
    def diff_jobs(job_a, job_b):
        """What B fixed and broke against A: counts, then the test images in each group with both predictions."""
        from vision_demo.classify.diff import error_diff, load_result

        if not job_a or not job_b:
            raise gr.Error("Pick two finished jobs on the same data (e.g. frozen as A, fine-tuned as B).")
        diff = error_diff(load_result(job_a, registry), load_result(job_b, registry))
        c = diff["counts"]
        text = (f"**{diff['b']}** against **{diff['a']}**: fixed **{c['fixed']}**, broke **{c['broke']}** "
                f"(both wrong {c['both_wrong']}, both right {c['both_right']}).")

        def items(rows):
            return gallery_items([(r["path"], f"{r['true']}: A {r['a_pred']} ({r['a_confidence']:.0%}) → "
                                              f"B {r['b_pred']} ({r['b_confidence']:.0%})") for r in rows[:24]],
                                 size=128)
        return text, items(diff["fixed"]), items(diff["broke"])

    def diff_choices(current_a, current_b):
        choices = job_view.finished_choices(registry.snapshot(kind="classify"))
        ids = [c[1] for c in choices]
        a = current_a if current_a in ids else (ids[1] if len(ids) > 1 else None)   # older as A, newest as B
        b = current_b if current_b in ids else (ids[0] if ids else None)
        return gr.Dropdown(choices=choices, value=a), gr.Dropdown(choices=choices, value=b)

    @user_errors
    def sweep(data, epochs, img_size, batch_size, job_ids, backbone=None, per_class="all", request: gr.Request = None):
        """The data-fraction sweep: the pretrained backbone frozen and the small CNN from scratch on 10/25/50/100 %
        of the training images, same epochs; returns the job ids (draw them with sweep_plot)."""
        from vision_demo.classify.pretrained import default_backbone
        from vision_demo.classify.sweep import DEFAULT_FRACTIONS, submit_sweep

        data = check_server_folder(data, request)
        runs = [(backbone or default_backbone(), "frozen"), ("simple_cnn", "scratch")]
        owner = check_job_quota(registry, request, adding=len(DEFAULT_FRACTIONS) * len(runs))
        ids = submit_sweep(registry, data=data or "scenes", runs=runs, epochs=_number(epochs, "epochs"),
                           img_size=_number(img_size, "image size"), batch_size=_number(batch_size, "batch size"),
                           owner=owner, per_class=_per_class(per_class))
        return (job_ids or []) + ids, ids, ids

    @user_errors
    def sweep_plot(sweep_ids):
        """Test accuracy against the number of training images, one line per model and strategy."""
        from vision_demo.classify.sweep import gaps, sweep_rows

        states = registry.snapshot(list(sweep_ids or []))
        rows = sweep_rows(states)
        waiting = sum(1 for st in states if not st.done)
        if not rows:
            return None, ("Run the sweep first." if not states else f"{waiting} runs still to finish.")
        gap = gaps(rows)
        note = (f"{waiting} runs still to finish. " if waiting else "") + "Pretrained − scratch: " + \
            ", ".join(f"{f:.0%} of the images {g * 100:+.0f} points" for f, g in gap.items()) + "."
        return job_view.sweep_figure(rows), note

    @user_errors
    def estimate(data, epochs, img_size, batch_size, backbone=None, per_class="all", request: gr.Request = None):
        """Before a big set starts: what "Compare all four" takes here (a few real batches measured) and the images
        per class that fit settings.COMPARE_BUDGET_SECONDS. Returns (markdown, offer button); nothing shown for
        small sets, for a compare that fits, or for a data set that cannot be read yet (starting says why): then the
        row that holds them is hidden too (returned first), so it takes no room above the progress."""
        from vision_demo import settings
        from vision_demo.classify.compare_time import measure_compare
        from vision_demo.datasets import archive
        from vision_demo.datasets.imagefolder import load_dataset

        quiet = (gr.Row(visible=False), "", gr.Button(visible=False))
        try:
            data = check_server_folder(data, request) or "scenes"
            n = _per_class(per_class)
            with archive.using(data):
                train_images = len(load_dataset(None if data == "scenes" else data).train)
            if train_images < settings.COMPARE_MEASURE_FROM_IMAGES:
                return quiet
            measured = measure_compare(data, img_size=_number(img_size, "image size"),
                                       batch_size=_number(batch_size, "batch size"), backbone=backbone or None)
        except (VisionDemoError, gr.Error):
            return quiet
        running = sum(1 for s in registry.snapshot() if s.status == "running")
        text, fit = estimate_text(measured, _number(epochs, "epochs"), n, settings.COMPARE_BUDGET_SECONDS, running)
        return (gr.Row(visible=bool(text)), text,
                gr.Button(f"Use {fit} per class", visible=True) if fit else gr.Button(visible=False))

    return TrainHandlers(train, compare, run_exercise, refresh, cancel_job, job_status, inspect_job, diff_jobs,
                         diff_choices, sweep, sweep_plot, estimate)


TrainTab = namedtuple("TrainTab", "data refresh start_exercise")


def build(registry: JobRegistry):
    """Lay out the tab: controls on the left, what they start (progress, live curves) on the right, so a
    click's result is on screen at 1280×720. Returns the data textbox (the Data tab fills it), the live
    refresh (fn, inputs, outputs) and start_exercise(preset) -> a function that wires a button to start it."""
    (train, compare, run_exercise, refresh, cancel_job, job_status, inspect_job, diff_jobs,
     diff_choices, sweep, sweep_plot, estimate) = make_handlers(registry)
    intro("**Train & compare.** A small CNN and ResNet-18 from scratch, then an ImageNet backbone reused (frozen, "
          "then fine-tuned): which learns faster, to what accuracy, at what cost? Jobs run on the server, one after "
          "another; the curves update every second.")
    job_ids = gr.State([])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=380):
            with gr.Row(equal_height=True):
                data = data_box("train-data", scale=3)   # its label names the set
                batch_size = gr.Dropdown([8, 16, 32, 64, 128], value=32, label="Batch", allow_custom_value=True,
                                         scale=1, min_width=90)
                # A big set cut to fit a class period: at most N training images of each class (seeded, the same
                # images every run); the test split stays whole. Every job this tab starts gets it.
                per_class = gr.Dropdown(["all", "50", "100", "200", "500"], value="all", label="Images per class",
                                        allow_custom_value=True, scale=1, min_width=130, elem_id="per-class")
            with gr.Row():
                epochs = gr.Slider(1, 30, value=3, step=1, label="Epochs", min_width=160)
                img_size = gr.Slider(32, 224, value=96, step=16, label="Image size (px)", min_width=160,
                                     info="96 px: ~5× faster than 224")
            backbone = gr.Dropdown(backbone_choices(), value=default_backbone(), label="Pretrained backbone (exercises 3–4)",
                                   elem_id="backbone", info="the seed's ResNet-18 when its ImageNet weights are here "
                                                            "or downloadable, else EfficientNet-Lite0 (bundled)")
            compare_btn = gr.Button("Compare all four (exercises 1–4)", variant="primary", elem_id="compare-btn")
            with gr.Row(equal_height=True):
                exercise = gr.Dropdown(list(EXERCISES), value=EXERCISES[0], label="Or one exercise", scale=3)
                exercise_btn = gr.Button("Run exercise", scale=1, min_width=110, elem_id="exercise-btn")
            with gr.Accordion("Or your own: model, strategy, learning rate", open=False):
                model = gr.Dropdown([(MODEL_LABELS[m], m) for m in MODELS], value="simple_cnn", label="Model")
                strategy = gr.Radio(list(STRATEGIES), value="scratch", label="Strategy", info=STRATEGY_INFO)
                with gr.Row(equal_height=True):
                    lr = gr.Number(value=0, label="Learning rate (0 = default: 1e-3, fine-tune 1e-4)", minimum=0)
                    normalize = gr.Checkbox(value=True, label="ImageNet normalization",
                                            info="pretrained backbones expect it: switch it off to see why")
                train_btn = gr.Button("Train", variant="primary", elem_id="train-btn")
            show_all, cancel_choice, cancel_btn, cancel_msg = job_view.job_controls(
                "Show every job on this server (off: only yours)")
        with gr.Column(scale=3):
            # Above the progress, what a big set would take (empty unless the set is big and the compare too long):
            # read before clicking, and as wide as the screen allows (two lines at 1280 px).
            with gr.Row(equal_height=True, visible=False) as estimate_row:
                estimate_md = gr.Markdown(elem_id="compare-estimate")
                fit_btn = gr.Button("Use N per class", visible=False, size="sm", scale=0, min_width=160,
                                    elem_id="per-class-fit-btn")
            started, progress, loss_plot, acc_plot = job_view.live_panel(
                "job-progress", [("Loss", "loss-plot"), ("Accuracy", "acc-plot")])
            board = job_view.board_buttons("train")
    table = gr.Dataframe(headers=job_view.COMPARISON_HEADERS, label="Comparison (finished jobs)",
                         interactive=False, elem_id="comparison", wrap=True, column_widths=job_view.COMPARISON_WIDTHS,
                         elem_classes=["vd-table"])
    gr.Markdown("### Look inside a finished job")
    inspect_choice = gr.Dropdown([], label="Finished job (newest first)", allow_custom_value=True,
                                 elem_id="inspect-job")
    with gr.Row():
        confusion = gr.Plot(label="Confusion matrix", scale=1, show_label=False)  # titled figure
        with gr.Column(scale=1):
            confused_text = gr.Markdown()
            predictions = gr.Gallery(label="Test predictions (mistakes first): true → predicted (confidence)",
                                     columns=3, height=460, elem_id="predictions", elem_classes=["vd-captions"])
    with gr.Accordion("What fine-tuning fixed: compare two finished jobs, image by image", open=False) as diff_box:
        with gr.Row(equal_height=True):
            diff_a = gr.Dropdown([], label="A (e.g. the frozen run)", allow_custom_value=True, scale=2)
            diff_b = gr.Dropdown([], label="B (e.g. fine-tuned from it)", allow_custom_value=True, scale=2)
            diff_btn = gr.Button("Compare A and B", scale=1, min_width=140, elem_id="diff-btn")
        diff_text = gr.Markdown(elem_id="diff-counts")
        with gr.Row():
            fixed = gr.Gallery(label="Fixed by B (A wrong, B right): true: A → B", columns=4, height=300,
                               elem_id="diff-fixed", elem_classes=["vd-captions"])
            broke = gr.Gallery(label="Broken by B (A right, B wrong): true: A → B", columns=4, height=300,
                               elem_id="diff-broke", elem_classes=["vd-captions"])
    diff_box.expand(diff_choices, [diff_a, diff_b], [diff_a, diff_b], api_visibility="private")
    diff_btn.click(diff_jobs, [diff_a, diff_b], [diff_text, fixed, broke], api_name="diff_jobs")
    with gr.Accordion("When does pretraining matter most? The same runs on 10, 25, 50 and 100 % of the images",
                      open=False):
        with gr.Row(equal_height=True):
            sweep_btn = gr.Button("Run the sweep (8 jobs, this tab's data, epochs and size)", elem_id="sweep-btn",
                                  scale=2)
            sweep_plot_btn = gr.Button("Draw it", scale=1, min_width=100, elem_id="sweep-plot-btn")
        sweep_note = gr.Markdown(elem_id="sweep-note")
        sweep_fig = gr.Plot(label="Accuracy vs training images", show_label=False, elem_id="sweep-plot")
    sweep_ids = gr.State([])
    download_view.build(registry, "classify", job_ids, show_all, inspect_choice, sweep_ids)
    with gr.Accordion("Job state as JSON (what scripts see)", open=False):
        with gr.Row():
            status_id = gr.Textbox(label="Job id")
            status_btn = gr.Button("Show state")
        status_json = gr.JSON(label="Job state")

    timer = gr.Timer(1.0, active=False)
    shown = gr.State({})
    refresh_outputs = [progress, loss_plot, acc_plot, table, cancel_choice, inspect_choice, timer, shown]
    refresh_inputs = [job_ids, show_all, cancel_choice, inspect_choice, shown]
    timer.tick(refresh, refresh_inputs, refresh_outputs, concurrency_limit=None, show_progress="hidden",
               api_visibility="private")
    show_all.change(refresh, refresh_inputs, refresh_outputs, concurrency_limit=None, api_visibility="private")
    job_view.wire_board(registry, "classify", board, refresh, refresh_inputs, refresh_outputs)
    # A slow watch wakes the 1 s timer when a job appears that this page did not start (the teacher's, a reload).
    gr.Timer(5.0).tick(job_view.watch(registry, "classify"), [job_ids, show_all, shown], timer, concurrency_limit=None,
                       show_progress="hidden", api_visibility="private")
    # Submitting returns the job ids at once; then the timer starts (a separate step, so scripts get just the ids).
    start_timer = dict(fn=lambda: gr.Timer(active=True), inputs=None, outputs=timer, api_visibility="private")
    exercise_btn.click(run_exercise, [exercise, data, epochs, img_size, batch_size, job_ids, backbone, per_class],
                       [job_ids, started],
                       api_name="run_exercise", api_visibility="undocumented", concurrency_limit=None
                       ).success(**start_timer)
    train_btn.click(train, [data, model, strategy, epochs, img_size, batch_size, lr, normalize, job_ids, per_class],
                    [job_ids, started], api_name="train", concurrency_limit=None).success(**start_timer)
    compare_btn.click(compare, [data, epochs, img_size, batch_size, job_ids, backbone, per_class], [job_ids, started],
                      api_name="compare", concurrency_limit=None).success(**start_timer)
    sweep_btn.click(sweep, [data, epochs, img_size, batch_size, job_ids, backbone, per_class],
                    [job_ids, started, sweep_ids],
                    api_name="sweep", concurrency_limit=None).success(**start_timer)
    sweep_plot_btn.click(sweep_plot, sweep_ids, [sweep_fig, sweep_note], api_visibility="private")
    # The measured estimate, again whenever what it depends on changes (a few seconds, only for a big set);
    # always_last: a burst of changes (typing a path) measures once, for the last value.
    estimate_inputs = [data, epochs, img_size, batch_size, backbone, per_class]
    data.change(estimate, estimate_inputs, [estimate_row, estimate_md, fit_btn], api_name="estimate_compare",
                trigger_mode="always_last", show_progress="minimal")
    for control in (epochs, img_size):
        control.release(estimate, estimate_inputs, [estimate_row, estimate_md, fit_btn], api_visibility="private",
                        trigger_mode="always_last", show_progress="minimal")
    for control in (batch_size, backbone, per_class):
        control.change(estimate, estimate_inputs, [estimate_row, estimate_md, fit_btn], api_visibility="private",
                       trigger_mode="always_last", show_progress="minimal")
    # "Use 120 per class": the number from the button's own label into the control (which re-estimates)
    fit_btn.click(lambda label: label.split()[1], fit_btn, per_class, api_visibility="private", queue=False)
    for button in (exercise_btn, train_btn, compare_btn):
        reveal(button, "job-progress")
    cancel_btn.click(cancel_job, [cancel_choice, job_ids], cancel_msg, api_name="cancel_job", concurrency_limit=None)
    status_btn.click(job_status, status_id, status_json, api_name="job_status", concurrency_limit=None)
    inspect_choice.change(inspect_job, inspect_choice, [confusion, confused_text, predictions],
                          api_visibility="undocumented", api_name="inspect_job")

    def start_exercise(preset: str):
        """A button elsewhere (the lesson plan) that picks `preset` here and runs it with this tab's settings."""
        def wire(button: gr.Button) -> None:
            button.click(lambda: preset, None, exercise, api_visibility="private", queue=False).then(
                run_exercise, [exercise, data, epochs, img_size, batch_size, job_ids, backbone, per_class],
                [job_ids, started], api_visibility="private", concurrency_limit=None).success(**start_timer)
        return wire

    return TrainTab(data, (refresh, refresh_inputs, refresh_outputs), start_exercise)
