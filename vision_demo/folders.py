"""Folders that appear whole or not at all (build next to the final name, then rename into place), and how
a data set names its files (relative to its own folder).

    with building(settings.subdir("datasets") / "shapes-64") as tmp:
        write_shapes(tmp)                 # a crash leaves a hidden .shapes-64.partial-* folder, never half a set

A reader never sees half a data set, and two processes making the same folder at once both end with a
complete one (the second rename fails; the first one's folder is kept). A rename is atomic within one
file system, which is why the temporary folder is a sibling of the final one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def building(final: Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; when the block ends without an error it becomes `final`.

    replace=False: if `final` appeared meanwhile (someone else built it), theirs is kept and ours removed.
    replace=True: an existing `final` is swapped out and removed. On an error the temporary folder is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    try:
        yield tmp
        if replace and final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            os.replace(final, old / "set")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, final)
            except OSError:   # someone else finished first: theirs is complete, keep it
                if not final.exists():
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (created) across processes: two Ray workers on a shared work folder
    build a data set once, the second waits and reuses it. Where there is no fcntl (Windows), a no-op."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    Path(lock_file).parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (a link counts as itself, never what it points to)."""
    total = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def relative(path: Path, root: Path) -> str:
    """path as the data set names it: relative to its root when inside, else the whole path."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
