"""Inside the model in a real browser at 1280×720: the filters, the feature maps, the probe plot and the unfreeze
plot, each drawn from its button on a tiny generated set, and the page never scrolls sideways. Setup as in
test_browser.py (Debian's chromium, every request off 127.0.0.1 aborted and counted).

With VISION_DEMO_UPDATE_SCREENSHOTS=1 it also refreshes assets/screenshots/inside-learned*.png for the README.
"""
import os
import re
import time

import pytest

from conftest import serve_fresh_app
from test_browser import CHROMIUM, CLIPPED_JS, VIEWPORT, launch_chromium, open_tab, save_small, shot, stay_on_machine

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                 reason="needs Debian's chromium: apt-get install chromium")]
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

SIDEWAYS_JS = """() => ({scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth,
  body: document.body.scrollWidth})"""

# every picture of the section, wholly inside the window's width (not cut at its right edge)
RIGHT_EDGE_JS = """sel => { const e = document.querySelector(sel); const r = e.getBoundingClientRect();
  return {left: Math.round(r.left), right: Math.round(r.right), width: window.innerWidth,
          natural: e.naturalWidth || null, shown: Math.round(r.width)}; }"""


@pytest.fixture(scope="module")
def inside_url(tmp_path_factory):
    with serve_fresh_app(tmp_path_factory.mktemp("inside_browser_jobs")) as (url, registry):
        yield url


@pytest.fixture
def page(tmp_path):
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        stay_on_machine(page)
        yield page
        context.close()
        browser.close()


def no_sideways_scroll(page):
    where = page.evaluate(SIDEWAYS_JS)
    assert where["scroll"] <= where["width"] and where["body"] <= where["width"], where


def whole_width(page, selector):
    box = page.evaluate(RIGHT_EDGE_JS, selector)
    assert box["left"] >= 0 and box["right"] <= box["width"], (selector, box)
    return box


def test_the_three_pictures_show_without_scrolling_sideways(page, inside_url, tiny_scenes):
    update = bool(os.environ.get("VISION_DEMO_UPDATE_SCREENSHOTS"))
    page.goto(inside_url, wait_until="load")
    page.locator("#lesson-1").wait_for(timeout=60_000)
    open_tab(page, "Data")   # its default scenes load first and fill the Inside tab's data box: then ours
    page.locator("#data-gallery img").first.wait_for(timeout=180_000)   # (drawn on first use: no warm-up here)
    open_tab(page, "Inside the model")
    data = page.locator("#inside-data textarea")
    if not update:   # the tiny set: seconds; the README's pictures are of the default scenes
        data.fill(tiny_scenes)
        data.press("Enter")
    expect(page.locator("#inside-picture input")).to_have_value(re.compile(r"\w+ · \S+\.(png|jpg)"), timeout=60_000)

    # 1. the filters (random weights first, no job needed), then a model from scratch trained to look at
    clock = {"start": time.perf_counter()}
    page.locator("#inside-filters-btn").click()
    page.locator("#inside-filters img").wait_for(timeout=60_000)
    expect(page.locator("#inside-filters-note")).to_contain_text("noise", timeout=30_000)
    page.locator("#inside-train-scratch").click()
    expect(page.locator("#inside-filters-note")).to_contain_text("training moved them", timeout=240_000)
    expect(page.locator("#inside-scratch-job input")).to_have_value(re.compile("scratch"), timeout=30_000)
    filters = whole_width(page, "#inside-filters img")
    clock["1 filters (with a scratch model trained)"] = time.perf_counter()

    # 2. the feature maps of a test picture, pretrained next to the scratch job just trained
    page.locator("#inside-maps-btn").click()
    page.locator("#inside-maps img").wait_for(timeout=90_000)
    maps = whole_width(page, "#inside-maps img")
    clock["2 feature maps"] = time.perf_counter()

    # 3. the probe, 4. the unfreeze sweep: jobs; their plots appear when they end
    page.locator("#inside-probe-btn").click()
    expect(page.locator("#inside-probe-note")).to_contain_text("chance", timeout=300_000)
    page.locator("#inside-probe-plot .js-plotly-plot").wait_for(timeout=30_000)
    probe = whole_width(page, "#inside-probe-plot .js-plotly-plot")
    clock["3 probe"] = time.perf_counter()
    page.locator("#inside-unfreeze-btn").click()
    expect(page.locator("#inside-status")).to_contain_text("unfreeze sweep", timeout=30_000)
    expect(page.locator("#inside-status")).to_contain_text("all done", timeout=600_000)
    expect(page.locator("#inside-unfreeze-note")).to_contain_text("k=all", timeout=30_000)
    page.locator("#inside-unfreeze-plot .js-plotly-plot").wait_for(timeout=30_000)
    unfreeze = whole_width(page, "#inside-unfreeze-plot .js-plotly-plot")
    clock["4 unfreeze sweep"] = time.perf_counter()
    marks = list(clock.items())
    for (_, before), (step, at) in zip(marks, marks[1:]):   # the figures of this run (the machine may be shared)
        print(f"inside tab, {step}: {at - before:.1f} s")
    print(f"inside tab, all four from the clicks: {marks[-1][1] - marks[0][1]:.1f} s")
    # the plots name what they measure: one point per stage, one per k (0 1 2 all by default)
    assert page.locator("#inside-probe-plot .js-plotly-plot").evaluate("e => e.data[0].x.length") == 9
    assert page.locator("#inside-unfreeze-plot .js-plotly-plot").evaluate("e => e.data[1].x.length") == 4

    if not update:
        expect(data).to_have_value(tiny_scenes)   # every job ran on the tiny set
    for selector in ("#inside-filters", "#inside-maps", "#inside-probe-plot", "#inside-unfreeze-plot"):
        page.locator(selector).scroll_into_view_if_needed()
        no_sideways_scroll(page)
    assert filters["shown"] > 400 and maps["shown"] > 400 and probe["shown"] > 400 and unfreeze["shown"] > 400
    shot(page, "inside-learned")
    assert page.evaluate(CLIPPED_JS) == []
    if update:
        for selector, name in (("#inside-filters", "inside-filters"), ("#inside-maps", "inside-maps"),
                               ("#inside-probe-plot", "inside-probe"), ("#inside-unfreeze-plot", "inside-unfreeze")):
            page.locator(selector).evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(800)
            save_small(page, name)
    assert page.outside_requests == [], page.outside_requests
