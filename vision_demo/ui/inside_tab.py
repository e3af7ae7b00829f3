"""Tab 5, Inside the model: what the layers learned, seen and measured (issue 23), then the seed's Exercise 5
(layers as text, the autograd graph, the residual, how many weights each strategy trains).

"Early layers general, later layers specific", four ways, each a button here, a CLI command and an API endpoint:
1) the first convolution's filters: ImageNet's next to a model from scratch after and before training
   (/inside_filters; `python -m vision_demo filters`);
2) a few feature maps of every stage for one picture, pretrained and scratch side by side
   (/inside_feature_maps; `feature-maps`);
3) a linear probe per stage, test accuracy by depth (/inside_probe: a job; `probe`);
4) fine-tuning with the last k blocks unfrozen, k = 0 .. all (/inside_unfreeze: jobs; `unfreeze`).
Long work (the probe, the sweep, a scratch model to look at) runs as jobs; a gr.Timer draws their results.
"""
from __future__ import annotations

import functools
import logging
import uuid
from collections import namedtuple

import gradio as gr

from vision_demo import settings
from vision_demo.classify.catalog import CATALOG
from vision_demo.classify.pretrained import default_backbone
from vision_demo.errors import VisionDemoError
from vision_demo.ui.common import check_job_quota, check_server_folder, data_box, image_source, intro, user_errors
from vision_demo.ui.projector import reveal
from vision_demo.ui.train_tab import MODEL_LABELS, MODELS, STRATEGIES, backbone_choices

log = logging.getLogger(__name__)

PARAM_HEADERS = ["model / strategy", "trainable", "frozen", "total", "trainable %"]


@user_errors
def show_model(name, strategy, graph_size):
    """print(model), its autograd graph (PNG) and its trainable/frozen count for one model and strategy."""
    from vision_demo.classify import inspect
    from vision_demo.classify.models import apply_strategy, build_model, check_strategy

    check_strategy(name, strategy)
    model, _ = build_model(name, 6, pretrained=False)  # the architecture is what we look at; no download
    apply_strategy(model, name, strategy)
    # One file per call: two visitors drawing the same model at once must not read each other's half-written PNG.
    png = inspect.autograd_graph_png(model, settings.subdir("inspect") / f"{name}-{strategy}-{uuid.uuid4().hex}.png",
                                     img_size=int(graph_size))
    try:
        image = _fit(png)
    finally:
        png.unlink(missing_ok=True)  # the picture is in memory now
    return inspect.model_text(model, strategy), image


GRAPH_MAX_SIDE = 4096  # EfficientNet from scratch draws a 13000 x 10000 px graph: too big for a browser


def _fit(png_path, max_side: int = GRAPH_MAX_SIDE):
    """Our own graphviz PNG, shrunk to something a browser can show (zoom with the fullscreen button)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():  # a file we just drew ourselves, not an upload: its size is not an attack
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(png_path)
        img.draft("RGB", (max_side, max_side))
        img = img.convert("RGB")
    img.thumbnail((max_side, max_side))
    return img


@user_errors
@functools.lru_cache(maxsize=1)  # the same seven models every time: count them once per server
def parameter_rows():
    """Trainable vs frozen weights for every (model, strategy): the cost side of transfer learning."""
    from vision_demo.classify.inspect import parameter_table

    return [[r["label"], f"{r['trainable']:,}", f"{r['frozen']:,}", f"{r['total']:,}", f"{r['trainable_percent']:.2f}"]
            for r in parameter_table(6)]


@user_errors
def residual():
    from vision_demo.classify.inspect import residual_explanation

    return residual_explanation()


# ---- what the layers learned (issue 23) --------------------------------------------------------------------

RANDOM = "random"                    # the scratch side when no scratch job is picked: random weights, untrained
RANDOM_LABEL = "none: the same network with random weights (untrained)"
SCRATCH_EPOCHS = 3                   # a scratch model to look at: ~10-20 s at 96 px on a 2-core CPU
PICTURES_PER_CLASS = 2               # test pictures offered for the feature maps


def block_choices(backbone: str | None) -> list[str]:
    """"0" (the head only) .. the backbone's number of blocks, the last one as "all"."""
    n = len(CATALOG[backbone or default_backbone()].blocks)
    return [str(k) for k in range(n)] + ["all"]


def _scratch_choices(registry) -> list[tuple[str, str]]:
    """RANDOM first, then the finished classification runs from scratch, newest first."""
    done = [s for s in registry.snapshot(kind="classify")
            if s.status == "finished" and (s.result or {}).get("strategy") == "scratch"]
    done.sort(key=lambda s: (s.ended or 0, s.created), reverse=True)
    return [(RANDOM_LABEL, RANDOM)] + [(f"{s.name} — test acc {s.result['test_acc']:.0%} ({s.result['img_size']} px)",
                                        s.id) for s in done]


def _scratch_folder(registry, job_id) -> str:
    """A picked scratch job's folder (the core reads its result.json and model.pt); RANDOM stays RANDOM."""
    if not job_id or job_id == RANDOM:
        return RANDOM
    try:
        state = registry.get(str(job_id))
    except KeyError:
        raise VisionDemoError(f"no job {job_id!r}: pick a finished run from scratch in the list") from None
    if state.status != "finished" or (state.result or {}).get("strategy") != "scratch":
        raise VisionDemoError(f"{state.name} is not a finished run from scratch: pick one, or train one first")
    return state.out_dir


def _number(value, what: str, lo: int, hi: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise VisionDemoError(f"{what} {value!r} is not a number") from None
    if not lo <= n <= hi:
        raise VisionDemoError(f"{what} must be between {lo} and {hi}, not {n}")
    return n


InsideHandlers = namedtuple("InsideHandlers", "filters feature_maps pictures train_scratch probe unfreeze refresh")


def make_handlers(registry):
    """The new sections' callbacks, bound to one registry (tests build them without a server)."""

    @user_errors
    def filters(scratch_job, backbone):
        """The first convolution's filters: ImageNet's, and a scratch job's after and before training (or random
        weights when no job is picked). Returns (picture, what to read it by)."""
        from vision_demo.classify import filters as core

        backbone = backbone or default_backbone()
        folder = _scratch_folder(registry, scratch_job)
        if folder == RANDOM:
            panels = core.FilterPanels([core.imagenet_filters(backbone),
                                        core.model_filters(core.initial_model(backbone, 6, 0), backbone,
                                                           f"{CATALOG[backbone].label} · random weights",
                                                           "before any training (seed 0)")])
            note = ("ImageNet's first layer: edges at several angles and colour blobs. Next to it the same layer "
                    "before any training: noise. Train a model from scratch (the button) to see what a few epochs "
                    "on these pictures make of it.")
        else:
            panels = core.job_filters(folder, registry=registry, backbone=backbone)
            note = core.caption(panels)
        return core.panels_image(panels), note

    @user_errors
    def pictures(data, request: gr.Request = None):
        """The data set's test pictures to pick from: (label, "index") pairs, a few per class."""
        from vision_demo.datasets.imagefolder import load_dataset

        data = check_server_folder((data or "scenes").strip(), request)
        ds = load_dataset(None if data in ("", "scenes") else data)
        seen: dict[int, int] = {}
        choices = []
        for i, (path, y) in enumerate(ds.test):
            if seen.get(y, 0) < PICTURES_PER_CLASS:
                seen[y] = seen.get(y, 0) + 1
                choices.append((f"{ds.classes[y]} · {path.rsplit('/', 1)[-1]}", str(i)))
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    @user_errors
    def feature_maps(picture, upload, data, backbone, scratch_job, img_size, request: gr.Request = None):
        """A few feature maps of every stage for the upload (if any) or the picked test picture."""
        from vision_demo.classify.feature_maps import compare_maps
        from vision_demo.datasets.imagefolder import load_dataset

        if upload:
            image = image_source(upload)
        elif picture not in (None, ""):
            data = check_server_folder((data or "scenes").strip(), request)
            ds = load_dataset(None if data in ("", "scenes") else data)
            index = _number(picture, "picture", 0, len(ds.test) - 1)
            image = ds.test[index][0]
        else:
            raise VisionDemoError("pick a test picture or upload one")
        folder = _scratch_folder(registry, scratch_job)
        picture_img, _ = compare_maps(image, backbone or default_backbone(), _number(img_size, "image size", 32, 512),
                                      scratch_job=None if folder == RANDOM else folder, registry=registry)
        return picture_img

    @user_errors
    def train_scratch(data, backbone, img_size, jobs, request: gr.Request = None):
        """Train the backbone's architecture from scratch (3 epochs) to look at: returns (jobs, started ids)."""
        from vision_demo.classify.train import TrainConfig, submit

        data = check_server_folder((data or "scenes").strip(), request)
        owner = check_job_quota(registry, request)
        job_id = submit(registry, TrainConfig(data=data or "scenes", model=backbone or default_backbone(),
                                              strategy="scratch", epochs=SCRATCH_EPOCHS,
                                              img_size=_number(img_size, "image size", 32, 512)), owner=owner)
        return {**(jobs or {}), "scratch": job_id}, [job_id], "a model from scratch: queued"

    @user_errors
    def probe(data, backbone, img_size, scratch_job, jobs, request: gr.Request = None):
        """Queue the linear probe (a job): returns (jobs, [its id]) at once; the timer draws its plot."""
        from vision_demo.classify.probe import ProbeConfig, submit_probe

        data = check_server_folder((data or "scenes").strip(), request)
        owner = check_job_quota(registry, request)
        config = ProbeConfig(data=data or "scenes", model=backbone or default_backbone(),
                             img_size=_number(img_size, "image size", 32, 512),
                             scratch=_scratch_folder(registry, scratch_job))
        job_id = submit_probe(registry, config, owner=owner)
        return {**(jobs or {}), "probe": job_id}, [job_id], "probe: queued"

    @user_errors
    def unfreeze(data, backbone, blocks, epochs, img_size, jobs, request: gr.Request = None):
        """Queue the frozen run and one fine-tune job per k: returns (jobs, their ids) at once."""
        from vision_demo.classify.unfreeze import parse_blocks, submit_unfreeze

        data = check_server_folder((data or "scenes").strip(), request)
        backbone = backbone or default_backbone()
        ks = parse_blocks(backbone, blocks or [])
        owner = check_job_quota(registry, request, adding=len(ks) + 1)
        ids = submit_unfreeze(registry, data=data or "scenes", model=backbone, blocks=ks,
                              epochs=_number(epochs, "epochs", 1, 20), img_size=_number(img_size, "image size", 32, 512),
                              owner=owner)
        return {**(jobs or {}), "unfreeze": ids}, ids, f"unfreeze sweep: {len(ids)} jobs queued"

    def refresh(jobs, shown, scratch_job, backbone):
        """The timer: the probe's plot, the sweep's plot, and a finished scratch job picked and its filters drawn,
        each sent once when its jobs end. Stops itself when nothing it watches is still running."""
        from vision_demo.classify import probe as probe_core
        from vision_demo.classify import unfreeze as unfreeze_core
        from vision_demo.ui.inside_figures import probe_figure, unfreeze_figure

        jobs, shown = dict(jobs or {}), dict(shown or {})
        watched = [i for i in (jobs.get("scratch"), jobs.get("probe"), *(jobs.get("unfreeze") or [])) if i]
        states = {s.id: s for s in registry.snapshot(watched)}
        out = {"probe_plot": gr.skip(), "probe_note": gr.skip(), "unfreeze_plot": gr.skip(),
               "unfreeze_note": gr.skip(), "scratch": gr.skip(), "filters": gr.skip(), "filters_note": gr.skip()}
        lines = []
        p = states.get(jobs.get("probe"))
        if p is not None:
            if p.status == "finished" and shown.get("probe") != p.id:
                shown["probe"] = p.id
                out["probe_plot"], out["probe_note"] = probe_figure(p.result), probe_core.summary(p.result)
            elif not p.done:
                lines.append(f"probe: {p.status} {p.progress:.0%} {p.message}")
            elif p.status != "finished":
                out["probe_note"] = f"The probe {p.status}: {p.error or p.message}"
        sweep = [states[i] for i in jobs.get("unfreeze") or [] if i in states]
        if sweep:
            done = [s for s in sweep if s.done]
            rows, frozen = unfreeze_core.unfreeze_rows(sweep), unfreeze_core.frozen_row(sweep)
            key = [[s.id, s.status] for s in done]
            if rows and shown.get("unfreeze") != key:
                shown["unfreeze"] = key
                out["unfreeze_plot"] = unfreeze_figure(rows, frozen)
                out["unfreeze_note"] = unfreeze_core.summary(rows, frozen)
            if len(done) < len(sweep):
                running = next((s for s in sweep if not s.done), None)
                lines.append(f"unfreeze sweep: {len(done)} of {len(sweep)} jobs done; {running.name} {running.status} "
                             f"{running.progress:.0%}")
            failed = [s for s in done if s.status != "finished"]
            if failed and shown.get("unfreeze_failed") != len(failed):
                shown["unfreeze_failed"] = len(failed)
                out["unfreeze_note"] = "; ".join(f"{s.name} {s.status}: {s.error or s.message}" for s in failed)
        sc = states.get(jobs.get("scratch"))
        if sc is not None:
            if sc.status == "finished" and shown.get("scratch") != sc.id:
                shown["scratch"] = sc.id
                out["scratch"] = gr.Dropdown(choices=_scratch_choices(registry), value=sc.id)
                out["filters"], out["filters_note"] = filters(sc.id, backbone)
            elif not sc.done:
                lines.append(f"{sc.name}: {sc.status} {sc.progress:.0%} {sc.message}")
        active = any(not s.done for s in states.values())
        status = " · ".join(lines) if lines else ("" if not watched else "all done")
        return (*out.values(), status, gr.Timer(active=active), shown)

    return InsideHandlers(filters, feature_maps, pictures, train_scratch, probe, unfreeze, refresh)


InsideTab = namedtuple("InsideTab", "fill fill_outputs start data")


def _learned_sections(registry):
    """The four sections of 'what the layers learned'; returns (fill fn, its outputs, the data box)."""
    h = make_handlers(registry)
    gr.Markdown("### What the layers learned: early general, later specific")
    jobs, shown = gr.State({}), gr.State({})
    with gr.Row(equal_height=True):
        data = data_box("inside-data", scale=3)   # its label names the set
        backbone = gr.Dropdown(backbone_choices(), value=default_backbone(), label="Pretrained backbone",
                               elem_id="inside-backbone", scale=3)
        img_size = gr.Slider(32, 224, value=96, step=16, label="Image size (px)", scale=1, min_width=240)
    with gr.Row(equal_height=True):
        scratch_job = gr.Dropdown([(RANDOM_LABEL, RANDOM)], value=RANDOM, label="Model from scratch to compare with",
                                  elem_id="inside-scratch-job", scale=3, allow_custom_value=True)
        status = gr.Markdown(elem_id="inside-status")
    started = gr.JSON(visible=False)   # what the API returns: the job ids
    gr.Markdown("**1 · What the first layer learned.** Each tile is one filter of the first convolution, scaled "
                "to its own range.")
    with gr.Row(equal_height=True):
        scratch_btn = gr.Button(f"Train the backbone from scratch ({SCRATCH_EPOCHS} epochs) to look at",
                                elem_id="inside-train-scratch")
        filters_btn = gr.Button("Draw the filters", variant="primary", elem_id="inside-filters-btn")
    filters_img = gr.Image(label="First-layer filters", type="pil", interactive=False, elem_id="inside-filters",
                           buttons=["download", "fullscreen"], height=300)
    filters_note = gr.Markdown(elem_id="inside-filters-note")

    gr.Markdown("**2 · What each stage sees.** A few feature maps (the most active channels) of every stage for one "
                "picture: stem at the top, each row with its channels and size.")
    with gr.Row(equal_height=True):
        picture = gr.Dropdown([], label="A test picture of the data set", elem_id="inside-picture", scale=2)
        upload = gr.Image(label="…or your own", type="filepath", sources=["upload"], height=170, scale=1,
                          min_width=260, elem_id="inside-upload")
        maps_btn = gr.Button("Show the maps", variant="primary", elem_id="inside-maps-btn", scale=1)
    maps_img = gr.Image(label="Feature maps per stage", type="pil", interactive=False, elem_id="inside-maps",
                        buttons=["download", "fullscreen"], height=520)

    gr.Markdown("**3 · How general is each stage, measured.** A logistic regression on each stage's pooled, frozen "
                "features, trained on the training pictures and scored on the held-out test pictures.")
    probe_btn = gr.Button("Measure every stage (linear probe)", variant="primary", elem_id="inside-probe-btn")
    probe_note = gr.Markdown(elem_id="inside-probe-note")
    probe_plot = gr.Plot(label="Linear probe", show_label=False, elem_id="inside-probe-plot")

    gr.Markdown("**4 · How deep to unfreeze.** From the frozen run, fine-tune with the last k blocks unfrozen "
                "(lr 1e-4): accuracy, trainable weights and time per k.")
    with gr.Row(equal_height=True):
        blocks = gr.CheckboxGroup(block_choices(default_backbone()), value=["0", "1", "2", "all"],
                                  label="Blocks to unfreeze (from the end; 0 = the head only)", scale=3,
                                  elem_id="inside-blocks")
        epochs = gr.Slider(1, 10, value=2, step=1, label="Fine-tuning epochs", scale=1, min_width=160)
        unfreeze_btn = gr.Button("Run the sweep", variant="primary", elem_id="inside-unfreeze-btn", scale=1)
    unfreeze_note = gr.Markdown(elem_id="inside-unfreeze-note")
    unfreeze_plot = gr.Plot(label="Unfreeze sweep", show_label=False, elem_id="inside-unfreeze-plot")

    timer = gr.Timer(1.0, active=False)
    refresh_outputs = [probe_plot, probe_note, unfreeze_plot, unfreeze_note, scratch_job, filters_img, filters_note,
                       status, timer, shown]
    timer.tick(h.refresh, [jobs, shown, scratch_job, backbone], refresh_outputs, concurrency_limit=None,
               show_progress="hidden", api_visibility="private")
    start_timer = dict(fn=lambda: gr.Timer(active=True), inputs=None, outputs=timer, api_visibility="private")

    filters_btn.click(h.filters, [scratch_job, backbone], [filters_img, filters_note], api_name="inside_filters")
    reveal(filters_btn, "inside-filters")
    maps_btn.click(h.feature_maps, [picture, upload, data, backbone, scratch_job, img_size], maps_img,
                   api_name="inside_feature_maps", preprocess=False)
    reveal(maps_btn, "inside-maps")
    scratch_btn.click(h.train_scratch, [data, backbone, img_size, jobs], [jobs, started, status],
                      api_name="inside_train_scratch", concurrency_limit=None).success(**start_timer)
    probe_btn.click(h.probe, [data, backbone, img_size, scratch_job, jobs], [jobs, started, status], api_name="inside_probe",
                    concurrency_limit=None).success(**start_timer)
    reveal(probe_btn, "inside-probe-plot")
    unfreeze_btn.click(h.unfreeze, [data, backbone, blocks, epochs, img_size, jobs], [jobs, started, status],
                       api_name="inside_unfreeze", concurrency_limit=None).success(**start_timer)
    reveal(unfreeze_btn, "inside-unfreeze-plot")
    backbone.change(lambda b: gr.CheckboxGroup(choices=block_choices(b), value=["0", "1", "2", "all"]), backbone,
                    blocks, api_visibility="private", queue=False)
    for event in (data.submit, data.blur):   # not .change: every keystroke of a path would load a data set
        event(h.pictures, data, picture, api_visibility="private")

    def fill(data_value):
        try:
            pictures = h.pictures(data_value)
        except gr.Error as err:   # a data set that does not load: the maps button says so when clicked
            log.warning("no test pictures for the Inside tab: %s", err.message)
            pictures = gr.Dropdown(choices=[], value=None)
        return gr.Dropdown(choices=_scratch_choices(registry)), pictures

    return fill, [scratch_job, picture], data


def build(registry=None):
    """Lay out the tab; returns fill (the weight table, the residual, the scratch-job and picture pickers, filled
    when the tab opens) with its inputs/outputs, start(button): a button elsewhere that shows ResNet-18, frozen
    (the lesson plan's exercise 5), and the data box (the Data tab fills it)."""
    from vision_demo.jobs import default_registry

    registry = registry or default_registry()
    intro("**Inside the model.** What the layers learned, seen and measured on your data: the first layer's filters, "
          "each stage's feature maps, a linear probe per stage, how deep to unfreeze. Then the wiring: the layers as "
          "text, the graph autograd records (frozen layers drop out) and ResNet's residual connection.")
    fill_learned, learned_outputs, data = _learned_sections(registry)
    gr.Markdown("### The wiring: layers, autograd graph, residual (Exercise 5)")
    with gr.Row(equal_height=True):
        model = gr.Dropdown([(MODEL_LABELS[m], m) for m in MODELS], value="resnet18", label="Model")
        strategy = gr.Radio(list(STRATEGIES), value="frozen", label="Strategy")
        graph_size = gr.Slider(32, 128, value=32, step=32, label="Input size for the graph (px)")
        show_btn = gr.Button("Show", variant="primary", elem_id="inside-show")
    with gr.Row():
        # wrap_lines: a long layer line wraps instead of running off the box's right edge
        text = gr.Code(label="print(model)", language=None, lines=18, max_lines=18, wrap_lines=True,
                       elem_id="inside-text")
        graph = gr.Image(label="Autograd graph (trainable weights in blue)", type="pil", interactive=False,
                         elem_id="inside-graph", height=440,
                         buttons=["download", "fullscreen"])
    gr.Markdown("### Trainable vs frozen weights per strategy")
    table_btn = gr.Button("Count again")
    table = gr.Dataframe(headers=PARAM_HEADERS, interactive=False, elem_classes=["vd-table", "vd-grow"])
    gr.Markdown("### The residual connection")
    residual_btn = gr.Button("Show where it is in torchvision's ResNet")
    residual_text = gr.Code(language="python", lines=20, wrap_lines=True, elem_id="inside-residual")
    show_btn.click(show_model, [model, strategy, graph_size], [text, graph], api_visibility="undocumented",
                   api_name="inspect_model")
    reveal(show_btn, "inside-text")
    table_btn.click(parameter_rows, None, table, api_visibility="undocumented")
    residual_btn.click(residual, None, residual_text, api_visibility="undocumented")

    def start(button: gr.Button) -> None:
        # the lesson's exercise 5 is print(model) and the graph, below the tab's newer sections: scroll to it
        reveal(button, "inside-text", when_shown=True)
        button.click(lambda: ("resnet18", "frozen"), None, [model, strategy], api_visibility="private",
                     queue=False).then(show_model, [model, strategy, graph_size], [text, graph],
                                       api_visibility="private")

    def fill(data_value):
        return (parameter_rows(), residual(), *fill_learned(data_value))

    return InsideTab(fill, [table, residual_text, *learned_outputs], start, data)
