"""Training jobs on a Ray cluster: the job system's `ray` executor (the default, `local`, is in jobs.py).

    ray start --head --port=6379 --disable-usage-stats --include-dashboard=false   # on the head
    VISION_DEMO_EXECUTOR=ray:HEAD:6379 python -m vision_demo compare --data scenes # or app.py --executor ...

The registry in the app keeps everything it has today: the queue, the teacher-first priorities, the per-visitor
limits, and it stays the only writer of state.json and result.json. What changes is where `fn(ctx)` runs:

1) the job is sent as (kind, runner "module:function", config, out_dir), never as a function: the worker
   imports the runner itself (the package and its requirements must be installed on every node);
2) it is one Ray task with max_retries=0 (a crash must not silently train again) in a fresh worker process
   (max_calls=1: a job's torch seed, threads and CUDA memory never leak into the next);
3) num_cpus is always given: Ray sets OMP_NUM_THREADS to it (1 when not given), and the worker sets torch's
   threads to the same number, so a job trains on what it was given;
4) its events go to a small actor, the app's JobChannels (one per app on the app's node, keyed by job id: an
   actor per job would cost each job one more worker process start, 1-3 s here), as fire-and-forget calls
   applied in the order they were sent; the registry's thread takes them every POLL seconds and replays them:
   the UI, the CLI printer and the tests see the same event stream as a local job, throttled in the worker
   by the same JobContext;
5) Cancel: the stop flag goes through the actor and the job stops at its next batch; if it has not ended
   after CANCEL_GRACE seconds, ray.cancel(force=True) kills its worker;
6) what a job reads of other jobs (ctx.get: a fine-tune's frozen run) is what it depends on, sent with it;
7) files: the job folder must be the same path on every node (shared storage): checked once per folder
   with a probe file written here and read in a task, refused with what to mount.

Ray is imported here only, and only when this executor is made: a laptop on `local` never loads it.
"""
from __future__ import annotations

import logging
import os
import platform
import socket
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from vision_demo.errors import JobCancelled, VisionDemoError
from vision_demo.jobs import JobContext, JobRegistry, JobState, load_runner

log = logging.getLogger(__name__)

POLL = 0.2            # seconds between two looks at a running job's events (and at its stop flag, in the worker)
CANCEL_GRACE = 10.0   # seconds a cancelled job has to reach its next batch before its worker is killed
ROOM_EVERY = 10.0     # seconds the cluster's room (CPUs, GPUs) is remembered
PROBE_TIMEOUT = 60.0  # seconds the storage probe may take (a worker's start, a busy cluster)

_connect_lock = threading.Lock()
_remote: dict[str, Any] = {}   # the Ray task and actor class, made once per process after `import ray`


def _ray():
    """Import Ray with its usage statistics off (the user's own RAY_USAGE_STATS_ENABLED wins)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    return ray


def connect_sentence(err: BaseException, address: str) -> str:
    """One sentence for a failed ray.init (a version mismatch, no head there)."""
    text = str(err)
    if "Version mismatch" in text:
        lines = [line.strip() for line in text.splitlines() if line.strip().startswith(("Ray:", "Python:"))]
        cluster, here = " ".join(lines[:2]), " ".join(lines[2:4])
        return (f"the Ray cluster at {address} runs {cluster or 'another version'} but this program runs "
                f"{here or 'another'}: install the same Ray and Python versions on every node and here")
    if "No node info found matching" in text:   # the driver must run on a node of the cluster
        return (f"this machine is not a node of the Ray cluster at {address}: join it first with "
                f"`ray start --address={address} --num-cpus=0` (a node that runs no jobs), then start this again")
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return (f"cannot connect to the Ray cluster at {address} ({first[:200]}): start its head with "
            "`ray start --head --port=6379`, check the address, or use --executor local")


def _make_remote(ray) -> dict[str, Any]:
    if not _remote:
        _remote["task"] = ray.remote(max_retries=0, max_calls=1)(_job_task)
        _remote["probe"] = ray.remote(max_retries=0)(_read_probe)
        _remote["channels"] = ray.remote(num_cpus=0, max_restarts=0)(JobChannels)
    return _remote


class RayExecutor:
    """Runs (kind, config) jobs as Ray tasks; a job with its own function stays in this process."""

    def __init__(self, address: str, job_cpus: float = 2.0, job_gpus: float = 0.0, grace: float = CANCEL_GRACE):
        self.address = address          # "HOST:PORT" or "auto"
        self.name = f"ray:{address}"
        self.job_cpus = float(job_cpus) if job_cpus else 1.0
        self.job_gpus = float(job_gpus or 0.0)
        self.grace = float(grace)
        self._ray = None
        self._room: tuple[float, int] | None = None   # (when, jobs that fit)
        self._seen: set[str] = set()                  # job folders a task has read a probe from
        self._channels = None                         # the JobChannels actor, made at connect()

    # ---- the cluster ----------------------------------------------------------------------
    def connect(self):
        """ray.init once (this process's driver); VisionDemoError with one sentence when it fails."""
        with _connect_lock:
            if self._ray is not None:
                return self._ray
            ray = _ray()
            if not ray.is_initialized():
                try:
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING,
                             namespace="vision_demo")
                except (ConnectionError, RuntimeError, ValueError) as err:
                    raise VisionDemoError(connect_sentence(err, self.address)) from None
            remote = _make_remote(ray)
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
            self._channels = remote["channels"].options(scheduling_strategy=here).remote()
            self._ray = ray
            return ray

    def capacity(self, default: int) -> int:
        """Jobs that fit on the cluster at once (its CPUs / job_cpus, and GPUs / job_gpus): the registry never
        has more in flight, so a job waits in our queue (priorities, limits) rather than in Ray's."""
        now = time.monotonic()
        if self._room is None or now - self._room[0] > ROOM_EVERY:
            ray = self.connect()
            total = ray.cluster_resources()
            fits = int(total.get("CPU", 0) // self.job_cpus)
            if self.job_gpus:
                fits = min(fits, int(total.get("GPU", 0) // self.job_gpus))
            self._room = (now, max(1, fits))
        return self._room[1]

    def check_storage(self, root: Path) -> None:
        """The job folder must be the same path on the cluster's workers: a probe written here, read in a task."""
        root = Path(root).resolve()
        if str(root) in self._seen:
            return
        ray = self.connect()
        token = uuid.uuid4().hex
        probe = root / f".ray-probe-{token}"
        probe.write_text(token)
        try:
            ref = _remote["probe"].options(num_cpus=0).remote(str(probe))
            try:
                seen, node = ray.get(ref, timeout=PROBE_TIMEOUT)
            except ray.exceptions.GetTimeoutError:
                ray.cancel(ref, force=True)
                raise VisionDemoError(f"the Ray cluster at {self.address} ran no task within {PROBE_TIMEOUT:.0f} s "
                                      "(is a worker node up?): no job was queued") from None
        finally:
            probe.unlink(missing_ok=True)
        if seen != token:
            raise VisionDemoError(f"the Ray workers (node {node}) cannot see the job folder {root}: mount the work "
                                  "folder at the same path on every Ray node (NFS or similar), or start this program "
                                  "with --work-dir on such shared storage")
        self._seen.add(str(root))

    # ---- one job ------------------------------------------------------------------------------
    def run(self, registry: JobRegistry, state: JobState, ctx: JobContext, fn) -> dict | None:
        runner = registry.runner_name(state.kind)
        if fn is not None or runner is None:   # a function of this process (an export): it runs here
            if fn is None:
                fn = registry.runner(state.kind)(dict(state.config))
            return fn(ctx)
        ray = self.connect()
        remote = _remote
        channel = _Channel(self._channels, state.id)
        # What the job may read of others: what it depends on (a fine-tune's frozen run), as it is now.
        known = {d: registry.get(d).to_dict() for d in state.depends_on}
        env = {k: os.environ[k] for k in ("VISION_DEMO_HOME", "VISION_DEMO_ONLINE", "VISION_DEMO_DEVICE")
               if k in os.environ}
        ref = remote["task"].options(num_cpus=self.job_cpus, num_gpus=self.job_gpus).remote(
            state.kind, runner, state.config, state.out_dir, state.id, state.epochs, known, self._channels, env,
            self.name)
        ctx.progress(message=f"sent to the Ray cluster at {self.address}, waiting for a worker", force=True)
        stop_sent = killed = None
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=POLL)
                self._replay(ray, channel, registry, state.id)
                if ready:
                    break
                if ctx.stop_requested:
                    now = time.monotonic()
                    if stop_sent is None:
                        channel.request_stop.remote()
                        stop_sent = now
                    elif killed is None and now - stop_sent > self.grace:
                        log.warning("job %s did not stop within %.0f s: killing its Ray worker", state.id, self.grace)
                        ray.cancel(ref, force=True)
                        killed = now
            try:
                outcome = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                raise JobCancelled() from None
            except ray.exceptions.RayError as err:
                if ctx.stop_requested:
                    raise JobCancelled() from None
                raise VisionDemoError(_death_sentence(err)) from None
            self._replay(ray, channel, registry, state.id)
        finally:
            channel.forget.remote()
        kind, payload = outcome[0], outcome[1]
        if kind == "finished":
            return payload
        if kind == "cancelled":
            raise JobCancelled()
        if kind == "failed":
            raise VisionDemoError(payload)
        (Path(state.out_dir) / "traceback.txt").write_text(outcome[2])   # "error": a bug in the job, in the worker
        raise VisionDemoError(f"internal error in the Ray worker: {payload} (details in {state.out_dir}/traceback.txt)")

    @staticmethod
    def _replay(ray, channel, registry: JobRegistry, job_id: str) -> None:
        try:
            events = ray.get(channel.take.remote(), timeout=30)
        except ray.exceptions.RayError as err:   # the actor died with its node: the task's own error says why
            log.warning("job %s: its events could not be read (%s)", job_id, str(err).splitlines()[0])
            return
        for type, data in events:
            registry._emit(job_id, type, data)


def _death_sentence(err: BaseException) -> str:
    ray = _ray()
    if isinstance(err, ray.exceptions.OutOfMemoryError):
        why = "it ran out of memory on its node and was killed"
    elif isinstance(err, ray.exceptions.NodeDiedError):
        why = "its node left the cluster"
    elif isinstance(err, ray.exceptions.WorkerCrashedError):
        why = "its worker process died (killed, or it crashed)"
    else:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        why = f"{type(err).__name__}: {first[:200]}"
    return f"the job's Ray worker stopped: {why}; it was not run again (a crash never silently retrains): submit it again"


# ---- on the cluster ---------------------------------------------------------------------------------

class JobChannels:
    """Each running job's events and stop flag, between its worker and the app (a Ray actor, one per app)."""

    def __init__(self) -> None:
        self._events: dict[str, list[tuple[str, dict]]] = {}
        self._stop: set[str] = set()

    def put(self, job_id: str, type: str, data: dict) -> None:
        self._events.setdefault(job_id, []).append((type, data))

    def take(self, job_id: str) -> list[tuple[str, dict]]:
        return self._events.pop(job_id, [])

    def request_stop(self, job_id: str) -> None:
        self._stop.add(job_id)

    def stop_requested(self, job_id: str) -> bool:
        return job_id in self._stop

    def sync(self, job_id: str) -> bool:
        """Returns once every call this caller sent before it was applied (calls of one caller run in order)."""
        return True

    def forget(self, job_id: str) -> None:
        self._events.pop(job_id, None)
        self._stop.discard(job_id)


class _Channel:
    """One job's view of the JobChannels actor: `channel.put.remote(type, data)` etc., the job id filled in."""

    def __init__(self, actor, job_id: str) -> None:
        self.actor, self.job_id = actor, job_id

    def __getattr__(self, method: str):
        bound = getattr(self.actor, method)
        job_id = self.job_id

        class _Call:
            @staticmethod
            def remote(*args):
                return bound.remote(job_id, *args)
        return _Call


class _ChannelControl:
    """The stop flag in the worker: the actor's, looked at every POLL seconds by a thread (check_stop is free)."""

    def __init__(self, ray, channel) -> None:
        self._flag = threading.Event()
        self._done = threading.Event()
        self._ray, self._channel = ray, channel
        threading.Thread(target=self._watch, name="stop-flag", daemon=True).start()

    def _watch(self) -> None:
        while not self._done.wait(POLL):
            try:
                if self._ray.get(self._channel.stop_requested.remote(), timeout=30):
                    self._flag.set()
                    return
            except self._ray.exceptions.RayError:   # the app's side is gone: stop rather than train for nobody
                self._flag.set()
                return

    def close(self) -> None:
        self._done.set()

    def request_stop(self) -> None:
        self._flag.set()

    @property
    def stop_requested(self) -> bool:
        return self._flag.is_set()


class _ChannelRegistry:
    """What a JobContext needs of a registry, in the worker: events go to the channel, get() reads what was sent."""

    def __init__(self, channel, known: dict[str, dict]) -> None:
        self._channel, self._known = channel, known

    def _emit(self, job_id: str, type: str, data: dict) -> None:
        self._channel.put.remote(type, dict(data))   # fire and forget: applied in order, read by the app

    def get(self, job_id: str) -> JobState:
        return JobState.from_dict(self._known[job_id])   # KeyError for a job it does not depend on, as locally


def _where(ray, threads: int) -> tuple[str, dict[str, Any]]:
    node = socket.gethostname()
    gpus = [str(g) for g in ray.get_gpu_ids()]
    place = {"node": node, "node_ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id(),
             "pid": os.getpid(), "cpus": threads, "gpus": gpus, "python": platform.python_version()}
    return f"{node} · {'GPU ' + ','.join(gpus) if gpus else f'{threads} CPU'}", place


def _job_task(kind: str, runner: str, config: dict, out_dir: str, job_id: str, epochs: int, known: dict,
              channel, env: dict, executor: str):
    """One job in a fresh Ray worker. Returns ("finished", result) | ("cancelled", None) | ("failed", sentence)
    | ("error", one line, traceback); every event it emitted has reached the channel before it returns."""
    import ray

    os.environ.update(env)   # the app's work folder (the same path here: shared storage) and online switch
    from vision_demo import devices, settings

    settings.configure()
    # 3) torch's threads = the CPUs Ray gave this task (settings.configure may have set OMP_NUM_THREADS to the
    # node's cores when the worker inherited our marker; devices.cpu_threads reads the variable back).
    threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    os.environ["OMP_NUM_THREADS"] = str(threads)   # read by torch when it loads, and by devices.use_all_cores
    if "torch" in sys.modules:
        devices.use_all_cores()
    where, place = _where(ray, threads)
    channel = _Channel(channel, job_id)
    control = _ChannelControl(ray, channel)
    state = JobState(job_id, kind, kind, config, out_dir, epochs=epochs)
    ctx = JobContext(_ChannelRegistry(channel, known), state, control)
    ctx.emit("progress", where=where, message=f"running on {where}")
    try:
        result = load_runner(runner)(config)(ctx)
    except JobCancelled:
        outcome = ("cancelled", None)
    except VisionDemoError as err:
        outcome = ("failed", str(err))
    except Exception as err:   # a bug: its traceback goes back to the app, which writes it in the job folder
        outcome = ("error", f"{type(err).__name__}: {err}", traceback.format_exc())
    else:
        if control.stop_requested and result is None:
            outcome = ("cancelled", None)
        else:
            result = dict(result or {})
            if "torch" in sys.modules:
                place["torch_threads"] = sys.modules["torch"].get_num_threads()
            place["device"] = str(result.get("device") or ("cuda" if place["gpus"] else "cpu"))
            result["ran_on"] = {"executor": executor, **place}
            outcome = ("finished", result)
    finally:
        control.close()
    ray.get(channel.sync.remote())
    sys.stdout.flush()
    return outcome


def _read_probe(path: str) -> tuple[str | None, str]:
    try:
        return Path(path).read_text(), socket.gethostname()
    except OSError:
        return None, socket.gethostname()
