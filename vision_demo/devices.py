"""Where tensors live: CUDA when present, then Apple's MPS, else the CPU; and what to do when memory runs out.

    device = pick_device()            # torch.device("cuda") on a GPU machine
    loader = DataLoader(..., pin_memory=device.type == "cuda")
    x = x.to(device, non_blocking=True)  # overlaps the copy with compute when memory is pinned
"""
from __future__ import annotations

import contextlib
import os

# The lesson's advice when a GPU runs out of memory, in the order to try it.
OOM_ADVICE = ("out of memory on the GPU: halve the batch size and try again; "
              "if it still does not fit, lower the image size")


def pick_device(preferred: str | None = None):
    """`preferred` may be "cpu", "cuda", "cuda:1", "mps"; None picks the fastest one present."""
    import torch

    preferred = preferred or os.environ.get("VISION_DEMO_DEVICE") or None
    if preferred:
        if preferred.startswith("cuda") and not torch.cuda.is_available():
            from vision_demo.errors import VisionDemoError
            raise VisionDemoError(f"device {preferred!r} asked for, but this machine has no CUDA GPU: use --device cpu")
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_threads() -> int:
    """Threads torch should run on the CPU: OMP_NUM_THREADS (settings.configure sets it to the cores this
    process may use, unless the user set it), else those cores."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return usable_cores()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:   # macOS, Windows
        return os.cpu_count() or 1


def use_all_cores() -> int:
    """Give torch its cpu_threads() back, and return them.

    Ultralytics' select_device(), run whenever it loads a model to predict or train, calls
    torch.set_num_threads(cores - 1) for the whole process: one thread on a 2-core laptop. After the app had
    drawn one box, every training job in it ran on one core (ResNet-18 from scratch 20-22 s instead of 13 s
    from the CLI). So training calls this at its start and each epoch, and detection after each prediction.
    """
    import torch

    n = cpu_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def is_oom(err: BaseException) -> bool:
    """True for a CUDA (or MPS) out-of-memory error."""
    import torch

    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


@contextlib.contextmanager
def oom_as_advice(extra: str = ""):
    """Turn a GPU out-of-memory error inside the block into VisionDemoError(OOM_ADVICE + extra): the lesson's
    advice (halve the batch, then the image size) instead of a CUDA traceback. Other errors pass unchanged.

        with oom_as_advice(" (for detection: lower imgsz)"):
            model.predict(...)
    """
    try:
        yield
    except RuntimeError as err:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not is_oom(err):
            raise
        empty_cache()
        from vision_demo.errors import VisionDemoError
        raise VisionDemoError(OOM_ADVICE + extra) from None


def empty_cache() -> None:
    """Give cached GPU memory back to the driver (between jobs, after an OOM)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:  # never imported: nothing to free
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if getattr(torch, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def peak_memory_mb(device) -> float | None:
    """Peak memory allocated on a CUDA device since the last reset, in MB; None elsewhere."""
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def reset_peak_memory(device) -> None:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
