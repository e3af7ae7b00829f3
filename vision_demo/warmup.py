"""The app's warm-up: what the first visitor would otherwise wait for, done in a background thread at start.

    from vision_demo.warmup import WARMUP
    WARMUP.start(export_sizes=((256, 320), 640))   # draw the default scenes, load the detector, export it
    WARMUP.state, WARMUP.text()             # "loading" | "ready" | "failed", and a sentence for the page
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Warmup:
    """In a background thread at start: draws the default scenes (the Data tab's first view) and loads the
    default detector, so the first visitor waits for neither."""

    def __init__(self):
        self.state, self.seconds, self.error = "not started", None, None
        self.export_sizes: tuple = ()
        self._thread: threading.Thread | None = None

    def start(self, export_sizes: tuple[int, ...] = (320, 640)) -> None:
        """Start once (later calls do nothing); export_sizes: the detector input sizes to export for a fast
        runtime (a square's side, or an input shape (h, w) such as the webcam's 256x320)."""
        if self._thread is None:
            self.export_sizes = tuple(export_sizes)
            self._thread = threading.Thread(target=self._run, name="detector-warmup", daemon=True)
            self.state = "loading"
            self._thread.start()

    def _run(self) -> None:
        from vision_demo.errors import VisionDemoError

        start = time.perf_counter()
        try:
            from vision_demo.datasets.scenes import default_scenes
            from vision_demo.detect.detector import get_detector

            default_scenes()  # cached in WORK after the first start; thread-safe with the Data tab's own call
            detector = get_detector()
            for size in self.export_sizes:   # the fast runtime for the webcam's and the images' sizes
                detector.engine("auto", size)  # starts its export job (background) if not on disk
        except VisionDemoError as err:
            self.state, self.error = "failed", str(err)
            return
        except Exception as err:  # a bug: logged whole; the first real request will show its own error
            log.exception("warm-up failed")
            self.state, self.error = "failed", f"{type(err).__name__}: {err}"
            return
        self.state, self.seconds = "ready", time.perf_counter() - start
        # Then see the exports through, here in the background: one that fails its check (INT8 on some model
        # and size) is followed by the next runtime, which no request at that size might otherwise start.
        for size in self.export_sizes:
            try:
                detector.engine("auto", size, wait=True)
            except Exception:  # the Detect tab's runtime line says what failed; the app goes on with torch
                log.exception("export at %s failed", size)

    def text(self) -> str:
        if self.state == "ready":
            return f"Person detector ready (warm-up in the background took {self.seconds:.1f} s)."
        if self.state == "failed":
            return f"The bundled detector could not be loaded: {self.error}"
        if self.state == "loading":
            return "Loading the person detector in the background… the first detection may wait a few seconds."
        return "The detector loads on the first detection (a few seconds)."


WARMUP = Warmup()
