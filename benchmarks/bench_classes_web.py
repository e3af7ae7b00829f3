"""Your classes in the browser, measured in headless chromium here: figures, not asserts.

    python benchmarks/bench_classes_web.py                # app.py on a free port, a private work folder
    python benchmarks/bench_classes_web.py --live 20      # seconds of live bars to measure the server's CPU over

Prints:
- download per student: bytes on the wire for the first visit of the Your classes tab with the backbone loaded
  (Chrome's own count, CDP Network.loadingFinished encodedDataLength), and for a second visit (browser cache);
- ms per feature extraction in the page (onnxruntime-web, the backbone at 128 px), median over the captures and
  the live frames, and the backbone's load time;
- the head's training time in the page (2 classes x 20 captures, 20 epochs);
- the server's CPU seconds while the page captures, trains and runs the live bars for --live seconds (the server
  path would run every frame and every Train click there), and the size of "Download my model".
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 180, per_try: float = 2) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=per_try) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=float, default=20.0, help="seconds of live bars (server CPU measured over them)")
    args = parser.parse_args()

    import psutil
    from playwright.sync_api import expect, sync_playwright

    from test_browser import write_y4m

    def asset(name):   # the example photos inside ultralytics
        import importlib.util
        return Path(importlib.util.find_spec("ultralytics").origin).parent / "assets" / name

    work = Path(tempfile.mkdtemp(prefix="bench_classes_web_"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, VISION_DEMO_HOME=str(work), PYTHONPATH=str(ROOT))
    app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=work, env=env,
                           stdout=subprocess.DEVNULL, stderr=open(work / "app.log", "w"))
    try:
        wait_http(url)
        wait_http(url + "vd/classes/backbone.json", timeout=600, per_try=300)   # the export, once (not part of a visit)
        cam = write_y4m(asset("bus.jpg"), work / "bus.y4m")
        server = psutil.Process(app.pid)
        server.cpu_percent()
        end = time.time() + 300   # the app's own warm-up (detector exports) is not a student's cost: wait it out
        while time.time() < end and server.cpu_percent(interval=2.0) > 10:
            pass
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={cam}"])
            context = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 720})
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            wire = {"bytes": 0}
            cdp.on("Network.loadingFinished", lambda e: wire.__setitem__("bytes", wire["bytes"] + e["encodedDataLength"]))

            def visit():
                wire["bytes"] = 0
                page.goto(url, wait_until="load")
                page.get_by_role("tab", name="Your classes").click()
                page.locator('#classes-web-block [data-ready="1"]').wait_for(timeout=120_000)
                page.locator(".vdc-start").click()
                expect(page.locator(".vdc-line")).to_contain_text("camera on", timeout=180_000)
                return wire["bytes"]

            first = visit()
            second = visit()
            names = page.locator(".vdc-names")
            names.fill("bus, other")
            names.press("Tab")
            cpu0 = sum(server.cpu_times()[:2])
            t0 = time.perf_counter()
            for name in ("bus", "other"):
                page.locator(f'.vdc-row button[data-cls="{name}"]').click()
                expect(page.locator(".vdc-line")).to_contain_text(re.compile(rf"✔ {name}: 20 pictures"), timeout=300_000)
            page.locator(".vdc-train").click()
            expect(page.locator(".vdc-line")).to_contain_text("Trained in this browser", timeout=60_000)
            frames0 = int(page.locator(".vdc-bars").get_attribute("data-frames") or 0)
            time.sleep(args.live)
            frames = int(page.locator(".vdc-bars").get_attribute("data-frames") or 0) - frames0
            span = time.perf_counter() - t0
            cpu = sum(server.cpu_times()[:2]) - cpu0
            stats = page.evaluate("window.vdClasses.stats")
            with page.expect_download(timeout=300_000) as download:
                page.locator(".vdc-download").click()
            zip_path = work / "model.zip"
            download.value.save_as(zip_path)
            browser.close()
        feat = stats["featMs"]
        print(f"Your classes in the browser ({stats['runtime']}; headless chromium on this machine, loaded by others):")
        print(f"  download per student: first visit {first / 2**20:.1f} MB on the wire, cached visit "
              f"{second / 2**20:.2f} MB")
        print(f"  backbone loaded in the page: {stats['backboneMs']:.0f} ms (first visit)")
        print(f"  feature extraction in the page: median {median(feat[1:]):.0f} ms a frame over {len(feat)} "
              f"(captures and live frames), {median(feat[1:]) and 1000 / median(feat[1:]):.1f} fps at most")
        print(f"  head training in the page: {stats['trainMs']:.0f} ms (40 captures, 20 epochs, batches of 16)")
        print(f"  live bars: {frames / args.live:.1f} updates/s over {args.live:.0f} s")
        print(f"  server CPU while the page captured 40, trained and ran the live bars: {cpu:.2f} s over {span:.0f} s "
              f"({60 * cpu / span:.2f} CPU-s per student per minute)")
        print(f"  Download my model: {zip_path.stat().st_size / 2**20:.1f} MB zip")
    finally:
        app.terminate()
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()


if __name__ == "__main__":
    main()
