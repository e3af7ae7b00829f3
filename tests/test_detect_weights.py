"""Weights: the bundled default works offline; an uploaded .pt is loaded only by the safe loader."""
import shutil
import subprocess
import sys

import pytest

from vision_demo.detect.weights import (BUNDLED_KEY, default_weights, load_uploaded_weights, resolve_weights,
                                        weight_choices)
from vision_demo.errors import VisionDemoError

EVIL = """
import sys, torch
class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch " + sys.argv[2],))
torch.save({"model": Evil(), "epoch": 1}, sys.argv[1])
"""


def test_default_is_the_bundled_person_detector_and_listed_first():
    path = default_weights()
    assert path.name == "best.pt" and path.parent.name == "models" and path.is_file()
    choices = weight_choices()
    assert choices[0].key == BUNDLED_KEY and choices[0].available and choices[0].path == str(path)
    assert resolve_weights(None) == path


def test_coco_weights_offline_are_a_clear_error_not_a_download(no_network):
    choices = {c.key: c for c in weight_choices()}
    if not choices["yolov8n.pt"].available:
        assert "--online" in choices["yolov8n.pt"].note
        with pytest.raises(VisionDemoError, match="offline"):
            resolve_weights("yolov8n.pt")
    with pytest.raises(VisionDemoError, match="unknown weights"):
        resolve_weights("yolov99x.pt")   # a bare unknown name is never handed to Ultralytics
    assert no_network == []


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    evil, marker = tmp_path / "best.pt", tmp_path / "PWNED"
    subprocess.run([sys.executable, "-c", EVIL, str(evil), str(marker)], check=True)
    assert evil.is_file() and not marker.exists()
    with pytest.raises(VisionDemoError, match="safe loader"):
        load_uploaded_weights(evil)
    assert not marker.exists(), "the pickle's code ran"
    from vision_demo import settings
    uploads = settings.work_dir() / "weights" / "uploads"
    assert not any(p.name.startswith("best-") for p in uploads.glob("*.pt"))  # the refused copy was removed
    # resolving it by path and loading it as a detector is refused the same way
    from vision_demo.detect.detector import Detector
    with pytest.raises(VisionDemoError):
        Detector(evil)
    assert not marker.exists()


def test_not_a_checkpoint_and_wrong_suffix(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a zip")
    with pytest.raises(VisionDemoError, match="safe loader"):
        load_uploaded_weights(junk)
    onnx = tmp_path / "x.onnx"
    onnx.write_text("x")
    with pytest.raises(VisionDemoError, match=r"not a \.pt file"):
        load_uploaded_weights(onnx)


@pytest.mark.slow
def test_a_real_yolo_checkpoint_uploads_and_is_offered(tmp_path):
    upload = tmp_path / "my weights.pt"
    shutil.copyfile(default_weights(), upload)
    stored = load_uploaded_weights(upload)
    assert stored.parent.name == "uploads" and stored.suffix == ".pt" and " " not in stored.name
    assert load_uploaded_weights(upload) == stored            # same content, same copy
    assert any(c.path == str(stored) for c in weight_choices())
    assert resolve_weights(str(stored)) == stored


def test_concurrent_uploads_of_one_file_do_not_collide_and_leave_no_partial_files(tmp_path):
    import threading
    upload = tmp_path / "same.pt"
    shutil.copyfile(default_weights(), upload)
    results, errors = [], []

    def go():
        try:
            results.append(load_uploaded_weights(upload))
        except Exception as err:  # noqa: BLE001 - any error is a failure here
            errors.append(err)
    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(results) == 3 and len(set(results)) == 1 and results[0].is_file()
    assert not [p for p in results[0].parent.iterdir() if p.name.startswith(".partial-")]


def test_upload_is_refused_when_the_safe_loader_is_not_supported(tmp_path, monkeypatch):
    from vision_demo.ultralytics_env import ultralytics_ready
    ultralytics_ready()
    from ultralytics.nn import tasks
    assert tasks._SafeLoad.SUPPORTED        # the installed torch/ultralytics pair can load safely
    monkeypatch.setattr(tasks._SafeLoad, "SUPPORTED", False)
    upload = tmp_path / "unsafe-env.pt"
    shutil.copyfile(default_weights(), upload)
    with pytest.raises(VisionDemoError, match="cannot load .pt files safely"):
        load_uploaded_weights(upload)
    from vision_demo import settings
    uploads = settings.work_dir() / "weights" / "uploads"
    assert not [p for p in uploads.glob("unsafe-env-*.pt")] and not list(uploads.glob(".partial-*"))


def test_job_weights_are_looked_up_in_the_registry_the_caller_holds(tmp_path):
    """"job:<id>" names a job of a registry that is passed in (the UI's, the CLI's, a running job's context);
    detect/ never reaches for the default registry itself."""
    from vision_demo.detect import train
    from vision_demo.jobs import JobRegistry

    best = tmp_path / "best.pt"
    best.write_bytes(b"weights")
    registry = JobRegistry(tmp_path / "jobs")
    finished = registry.submit("detect", "trained", {}, lambda ctx: {"best_weights": str(best)})
    assert registry.wait(finished, 5).status == "finished"
    assert resolve_weights(f"job:{finished}", registry=registry) == best
    with pytest.raises(VisionDemoError, match="no job registry was given"):
        resolve_weights(f"job:{finished}")
    with pytest.raises(VisionDemoError, match="no detection job 'nope'"):
        resolve_weights("job:nope", registry=registry)
    # A YOLO training job that starts from another job's weights finds them through its own context.
    config = train.YoloTrainConfig(weights=f"job:{finished}")
    seen = registry.submit("test", "start weights", {}, lambda ctx: {"start": train._start_weights(config, ctx)})
    assert tuple(registry.wait(seen, 5).result["start"]) == (str(best), "job")
    registry.shutdown()
