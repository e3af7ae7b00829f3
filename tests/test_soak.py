"""Memory under a class's load (issue 7): 8 gradio_client clients x 25 detects + a training job, twice,
against a real server on 127.0.0.1. The second run must add under 100 MB of resident memory: the first loads
the models, and every cache is bounded. Figures: python benchmarks/bench_soak.py."""
import importlib.util
from pathlib import Path

import pytest

from conftest import serve_app

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_soak.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_second_soak_adds_under_100_mb_and_nothing_fails(tmp_path, tiny_scenes, no_network):
    from vision_demo.jobs import JobRegistry

    bench = _bench()
    registry = JobRegistry(tmp_path / "jobs")
    with serve_app(registry) as url:
        first = bench.soak_round(url, registry, tiny_scenes, clients=8, detects=25)
        second = bench.soak_round(url, registry, tiny_scenes, clients=8, detects=25)
    registry.shutdown()
    print(f"soak: first {first}, second {second}")
    for figures in (first, second):
        assert figures["failures"] == 0, figures["failure_examples"]
        assert figures["training"] == "finished"
    assert second["rss_mb"] - first["rss_mb"] < 100, (first["rss_mb"], second["rss_mb"])
    assert not no_network
