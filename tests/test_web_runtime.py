"""The browser runtime: onnxruntime-web vendored as pinned, served by the app with the right headers, and running
a model in a real chromium from those routes only (no request leaves the machine)."""
import gzip
import hashlib
import json
from pathlib import Path

import httpx
import pytest

from conftest import serve_fresh_app
from vision_demo.ui import web_runtime

# The vendored files, pinned (scripts/vendor_onnxruntime_web.py writes them and MANIFEST.json from the npm
# tarball whose sha256 it checks). A change here is a deliberate re-vendoring.
PINNED = {
    "ort.wasm.min.mjs": "219e6a1fc8a9938268d18efca3c91d310bd2f4a59bbd13744df5b2b7fc6cee3b",
    "ort-wasm-simd-threaded.mjs": "e13f7f94fc51b4ca72b12faeb1ee95f4ace6dfbc8939bc718aabdc0a27c4299b",
    "ort-wasm-simd-threaded.wasm.gz": "8d2b1de9f31803b5b42773ae9c0048565a5a24f0c9125566c2d303c3089704ca",
}
WASM_SHA256 = "3398c10d07d229bd91b364548e130e0e51a8e5704b88c7c083ebbeb78842dee2"   # unpacked, as on npm
MAX_COMMITTED_BYTES = 5 * 1024**2


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_vendored_files_match_their_pins_and_stay_under_5_mb():
    manifest = json.loads((web_runtime.VENDOR / "MANIFEST.json").read_text())
    assert manifest["version"] == web_runtime.ORT_VERSION
    assert set(manifest["files"]) == set(PINNED)
    for name, digest in PINNED.items():
        data = (web_runtime.VENDOR / name).read_bytes()
        assert sha256(data) == digest == manifest["files"][name]["sha256"], name
        assert len(data) < MAX_COMMITTED_BYTES, name
    wasm = gzip.decompress((web_runtime.VENDOR / "ort-wasm-simd-threaded.wasm.gz").read_bytes())
    assert sha256(wasm) == WASM_SHA256 == manifest["files"]["ort-wasm-simd-threaded.wasm.gz"]["unpacked_sha256"]
    assert wasm[:4] == b"\0asm"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    with serve_fresh_app(tmp_path_factory.mktemp("web_runtime_jobs")) as (url, _):
        yield url


def test_runtime_is_served_with_its_mime_types_immutable_and_isolated(app_url):
    base = app_url.rstrip("/") + web_runtime.ORT_PREFIX
    with httpx.Client(headers={"Accept-Encoding": "gzip, br"}) as client:
        mjs = client.get(base + "ort.wasm.min.mjs")
        assert mjs.status_code == 200 and mjs.headers["content-type"].startswith("text/javascript")
        assert "immutable" in mjs.headers["cache-control"]
        assert sha256(mjs.content) == PINNED["ort.wasm.min.mjs"]   # (httpx undoes any br/gzip encoding)
        wasm = client.get(base + "ort-wasm-simd-threaded.wasm")
        assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
        assert wasm.headers["content-encoding"] == "gzip"   # 3.7 MB on the wire, 14.2 MB in the browser
        assert int(wasm.headers["content-length"]) < MAX_COMMITTED_BYTES
        assert sha256(wasm.content) == WASM_SHA256
        for response in (mjs, wasm, client.get(app_url)):
            assert response.headers["cross-origin-opener-policy"] == "same-origin"
            assert response.headers["cross-origin-embedder-policy"] == "require-corp"
        assert client.get(base + "ort.webgpu.min.mjs").status_code == 404   # only what was vendored
        assert client.get(base + "..%2F..%2Fapp.py").status_code == 404
    with httpx.Client(headers={"Accept-Encoding": "identity"}) as client:   # a client that cannot gunzip
        plain = client.get(base + "ort-wasm-simd-threaded.wasm")
        assert "content-encoding" not in plain.headers and sha256(plain.content) == WASM_SHA256


def test_our_modules_are_served_and_revalidated(app_url):
    url = app_url.rstrip("/") + web_runtime.WEB_PREFIX + "ort_loader.js"
    with httpx.Client() as client:
        first = client.get(url)
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/javascript")
        assert first.headers["cache-control"] == "no-cache"
        assert "export function loadOrt" in first.text
        again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        for bad in ("missing.js", "..%2Fweb_runtime.py", "vendor%2Fonnxruntime-web-1.30.0%2FMANIFEST.json"):
            assert client.get(app_url.rstrip("/") + web_runtime.WEB_PREFIX + bad).status_code == 404, bad


def test_isolation_switch_leaves_the_headers_out(monkeypatch):
    monkeypatch.setenv("VISION_DEMO_ISOLATION", "0")
    assert web_runtime.app_kwargs()["middleware"] == []
    monkeypatch.setenv("VISION_DEMO_ISOLATION", "1")
    assert len(web_runtime.app_kwargs()["middleware"]) == 1
    assert web_runtime.app_kwargs(isolation=False)["middleware"] == []


def tiny_model() -> bytes:
    """y = x @ W + b: three numbers in, two out, small enough to check by hand."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32), "W")
    b = numpy_helper.from_array(np.array([0.5, -1], dtype=np.float32), "b")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
                              "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [w, b])
    # IR 9 (onnx 1.15): onnxruntime-web 1.30 reads IR <= 13, onnx 1.23 writes 14 by default
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9).SerializeToString()


RUN_JS = """async (bytes) => {
  const {loadOrt, createSession, describeRuntime} = await import('/vd/web/ort_loader.js');
  const rt = await loadOrt();
  const session = await createSession(rt, new Uint8Array(bytes));
  const out = await session.run({x: new rt.ort.Tensor('float32', Float32Array.from([1, 1, 1]), [1, 3])});
  return {y: Array.from(out.y.data), isolated: self.crossOriginIsolated, text: describeRuntime(rt),
          threads: rt.threads};
}"""


@pytest.mark.slow
@pytest.mark.browser
def test_a_model_runs_in_chromium_from_the_apps_own_files(app_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_browser import CHROMIUM, VIEWPORT

    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium: apt-get install chromium")
    seen, outside = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport=VIEWPORT).new_page()

        def guard(route):
            url = route.request.url
            if url.startswith(("data:", "blob:")) or url.startswith(app_url.rstrip("/")):
                seen.append(url)
                return route.continue_()
            outside.append(url)
            return route.abort()

        page.route("**/*", guard)
        page.goto(app_url, wait_until="load")
        result = page.evaluate(RUN_JS, list(tiny_model()))
        browser.close()
    assert result["y"] == [9.5, 11.0]   # [1+3+5 + 0.5, 2+4+6 - 1]
    assert result["isolated"] is True and result["threads"] >= 1
    assert "WASM" in result["text"]
    assert any(u.endswith("/ort-wasm-simd-threaded.wasm") for u in seen)   # from the app, not a CDN
    assert outside == []
