"""A real browser (Debian's chromium through Playwright) clicks through the app on 127.0.0.1.

Every request the page makes to anything but 127.0.0.1 is aborted and recorded; the test asserts
there was none (fonts, plotly.js and the frontend are all served by the app itself). The webcam is
chromium's fake camera playing a y4m file made from bus.jpg.

Never `playwright install`: the browser is /usr/bin/chromium (apt-get install chromium).
Screenshots go to tests/artifacts/ (gitignored). The window is a class projector's: 1280×720.
"""
import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from vision_demo.jobs import TERMINAL

from conftest import asset, serve_app, serve_fresh_app  # the module pytest loaded (tests.conftest would run it again: a new WORK)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1280, "height": 720}  # the class projector

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
    with serve_fresh_app(tmp_path_factory.mktemp("browser_jobs"), warm_up=True) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    cam = write_y4m(asset("bus.jpg"), tmp_path_factory.mktemp("cam") / "cam.y4m")
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p, cam)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["camera"], viewport=VIEWPORT)
    page = context.new_page()
    stay_on_machine(page)
    yield page
    context.close()


def launch_chromium(p, camera=None):
    """Debian's chromium, headless, quiet (no update or sync traffic); with `camera` (a .y4m file) its fake
    webcam plays that file and the camera permission prompt is answered yes."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]
    if camera is not None:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera}"]
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)


def stay_on_machine(page) -> list[str]:
    """Abort every request of the page that leaves 127.0.0.1 (data: and blob: URLs stay); the aborted URLs are
    collected in the list returned, which is also page.outside_requests (a test asserts it stays empty)."""
    page.outside_requests = outside = []

    def guard(route):
        if route.request.url.startswith(("data:", "blob:")) or urlparse(route.request.url).hostname == "127.0.0.1":
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", guard)
    return outside


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def scroll_to(page, selector: str) -> None:
    page.locator(selector).evaluate("e => e.scrollIntoView({block: 'start'})")


def click_example(page, name: str) -> None:
    """Click an example photo on the open tab (Try a model and Detect both offer bus.jpg)."""
    page.locator(f"text={name} >> visible=true").first.click()


def scroll_top(page) -> None:
    page.evaluate("window.scrollTo(0, 0)")


def wait_for_jobs(client, job_ids: list[str], seconds: float) -> list[str]:
    """Poll /job_status until every job has ended; their statuses (the test fails after `seconds`)."""
    deadline = time.time() + seconds
    while (statuses := [client.predict(j, api_name="/job_status")["status"] for j in job_ids]) and \
            not all(status in TERMINAL for status in statuses):
        assert time.time() < deadline, f"the jobs are still {statuses} after {seconds} s"
        time.sleep(0.5)
    return statuses


def tab(page, name: str):
    """A tab by its name without its number ("Detect" is "5 · Detect"): adding a tab renumbers, not breaks."""
    return page.get_by_role("tab", name=re.compile(rf"^(\d+b? · )?{re.escape(name)}$"))


def open_tab(page, name: str) -> None:
    tab(page, name).click()


def test_click_through_data_train_and_detect(page, app_url, tiny_scenes):
    start = time.perf_counter()
    page.goto(app_url, wait_until="load")
    page.get_by_text("Practical computer vision").wait_for(timeout=30_000)
    page_load_s = time.perf_counter() - start
    open_tab(page, "Data")  # the first tab is the lesson plan

    # 1. Data: the default generated scenes load by themselves: samples of every class, counts, report.
    page.locator("#data-gallery img").nth(11).wait_for(timeout=60_000)
    page.locator("#data-report").get_by_text("6 classes").wait_for(timeout=10_000)
    expect(page.locator("#data-report")).to_contain_text("Scenes · 128 px · 40 per class")
    assert "datasets/scenes-" not in page.locator("#data-report").inner_text()   # was its folder on the server
    assert page.locator("#data-gallery img").count() >= 12
    page.locator("#data-counts .js-plotly-plot").wait_for(timeout=20_000)
    data_s = time.perf_counter() - start
    shot(page, "1-data")

    # ...then a folder on the server: it becomes what the Train tab trains on.
    page.locator("#data-source textarea").fill(tiny_scenes)
    page.locator("#load-data").click()
    # The set by its name; the folder only in the tooltip, never as text on the page (issue 20, item 8).
    tiny_name = "Scenes · 48 px · 5 per class · seed 1"
    expect(page.locator("#data-report")).to_contain_text(tiny_name, timeout=20_000)
    assert tiny_scenes not in page.locator("#data-report").inner_text()
    assert page.locator("#data-report b[title]").first.get_attribute("title") == tiny_scenes

    # 2. Train: a tiny job on that tiny set; the plot draws its curves and the job finishes.
    open_tab(page, "Train & compare")
    expect(page.locator("#train-data textarea")).to_have_value(tiny_scenes)   # what was typed, for the job
    expect(page.locator("#train-data")).to_contain_text("Data set: " + tiny_name)   # its label, for people
    page.get_by_text("Or your own: model, strategy").click()  # the single-job form is folded away
    page.locator("#train-btn").click()
    page.locator("#job-progress").get_by_text("finished").first.wait_for(timeout=120_000)
    page.locator("#acc-plot .scatterlayer .trace").first.wait_for(timeout=20_000)
    assert page.locator("#loss-plot .scatterlayer .trace").count() >= 2   # train dashed + val solid
    scroll_to(page, "#job-progress")
    shot(page, "2-train")
    expect(page.locator("#comparison")).to_contain_text("SimpleCNN · scratch", timeout=10_000)
    expect(page.locator("#comparison")).to_contain_text(" %")

    # 5. Detect: one click on the bus example -> boxes drawn and a table of people.
    open_tab(page, "Detect")
    t0 = time.perf_counter()
    click_example(page, "bus.jpg")
    page.locator("#detect-output img").wait_for(timeout=60_000)
    expect(page.locator("#detections")).to_contain_text("Normal", timeout=30_000)
    click_to_boxes_s = time.perf_counter() - t0
    latency = page.locator("#detect-latency").inner_text()
    assert "boxes" in latency and "inference" in latency and "runtime" in latency   # which runtime answered
    expect(page.locator("#detect-runtime-status")).to_contain_text("320x256 px", timeout=10_000)   # the webcam input
    scroll_to(page, "#detect-warmup")
    shot(page, "5-detect")

    print(f"\nbrowser figures: page load {page_load_s:.1f} s, data tab filled {data_s:.1f} s, "
          f"bus example click -> boxes {click_to_boxes_s:.1f} s, server: {latency}")
    assert page.outside_requests == [], page.outside_requests


def test_a_job_started_by_a_script_shows_up_in_an_open_page(page, app_url, tiny_scenes):
    from gradio_client import Client

    page.goto(app_url, wait_until="load")
    open_tab(page, "Train & compare")
    page.locator("#job-progress").wait_for()
    client = Client(app_url, analytics_enabled=False, verbose=False)
    [job_id] = client.predict(tiny_scenes, "simple_cnn", "scratch", 2, 48, 8, 0, True, api_name="/train")
    client.close()
    # the page's slow watch (5 s) wakes its 1 s timer: the job appears and runs to the end without a click
    row = page.locator(f"#job-progress tr[title='job {job_id}']")  # the id is the row's tooltip, not its text
    expect(row).to_contain_text("finished", timeout=60_000)
    assert page.outside_requests == [], page.outside_requests


def test_try_a_model_with_a_webcam_snapshot(page, app_url, tiny_scenes):
    from gradio_client import Client

    client = Client(app_url, analytics_enabled=False, verbose=False)
    [job_id] = client.predict(tiny_scenes, "simple_cnn", "scratch", 1, 48, 8, 0, True, api_name="/train")
    deadline = time.time() + 60
    while (status := client.predict(job_id, api_name="/job_status")["status"]) not in TERMINAL:
        assert time.time() < deadline, f"the job is still {status} after 60 s"
        time.sleep(0.5)
    client.close()
    assert status == "finished"
    page.goto(app_url, wait_until="load")
    open_tab(page, "Try a model")
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


def test_try_a_model_offers_its_own_test_pictures_first_and_agrees_with_them(page, app_url, tiny_scenes):
    """The first examples are the job's own test pictures, right and wrong (a fair test), the photos second
    with the out-of-distribution note; a picked ✔ picture gets the class its caption says, a ✗ one not."""
    from gradio_client import Client

    client = Client(app_url, analytics_enabled=False, verbose=False)
    [job_id] = client.predict(tiny_scenes, "simple_cnn", "scratch", 1, 48, 8, 0, True, api_name="/train")
    assert wait_for_jobs(client, [job_id], 120) == ["finished"]
    client.close()
    page.goto(app_url, wait_until="load")
    open_tab(page, "Try a model")
    expect(page.locator("#try-job input")).to_have_value(re.compile("test acc"), timeout=20_000)
    pictures = page.locator("#try-tests .caption-label, #try-tests figcaption")
    expect(pictures.first).to_be_visible(timeout=20_000)
    captions = pictures.all_inner_texts()
    assert 1 <= len(captions) <= 8 and all(re.fullmatch(r"\w+ [✔✗]", c) for c in captions), captions
    tests_box = page.locator("#try-tests").bounding_box()
    photos = page.get_by_text("out of distribution").first
    expect(photos).to_be_visible()
    assert photos.bounding_box()["y"] > tests_box["y"], "the photos come before the job's own test pictures"
    assert tests_box["y"] + 60 < VIEWPORT["height"], f"the test pictures start at {tests_box['y']} px, off screen"
    # The label is empty before the first pick (no stale answer to mistake for the new one): pick the first
    # picture (a mistake, when there is one), then the last right one.
    right = [i for i, c in enumerate(captions) if c.endswith("✔")]
    for index in dict.fromkeys([0] + right[-1:]):
        page.locator("#try-tests .thumbnail-item").nth(index).click()
        true, verdict = captions[index].split(" ")
        answer = page.locator("#try-label h2").first
        # the answer Predict shows is the one recorded at test time: ✔ -> its true class, ✗ -> another one
        if verdict == "✔":
            expect(answer).to_have_text(true, timeout=30_000)
        else:
            expect(answer).to_have_text(re.compile(r"\w+"), timeout=30_000)
            expect(answer).not_to_have_text(true)
        said = answer.inner_text()
        expect(page.locator("#try-note")).to_contain_text(re.compile(rf"(sure of {said}|% {said})\."), timeout=30_000)
    shot(page, "3-try-own-tests")
    assert page.outside_requests == [], page.outside_requests


def test_where_does_it_look_shows_two_maps_side_by_side(page, app_url, tiny_scenes):
    from gradio_client import Client

    client = Client(app_url, analytics_enabled=False, verbose=False)
    ids = [client.predict(tiny_scenes, model, strategy, 1, 48, 8, 0, True, api_name="/train")[0]
           for model, strategy in (("simple_cnn", "scratch"), ("efficientnet_lite0", "frozen"))]
    statuses = wait_for_jobs(client, ids, 120)
    client.close()
    assert statuses == ["finished", "finished"]
    page.goto(app_url, wait_until="load")
    open_tab(page, "Try a model")
    # the defaults: a scratch job as A, the pretrained one as B
    expect(page.locator("#gradcam-a-job input")).to_have_value(re.compile("scratch"), timeout=20_000)
    expect(page.locator("#gradcam-b-job input")).to_have_value(re.compile("EfficientNet-Lite0 · frozen"))
    page.locator("#gradcam-tests img").first.click()    # one of A's own test images becomes the tab's image
    page.locator("#try-image img").first.wait_for(timeout=20_000)
    # the new image's prediction above fills in first (it would push the maps down after the reveal scroll)
    expect(page.locator("#try-note")).to_contain_text("sure", timeout=30_000)
    scroll_top(page)
    click_and_check_result_on_screen(page, "#gradcam-btn", "#gradcam-result")
    for side in ("a", "b"):
        page.locator(f"#gradcam-{side} img").wait_for(timeout=30_000)
        expect(page.locator(f"#gradcam-{side}-note")).to_contain_text(
            re.compile(r"says (buildings|forest|glacier|mountain|sea|street) \(\d+ %\)[\s\S]*Red = the pixels"))
        rows, cols = map(int, re.search(r"\((\d+)×(\d+) cells", page.locator(f"#gradcam-{side}-note").inner_text()).groups())
        assert min(rows, cols) >= 7, f"{side}: a {rows}×{cols} map"   # Lite0 at 48 px is 2×2: computed larger
    where = page.locator("#gradcam-result").evaluate("e => e.getBoundingClientRect().bottom")
    assert where <= VIEWPORT["height"] + 1, f"the maps' captions end at {where} px, below the 1280×720 window"
    # another class: the map is for it, the answer stays the model's
    page.locator("#gradcam-class input").click()
    page.get_by_role("option", name="sea", exact=True).click()
    page.locator("#gradcam-btn").click()
    expect(page.locator("#gradcam-b-note")).to_contain_text("score of sea", timeout=30_000)
    expect(page.locator("#gradcam-a-note")).to_contain_text("score of sea")
    where = page.locator("#gradcam-result").evaluate("e => e.getBoundingClientRect().bottom")
    assert where <= VIEWPORT["height"] + 1, f"the longer captions end at {where} px, below the window"
    shot(page, "3-try-gradcam")
    assert page.outside_requests == [], page.outside_requests


# The canvas scaled to 160x120, as grey levels (for comparing two drawn frames).
GREY_JS = """c => { const t = document.createElement('canvas'); t.width = 160; t.height = 120;
  const x = t.getContext('2d'); x.drawImage(c, 0, 0, 160, 120);
  const d = x.getImageData(0, 0, 160, 120).data, g = [];
  for (let i = 0; i < d.length; i += 4) g.push((d[i] + d[i + 1] + d[i + 2]) / 3);
  return g; }"""


def frames_shown(page) -> int:
    return int(page.locator("#webcam-canvas").get_attribute("data-frames") or 0)


def test_webcam_stream_gets_boxes_back(page, app_url):
    import numpy as np

    page.goto(app_url, wait_until="load")
    open_tab(page, "Detect")
    page.get_by_role("tab", name="Webcam", exact=True).click()
    page.locator("#webcam-start").click()
    page.locator("#webcam-canvas[data-frames]").wait_for(timeout=60_000)
    line = page.locator("#webcam-latency")
    expect(line).to_contain_text("fps", timeout=30_000)
    expect(line).to_contain_text("Normal", timeout=30_000)   # bus.jpg's people, named under the picture
    latency = line.inner_text()
    assert "runtime" in latency and "model input 320 px" in latency and "image 640×480 px" in latency, latency
    # The frame is drawn at the capture's size (the camera gives 640x480), not the model's 320 px ...
    size = page.locator("#webcam-canvas").evaluate("c => [c.width, c.height]")
    assert size == [640, 480], size
    # ... with its boxes: pixels in exactly the palette's colours for Normal/Fall (a camera frame has ~none).
    boxed = page.locator("#webcam-canvas").evaluate("""c => { const d = c.getContext('2d').getImageData(0, 0,
        c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if ((d[i] === 255 && d[i + 1] === 56 && d[i + 2] === 56) ||
            (d[i] === 56 && d[i + 1] === 56 && d[i + 2] === 255)) n++;
        return n; }""")
    assert boxed > 500, f"only {boxed} box-coloured pixels: no boxes drawn"
    shot(page, "5-webcam")
    print(f"\nwebcam: {latency}")

    # Mirrored like a mirror by default; unticked, the next frames are the camera's own way round.
    mirrored = np.array(page.locator("#webcam-canvas").evaluate(GREY_JS)).reshape(120, 160)
    page.locator("#webcam-live .vd-live-mirror input").uncheck()
    n = frames_shown(page)
    page.wait_for_function(f"() => +document.querySelector('#webcam-canvas').dataset.frames > {n + 2}",
                           timeout=30_000)
    plain = np.array(page.locator("#webcam-canvas").evaluate(GREY_JS)).reshape(120, 160)
    flipped, same = np.abs(mirrored - plain[:, ::-1]).mean(), np.abs(mirrored - plain).mean()
    assert flipped < same / 2, (flipped, same)

    # A setting changed on the page goes with the next frames.
    page.locator("#webcam-size").select_option("480")
    expect(line).to_contain_text("model input 480 px", timeout=30_000)

    # Stop: the camera is released and no more frames are drawn.
    page.locator("#webcam-stop").click()
    expect(line).to_contain_text("Stopped")
    n = frames_shown(page)
    page.wait_for_timeout(1500)
    assert frames_shown(page) == n
    assert page.locator("#webcam-live video").evaluate("v => v.srcObject") is None
    assert page.outside_requests == [], page.outside_requests


# ---- projector grade: 1280×720, nothing off screen or cut off ------------------------------------------

# Elements that hide what overflows them (overflow hidden/clip/auto/scroll, or an ellipsis) and whose text
# is wider than their box: text the class cannot read. Screen-reader-only and hidden elements do not count.
CLIPPED_JS = """() => {
  const bad = [];
  const unseen = e => { for (let n = e; n; n = n.parentElement) { const c = n.classList;
      if (c && (c.contains('sr-only') || c.contains('visually-hidden') || c.contains('hidden'))) return true; }
    return false; };
  for (const e of document.querySelectorAll('.gradio-container *')) {
    if (!e.getClientRects().length || unseen(e)) continue;
    const s = getComputedStyle(e);
    if (s.visibility === 'hidden') continue;
    if (!/hidden|clip|auto|scroll/.test(s.overflowX + ' ' + s.overflow) && s.textOverflow !== 'ellipsis') continue;
    const text = (e.tagName === 'INPUT' || e.tagName === 'TEXTAREA') ? e.value : e.innerText;
    if (!text || !text.trim()) continue;
    if (e.scrollWidth > e.clientWidth + 1)
      bad.push(`${e.tagName}#${e.id}.${String(e.className).slice(0, 30)} ${e.scrollWidth}>${e.clientWidth}: `
               + text.trim().slice(0, 60));
  }
  // a table header or caption that wraps inside a word ("devic|e"): more lines than words
  for (const e of document.querySelectorAll('.gradio-container th, .gradio-container .caption-label')) {
    if (!e.getClientRects().length || unseen(e)) continue;
    const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      const words = node.textContent.trim().split(/\s+/).filter(Boolean);
      if (!words.length) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (lines.size > words.length) bad.push('word broken across lines: ' + node.textContent.trim());
    }
  }
  return bad;
}"""

TABS = ("Lesson plan", "Data", "Train & compare", "Try a model", "Inside the model", "Detect",
        "Train a detector", "Sliding window vs YOLO", "Your classes", "Your objects")


def in_viewport(page, selector: str) -> dict:
    """Where the element's top part is: inside the 1280×720 window without scrolling, or not (within a pixel: a
    reveal scroll may leave the top at -0.3 px)."""
    return page.locator(selector).first.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {top: Math.round(r.top), bottom: Math.round(r.top + Math.min(r.height, 150)),"
        " height: window.innerHeight, inside: r.top >= -1 && r.top + Math.min(r.height, 150) <= window.innerHeight + 1}; }")


def click_and_check_result_on_screen(page, button: str, result: str) -> None:
    page.locator(button).click()
    page.wait_for_timeout(400)  # the reveal scroll and the tab switch are instant; give the layout a frame
    where = in_viewport(page, result)
    assert where["inside"], f"after clicking {button}, {result} is off screen at 1280×720: {where}"


def finished_compare(app_url, tiny_scenes) -> list[str]:
    """The four strategies on the tiny set, 1 epoch each, through the API: the longest job names there are."""
    from gradio_client import Client

    client = Client(app_url, analytics_enabled=False, verbose=False)
    job_ids = client.predict(tiny_scenes, 1, 48, 8, api_name="/compare")
    statuses = wait_for_jobs(client, job_ids, 240)
    client.close()
    assert statuses == ["finished"] * len(job_ids), statuses
    return job_ids


def test_every_primary_click_shows_its_result_without_scrolling(page, app_url, tiny_scenes):
    page.goto(app_url, wait_until="load")
    page.locator("#lesson-1").wait_for(timeout=30_000)
    assert page.viewport_size == VIEWPORT

    open_tab(page, "Data")
    page.locator("#data-gallery img").first.wait_for(timeout=60_000)
    page.locator("#data-source textarea").fill(tiny_scenes)
    click_and_check_result_on_screen(page, "#load-data", "#data-gallery")
    expect(page.locator("#data-report")).to_contain_text("Scenes · 48 px · 5 per class", timeout=30_000)

    # Compare all four on the tiny set: done / running / waiting, with the time left, on screen next to the button.
    open_tab(page, "Train & compare")
    click_and_check_result_on_screen(page, "#compare-btn", "#job-progress")
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("waiting", timeout=30_000)
    expect(progress).to_contain_text(re.compile(r"left \(from the speed|s left, \+ .* not run yet|estimating the time left"),
                                     timeout=30_000)
    where = in_viewport(page, "#acc-plot")
    if not where["inside"]:
        shot(page, "acc-plot-off-screen")
    assert where["inside"], f"the live curves are off screen after Compare: {where}"   # the live curves too
    # the whole queue has ended ("4 done" alone would also match "14 done" of a server that ran ten before)
    expect(progress.locator(".vd-summary")).not_to_contain_text(re.compile("running|waiting"), timeout=300_000)
    expect(progress.locator(".vd-summary")).to_contain_text(re.compile(r"\b\d+ done"))
    rows = progress.locator("tr[title^='job ']")
    assert all("✔ done" in rows.nth(rows.count() - k).inner_text() for k in range(1, 5))   # the compare's four
    assert not re.search(r"\d{8}-\d{6}-\w{6}|\[\w{6}\]", progress.inner_text())  # names for people, no job ids
    expect(progress.locator("tr[title^='job ']").first).to_be_attached()   # the id is the row's tooltip
    expect(page.locator("#inspect-job input")).to_have_value(re.compile("fine-tuned|finetune"), timeout=30_000)
    shot(page, "projector-compare")

    open_tab(page, "Try a model")
    expect(page.locator("#try-job input")).to_have_value(re.compile("test acc"), timeout=20_000)
    click_example(page, "bus.jpg")        # an example photo: no scene at all
    page.locator("#try-image img").first.wait_for(timeout=20_000)
    click_and_check_result_on_screen(page, "#try-btn", "#try-label")
    note = page.locator("#try-note")
    expect(note).to_contain_text("knows 6 classes only", timeout=30_000)
    expect(note).to_contain_text("must answer one of them")
    assert "click an example" not in page.locator("#try-image").inner_text()
    click_and_check_result_on_screen(page, "#gradcam-btn", "#gradcam-result")   # where does it look, on bus.jpg
    expect(page.locator("#gradcam-b-note")).to_contain_text("says", timeout=30_000)

    open_tab(page, "Inside the model")
    click_and_check_result_on_screen(page, "#inside-show", "#inside-text")
    page.locator("#inside-graph img").wait_for(timeout=90_000)

    open_tab(page, "Detect")
    click_example(page, "bus.jpg")
    expect(page.locator("#detections")).to_contain_text("Normal", timeout=60_000)
    click_and_check_result_on_screen(page, "#detect-btn", "#detect-output")
    expect(page.locator("#detect-model-note")).to_contain_text("fall detector")
    expect(page.locator("#detect-model-note")).to_contain_text("80 classes")

    # Train a detector: the progress is on screen, the mAP axis is mAP's own 0–1 (no raw job-id JSON); then cancel.
    open_tab(page, "Train a detector")
    assert page.get_by_text("Started job ids").count() == 0 or not page.get_by_text("Started job ids").is_visible()
    click_and_check_result_on_screen(page, "#yolo-train-btn", "#yolo-progress")
    expect(page.locator("#yolo-progress")).to_contain_text(re.compile("running|waiting"), timeout=30_000)
    page.locator("#yolo-map .js-plotly-plot").wait_for(timeout=30_000)
    assert page.locator("#yolo-map .js-plotly-plot").evaluate("e => e.layout.yaxis.range") == [0, 1.02]
    assert page.locator("#acc-plot .js-plotly-plot").evaluate("e => e.layout.yaxis.range") == [0, 102]
    page.get_by_text("Cancel a job, or show only yours").last.click()
    page.locator("#yolo-cancel-btn").click()
    expect(page.locator("#yolo-progress")).to_contain_text("cancelled", timeout=120_000)

    open_tab(page, "Sliding window vs YOLO")
    click_and_check_result_on_screen(page, "#sliding-btn", "#sliding-summary")
    expect(page.locator("#sliding-summary")).to_contain_text("faster", timeout=120_000)

    # The lesson plan's buttons open their tab with the experiment running, its result on screen.
    open_tab(page, "Lesson plan")
    click_and_check_result_on_screen(page, "#lesson-5", "#inside-text")
    expect(tab(page, "Inside the model")).to_have_attribute("aria-selected", "true")
    open_tab(page, "Lesson plan")
    click_and_check_result_on_screen(page, "#lesson-1", "#job-progress")   # exercise 1 on the Train tab's data
    expect(tab(page, "Train & compare")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#job-progress")).to_contain_text(re.compile(r"SimpleCNN · scratch #\d"), timeout=30_000)
    expect(page.locator("#job-progress")).not_to_contain_text(re.compile("running|waiting"), timeout=120_000)
    assert page.outside_requests == [], page.outside_requests


def test_no_text_is_clipped_on_any_tab(page, app_url, tiny_scenes):
    job_id = finished_compare(app_url, tiny_scenes)[-1]
    page.goto(app_url, wait_until="load")
    page.locator("#lesson-1").wait_for(timeout=30_000)
    clipped = {}
    for tab in TABS:
        open_tab(page, tab)
        page.wait_for_timeout(2500)  # tables, plots and galleries of the tab are drawn
        if tab == "Train & compare":
            page.locator(f"#job-progress tr[title='job {job_id}']").wait_for(timeout=20_000)
            page.locator("#predictions img").first.wait_for(timeout=30_000)
            # every gallery caption reads whole: "✖ glacier → mountain (0.61)", inside its thumbnail
            for caption in page.locator("#predictions .caption-label").all():
                assert re.fullmatch(r"[✔✖] \w+ → \w+ \(\d\.\d\d\)", caption.inner_text().strip())
                assert caption.evaluate("e => e.getBoundingClientRect().right <= "
                                        "e.closest('.thumbnail-item, button').getBoundingClientRect().right + 1")
            page.get_by_text("Job state as JSON").click()
        if tab == "Inside the model":
            page.get_by_role("button", name="Show", exact=True).click()
            page.locator("#inside-graph img").wait_for(timeout=90_000)
            page.get_by_role("button", name="Show where it is in torchvision's ResNet").click()
            expect(page.locator("#inside-residual")).to_contain_text("out += identity", timeout=30_000)
        clipped[tab] = page.evaluate(CLIPPED_JS)
        shot(page, "clipped-" + re.sub(r"\W+", "-", tab).strip("-").lower())
    assert not any(clipped.values()), clipped
    assert page.outside_requests == [], page.outside_requests


def font_px(page, selector: str) -> float:
    return page.locator(selector).first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")


def test_presenter_mode_makes_the_text_larger_by_switch_and_by_url(page, app_url):
    page.goto(app_url, wait_until="load")
    page.locator("#lesson-1").wait_for(timeout=30_000)
    intro = ".vd-intro p"
    normal = font_px(page, intro)
    page.locator("#presenter-mode input").check()
    page.wait_for_function("document.body.classList.contains('vd-presenter')", timeout=5_000)
    assert font_px(page, intro) >= normal * 1.2
    page.locator("#dark-mode input").check()
    page.wait_for_function("document.body.classList.contains('dark')", timeout=5_000)
    shot(page, "presenter-dark")
    page.locator("#presenter-mode input").uncheck()
    page.wait_for_function("!document.body.classList.contains('vd-presenter')", timeout=5_000)
    assert font_px(page, intro) == normal

    page.goto(app_url + "?presenter=1", wait_until="load")
    page.locator("#lesson-1").wait_for(timeout=30_000)
    page.wait_for_function("document.body.classList.contains('vd-presenter')", timeout=10_000)
    expect(page.locator("#presenter-mode input")).to_be_checked()
    assert font_px(page, intro) >= normal * 1.2
    open_tab(page, "Train & compare")
    assert page.evaluate(CLIPPED_JS) == []   # large text still fits
    shot(page, "presenter-train")
    assert page.outside_requests == [], page.outside_requests


def test_the_class_filter_runs_the_detection_again(page, app_url):
    page.goto(app_url, wait_until="load")
    open_tab(page, "Detect")
    click_example(page, "bus.jpg")
    table = page.locator("#detections")
    expect(table).to_contain_text("Normal", timeout=60_000)
    boxes_before = page.locator("#detect-output img").get_attribute("src")
    page.locator("#detect-classes input").click()
    page.get_by_role("option", name="Fall", exact=True).click()
    # only the filter changed, no button was pressed: the boxes and the table are new, with no Normal left
    expect(table).not_to_contain_text("Normal", timeout=30_000)
    page.wait_for_function(f"document.querySelector('#detect-output img').src != {boxes_before!r}", timeout=30_000)
    assert page.outside_requests == [], page.outside_requests


def test_offline_the_intel_download_is_disabled_and_says_why(page, app_url):
    page.goto(app_url, wait_until="load")
    open_tab(page, "Data")
    page.locator("#data-gallery img").first.wait_for(timeout=60_000)
    button = page.locator("#intel-btn")
    expect(button).to_be_disabled()
    expect(button).to_contain_text("needs --online")
    page.get_by_text("Why the Intel download is off").click()
    expect(page.locator("#intel-reason")).to_contain_text("--online")
    expect(page.locator("#intel-reason")).to_contain_text("archive.zip")
    button.click(force=True)   # a click on the disabled button changes nothing: no error panel
    page.wait_for_timeout(1000)
    assert page.locator("#data-gallery").get_by_text("Error").count() == 0
    assert page.locator("#data-gallery img").count() >= 12
    assert page.outside_requests == [], page.outside_requests


def click_on_image(page, selector: str, x: float, y: float) -> None:
    """Click the picture at pixel (x, y) of the image itself, wherever it is drawn and however it is scaled."""
    img = page.locator(f"{selector} img").first
    box = img.bounding_box()
    width, height = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    scale = min(box["width"] / width, box["height"] / height)     # object-fit: contain
    left, top = box["x"] + (box["width"] - width * scale) / 2, box["y"] + (box["height"] - height * scale) / 2
    page.mouse.click(left + x * scale, top + y * scale)


def test_iou_by_hand_two_clicks_draw_a_box_and_the_slider_rescores(page, app_url):
    page.goto(app_url, wait_until="load")
    open_tab(page, "Detect")
    page.get_by_role("tab", name="IoU by hand", exact=True).click()   # opening it scores bus.jpg at once
    expect(page.locator("#iou-map-line")).to_contain_text("mAP50-95 =", timeout=60_000)
    click_and_check_result_on_screen(page, "#iou-btn", "#iou-image")
    page.wait_for_timeout(1000)
    # two clicks: the top-left and the bottom-right corner of the man in the light coat (labelled 50, 399, 246, 901)
    click_on_image(page, "#iou-image", 50, 399)
    expect(page.locator("#iou-box-line")).to_contain_text("First corner set", timeout=20_000)
    click_on_image(page, "#iou-image", 246, 901)
    line = page.locator("#iou-box-line")
    expect(line).to_contain_text("Your box", timeout=20_000)
    expect(line).to_contain_text(re.compile(r"IoU 0\.9\d with the ground-truth person"))
    where = in_viewport(page, "#iou-box-line")
    assert where["inside"], where
    x1 = float(page.locator("#iou-x1 input").input_value())
    assert abs(x1 - 50) <= 3, x1                      # the click landed in the picture's own pixels
    # the slider re-scores the cached boxes: fewer true positives at 0.90 than at 0.50
    expect(page.locator("#iou-map-line")).to_contain_text("At IoU ≥ 0.50")
    before = page.locator("#iou-image img").get_attribute("src")
    slider = page.locator("#iou-threshold input[type=number]")
    slider.fill("0.9")
    slider.press("Enter")
    expect(page.locator("#iou-map-line")).to_contain_text("At IoU ≥ 0.90: 0 TP", timeout=20_000)
    page.wait_for_function(f"document.querySelector('#iou-image img').src != {before!r}", timeout=20_000)
    page.wait_for_timeout(500)   # the new picture (every model box red now) is painted
    expect(page.locator("#iou-status")).to_contain_text("model boxes on bus.jpg")
    shot(page, "5-iou-by-hand")
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
    page.locator("#lesson-1").wait_for(timeout=60_000)
    time.sleep(1)
    save_small(page, "lesson-plan")
    open_tab(page, "Data")
    page.locator("#data-counts .js-plotly-plot").wait_for(timeout=60_000)
    time.sleep(1)
    save_small(page, "data")

    open_tab(page, "Train & compare")
    page.locator("#compare-btn").click()
    expect(page.locator("#job-progress")).to_contain_text(re.compile(r"about \d+( min \d+)? s left"), timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#job-progress tr').length >= 5", timeout=30_000)
    expect(page.locator("#job-progress")).to_contain_text("done", timeout=120_000)
    time.sleep(2)
    save_small(page, "train-compare-running")
    page.wait_for_function(
        "!/waiting|running/.test(document.querySelector('#job-progress').innerText)", timeout=400_000)
    scroll_top(page)
    time.sleep(2)
    save_small(page, "train-compare")
    scroll_to(page, "#comparison")
    page.locator("#predictions img").first.wait_for(timeout=30_000)
    time.sleep(2)
    save_small(page, "compare-confusion")

    open_tab(page, "Try a model")
    expect(page.locator("#try-job input")).to_have_value(re.compile("test acc"), timeout=20_000)
    click_example(page, "bus.jpg")   # no scene at all: the model must still pick one of its six
    expect(page.locator("#try-note")).to_contain_text("sure", timeout=60_000)
    time.sleep(1)
    scroll_top(page)
    save_small(page, "try-model")

    open_tab(page, "Inside the model")
    page.get_by_role("button", name="Show", exact=True).click()
    page.locator("#inside-graph img").wait_for(timeout=60_000)
    time.sleep(2)
    save_small(page, "inside")

    open_tab(page, "Detect")
    click_example(page, "bus.jpg")
    expect(page.locator("#detections")).to_contain_text("Normal", timeout=60_000)
    page.locator("#detect-output img").wait_for(timeout=30_000)
    time.sleep(1)
    scroll_top(page)
    save_small(page, "detect")
    page.get_by_role("tab", name="Webcam", exact=True).click()
    page.locator("#webcam-start").click()
    # a frame rate measured over several frames (the first report comes after one)
    expect(page.locator("#webcam-latency")).to_contain_text(re.compile(r"live: [1-9]\d*\.\d fps"), timeout=60_000)
    time.sleep(2)
    scroll_top(page)
    save_small(page, "webcam")
    page.locator("#webcam-stop").click()

    open_tab(page, "Train a detector")
    epochs = page.locator("#yolo-epochs input[type=number]")
    epochs.fill("3")
    epochs.press("Enter")
    page.locator("#yolo-train-btn").click()
    expect(page.locator("#yolo-progress")).to_contain_text("finished", timeout=400_000)
    expect(page.locator("#yolo-metrics")).to_contain_text("circle", timeout=30_000)
    scroll_top(page)
    time.sleep(2)
    save_small(page, "train-detector")

    open_tab(page, "Sliding window vs YOLO")
    page.get_by_role("button", name="Measure").click()
    expect(page.locator("#sliding-summary")).to_contain_text("faster", timeout=120_000)
    time.sleep(1)
    save_small(page, "sliding-window")

    open_tab(page, "Train & compare")   # take it home: the fine-tuned run as ONNX, checked against PyTorch
    page.locator("text=Take it home: download a model, the table, the charts >> visible=true").first.click()
    expect(page.locator("#dl-job input")).to_have_value(re.compile("test acc"), timeout=20_000)
    scroll_to(page, "#dl-job")
    page.locator("#dl-export-btn").click()
    expect(page.locator("#dl-note")).to_contain_text("same top-1 class as PyTorch", timeout=120_000)
    time.sleep(1)
    save_small(page, "take-home")
    open_tab(page, "Detect")
    page.get_by_role("tab", name="IoU by hand", exact=True).click()
    expect(page.locator("#iou-map-line")).to_contain_text("mAP50-95 =", timeout=60_000)
    page.wait_for_timeout(1000)
    click_on_image(page, "#iou-image", 50, 399)
    expect(page.locator("#iou-box-line")).to_contain_text("First corner set", timeout=20_000)
    click_on_image(page, "#iou-image", 246, 901)
    expect(page.locator("#iou-box-line")).to_contain_text("Your box", timeout=20_000)
    slider = page.locator("#iou-threshold input[type=number]")
    slider.fill("0.75")
    slider.press("Enter")
    expect(page.locator("#iou-map-line")).to_contain_text("At IoU ≥ 0.75", timeout=20_000)
    time.sleep(1)
    scroll_top(page)
    save_small(page, "iou-by-hand")
    # Your classes: two bursts from the webcam (the bus camera), one click to train, the live bars.
    open_tab(page, "Your classes")
    page.locator("#classes-active input").first.wait_for(timeout=30_000)
    page.locator("#classes-cam").get_by_text("Click to Access Webcam").click()
    page.locator("#classes-cam button", has_text="Record").click()
    names = page.locator("#classes-names textarea")   # two classes: the third default ("nothing") stays empty
    names.fill("thumbs up, thumbs down")
    names.press("Enter")
    expect(page.locator("#classes-active")).not_to_contain_text("nothing", timeout=20_000)
    for name in ("thumbs up", "thumbs down"):
        page.locator("#classes-active label", has_text=name).click()
        page.locator("#classes-capture").click()
        expect(page.locator("#classes-status")).to_contain_text(f"✔ {name}:", timeout=60_000)
    page.locator("#classes-train").click()
    expect(page.locator("#classes-progress")).to_contain_text("done", timeout=120_000)
    expect(page.locator("#classes-live")).to_contain_text("%", timeout=30_000)
    time.sleep(1)
    scroll_top(page)
    save_small(page, "your-classes")
    open_tab(page, "Try a model")   # where does it look: the scratch model and the pretrained one on a test image
    page.locator("#gradcam-tests img").first.click()
    page.locator("#gradcam-btn").click()
    page.locator("#gradcam-b img").wait_for(timeout=60_000)
    time.sleep(1)
    save_small(page, "gradcam")
    assert page.outside_requests == [], page.outside_requests


def test_take_home_area_shows_each_download_next_to_its_button(browser, tiny_scenes, tmp_path):
    """Train tab, 'Take it home': the model's .zip, the table's CSV and a chart's HTML each appear in the row of
    the button that made them, on screen at 1280×720, with no request off the machine."""
    from vision_demo.classify.train import TrainConfig, submit
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(tmp_path / "jobs")
    job_id = submit(registry, TrainConfig(data=tiny_scenes, model="simple_cnn", strategy="scratch", epochs=1,
                                          img_size=48, batch_size=16))
    assert registry.wait(job_id, timeout=120).status == "finished"
    with serve_app(registry) as url:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        outside = []
        page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]|data:|blob:)"),
                   lambda route: (outside.append(route.request.url), route.abort()))
        page.goto(url, wait_until="load")
        open_tab(page, "Train & compare")
        page.locator("text=Take it home: download a model, the table, the charts >> visible=true").first.click()
        expect(page.locator("#dl-job input")).to_have_value(re.compile("SimpleCNN"), timeout=20_000)
        scroll_to(page, "#dl-job")
        click_and_check_result_on_screen(page, "#dl-export-btn", "#dl-model-file")
        expect(page.locator("#dl-model-file")).to_contain_text("simplecnn-scratch-onnx", timeout=60_000)
        expect(page.locator("#dl-note")).to_contain_text("same top-1 class as PyTorch on 18/18")
        click_and_check_result_on_screen(page, "#dl-table-btn", "#dl-file")
        expect(page.locator("#dl-file")).to_contain_text("comparison", timeout=30_000)
        click_and_check_result_on_screen(page, "#dl-chart-btn", "#dl-file")
        expect(page.locator("#dl-file")).to_contain_text("loss-curves", timeout=30_000)
        shot(page, "take-home")
        context.close()
    registry.shutdown()
    assert outside == [], outside
