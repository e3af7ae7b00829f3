"""The browser runtime, served by the app itself: onnxruntime-web, our own JS modules, and the models they run.

    from vision_demo.ui.web_runtime import app_kwargs
    demo.launch(app_kwargs=app_kwargs())     # launch_options() already passes it

Routes (added to Gradio's FastAPI app before its own, so nothing of Gradio's is shadowed):

    /vd/ort/1.30.0/<file>   onnxruntime-web as vendored (scripts/vendor_onnxruntime_web.py), cached immutably:
                            the version is in the path, so a new version is a new URL
    /vd/web/<file>.js       our ES modules (ort_loader.js, ...): a page imports them with import(); revalidated
                            on every load (ETag), so an edit is seen at once
    /vd/model/<key>.onnx    a checked browser export of a detector (vision_demo.detect.browser_export), cached
                            immutably: its key holds the weights' sha256, the input shape and int8/f32; or the
                            "Your classes" backbone (vision_demo.classify.browser_features: <sha256>-128x128-features)
    /vd/classes/backbone.json   where that backbone is ({url, size, dim, bytes}), exported on the first ask

The .wasm is stored gzipped (every committed file stays under 5 MB) and sent as `Content-Encoding: gzip`:
the browser unpacks it itself and still compiles it while it downloads (WebAssembly.instantiateStreaming).

Cross-origin isolation: every response carries COOP `same-origin` and COEP `require-corp`, which lets the page
use SharedArrayBuffer and so onnxruntime-web's threads. VISION_DEMO_ISOLATION=0 (or `python app.py
--no-isolation`) leaves them off; then the runtime runs on one thread (what it does on a 2-core laptop anyway)
but the app can be embedded in another site's page and may show pictures from other sites.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

ORT_VERSION = "1.30.0"
WEB = Path(__file__).parent / "web"
VENDOR = WEB / "vendor" / f"onnxruntime-web-{ORT_VERSION}"
ORT_PREFIX = f"/vd/ort/{ORT_VERSION}/"
WEB_PREFIX = "/vd/web/"
MODEL_PREFIX = "/vd/model/"
IMMUTABLE = "public, max-age=31536000, immutable"   # a year: the URL changes when the content does
MIME = {".mjs": "text/javascript; charset=utf-8", ".js": "text/javascript; charset=utf-8",
        ".wasm": "application/wasm", ".onnx": "application/octet-stream", ".json": "application/json"}
ISOLATION_HEADERS = ((b"cross-origin-opener-policy", b"same-origin"),
                     (b"cross-origin-embedder-policy", b"require-corp"),
                     (b"cross-origin-resource-policy", b"same-origin"))


def isolation_enabled() -> bool:
    """COOP/COEP on unless VISION_DEMO_ISOLATION is 0/false/no/off."""
    return os.environ.get("VISION_DEMO_ISOLATION", "1").strip().lower() not in ("0", "false", "no", "off")


@lru_cache(maxsize=1)
def manifest() -> dict:
    return json.loads((VENDOR / "MANIFEST.json").read_text())


def ort_files() -> dict[str, Path]:
    """URL name -> file on disk, for the vendored runtime (the .wasm's name is served from its .gz)."""
    return {name.removesuffix(".gz"): VENDOR / name for name in manifest()["files"]}


def ort_url_prefix() -> str:
    return ORT_PREFIX


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


async def ort_file(request: Request) -> Response:
    name = request.path_params["name"]
    path = ort_files().get(name)
    if path is None:
        return Response(f"no such runtime file: {name}", status_code=404, media_type="text/plain")
    body, headers = path.read_bytes(), {"Cache-Control": IMMUTABLE}
    if path.suffix == ".gz":
        if _accepts_gzip(request):
            headers["Content-Encoding"] = "gzip"
        else:   # a client that cannot unpack it (no browser): send it plain
            body = gzip.decompress(body)
    return Response(body, media_type=MIME[Path(name).suffix], headers=headers)


@lru_cache(maxsize=32)
def _web_module(path: Path, mtime_ns: int) -> tuple[bytes, str]:
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


async def web_file(request: Request) -> Response:
    name = request.path_params["name"]
    path = WEB / name
    if not re.fullmatch(r"[a-z0-9_]+\.js", name) or not path.is_file():
        return Response(f"no such module: {name}", status_code=404, media_type="text/plain")
    body, etag = _web_module(path, path.stat().st_mtime_ns)
    headers = {"Cache-Control": "no-cache", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=MIME[".js"], headers=headers)


async def model_file(request: Request) -> Response:
    from vision_demo.classify import browser_features
    from vision_demo.detect.browser_export import served_model

    key = request.path_params["key"]
    path = served_model(key) or browser_features.served_model(key)
    if path is None:
        return Response("no such model: export it first (the Detect tab's webcam asks for it)", status_code=404,
                        media_type="text/plain")
    return FileResponse(path, media_type=MIME[".onnx"], headers={"Cache-Control": IMMUTABLE})


async def classes_backbone(request: Request) -> Response:
    """The "Your classes" feature extractor's URL and shape; exported (once, ~10-30 s) when not on disk yet."""
    from starlette.concurrency import run_in_threadpool

    from vision_demo.classify import browser_features as bf

    path = await run_in_threadpool(bf.ensure_features)
    body = {"url": bf.features_url(), "size": bf.IMG_SIZE, "dim": bf.FEATURE_DIM, "bytes": path.stat().st_size,
            "epochs": bf.EPOCHS, "batch": bf.BATCH, "lr": bf.LR, "hold_out": bf.HOLD_OUT,
            "min_per_class": bf.MIN_PER_CLASS}
    return Response(json.dumps(body), media_type=MIME[".json"], headers={"Cache-Control": "no-cache"})


class CrossOriginIsolation:
    """ASGI middleware: COOP + COEP (+ CORP) on every HTTP response, so `self.crossOriginIsolated` is true."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_isolated(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in ISOLATION_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_isolated)


def routes() -> list[Route]:
    return [Route(ORT_PREFIX + "{name}", ort_file, methods=["GET"]),
            Route(WEB_PREFIX + "{name}", web_file, methods=["GET"]),
            Route(MODEL_PREFIX + "{key}.onnx", model_file, methods=["GET"]),
            Route("/vd/classes/backbone.json", classes_backbone, methods=["GET"])]


def app_kwargs(isolation: bool | None = None) -> dict:
    """What demo.launch(app_kwargs=...) needs for the browser runtime: its routes, and the isolation headers
    unless switched off (isolation None: VISION_DEMO_ISOLATION decides)."""
    from starlette.middleware import Middleware

    isolation = isolation_enabled() if isolation is None else isolation
    return {"routes": routes(), "middleware": [Middleware(CrossOriginIsolation)] if isolation else []}
