"""A real browser (Debian's chromium through Playwright) clicks through the app on 127.0.0.1.

Every request the page makes to anything but 127.0.0.1 is aborted and recorded; the test asserts
there was none (fonts, plotly.js and the frontend are all served by the app itself). The webcam is
chromium's fake camera playing a y4m file made from bus.jpg.

Never `playwright install`: the browser is /usr/bin/chromium (apt-get install chromium).
Screenshots go to tests/artifacts/ (gitignored).
"""
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import asset, serve_app  # the module pytest loaded (tests.conftest would run it again: a new WORK)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="needs Debian's chromium: apt-get install chromium")]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


def write_y4m(image_path: Path, out: Path, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """A few seconds of 'video' of one still picture, in the YUV4MPEG2 format chromium's fake camera plays."""
    from PIL import Image

    img = Image.open(image_path).convert("RGB")
    # crop to 4:3 around the people (the lower part of bus.jpg), then scale to the camera's size
    w, h = img.size
    crop_h = int(w * height / width)
    top = max(0, min(h - crop_h, int(h * 0.62) - crop_h // 2))
    img = img.crop((0, top, w, top + crop_h)).resize((width, height))
    y, cb, cr = img.convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + frame)
    return out


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("browser_jobs"))
    with serve_app(registry, warm_up=True) as url:
        yield url
    registry.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    cam = write_y4m(asset("bus.jpg"), tmp_path_factory.mktemp("cam") / "cam.y4m")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={cam}"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["camera"], viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.outside_requests = []

    def guard(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1",):
            return route.continue_()
        page.outside_requests.append(route.request.url)
        return route.abort()

    page.route("**/*", guard)
    yield page
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def scroll_to(page, selector: str) -> None:
    page.locator(selector).evaluate("e => e.scrollIntoView({block: 'start'})")


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_click_through_data_train_and_detect(page, app_url, tiny_scenes):
    start = time.perf_counter()
    page.goto(app_url, wait_until="load")
    page.get_by_text("Practical computer vision").wait_for(timeout=30_000)
    page_load_s = time.perf_counter() - start

    # 1. Data: the default generated scenes load by themselves: samples of every class, counts, report.
    page.locator("#data-gallery img").nth(11).wait_for(timeout=60_000)
    page.locator("#data-report").get_by_text("6 classes").wait_for(timeout=10_000)
    assert page.locator("#data-gallery img").count() >= 12
    page.locator("#data-counts .js-plotly-plot").wait_for(timeout=20_000)
    data_s = time.perf_counter() - start
    shot(page, "1-data")

    # ...then a folder on the server: it becomes what the Train tab trains on.
    page.locator("#data-source textarea").fill(tiny_scenes)
    page.locator("#load-data").click()
    expect(page.locator("#data-report")).to_contain_text(tiny_scenes, timeout=20_000)

    # 2. Train: a tiny job on that tiny set; the plot draws its curves and the job finishes.
    open_tab(page, "2 · Train & compare")
    expect(page.locator("#train-data textarea")).to_have_value(tiny_scenes)
    page.locator("#train-btn").click()
    page.locator("#job-progress").get_by_text("finished").first.wait_for(timeout=120_000)
    page.locator("#acc-plot .scatterlayer .trace").first.wait_for(timeout=20_000)
    assert page.locator("#loss-plot .scatterlayer .trace").count() >= 2   # train dashed + val solid
    scroll_to(page, "#job-progress")
    shot(page, "2-train")
    expect(page.locator("#comparison")).to_contain_text("SimpleCNN / scratch", timeout=10_000)
    expect(page.locator("#comparison")).to_contain_text(" %")

    # 5. Detect: one click on the bus example -> boxes drawn and a table of people.
    open_tab(page, "5 · Detect")
    t0 = time.perf_counter()
    page.get_by_text("bus.jpg", exact=True).first.click()
    page.locator("#detect-output img").wait_for(timeout=60_000)
    expect(page.locator("#detections")).to_contain_text("Normal", timeout=30_000)
    click_to_boxes_s = time.perf_counter() - t0
    latency = page.locator("#detect-latency").inner_text()
    assert "boxes" in latency and "inference" in latency and "runtime" in latency   # which runtime answered
    expect(page.locator("#detect-runtime-status")).to_contain_text("320 px", timeout=10_000)
    scroll_to(page, "#detect-warmup")
    shot(page, "5-detect")

    print(f"\nbrowser figures: page load {page_load_s:.1f} s, data tab filled {data_s:.1f} s, "
          f"bus example click -> boxes {click_to_boxes_s:.1f} s, server: {latency}")
    assert page.outside_requests == [], page.outside_requests


def test_a_job_started_by_a_script_shows_up_in_an_open_page(page, app_url, tiny_scenes):
    from gradio_client import Client

    page.goto(app_url, wait_until="load")
    open_tab(page, "2 · Train & compare")
    page.locator("#job-progress").wait_for()
    client = Client(app_url, analytics_enabled=False, verbose=False)
    [job_id] = client.predict(tiny_scenes, "simple_cnn", "scratch", 2, 48, 8, 0, True, api_name="/train")
    client.close()
    # the page's slow watch (5 s) wakes its 1 s timer: the job appears and runs to the end without a click
    row = page.locator("#job-progress tr", has_text=job_id)
    expect(row).to_contain_text("finished", timeout=60_000)
    assert page.outside_requests == [], page.outside_requests


def test_try_a_model_with_a_webcam_snapshot(page, app_url, tiny_scenes):
    from gradio_client import Client

    client = Client(app_url, analytics_enabled=False, verbose=False)
    [job_id] = client.predict(tiny_scenes, "simple_cnn", "scratch", 1, 48, 8, 0, True, api_name="/train")
    deadline = time.time() + 60
    while client.predict(job_id, api_name="/job_status")["status"] != "finished" and time.time() < deadline:
        time.sleep(0.5)
    client.close()
    page.goto(app_url, wait_until="load")
    open_tab(page, "3 · Try a model")
    expect(page.locator("#try-job input")).to_have_value(re.compile("test acc"), timeout=20_000)
    page.locator("#try-image button[aria-label='Capture from camera']").click()
    page.get_by_text("Click to Access Webcam").click()
    page.wait_for_function("(v => v && v.readyState >= 2)(document.querySelector('#try-image video'))",
                           timeout=20_000)  # the camera streams: now a snapshot has a picture
    page.locator("#try-image button[aria-label='capture photo']").click()
    page.locator("#try-image img").first.wait_for(timeout=20_000)
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#try-label")).to_contain_text(
        re.compile("(buildings|forest|glacier|mountain|sea|street)[\\s\\S]*%"), timeout=30_000)
    time.sleep(1)
    shot(page, "3-try-webcam")
    assert page.outside_requests == [], page.outside_requests


def test_webcam_stream_gets_boxes_back(page, app_url):
    page.goto(app_url, wait_until="load")
    open_tab(page, "5 · Detect")
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    record = page.locator("#webcam-input button", has_text="Record")  # its aria-label says "capture photo"
    record.wait_for(timeout=20_000)
    record.click()
    page.locator("#webcam-output img").wait_for(timeout=60_000)
    expect(page.locator("#detections")).to_contain_text("Normal", timeout=30_000)
    expect(page.locator("#detect-latency")).to_contain_text("fps", timeout=30_000)
    latency = page.locator("#detect-latency").inner_text()
    assert "runtime" in latency and "model input 320 px" in latency
    # The boxes come back on the frame at the capture's size (the camera gives 640x480), not the model's 320 px.
    size = page.locator("#webcam-output img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [640, 480], size
    shot(page, "5-webcam")
    print(f"\nwebcam: {latency}")
    assert page.outside_requests == [], page.outside_requests


README_SHOTS = Path(__file__).parent.parent / "assets" / "screenshots"


def save_small(page, name: str) -> Path:
    """A viewport screenshot, shrunk and palette-compressed for the README (< 300 KB)."""
    from PIL import Image

    source = shot(page, name)
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    target = README_SHOTS / f"{name}.png"
    for side, colors in ((1100, 192), (1000, 128), (900, 96), (800, 64)):  # photos need fewer colours to fit
        img = Image.open(source).convert("RGB")
        img.thumbnail((side, side))
        img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
        if target.stat().st_size < 300_000:
            break
    assert target.stat().st_size < 300_000
    return target


@pytest.mark.skipif(not os.environ.get("VISION_DEMO_UPDATE_SCREENSHOTS"),
                    reason="set VISION_DEMO_UPDATE_SCREENSHOTS=1 to refresh assets/screenshots/ (a few minutes)")
def test_readme_screenshots(page, app_url):
    """The lesson as the README shows it: the default scenes, all four strategies, detection, the cost of windows."""
    page.goto(app_url, wait_until="load")
    page.locator("#data-counts .js-plotly-plot").wait_for(timeout=60_000)
    time.sleep(1)
    save_small(page, "data")

    open_tab(page, "2 · Train & compare")
    page.locator("#compare-btn").click()
    expect(page.locator("#job-progress")).to_contain_text("finished", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#job-progress tr').length >= 5", timeout=30_000)
    page.wait_for_function(
        "!/queued|running/.test(document.querySelector('#job-progress').innerText)", timeout=400_000)
    scroll_to(page, "#job-progress")
    time.sleep(2)
    save_small(page, "train-compare")
    scroll_to(page, "#comparison")
    time.sleep(2)
    save_small(page, "compare-confusion")

    open_tab(page, "4 · Inside the model")
    page.get_by_role("button", name="Show", exact=True).click()
    page.locator("#inside-graph img").wait_for(timeout=60_000)
    time.sleep(2)
    save_small(page, "inside")

    open_tab(page, "5 · Detect")
    page.get_by_text("bus.jpg", exact=True).first.click()
    expect(page.locator("#detections")).to_contain_text("Normal", timeout=60_000)
    scroll_to(page, "#detect-warmup")
    save_small(page, "detect")
    page.get_by_role("tab", name="Webcam").click()
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#webcam-input button", has_text="Record").click()
    expect(page.locator("#detect-latency")).to_contain_text("live:", timeout=60_000)
    time.sleep(2)
    scroll_to(page, "#detect-warmup")
    save_small(page, "webcam")
    page.locator("#webcam-input button", has_text="Stop").click()

    open_tab(page, "6 · Train a detector")
    epochs = page.locator("#yolo-epochs input[type=number]")
    epochs.fill("3")
    epochs.press("Enter")
    page.locator("#yolo-train-btn").click()
    expect(page.locator("#yolo-progress")).to_contain_text("finished", timeout=400_000)
    expect(page.locator("#yolo-metrics")).to_contain_text("circle", timeout=30_000)
    scroll_to(page, "#yolo-progress")
    time.sleep(2)
    save_small(page, "train-detector")

    open_tab(page, "7 · Sliding window vs YOLO")
    page.get_by_role("button", name="Measure").click()
    expect(page.locator("#sliding-summary")).to_contain_text("faster", timeout=120_000)
    time.sleep(1)
    save_small(page, "sliding-window")
    assert page.outside_requests == [], page.outside_requests
