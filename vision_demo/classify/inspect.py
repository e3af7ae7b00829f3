"""Look inside the models: their layers as text, what each strategy trains, the autograd graph, the residual.

    print(model_text(resnet18_model, "frozen"))
    parameter_table()                  # [{model, strategy, trainable, frozen, total}, ...]
    autograd_graph_png(model, "graph.png")
    print(residual_explanation())

    python -c "from vision_demo.classify.inspect import *; print(residual_explanation())"
"""
from __future__ import annotations

from pathlib import Path

from vision_demo.errors import VisionDemoError


def model_text(model, strategy: str | None = None) -> str:
    """`print(model)`, with a first line saying how many weights the strategy trains."""
    from vision_demo.classify.models import count_parameters

    trainable, total = count_parameters(model)
    head = f"{type(model).__name__}: {trainable:,} of {total:,} weights trainable"
    if strategy:
        head += f" ({strategy})"
    return f"{head}\n{model}"


def parameter_table(num_classes: int = 6) -> list[dict]:
    """For every (model, strategy) pair that makes sense: trainable, frozen and total weights.

    Built without downloading anything: counting weights does not need their values.
    """
    from vision_demo.classify.catalog import MODELS, STRATEGIES, model_label
    from vision_demo.classify.models import apply_strategy, build_model, check_strategy, count_parameters

    rows = []
    for name in MODELS:
        for strategy in STRATEGIES:
            try:
                check_strategy(name, strategy)
            except VisionDemoError:
                continue  # simple_cnn has no pretrained weights to freeze or fine-tune
            model, _ = build_model(name, num_classes, pretrained=False)
            apply_strategy(model, name, strategy)
            trainable, total = count_parameters(model)
            rows.append({"model": name, "label": model_label(name, strategy), "strategy": strategy,
                         "trainable": trainable, "frozen": total - trainable, "total": total,
                         "trainable_percent": round(100 * trainable / total, 2)})
    return rows


def autograd_graph_png(model, out_path, img_size: int = 64) -> Path:
    """Draw the graph autograd records for one forward pass (torchviz), rendered to PNG by graphviz.

    Only layers with trainable weights appear with their parameters: for a frozen backbone autograd
    records nothing until the head, which is why feature extraction needs no backward pass through it.
    """
    import torch
    from torchviz import make_dot

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()   # same graph, no BatchNorm statistics updated by this dummy pass
    try:
        x = torch.zeros(1, 3, img_size, img_size)
        y = model(x)
    finally:
        model.train(was_training)
    if y.grad_fn is None:
        raise VisionDemoError("nothing in this model is trainable, so autograd recorded no graph: "
                              "draw it with a strategy that trains something")
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    dot = make_dot(y, params=params)
    try:
        png = dot.pipe(format="png")
    except Exception as err:  # graphviz.ExecutableNotFound when Debian's graphviz (`dot`) is missing
        if type(err).__name__ == "ExecutableNotFound":
            raise VisionDemoError("graphviz's `dot` program is missing: apt-get install graphviz "
                                  "(on Hugging Face Spaces: add graphviz to packages.txt)") from None
        raise
    out_path.write_bytes(png)
    return out_path


def residual_explanation() -> str:
    """Where ResNet's skip connection is in torchvision's code, and why it lets deep networks train."""
    import inspect

    from torchvision.models.resnet import BasicBlock

    source = inspect.getsource(BasicBlock.forward)
    if "out += identity" not in source:  # a future torchvision may spell it differently: say so, don't fail
        source += "\n    # (this torchvision version writes the addition differently; look for `identity` above)\n"
    return (
        "ResNet's residual (skip) connection, torchvision/models/resnet.py, BasicBlock.forward:\n\n"
        f"{source}\n"
        "The line `out += identity` adds the block's input to what its two convolutions computed, so a "
        "block learns only a correction F(x) and outputs F(x) + x. When a block has nothing useful to "
        "add, F(x) = 0 keeps the identity; and in the backward pass the gradient flows through the "
        "addition unchanged (d(F(x) + x)/dx = F'(x) + 1), so it reaches the first layers of an 18- or "
        "152-layer network without vanishing. When the block halves the size or doubles the channels, "
        "`downsample` (a 1x1 convolution with stride 2 + BatchNorm) reshapes the identity so the two can be added."
    )
