"""Take it home: every export of a real tiny job loaded by its own runtime gives PyTorch's classes; the table as
CSV, the charts as offline HTML and PNG; the same through a real server (gradio_client) and the CLI.

The parity figures for the note are printed (run with -s): images compared, top-1 agreement, largest
probability difference, per job and format.
"""
import ast
import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import serve_app
from vision_demo.errors import VisionDemoError

RUNS = [("simple_cnn", "scratch"), ("efficientnet_lite0", "frozen")]


@pytest.fixture(scope="module")
def jobs(tmp_path_factory, tiny_scenes):
    """Two finished jobs, 1 epoch on the tiny scenes at 48 px: a small CNN from scratch and a frozen Lite0
    (ImageNet normalization inside its export)."""
    from vision_demo.classify.train import TrainConfig, submit
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("export-jobs"))
    ids = {}
    for model, strategy in RUNS:
        job_id = submit(registry, TrainConfig(data=tiny_scenes, model=model, strategy=strategy, epochs=1,
                                              img_size=48, batch_size=16))
        state = registry.wait(job_id, timeout=300)
        assert state.status == "finished", state.error
        ids[(model, strategy)] = job_id
    yield registry, ids
    registry.shutdown()


def unzip(path: Path, into: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(into)
        top = {Path(n).parts[0] for n in archive.namelist()}
    assert top == {Path(path).stem}     # one folder inside, named like the zip
    return into / Path(path).stem


def load_runtime(folder: Path, fmt: str):
    """The exported model in its own runtime, as a user would open it (no vision_demo code)."""
    if fmt == "torchscript":
        import torch
        model = torch.jit.load(str(folder / "model.torchscript.pt")).eval()
        return lambda x: model(torch.from_numpy(x)).detach().numpy()
    if fmt == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"image": x})[0]
    import openvino
    # as the download's README compiles it: f32 asked for (a CPU with AMX would run bf16 by default), and read back
    hint = (folder / "README.md").read_text().split('compile_model("model.xml", "CPU", ')[1].split(")")[0]
    compiled = openvino.Core().compile_model(str(folder / "model.xml"), "CPU", ast.literal_eval(hint))
    assert "float32" in str(compiled.get_property("INFERENCE_PRECISION_HINT")).lower()
    return lambda x: np.asarray(compiled(x)[0])


def raw_pixels(path, size: int) -> np.ndarray:
    """The image as 0-255 uint8 NCHW at the model's size: resized, nothing else (no /255, no mean/std)."""
    from PIL import Image
    img = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)[None].copy()


@pytest.mark.parametrize("run", RUNS, ids=lambda r: "-".join(r))
@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "openvino"])
def test_each_export_gives_pytorchs_classes_on_every_test_image(jobs, run, fmt, tmp_path, no_network):
    from vision_demo import settings
    from vision_demo.classify.export import image_input
    from vision_demo.classify.predict import load_classifier
    from vision_demo.take_home import build_download, find_job

    registry, ids = jobs
    job = find_job(ids[run], registry)
    path = build_download(job, fmt)
    assert path.is_relative_to(settings.work_dir() / "exports" / "take-home")
    folder = unzip(path, tmp_path)
    info = json.loads((folder / "model.json").read_text())
    assert info["input_size"] == 48 and info["input_layout"] == "NCHW" and len(info["classes"]) == 6
    assert info["normalization_inside"].startswith("ImageNet")     # both jobs trained with normalization
    assert "```python" in (folder / "README.md").read_text()

    classifier = load_classifier(job.weights)
    predict = load_runtime(folder, fmt)
    images = [p["path"] for p in job.result["test_predictions"]]
    same, worst = 0, 0.0
    for image in images:
        reference = dict(classifier.predict(image, k=6))             # PyTorch, with its own transform
        probs = predict(image_input(image, 48))[0]                   # 0-255 uint8, no preprocessing
        assert probs.shape == (6,) and abs(float(probs.sum()) - 1) < 1e-4
        same += info["classes"][int(probs.argmax())] == max(reference, key=reference.get)
        worst = max(worst, max(abs(float(probs[i]) - reference[c]) for i, c in enumerate(info["classes"])))
    print(f"\nparity {'-'.join(run)} {fmt}: {same}/{len(images)} test images same top-1 "
          f"({100 * same / len(images):.0f} %), max |dp| {worst:.1e}; export check: {info['check']}")
    assert same == len(images) == 18 and worst < 1e-4
    assert info["check"]["same_top1"] == info["check"]["images"] == 18

    # A plain PIL resize of the file (what the README does) gives the same classes too, a batch at once.
    if fmt == "onnx":
        batch = np.concatenate([raw_pixels(p, 48) for p in images])
        top = predict(batch).argmax(1)
        agree = np.mean([info["classes"][t] == classifier.predict(p, k=1)[0][0] for t, p in zip(top, images)])
        print(f"parity {'-'.join(run)} onnx, PIL resize, batch of {len(images)}: {100 * agree:.0f} % same top-1")
        assert agree >= 0.8   # PIL's resize is not torchvision's antialiased one: a close call may flip


def test_torchscript_takes_float_pixels_too_and_pt_is_the_checkpoint(jobs, tmp_path):
    import torch

    from vision_demo.classify.predict import read_checkpoint
    from vision_demo.take_home import build_download, find_job

    registry, ids = jobs
    job = find_job(ids[RUNS[0]], registry)
    model = torch.jit.load(str(unzip(build_download(job, "torchscript"), tmp_path / "ts") / "model.torchscript.pt"))
    x = torch.randint(0, 256, (3, 3, 48, 48), dtype=torch.uint8)
    assert torch.allclose(model(x), model(x.float()), atol=1e-6)      # uint8 or float 0..255, a batch of 3
    ckpt = read_checkpoint(unzip(build_download(job, "pt"), tmp_path / "pt") / "model.pt")
    assert ckpt["classes"] == job.result["classes"]


def test_a_second_request_returns_the_same_file_without_exporting(jobs):
    from vision_demo.take_home import DOWNLOADS, build_download, find_job

    registry, ids = jobs
    job = find_job(ids[RUNS[0]], registry)
    first = DOWNLOADS.wait(job, "onnx")
    stamp = first.stat().st_mtime_ns
    path, job_id = DOWNLOADS.request(job, "onnx")
    assert (path, job_id) == (first, "")                 # found on disk: no job
    assert build_download(job, "onnx") == first and first.stat().st_mtime_ns == stamp
    assert not list(first.parent.parent.glob(".*partial*"))   # built beside, renamed into place


def test_a_failed_build_is_retried_and_a_shut_down_downloads_starts_no_build(tmp_path):
    """A build runs once per file; one that failed is built again on the next request; once shut down (at exit)
    a request starts no build (a converter killed halfway by the interpreter aborts the process) and says why."""
    from vision_demo.take_home import Downloads, FinishedJob, download_folder

    weights = tmp_path / "model.pt"
    weights.write_bytes(b"no checkpoint at all")
    job = FinishedJob("classify", "a broken run", weights, {"checkpoint": str(weights)})
    downloads = Downloads()
    _, first = downloads.request(job, "onnx")
    state = downloads.registry().wait(first, 60)
    assert state.status == "failed" and "checkpoint" in state.error
    _, second = downloads.request(job, "onnx")
    assert second != first                                     # a failure is not the answer for good
    downloads.registry().wait(second, 60)
    before = {s.id for s in downloads.registry().snapshot()}
    downloads.shutdown()
    with pytest.raises(VisionDemoError, match="the app is stopping"):
        downloads.request(job, "onnx")
    assert {s.id for s in downloads.registry().snapshot()} == before
    assert list(downloads.jobs.ids().values()) == [second] and not download_folder(job, "onnx").exists()


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_the_readme_snippet_runs_as_written(jobs, tmp_path, fmt):
    from conftest import asset
    from vision_demo.take_home import build_download, find_job

    registry, ids = jobs
    job = find_job(ids[RUNS[1]], registry)
    folder = unzip(build_download(job, fmt), tmp_path)
    (folder / "photo.jpg").write_bytes(asset("bus.jpg").read_bytes())
    snippet = (folder / "README.md").read_text().split("```python\n")[1].split("```")[0]
    out = subprocess.run([sys.executable, "-c", snippet], cwd=folder, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    name, prob = out.stdout.split()
    assert name in job.result["classes"] and 0 < float(prob) <= 1


def test_the_download_pickers_offer_the_tables_formats_with_its_labels(tmp_path):
    """The Format picker of each training tab is the table's formats for that kind of job, labelled from it (a
    format without a label used to be a KeyError while the page was built)."""
    import gradio as gr

    from vision_demo.formats import EXPORT_FORMATS, formats_for
    from vision_demo.jobs import JobRegistry
    from vision_demo.ui import download_view

    for kind in ("classify", "detect"):
        with gr.Blocks() as demo:
            download_view.build(JobRegistry(tmp_path / kind), kind, gr.State([]), gr.State(True), api_names=False)
        [picker] = [c for c in demo.blocks.values() if isinstance(c, gr.Dropdown) and c.label == "Format"]
        assert [tuple(choice) for choice in picker.choices] == [(EXPORT_FORMATS[f].label, f) for f in formats_for(kind)]
    assert formats_for("classify") == ("pt", "torchscript", "onnx", "openvino")    # what users had: unchanged
    assert formats_for("detect") == ("pt", "onnx", "openvino")


def test_a_new_format_is_one_entry_in_the_table_plus_its_own_code(jobs, monkeypatch, capsys):
    """A format added to vision_demo/formats.py (its writer, runtime and README snippet being its own code) is
    offered, built, checked against PyTorch and zipped by the code that already exists."""
    from vision_demo import formats
    from vision_demo.classify import export
    from vision_demo.cli import main
    from vision_demo.take_home import download_info

    entry = formats.ExportFormat("onnx-again", "ONNX, once more", ("classify",), needs=("onnx", "onnxruntime"),
                                 writer=f"{export.__name__}:write_onnx", runtime=f"{export.__name__}:onnx_predict")
    monkeypatch.setitem(formats.EXPORT_FORMATS, entry.name, entry)
    monkeypatch.setitem(export.SNIPPETS, entry.name, export.SNIPPETS["onnx"])
    registry, ids = jobs
    assert "onnx-again" in formats.formats_for("classify") and "onnx-again" not in formats.formats_for("detect")
    assert main(["export", "--job", registry.get(ids[RUNS[0]]).out_dir, "--format", "onnx-again"]) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    info = download_info(path)
    assert path.name.endswith("-onnx-again.zip") and info["format"] == "onnx-again"
    assert info["check"]["images"] > 0 and info["check"]["same_top1"] == info["check"]["images"]


def test_wrong_jobs_and_formats_are_one_sentence(jobs, tmp_path):
    from vision_demo.take_home import check_format, find_job

    registry, ids = jobs
    with pytest.raises(VisionDemoError, match="job ids look like"):
        find_job("20990101-000000-abcdef", registry)
    with pytest.raises(VisionDemoError, match="job ids look like"):   # a visitor may not name a folder
        find_job(str(tmp_path), registry, allow_folders=False)
    with pytest.raises(VisionDemoError, match="no result.json"):
        find_job(str(tmp_path), registry)
    with pytest.raises(VisionDemoError, match="exports as pt, torchscript, onnx, openvino, not 'tflite'"):
        check_format(find_job(ids[RUNS[0]], registry), "tflite")


def test_the_comparison_table_as_csv_has_the_tables_rows(jobs):
    from vision_demo.take_home import table_csv
    from vision_demo.ui import job_view

    registry, _ = jobs
    rows = job_view.comparison_rows(registry.snapshot(kind="classify"))
    path = table_csv(job_view.COMPARISON_HEADERS, rows)
    with path.open(newline="", encoding="utf-8") as f:
        read = list(csv.reader(f))
    assert read[0] == job_view.COMPARISON_HEADERS and read[1:] == rows and len(rows) == 2
    assert "SimpleCNN" in read[1][0]
    with pytest.raises(VisionDemoError, match="empty"):
        table_csv(job_view.COMPARISON_HEADERS, [])


def test_charts_as_html_embed_plotly_and_open_offline_and_as_png(jobs):
    import re

    from vision_demo.take_home import figure_file
    from vision_demo.ui import job_view

    registry, _ = jobs
    fig = job_view.history_figure(registry.snapshot(kind="classify"), job_view.CLASSIFY_LOSS, "Loss", "x")
    page = figure_file(fig, "html", "Loss curves").read_text()
    assert len(page) > 1_000_000 and "plotly.js v" in page           # plotly.js itself, inside the file
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", page)   # no script from a CDN
    assert "SimpleCNN" in page
    png = figure_file(fig, "png", "Loss curves")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert figure_file(fig, "png", "Loss curves") == png             # the same figure: the same file


def test_cli_exports_a_train_out_folder_and_bad_input_is_one_line(tiny_scenes, tmp_path, capsys):
    from vision_demo.cli import main

    out = tmp_path / "run"
    assert main(["train", "--data", tiny_scenes, "--model", "simple_cnn", "--strategy", "scratch", "--epochs", "1",
                 "--img-size", "48", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", "--job", str(out), "--format", "torchscript", "--out", str(tmp_path / "m.zip")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == str(tmp_path / "m.zip") and zipfile.is_zipfile(tmp_path / "m.zip")
    assert "same top-1 class as PyTorch on 18/18" in printed[0]
    for bad in (["--job", "20990101-000000-abcdef", "--format", "onnx"], ["--job", str(out), "--format", "tflite"],
                ["--job", str(tmp_path), "--format", "onnx"]):
        assert main(["export", *bad]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def server(jobs):
    gradio_client = pytest.importorskip("gradio_client")
    registry, ids = jobs
    with serve_app(registry) as url:
        client = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        yield client, url, ids
        client.close()


def test_export_job_and_download_table_through_the_server(server, tmp_path, no_network):
    client, _, ids = server
    path, note = client.predict(ids[RUNS[1]], "openvino", api_name="/export_job")
    assert zipfile.is_zipfile(path) and Path(path).name == "efficientnet-lite0-frozen-openvino.zip"
    assert {Path(n).name for n in zipfile.ZipFile(path).namelist()} == {"model.xml", "model.bin", "model.json",
                                                                        "README.md"}
    assert "same top-1 class as PyTorch on 18/18 test images" in note
    table = client.predict(True, api_name="/download_table")
    assert Path(table).read_text().splitlines()[0].startswith("model · strategy,test acc")
    chart = client.predict("Accuracy curves", "html", True, api_name="/download_chart")
    assert Path(chart).suffix == ".html" and "Accuracy" in Path(chart).read_text()
    with pytest.raises(Exception, match="tflite"):   # the format picker's own check
        client.predict(ids[RUNS[0]], "tflite", api_name="/export_job")
    with pytest.raises(Exception, match="No job|job ids look like"):
        client.predict("20990101-000000-abcdef", "onnx", api_name="/export_job")


def test_a_visitor_exports_by_job_id_only_and_sees_no_server_path(server, tmp_path, no_network):
    import gradio_client
    from hostile import from_address

    from vision_demo import settings

    _, url, ids = server
    with from_address("127.0.0.2"):
        student = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        path, note = student.predict(ids[RUNS[0]], "onnx", api_name="/export_job")
        assert zipfile.is_zipfile(path)
        with pytest.raises(Exception) as refused:
            student.predict(str(settings.work_dir() / "jobs"), "onnx", api_name="/export_job")
    student.close()
    assert "job ids look like" in str(refused.value) and str(settings.work_dir()) not in str(refused.value)
    assert "/tmp/" not in note


def test_served_files_are_links_inside_the_work_folder(jobs):
    import os

    from vision_demo import settings
    from vision_demo.take_home import build_download, find_job
    from vision_demo.ui.download_view import served

    registry, ids = jobs
    original = build_download(find_job(ids[RUNS[0]], registry), "onnx")
    link = Path(served(original))
    assert link.is_relative_to(settings.work_dir()) and link.name == original.name
    assert os.path.samefile(link, original) and served(original) == str(link)


# ---- a detection job: Ultralytics' exporter through detect/export.py ------------------------------------
@pytest.fixture(scope="module")
def yolo_job(tmp_path_factory):
    from vision_demo.datasets.shapes import write_shapes
    from vision_demo.detect.train import YoloTrainConfig, submit
    from vision_demo.jobs import JobRegistry

    data = write_shapes(tmp_path_factory.mktemp("shapes"), train=16, val=8, size=160, seed=0)
    registry = JobRegistry(tmp_path_factory.mktemp("yolo-jobs"))
    job_id = submit(registry, YoloTrainConfig(data=str(data), epochs=1, imgsz=160, batch=8))
    state = registry.wait(job_id, timeout=600)
    assert state.status == "finished", state.error
    yield registry, job_id
    registry.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_a_detection_job_exports_with_the_same_boxes_as_torch(yolo_job, fmt, tmp_path, no_network):
    from ultralytics import YOLO

    from vision_demo.detect.export import _boxes_of, compare_boxes
    from vision_demo.take_home import _val_images, build_download, find_job

    registry, job_id = yolo_job
    job = find_job(job_id, registry)
    folder = unzip(build_download(job, fmt), tmp_path)
    info = json.loads((folder / "model.json").read_text())
    assert info["classes"] == ["circle", "square", "triangle"] and info["check"]["agree"]
    checked = {c["image"] for c in info["check"]["checks"]}
    images = _val_images(job.result)
    assert {Path(p).name for p in images} <= checked and {"bus.jpg", "zidane.jpg"} <= checked
    model = folder / ("model.onnx" if fmt == "onnx" else "model_openvino_model")
    exported, reference = YOLO(str(model), task="detect"), YOLO(str(job.weights), task="detect")
    boxes = 0
    for image in images:   # a low threshold: a 1-epoch model is unsure, and we want boxes to compare
        ours, theirs = _boxes_of(reference, image, 160, 0.05), _boxes_of(exported, image, 160, 0.05)
        assert compare_boxes(ours, theirs, conf=0.05) is None, image
        boxes += len([b for b in ours if b["confidence"] >= 0.15])
    print(f"\nparity yolo {fmt}: {len(images)} validation images, {boxes} torch boxes >= 0.15, all with a twin")


@pytest.mark.slow
def test_a_detection_job_as_pt_and_its_wrong_format_from_the_cli(yolo_job, capsys):
    from vision_demo.cli import main
    from vision_demo.take_home import build_download, find_job

    registry, job_id = yolo_job
    job = find_job(job_id, registry)
    with zipfile.ZipFile(build_download(job, "pt")) as archive:
        assert {Path(n).name for n in archive.namelist()} == {"best.pt", "model.json", "README.md"}
    folder = str(Path(job.weights).parents[2])     # the job's folder: result.json is there
    assert main(["export", "--job", folder, "--format", "torchscript"]) == 1
    assert "exports as pt, onnx, openvino" in capsys.readouterr().err
