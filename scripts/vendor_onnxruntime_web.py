"""Re-vendor onnxruntime-web (the in-browser runtime) from its npm tarball into the package.

    python scripts/vendor_onnxruntime_web.py            # npm pack onnxruntime-web@VERSION, copy, gzip, manifest
    python scripts/vendor_onnxruntime_web.py --tarball onnxruntime-web-1.30.0.tgz   # from a tarball already here

Only a developer runs this (it needs npm and the registry); a teacher's `pip install -r requirements.txt` gets the
files from the repository. What is copied is what the WASM backend needs: the ES-module loader
(`ort.wasm.min.mjs`), the emscripten glue it imports (`ort-wasm-simd-threaded.mjs`) and the SIMD WebAssembly
binary, gzipped (14.2 MB -> 3.7 MB, every committed file must stay under 5 MB; the app serves it with
`Content-Encoding: gzip`, so the browser unpacks it itself and still compiles it while it downloads).

Not vendored: the WebGPU build. Its binary (`ort-wasm-simd-threaded.asyncify.wasm`, 26.8 MB) is 6.6 MB gzipped,
over the 5 MB limit for one file, and no browser here has a GPU to measure it against WASM.

MANIFEST.json pins the tarball's sha256 and each vendored file's; tests/test_web_runtime.py checks the files
against it, so a changed file is noticed.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "1.30.0"
# npm's own integrity for the tarball of this version (`npm view onnxruntime-web@1.30.0 dist.integrity` is
# sha512; this is the sha256 of the same file as npm pack wrote it here on 2026-12-01).
TARBALL_SHA256 = "d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71"
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs")   # copied as they are
GZIPPED = ("ort-wasm-simd-threaded.wasm",)                   # copied as NAME.gz
ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "vision_demo" / "ui" / "web" / "vendor" / f"onnxruntime-web-{VERSION}"
LICENSE = """onnxruntime-web {version} (https://www.npmjs.com/package/onnxruntime-web), MIT License.
Copyright (c) Microsoft Corporation. Vendored unchanged from the npm tarball (the .wasm gzipped) by
scripts/vendor_onnxruntime_web.py; MANIFEST.json pins each file's sha256.

MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation
the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to
permit persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of
the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO
THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
IN THE SOFTWARE.
"""


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def npm_pack(folder: Path) -> Path:
    subprocess.run(["npm", "pack", f"onnxruntime-web@{VERSION}", "--silent"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    return folder / f"onnxruntime-web-{VERSION}.tgz"


def vendor(tarball: Path, dest: Path = DEST) -> dict:
    digest = sha256(tarball)
    if digest != TARBALL_SHA256:
        raise SystemExit(f"{tarball.name}: sha256 {digest}, expected {TARBALL_SHA256} (a different tarball: "
                         "check it, then update TARBALL_SHA256 on purpose)")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(tarball) as tar:
        names = [f"package/dist/{n}" for n in (*FILES, *GZIPPED)]
        tar.extractall(tmp, members=[tar.getmember(n) for n in names], filter="data")
        dist = Path(tmp) / "package" / "dist"
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        files = {}
        for name in FILES:
            shutil.copyfile(dist / name, dest / name)
            files[name] = {"sha256": sha256(dest / name), "bytes": (dest / name).stat().st_size}
        for name in GZIPPED:
            raw = (dist / name).read_bytes()
            out = dest / f"{name}.gz"
            # mtime=0 and no file name: the same input gives the same bytes, so the sha256 pin is reproducible.
            with out.open("wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
                gz.write(raw)
            files[out.name] = {"sha256": sha256(out), "bytes": out.stat().st_size,
                               "unpacked_sha256": hashlib.sha256(raw).hexdigest(), "unpacked_bytes": len(raw)}
    (dest / "LICENSE.txt").write_text(LICENSE.format(version=VERSION))
    manifest = {"package": "onnxruntime-web", "version": VERSION, "tarball_sha256": digest, "files": files}
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help="an onnxruntime-web tarball already downloaded (else npm pack)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or npm_pack(Path(tmp))
        manifest = vendor(tarball)
    for name, info in manifest["files"].items():
        print(f"{name}: {info['bytes'] / 1e6:.2f} MB  sha256 {info['sha256'][:16]}…")
    print(f"vendored onnxruntime-web {VERSION} into {DEST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
