"""Test set-up shared by every test file.

The work folder is a fresh temporary folder for the whole session, set before vision_demo is
imported, so tests never touch ./vision_demo_work or the user's home.
"""
import contextlib
import importlib.util
import os
import socket
import tempfile
from pathlib import Path

import pytest

os.environ["VISION_DEMO_HOME"] = tempfile.mkdtemp(prefix="vision_demo_test_")
os.environ.setdefault("VISION_DEMO_ONLINE", "0")

import vision_demo  # noqa: E402,F401  (applies the offline environment)

_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")


def _is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = str(address[0])
    return host.startswith(_LOOPBACK) or host == ""


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any connection that leaves this machine; returns the list of attempts."""
    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if not _is_loopback(address):
            attempts.append(address)
            raise OSError(f"test forbids network access to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if not _is_loopback(address):
            attempts.append(address)
            return 111
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback((host,)):
            attempts.append((host, "dns"))
            raise socket.gaierror(f"test forbids DNS lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (gradio's server_port=0 does not work)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(registry, warm_up: bool = False):
    """The real app on 127.0.0.1 with the launch options `python app.py` uses; yields its URL."""
    from vision_demo.ui.app import build_demo, launch_options

    for attempt in (1, 2):
        port = free_port()
        demo = build_demo(registry, warm_up=warm_up)
        try:
            demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(host="127.0.0.1", port=port))
            break
        except ValueError as err:
            # Gradio checks its own URL once, with one 3 s HEAD: on a CPU busy with an earlier test's leftovers
            # that can time out ("localhost is not accessible"). The server it started is closed (a leaked one
            # would spend the next tests' CPU) and launched once more.
            demo.close()
            if attempt == 2 or "localhost is not accessible" not in str(err):
                raise
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextlib.contextmanager
def serve_fresh_app(folder, warm_up: bool = False):
    """A new job registry in `folder` and the real app over it: yields (url, registry); the registry's workers
    stop when the server does."""
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(folder)
    try:
        with serve_app(registry, warm_up=warm_up) as url:
            yield url, registry
    finally:
        registry.shutdown()


def asset(name: str) -> Path:
    """One of the example photos that ship inside ultralytics (bus.jpg, zidane.jpg): real pictures, offline."""
    return Path(importlib.util.find_spec("ultralytics").origin).parent / "assets" / name


@pytest.fixture(scope="session")
def tiny_scenes(tmp_path_factory) -> str:
    """The generated six-class set, tiny (5 train / 3 test per class, 48 px): seconds to train on."""
    from vision_demo.datasets.scenes import write_scenes

    out = tmp_path_factory.mktemp("tiny_scenes")
    write_scenes(out, per_class=5, size=48, seed=1, test_per_class=3)
    return str(out)
