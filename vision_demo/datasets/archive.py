"""Safe zip extraction for uploaded data sets.

A zip from the internet can try to write outside the folder it is unpacked into ("../../.bashrc",
"/etc/passwd", a symlink pointing at /), hold a million tiny files, or inflate a few KB into
terabytes (a zip bomb, sometimes with headers that lie about the sizes). `extract_zip` refuses
all of that, checks the limits while inflating (not only from the headers), and on refusal
removes what it had written, so a half-extracted folder never looks like a data set.

    from vision_demo.datasets.archive import extract_once, extract_zip
    folder = extract_zip("intel.zip")     # -> WORK/uploads/intel-abc123/ (a new folder each call)
    folder = extract_once("intel.zip")    # -> WORK/uploads/intel-<content hash>/, reused for the same bytes

Limits live in vision_demo.settings: MAX_ZIP_FILES members, MAX_UNZIPPED_BYTES in total, MAX_ZIP_RATIO
(inflated / zipped: photos barely compress, a bomb compresses a thousandfold) and MAX_UPLOADS_BYTES for
everything extracted together: the oldest unused uploads are removed to make room (`enforce_quota`).
Finder and Explorer junk (__MACOSX/, ._*, .DS_Store, Thumbs.db) is skipped.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import lzma
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter
from pathlib import Path, PurePosixPath

from vision_demo import settings
from vision_demo.errors import VisionDemoError
from vision_demo.folders import building, folder_bytes

_CHUNK = 1 << 20                                   # inflate 1 MiB at a time
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
_DRIVE = re.compile(r"^[A-Za-z]:")                 # "C:..." is absolute on Windows
log = logging.getLogger(__name__)


class _Refused(VisionDemoError):
    pass


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(part in _JUNK_NAMES or part.startswith("._") for part in parts)


def _safe_parts(info: zipfile.ZipInfo, zip_name: str) -> tuple[str, ...]:
    """The member's path as clean parts, or _Refused for absolute paths, '..', links and devices."""
    raw = info.filename
    name = raw.replace("\\", "/")                   # zips made on Windows may use backslashes
    if name.startswith("/") or _DRIVE.match(name):
        raise _Refused(f"{zip_name}: member {raw!r} has an absolute path; refusing to extract this zip")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise _Refused(f"{zip_name}: member {raw!r} points outside the folder ('..'); refusing to extract this zip")
    if "\x00" in name:
        raise _Refused(f"{zip_name}: member {raw!r} has a NUL byte in its name; refusing to extract this zip")
    mode = info.external_attr >> 16                 # Unix mode bits, when the zip was made on Unix
    if mode and stat.S_ISLNK(mode):
        raise _Refused(f"{zip_name}: member {raw!r} is a symbolic link; refusing to extract this zip")
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) and stat.S_IFMT(mode):
        raise _Refused(f"{zip_name}: member {raw!r} is a device or pipe, not a file; refusing to extract this zip")
    return parts


# What a damaged or exotic member raises while it is opened or inflated: a bad CRC or local header
# (BadZipFile), broken deflate / LZMA data (zlib.error, LZMAError), broken bzip2 data (OSError "Invalid
# data stream"), a stream cut short (EOFError), a compression method Python lacks, e.g. Deflate64
# (NotImplementedError). Encrypted members (RuntimeError) are reported by extract_zip itself.
_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, OSError)


def _member_corrupt(zip_name: str, info: zipfile.ZipInfo, err: BaseException) -> _Refused:
    return _Refused(f"{zip_name}: member {info.filename!r} is corrupt or uses an unsupported compression "
                    f"({type(err).__name__}: {err}); re-create the zip")


def _copy_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, written: int, limit: int, zip_name: str) -> int:
    """Inflate one member into target, counting real bytes; returns the new running total."""
    member_bytes = 0
    try:
        src = zf.open(info)
    except _MEMBER_ERRORS as err:
        raise _member_corrupt(zip_name, info, err) from None
    with src, open(target, "wb") as dst:     # errors writing dst (disk full) are not the zip's fault
        while True:
            try:
                chunk = src.read(_CHUNK)
            except _MEMBER_ERRORS as err:
                raise _member_corrupt(zip_name, info, err) from None
            if not chunk:
                break
            member_bytes += len(chunk)
            written += len(chunk)
            if written > limit:
                raise _Refused(f"{zip_name}: inflates past {limit / 2**20:,.0f} MiB, the limit for this zip (a zip bomb, "
                               "or too big a data set); refusing it: upload a smaller data set")
            if member_bytes > info.file_size:
                raise _Refused(f"{zip_name}: member {info.filename!r} inflates past the size its header declares "
                               f"({info.file_size:,} bytes): a forged zip; refusing it")
            dst.write(chunk)
    return written


def extract_zip(zip_path, dest_parent=None, name: str | None = None) -> Path:
    """Extract `zip_path` into a new folder under `dest_parent` (default WORK/uploads) and return it.

    name: the folder's name; the files are then extracted beside it first and the folder renamed into place
    when complete (folders.building), so a folder under that name is always whole (another process that got
    there first wins, and its folder is returned). Without it: a new unique folder.

    Raises VisionDemoError, leaving nothing behind, for: not a zip / corrupt / encrypted, members with
    absolute paths or '..', symlinks, more than settings.MAX_ZIP_FILES members, or more than
    settings.MAX_UNZIPPED_BYTES once inflated.
    """
    zip_path = Path(zip_path)
    zip_name = zip_path.name
    if not zip_path.is_file():
        raise VisionDemoError(f"{zip_path}: no such zip file")
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
        raise VisionDemoError(f"{zip_name}: not a readable zip file ({err}); upload a .zip of the image folders") from None

    try:   # the zip is open: close it if no folder can be made for it
        parent = Path(dest_parent) if dest_parent is not None else settings.subdir("uploads")
        parent.mkdir(parents=True, exist_ok=True)
        if name:   # the temporary folder and the rename: folders.building
            with zf, _extraction_errors(zip_name), building(parent / name) as folder:
                _extract_into(zf, folder, zip_path)
            return parent / name
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", zip_path.stem)[:40] or "upload"
        folder = Path(tempfile.mkdtemp(prefix=f"{stem}-", dir=parent))
    except OSError as err:
        zf.close()
        raise VisionDemoError(f"{zip_name}: cannot create a folder to extract it into ({err}); "
                              "check the work folder's permissions and free space") from None
    except BaseException:
        zf.close()
        raise
    try:
        with zf, _extraction_errors(zip_name):
            _extract_into(zf, folder, zip_path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


@contextlib.contextmanager
def _extraction_errors(zip_name: str):
    """What a broken or exotic zip raises while it is read, as one sentence (our own refusals pass through)."""
    try:
        yield
    except _Refused:
        raise
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, ValueError) as err:
        raise VisionDemoError(f"{zip_name}: the zip is corrupt ({err}); download or create it again") from None
    except (RuntimeError, NotImplementedError) as err:   # encrypted members, unsupported compression
        raise VisionDemoError(f"{zip_name}: cannot be extracted ({err}); use a plain, unencrypted zip") from None
    except OSError as err:
        raise VisionDemoError(f"{zip_name}: extraction failed ({err.strerror or err})") from None


def _extract_into(zf: zipfile.ZipFile, folder: Path, zip_path: Path) -> None:
    """Check every member, then inflate them into `folder`, counting the real bytes (_Refused on any limit)."""
    zip_name = zip_path.name
    max_files, max_bytes = settings.MAX_ZIP_FILES, inflate_limit(zip_path)
    members = zf.infolist()
    # 1) what the central directory declares: cheap refusals before inflating anything
    if len(members) > max_files:
        raise _Refused(f"{zip_name}: holds {len(members):,} members, more than the limit of {max_files:,}; "
                       "split the data set or unzip it yourself and give the folder")
    declared = sum(m.file_size for m in members)
    if declared > max_bytes:
        raise _Refused(f"{zip_name}: would inflate to {declared / 2**20:,.0f} MiB, over the limit of "
                       f"{max_bytes / 2**20:,.0f} MiB for this zip ({_limit_reason(zip_path)}); "
                       "upload a smaller data set")
    plan = []
    for info in members:
        parts = _safe_parts(info, zip_name)      # every member is checked before anything is written
        if parts and not _is_junk(parts):
            plan.append((info, parts))
    if not any(not info.is_dir() for info, _ in plan):
        raise _Refused(f"{zip_name}: holds no files (only folders or Finder/Explorer junk)")

    # 2) inflate, counting the real bytes: a header can lie, the stream cannot
    written = 0
    root = folder.resolve()
    for info, parts in plan:
        target = folder.joinpath(*parts)
        if root not in target.resolve().parents:       # belt and braces after the checks above
            raise _Refused(f"{zip_name}: member {info.filename!r} would land outside the folder; refusing it")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        written = _copy_limited(zf, info, target, written, max_bytes, zip_name)


# ---- how much a zip may inflate to -----------------------------------------------------------------

def inflate_limit(zip_path) -> int:
    """Bytes this zip may inflate to: MAX_UNZIPPED_BYTES, and at most MAX_ZIP_RATIO times its own size
    (the file on disk cannot lie, unlike its headers) once past MAX_ZIP_RATIO_FREE."""
    size = Path(zip_path).stat().st_size
    by_ratio = max(settings.MAX_ZIP_RATIO_FREE, settings.MAX_ZIP_RATIO * size)
    return min(settings.MAX_UNZIPPED_BYTES, by_ratio)


def _limit_reason(zip_path) -> str:
    if inflate_limit(zip_path) < settings.MAX_UNZIPPED_BYTES:
        return (f"{settings.MAX_ZIP_RATIO}x its own size: photos barely compress, so a zip that inflates more "
                "is a zip bomb")
    return f"settings.MAX_UNZIPPED_BYTES, {settings.MAX_UNZIPPED_BYTES / 2**20:,.0f} MiB"


# ---- one folder per zip content, a quota on them all ----------------------------------------------

_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()
_leases: Counter = Counter()           # upload folder -> jobs / handlers reading it now (never removed)


def uploads_dir() -> Path:
    return settings.subdir("uploads")


def extract_once(zip_path) -> Path:
    """The zip's files in WORK/uploads/<name>-<content hash>/: extracted on first use, reused after (also after
    a restart), so the same upload never fills the disk twice.

    Extraction goes to a hidden folder beside the final one and is renamed into place when complete: a folder
    under its final name is always whole. Room is made first (`enforce_quota`) from what the zip declares.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise VisionDemoError(f"{zip_path.name}: no such zip file; upload it again")
    try:
        with open(zip_path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]   # streamed: zips can be large
    except OSError as err:
        raise VisionDemoError(f"{zip_path.name}: cannot read it ({err.strerror or err})") from None
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", zip_path.stem)[:40].lstrip(".") or "upload"
    parent = uploads_dir()
    with _locks_lock:
        lock = _locks.setdefault(digest, threading.Lock())
    with lock:   # the same zip in two jobs at once: one extracts, the other waits and reuses the folder
        existing = sorted(parent.glob(f"*-{digest}"))
        if existing and existing[0].is_dir():
            _touch(existing[0])
            return existing[0]
        enforce_quota(need=min(_declared_size(zip_path), inflate_limit(zip_path)))
        final = extract_zip(zip_path, dest_parent=parent, name=f"{stem}-{digest}")
        _touch(final)
        return final


def _declared_size(zip_path: Path) -> int:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            return sum(m.file_size for m in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return 0   # extract_zip says what is wrong with it


def discard(folder) -> None:
    """Remove an extracted upload that turned out unusable (refused as a data set): it must not take up disk."""
    top = upload_folder_of(folder)
    if top is not None and not _leases[top]:
        shutil.rmtree(top, ignore_errors=True)


def upload_folder_of(path) -> Path | None:
    """WORK/uploads/<folder> that holds `path`, or None when it is not inside an extracted upload."""
    try:
        rel = Path(os.path.realpath(path)).relative_to(os.path.realpath(uploads_dir()))
    except ValueError:
        return None
    if not rel.parts or rel.parts[0].startswith("."):
        return None
    return uploads_dir() / rel.parts[0]


@contextlib.contextmanager
def using(path):
    """While a job reads an extracted upload, the quota never removes it: `with using(data.root): train()`."""
    top = upload_folder_of(path)
    if top is None:
        yield
        return
    with _locks_lock:
        _leases[top] += 1
    _touch(top)
    try:
        yield
    finally:
        with _locks_lock:
            _leases[top] -= 1
            if _leases[top] <= 0:
                del _leases[top]
        _touch(top)


def _touch(folder: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(folder)   # the folder's mtime = its last use: the quota removes the least recently used


def enforce_quota(need: int = 0) -> list[str]:
    """Make the uploads folder hold at most MAX_UPLOADS_BYTES with `need` more bytes to come, removing the least
    recently used extractions first. Folders in use (`using`) or used in the last UPLOAD_KEEP_SECONDS stay; if
    that is not enough, VisionDemoError: the upload is refused rather than the disk filled. Returns what went."""
    parent = uploads_dir()
    quota = settings.MAX_UPLOADS_BYTES
    now = time.time()
    for stale in parent.glob(".*.partial-*"):   # left by a crash mid-extraction: an hour old is surely dead
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
    folders = []
    for folder in parent.iterdir():
        if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith("."):
            with contextlib.suppress(OSError):
                folders.append((folder.stat().st_mtime, folder, folder_bytes(folder)))
    total = sum(size for _, _, size in folders)
    removed = []
    for mtime, folder, size in sorted(folders, key=lambda f: f[0]):    # least recently used first
        if total + need <= quota:
            break
        if _leases[folder] or now - mtime < settings.UPLOAD_KEEP_SECONDS:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
        removed.append(folder.name)
        log.info("uploads over quota: removed %s (%d MB)", folder.name, size // 2**20)
    if total + need > quota:
        raise VisionDemoError(f"the uploads folder is full ({total / 2**20:,.0f} MiB of {quota / 2**20:,.0f} MiB, all "
                              "in use or used in the last minutes): try again later, or upload a smaller data set")
    return removed


_usage_cache: dict[str, tuple[float, dict[str, int]]] = {}
USAGE_SECONDS = 30   # the Data tab asks on every page load: walking a work folder of 25k images costs ~0.1 s


def disk_usage() -> dict[str, int]:
    """Bytes the app keeps on disk, by folder of the work folder (uploads, jobs, ...), plus 'free' on its disk.
    Measured at most every USAGE_SECONDS per work folder."""
    work = settings.work_dir()
    cached = _usage_cache.get(str(work))
    if cached is not None and time.monotonic() - cached[0] < USAGE_SECONDS:
        return dict(cached[1])
    usage = {}
    for folder in sorted(work.iterdir()):
        if folder.is_dir() and not folder.is_symlink():
            usage[folder.name] = folder_bytes(folder)
    usage["free"] = shutil.disk_usage(work).free
    _usage_cache[str(work)] = (time.monotonic(), usage)
    return dict(usage)
