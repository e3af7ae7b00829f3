"""Ray's start-up and per-job overhead: `compare --data scenes` locally, then through a Ray head on 127.0.0.1.

    python benchmarks/bench_ray.py [--epochs 3] [--img-size 96]

Prints the head's start time, both compares' wall times, their ratio, the overhead per job (the CLI's total
minus the jobs' own wall_seconds) and each run's accuracy (which must be the same on both). Loopback only:
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, as in the tests (never on a real cluster).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compare(work: Path, extra_env: dict, args) -> tuple[float, list[dict]]:
    env = {**os.environ, "VISION_DEMO_HOME": str(work), **extra_env}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vision_demo", "compare", "--data", "scenes", "--epochs", str(args.epochs),
                    "--img-size", str(args.img_size)], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    results = [json.loads(p.read_text()) for p in sorted((work / "jobs").glob("*/result.json"))]
    return wall, sorted(results, key=lambda r: (r["model"], r["strategy"]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--img-size", type=int, default=96)
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    scratch = Path(tempfile.mkdtemp(prefix="vdbench-ray-"))
    local_wall, local = compare(scratch / "local", {}, args)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="vdrb-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "_VISION_DEMO_SET")}
    env["PYTHONPATH"] = str(ROOT)
    log = Path(temp) / "head.log"
    t0 = time.perf_counter()
    head = subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                             "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={args.cpus}",
                             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        while "Ray runtime started" not in log.read_text():
            if head.poll() is not None:
                print(log.read_text()[-2000:])
                return 1
            time.sleep(0.2)
        head_seconds = time.perf_counter() - t0
        ray_wall, remote = compare(scratch / "ray", {"VISION_DEMO_EXECUTOR": f"ray:127.0.0.1:{port}",
                                                      "VISION_DEMO_JOB_CPUS": str(args.cpus)}, args)
    finally:
        head.terminate()
        head.wait(60)
    print(f"head up in {head_seconds:.1f} s; compare local {local_wall:.1f} s, through Ray {ray_wall:.1f} s "
          f"(ratio {ray_wall / local_wall:.2f})")
    for name, wall, results in (("local", local_wall, local), ("ray", ray_wall, remote)):
        per_job = (wall - sum(r["wall_seconds"] for r in results)) / len(results)
        print(f"{name}: outside the jobs' own time {per_job:.1f} s per job; pids "
              f"{sorted({r['ran_on']['pid'] for r in results})}")
    for a, b in zip(local, remote):
        print(f"{a['model_label']:45s} local {a['test_acc']:.4f}  ray {b['test_acc']:.4f}  "
              f"{'same' if abs(a['test_acc'] - b['test_acc']) < 1e-6 else 'DIFFERENT'}  on {b['ran_on']['node']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
