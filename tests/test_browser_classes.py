"""Your classes in a real browser: two webcam pictures, two classes, one model that tells them apart live.

Chromium's fake camera plays one y4m file per browser launch, so the lesson's "show the camera two things" is
two launches that share the page's localStorage (Playwright's storage_state), hence the same set:
browser A (camera: a generated forest) captures class "forest"; browser B (camera: bus.jpg) finds that set,
captures "bus", trains, and sees "bus" live; browser A again sees "forest" live. Setup as in test_browser.py.
"""
import re
import time

import pytest

from conftest import asset, serve_fresh_app
from test_browser import CHROMIUM, VIEWPORT, in_viewport, launch_chromium, open_tab, shot, stay_on_machine, write_y4m

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                 reason="needs Debian's chromium: apt-get install chromium")]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture(scope="module")
def classes_url(tmp_path_factory):
    with serve_fresh_app(tmp_path_factory.mktemp("classes_browser_jobs")) as (url, _):
        yield url


@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    """Two y4m 'videos': a generated forest scene and the bus photo."""
    from vision_demo.datasets.scenes import draw_scene

    folder = tmp_path_factory.mktemp("cams")
    draw_scene("forest", size=480, seed=3).save(folder / "forest.png")
    return {"forest": write_y4m(folder / "forest.png", folder / "forest.y4m"),
            "bus": write_y4m(asset("bus.jpg"), folder / "bus.y4m")}


def open_classes(browser, url, storage_state=None):
    """A 1280×720 page on the Your classes tab with the webcam streaming; off-machine requests aborted and counted."""
    context = browser.new_context(permissions=["camera"], viewport=VIEWPORT, storage_state=storage_state)
    page = context.new_page()
    stay_on_machine(page)
    page.goto(url, wait_until="load")
    open_tab(page, "Your classes")
    page.locator("#classes-active input").first.wait_for(timeout=30_000)   # the set is loaded
    page.locator("#classes-cam").get_by_text("Click to Access Webcam").click()
    record = page.locator("#classes-cam button", has_text="Record")
    record.wait_for(timeout=20_000)
    record.click()
    return context, page


def capture(page, name: str) -> None:
    page.locator("#classes-active label", has_text=name).click()
    page.locator("#classes-capture").click()
    expect(page.locator("#classes-status")).to_contain_text(re.compile(rf"✔ {name}: \d+ pictures"), timeout=60_000)
    expect(page.locator("#classes-active")).to_contain_text(re.compile(rf"{name} \(\d+\)"))
    assert page.locator("#classes-gallery img").count() >= 10


def test_two_cameras_two_classes_and_the_model_tells_them_apart_live(classes_url, cameras):
    t0 = time.perf_counter()
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p, cameras["forest"])
        context, page = open_classes(browser, classes_url)
        names = page.locator("#classes-names textarea")
        names.fill("forest, bus")
        names.press("Enter")
        expect(page.locator("#classes-active")).to_contain_text("bus (0)", timeout=20_000)
        capture(page, "forest")
        state = context.storage_state()   # localStorage: the set id gr.BrowserState keeps
        outside = page.outside_requests
        browser.close()

        browser = launch_chromium(p, cameras["bus"])
        context, page = open_classes(browser, classes_url, state)
        expect(page.locator("#classes-active")).to_contain_text(re.compile(r"forest \([1-9]\d*\)"))   # the same set
        capture(page, "bus")
        captured_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        page.locator("#classes-train").click()
        page.wait_for_timeout(400)
        assert in_viewport(page, "#classes-progress")["inside"]   # the progress shows next to the button
        expect(page.locator("#classes-progress")).to_contain_text("done", timeout=120_000)
        train_s = time.perf_counter() - t1
        expect(page.locator("#classes-model input")).to_have_value(re.compile("test acc"), timeout=20_000)
        live = page.locator("#classes-live")
        expect(live).to_contain_text(re.compile(r"bus[\s\S]*%"), timeout=30_000)
        expect(live.locator("h2, .output-class").first).to_have_text("bus", timeout=30_000)
        shot(page, "classes-live-bus")
        progress = page.locator("#classes-progress").inner_text()
        outside += page.outside_requests
        state = context.storage_state()
        browser.close()

        browser = launch_chromium(p, cameras["forest"])
        context, page = open_classes(browser, classes_url, state)
        expect(page.locator("#classes-model input")).to_have_value(re.compile("test acc"), timeout=20_000)
        expect(page.locator("#classes-live").locator("h2, .output-class").first).to_have_text("forest",
                                                                                            timeout=30_000)
        shot(page, "classes-live-forest")
        outside += page.outside_requests
        browser.close()
    print(f"\nyour classes: two bursts captured in {captured_s:.1f} s (two browser launches), "
          f"Train click -> done {train_s:.1f} s; {progress!r}")
    assert outside == [], outside


def test_capture_first_starts_the_camera_itself_and_every_model_shows_its_accuracy(classes_url, cameras):
    """No Access / Record clicks: Capture alone starts the camera and fills the class; the progress then lists
    each trained model with its test accuracy (three models, three accuracies)."""
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p, cameras["forest"])
        context = browser.new_context(permissions=["camera"], viewport=VIEWPORT)
        page = context.new_page()
        outside = stay_on_machine(page)
        page.goto(classes_url, wait_until="load")
        open_tab(page, "Your classes")
        page.locator("#classes-active input").first.wait_for(timeout=30_000)
        names = page.locator("#classes-names textarea")
        names.fill("forest, trees")
        names.press("Enter")
        expect(page.locator("#classes-active")).to_contain_text("trees (0)", timeout=20_000)
        assert "Record to start" not in page.locator("#classes-cam").inner_text()
        def burst(name):   # a burst is 20 pictures 0.2 s apart: minutes on a machine as loaded as a shared CI's
            page.locator("#classes-active label", has_text=name).click()
            page.locator("#classes-capture").click()
            expect(page.locator("#classes-status")).to_contain_text(re.compile(rf"✔ {name}: \d+ pictures"),
                                                                    timeout=240_000)

        burst("forest")                              # the camera was never started by hand
        expect(page.locator("#classes-cam button", has_text="Stop")).to_be_visible()
        assert "not streaming" not in page.locator("#classes-status").inner_text()
        page.locator("#classes-cam-start").click()  # already streaming: the one-click start leaves it be
        burst("trees")
        page.locator("#classes-finetune input").check()
        page.locator("#classes-scratch input").check()
        page.locator("#classes-train").click()
        progress = page.locator("#classes-progress")
        expect(progress).to_contain_text(re.compile("running|waiting"), timeout=60_000)
        expect(progress).not_to_contain_text(re.compile("running|waiting"), timeout=300_000)
        assert len(re.findall(r"test acc \d+ %", progress.inner_text())) == 3, progress.inner_text()
        shot(page, "classes-capture-first")
        browser.close()
    assert outside == [], outside
