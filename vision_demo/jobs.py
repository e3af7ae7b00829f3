"""One job system for every long piece of work: classification training, YOLO training, and the rest.

A job is a plain function `fn(ctx) -> dict` run in a background thread. It reports through
events; it never knows who listens (the UI's live plots, the CLI's printer and the tests are
all listeners). The vocabulary, in the order a job goes through it:

    queued -> started -> progress* / epoch_end* -> finished | failed | cancelled

Three separate things, as in transformers' Trainer:
- `JobState`: a JSON-serialisable dataclass (status, epoch, history, result, message),
  saved atomically to WORK/jobs/<id>/state.json so results survive a reload and a restart;
- `JobContext.control`: a stop flag, the only thing anyone outside writes into a running job;
- listeners: plain functions `listener(event)` added with `registry.add_listener`.

    registry = JobRegistry(settings.subdir("jobs"), max_concurrent=1)
    job_id = registry.submit("classify", "ResNet-18 · scratch", config, epochs=4)   # run by its kind's runner
    job_id = registry.submit("export", "ONNX download", {}, lambda ctx: {...})       # a local function
    registry.wait(job_id).result["test_acc"]

Kinds: a job is (kind, config) alone. `KINDS` names each kind's runner as "module:function" (the way the
catalogue names builders), imported on first use: `runner(config) -> JobFn` turns the plain JSON config back
into the job function when the job starts (and again after a restart), so nothing but the kind and the config
has to reach whoever runs it. The job system imports no feature: the features import it. A genuinely local
job (an export of a file in this process) still passes its own function.

The queue is first come, first served, with one exception for a shared server: jobs of visitors
(`owner="<address>"`) wait behind those of the server itself (`owner=None`: the teacher's browser, the
CLI), so a class queueing jobs never starves the teacher's demonstration. `registry.active(owner=...)`
counts a visitor's queued and running jobs, for a per-visitor limit.

Where a job runs is the registry's executor: `LocalExecutor` (the default) calls the job function in the worker
thread, as above; `vision_demo.jobs_ray.RayExecutor` sends (kind, config, out_dir) to a Ray cluster and replays
the events that come back into this registry, which stays the only writer of state.json and result.json and
keeps the queue, the priorities and the limits. `make_executor("local" | "ray:HOST:PORT" | "ray:auto")` picks
one (--executor, VISION_DEMO_EXECUTOR); nothing on the local path imports Ray.

Restart: a job that was running when the process died is marked failed ("interrupted"); jobs still
queued stay queued and run again after `registry.resume()`, through the runner of their kind.
"""
from __future__ import annotations

import atexit
import copy
import dataclasses
import gc
import itertools
import json
import logging
import os
import queue
import socket
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from importlib import import_module
from typing import Any, Callable

from vision_demo.errors import JobCancelled, VisionDemoError

log = logging.getLogger(__name__)

EVENTS = ("queued", "started", "progress", "epoch_end", "finished", "failed", "cancelled")
TERMINAL = ("finished", "failed", "cancelled")


@dataclass
class Event:
    job_id: str
    type: str                 # one of EVENTS
    data: dict[str, Any]
    time: float = field(default_factory=time.time)


@dataclass
class JobState:
    id: str
    kind: str                 # "classify", "detect", ...
    name: str                 # what a person reads: "ResNet-18 · scratch"
    config: dict[str, Any]
    out_dir: str              # where the job writes result.json, weights, images
    status: str = "queued"    # queued | running | finished | failed | cancelled
    progress: float = 0.0     # 0..1 over the whole job
    message: str = ""         # the latest one-line progress text
    epoch: int = 0
    epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per epoch_end
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    owner: str | None = None  # None: the server itself (its own browser, the CLI); else a visitor's address
    depends_on: list[str] = field(default_factory=list)   # jobs that must finish first (a fine-tune: its frozen run)
    where: str = ""           # where it runs, for the progress table: "" here, else "node-3 · GPU 0" (an executor's)
    # [time, progress] where the job's speed is measured from (job_view.time_left): its first progress past 0 (the
    # set-up before it, loading the data, building the model, Ultralytics' dataset scan, is paid once), then the
    # end of its first epoch (which pays once more: Ultralytics plots its first batches and scans the val set).
    speed_marks: list[list[float]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobState":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class JobControl:
    """The stop flag. Set by `registry.cancel`; read by the job between batches."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()


PROGRESS_EVERY = 0.5   # seconds between a job's progress events: a few a second is all a person can read


class JobContext:
    """What a running job gets: where to write, how to report, whether to stop."""

    def __init__(self, registry: "JobRegistry", state: JobState, control: JobControl):
        self._registry = registry
        self.job_id = state.id
        self.out_dir = Path(state.out_dir)
        self.config = state.config
        self.control = control
        self._last_progress = 0.0

    def emit(self, type: str, **data: Any) -> None:
        """Report `progress` (fraction=, message=, ...) or `epoch_end` (epoch=, any metrics ...)."""
        if type not in ("progress", "epoch_end"):
            raise ValueError(f"a job may emit 'progress' or 'epoch_end', not {type!r} (the registry emits the rest)")
        self._registry._emit(self.job_id, type, data)

    def progress_due(self) -> bool:
        """True when PROGRESS_EVERY seconds passed since the last progress() that was sent."""
        return time.monotonic() - self._last_progress >= PROGRESS_EVERY

    def progress(self, fraction: float | None = None, message: str | None = None, epoch: int | None = None,
                 force: bool = False) -> bool:
        """A progress event, at most every PROGRESS_EVERY seconds unless `force` (the last batch of an epoch,
        a new phase): training loops call it every batch, listeners get a few a second. True if it was sent."""
        if not force and not self.progress_due():
            return False
        self._last_progress = time.monotonic()
        data: dict[str, Any] = {}
        if fraction is not None:
            data["fraction"] = min(max(float(fraction), 0.0), 1.0)
        if message is not None:
            data["message"] = message
        if epoch is not None:
            data["epoch"] = int(epoch)
        self.emit("progress", **data)
        return True

    def get(self, job_id: str) -> JobState:
        """A copy of another job's state (KeyError if there is none): what a job may read of the others, e.g. a
        fine-tune the folder of its frozen run. Anything with this `get` stands for the registry in a lookup."""
        return self._registry.get(job_id)

    def check_stop(self) -> None:
        """Call between batches: raises JobCancelled when a stop was requested."""
        if self.control.stop_requested:
            raise JobCancelled()

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested


JobFn = Callable[[JobContext], dict]
Runner = Callable[[dict[str, Any]], JobFn]   # a kind's runner: the saved config -> the job function
Listener = Callable[[Event], None]

# Every kind that runs from (kind, config) alone. "captured" (a student's webcam classes) is classification
# kept off the Train & compare tab.
KINDS: dict[str, str] = {
    "classify": "vision_demo.classify.train:job_from_config",
    "captured": "vision_demo.classify.train:job_from_config",
    "detect": "vision_demo.detect.train:job_from_config",
    "probe": "vision_demo.classify.probe:job_from_config",   # the Inside tab's linear probe
}


def load_runner(name: str) -> Runner:
    """"module:function" -> the function (the module is imported now, on first use of its kind)."""
    module, _, function = name.partition(":")
    return getattr(import_module(module), function)


class LocalExecutor:
    """Where a job runs by default: its function is called in the registry's worker thread, in this process."""

    name = "local"

    def capacity(self, default: int) -> int:
        """How many jobs may run at once: the registry's own `max_concurrent` here."""
        return default

    def check_storage(self, root: Path) -> None:
        """Nothing to check: the job folder is on this machine."""

    def run(self, registry: "JobRegistry", state: JobState, ctx: JobContext, fn: JobFn | None) -> dict | None:
        if fn is not None:   # a function of this process (an export, a test's): run as it is
            return fn(ctx)
        # (kind, config): made here, from the saved config, as another process would
        result = registry.runner(state.kind)(copy.deepcopy(state.config))(ctx)
        if isinstance(result, dict):   # where it ran, as a Ray job's result says it (result.json)
            result = {**result, "ran_on": {"executor": self.name, "node": socket.gethostname(), "pid": os.getpid(),
                                           "device": str(result.get("device") or "cpu")}}
        return result


def make_executor(spec: str | None = None, job_cpus: float | None = None, job_gpus: float | None = None):
    """"local" (the default) -> LocalExecutor(); "ray:HOST:PORT" or "ray:auto" -> a RayExecutor (imported only
    then: a laptop never loads Ray). spec, job_cpus, job_gpus default to the settings (--executor, --job-cpus,
    --job-gpus; VISION_DEMO_EXECUTOR, VISION_DEMO_JOB_CPUS, VISION_DEMO_JOB_GPUS)."""
    from vision_demo import settings

    spec = (spec if spec is not None else settings.executor()).strip()
    if spec in ("", "local"):
        return LocalExecutor()
    if spec.startswith("ray:") and spec[4:]:
        module = import_module("vision_demo.jobs_ray")
        return module.RayExecutor(spec[4:], job_cpus=settings.job_cpus() if job_cpus is None else job_cpus,
                                  job_gpus=settings.job_gpus() if job_gpus is None else job_gpus)
    raise VisionDemoError(f"executor {spec!r}: use local, ray:HOST:PORT (a Ray head, e.g. ray:10.0.0.5:6379) or ray:auto")


def config_from_dict(cls, data: dict[str, Any], what: str):
    """A job's config dataclass from a dict (a saved config, a JSON file); VisionDemoError naming the unknown keys
    and the known ones ("unknown `what` option(s) …"), so a typo is never dropped silently."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise VisionDemoError(f"unknown {what} option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")
    return cls(**data)


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)  # readers see the old file or the new one, never half of one


class JobRegistry:
    """Lock-protected jobs keyed by id, a FIFO queue, `max_concurrent` worker threads."""

    def __init__(self, root: str | os.PathLike, max_concurrent: int = 1, kinds: dict[str, str | Runner] | None = None,
                 executor=None):
        """kinds: kind -> its runner, as "module:function" or a function (default: KINDS).
        executor: where jobs run (default: LocalExecutor(), this process; see make_executor)."""
        self.root = Path(root)
        self._kinds: dict[str, str | Runner] = dict(KINDS if kinds is None else kinds)
        self._kind_names = {k: v for k, v in self._kinds.items() if isinstance(v, str)}   # what another process imports
        self.executor = executor or LocalExecutor()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max(1, int(max_concurrent))
        self._lock = threading.RLock()
        self._states: dict[str, JobState] = {}
        self._controls: dict[str, JobControl] = {}
        self._done: dict[str, threading.Event] = {}
        self._listeners: list[Listener] = []
        # (priority, order, job id, fn): the server's own jobs (0) before visitors' (1), FIFO within each
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._workers: list[threading.Thread] = []
        self._waiting: list[str] = []   # ids of jobs that were queued when the last process stopped
        self._load()

    # ---- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        """Read the jobs of earlier runs. One that was running when the server stopped is failed; queued ones
        stay queued, waiting for resume()."""
        for path in sorted(self.root.glob("*/state.json")):
            try:
                state = JobState.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as err:
                log.warning("skipping unreadable job state %s: %s", path, err)
                continue
            done = threading.Event()
            if state.status == "queued":
                self._waiting.append(state.id)
                self._controls[state.id] = JobControl()
            else:
                if not state.done:
                    state.status, state.ended = "failed", state.ended or time.time()
                    state.error = state.message = "interrupted: the server stopped while this job ran"
                    _write_json_atomic(path, state.to_dict())
                done.set()
            self._states[state.id] = state
            self._done[state.id] = done
        self._waiting.sort(key=lambda i: self._states[i].created)

    def runner(self, kind: str) -> Runner:
        """The runner of a kind, imported on first use; VisionDemoError for a kind this registry cannot run."""
        with self._lock:
            runner = self._kinds.get(kind)
        if runner is None:
            raise VisionDemoError(f"no way to run a {kind!r} job in this program (kinds: {', '.join(self._kinds)})")
        if isinstance(runner, str):
            runner = load_runner(runner)
            with self._lock:
                self._kinds[kind] = runner
        return runner

    def runner_name(self, kind: str) -> str | None:
        """The kind's runner as "module:function" (what another process can import), None if it is a function."""
        return self._kind_names.get(kind)

    def resume(self, runners: dict[str, Runner] | None = None) -> list[str]:
        """Queue again the jobs that were waiting when the last process stopped, oldest first, each run by the
        runner of its kind (`runners` replace the registry's own for the kinds they name). A job whose kind has
        no runner, or whose config no longer makes a job, is failed with the reason. Returns the ids queued."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        queued = []
        for job_id in waiting:
            state = self._states[job_id]
            try:
                fn = runners[state.kind](state.config) if runners and state.kind in runners else None
                if fn is None:
                    self.runner(state.kind)   # the job function is made from the config when it starts
            except VisionDemoError as err:
                self._emit(job_id, "failed", {"error": f"could not be resumed after the restart: {err}"})
                self._done[job_id].set()
                continue
            self._enqueue(job_id, fn)
            queued.append(job_id)
        return queued

    def _save(self, state: JobState) -> None:
        _write_json_atomic(Path(state.out_dir) / "state.json", state.to_dict())

    # ---- listeners ---------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> Listener:
        with self._lock:
            self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _emit(self, job_id: str, type: str, data: dict[str, Any]) -> None:
        self._notify(self._record(job_id, type, data), job_id, type, data)

    def _record(self, job_id: str, type: str, data: dict[str, Any]) -> list[Listener]:
        """Apply an event to the job's state (and save it); returns the listeners to tell, none if dropped."""
        if type not in EVENTS:
            raise ValueError(f"unknown event {type!r}; events are {', '.join(EVENTS)}")
        with self._lock:
            state = self._states[job_id]
            if state.done:  # a job that has ended says nothing more (a late progress, a second cancel)
                return []
            self._apply(state, type, data)
            if type != "progress":  # progress is frequent and cheap to lose; the rest is saved
                self._save(state)
            return list(self._listeners)

    def _notify(self, listeners: list[Listener], job_id: str, type: str, data: dict[str, Any]) -> None:
        event = Event(job_id, type, dict(data))
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not kill the job; it is a bug, so log it whole
                log.exception("listener %r failed on %s", listener, type)

    @staticmethod
    def _apply(state: JobState, type: str, data: dict[str, Any]) -> None:
        now = time.time()
        if type == "started":
            state.status, state.started = "running", now
        elif type == "progress":
            if "fraction" in data:
                state.progress = float(min(max(data["fraction"], 0.0), 1.0))
            if "epoch" in data:
                state.epoch = int(data["epoch"])
        elif type == "epoch_end":
            entry = dict(data)
            # An epoch reported twice (Ultralytics fires its last epoch twice) replaces the first.
            state.history = [h for h in state.history if h.get("epoch") != entry.get("epoch")] + [entry]
            state.epoch = int(entry.get("epoch", state.epoch))
            if state.epochs:
                state.progress = max(state.progress, min(state.epoch / state.epochs, 1.0))
        elif type == "finished":
            state.status, state.ended, state.progress = "finished", now, 1.0
            state.result = data.get("result")
        elif type == "failed":
            state.status, state.ended, state.error = "failed", now, data.get("error", "failed")
        elif type == "cancelled":
            state.status, state.ended = "cancelled", now
        if type in ("progress", "epoch_end") and not state.speed_marks and state.progress > 0:
            state.speed_marks.append([now, state.progress])   # the set-up has ended
        if type == "epoch_end" and len(state.speed_marks) == 1 and len(state.history) == 1 and state.epochs > 1:
            state.speed_marks.append([now, state.progress])   # the first epoch has ended
        if "where" in data:
            state.where = str(data["where"])
        if "message" in data:
            state.message = str(data["message"])
        elif type in ("failed",):
            state.message = state.error or ""

    # ---- submitting and running --------------------------------------------------------
    def submit(self, kind: str, name: str, config: dict[str, Any], fn: JobFn | None = None, epochs: int = 0,
               owner: str | None = None, depends_on: list[str] | None = None) -> str:
        """Queue a job and return its id at once; it runs when a worker is free.

        fn: None (the rule) -> the job is (kind, config) alone: the kind's runner makes the job function from
        the config when the job starts (VisionDemoError now for a kind with no runner). A function: a local job,
        run as it is (it cannot be resumed after a restart nor run anywhere else).
        owner: None for the server itself, else a visitor's key: their jobs wait behind the server's.
        depends_on: ids of jobs that must have finished before `fn` starts (with two workers a fine-tune would
        otherwise start before its frozen run ends); if one of them fails or is cancelled, so is this job."""
        depends_on = list(depends_on or [])
        with self._lock:
            unknown = [d for d in depends_on if d not in self._states]
        if unknown:
            raise VisionDemoError(f"depends on unknown job(s) {', '.join(unknown)}")
        if fn is None:
            self.runner(kind)
            self.executor.check_storage(self.root)   # e.g. a Ray cluster that cannot see the job folders: refused now
        job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        out_dir = self.root / job_id
        out_dir.mkdir(parents=True)
        state = JobState(job_id, kind, name, copy.deepcopy(config), str(out_dir), epochs=int(epochs), owner=owner,
                         depends_on=depends_on)
        with self._lock:
            self._states[job_id] = state
            self._controls[job_id] = JobControl()
            self._done[job_id] = threading.Event()
        self._emit(job_id, "queued", {"message": "waiting for a free worker"})
        self._enqueue(job_id, fn)
        return job_id

    def _enqueue(self, job_id: str, fn: JobFn | None) -> None:
        with self._lock:
            self._start_workers()
            priority = 0 if self._states[job_id].owner is None else 1
            self._queue.put((priority, next(self._order), job_id, fn))

    def active(self, owner: str | None = None) -> int:
        """How many jobs of this owner are queued or running."""
        with self._lock:
            return sum(1 for s in self._states.values() if s.owner == owner and not s.done)

    def _start_workers(self) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        while len(self._workers) < self.executor.capacity(self.max_concurrent):
            worker = threading.Thread(target=self._work, name=f"job-worker-{len(self._workers)}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _work(self) -> None:
        while True:
            _, _, job_id, fn = self._queue.get()
            if job_id is None:   # shutdown
                return
            try:
                self._run(job_id, fn)
            finally:
                self._done[job_id].set()
                _free_memory()  # the next job starts with the memory this one held

    def _run(self, job_id: str, fn: JobFn | None) -> None:
        with self._lock:
            state, control = self._states[job_id], self._controls[job_id]
            if state.done or control.stop_requested:  # cancelled while it waited: cancel() reported it
                return
            # "running" is set under the same lock as the check above, so a cancel() from now on
            # sets the stop flag (seen within a batch) instead of reporting a queued job cancelled.
            listeners = self._record(job_id, "started", {"message": "started"})
        self._notify(listeners, job_id, "started", {"message": "started"})
        ctx = JobContext(self, state, control)
        try:
            self._wait_for_dependencies(state, ctx)
            result = self.executor.run(self, state, ctx, fn)
        except JobCancelled:
            self._emit(job_id, "cancelled", {"message": f"cancelled by the user at epoch {state.epoch}"})
        except VisionDemoError as err:
            self._emit(job_id, "failed", {"error": str(err)})
        except Exception as err:  # a bug: keep the traceback in the job folder, one line for the user
            (Path(state.out_dir) / "traceback.txt").write_text(traceback.format_exc())
            log.exception("job %s failed", job_id)
            self._emit(job_id, "failed", {"error": f"internal error: {type(err).__name__}: {err} "
                                                   f"(details in {state.out_dir}/traceback.txt)"})
        else:
            if control.stop_requested and result is None:
                self._emit(job_id, "cancelled", {"message": "cancelled by the user"})
            else:
                result = result or {}
                _write_json_atomic(Path(state.out_dir) / "result.json", result)
                self._emit(job_id, "finished", {"result": result, "message": "finished"})

    def _wait_for_dependencies(self, state: JobState, ctx: JobContext) -> None:
        """Block (stop flag honoured) until every job in state.depends_on has ended; VisionDemoError unless all
        finished."""
        for dep_id in state.depends_on:
            dep = self.get(dep_id)
            while not dep.done:
                ctx.check_stop()
                ctx.progress(0.0, f"waiting for {dep.name} to finish", force=True)
                dep = self.wait(dep_id, timeout=0.5)
            if dep.status != "finished":
                raise VisionDemoError(f"cannot start: it needs {dep.name} (job {dep_id}), which ended {dep.status} "
                                      f"({dep.error or dep.message}); run it again first")

    # ---- reading and controlling -------------------------------------------------------
    def cancel(self, job_id: str) -> bool:
        """Ask a job to stop. A queued job is cancelled at once; a running one within a batch."""
        with self._lock:
            state = self._states.get(job_id)
            if state is None or state.done:
                return False
            self._controls[job_id].request_stop()
            if state.status == "queued":  # never started: report it now, the worker will skip it
                self._emit(job_id, "cancelled", {"message": "cancelled before it started"})
                self._done[job_id].set()
        return True

    def get(self, job_id: str) -> JobState:
        """A copy of one job's state; KeyError if there is no such job."""
        with self._lock:
            return copy.deepcopy(self._states[job_id])

    def snapshot(self, ids: list[str] | None = None, kind: str | None = None) -> list[JobState]:
        """Copies of the jobs (all, or those in `ids`), oldest first; unknown ids are skipped."""
        with self._lock:
            states = [self._states[i] for i in ids if i in self._states] if ids is not None else list(self._states.values())
            if kind is not None:
                states = [s for s in states if s.kind == kind]
            # Shallow copies are enough and cheap (the UI asks every second per page): _apply never
            # changes a history list or result dict in place, it puts new ones on the state.
            return [dataclasses.replace(s) for s in sorted(states, key=lambda s: s.created)]

    def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """Block until the job ends (or `timeout` seconds pass) and return its state."""
        self._done[job_id].wait(timeout)
        return self.get(job_id)

    def shutdown(self, cancel: bool = True, timeout: float = 10.0) -> None:
        """Stop the workers (cancelling running jobs first if asked)."""
        if cancel:
            for state in self.snapshot():
                if not state.done:
                    self.cancel(state.id)
        for _ in self._workers:
            self._queue.put((2, next(self._order), None, None))   # after every job still queued
        for worker in self._workers:
            worker.join(timeout)


class OncePerKey:
    """Run a thing once per key: one job per key in a registry of its own, reused while it is usable.

    What the export cache (detect/export.Exports: per weights, shape and format) and the take-home downloads
    (take_home.Downloads: per file) share. The registry lives under `folder()` (a function: a new work folder, in
    the tests, gets a new registry), runs one job at a time, so a training queue never holds these up and two
    requests for the same key share one job. `reusable(state)` says whether a key's job still stands for it (by
    default always: a failure is not retried in this process). At exit, or after `shutdown()`, no new job starts:
    a converter thread the interpreter kills halfway aborts the whole process.

        exports = OncePerKey(lambda: settings.work_dir() / "exports" / "jobs")
        job_id = exports.submit_once(("sha", (320, 320), "onnx"), "export", "onnx export", config, fn)
        exports.registry().wait(job_id)
    """

    def __init__(self, folder: Callable[[], Path], reusable: Callable[[JobState], bool] = lambda state: True,
                 shutdown_timeout: float = 60.0):
        self._folder, self._reusable, self._shutdown_timeout = folder, reusable, shutdown_timeout
        self._lock = threading.Lock()
        self._ids: dict[Any, str] = {}   # key -> the id of its job in _registry
        self._registry: JobRegistry | None = None
        self._closed = False

    def registry(self) -> JobRegistry:
        """The registry the jobs run in (made on first use, and again for another work folder)."""
        root = Path(self._folder())
        with self._lock:
            if self._registry is None or self._registry.root != root:
                if self._registry is None:
                    atexit.register(self.shutdown)
                else:
                    self._registry.shutdown(cancel=True, timeout=self._shutdown_timeout)
                self._registry, self._ids = JobRegistry(root, max_concurrent=1), {}
            return self._registry

    def job(self, key: Any) -> JobState | None:
        """The state of the key's job (None when none was submitted in this process)."""
        registry = self.registry()
        with self._lock:
            job_id = self._ids.get(key)
        return None if job_id is None else registry.get(job_id)

    def submit_once(self, key: Any, kind: str, name: str, config: dict[str, Any], fn: JobFn | None = None,
                    owner: str | None = None) -> str | None:
        """The id of the key's job, submitted first (registry.submit's arguments) unless a usable one exists;
        None once shut down (the process is exiting) and no job stands for the key."""
        registry = self.registry()
        with self._lock:
            job_id = self._ids.get(key)
            if job_id is not None and self._reusable(registry.get(job_id)):
                return job_id
            if self._closed:
                return None
            job_id = self._ids[key] = registry.submit(kind, name, config, fn, owner=owner)
            return job_id

    def ids(self) -> dict[Any, str]:
        """key -> job id of the jobs submitted in this process (a copy)."""
        with self._lock:
            return dict(self._ids)

    def shutdown(self, timeout: float | None = None) -> None:
        """Start no more jobs; cancel waiting ones and let a running one end."""
        with self._lock:
            registry, self._closed = self._registry, True
        if registry is not None:
            registry.shutdown(cancel=True, timeout=self._shutdown_timeout if timeout is None else timeout)


def _free_memory() -> None:
    gc.collect()
    try:
        from vision_demo.devices import empty_cache
    except ImportError:
        return
    empty_cache()


_default: JobRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> JobRegistry:
    """The process-wide registry under WORK/jobs (the app's and the CLI's)."""
    global _default
    from vision_demo import settings

    with _default_lock:
        if _default is None:
            # One job at a time by default, GPU or not: a second job would share the same cores, and
            # torch's seed and CUDA's peak-memory counter are process-wide, so two jobs at once would
            # make each other's figures (reproducibility, peak memory) wrong. More: VISION_DEMO_WORKERS.
            # With a Ray executor each job is a process of its own and the cluster's room sets how many run.
            workers = int(os.environ.get("VISION_DEMO_WORKERS", "0")) or 1
            _default = JobRegistry(settings.subdir("jobs"), max_concurrent=workers, executor=make_executor())
        return _default


def finished_result(job_or_folder: str, kinds: tuple[str, ...], registry: JobRegistry | None = None,
                    allow_folders: bool = True, what: str = "finished job") -> tuple[dict[str, Any], str, str | None]:
    """(result, name, job id or None) of a finished job: its id in `registry` (default: the work folder's), or,
    when `allow_folders` (the CLI, the server's own browser), a folder holding a result.json (a job's folder,
    the --out folder of `train` / `yolo-train`). What every command that takes "JOB" reads (diff, gradcam,
    export). Anything else is a VisionDemoError that says what to give instead."""
    text = str(job_or_folder or "").strip()
    if not text:
        raise VisionDemoError(f"no job given: pass a {what}'s id (or the --out folder of a train run)")
    registry = registry or default_registry()
    try:
        state = registry.get(text)
    except KeyError:
        state = None
    if state is not None:
        if state.status != "finished" or state.kind not in kinds:
            raise VisionDemoError(f"job {text} ({state.name}) is a {state.kind} job that is {state.status}: "
                                  f"give a {what}")
        return dict(state.result or {}), state.name, state.id
    looks_like_path = any(c in text for c in "/\\~") or Path(text).exists()
    if not (allow_folders and looks_like_path):
        raise VisionDemoError(f"no {what} {text!r}: job ids look like 20261125-131500-ab12cd"
                              + (" (or give the --out folder of a train run)" if allow_folders else ""))
    path = Path(text).expanduser()
    path = path / "result.json" if path.is_dir() else path
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        raise VisionDemoError(f"{text}: no such finished job, and no result.json there; give a job id or the "
                              "--out folder of a train run") from None
    if not isinstance(result, dict):
        raise VisionDemoError(f"{path}: not a result.json of a train run")
    return result, str(result.get("name") or result.get("model_label") or path.parent.name), None
