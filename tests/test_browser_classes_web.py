"""Your classes in the page, held to Python: the JS head (classes_browser.js) against its numpy replica
(classify/browser_features.py) on the same features and seed, and the page's backbone features (onnxruntime-web)
against onnxruntime in Python on the same pictures. Every request stays on 127.0.0.1 (the page fixture counts)."""
import base64
import io
import json
import os
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from conftest import asset, serve_fresh_app
from test_browser import CHROMIUM, VIEWPORT, browser, open_tab, page, shot  # noqa: F401  (fixtures)
from test_browser_classes import cameras  # noqa: F401  (the fixture: a forest scene and the bus photo as videos)
from vision_demo import settings
from vision_demo.classify import browser_features as bf

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def backbone():
    return bf.ensure_features()


@pytest.fixture(scope="module")
def app(tmp_path_factory, backbone):
    for attempt in range(3):
        # Gradio's launch gives up when its one HEAD / takes over 3 s, which a machine this loaded does now and
        # then ("When localhost is not accessible..."): try again rather than fail on the machine's load.
        try:
            server = serve_fresh_app(tmp_path_factory.mktemp("classes_web_jobs"))
            url, registry = server.__enter__()
            break
        except ValueError as err:
            if "localhost is not accessible" not in str(err) or attempt == 2:
                raise
    try:
        yield url, registry
    finally:
        server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def app_url(app):
    return app[0]


def pictures(n_per_class=6, size=bf.IMG_SIZE):
    """Generated scenes of three classes, and a crop of bus.jpg: (images (N, S, S, 3) uint8, labels)."""
    from PIL import Image

    from vision_demo.datasets.scenes import draw_scene

    images, labels = [], []
    for c, name in enumerate(("forest", "sea", "street")):
        for i in range(n_per_class):
            images.append(np.asarray(draw_scene(name, size=size, seed=10 * c + i).convert("RGB")))
            labels.append(c)
    bus = Image.open(asset("bus.jpg")).convert("RGB").resize((size, size), Image.BILINEAR)
    images.append(np.asarray(bus))
    labels.append(2)
    return np.stack(images), np.array(labels)


def onnx_features(path, images):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = images.transpose(0, 3, 1, 2).astype(np.float32)
    return session.run(None, {"image": x})[0]


def png_url(rgb: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")   # lossless: both sides see the very same pixels
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_export_computes_torchs_features(backbone):
    images, _ = pictures(n_per_class=1)
    got, want = onnx_features(backbone, images), bf.torch_features(images)
    assert got.shape == (len(images), bf.FEATURE_DIM)
    assert np.abs(got - want).max() < 1e-3 * max(1.0, np.abs(want).max())


def test_the_numpy_head_learns_the_scenes(backbone):
    images, labels = pictures()
    head = bf.train_head(onnx_features(backbone, images), labels, 3, seed=1)
    assert head["history"][-1] < head["history"][0] / 3       # the loss falls
    assert head["test_acc"] is not None and head["test_acc"] >= 2 / 3
    assert len(head["test"]) == 3 and set(head["train"]).isdisjoint(head["test"])   # one of each class held out


HEAD_JS = """async ([feats, labels, C, seed]) => {
  const cb = await import('/vd/web/classes_browser.js');
  const X = feats.map(f => Float32Array.from(f));
  const head = cb.trainHead(X, labels, C, {seed});
  return {W: Array.from(head.W), b: Array.from(head.b), history: head.history, train: head.train, test: head.test,
          testAcc: head.testAcc, probs: X.map(x => cb.predictHead(head, x)), ms: head.ms};
}"""


# First in the file: it starts its own Playwright (two launches on one profile), which cannot run while the
# module's `browser` fixture (made by the tests below on first use) holds one open.
def test_the_tab_trains_and_predicts_in_the_page_with_no_job_and_nothing_written(app, cameras, tmp_path):
    url, registry = app
    work = settings.work_path()
    jobs_before = [s.id for s in registry.snapshot()]
    with sync_api.sync_playwright() as p:
        context = launch_profile(p, tmp_path / "profile", cameras["forest"])
        page = open_web_panel(context, url)
        before = listing(work)   # the page is open, the backbone exported: from here on nothing may be written
        names = page.locator(".vdc-names")
        names.fill("forest, bus")
        names.press("Tab")       # a change event
        expect(page.locator(".vdc-rows")).to_contain_text("bus")
        t0 = time.perf_counter()
        capture_in_page(page, "forest")
        capture_s = time.perf_counter() - t0
        outside = list(context.outside_requests)
        context.close()

        # The same browser profile, now filming the bus: the forest pictures are still in its IndexedDB.
        context = launch_profile(p, tmp_path / "profile", cameras["bus"])
        page = open_web_panel(context, url)
        expect(page.locator(".vdc-line")).to_contain_text("20 pictures kept in this browser")
        capture_in_page(page, "bus")
        page.locator(".vdc-train").click()
        expect(page.locator(".vdc-line")).to_contain_text("Trained in this browser", timeout=30_000)
        bars = page.locator(".vdc-bars")
        expect(bars).to_have_attribute("data-top", "bus", timeout=60_000)
        expect(bars.locator(".vdc-p")).to_have_count(2)
        shot(page, "classes-web-bus")
        stats = page.evaluate("window.vdClasses.stats")
        assert listing(work) == before                              # nothing written under the work folder
        assert [s.id for s in registry.snapshot()] == jobs_before   # and no server job

        # Download my model: made in the page (still nothing on the server's disk).
        with page.expect_download(timeout=120_000) as download:
            page.locator(".vdc-download").click()
        zip_path = tmp_path / "my-classes-model.zip"
        download.value.save_as(zip_path)
        assert listing(work) == before

        # Only the send button puts the pictures on the server: both classes land in the browser's set.
        page.locator(".vdc-send").click()
        expect(page.locator("#classes-status")).to_contain_text("Received 20 pictures of forest, 20 pictures of bus", timeout=60_000)
        expect(page.locator("#classes-active")).to_contain_text("forest (20)", timeout=30_000)
        expect(page.locator("#classes-active")).to_contain_text("bus (20)")
        written = [k for k in listing(work) if k not in before]
        assert len([k for k in written if k.startswith("captured") and k.endswith(".jpg")]) == 40
        assert [s.id for s in registry.snapshot()] == jobs_before
        outside += context.outside_requests
        context.close()

    with zipfile.ZipFile(zip_path) as zf:
        sizes = {i.filename: (i.file_size, i.compress_size) for i in zf.infolist()}
        head = json.loads(zf.read("head.json"))
        zf.extractall(tmp_path / "model")
    assert {"index.html", "head.json", "backbone.onnx", "ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs",
            "ort-wasm-simd-threaded.wasm"} <= set(sizes)
    assert head["classes"] == ["forest", "bus"] and len(head["W"]) == 2 * bf.FEATURE_DIM
    ms = sorted(stats["featMs"])
    print(f"\nin the page ({stats['runtime']}): backbone loaded in {stats['backboneMs']:.0f} ms, features "
          f"median {ms[len(ms) // 2]:.0f} ms a frame over {len(ms)}, head trained in {stats['trainMs']:.0f} ms; "
          f"two bursts of 20 captured (first {capture_s:.1f} s); zip {zip_path.stat().st_size / 2**20:.1f} MB")
    assert outside == [], outside

    # The downloaded page, opened from a file with no server at all: it asks for its folder's files once.
    with sync_api.sync_playwright() as p:
        context = launch_profile(p, tmp_path / "profile2", cameras["bus"])
        page = context.new_page()
        page.goto((tmp_path / "model" / "index.html").as_uri(), wait_until="load")
        page.locator("#files").set_input_files(sorted(str(f) for f in (tmp_path / "model").iterdir()))
        expect(page.locator("#line")).to_contain_text("Ready: 2 classes", timeout=120_000)
        page.locator("#start").click()
        expect(page.locator("body")).to_have_attribute("data-top", "bus", timeout=60_000)
        assert context.outside_requests == []
        context.close()


def test_the_page_trains_the_head_step_for_step_as_numpy(page, app_url, backbone):  # noqa: F811
    images, labels = pictures()
    feats = onnx_features(backbone, images)
    page.goto(app_url, wait_until="load")
    for seed in (0, 7):
        got = page.evaluate(HEAD_JS, [feats.tolist(), labels.tolist(), 3, seed])
        want = bf.train_head(feats, labels, 3, seed=seed)
        assert got["train"] == want["train"] and got["test"] == want["test"]   # the same split and generator
        np.testing.assert_allclose(got["history"], want["history"], rtol=1e-9)
        np.testing.assert_allclose(np.reshape(got["W"], want["W"].shape), want["W"], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(got["b"], want["b"], rtol=1e-7, atol=1e-10)
        probs = bf.predict_head(want, feats)
        np.testing.assert_allclose(got["probs"], probs, atol=1e-9)
        assert list(np.argmax(got["probs"], 1)) == list(probs.argmax(1))
        assert got["testAcc"] == want["test_acc"]
        print(f"\nhead in the page (seed {seed}): {got['ms']:.0f} ms for {len(got['train'])} pictures, 20 epochs")
    assert page.outside_requests == []


FEATURES_JS = """async (images) => {
  const cb = await import('/vd/web/classes_browser.js');
  const bb = await cb.loadBackbone();
  const out = [], ms = [];
  for (const src of images) {
    const img = new Image(); img.src = src; await img.decode();
    const t0 = performance.now();
    out.push(Array.from(await cb.features(bb, img)));
    ms.push(performance.now() - t0);
  }
  return {out, ms, runtime: bb.runtime};
}"""


def test_the_pages_backbone_features_equal_onnxruntimes(page, app_url, backbone):  # noqa: F811
    images, _ = pictures(n_per_class=2)
    page.goto(app_url, wait_until="load")
    got = page.evaluate(FEATURES_JS, [png_url(im) for im in images])
    want = onnx_features(backbone, images)
    got_f = np.array(got["out"])
    assert got_f.shape == want.shape
    assert np.abs(got_f - want).max() < 1e-3 * max(1.0, np.abs(want).max())
    cos = (got_f * want).sum(1) / np.linalg.norm(got_f, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() > 0.99999
    print(f"\nbackbone in the page ({got['runtime']}): median {np.median(got['ms'][1:]):.0f} ms a picture "
          f"(first {got['ms'][0]:.0f} ms); max |diff| {np.abs(got_f - want).max():.2g}")
    assert page.outside_requests == []


# ---- the tab itself, in a real browser with chromium's fake camera ----------------------------------------------
def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under the folder: (size, mtime_ns). Except what the app's other tabs make for everyone while a
    page loads, whoever the visitor: datasets/ (the generated example sets), gradio/ (Gradio's cache of the
    example pictures it shows, e.g. <hash>/image.webp) and ultralytics/ (Ultralytics' own settings.json and label
    fonts, written when the Detect side first loads a detector). None of them holds anything of the student's."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        if os.path.relpath(dirpath, folder).split(os.sep)[0] in ("datasets", "gradio", "ultralytics"):
            continue
        for f in files:
            path = os.path.join(dirpath, f)
            st = os.lstat(path)
            out[os.path.relpath(path, folder)] = (st.st_size, st.st_mtime_ns)
    return out


def guarded(context):
    """Every request that is not to 127.0.0.1 (or data:/blob:/file:) is aborted and recorded."""
    context.outside_requests = []

    def guard(route):
        url = route.request.url
        if url.startswith(("data:", "blob:", "file:")) or urlparse(url).hostname == "127.0.0.1":
            return route.continue_()
        context.outside_requests.append(url)
        return route.abort()

    context.route("**/*", guard)
    return context


def launch_profile(p, profile: Path, cam: Path):
    """Chromium with a profile on disk (its IndexedDB survives a relaunch) and `cam` as its camera."""
    context = p.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, viewport=VIEWPORT, permissions=["camera"], args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={cam}"])
    return guarded(context)


def open_web_panel(context, url):
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(url, wait_until="load")
    open_tab(page, "Your classes")
    page.locator('#classes-web-block [data-ready="1"]').wait_for(timeout=60_000)
    return page


def capture_in_page(page, name: str) -> None:
    page.locator(f'.vdc-row button[data-cls="{name}"]').click()
    expect(page.locator(".vdc-line")).to_contain_text(re.compile(rf"✔ {name}: 20 pictures"), timeout=180_000)


def test_sent_pictures_are_checked_before_anything_is_written():
    """What the page sends is untrusted: a bad set id, a bad picture or class, a path, a non-image: one message,
    nothing outside the set's folder."""
    from vision_demo.classify.browser_features import IMG_SIZE  # noqa: F401  (the module imports without a server)
    from vision_demo.datasets.captured import CapturedSet, new_set_id
    from vision_demo.errors import VisionDemoError
    from vision_demo.ui.classes_web import receive

    jpeg = png_url(pictures(n_per_class=1)[0][0]).replace("image/png", "image/jpeg")
    set_id = new_set_id()
    for bad_id, data in [("../../etc", {"pictures": []}), (set_id, None), (set_id, {"pictures": "x"}),
                         (set_id, {"classes": ["a", "b"], "pictures": [["a", "data:text/plain;base64,aGk="]]}),
                         (set_id, {"classes": ["a", "b"], "pictures": [["a", "data:image/jpeg;base64,!!!"]]}),
                         (set_id, {"classes": ["a", "b"], "pictures": [["a", "data:image/jpeg;base64,aGVsbG8="]]}),
                         (set_id, {"classes": ["a", "b"], "pictures": [["../../x", jpeg]]}),
                         (set_id, {"classes": ["a", "b"], "pictures": [jpeg]})]:
        with pytest.raises(VisionDemoError):
            receive(bad_id, data)
    s = CapturedSet.for_id(set_id)
    assert sum(s.counts().values()) == 0
    assert "Received 1 picture of **a**" in receive(set_id, {"classes": ["a", "b"], "pictures": [["a", jpeg]]})
    assert s.counts() == {"a": 1, "b": 0}
    assert all(p.resolve().is_relative_to(s.folder.resolve()) for p in s.folder.rglob("*"))
