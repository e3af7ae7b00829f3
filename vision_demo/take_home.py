"""Take it home: any finished job as one downloadable file, and the lesson's tables and charts as files.

    from vision_demo.take_home import find_job, download
    job = find_job("<job id>")                 # or the --out folder of a `train` / `yolo-train` run
    download(job, "onnx")                      # WORK/exports/take-home/<sha256[:16]>-onnx/<name>-onnx.zip

    python -m vision_demo export --job JOB --format onnx          # prints the path of the zip

What a download holds (always one .zip: an OpenVINO model is two files, and every format comes with its
README.md and model.json saying which classes, which input, and how well it matched PyTorch):
- a classification job: pt (the checkpoint), torchscript, onnx, openvino — the network with its normalization
  and softmax inside (classify/export.py), checked against PyTorch on the job's test images;
- a detection job: pt (best.pt), onnx, openvino — exported by Ultralytics through detect/export.py (one
  exporter, one cache), its boxes checked against torch on the job's validation images and the example photos.

Every download is built beside its final folder and renamed into place (folders.building), keyed by the
weights' content: asking again returns the same file without exporting again, in this process or the next.
Building runs as a job (DOWNLOADS, a registry of its own under WORK/exports/take-home/jobs), so two
requests for the same file make it once. Tables go out as CSV, charts as HTML (plotly.js inside the file:
it opens offline) and PNG (kaleido, which drives a local Chrome/Chromium; without one, a sentence says so).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vision_demo import settings
from vision_demo.errors import VisionDemoError
from vision_demo.folders import building
from vision_demo.formats import formats_for
from vision_demo.jobs import OncePerKey

KINDS = ("classify", "detect")   # the jobs that go home; in which formats: the table in vision_demo/formats.py
YOLO_CHECK_IMAGES = 8   # validation images of a detection job its export's boxes are checked on


@dataclass
class FinishedJob:
    kind: str           # "classify" | "detect"
    name: str           # what a person reads: "SimpleCNN · scratch"
    weights: Path       # model.pt (classification) or best.pt (detection)
    result: dict
    job_id: str | None = None


def _kind_of(result: dict) -> str | None:
    if result.get("best_weights"):
        return "detect"
    if result.get("checkpoint"):
        return "classify"
    return None


def find_job(job_or_folder: str, registry=None, allow_folders: bool = True) -> FinishedJob:
    """A finished job by id (in `registry`, default: the work folder's), or — when `allow_folders` (the CLI, the
    server's own browser) — a folder holding a result.json (a job's folder, the --out folder of train/yolo-train)."""
    from vision_demo.jobs import finished_result

    result, name, job_id = finished_result(job_or_folder, KINDS, registry, allow_folders,
                                           what="finished classification or detection job")
    kind = _kind_of(result)
    weights = Path(result.get("best_weights") or result.get("checkpoint") or "")
    if kind is None or not weights.is_file():
        raise VisionDemoError(f"{name}: its trained weights are not there any more ({weights.name or 'none saved'}): "
                              "train it again")
    return FinishedJob(kind, name, weights, result, job_id)


def check_format(job: FinishedJob, fmt: str) -> str:
    fmt = str(fmt or "").strip().lower()
    if fmt not in formats_for(job.kind):
        what = "a classification" if job.kind == "classify" else "a detection"
        raise VisionDemoError(f"{job.name} is {what} job: it exports as {', '.join(formats_for(job.kind))}, not {fmt!r}")
    return fmt


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "model"


def root() -> Path:
    return settings.subdir("exports", "take-home")


def download_folder(job: FinishedJob, fmt: str) -> Path:
    """Where the download lives: keyed by the weights' content (and the image size, for a static YOLO graph)."""
    from vision_demo.detect.export import weights_digest   # hashlib only; remembered per (path, size, mtime)

    size = f"-{int(job.result.get('imgsz') or 640)}" if job.kind == "detect" and fmt != "pt" else ""
    return root() / f"{weights_digest(job.weights)[:16]}-{job.kind}{size}-{fmt}"


def find_download(job: FinishedJob, fmt: str) -> Path | None:
    folder = download_folder(job, fmt)
    zips = sorted(folder.glob("*.zip")) if folder.is_dir() else []
    return zips[0] if zips else None


def _zip_folder(folder: Path, target: Path) -> None:
    """Everything in `folder` into the zip `target`, under one top folder named like the zip."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(target.stem) / path.relative_to(folder))


def build_download(job: FinishedJob, fmt: str, progress=lambda fraction, message: None) -> Path:
    """Make the zip of `job` in `fmt` (if it is not made yet) and return its path. Blocks until done."""
    fmt = check_format(job, fmt)
    found = find_download(job, fmt)
    if found is not None:
        return found
    final = download_folder(job, fmt)
    name = f"{_slug(job.name)}-{fmt}"
    with building(final) as tmp:
        content = tmp / "content"
        content.mkdir()
        if job.kind == "classify":
            from vision_demo.classify.export import export_classifier
            info = export_classifier(job.weights, fmt, content, progress)
        else:
            info = _yolo_export(job, fmt, content, progress)
        info = dict(info, job=job.name, job_id=job.job_id)
        (content / "model.json").write_text(json.dumps(info, indent=1))
        progress(0.95, "zipping")
        _zip_folder(content, tmp / f"{name}.zip")
        shutil.copyfile(content / "model.json", tmp / "model.json")   # the check's figures, read without unzipping
        shutil.rmtree(content)
    found = find_download(job, fmt)
    if found is None:
        raise VisionDemoError(f"the {fmt} download of {job.name} was built but is not in {final.name}")
    return found


def download_info(path: Path) -> dict:
    """model.json next to a download: format, classes, input, and the parity check against PyTorch."""
    try:
        return json.loads((Path(path).parent / "model.json").read_text())
    except (OSError, ValueError):
        return {}


# ---- detection jobs: Ultralytics' exporter, through detect/export.py ----------------------------------
YOLO_README = """# {name}: {fmt} export from vision_demo (YOLO)

Classes: {classes}. Image size {imgsz} px ({static}).

```python
from ultralytics import YOLO
model = YOLO("{model}", task="detect")
for box in model.predict("photo.jpg", imgsz={imgsz})[0].boxes:
    print(model.names[int(box.cls)], float(box.conf), box.xyxy.tolist())
```

{check}
"""


def _val_images(result: dict, limit: int = YOLO_CHECK_IMAGES) -> list[str]:
    """The first few validation images of the data set a detection job trained on (its prepared data.yaml);
    none when that is gone (the export is then checked on the example photos only)."""
    import yaml

    from vision_demo.detect.train import val_images

    try:
        return [str(p) for p in val_images(result["data"], limit)]
    except (KeyError, OSError, TypeError, ValueError, yaml.YAMLError):
        return []


def _yolo_export(job: FinishedJob, fmt: str, content: Path, progress) -> dict:
    from vision_demo.detect.export import EXPORTS

    imgsz = int(job.result.get("imgsz") or 640)
    names = job.result.get("names") or []
    info = {"format": fmt, "job": job.name, "classes": names, "imgsz": imgsz}
    if fmt == "pt":
        shutil.copyfile(job.weights, content / "best.pt")
        info["check"] = {"note": "the trained weights themselves: nothing was converted"}
        model, static, check = "best.pt", "any size works", "These are the trained weights as Ultralytics saved them."
    else:
        progress(0.1, f"Ultralytics exports {fmt} at {imgsz} px and checks its boxes against torch")
        status = EXPORTS.wait(str(job.weights), imgsz, fmt, images=_val_images(job.result))
        if status.state != "ready":
            raise VisionDemoError(f"{fmt} export of {job.name} {status.state}: {status.message}")
        exported = Path(status.path)
        checked = json.loads((exported.parent / "check.json").read_text())
        info["check"] = {"images": len(checked["checks"]), "agree": checked["agree"], "checks": checked["checks"]}
        if exported.is_dir():
            shutil.copytree(exported, content / exported.name)
        else:
            shutil.copyfile(exported, content / exported.name)
        model, static = exported.name, "a static graph: predict at this size"
        boxes = sum(c["torch_boxes"] for c in checked["checks"])
        check = (f"Checked when exported: the same boxes as torch on {len(checked['checks'])} images "
                 f"({boxes} boxes from torch at confidence 0.25), computing in {checked.get('precision', 'f32')}.")
        if fmt == "openvino":   # Ultralytics' loader takes no precision hint (detect/precision.py)
            check += ("\n\nOn a CPU with bfloat16 (Intel AMX or AVX512_BF16: `lscpu | grep -o 'amx_bf16\\|avx512_bf16'`) "
                      "OpenVINO computes this float model in bf16 unless told otherwise, and Ultralytics' loader does "
                      "not tell it: weak boxes may move a little from the checked ones. For f32, compile it yourself: "
                      "`openvino.Core().compile_model(xml, \"CPU\", {\"INFERENCE_PRECISION_HINT\": \"f32\"})`.")
    (content / "model.json").write_text(json.dumps(info, indent=1))
    (content / "README.md").write_text(YOLO_README.format(name=job.name, fmt=fmt, classes=", ".join(names) or "?",
                                                          imgsz=imgsz, static=static, model=model, check=check))
    return info


# ---- building as a job: one build per file, however many ask -------------------------------------------
class Downloads:
    """Download builds as jobs of their own registry (jobs.OncePerKey under WORK/exports/take-home/jobs, one at
    a time), so a training queue never holds them up and two requests for the same file share one build. A
    failed build, or one whose file has gone, is built again; once shut down (at exit) none starts."""

    def __init__(self) -> None:
        self.jobs = OncePerKey(lambda: root() / "jobs", reusable=self._usable, shutdown_timeout=30)   # folder -> job

    def registry(self):
        return self.jobs.registry()

    def shutdown(self) -> None:
        self.jobs.shutdown()

    def request(self, job: FinishedJob, fmt: str, owner: str | None = None) -> tuple[Path | None, str]:
        """(the zip, "") when it exists; else (None, the id of the job that builds it — started if needed)."""
        fmt = check_format(job, fmt)
        found = find_download(job, fmt)
        if found is not None:
            return found, ""
        job_id = self.jobs.submit_once(download_folder(job, fmt), "take-home", f"{fmt} download of {job.name}",
                                       {"job": job.job_id or str(job.weights), "format": fmt},
                                       lambda ctx: {"path": str(build_download(
                                           job, fmt, lambda f, m: ctx.progress(f, m, force=True)))},
                                       owner=owner)
        if job_id is None:
            raise VisionDemoError("the app is stopping: ask for the download again once it is back")
        return None, job_id

    @staticmethod
    def _usable(state) -> bool:
        """A build to wait for: queued, running, or finished with its file still there (a failure may retry)."""
        if state.status == "finished":
            return Path((state.result or {}).get("path", "")).is_file()
        return not state.done

    def wait(self, job: FinishedJob, fmt: str, timeout: float = 600, owner: str | None = None,
             on_progress=lambda fraction, message: None) -> Path:
        """request(), then block until the build ends; the zip's path, or VisionDemoError saying why not."""
        path, job_id = self.request(job, fmt, owner)
        registry = self.registry()
        while path is None:
            state = registry.wait(job_id, timeout=0.5)
            if state.status == "finished":
                return Path(state.result["path"])
            if state.done:
                raise VisionDemoError(state.error or f"the {fmt} download of {job.name} was {state.status}")
            on_progress(state.progress, state.message)
            timeout -= 0.5
            if timeout <= 0:
                raise VisionDemoError(f"the {fmt} download of {job.name} is still being built: ask again in a minute")
        return path


DOWNLOADS = Downloads()


# ---- tables and charts ---------------------------------------------------------------------------------
def _content_file(data: bytes, filename: str) -> Path:
    """`data` saved once under WORK/exports/take-home/files/<sha256[:16]>/filename (atomically); its path."""
    final = root() / "files" / f"{hashlib.sha256(data).hexdigest()[:16]}"
    target = final / filename
    if not target.is_file():
        with building(final) as tmp:
            (tmp / filename).write_bytes(data)
    return target


def table_csv(headers: list[str], rows: list[list], name: str = "comparison") -> Path:
    """The table as a CSV file (UTF-8, a header row, one line per row, as shown)."""
    if not rows:
        raise VisionDemoError("the table is empty: finish a job first, then download it")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return _content_file(text.getvalue().encode("utf-8"), f"{_slug(name)}.csv")


PNG_SIZE = (1200, 600)   # pixels of a chart's PNG: the width of a slide


def figure_file(fig, fmt: str, name: str = "chart") -> Path:
    """A plotly figure as a standalone HTML page (plotly.js embedded, no CDN: it opens offline) or a PNG."""
    fmt = str(fmt).lower()
    if fmt == "html":
        page = fig.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False)
        return _content_file(page.encode("utf-8"), f"{_slug(name)}.html")
    if fmt == "png":
        return _content_file(_png_bytes(fig), f"{_slug(name)}.png")
    raise VisionDemoError(f"charts download as html or png, not {fmt!r}")


def _png_bytes(fig) -> bytes:
    """kaleido renders the chart in a headless Chrome/Chromium on this machine (never downloaded here)."""
    import importlib.util

    if importlib.util.find_spec("kaleido") is None:
        raise VisionDemoError("PNG charts need kaleido (pip install kaleido) and Chrome or Chromium; "
                              "the HTML download works without them")
    try:
        return fig.to_image(format="png", width=PNG_SIZE[0], height=PNG_SIZE[1], scale=1)
    except Exception as err:   # no browser found, browser crashed: kaleido raises many types
        raise VisionDemoError(f"could not draw the PNG ({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}): "
                              "kaleido needs Chrome or Chromium installed (Debian: apt install chromium); "
                              "the HTML download works without it") from None
