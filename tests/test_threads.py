"""Training and detection in one process keep torch on every core.

Ultralytics' select_device() (run when it loads a model to predict or train) calls
torch.set_num_threads(cores - 1) for the whole process: on a 2-core laptop, one thread. In the app a single
drawn box used to leave every later training job on one core (ResNet-18 from scratch ~1.6x slower than from
the CLI). Real model, real training run; no mocks.
"""
import threading

import numpy as np
import pytest
import torch

from vision_demo.devices import cpu_threads


@pytest.fixture
def threads_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_settings_tell_ultralytics_how_many_cores_there_are():
    import os

    import ultralytics  # noqa: F401  (sets OMP_NUM_THREADS=1 at import when it is unset)

    assert os.environ["OMP_NUM_THREADS"] == str(cpu_threads())


def test_a_detection_leaves_torch_all_its_threads(threads_restored):
    from vision_demo.detect.detector import Detector
    from vision_demo.detect.weights import default_weights

    detector = Detector(default_weights())   # a new one: Ultralytics sets up its predictor (select_device) again
    detector.predict(np.zeros((96, 128, 3), np.uint8), imgsz=128, runtime="torch")
    assert torch.get_num_threads() == cpu_threads()


def test_a_training_job_takes_its_threads_back(threads_restored, tmp_path):
    from vision_demo.classify.train import TrainConfig, submit
    from vision_demo.datasets.scenes import write_scenes
    from vision_demo.jobs import JobRegistry

    write_scenes(tmp_path / "scenes", per_class=4, size=32, seed=1, test_per_class=2)
    registry = JobRegistry(tmp_path / "jobs")
    seen = []   # torch's threads as the job's own thread sees them (listeners run in it)
    registry.add_listener(lambda event: seen.append((threading.current_thread().name, torch.get_num_threads())))
    torch.set_num_threads(1)   # what select_device leaves on a 2-core machine
    config = TrainConfig(data=str(tmp_path / "scenes"), model="simple_cnn", strategy="scratch", epochs=1,
                         img_size=32)
    state = registry.wait(submit(registry, config), timeout=120)
    assert state.status == "finished", state.error
    job_thread = [n for name, n in seen if name != threading.main_thread().name]
    assert job_thread and job_thread[-1] == cpu_threads(), seen


def test_the_launched_queue_polls_every_20_ms_not_every_millisecond(tmp_path):
    """Gradio's idle queue loop wakes every 1 ms on Linux, each time taking the GIL from a training thread."""
    from conftest import free_port
    from vision_demo.jobs import JobRegistry
    from vision_demo.ui.app import QUEUE_POLL_S, build_demo, launch_options

    registry = JobRegistry(tmp_path / "jobs")
    demo = build_demo(registry, warm_up=False)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(host="127.0.0.1", port=free_port()))
    try:
        assert demo._queue.sleep_when_free >= QUEUE_POLL_S >= 0.02
    finally:
        demo.close()
        registry.shutdown()
