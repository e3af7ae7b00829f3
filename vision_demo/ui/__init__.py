"""The Gradio app: one module per tab, `job_view` renders job snapshots, `app.build_demo()` puts them together.

    from vision_demo.ui.app import build_demo
    build_demo().launch()

Only this package (and app.py) imports gradio; torch and ultralytics are imported on first use.
Importing it points Gradio's upload folder into the work folder (unless GRADIO_TEMP_DIR is set):
nothing a user uploads is written outside it. It also makes Gradio's image cache write atomically
(gradio_cache.py: viewers who get the same picture at once share one file), and caps glibc's malloc
arenas for this server process (see _fewer_malloc_arenas).
"""
import ctypes
import os

from vision_demo import settings


def _fewer_malloc_arenas(arenas: int = 2) -> None:
    """A web server answers from dozens of threads (Gradio's pool holds up to 40), and glibc gives each busy
    thread its own heap ("arena", up to 8 per core): memory freed in one is not reused by another, so the
    process grows with every burst of viewers. Measured with benchmarks/bench_soak.py (8 clients x 10
    detects per round): +53, +86, +28 MB per round by default, +27, +10, +33 MB with 2 arenas.
    Same as MALLOC_ARENA_MAX=2, set from inside (mallopt M_ARENA_MAX = -8); a user's own variable wins."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        pass

os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.subdir("gradio")))
_fewer_malloc_arenas()

from vision_demo.ui import gradio_cache  # noqa: E402  (after GRADIO_TEMP_DIR: gradio reads it at import)

gradio_cache.install()
