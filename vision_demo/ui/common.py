"""What every tab shares: the error decorator, thumbnails, small formatting helpers.

    @user_errors
    def on_click(...):   # a VisionDemoError becomes gr.Error(message); a bug becomes a readable gr.Error, logged
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from pathlib import Path

import gradio as gr

from vision_demo.errors import VisionDemoError

log = logging.getLogger("vision_demo.ui")


def _as_gr_error(err: Exception) -> gr.Error:
    if isinstance(err, gr.Error):
        return err
    if isinstance(err, VisionDemoError):
        return gr.Error(str(err), title="Please check", print_exception=False)
    log.exception("unexpected error in a UI handler")
    return gr.Error(f"Something went wrong inside the app ({type(err).__name__}: {err}). "
                    "Details are in the server log; try another input or reload the page.", title="Internal error")


def user_errors(fn):
    """Turn VisionDemoError into gr.Error(message) and anything else into a readable, logged gr.Error."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:  # turned into a message for the user, logged when it is a bug
                raise _as_gr_error(err) from err
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # turned into a message for the user, logged when it is a bug
            raise _as_gr_error(err) from err
    return wrapper


LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def at_the_server(request=None) -> bool:
    """True for a browser on the server itself (the teacher's machine) and for Python calls (no request)."""
    if request is None:
        return True
    return getattr(getattr(request, "client", None), "host", None) in LOCAL_HOSTS


def check_server_folder(source, request=None) -> None:
    """Only someone at the server itself (the teacher's machine) may open its folders by path.

    Students on the LAN and Space visitors upload a zip instead: a path typed into a shared app would
    otherwise show them any picture on the server and list its folders in the error messages.
    Names ("scenes", "shapes") and paths inside the work folder (extracted uploads) are fine for all.
    `request` None: called from Python, not through the web server.
    """
    from vision_demo import settings

    text = str(source or "").strip()
    looks_like_path = any(c in text for c in "/\\~") or text in (".", "..") or Path(text).exists()
    if not text or not looks_like_path:
        return  # a name ("scenes", "shapes", "coco8"), not a path on this server
    path = Path(text).expanduser().resolve()
    if path.is_relative_to(settings.work_dir()):
        return
    if at_the_server(request):
        return
    raise VisionDemoError(f"{text}: folders on the server can only be opened from the server itself; "
                          "upload a zip of the data set instead")


def thumbnail(path: str | Path, size: int = 160):
    """A small RGB copy of an image file for a gallery (served from Gradio's cache, not from its folder).

    Returns None for a file that cannot be decoded: the gallery just leaves it out.
    """
    from vision_demo.images import load_rgb

    try:
        img = load_rgb(path)
    except VisionDemoError as err:
        log.info("thumbnail skipped %s: %s", path, err)
        return None
    img.thumbnail((size, size))
    return img


def gallery_items(pairs, size: int = 160) -> list[tuple]:
    """[(path, caption)] -> [(PIL thumbnail, caption)], leaving out unreadable files."""
    items = []
    for path, caption in pairs:
        img = thumbnail(path, size)
        if img is not None:
            items.append((img, caption))
    return items


def intro(text: str) -> gr.Markdown:
    """The two lines at the top of each tab that say what it teaches."""
    return gr.Markdown(text, elem_classes=["vd-intro"])


def image_source(value):
    """What an image input delivers with preprocess=False (a file payload dict) -> what images.load_rgb takes.

    Our events that take uploads skip Gradio's own decoding (PIL.Image.open with no size limit and a
    cryptic error on a non-image) and decode with images.load_rgb instead: EXIF, CMYK, bombs, clear errors.
    Gradio has already checked that the path is inside its upload folder.
    """
    from vision_demo.errors import BadImageError

    if value is None or value == "":
        raise BadImageError("no image: upload one, use the webcam, or click an example")
    if isinstance(value, dict):
        if value.get("path"):
            return value["path"]
        url = value.get("url") or ""
        if url.startswith("data:") and "," in url:  # a webcam snapshot may come inline as base64
            import base64
            import binascii

            try:
                return base64.b64decode(url.split(",", 1)[1], validate=False)
            except (binascii.Error, ValueError):
                raise BadImageError("the picture arrived damaged: try again") from None
        raise BadImageError("the upload did not arrive: try again")
    return value


@contextlib.contextmanager
def upload_named(value):
    """Errors about an upload name the file the user picked, not its path in Gradio's cache."""
    try:
        yield
    except VisionDemoError as err:
        if isinstance(value, dict) and value.get("path") and value["path"] in str(err):
            name = value.get("orig_name") or "the uploaded file"
            raise type(err)(str(err).replace(value["path"], name)) from None
        raise
