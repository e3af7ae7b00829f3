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
