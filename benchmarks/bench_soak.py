"""Memory and fairness under a class's load: figures, not asserts (tests/test_soak.py asserts only the memory bound).

    python benchmarks/bench_soak.py                      # 8 clients x 25 detects + a training job, twice
    python benchmarks/bench_soak.py --clients 4 --detects 10 --rounds 3

A real app server on 127.0.0.1 (in this process, so its memory is this process's), driven by `gradio_client`
clients in threads, each sending bus.jpg to /detect while a small training job runs. Printed per round: calls,
failures, wall time, detects/s, median and p95 latency, the training job's status, and the resident memory
(RSS) after the round. The first round loads the models; caches are bounded, so later rounds must add little:
the issue's bound is under 100 MB for the second round.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vision_demo  # noqa: E402,F401  (offline environment first)


def rss_mb() -> float:
    """This process's resident memory now (Linux /proc; ru_maxrss would only give the peak), after a garbage
    collection and glibc's malloc_trim: memory already freed but still held by the allocator is handed back
    first, so the figure is what the process really keeps, not how fragmented its heap happens to be."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):   # not glibc
        pass
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def soak_round(url: str, registry, data: str, clients: int = 8, detects: int = 25) -> dict:
    """One round: `clients` threads x `detects` calls of /detect on bus.jpg, with a training job submitted at the
    start. Returns the figures (latencies in ms)."""
    import ultralytics
    from gradio_client import Client, handle_file

    from vision_demo.classify.train import TrainConfig, submit

    bus = str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg")
    job_id = submit(registry, TrainConfig(data=data, model="simple_cnn", strategy="scratch", epochs=2, img_size=48,
                                          batch_size=8))
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def one_client() -> None:
        client = Client(url, analytics_enabled=False, verbose=False)
        try:
            for _ in range(detects):
                started = time.perf_counter()
                try:
                    client.predict(image=handle_file(bus), api_name="/detect")
                except Exception as err:  # a failed call is a figure of the soak, not a crash of it
                    with lock:
                        failures.append(f"{type(err).__name__}: {str(err)[:120]}")
                    continue
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
        finally:
            client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=one_client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    job = registry.wait(job_id, timeout=300)
    latencies.sort()
    return {"calls": clients * detects, "failures": len(failures), "failure_examples": failures[:3],
            "wall_s": wall, "detects_per_s": len(latencies) / wall if wall else 0.0,
            "median_ms": statistics.median(latencies) if latencies else float("nan"),
            "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
            "training": job.status, "rss_mb": rss_mb()}


def serve(registry):
    """The real app, launched as `python app.py` launches it; returns (demo, url)."""
    from vision_demo.ui.app import build_demo, launch_options

    port = free_port()
    demo = build_demo(registry, warm_up=False)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(host="127.0.0.1", port=port))
    return demo, f"http://127.0.0.1:{port}/"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--detects", type=int, default=25, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)

    from vision_demo import settings
    from vision_demo.datasets.scenes import write_scenes
    from vision_demo.jobs import JobRegistry

    settings.configure(work=tempfile.mkdtemp(prefix="vd-soak-"))
    data = settings.subdir("datasets", "soak")
    write_scenes(data, per_class=5, size=48, seed=1, test_per_class=3)
    registry = JobRegistry(settings.subdir("jobs"))
    demo, url = serve(registry)
    print(f"machine: {os.cpu_count()} CPUs; server {url}; start RSS {rss_mb():.0f} MB")
    try:
        previous = rss_mb()
        for r in range(1, args.rounds + 1):
            f = soak_round(url, registry, str(data), args.clients, args.detects)
            print(f"round {r}: {f['calls']} detects from {args.clients} clients, {f['failures']} failed, "
                  f"{f['wall_s']:.1f} s ({f['detects_per_s']:.1f}/s), median {f['median_ms']:.0f} ms, "
                  f"p95 {f['p95_ms']:.0f} ms, training job {f['training']}; RSS {f['rss_mb']:.0f} MB "
                  f"({f['rss_mb'] - previous:+.0f} MB)")
            for example in f["failure_examples"]:
                print(f"    failed: {example}")
            previous = f["rss_mb"]
    finally:
        demo.close()
        registry.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
