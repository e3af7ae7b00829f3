"""The CLI's listener: one line per epoch, a progress line at most every few seconds; and the wait for jobs.

    with printing(registry, job_ids):
        states = wait_for(registry, job_ids)    # Ctrl-C cancels them cleanly
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from vision_demo.jobs import Event, JobRegistry

_SKIP = {"epoch", "seconds", "message"}


def _fmt(value, key: str = "") -> str:
    if isinstance(value, float) and key.endswith("acc"):
        return f"{value:.1%}"       # accuracies as the app and the tables show them: 75.0%, not 0.75
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Printer:
    def __init__(self, registry: JobRegistry, job_ids: list[str] | None = None, every: float = 5.0, stream=None):
        self.registry, self.job_ids, self.every, self.stream = registry, job_ids, every, stream
        self._last_progress = 0.0

    def __call__(self, event: Event) -> None:
        if self.job_ids is not None and event.job_id not in self.job_ids:
            return
        name = self.registry.get(event.job_id).name
        d = event.data
        if event.type == "progress":
            now = time.monotonic()
            if now - self._last_progress < self.every:
                return
            self._last_progress = now
            percent = f"{100 * d.get('fraction', 0.0):.0f}%"
            line = f"  {name} | {d.get('message') or percent}"
        elif event.type == "epoch_end":
            metrics = " ".join(f"{k} {_fmt(v, k)}" for k, v in d.items() if k not in _SKIP and not isinstance(v, (list, dict)))
            line = f"{name} | epoch {d.get('epoch')} | {metrics} | {_fmt(d.get('seconds', 0.0))} s"
        elif event.type == "failed":
            line = f"{name} | FAILED: {d.get('error')}"
        else:
            message = d.get("message")   # "started" / "finished" say it all; a message that repeats them adds nothing
            line = f"{name} | {event.type}" + (f": {message}" if message and message != event.type else "")
        print(line, file=self.stream or sys.stdout, flush=True)  # resolved now: capsys/redirects see it


@contextlib.contextmanager
def printing(registry: JobRegistry, job_ids: list[str] | None = None, every: float = 5.0):
    listener = registry.add_listener(Printer(registry, job_ids, every))
    try:
        yield listener
    finally:
        registry.remove_listener(listener)


def wait_for(registry: JobRegistry, job_ids: list[str]) -> list:
    """Wait for the jobs and return their states; on Ctrl-C cancel them (the running one stops within a batch),
    say so, and re-raise."""
    try:
        for job_id in job_ids:
            while not registry.wait(job_id, timeout=0.5).done:  # short waits keep Ctrl-C responsive
                pass
    except KeyboardInterrupt:
        for job_id in job_ids:
            registry.cancel(job_id)
        for job_id in job_ids:
            registry.wait(job_id, timeout=60)
        print("cancelled: " + ", ".join(f"{s.name} ({s.status})" for s in registry.snapshot(job_ids)), file=sys.stderr)
        raise
    return registry.snapshot(job_ids)


def run_one(registry: JobRegistry, job_id: str, what: str):
    """Print one job's progress until it ends, then shut the registry down (cancelling anything left). The
    finished job's state; None, after one line on stderr (`what` and how it ended), when it did not finish."""
    try:
        with printing(registry, [job_id]):
            wait_for(registry, [job_id])
    finally:
        registry.shutdown(cancel=True, timeout=5)
    state = registry.get(job_id)
    if state.status != "finished":
        print(f"{what} {state.status}: {state.error or state.message}", file=sys.stderr)
        return None
    return state


def write_result(state, out: Path | None = None, **extra) -> Path:
    """OUT/result.json (the job's own folder without --out): id, name, `extra`, config and the job's result."""
    target = (out or Path(state.out_dir)) / "result.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"job_id": state.id, "name": state.name, **extra, "config": state.config,
                                  **state.result}, indent=1))
    return target
