"""Every export format and detection runtime, in one table each: the CLI, the UI and the take-home zip read them.

    from vision_demo.formats import EXPORT_FORMATS, formats_for, DETECT_RUNTIMES
    formats_for("detect")                    # ("pt", "onnx", "openvino"): what a detection job downloads as
    EXPORT_FORMATS["onnx"].label             # "ONNX (onnxruntime)": the download picker
    DETECT_RUNTIMES["openvino-int8"].needs   # ("openvino", "nncf"): packages for exporting and running it

No torch and no vision_demo feature here (the CLI's --help and the page's pickers read it while they start):
writers and runtimes are named "module:function", imported on first use, the way the catalogue names builders.

Adding a take-home format is one ExportFormat entry, plus its own code where a writer is needed: a classifier's
writer, its runtime (the check against PyTorch and the tests) and its README snippet in classify/export.py. A
detection job's files are Ultralytics' exports of a detection runtime (detect/export.py): a format of both kinds
names a runtime of DETECT_RUNTIMES. Adding a detection runtime Ultralytics can export is one DetectRuntime entry.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str                   # what --format, the API and the zip's name say: "onnx"
    label: str                  # what the download picker says
    kinds: tuple[str, ...]      # the jobs that download in it: "classify" (classify/export.py), "detect" (Ultralytics)
    needs: tuple[str, ...] = ()  # packages beyond torch a classifier's export needs (import names)
    writer: str = ""            # classification: "module:function" (TakeHomeModel, example, folder) -> the model
                                #   file; "" = the checkpoint itself is the file
    runtime: str = ""           # classification: "module:function" path -> predict(uint8 NCHW) -> probabilities,
                                #   what checks the file against PyTorch ("" = nothing converted, nothing to check)


_EXPORTS = "vision_demo.classify.export"
_EXPORT_FORMATS = (
    ExportFormat("pt", "PyTorch weights (.pt)", ("classify", "detect")),
    ExportFormat("torchscript", "TorchScript (torch.jit)", ("classify",),
                 writer=f"{_EXPORTS}:write_torchscript", runtime=f"{_EXPORTS}:torchscript_predict"),
    ExportFormat("onnx", "ONNX (onnxruntime)", ("classify", "detect"), needs=("onnx", "onnxruntime"),
                 writer=f"{_EXPORTS}:write_onnx", runtime=f"{_EXPORTS}:onnx_predict"),
    ExportFormat("openvino", "OpenVINO (fast on a CPU)", ("classify", "detect"), needs=("onnx", "openvino"),
                 writer=f"{_EXPORTS}:write_openvino", runtime=f"{_EXPORTS}:openvino_predict"),
)
EXPORT_FORMATS: dict[str, ExportFormat] = {f.name: f for f in _EXPORT_FORMATS}


def formats_for(kind: str) -> tuple[str, ...]:
    """The formats a job of this kind downloads in, in the table's order."""
    return tuple(f.name for f in EXPORT_FORMATS.values() if kind in f.kinds)


def all_formats() -> tuple[str, ...]:
    """Every take-home format, of any kind (the CLI's --format)."""
    return tuple(EXPORT_FORMATS)


@dataclass(frozen=True)
class DetectRuntime:
    name: str                   # what --runtime, the Detect tab and the export folders say
    label: str                  # what the Detect tab's runtime picker says
    needs: tuple[str, ...] = ()  # packages at export AND at inference (YOLO_AUTOINSTALL stays off)
    arithmetic: str = "f32"     # what it computes in (the runtime line names it)
    tolerance: tuple[float, float] | None = None   # (IoU min, confidence tolerance) of its check; None: the float ones
    exporter: str = ""          # Ultralytics' export(format=...); "" : not an export (auto picks one, torch runs the .pt)
    output: str = ""            # what that export writes beside model.pt: the file or folder YOLO() loads
    compile_hint: str = ""      # OpenVINO's INFERENCE_PRECISION_HINT for its float layers (detect/precision.py); "": none

    @property
    def exported(self) -> bool:
        return bool(self.exporter)


# INT8 rounds every weight and activation to 256 levels: a weak box's edges move a few pixels more than
# float rounding moves them (measured on bus.jpg at 320x256: IoU 0.82 with torch's twin). bf16 keeps f32's range
# but only 8 bits of mantissa (~2 decimal digits) in every layer (benchmarks/bench_precision.py measures both).
# Exported ones fastest first: auto serves the first one whose export is ready and checked. openvino-bf16 only
# where the CPU computes bfloat16 natively (AMX / AVX512_BF16; detect/precision.py).
_DETECT_RUNTIMES = (
    DetectRuntime("auto", "auto (fastest ready)"),
    DetectRuntime("torch", "torch"),
    DetectRuntime("openvino-int8", "OpenVINO INT8", ("openvino", "nncf"), "int8", tolerance=(0.75, 0.1),
                  exporter="openvino", output="model_int8_openvino_model", compile_hint="f32"),   # (calibration: detect/export.py)
    DetectRuntime("openvino-bf16", "OpenVINO bf16", ("openvino",), "bf16", tolerance=(0.75, 0.1),
                  exporter="openvino", output="model_openvino_model", compile_hint="bf16"),
    DetectRuntime("openvino", "OpenVINO f32", ("openvino",), exporter="openvino", output="model_openvino_model",
                  compile_hint="f32"),
    DetectRuntime("onnx", "ONNX Runtime", ("onnx", "onnxruntime"), exporter="onnx", output="model.onnx"),
)
DETECT_RUNTIMES: dict[str, DetectRuntime] = {r.name: r for r in _DETECT_RUNTIMES}
