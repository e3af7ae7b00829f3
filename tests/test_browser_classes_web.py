"""Your classes in the page, held to Python: the JS head (classes_browser.js) against its numpy replica
(classify/browser_features.py) on the same features and seed, and the page's backbone features (onnxruntime-web)
against onnxruntime in Python on the same pictures. Every request stays on 127.0.0.1 (the page fixture counts)."""
import base64
import io

import numpy as np
import pytest

from conftest import asset, serve_fresh_app
from test_browser import browser, page  # noqa: F401  (fixtures: chromium with the fake camera, a guarded page)
from vision_demo.classify import browser_features as bf

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def backbone():
    return bf.ensure_features()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, backbone):
    with serve_fresh_app(tmp_path_factory.mktemp("classes_web_jobs")) as (url, _):
        yield url


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
