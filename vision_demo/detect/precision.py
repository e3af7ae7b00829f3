"""Which arithmetic an OpenVINO model really runs in: chosen on purpose, and read back from the compiled model.

    from vision_demo.detect.precision import PRECISION, cpu_has_bf16, pin_precision
    model = YOLO("model_openvino_model", task="detect"); model.predict(frame)   # Ultralytics compiles it
    pin_precision(model, "model_openvino_model", PRECISION["openvino"])   # -> "f32": recompiled, and read back

Why: a float model's weights are 32-bit floats (f32: 24 bits of mantissa). A CPU with native bfloat16 (Intel
AMX or AVX512_BF16; `lscpu` flags amx_bf16 / avx512_bf16) multiplies 16-bit "brain floats" (8 exponent bits, like
f32, but 8 bits of mantissa) several times faster, and on such a CPU OpenVINO's CPU plugin runs an f32 model in
bf16 unless it is told otherwise (INFERENCE_PRECISION_HINT defaults to bf16 there, to f32 elsewhere). Measured on
this project's AMX CPU: a ResNet-18 at 96 px is 3e-3 away from torch's logits by default, 5e-7 with the f32 hint;
the bundled detector's weaker boxes move (IoU 0.79 with torch's twin). So each runtime says what it runs in:

- "openvino": f32, what "float" promises (the same boxes as torch within float rounding);
- "openvino-bf16": the same IR compiled in bf16, its own runtime, offered only where the CPU does bf16 natively,
  checked against torch with a looser tolerance (export.TOLERANCE), like INT8;
- "openvino-int8": the quantized layers run in 8-bit integers; what was left in float (the Detect head's decode)
  in f32, so that INT8's boxes do not depend on which CPU rounds the rest.

The hint cannot travel inside the IR (checked with OpenVINO 2026.4: `rt_info` runtime_options /
INFERENCE_PRECISION_HINT is ignored by compile_model), and Ultralytics' OpenVINO loader compiles with no hint, so
`pin_precision` recompiles its model with one and reads INFERENCE_PRECISION_HINT back from the compiled model: a
loader that changed under us fails loudly instead of quietly running another precision.
"""
from __future__ import annotations

import functools
from functools import partial
from pathlib import Path

from vision_demo.formats import DETECT_RUNTIMES

# runtime -> the INFERENCE_PRECISION_HINT its float layers are compiled with (OpenVINO's own names), from the table
PRECISION = {r.name: r.compile_hint for r in DETECT_RUNTIMES.values() if r.compile_hint}
# the CPU flags that decide how fast each precision runs (the bench prints them): VNNI multiplies int8 several at a
# time, AVX512_BF16 / AMX multiply bf16 (AMX: whole tiles of int8 or bf16 at once)
CPU_FLAGS = ("avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


def precision_name(value) -> str:
    """'f32' / 'bf16' / 'f16' for OpenVINO's Type objects or strings ("<Type: 'bfloat16'>", "bf16", "f32")."""
    text = str(value).lower()
    for name, words in (("bf16", ("bf16", "bfloat16")), ("f16", ("f16", "float16")), ("f32", ("f32", "float32"))):
        if any(word in text for word in words):
            return name
    return text


def cpu_flags() -> list[str]:
    """Which of CPU_FLAGS this CPU has (Linux's /proc/cpuinfo; none where it cannot be read)."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in CPU_FLAGS if flag in words]


@functools.cache
def cpu_has_bf16() -> bool:
    """True when OpenVINO's CPU plugin computes bf16 natively here (what makes openvino-bf16 worth offering)."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def compiled_precision(compiled) -> str:
    """What an ov.CompiledModel actually runs its float layers in."""
    return precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))


def _backend(model):
    """Ultralytics' OpenVINO backend inside a YOLO model that has predicted once (8.4: predictor.model.backend)."""
    auto = getattr(getattr(model, "predictor", None), "model", None)
    backend = getattr(auto, "backend", None)
    if backend is None or not hasattr(backend, "ov_compiled_model") or not hasattr(backend, "compile_model"):
        raise RuntimeError("this Ultralytics version keeps its OpenVINO model elsewhere: cannot set its precision")
    return backend


def pin_precision(model, folder, precision: str) -> str:
    """Recompile a loaded Ultralytics OpenVINO model (one predict() done) from its IR in `folder` with
    INFERENCE_PRECISION_HINT=precision; return the precision the compiled model reports (raises when it is not
    the one asked for)."""
    backend = _backend(model)
    if compiled_precision(backend.ov_compiled_model) != precision:
        folder = Path(folder)
        xml = folder if folder.suffix == ".xml" else next(folder.glob("*.xml"))
        config = {**backend.compile_model.keywords.get("config", {}), "INFERENCE_PRECISION_HINT": precision}
        backend.compile_model = partial(backend.compile_model, config=config)   # a later recompile keeps the hint
        backend.ov_compiled_model = backend.compile_model(backend.ov.Core().read_model(str(xml)))
    got = compiled_precision(backend.ov_compiled_model)
    if got != precision:
        raise RuntimeError(f"OpenVINO compiled the model in {got}, not the {precision} asked for")
    return got
