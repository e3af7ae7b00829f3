"""What every tab shares: the error decorator, who is asking, server paths, thumbnails, small helpers.

    @user_errors
    def on_click(...):   # a VisionDemoError becomes gr.Error(message); a bug becomes a readable gr.Error, logged

Who is asking matters: the app is opened to a class (`--host 0.0.0.0`) and to the public (a Space), so every
visitor but the server's own browser is untrusted. They may not open server folders by path, they never see
a server path in a message or an output (only names inside their own upload, or `work:` handles for the
app's own folders), and each may queue only a few training jobs, behind the teacher's.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import re
from pathlib import Path

import gradio as gr

from vision_demo.datasets.names import WORK_HANDLE   # "work:uploads/my_set-3f2a…": an app folder, no server path
from vision_demo.errors import VisionDemoError

log = logging.getLogger("vision_demo.ui")


def _as_gr_error(err: Exception, request=None) -> gr.Error:
    if isinstance(err, gr.Error):
        return err if at_the_server(request) else gr.Error(for_client(err.message, request), title=err.title)
    if isinstance(err, VisionDemoError):
        return gr.Error(for_client(str(err), request), title="Please check", print_exception=False)
    log.exception("unexpected error in a UI handler")
    return gr.Error(f"Something went wrong inside the app ({type(err).__name__}: {for_client(str(err), request)}). "
                    "Details are in the server log; try another input or reload the page.", title="Internal error")


def _find_request(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, gr.Request):
            return value
    return None


def user_errors(fn):
    """Turn VisionDemoError into gr.Error(message) and anything else into a readable, logged gr.Error.

    The message a visitor other than the server's own browser gets has its server paths taken out
    (for_client). A handler without a `gr.Request` parameter gets one added for that (Gradio fills
    parameters annotated gr.Request; the handler itself never sees it).
    """
    signature = inspect.signature(fn)
    wants_request = any(p.annotation in (gr.Request, "gr.Request") for p in signature.parameters.values())

    def split(args, kwargs):
        request = _find_request(args, kwargs)
        if wants_request:
            return args, kwargs, request
        # the one we added: Gradio passes it positionally, a Python caller may name it
        args = tuple(a for a in args if not isinstance(a, gr.Request))
        kwargs = {k: v for k, v in kwargs.items() if k != "_request" and not isinstance(v, gr.Request)}
        return args, kwargs, request

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, kwargs, request = split(args, kwargs)
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:  # turned into a message for the user, logged when it is a bug
                raise _as_gr_error(err, request) from err
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, kwargs, request = split(args, kwargs)
            try:
                return fn(*args, **kwargs)
            except Exception as err:  # turned into a message for the user, logged when it is a bug
                raise _as_gr_error(err, request) from err

    if not wants_request:
        extra = inspect.Parameter("_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                  annotation=gr.Request)
        params = list(signature.parameters.values())
        cut = next((i for i, p in enumerate(params) if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)),
                   len(params))
        wrapper.__signature__ = signature.replace(parameters=params[:cut] + [extra] + params[cut:])
        wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "_request": gr.Request}
        del wrapper.__wrapped__   # inspect.signature must read __signature__, not the original
    return wrapper


LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def at_the_server(request=None) -> bool:
    """True for a browser on the server itself (the teacher's machine) and for Python calls (no request)."""
    if request is None:
        return True
    return getattr(getattr(request, "client", None), "host", None) in LOCAL_HOSTS


def client_key(request=None) -> str | None:
    """Who is asking, for per-visitor limits: None for the server itself, else the visitor's address.

    On a Space every visitor comes through Hugging Face's proxy, which names the visitor first in
    X-Forwarded-For; elsewhere that header is whatever the client wrote, so it is not believed.
    """
    if at_the_server(request):
        return None
    host = getattr(getattr(request, "client", None), "host", None) or "unknown"
    if os.environ.get("SPACE_ID"):
        forwarded = (getattr(request, "headers", {}) or {}).get("x-forwarded-for", "")
        host = forwarded.split(",")[0].strip() or host
    return host


def _work() -> Path:
    from vision_demo import settings
    return Path(os.path.realpath(settings.work_path()))


_ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[^\s'\"`:;,()\[\]<>|*?]+)")


def for_client(text, request=None) -> str:
    """text as a visitor may read it: server paths out.

    For the server's own browser nothing changes. For everyone else a path inside an extracted upload becomes
    the name inside the upload ("train/" rather than /srv/app/work/uploads/x-3f2a/train), another path inside
    the work folder a `work:` handle, and any other absolute path its last part."""
    text = str(text)
    if at_the_server(request):
        return text
    work = str(_work())
    roots = [work]
    raw = os.environ.get("VISION_DEMO_HOME")
    if raw and raw.rstrip("/") != work:
        roots.append(raw.rstrip("/"))

    def replace(match: re.Match) -> str:
        path = match.group(0)
        for root in roots:
            if path == root or path.startswith(root + "/"):
                rel = path[len(root):].lstrip("/")
                parts = rel.split("/")
                if parts[0] in ("uploads", "gradio") and len(parts) > 2:
                    return "/".join(parts[2:])            # inside an upload: its own name for it
                if parts[:2] == ["datasets", "prepared"] and len(parts) > 3:
                    return "/".join(parts[3:])
                return WORK_HANDLE + rel
        return Path(path).name or "/"
    return _ABSOLUTE.sub(replace, text)


def scrub(value, request=None):
    """for_client() on every string inside a JSON-like value (a job's state for /job_status)."""
    if at_the_server(request):
        return value
    if isinstance(value, str):
        return for_client(value, request)
    if isinstance(value, dict):
        return {k: scrub(v, request) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, request) for v in value]
    return value


def disk_line() -> str:
    """One line for the Data tab: what the app keeps on disk, against the uploads quota and the free space."""
    from vision_demo import settings
    from vision_demo.datasets.archive import disk_usage

    usage = disk_usage()
    free = usage.pop("free")
    mb = lambda n: f"{n / 2**20:,.0f} MB" if n < 2**30 else f"{n / 2**30:,.1f} GB"   # noqa: E731
    parts = [f"uploads {mb(usage.pop('uploads', 0))} of {mb(settings.MAX_UPLOADS_BYTES)} (oldest unused removed first)"]
    parts += [f"{name} {mb(n)}" for name, n in sorted(usage.items(), key=lambda kv: -kv[1]) if n >= 2**20]
    return "Disk used by the app: " + " · ".join(parts) + f" · free on this disk: {mb(free)}"


def client_path(path, request=None) -> str:
    """A path to put in a visitor's textbox: unchanged for the server's own browser, else a `work:` handle
    (accepted back by check_server_folder) for the app's own folders, never the server's path."""
    text = str(path)
    if at_the_server(request):
        return text
    resolved = Path(os.path.realpath(text))
    work = _work()
    if resolved.is_relative_to(work):
        return WORK_HANDLE + str(resolved.relative_to(work))
    return resolved.name


def work_handle(path, request=None) -> str:
    """What the Data tab hands the Train and Inside tabs for a folder it loaded: a `work:` handle for the app's own
    folders (an extracted upload, the Intel download) for everyone, the server's own browser included, so no data
    box shows the server's folders; another folder as client_path gives it."""
    resolved = Path(os.path.realpath(str(path)))
    if resolved.is_relative_to(_work()):
        return WORK_HANDLE + str(resolved.relative_to(_work()))
    return client_path(path, request)


def data_label(source) -> str:
    """A data box's label: the set's name for people (datasets.names). The box itself keeps what scripts and the
    API use ("scenes", a work: handle, a folder); the label is where a class reads what it is (one line, so the
    tab's height does not change with it)."""
    from vision_demo.datasets.names import dataset_name

    return f"Data set: {dataset_name(source)}"


def data_box(elem_id: str, **kwargs) -> gr.Textbox:
    """The Train and Inside tabs' data box, its label following its value whoever fills it (the Data tab, Your
    classes, typing)."""
    box = gr.Textbox(value="scenes", label=data_label("scenes"), elem_id=elem_id, **kwargs)
    box.change(lambda source: gr.update(label=data_label(source)), box, box, api_visibility="private", queue=False,
               trigger_mode="always_last")
    return box


# Folders of the work folder that a visitor may name (with a work: handle or a path): extracted uploads, data
# sets the app prepared or generated, and checked weights (uploaded .pt files, COCO downloads). Not jobs/
# (every visitor's results), logs/, gradio/. captured/: the webcam classes' sets, each under a random
# 32-hex id that only its own browser knows (the Your classes tab hands it to the Train tab as a work: handle).
SHARED_WORK_FOLDERS = ("uploads", "datasets", "weights", "captured")


def check_server_folder(source, request=None) -> str:
    """The data source to use; VisionDemoError when a visitor names a server path.

    Only someone at the server itself (the teacher's machine) may open its folders by path. Students on the
    LAN and Space visitors upload a zip instead: a path typed into a shared app would otherwise show them any
    picture on the server and list its folders in the error messages. Names ("scenes", "shapes") and the
    app's own uploads and data sets (`work:uploads/...` or their path) are fine for all.
    `request` None: called from Python, not through the web server.
    """
    from vision_demo import settings

    text = str(source or "").strip()
    if text.startswith(WORK_HANDLE):
        rel = Path(text[len(WORK_HANDLE):].lstrip("/"))
        path = Path(os.path.realpath(settings.work_path() / rel))
        if ".." in rel.parts or not path.is_relative_to(_work()):
            raise VisionDemoError(f"{for_client(text, request)}: not a folder of this app")
        text = str(path)
    looks_like_path = any(c in text for c in "/\\~") or text in (".", "..") or Path(text).exists()
    if not text or not looks_like_path:
        return text  # a name ("scenes", "shapes", "coco8"), not a path on this server
    if at_the_server(request):
        return text
    path = Path(os.path.realpath(Path(text).expanduser()))
    if any(path.is_relative_to(_work() / folder) for folder in SHARED_WORK_FOLDERS):
        return str(path)
    raise VisionDemoError(f"{for_client(text, request)}: folders on the server can only be opened from the server "
                          "itself; upload a zip of the data set instead")


def check_job_quota(registry, request=None, adding: int = 1) -> str | None:
    """The visitor's key for registry.submit(owner=...); VisionDemoError when `adding` more jobs would give them
    more than settings.MAX_ACTIVE_JOBS_PER_CLIENT queued or running (the server's own browser has no limit)."""
    from vision_demo import settings

    owner = client_key(request)
    if owner is None:
        return None
    active = registry.active(owner=owner)
    if active + adding > settings.MAX_ACTIVE_JOBS_PER_CLIENT:
        raise VisionDemoError(f"you already have {active} training jobs queued or running (the limit is "
                              f"{settings.MAX_ACTIVE_JOBS_PER_CLIENT} per visitor, so everyone gets a turn): wait "
                              "for one to finish, or cancel one")
    return owner


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


WEBCAM_CAPTURE = (640, 480)   # (width, height) asked of a streaming camera: Gradio's default, up to 1920x1440,
                              # alone drops a stream to ~2 frames a second


def live_webcam_options() -> gr.WebcamOptions:
    """A streaming webcam's options: 640x480, mirrored like a mirror in the preview and in what is sent (left
    stays left, and text drawn on the returned frame reads the right way round)."""
    return gr.WebcamOptions(mirror=True, constraints={
        "video": {"width": {"ideal": WEBCAM_CAPTURE[0]}, "height": {"ideal": WEBCAM_CAPTURE[1]}}})


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
