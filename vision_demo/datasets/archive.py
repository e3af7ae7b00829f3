"""Safe zip extraction for uploaded data sets.

A zip from the internet can try to write outside the folder it is unpacked into ("../../.bashrc",
"/etc/passwd", a symlink pointing at /), hold a million tiny files, or inflate a few KB into
terabytes (a zip bomb, sometimes with headers that lie about the sizes). `extract_zip` refuses
all of that, checks the limits while inflating (not only from the headers), and on refusal
removes what it had written, so a half-extracted folder never looks like a data set.

    from vision_demo.datasets.archive import extract_zip
    folder = extract_zip("intel.zip")     # -> WORK/uploads/intel-abc123/

Limits live in vision_demo.settings: MAX_ZIP_FILES members, MAX_UNZIPPED_BYTES in total.
Finder and Explorer junk (__MACOSX/, ._*, .DS_Store, Thumbs.db) is skipped.
"""
from __future__ import annotations

import lzma
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from vision_demo import settings
from vision_demo.errors import VisionDemoError

_CHUNK = 1 << 20                                   # inflate 1 MiB at a time
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
_DRIVE = re.compile(r"^[A-Za-z]:")                 # "C:..." is absolute on Windows


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
                raise _Refused(f"{zip_name}: inflates past {limit / 2**20:,.0f} MiB (a zip bomb, or too big a data set); "
                               "refusing it: upload a smaller zip or unzip it yourself and give the folder")
            if member_bytes > info.file_size:
                raise _Refused(f"{zip_name}: member {info.filename!r} inflates past the size its header declares "
                               f"({info.file_size:,} bytes): a forged zip; refusing it")
            dst.write(chunk)
    return written


def extract_zip(zip_path, dest_parent=None) -> Path:
    """Extract `zip_path` into a new folder under `dest_parent` (default WORK/uploads) and return it.

    Raises VisionDemoError, leaving nothing behind, for: not a zip / corrupt / encrypted, members with
    absolute paths or '..', symlinks, more than settings.MAX_ZIP_FILES members, or more than
    settings.MAX_UNZIPPED_BYTES once inflated.
    """
    zip_path = Path(zip_path)
    zip_name = zip_path.name
    if not zip_path.is_file():
        raise VisionDemoError(f"{zip_path}: no such zip file")
    max_files, max_bytes = settings.MAX_ZIP_FILES, settings.MAX_UNZIPPED_BYTES
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as err:
        raise VisionDemoError(f"{zip_name}: not a readable zip file ({err}); upload a .zip of the image folders") from None

    try:   # the zip is open: close it if no folder can be made for it
        parent = Path(dest_parent) if dest_parent is not None else settings.subdir("uploads")
        parent.mkdir(parents=True, exist_ok=True)
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
        with zf:
            members = zf.infolist()
            # 1) what the central directory declares: cheap refusals before inflating anything
            if len(members) > max_files:
                raise _Refused(f"{zip_name}: holds {len(members):,} members, more than the limit of {max_files:,}; "
                               "split the data set or unzip it yourself and give the folder")
            declared = sum(m.file_size for m in members)
            if declared > max_bytes:
                raise _Refused(f"{zip_name}: would inflate to {declared / 2**20:,.0f} MiB, over the limit of "
                               f"{max_bytes / 2**20:,.0f} MiB; unzip it yourself and give the folder")
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
        return folder
    except _Refused:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, ValueError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise VisionDemoError(f"{zip_name}: the zip is corrupt ({err}); download or create it again") from None
    except (RuntimeError, NotImplementedError) as err:   # encrypted members, unsupported compression
        shutil.rmtree(folder, ignore_errors=True)
        raise VisionDemoError(f"{zip_name}: cannot be extracted ({err}); use a plain, unencrypted zip") from None
    except OSError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise VisionDemoError(f"{zip_name}: extraction failed ({err.strerror or err})") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
