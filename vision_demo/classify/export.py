"""Take a trained classifier home: one file that gives the classes in one call, with no vision_demo needed.

    from vision_demo.classify.export import export_classifier
    check = export_classifier("WORK/jobs/<id>", "onnx", out_folder)   # out_folder/model.onnx, model.json, README.md
    check["agreement"]       # 1.0: the same top-1 class as the PyTorch model on every test image checked

What is exported is not the bare network but `TakeHomeModel`: the network with its input preparation and its
softmax inside. It takes what an image decoder gives (uint8 RGB, 0-255, NCHW, at the job's image size) and
returns probabilities. During training the images went through ToTensor (divide by 255) and, for the
pretrained backbones, ImageNet's mean/std: a user of the file would have to repeat exactly that, and the most
common bug when a model "works in the notebook but not in the app" is a forgotten normalization. Inside the
graph it cannot be forgotten.

Formats (each a folder that take_home.py zips into one download; the table is vision_demo/formats.py, which names
each one's writer and runtime below):
- pt: the training checkpoint as saved (a plain dict; torch.load(..., weights_only=True)), for more training;
- torchscript: torch.jit.trace of TakeHomeModel; torch.jit.load() runs it without our model code (torch 2.14
  marks torch.jit.trace deprecated in favour of torch.export, but it still works, and a .pt that torch.jit.load
  opens is what most C++/mobile tutorials still expect);
- onnx: torch.onnx.export with the TorchScript-based exporter (dynamo=False). torch 2.14's default exporter
  (dynamo=True) needs the `onnxscript` package, which is not installed here; the TorchScript-based one
  works offline with what requirements.txt already has, and it is what Ultralytics' ONNX export uses too.
  The batch axis is dynamic: one image or a hundred in one call;
- openvino: the ONNX file converted by openvino.convert_model and saved with fp32 weights (save_model would
  halve them to fp16 by default: smaller, but no longer the same numbers as PyTorch). It must also be COMPILED
  in f32: on a CPU with native bfloat16 (AMX / AVX512_BF16) OpenVINO computes in bf16 unless told otherwise, and
  the hint cannot be stored in the IR (detect/precision.py), so the check and the README's snippet pass
  {"INFERENCE_PRECISION_HINT": "f32"} to compile_model.

Each export is checked before it is handed out: every test image of the job (up to CHECK_IMAGES) goes through
the PyTorch Classifier and through the exported file in its own runtime, and the top-1 classes must agree
(check_parity). The figures land in model.json.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path

from vision_demo.errors import VisionDemoError
from vision_demo.formats import EXPORT_FORMATS, formats_for

CHECK_IMAGES = 64       # test images compared with PyTorch (all of them, up to this many)
PROB_TOL = 1e-3         # largest probability difference we accept; measured here ~1e-6 (float rounding only)
OPSET = 17              # ONNX opset: onnxruntime >= 1.12 and OpenVINO read it


def _torch_module():
    """TakeHomeModel, defined on first use (importing this module must not import torch: the CLI's --help)."""
    import torch
    from torch import nn

    from vision_demo.classify.inputs import IMAGENET_MEAN, IMAGENET_STD

    class TakeHomeModel(nn.Module):
        """uint8 or float RGB in 0..255, (N, 3, S, S) -> class probabilities (N, classes)."""

        def __init__(self, model: nn.Module, normalize: bool):
            super().__init__()
            self.model = model.eval()
            mean = torch.tensor(IMAGENET_MEAN if normalize else (0.0, 0.0, 0.0)).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD if normalize else (1.0, 1.0, 1.0)).view(1, 3, 1, 1)
            self.register_buffer("mean", mean)   # buffers: saved inside the exported graph as constants
            self.register_buffer("std", std)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            x = image.to(torch.float32) / 255.0         # what ToTensor did in training: 0..255 -> 0..1
            x = (x - self.mean) / self.std              # what Normalize did (identity when the job did not)
            return self.model(x).softmax(dim=1)         # (N, classes): probabilities, summing to 1

    return TakeHomeModel


def wrap(classifier):
    """The Classifier's network inside TakeHomeModel (normalization and softmax included), in eval mode."""
    return _torch_module()(classifier.model, classifier.normalize).eval()


def image_input(image, size: int):
    """An image (anything images.load_rgb takes) -> uint8 array (1, 3, size, size): what the exported model takes.

    The resize is the one the job's test images had (torchvision's Resize on a PIL image), so the only
    difference from PyTorch's own input is where the division by 255 happens."""
    import numpy as np
    from torchvision import transforms

    from vision_demo.images import load_rgb

    resized = transforms.Resize((int(size), int(size)))(load_rgb(image))
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)[None])   # HWC -> NCHW


def missing_packages(fmt: str) -> list[str]:
    if fmt not in formats_for("classify"):
        raise VisionDemoError(f"unknown format {fmt!r} for a classification job: choose one of "
                              f"{', '.join(formats_for('classify'))}")
    return [name for name in EXPORT_FORMATS[fmt].needs if importlib.util.find_spec(name) is None]


def _named(ref: str):
    """A table's "module:function" -> the function."""
    module, _, function = ref.partition(":")
    return getattr(importlib.import_module(module), function)


# ---- writing each format -------------------------------------------------------------------------------
def write_torchscript(module, example, folder: Path) -> Path:
    import warnings

    import torch

    path = folder / "model.torchscript.pt"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")   # tracer warnings: shapes frozen into the graph (the size is the job's)
        traced = torch.jit.trace(module, example.float(), check_trace=False)   # float in: a cast is a no-op
    traced.save(str(path))
    return path


def write_onnx(module, example, folder: Path) -> Path:
    import warnings

    import torch

    path = folder / "model.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        # "legacy TorchScript-based exporter" and tracer warnings about shapes frozen into the graph (the image
        # size is fixed by the job): expected here, nothing a user can act on.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=["probabilities"],
                          dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}})
    return path


def write_openvino(module, example, folder: Path) -> Path:
    import openvino as ov

    onnx_path = write_onnx(module, example, folder)
    model = ov.convert_model(str(onnx_path))
    path = folder / "model.xml"
    ov.save_model(model, str(path), compress_to_fp16=False)   # fp32: the same numbers as PyTorch
    onnx_path.unlink()   # the .xml + .bin is the OpenVINO model; the ONNX download is the other format
    return path


# ---- running an export in its own runtime (the check, and what the tests and README do) ----------------
def runtime_predict(path: Path, fmt: str):
    """A function uint8 (N, 3, S, S) array -> probabilities (N, classes) numpy array, in the format's runtime."""
    runtime = EXPORT_FORMATS[fmt].runtime if fmt in EXPORT_FORMATS else ""
    if not runtime:
        raise VisionDemoError(f"no runtime check for {fmt!r}")
    return _named(runtime)(Path(path))


def torchscript_predict(path: Path):
    import torch

    model = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x):
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run


def onnx_predict(path: Path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": x})[0]


def openvino_predict(path: Path):
    import numpy as np
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda x: np.asarray(compiled(x)[0])


def check_parity(classifier, predict, images: list[str]) -> dict:
    """Top-1 agreement and the largest probability difference between PyTorch and `predict` on `images`."""
    import numpy as np
    import torch

    from vision_demo.images import load_rgb

    same, worst, checked = 0, 0.0, 0
    for image in images:
        x = classifier.transform(load_rgb(image)).unsqueeze(0)
        with torch.inference_mode():
            reference = classifier.model(x).softmax(1)[0].numpy()
        exported = np.asarray(predict(image_input(image, classifier.img_size)))[0]
        same += int(reference.argmax() == exported.argmax())
        worst = max(worst, float(np.abs(reference - exported).max()))
        checked += 1
    return {"images": checked, "same_top1": same, "agreement": same / checked if checked else None,
            "max_prob_diff": worst}


# ---- the whole export ----------------------------------------------------------------------------------
README = """# {title}: {fmt} export from vision_demo

Classes ({n}): {classes}
Input: `image`, {dtype} RGB values 0-255, layout NCHW (batch, 3, {size}, {size}); resize your picture to
{size}x{size} first. Division by 255{norm} and the softmax are inside the model: it returns `probabilities`
(batch, {n}), in the order of the classes above (also in model.json).

Checked when exported: the same top-1 class as the PyTorch model on {check}.

```python
{snippet}
```
"""

SNIPPETS = {
    "onnx": """import json, numpy as np, onnxruntime as ort
from PIL import Image
info = json.load(open("model.json"))
session = ort.InferenceSession("model.onnx")
img = Image.open("photo.jpg").convert("RGB").resize((info["input_size"], info["input_size"]))
x = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)[None]       # (1, 3, S, S)
probs = session.run(None, {"image": x})[0][0]
print(info["classes"][probs.argmax()], float(probs.max()))""",
    "torchscript": """import json, numpy as np, torch
from PIL import Image
info = json.load(open("model.json"))
model = torch.jit.load("model.torchscript.pt").eval()
img = Image.open("photo.jpg").convert("RGB").resize((info["input_size"], info["input_size"]))
x = torch.from_numpy(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy())[None]   # (1, 3, S, S)
probs = model(x)[0]
print(info["classes"][int(probs.argmax())], float(probs.max()))""",
    "openvino": """import json, numpy as np, openvino as ov
from PIL import Image
info = json.load(open("model.json"))
# f32: on a CPU with bfloat16 (Intel AMX, AVX512_BF16) OpenVINO would otherwise compute in bf16 (~2 digits)
model = ov.Core().compile_model("model.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
img = Image.open("photo.jpg").convert("RGB").resize((info["input_size"], info["input_size"]))
x = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)[None]       # (1, 3, S, S)
probs = model(x)[0][0]
print(info["classes"][probs.argmax()], float(probs.max()))""",
    "pt": """import torch
ckpt = torch.load("model.pt", map_location="cpu", weights_only=True)   # a plain dict, no code runs
print(ckpt["model"], ckpt["classes"], ckpt["img_size"], ckpt["normalize"])
# ckpt["state_dict"] loads into the same architecture: vision_demo.classify.models.build_model(ckpt["model"], ...)
# or simply: from vision_demo.classify.predict import load_classifier; load_classifier("model.pt").predict("photo.jpg")""",
}


def export_classifier(checkpoint, fmt: str, folder, progress=lambda fraction, message: None) -> dict:
    """Write `fmt` of the job whose checkpoint (or job folder) is given into `folder` (model file, model.json,
    README.md), check it against PyTorch on the job's test images, and return model.json's content.
    VisionDemoError when a package is missing or the export disagrees with PyTorch."""
    import torch

    from vision_demo.classify.predict import load_classifier

    missing = missing_packages(fmt)
    if missing:
        raise VisionDemoError(f"{fmt} export needs {' and '.join(missing)}: pip install {' '.join(missing)}")
    folder = Path(folder)
    started = time.perf_counter()
    progress(0.05, "loading the checkpoint")
    classifier = load_classifier(checkpoint)
    ckpt_path = Path(classifier.info["checkpoint"])
    test_images = _test_images(ckpt_path.parent)
    info = {"format": fmt, "model": classifier.info["model"], "strategy": classifier.info["strategy"],
            "classes": classifier.classes, "input_size": classifier.img_size, "input_name": "image",
            "input_layout": "NCHW", "input_color": "RGB", "input_range": "0-255",
            "input_dtype": "float32 or uint8" if fmt == "torchscript" else "uint8",
            "normalization_inside": "ImageNet mean/std" if classifier.normalize else "none (the job trained without)",
            "output": "probabilities (softmax), one per class in the order of `classes`"}
    if not EXPORT_FORMATS[fmt].writer:   # pt: the checkpoint itself
        shutil.copyfile(ckpt_path, folder / "model.pt")
        check = {"images": 0, "same_top1": 0, "agreement": None, "max_prob_diff": None,
                 "note": "the training checkpoint itself: nothing was converted"}
    else:
        module = wrap(classifier)
        example = torch.zeros(1, 3, classifier.img_size, classifier.img_size, dtype=torch.uint8)
        if not test_images:
            raise VisionDemoError("the job's test images are gone, so an export cannot be checked: train it again")
        progress(0.2, f"tracing the network into a static {classifier.img_size} px graph for {fmt}")
        writer = _named(EXPORT_FORMATS[fmt].writer)
        try:
            path = writer(module, example, folder)
        except Exception as err:   # tracer / converter failures come in many types: one line for a person
            raise VisionDemoError(f"{fmt} export of {info['model']} failed ({type(err).__name__}: "
                                  f"{str(err).splitlines()[0][:200] if str(err) else ''})") from err
        progress(0.6, f"checking {fmt} against PyTorch on {len(test_images)} test images")
        check = check_parity(classifier, runtime_predict(path, fmt), test_images)
        if check["same_top1"] < check["images"] or check["max_prob_diff"] > PROB_TOL:
            raise VisionDemoError(f"the {fmt} export disagrees with PyTorch: same top-1 on {check['same_top1']} of "
                                  f"{check['images']} test images, probabilities up to {check['max_prob_diff']:.2g} "
                                  "apart; it was not kept")
    info["check"] = dict(check, seconds=round(time.perf_counter() - started, 2))
    (folder / "model.json").write_text(json.dumps(info, indent=1))
    (folder / "README.md").write_text(_readme(info))
    return info


def _test_images(job_folder: Path) -> list[str]:
    """The job's test images that still exist (from its result.json), at most CHECK_IMAGES."""
    try:
        result = json.loads((job_folder / "result.json").read_text())
    except (OSError, ValueError):
        return []
    paths = [p["path"] for p in result.get("test_predictions") or result.get("predictions") or []]
    return [p for p in paths if Path(p).is_file()][:CHECK_IMAGES]


def _readme(info: dict) -> str:
    check = info["check"]
    checked = (f"{check['same_top1']} of {check['images']} test images (probabilities at most "
               f"{check['max_prob_diff']:.1g} apart)" if check.get("images") else "nothing: this is the checkpoint itself")
    return README.format(title=f"{info['model']} · {info['strategy']}", fmt=info["format"], n=len(info["classes"]),
                         classes=", ".join(info["classes"]), dtype=info["input_dtype"], size=info["input_size"],
                         norm=", ImageNet's mean/std" if info["normalization_inside"].startswith("ImageNet") else "",
                         check=checked, snippet=SNIPPETS[info["format"]])
