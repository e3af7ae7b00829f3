"""One command, one table: is the app real time on this CPU? Figures are printed, never asserted.

    python benchmarks/bench.py                  # every row, ~5-8 minutes on 2 cores
    python benchmarks/bench.py --rows 3 6       # only some rows

Each row is a ratio of two things measured in the same run, on this machine (printed first):
1. training images/s through the job system / the seed's plain loop (ImageFolder, Resize+ToTensor+Normalize,
   batch 32, Adam), SimpleCNN and ResNet-18 from scratch (goal >= 0.95);
2. frozen strategy, 3 epochs: the seed's naive frozen loop's seconds (train + test each epoch) / ours (goal >= 2.5);
3. detection latency at 320 and 640 px: app path (640x480 frame in -> annotated frame out) / bare torch
   `model.predict`, per runtime (goal with OpenVINO <= 0.45);
4. webcam end to end: the app in a subprocess, headless chromium's fake camera playing a moving picture whose
   frames carry their number in a strip of black/white blocks; each time the Detect tab's webcam view draws a
   frame with its boxes, the page reads that frame's number and the camera's newest: frames/s shown and median
   staleness (goal >= 8 fps, <= 150 ms); a CDP screencast keeps the page repainting (headless chromium captures
   a camera frame only on a repaint); then, for comparison, the same camera through Gradio's own streaming
   image in a bare app that echoes each frame (no model), which the tab used before;
5. "Compare all four" clicked in the browser / the same compare from the CLI: seconds from the first job's
   start to the last one's end, read from their state.json (goal <= 1.15);
6. 8 gradio_client clients x 25 /detect calls: failures, throughput / one client's, p95 / one client's median;
7. cold start of `python app.py` to HTTP 200 / `python -c "import gradio"` (goal <= 1.2).
A row that cannot run says "not measured (why)". The CPU may be shared: figures move +-30 % run to run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="vision_demo_bench_"))
os.environ["VISION_DEMO_HOME"] = str(WORK)   # a fresh work folder: exports and data are made in this run

import vision_demo  # noqa: E402,F401  (offline environment first)

CHROMIUM = "/usr/bin/chromium"
ROWS: list[tuple[str, str, str]] = []   # (what, figure, goal)


def row(what: str, figure: str, goal: str = "") -> None:
    ROWS.append((what, figure, goal))
    print(f"  {what}: {figure}" + (f"  (goal {goal})" if goal else ""), flush=True)


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from vision_demo.detect.precision import cpu_flags

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    # the flags that decide which OpenVINO precision is fast here: VNNI (int8), AVX512_BF16 / AMX (bf16, int8 tiles)
    flags = ", ".join(cpu_flags()) or "none of VNNI / AVX512_BF16 / AMX"
    return (f"{cpu}, {os.cpu_count()} cores ({flags}), {gpu}; torch {torch.__version__}, "
            f"Python {platform.python_version()}")


# ---- 1 and 2: training ------------------------------------------------------------------------------------
def seed_loop_images_per_second(model_name: str, data_root: Path, epochs: int, size: int = 96) -> float:
    """The seed notebook's loop: ImageFolder, Resize+ToTensor+Normalize, batch 32, Adam 1e-3."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from vision_demo.classify.models import build_model

    tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    train = datasets.ImageFolder(str(data_root / "train"), tf)
    loader = DataLoader(train, batch_size=32, shuffle=True)
    torch.manual_seed(0)
    model, _ = build_model(model_name, len(train.classes), pretrained=False)
    optimizer, criterion = torch.optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss()
    seconds, images = 0.0, 0
    for _ in range(epochs):
        model.train()
        t = time.perf_counter()
        for x, y in loader:
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
            images += len(y)
        seconds += time.perf_counter() - t
    return images / seconds


def job_result(config: dict) -> dict:
    from vision_demo.classify.train import submit
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(WORK / "bench_jobs")
    state = registry.wait(submit(registry, config))
    registry.shutdown()
    if state.status != "finished":
        raise RuntimeError(f"{state.name} {state.status}: {state.error}")
    return state.result


def rows_training() -> None:
    from vision_demo.datasets.scenes import default_scenes

    data = default_scenes()
    for name in ("simple_cnn", "resnet18"):
        # Alternated and best of two each: on a shared CPU the load drifts between two runs in a row.
        ours, seed = [], []
        for _ in range(2):
            seed.append(seed_loop_images_per_second(name, data, epochs=2))
            ours.append(job_result(dict(model=name, strategy="scratch", epochs=2, img_size=96, batch_size=32,
                                        data="scenes"))["images_per_second"])
        row(f"1. {name} scratch, training img/s: job system / seed loop (best of 2 each, alternated)",
            f"{max(ours):.0f} / {max(seed):.0f} = {max(ours) / max(seed):.2f}", ">= 0.95")


def row_frozen() -> None:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from vision_demo.classify.models import apply_strategy, build_model, set_train_mode
    from vision_demo.datasets.scenes import default_scenes

    data, epochs = default_scenes(), 3
    tf = transforms.Compose([transforms.Resize((96, 96)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    train, test = (datasets.ImageFolder(str(data / split), tf) for split in ("train", "test"))
    torch.manual_seed(0)
    model, _ = build_model("efficientnet_lite0", len(train.classes), pretrained=True)
    optimizer, criterion = torch.optim.Adam(apply_strategy(model, "efficientnet_lite0", "frozen"), lr=1e-3), nn.CrossEntropyLoss()
    def evaluate():
        model.eval()
        with torch.inference_mode():
            for x, _ in DataLoader(test, batch_size=32):
                model(x)

    # The naive loop as the PyTorch transfer-learning tutorial (and the seed) write it: each epoch a train phase
    # and a test phase, because the live plot needs the test accuracy after every epoch; the frozen backbone
    # runs on every image, every epoch. Ours gives the same per-epoch curve from features computed once.
    t = time.perf_counter()
    train_only = 0.0
    for _ in range(epochs):
        set_train_mode(model, "frozen")
        t_train = time.perf_counter()
        for x, y in DataLoader(train, batch_size=32, shuffle=True):
            optimizer.zero_grad()
            criterion(model(x), y).backward()
            optimizer.step()
        train_only += time.perf_counter() - t_train
        evaluate()
    naive = time.perf_counter() - t
    t = time.perf_counter()
    evaluate()
    train_only += time.perf_counter() - t    # train-only variant: one test pass at the end
    ours = job_result(dict(model="efficientnet_lite0", strategy="frozen", epochs=epochs, img_size=96, batch_size=32,
                           data="scenes", cache_features=False))["wall_seconds"]
    row("2. Lite0 frozen, 3 epochs: naive loop (train + test each epoch) s / ours (job wall time)",
        f"{naive:.1f} / {ours:.1f} = {naive / ours:.1f}x (naive testing only at the end: {train_only / ours:.1f}x)",
        ">= 2.5")


# ---- 3: detection latency -----------------------------------------------------------------------------------
def webcam_like_frame():
    import numpy as np
    from PIL import Image

    from vision_demo.detect.export import check_images

    img = Image.open(check_images()[0]).convert("RGB")   # bus.jpg, cropped to 4:3 around the people
    return np.asarray(img.crop((0, 300, 810, 300 + 608)).resize((640, 480)))


def row_latency() -> None:
    from ultralytics import YOLO

    from vision_demo.detect.detector import get_detector
    from vision_demo.detect.export import EXPORTS, FORMATS, input_shape, unavailable

    detector, frame = get_detector(), webcam_like_frame()
    bare = YOLO(detector.weights, task="detect")
    bgr = frame[..., ::-1].copy()
    from vision_demo.detect.sliding_window import median_ms


    from ultralytics.utils.torch_utils import select_device

    for size in (320, 640):
        # Bare Ultralytics as it comes: its predictor's set-up (select_device) runs torch on cores - 1 threads, for
        # the thread that asks (one on 2 cores). The app path gives torch every core back (devices.use_all_cores),
        # so its torch row may come out under 1.
        select_device("cpu", verbose=False)
        torch_ms = median_ms(lambda: bare.predict(bgr, imgsz=size, verbose=False), 15)
        parts = []
        for runtime in ("torch", *FORMATS):
            if runtime != "torch":
                if unavailable(runtime):
                    parts.append(f"{runtime} not measured ({unavailable(runtime)})")
                    continue
                status = EXPORTS.wait(detector.weights, input_shape(size, frame.shape[:2]), runtime)   # the frame's own
                if status.state != "ready":
                    parts.append(f"{runtime} not measured ({status.message})")
                    continue
            app_ms = median_ms(lambda: detector.predict_frame(frame, imgsz=size, runtime=runtime), 15)
            precision = detector.predict_frame(frame, imgsz=size, runtime=runtime).precision   # read back, not assumed
            parts.append(f"{runtime} ({precision}) {app_ms:.0f} ms = {app_ms / torch_ms:.2f}")
        row(f"3. detect {size} px, app path / bare torch predict ({torch_ms:.0f} ms)", "; ".join(parts),
            "OpenVINO (f32, bf16 or INT8) <= 0.45")


# ---- the app in a subprocess: rows 4-7 -----------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 120) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class App:
    """python app.py on a free port, the work folder shared with this process (the exports are reused)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ, VISION_DEMO_HOME=str(WORK), PYTHONPATH=str(ROOT))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(self.port)], cwd=WORK,
                                     env=env, stdout=subprocess.DEVNULL, stderr=open(WORK / "app.log", "w"))
        wait_http(self.url)
        self.cold_s = time.perf_counter() - self.started   # process start to the first HTTP 200 (row 7)

    def wait_idle(self, timeout: float = 300) -> None:
        """Until the app's own warm-up (model load, exports) is over: its process nearly idle for a second.
        A row measured while the app still exports would share the cores with it."""
        import psutil   # (an Ultralytics dependency)

        proc, end = psutil.Process(self.proc.pid), time.perf_counter() + timeout
        proc.cpu_percent()
        while time.perf_counter() < end and proc.cpu_percent(interval=1.0) > 10:
            pass

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def row_cold_start(app: App) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    imports = []
    for _ in range(2):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import gradio"], env=env, check=True, capture_output=True)
        imports.append(time.perf_counter() - t)
    row("7. cold start: python app.py to HTTP 200 / python -c 'import gradio'",
        f"{app.cold_s:.1f} s / {min(imports):.1f} s = {app.cold_s / min(imports):.2f}", "<= 1.2")


def row_clients(app: App, clients: int = 8, calls: int = 25) -> None:
    from gradio_client import Client, handle_file

    from vision_demo.detect.export import check_images

    bus = str(check_images()[0])

    def one_client(n: int, latencies: list, failures: list):
        client = Client(app.url, verbose=False, analytics_enabled=False)
        try:
            for _ in range(n):
                t = time.perf_counter()
                try:
                    client.predict(handle_file(bus), "person (bundled)", 0.25, 0.7, [], "auto", api_name="/detect")
                    latencies.append(time.perf_counter() - t)
                except Exception as err:  # a failed call is the figure we count
                    failures.append(repr(err)[:100])
        finally:
            client.close()

    single, fails1 = [], []
    one_client(1, [], [])   # warm: the 640 px export loads on the first call
    t = time.perf_counter()
    one_client(calls, single, fails1)
    single_tput = len(single) / (time.perf_counter() - t)
    lat, fails = [], []
    threads = [threading.Thread(target=one_client, args=(calls, lat, fails)) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    tput = len(lat) / (time.perf_counter() - t)
    p95 = statistics.quantiles(lat, n=20)[18] if len(lat) >= 20 else max(lat or [0])
    row(f"6. {clients} clients x {calls} /detect: failures; throughput / one client's; p95 / one client's median",
        f"{len(fails)} failed; {tput:.1f} / {single_tput:.1f} per s = {tput / single_tput:.2f}; "
        f"{1000 * p95:.0f} ms / {1000 * statistics.median(single):.0f} ms = {p95 / statistics.median(single):.1f}",
        "0 failed, p95 ratio <= 9")


def write_numbered_y4m(out: Path, frames: int = 90, fps: int = 30, width: int = 640, height: int = 480) -> Path:
    """A moving picture (bus.jpg, the crop sliding a little per frame) with the frame number in 8 blocks of 40 px
    along the top-left edge (white = 1), in the YUV4MPEG2 format chromium's fake camera plays (in a loop)."""
    from PIL import Image, ImageDraw

    from vision_demo.detect.export import check_images

    img = Image.open(check_images()[0]).convert("RGB")
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            dx = int(60 * abs((i % 60) - 30) / 30)   # back and forth
            frame = img.crop((dx, 300, dx + 750, 300 + 562)).resize((width, height))
            draw = ImageDraw.Draw(frame)
            for bit in range(8):
                draw.rectangle((bit * 40, 0, bit * 40 + 39, 39), fill=(255, 255, 255) if i >> bit & 1 else (0, 0, 0))
            y, cb, cr = frame.convert("YCbCr").split()
            half = (width // 2, height // 2)
            f.write(b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes())
    return out


NUMBER_JS = """
  const canvas = document.createElement('canvas'); canvas.width = 640; canvas.height = 480;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  function number(source, mirrored) {   // the 8 blocks along the top edge; a mirrored picture has them on the right
    ctx.drawImage(source, 0, 0, 640, 480);
    let n = 0;
    for (let bit = 0; bit < 8; bit++) {
      const x = mirrored ? 640 - (bit * 40 + 20) : bit * 40 + 20;
      const p = ctx.getImageData(x, 20, 1, 1).data;
      if (p[0] + p[1] + p[2] > 384) n |= 1 << bit;
    }
    return n;
  }
  window.__vd = [];
  const staleness = (live, back) => (((live - back) % frames) + frames) % frames * 1000 / fps;
"""

# The Detect tab's webcam (ui/live_webcam.py): a frame counts when the page has drawn it with its boxes (the
# canvas's data-frames goes up); its number is compared with the camera's newest frame at that moment.
READ_LIVE_JS = """([frames, fps]) => {""" + NUMBER_JS + """
  const shown = document.querySelector('#webcam-canvas');
  const video = document.querySelector('#webcam-live video');
  new MutationObserver(() => {
    const mirrored = document.querySelector('#webcam-live .vd-live-mirror input').checked;
    window.__vd.push([performance.now(), staleness(number(video, false), number(shown, mirrored))]);
  }).observe(shown, {attributes: true, attributeFilter: ['data-frames']});
}"""

# Gradio's own streaming image (the echo app): a frame counts once the returned <img> has loaded (it can be
# painted); one replaced before it loaded was never seen.
READ_GRADIO_JS = """([frames, fps]) => {""" + NUMBER_JS + """
  let last = null;
  const out = document.querySelector('#webcam-output');
  new MutationObserver(() => {
    const img = out.querySelector('img');
    if (!img || img.src === last) return;
    last = img.src;
    const t = performance.now();
    const live = number(document.querySelector('#webcam-input video'), false);
    const read = () => {
      if (img.naturalWidth === 0) return;
      window.__vd.push([t, staleness(live, number(img, true))]);
    };
    if (img.complete) read(); else img.addEventListener('load', read, {once: true});
  }).observe(out, {subtree: true, childList: true, attributes: true});
}"""


def browser(p, cam: Path | None = None):
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    if cam:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={cam}"]
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


def new_page(b, camera: bool = False):
    context = b.new_context(permissions=["camera"] if camera else [], viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.route(lambda url: not url.startswith(("http://127.0.0.1", "data:", "blob:")), lambda route: route.abort())
    return page


def start_live(page):
    """The Detect tab's webcam: Start camera, then the first frame drawn with its boxes."""
    page.locator("#webcam-start").click()
    page.locator("#webcam-canvas[data-frames]").wait_for(timeout=60_000)
    return READ_LIVE_JS, "#webcam-latency"


def start_gradio_stream(page):
    """Gradio's streaming image: open the camera, Record, then the first frame back."""
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#webcam-input button", has_text="Record").click()
    page.locator("#webcam-output img").wait_for(timeout=60_000)
    return READ_GRADIO_JS, None


def watch_stream(url: str, cam: Path, open_webcam, start, frames: int, fps: int, seconds: float) -> tuple[list, str]:
    """Open `url` in headless chromium with the numbered camera, get to the webcam (`open_webcam(page)`), start
    it (`start(page)` gives the JS that records frames and the latency line's selector), read frames for
    `seconds`: ([(t ms, staleness ms)] of every frame shown, the page's latency line or "")."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser(p, cam)
        page = new_page(b, camera=True)
        page.goto(url, wait_until="load")
        open_webcam(page)
        cdp = page.context.new_cdp_session(page)   # keep the page repainting: a camera frame is taken per repaint
        def ack(event):
            try:
                cdp.send("Page.screencastFrameAck", {"sessionId": event["sessionId"]})
            except PlaywrightError:   # a frame that arrives while the page closes
                pass
        cdp.on("Page.screencastFrame", ack)
        cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 10, "maxWidth": 320, "maxHeight": 240})
        read_js, line = start(page)
        page.wait_for_timeout(3000)   # the stream settles (first frames, model warm)
        page.evaluate(read_js, [frames, fps])
        page.wait_for_timeout(seconds * 1000)
        samples = page.evaluate("window.__vd")
        latency = page.locator(line).inner_text() if line and page.locator(line).count() else ""
        cdp.send("Page.stopScreencast")
        b.close()
    return samples, latency


def stream_figures(samples: list) -> str:
    span = (samples[-1][0] - samples[0][0]) / 1000
    return f"{(len(samples) - 1) / span:.1f} fps; {statistics.median(s[1] for s in samples):.0f} ms"


def echo_app():
    """The ceiling: a bare Gradio app that streams the same camera back unchanged (no model), same capture size,
    stream_every and output format as the Detect tab's webcam."""
    import gradio as gr

    from vision_demo.ui.common import live_webcam_options

    STREAM_EVERY = 0.05   # what the Detect tab used with this component: the next capture soon after an answer

    with gr.Blocks() as demo:
        cam = gr.Image(sources=["webcam"], streaming=True, elem_id="webcam-input", height=330,
                       webcam_options=live_webcam_options())
        out = gr.Image(elem_id="webcam-output", height=330, format="jpeg")
        cam.stream(lambda frame: frame if frame is not None else gr.skip(), cam, out, stream_every=STREAM_EVERY)
    return demo


def row_webcam(app: App, seconds: float = 20) -> None:
    from vision_demo.detect.detector import get_detector
    from vision_demo.detect.export import choose, input_shape

    # the app finds the export for 640x480 frames at 320 px in the shared work folder (made here, or by row 3,
    # or its own warm-up)
    choose(get_detector().weights, input_shape(320, (480, 640)), "auto", wait=True)
    frames, fps = 90, 30
    cam = write_numbered_y4m(WORK / "cam.y4m", frames, fps)

    from playwright.sync_api import expect as sync_expect

    def detect_tab(page):
        page.get_by_role("tab", name=re.compile(r"^(\d+ · )?Detect$")).click()
        # the warm-up exports the bundled detector for the webcam's input and for photos: wait until the runtime
        # line says both are served (an export still running would share the cores with the measurement)
        status = page.locator("#detect-runtime-status")
        status.get_by_text("320x256 px openvino").wait_for(timeout=180_000)
        sync_expect(status).to_contain_text("640 px openvino", timeout=180_000)
        page.get_by_role("tab", name="Webcam", exact=True).click()

    samples, latency = watch_stream(app.url, cam, detect_tab, start_live, frames, fps, seconds)
    if len(samples) < 3:
        row("4. webcam 320 px end to end", f"not measured (only {len(samples)} frames came back)")
        return
    named = re.search(r"runtime (\S+ \(\w+\))", latency)   # "openvino-int8 (int8)": the runtime and its precision
    runtime = named.group(1) if named else "?"
    server = re.search(r"frame → boxes (\d+) ms", latency)
    print(f"    the page's last latency line: {' '.join(latency.split())}")
    row("4. webcam 320 px end to end (browser + server on the same cores): fps shown; median staleness",
        f"{stream_figures(samples)} ({runtime}, server {server.group(1) if server else '?'} ms a frame)",
        ">= 8 fps, <= 150 ms")

    demo = echo_app()
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        echo, _ = watch_stream(f"http://127.0.0.1:{port}/", cam, lambda page: None, start_gradio_stream, frames, fps,
                               seconds)
    finally:
        demo.close()
    row("4. for comparison: the same camera through Gradio's own streaming image, a bare app echoing each frame "
        "(no model)",
        stream_figures(echo) if len(echo) >= 3 else f"not measured (only {len(echo)} frames)", "")


def job_span(job_dirs: list[Path]) -> float:
    states = [json.loads((d / "state.json").read_text()) for d in job_dirs]
    if len(states) != 4 or any(s["status"] != "finished" for s in states):
        raise RuntimeError(f"compare did not finish: {[s['status'] for s in states]}")
    return max(s["ended"] for s in states) - min(s["started"] for s in states)


def row_compare(app: App) -> None:
    from playwright.sync_api import sync_playwright

    env = dict(os.environ, VISION_DEMO_HOME=str(WORK), PYTHONPATH=str(ROOT))
    cli_out = WORK / "cli_compare"
    subprocess.run([sys.executable, "-m", "vision_demo", "compare", "--out", str(cli_out)], env=env, check=True,
                   capture_output=True, timeout=600)
    cli_s = job_span(sorted(p for p in (cli_out / "jobs").iterdir() if p.is_dir()))
    before = set((WORK / "jobs").iterdir()) if (WORK / "jobs").is_dir() else set()
    with sync_playwright() as p:
        b = browser(p)
        page = new_page(b)
        page.goto(app.url, wait_until="load")
        page.get_by_role("tab", name=re.compile(r"^(\d+ · )?Train & compare$")).click()
        t = time.perf_counter()
        page.locator("#compare-btn").click()
        page.wait_for_function("document.querySelectorAll('#job-progress tr').length >= 5", timeout=60_000)
        # the queue's summary line has no "running" or "waiting" left (the table lists only the newest jobs)
        page.wait_for_function("!/running|waiting/.test(document.querySelector('#job-progress .vd-summary')"
                               "?.innerText ?? 'waiting')", timeout=600_000, polling=500)
        seen_s = time.perf_counter() - t
        b.close()
    new = sorted(d for d in (WORK / "jobs").iterdir() if d not in before and d.is_dir())
    browser_s = job_span(new)
    row("5. compare all four: clicked in the browser / the CLI (first start to last end)",
        f"{browser_s:.1f} s / {cli_s:.1f} s = {browser_s / cli_s:.2f} (click to all finished on the page {seen_s:.1f} s)",
        "<= 1.15")


def run(name: str, fn, *args) -> None:
    try:
        fn(*args)
    except Exception as err:  # a row that cannot run says why; the others still run
        row(name, f"not measured ({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", type=int, default=list(range(1, 8)), choices=range(1, 8))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(f"machine: {machine()}\nwork folder: {WORK}", flush=True)
    rows = set(args.rows)
    if 1 in rows:
        run("1. training img/s", rows_training)
    if 2 in rows:
        run("2. frozen strategy", row_frozen)
    if 3 in rows:
        run("3. detection latency", row_latency)
    if rows & {4, 5, 6, 7}:
        app = None
        try:
            app = App()
        except Exception as err:
            for n in sorted(rows & {4, 5, 6, 7}):
                row(f"{n}.", f"not measured (the app did not start: {err})")
        if app is not None:
            try:
                if 7 in rows:
                    run("7. cold start", row_cold_start, app)
                have_browser = Path(CHROMIUM).exists()
                try:
                    import playwright  # noqa: F401
                except ImportError:
                    have_browser = False
                app.wait_idle()
                if 4 in rows:
                    run("4. webcam", row_webcam, app) if have_browser else row("4. webcam", "not measured (needs chromium + playwright)")
                if 6 in rows:
                    run("6. 8 clients", row_clients, app)
                if 5 in rows:
                    run("5. compare", row_compare, app) if have_browser else row("5. compare", "not measured (needs chromium + playwright)")
            finally:
                app.close()
    from vision_demo.detect.export import EXPORTS
    EXPORTS.shutdown()
    print(f"\n{machine()}; bench took {time.perf_counter() - start:.0f} s\n")
    print("| row | measured | goal |\n|---|---|---|")
    for what, figure, goal in sorted(ROWS, key=lambda r: r[0]):
        print(f"| {what} | {figure} | {goal} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
