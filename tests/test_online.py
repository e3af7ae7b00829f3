"""Issue 12 offline: a Space's environment, files in the caches the online features fill, and `prefetch`
against a local HTTP server (no real download: the sources are redirected with VISION_DEMO_MIRROR)."""
import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest

from vision_demo import settings
from vision_demo.cli import main
from vision_demo.errors import VisionDemoError


@pytest.fixture
def fresh_work(tmp_path, monkeypatch):
    """A work folder of the test's own: files placed in its caches must not change the other tests' defaults.
    The CLI's configure() may switch the offline variables: they are switched back afterwards."""
    work, session_work = tmp_path / "work", os.environ["VISION_DEMO_HOME"]
    monkeypatch.setenv("VISION_DEMO_HOME", str(work))
    yield work
    monkeypatch.setenv("VISION_DEMO_HOME", session_work)
    settings.configure(online_mode=False)
    import sys
    if "ultralytics" in sys.modules:   # its settings (weights_dir, datasets_dir) back on the session's work folder
        from vision_demo.ultralytics_env import ultralytics_ready
        ultralytics_ready()


def test_a_space_goes_online_and_keeps_its_work_in_persistent_storage(tmp_path, monkeypatch):
    monkeypatch.delenv("VISION_DEMO_HOME")
    monkeypatch.delenv("VISION_DEMO_ONLINE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not settings.online() and settings.work_path() == tmp_path / "vision_demo_work"   # a laptop
    monkeypatch.setenv("SPACE_ID", "teacher/vision-demo")
    data = tmp_path / "data"                        # stands in for the Space's /data
    monkeypatch.setattr(settings, "SPACE_PERSISTENT_DIR", data)
    assert settings.online()                        # a Space has a network
    assert settings.work_path() == tmp_path / "vision_demo_work" and "no persistent storage" in settings.persistence_note()
    data.mkdir()
    assert settings.work_path() == data / "vision_demo_work" and settings.persistence_note() == ""
    monkeypatch.setenv("VISION_DEMO_ONLINE", "0")   # the owner's choice wins
    assert not settings.online()
    monkeypatch.setenv("VISION_DEMO_HOME", str(tmp_path / "mine"))
    assert settings.work_path() == tmp_path / "mine"


def test_resnet18_weights_in_a_cache_are_used_without_a_download(fresh_work, no_network):
    import torch
    from torchvision.models import resnet18

    from vision_demo.classify import models
    from vision_demo.classify.pretrained import RESNET18_FILE

    with pytest.raises(VisionDemoError, match="internet"):
        models.check_pretrained_available("resnet18")
    state = resnet18(num_classes=1000).state_dict()     # the right shapes, our own numbers
    (fresh_work / "weights").mkdir(parents=True)
    torch.save(state, fresh_work / "weights" / RESNET18_FILE)
    assert models.check_pretrained_available("resnet18") == "cache"
    model, source = models.build_model("resnet18", num_classes=6, pretrained=True)
    assert source == "cache"
    assert torch.equal(model.conv1.weight, state["conv1.weight"]) and model.fc.out_features == 6
    assert not no_network


def coco_checkpoint(path: Path) -> Path:
    """A real Ultralytics checkpoint with COCO's 80 names, built here from yolov8n.yaml (random weights)."""
    import ultralytics
    import yaml

    from vision_demo.ultralytics_env import ultralytics_ready

    ultralytics_ready()
    from ultralytics import YOLO

    names = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml").read_text())["names"]
    model = YOLO("yolov8n.yaml")
    model.model.names = names
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    return path


def test_a_cached_coco_model_becomes_the_default_detector(fresh_work, no_network):
    from vision_demo.detect import weights
    from vision_demo.detect.detector import get_detector

    assert weights.default_detector_key() == weights.BUNDLED_KEY
    coco_checkpoint(fresh_work / "weights" / "yolov8n.pt")
    assert weights.default_detector_key() == "yolov8n.pt"
    assert not weights.is_bundled_key(None) and weights.is_bundled_key("person (bundled)")
    choices = {c.key: c for c in weights.weight_choices()}
    assert choices["yolov8n.pt"].available and choices[weights.BUNDLED_KEY].available   # the bundled one stays
    detector = get_detector(None)
    names = list(detector.names.values()) if isinstance(detector.names, dict) else list(detector.names)
    assert len(names) == 80 and names[:3] == ["person", "bicycle", "car"]
    assert not no_network


class _Files(http.server.SimpleHTTPRequestHandler):
    """A local file server with Range support; `cut_after` bytes of the first answer, then the connection drops."""
    cut_after: int | None = None
    ranges: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.directory) / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        header = self.headers.get("Range")
        type(self).ranges.append(header)
        if header and header.startswith("bytes="):
            start = int(header[6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if type(self).cut_after is not None:
            body, type(self).cut_after = body[:type(self).cut_after], None
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = type("Handler", (_Files,), {"ranges": [], "cut_after": None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             lambda *a, **kw: handler(*a, directory=str(folder), **kw))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("VISION_DEMO_MIRROR", f"http://127.0.0.1:{server.server_port}/")
    monkeypatch.setenv("VISION_DEMO_ONLINE", "1")
    yield folder, handler
    server.shutdown()


def test_prefetch_resumes_an_interrupted_download_and_refuses_a_bad_checksum(fresh_work, mirror, capsys):
    from vision_demo import prefetch
    from vision_demo.detect import weights

    folder, handler = mirror
    source = coco_checkpoint(folder / "yolov8n.pt")
    handler.cut_after = 1_000_000                    # the first answer stops after 1 MB
    with pytest.raises(VisionDemoError, match="interrupted.*run prefetch again to resume"):
        prefetch.prefetch(["yolov8n"])
    partial = fresh_work / "weights" / "yolov8n.pt.partial"
    assert partial.stat().st_size == 1_000_000 and not (fresh_work / "weights" / "yolov8n.pt").exists()
    assert main(["prefetch", "--what", "yolov8n"]) == 0          # the CLI resumes it
    assert handler.ranges[-1] == "bytes=1000000-"
    target = fresh_work / "weights" / "yolov8n.pt"
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert not partial.exists() and weights.default_detector_key() == "yolov8n.pt"

    (folder / "resnet18-f37072fd.pth").write_bytes(os.urandom(4096))   # not torchvision's file
    with pytest.raises(VisionDemoError, match=r"resnet18: checksum mismatch .* refused and deleted"):
        prefetch.prefetch(["resnet18"])
    assert not list((fresh_work / "weights").glob("resnet18*"))
    capsys.readouterr()
    assert main(["prefetch", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "cached   yolov8n" in listing and "missing  resnet18" in listing and "missing  coco8" in listing


def test_prefetch_offline_and_unknown_items_are_one_line(fresh_work, monkeypatch, capsys):
    monkeypatch.setenv("VISION_DEMO_ONLINE", "0")
    assert main(["prefetch", "--what", "yolov8n"]) == 1
    assert "--online" in capsys.readouterr().err
    monkeypatch.setenv("VISION_DEMO_ONLINE", "1")
    assert main(["prefetch", "--what", "resnet50"]) == 1
    assert "unknown item(s) resnet50" in capsys.readouterr().err


@pytest.mark.slow
def test_with_resnet18_in_the_hub_cache_the_presets_run_the_seeds_backbone(fresh_work, tmp_path, monkeypatch,
                                                                          tiny_scenes, no_network):
    import torch
    from torchvision.models import resnet18

    from vision_demo.classify import models
    from vision_demo.classify.pretrained import RESNET18_FILE
    from vision_demo.classify.train import default_backbone, submit_preset
    from vision_demo.jobs import JobRegistry

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))   # torch's own hub cache, as a user has it
    assert default_backbone() == "efficientnet_lite0"            # offline, nothing cached: the bundled weights
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(resnet18(num_classes=1000).state_dict(), checkpoints / RESNET18_FILE)
    assert default_backbone() == "resnet18"

    registry = JobRegistry(tmp_path / "jobs")
    ids = submit_preset(registry, "Exercise 4: pretrained backbone, fine-tuned from the frozen run", data=tiny_scenes,
                        epochs=1, img_size=32, batch_size=16)
    frozen, finetune = (registry.wait(i, timeout=240) for i in ids)
    assert (frozen.status, finetune.status) == ("finished", "finished"), (frozen.error, finetune.error)
    assert frozen.config["model"] == finetune.config["model"] == "resnet18"
    assert frozen.result["weights_source"] == finetune.result["weights_source"] == "cache"
    model, _ = models.build_model("resnet18", num_classes=6, pretrained=False)
    layer4_and_fc = sum(p.numel() for m in (model.layer4, model.fc) for p in m.parameters())
    assert finetune.result["trainable_params"] == layer4_and_fc and finetune.result["lr"] == 1e-4
    registry.shutdown()
    assert not no_network


def test_the_data_tab_downloads_the_pack_as_a_job_and_lists_it(fresh_work, mirror, no_network):
    from vision_demo import prefetch
    from vision_demo.ui import data_tab

    folder, _ = mirror
    steps = list(data_tab.download_pack())                   # the mirror is empty: the first item fails
    assert steps[-1].startswith("**The download stopped:** resnet18: the download failed (404")
    assert "| – missing | **resnet18**" in steps[-1]
    coco_checkpoint(folder / "yolov8n.pt")
    prefetch.prefetch(["yolov8n"])
    table = data_tab.pack_markdown()
    assert "| ✓ cached | **yolov8n**" in table and "| – missing | **coco8**" in table
    assert not no_network
