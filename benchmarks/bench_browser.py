"""The Detect webcam in the students' browsers against on the server: figures, not asserts.

    python benchmarks/bench_browser.py              # all rows (~4 minutes on 2 cores)
    python benchmarks/bench_browser.py --seconds 20 # each measured stream this long (default 10)

Rows:
1. Server CPU seconds per student per minute of webcam, server path against browser path, for 1, 5 and 30
   simulated students on loopback (from 127.0.0.2, in another process: only the server's own CPU is counted).
   Server path: each student sends the page's frame (640x480 JPEG) to webcam_frame as fast as answers come.
   Browser path: each student only asks webcam_plan every 2.5 s, which is all a page in the browser sends.
2. Real headless chromium with the fake camera: server CPU over the same stream, ?live=browser vs ?live=server.
3. The detector in headless chromium (onnxruntime-web WASM): ms a frame and fps, INT8 and float, 1 thread and
   (cross-origin isolated) 2 threads.
4. Download per student: first visit and a cached one (counted at the server's routes).
The server runs in this process, on this machine's cores shared with chromium: say so with the figures.
"""
from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("VISION_DEMO_HOME", tempfile.mkdtemp(prefix="vd-bench-browser-"))

import vision_demo  # noqa: E402,F401  (offline environment first)

CHROMIUM = "/usr/bin/chromium"


def row(what: str, figure: str) -> None:
    print(f"| {what} | {figure} |", flush=True)


def cpu() -> float:
    t = os.times()
    return t.user + t.system


# ---- simulated students (another process) ---------------------------------------------------------------
def _students(url: str, n: int, path: str, seconds: float, out) -> None:
    from urllib.parse import urlparse

    from PIL import Image

    import importlib.util
    assets = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    buf = io.BytesIO()
    Image.open(assets / "bus.jpg").convert("RGB").resize((640, 480)).save(buf, "JPEG", quality=80)
    image = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    config = json.loads(urlopen(url + "config", timeout=30).read())
    component = next(c["id"] for c in config["components"]
                     if "webcam_frame" in (c.get("props") or {}).get("server_fns", []))
    where, stop, counts = urlparse(url), time.monotonic() + seconds, []

    def call(fn, data):
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60, source_address=("127.0.0.2", 0))
        try:
            body = json.dumps({"data": data, "component_id": component, "fn_name": fn, "session_hash": data["viewer"]})
            conn.request("POST", "/gradio_api/component_server/", body, {"Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def student(i):
        viewer, frames = f"bench-{path}-{i}", 0
        while time.monotonic() < stop:
            if path == "server":
                answer = call("webcam_frame", {"image": image, "viewer": viewer, "size": "320"})
                frames += "boxes" in answer
            else:
                call("webcam_plan", {"viewer": viewer, "size": "320", "path": "browser", "streaming": True})
                time.sleep(2.5)
        counts.append(frames)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(sum(counts))


def row_students(url: str, seconds: float) -> None:
    ctx = multiprocessing.get_context("spawn")
    c0 = cpu()
    time.sleep(seconds)
    idle = cpu() - c0
    row("idle server (no page open): CPU s per minute", f"{idle / seconds * 60:.2f} s (Gradio's queue loop, "
        "the registries; counted in every figure below)")
    for n in (1, 5, 30):
        figures = {}
        for path in ("server", "browser"):
            q = ctx.Queue()
            proc = ctx.Process(target=_students, args=(url, n, path, seconds, q))
            c0 = cpu()
            proc.start()
            frames = q.get()
            proc.join()
            used = cpu() - c0
            figures[path] = (used / seconds * 60 / n, frames / seconds / n)
        s, b = figures["server"], figures["browser"]
        row(f"{n} student(s): server CPU s per student-minute",
            f"server path {s[0]:.1f} s ({s[1]:.1f} frames/s each) · browser path {b[0]:.2f} s "
            f"({100 * b[0] / s[0]:.1f} %)")


# ---- chromium -------------------------------------------------------------------------------------------
def launch(p, cam: Path):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={cam}"])


def stream_cpu(browser, url: str, seconds: float) -> tuple[float, int, str]:
    page = browser.new_context(permissions=["camera"]).new_page()
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="6 · Detect").click()
    page.get_by_role("tab", name="Webcam", exact=True).click()
    page.locator("#webcam-start").click()
    page.wait_for_function("() => +document.querySelector('#webcam-canvas').dataset.frames > 3", timeout=300_000)
    f0, c0 = int(page.locator("#webcam-canvas").get_attribute("data-frames")), cpu()
    page.wait_for_timeout(seconds * 1000)
    used, frames = cpu() - c0, int(page.locator("#webcam-canvas").get_attribute("data-frames")) - f0
    text = page.locator("#webcam-latency").inner_text().split("\n")[0]
    page.context.close()
    return used, frames, text


SPEED_JS = """async ([url, shape, image, runs]) => {
  const yolo = await import('/vd/web/yolo_browser.js');
  const det = await yolo.loadDetector(url, shape, {0: 'Normal', 1: 'Fall'});
  const img = new Image(); img.src = image; await img.decode();
  const c = document.createElement('canvas'); c.width = 640; c.height = 480; c.getContext('2d').drawImage(img, 0, 0, 640, 480);
  await det.detect(c);   // warm-up
  const ms = [], model = [];
  for (let i = 0; i < runs; i++) { const r = await det.detect(c); ms.push(r.ms.total); model.push(r.ms.inference); }
  ms.sort((a, b) => a - b); model.sort((a, b) => a - b);
  return {total: ms[Math.floor(runs / 2)], model: model[Math.floor(runs / 2)], text: det.text, load: det.loadMs};
}"""


def row_in_browser(browser, url: str, models: dict) -> None:
    import importlib.util
    assets = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets"
    image = "data:image/jpeg;base64," + base64.b64encode((assets / "bus.jpg").read_bytes()).decode()
    for threads in (1, 2):
        for variant, (model_url, size) in models.items():
            page = browser.new_context().new_page()
            page.goto(url + f"?threads={threads}", wait_until="load")
            r = page.evaluate(SPEED_JS, [model_url, [256, 320], image, 10])
            row(f"detector in chromium, {variant} ({size / 1e6:.1f} MB), {r['text']}",
                f"{r['total']:.0f} ms a frame ({1000 / r['total']:.1f} fps; model {r['model']:.0f} ms; "
                f"session created in {r['load']:.0f} ms)")
            page.context.close()


def row_download(browser, url: str, hits: list) -> None:
    context = browser.new_context(permissions=["camera"])
    for visit in ("first visit", "cached visit"):
        hits.clear()
        page = context.new_page()
        page.goto(url + "?live=browser", wait_until="load")
        page.get_by_role("tab", name="6 · Detect").click()
        page.get_by_role("tab", name="Webcam", exact=True).click()
        page.locator("#webcam-start").click()
        page.wait_for_function("() => document.querySelector('#webcam-canvas').dataset.where === 'browser'",
                               timeout=300_000)
        page.close()
        sent = sum(n for _, n in hits)
        row(f"download per student, {visit}", f"{sent / 1e6:.1f} MB from /vd/ ({len(hits)} requests: "
            + ", ".join(sorted({p.rsplit('/', 1)[1][:24] for p, _ in hits})) + ")")
    context.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="each measured stream (default 10)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from conftest import asset, serve_fresh_app
    from test_browser import write_y4m
    from vision_demo.detect.browser_export import BROWSER_EXPORTS, find_export, model_key
    from vision_demo.detect.export import choose, input_shape, weights_digest
    from vision_demo.detect.weights import default_weights
    from vision_demo.ui import web_runtime
    from vision_demo.warmup import WARMUP

    hits = []   # (path, bytes sent) at the runtime's and the models' routes

    def counted(fn):
        async def wrapper(request):
            response = await fn(request)
            if response.status_code == 200:
                path = getattr(response, "path", None)   # a FileResponse (the models) sizes itself when sent
                size = os.path.getsize(path) if path else len(response.body)
                hits.append((request.url.path, size))
            return response
        return wrapper

    web_runtime.ort_file, web_runtime.model_file = counted(web_runtime.ort_file), counted(web_runtime.model_file)
    weights, shape = default_weights(), input_shape(320, (480, 640))
    t = time.perf_counter()
    for s in (shape, 640):
        choose(weights, s, "auto", wait=True)
    status = BROWSER_EXPORTS.wait(weights, shape)
    row("exports (server runtimes + browser INT8), once per weights", f"{time.perf_counter() - t:.0f} s")
    digest = weights_digest(weights)
    models = {"INT8": (status.url, status.bytes)}
    f32 = find_export(digest, shape, "onnx")
    models["float"] = (f"/vd/model/{model_key(digest, shape, 'f32')}.onnx", f32.stat().st_size)
    cam = write_y4m(asset("bus.jpg"), Path(tempfile.mkdtemp()) / "cam.y4m")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared: figures are rough)")
    print("| what | figure |\n|---|---|")
    with serve_fresh_app(Path(tempfile.mkdtemp()), warm_up=True) as (url, _):
        while WARMUP.state == "loading":
            time.sleep(0.5)
        row_students(url, args.seconds)
        with sync_playwright() as p:
            browser = launch(p, cam)
            for live in ("browser", "server"):
                used, frames, text = stream_cpu(browser, url + f"?live={live}", args.seconds)
                row(f"chromium, ?live={live}, {args.seconds:.0f} s of webcam",
                    f"server CPU {used:.2f} s, {frames / args.seconds:.1f} fps drawn ({text[:90]})")
            row_in_browser(browser, url, models)
            row_download(browser, url, hits)
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
