"""Tab 5, Inside the model (the seed's Exercise 5): layers as text, the autograd graph, the residual,
and how many weights each strategy trains.
"""
from __future__ import annotations

import functools
import uuid
from collections import namedtuple

import gradio as gr

from vision_demo import settings
from vision_demo.ui.common import intro, user_errors
from vision_demo.ui.projector import reveal
from vision_demo.ui.train_tab import MODEL_LABELS, MODELS, STRATEGIES

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


InsideTab = namedtuple("InsideTab", "fill fill_outputs start")


def build():
    """Lay out the tab; returns fill (the weight table and the residual, filled when the tab opens), its
    outputs, and start(button): a button elsewhere that shows ResNet-18, frozen (the lesson plan's exercise 5)."""
    intro("**Inside the model.** A network is just layers; which of them train is the whole difference between "
          "scratch, frozen and fine-tuned. Read the layers, see the graph autograd records (frozen layers drop out), "
          "and find ResNet's residual connection.")
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
    table = gr.Dataframe(headers=PARAM_HEADERS, interactive=False, elem_classes=["vd-table"])
    gr.Markdown("### The residual connection")
    residual_btn = gr.Button("Show where it is in torchvision's ResNet")
    residual_text = gr.Code(language="python", lines=20, wrap_lines=True, elem_id="inside-residual")
    show_btn.click(show_model, [model, strategy, graph_size], [text, graph], api_visibility="undocumented",
                   api_name="inspect_model")
    reveal(show_btn, "inside-text")
    table_btn.click(parameter_rows, None, table, api_visibility="undocumented")
    residual_btn.click(residual, None, residual_text, api_visibility="undocumented")

    def start(button: gr.Button) -> None:
        button.click(lambda: ("resnet18", "frozen"), None, [model, strategy], api_visibility="private",
                     queue=False).then(show_model, [model, strategy, graph_size], [text, graph],
                                       api_visibility="private")

    return InsideTab(lambda: (parameter_rows(), residual()), [table, residual_text], start)
