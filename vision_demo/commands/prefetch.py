"""`prefetch`: the offline pack (vision_demo/prefetch.py) from the command line.

    python -m vision_demo --online prefetch [--what resnet18,yolo11n,yolov8n,coco8,intel]
    python -m vision_demo prefetch --list
"""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from vision_demo.prefetch import EXTRA, ITEMS

    names = ",".join([*ITEMS, *EXTRA])
    prefetch = sub.add_parser("prefetch", help="download what the online features use into the work folder "
                                                "(an offline pack for the classroom)")
    prefetch.add_argument("--what", default=names, help=f"comma-separated, any of {names} (default: all)")
    prefetch.add_argument("--list", action="store_true", help="only list what is cached and what is missing")
    prefetch.set_defaults(func=_prefetch)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def _print_status(rows) -> None:
    for row in rows:
        mark = "cached " if row["cached"] else "missing"
        size = _mb(row["bytes"]) if row["cached"] else ""
        print(f"  {mark}  {row['name']:<9} {size:>10}  {row['what']}" + (f"  ({row['path']})" if row["path"] else ""))


def _prefetch(args: argparse.Namespace) -> int:
    from vision_demo import prefetch

    if args.list:
        print("offline pack in the work folder:")
        _print_status(prefetch.status())
        return 0
    names = [n.strip() for n in args.what.split(",") if n.strip()]
    last: dict[str, int] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        step = done * 10 // total if total else done // (10 * 2**20)   # every 10 %, or every 10 MB
        if last.get(name) != step:
            last[name] = step
            print(f"  {name}: {_mb(done)}" + (f" of {_mb(total)}" if total else ""), file=sys.stderr, flush=True)

    rows = prefetch.prefetch(names, progress)
    print("offline pack in the work folder:")
    _print_status(rows)
    return 0
