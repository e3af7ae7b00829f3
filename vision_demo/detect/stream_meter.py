"""Frames per second and how often to redraw the text, per webcam stream (the Detect tab's latency line).

    meter = StreamMeter()
    fps = meter.tick(session)          # after each answered frame
    if meter.text_due(session): ...    # at most twice a second: the table and the latency line
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


class StreamMeter:
    """Frames per second and staleness per webcam stream (keyed by the browser session), for the latency line.

    fps counts the answers of the last 2 s; staleness is how old a frame is when its boxes leave the server
    (decode + model + drawing: the part the server controls; the browser's capture and upload add to it)."""

    WINDOW_S = 2.0
    MAX_STREAMS = 256   # sessions remembered (oldest forgotten first)

    TEXT_EVERY_S = 0.5   # the table and the latency line change at most twice a second: redrawing them per
                         # frame costs the browser as much as showing the frame, on the same cores as the model

    def __init__(self):
        self._lock = threading.Lock()
        self._times: OrderedDict[str, deque] = OrderedDict()
        self._text_sent: dict[str, float] = {}

    def text_due(self, session: str) -> bool:
        """True at most every TEXT_EVERY_S per stream: time to send the table and latency line again."""
        now = time.perf_counter()
        with self._lock:
            if now - self._text_sent.get(session, -1e9) < self.TEXT_EVERY_S:
                return False
            if len(self._text_sent) > self.MAX_STREAMS:
                self._text_sent.clear()
            self._text_sent[session] = now
            return True

    def tick(self, session: str) -> float:
        now = time.perf_counter()
        with self._lock:
            times = self._times.pop(session, None) or deque(maxlen=64)
            times.append(now)
            self._times[session] = times
            while len(self._times) > self.MAX_STREAMS:
                self._times.popitem(last=False)
            while times and now - times[0] > self.WINDOW_S:
                times.popleft()
            if len(times) < 2:
                return 0.0
            return (len(times) - 1) / (times[-1] - times[0])
