"""One fix to Gradio 6.31's output cache: write each cached image atomically.

Gradio names a returned image by the hash of its bytes and rewrites that file on every call
(`processing_utils.save_pil_to_cache`: open, truncate, write). Two viewers who get the same picture (the
same example photo through /detect, eight students at once) share one file, so one request truncates
it while the server streams it to another: measured in benchmarks/bench_soak.py, 1 call in 80 failed
with "peer closed connection ... received 0 bytes, expected 185014". Here the bytes go to a temporary
file in the same folder and os.replace() puts it in place: a reader has the old file or the new one,
never half of one; an identical file already there is left alone.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio import processing_utils


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    target = (folder / f"{name}.{format}").resolve()
    try:
        if target.stat().st_size == len(data):
            return str(target)   # the same bytes (the name is their hash): nothing to write
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


def install() -> None:
    """Replace Gradio's function (idempotent); image_utils and save_img_array_to_cache look it up by name."""
    processing_utils.save_pil_to_cache = save_pil_to_cache
