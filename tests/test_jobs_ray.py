"""The job system on both executors: `local` (threads here) and `ray` (a real Ray head on 127.0.0.1, started and
stopped by this module), plus the Ray traps: torch's threads in the worker, a worker killed mid-job, a job folder
the cluster cannot see, a version mismatch, and the laptop default that never imports Ray."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import free_port
from counting_kinds import KINDS
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import EVENTS, JobRegistry, LocalExecutor

ROOT = Path(__file__).resolve().parents[1]
HEAD_CPUS = 2


def _head_command(port: int, temp: str, hidden: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address=127.0.0.1",
           f"--port={port}", f"--num-cpus={HEAD_CPUS}", "--num-gpus=0", "--include-dashboard=false",
           "--disable-usage-stats", f"--temp-dir={temp}", "--object-store-memory=100000000"]
    if hidden is None:
        return cmd
    # The head and its workers in a mount namespace of their own where `hidden` is an empty tmpfs: a folder the
    # test (the "app") sees and the cluster does not, as a work folder on a laptop's disk would be.
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$@"',
            str(hidden), *cmd]


def _can_hide() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A Ray head on 127.0.0.1 (2 CPUs, no dashboard, no usage stats) for this module; yields (address, a folder it
    cannot see or None). RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps the head and this driver on loopback (without it
    Ray swaps 127.0.0.1 for the machine's other address): for tests only, never for a real cluster."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed (pip install -r requirements-cluster.txt)")
    saved = {k: os.environ.get(k) for k in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED")}
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"   # the driver too (this process), read when ray is imported
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    hidden = tmp_path_factory.mktemp("unseen") if _can_hide() else None
    port = free_port()
    temp = tempfile.mkdtemp(prefix="vdray-", dir="/tmp")   # short: Ray's socket paths must stay < 108 bytes
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "_VISION_DEMO_SET")}  # a clean node
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    log = open(Path(temp) / "head.log", "w")
    head = subprocess.Popen(_head_command(port, temp, hidden), env=env, stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 180   # ~4 s on an idle machine; a minute and more on a loaded 2-core one
        while "Ray runtime started" not in (Path(temp) / "head.log").read_text():
            assert head.poll() is None, f"the Ray head exited {head.returncode}: " + (Path(temp) / "head.log").read_text()[-3000:]
            assert time.time() < deadline, "the Ray head did not start in 180 s: " + (Path(temp) / "head.log").read_text()[-3000:]
            time.sleep(0.2)
        yield address, hidden
    finally:
        if ray.is_initialized():
            ray.shutdown()
        head.send_signal(signal.SIGTERM)   # `ray start --block` ends every Ray process it started
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait(10)
        log.close()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _ray_executor(ray_head, job_cpus=1, **kw):
    from vision_demo.jobs_ray import RayExecutor

    return RayExecutor(ray_head[0], job_cpus=job_cpus, **kw)


@pytest.fixture(params=["local", "ray"])
def executor(request):
    """The job system's tests below run on both executors."""
    if request.param == "local":
        return lambda **kw: LocalExecutor()
    head = request.getfixturevalue("ray_head")
    return lambda **kw: _ray_executor(head, **kw)


def _registry(root, executor, **kw):
    return JobRegistry(root, max_concurrent=kw.pop("max_concurrent", 1), kinds=KINDS, executor=executor(**kw))


def test_events_arrive_in_order_and_state_and_result_are_saved_by_the_app(tmp_path, executor):
    registry = _registry(tmp_path, executor)
    seen = []
    registry.add_listener(lambda e: seen.append(e))
    job_id = registry.submit("count", "counting", {"epochs": 3}, epochs=3)
    state = registry.wait(job_id, timeout=60)
    assert state.status == "finished", state.error
    assert [h["epoch"] for h in state.history] == [1, 2, 3]
    types = [e.type for e in seen if e.type != "progress"]
    assert types == ["queued", "started", "epoch_end", "epoch_end", "epoch_end", "finished"]
    fractions = [e.data["fraction"] for e in seen if e.type == "progress" and "fraction" in e.data]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 15   # one per batch
    assert {e.type for e in seen} <= set(EVENTS)
    saved = json.loads((tmp_path / job_id / "state.json").read_text())
    assert saved["status"] == "finished" and len(saved["history"]) == 3
    result = json.loads((tmp_path / job_id / "result.json").read_text())
    assert result["test_acc"] == 0.53 and result == state.result
    ran_on = result["ran_on"]
    assert ran_on["executor"] == registry.executor.name and ran_on["device"] == "cpu" and ran_on["node"]
    if ran_on["executor"] == "local":
        assert result["pid"] == os.getpid() and state.where == ""
    else:   # another process, named on the progress table
        assert result["pid"] == ran_on["pid"] != os.getpid() and "CPU" in state.where
    reloaded = JobRegistry(tmp_path, kinds=KINDS)
    assert reloaded.get(job_id).history == state.history and reloaded.get(job_id).result == state.result
    registry.shutdown()


def test_cancel_stops_within_a_batch_and_queued_jobs_never_start(tmp_path, executor):
    registry = _registry(tmp_path, executor, job_cpus=HEAD_CPUS)   # one job at a time on the cluster too
    running = registry.submit("count", "slow", {"batches": 3000, "delay": 0.01})
    waiting = registry.submit("count", "waiting", {})
    deadline = time.time() + 60
    while "batch" not in registry.get(running).message:
        assert time.time() < deadline, registry.get(running)
        time.sleep(0.05)
    assert registry.cancel(waiting)
    t0 = time.monotonic()
    assert registry.cancel(running)
    assert registry.wait(running, timeout=20).status == "cancelled"
    took = time.monotonic() - t0
    print(f"{registry.executor.name}: cancelled {took:.2f} s after the request")
    assert took < 3.0   # within a batch (+ the stop flag's trip through the actor); far from the 10 s grace kill
    assert registry.wait(waiting, timeout=5).status == "cancelled" and registry.get(waiting).started is None
    assert len((tmp_path / running / "starts.txt").read_text().split()) == 1
    registry.shutdown()


def test_failures_are_one_sentence_and_a_bug_leaves_its_traceback(tmp_path, executor):
    registry = _registry(tmp_path, executor)
    bad = registry.submit("fail", "bad", {})
    buggy = registry.submit("fail", "buggy", {"bug": True})
    assert registry.wait(bad, 60).error.startswith("the data folder has no class")
    failed = registry.wait(buggy, 60)
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    assert "ZeroDivisionError" in (tmp_path / buggy / "traceback.txt").read_text()
    registry.shutdown()


def test_queued_jobs_resume_after_a_restart_on_the_executor(tmp_path, executor):
    first = JobRegistry(tmp_path, kinds=KINDS)   # the process before the restart: one job holds its only worker
    gate = threading.Event()
    first.submit("test", "blocker", {}, lambda ctx: gate.wait(10) and {})
    waiting = first.submit("count", "waits", {"epochs": 2}, epochs=2)
    reloaded = _registry(tmp_path, executor)     # the next process, before the first one ran it
    assert reloaded.get(waiting).status == "queued"
    assert reloaded.resume() == [waiting]
    state = reloaded.wait(waiting, 60)
    assert state.status == "finished" and [h["epoch"] for h in state.history] == [1, 2], state.error
    gate.set()
    first.shutdown()   # its own copy of the waiting job is cancelled, never run twice
    reloaded.shutdown()


def test_visitors_jobs_wait_behind_the_servers_own_and_are_counted(tmp_path, executor):
    gate = tmp_path / "gate"
    registry = _registry(tmp_path / "jobs", executor, job_cpus=HEAD_CPUS)   # room for one job at a time
    blocker = registry.submit("count", "blocker", {"gate": str(gate)})
    student = [registry.submit("count", f"student {i}", {}, owner="127.0.0.2") for i in range(3)]
    teacher = registry.submit("count", "teacher", {})
    assert registry.active(owner="127.0.0.2") == 3 and registry.active(owner="127.0.0.9") == 0
    deadline = time.time() + 60
    while registry.get(blocker).status != "running":
        assert time.time() < deadline
        time.sleep(0.05)
    assert all(registry.get(i).status == "queued" for i in [*student, teacher])   # no more in flight than room
    gate.write_text("go")
    states = [registry.wait(i, 60) for i in [*student, teacher]]
    assert all(s.status == "finished" for s in states), [s.error for s in states]
    order = [s.name for s in sorted(states, key=lambda s: s.started)]
    assert order == ["teacher", "student 0", "student 1", "student 2"]
    assert registry.active(owner="127.0.0.2") == 0
    registry.shutdown()


def test_a_job_reads_what_it_depends_on(tmp_path, executor):
    registry = _registry(tmp_path, executor)
    first = registry.submit("count", "first", {"epochs": 2})
    second = registry.submit("read", "second", {"of": first}, depends_on=[first])
    assert registry.wait(second, 60).result["other_status"] == "finished"
    assert registry.get(second).result["other_acc"] == 0.52
    registry.shutdown()


# ---- Ray only -------------------------------------------------------------------------------------

def test_torch_in_a_ray_worker_has_the_threads_it_was_given(tmp_path, ray_head):
    """1 CPU per job on a 2-core node: torch would take both cores; Ray's OMP_NUM_THREADS and ours say 1."""
    registry = JobRegistry(tmp_path, kinds=KINDS, executor=_ray_executor(ray_head, job_cpus=1))
    state = registry.wait(registry.submit("count", "threads", {"threads": True}), 60)
    assert state.status == "finished", state.error
    assert state.result["torch_threads"] == 1 and state.result["omp"] == "1"
    assert state.result["ran_on"]["cpus"] == 1 == state.result["ran_on"]["torch_threads"]
    assert state.result["pid"] != os.getpid()
    registry.shutdown()


def test_a_worker_killed_mid_job_fails_it_with_the_reason_and_it_is_not_retried(tmp_path, ray_head):
    registry = JobRegistry(tmp_path, kinds=KINDS, executor=_ray_executor(ray_head, job_cpus=1))
    job = registry.submit("count", "killed", {"batches": 3000, "delay": 0.01})
    starts = tmp_path / job / "starts.txt"
    deadline = time.time() + 60
    while "batch" not in registry.get(job).message:
        assert time.time() < deadline, registry.get(job)
        time.sleep(0.05)
    pid = int(starts.read_text().split()[0])
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)   # as the kernel's OOM killer would
    state = registry.wait(job, 60)
    assert state.status == "failed" and "worker" in state.error and "not run again" in state.error, state.error
    time.sleep(2)   # a retry would have started by now
    assert starts.read_text().split() == [str(pid)]
    after = registry.wait(registry.submit("count", "after", {}), 60)   # the registry keeps serving
    assert after.status == "finished", after.error
    registry.shutdown()


def test_a_job_folder_the_cluster_cannot_see_is_refused_before_the_job_starts(ray_head):
    if ray_head[1] is None:
        pytest.skip("needs a mount namespace (unshare -m) to give the test head a folder it cannot see")
    root = ray_head[1] / "jobs"
    registry = JobRegistry(root, kinds=KINDS, executor=_ray_executor(ray_head))
    with pytest.raises(VisionDemoError, match="cannot see the job folder .*mount the work folder at the same path"):
        registry.submit("count", "never", {})
    assert registry.snapshot() == [] and [p.name for p in root.iterdir()] == []   # no job, no probe left
    registry.shutdown()


def test_a_version_mismatch_at_connect_is_one_sentence():
    pytest.importorskip("ray")
    from ray._private.utils import check_version_info

    from vision_demo.jobs_ray import connect_sentence

    with pytest.raises(RuntimeError) as err:   # Ray's own check, with a cluster of other versions
        check_version_info({"ray_version": "2.59.0", "python_version": "3.12.4"}, "this-host", True)
    sentence = connect_sentence(err.value, "10.0.0.5:6379")
    assert "\n" not in sentence and "Ray: 2.59.0 Python: 3.12.4" in sentence and "same Ray and Python" in sentence


def test_a_bad_executor_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "vision_demo", "--work-dir", str(tmp_path), "--executor", "slurm",
                          "train", "--data", "scenes", "--epochs", "1"], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0, out.stderr
    assert "use local, ray:HOST:PORT" in out.stderr


def test_the_laptop_default_never_imports_ray(tmp_path):
    """`python app.py`'s imports (the whole UI built) and a local job of a named kind leave Ray unloaded."""
    code = (
        "import sys, runpy; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']\n"
        "import app\n"
        "from vision_demo.ui.app import build_demo\n"
        "build_demo(warm_up=False)\n"
        "from vision_demo.jobs import JobRegistry, make_executor\n"
        "from counting_kinds import KINDS\n"
        "r = JobRegistry(sys.argv[2], kinds=KINDS, executor=make_executor())\n"
        "s = r.wait(r.submit('count', 'local', {}), 30)\n"
        "print(s.status, s.result['ran_on']['executor'], sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VISION_DEMO_EXECUTOR", "RAY_"))}
    env["VISION_DEMO_HOME"] = str(tmp_path / "work")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(tmp_path / "jobs")], capture_output=True,
                         text=True, timeout=300, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "finished local []"


# ---- both kinds of training, through Ray ----------------------------------------------------------------

@pytest.mark.slow
def test_compare_through_ray_gives_the_accuracies_of_a_local_compare(tiny_scenes, tmp_path, ray_head):
    """The lesson's four runs, same seeds, same threads (2): one after the other in four fresh Ray workers, the
    fine-tune starting from the frozen run's head (read through ctx.get on the app's side), as locally."""
    from vision_demo.classify.train import submit_compare

    accuracies = {}
    for name, executor in (("local", LocalExecutor()), ("ray", _ray_executor(ray_head, job_cpus=HEAD_CPUS))):
        registry = JobRegistry(tmp_path / name, executor=executor)
        t0 = time.perf_counter()
        ids = submit_compare(registry, data=tiny_scenes, epochs=1, img_size=48, batch_size=16)
        states = [registry.wait(i, timeout=300) for i in ids]
        print(f"compare on {executor.name}: {time.perf_counter() - t0:.1f} s (loaded shared machine)")
        assert [s.status for s in states] == ["finished"] * 4, [s.error for s in states]
        results = [json.loads((tmp_path / name / i / "result.json").read_text()) for i in ids]
        assert results[3]["init_from"] == results[2]["checkpoint"]
        pids = [r["ran_on"]["pid"] for r in results]
        if name == "ray":
            assert os.getpid() not in pids and len(set(pids)) == 4   # a fresh worker process per job
            assert all(r["ran_on"]["torch_threads"] == HEAD_CPUS for r in results)
        accuracies[name] = [(r["model"], r["strategy"], round(r["test_acc"], 6)) for r in results]
        registry.shutdown()
    assert accuracies["ray"] == accuracies["local"]


@pytest.mark.slow
def test_a_yolo_training_job_runs_through_ray(tmp_path, ray_head):
    from vision_demo.datasets.shapes import write_shapes
    from vision_demo.detect.train import YoloTrainConfig, submit

    data = write_shapes(tmp_path / "shapes", train=8, val=4, size=160, seed=0)
    registry = JobRegistry(tmp_path / "jobs", executor=_ray_executor(ray_head, job_cpus=HEAD_CPUS))
    events = []
    registry.add_listener(events.append)
    job_id = submit(registry, YoloTrainConfig(data=str(data), epochs=1, imgsz=160, batch=8))
    state = registry.wait(job_id, timeout=300)
    assert state.status == "finished", state.error
    assert [e.data["epoch"] for e in events if e.type == "epoch_end"] == [1]
    assert state.result["ran_on"]["pid"] != os.getpid() and state.result["ran_on"]["executor"].startswith("ray:")
    assert Path(state.result["best_weights"]).is_file()   # written by the worker into the shared job folder
    registry.shutdown()
