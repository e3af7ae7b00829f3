"""`classes …`: the Your classes sets from the command line (the same folders the tab writes).

    python -m vision_demo classes list                                 # every set: id, classes, pictures, age
    python -m vision_demo classes add new "thumbs up" photos/up/*.jpg  # 'new' makes a set and prints its id
    python -m vision_demo classes train <set id or folder> --finetune --scratch
    python -m vision_demo classes zip <set id> my-classes.zip
    python -m vision_demo classes delete <set id>

`train` runs the tab's recipe (classify/captured.py: frozen backbone at 128 px, optionally fine-tuned and a
scratch CNN) and prints each job's test accuracy and time; its jobs are referred to as any job is (`diff`).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    classes = sub.add_parser("classes", help="Your classes: the webcam sets (list, add pictures, train, zip, delete)")
    kinds = classes.add_subparsers(dest="action", required=True, metavar="ACTION")
    kinds.add_parser("list", help="every set in the work folder").set_defaults(func=_list)
    add = kinds.add_parser("add", help="add pictures to a class of a set (downscaled copies)")
    add.add_argument("set", help="a set id, or 'new' for a new set")
    add.add_argument("name", help="the class (made when the set does not name it yet)")
    add.add_argument("files", nargs="+", help="image files")
    add.set_defaults(func=_add)
    train = kinds.add_parser("train", help="the tab's one-click training: frozen backbone, 128 px")
    train.add_argument("set", help="a set id, or any folder of class folders")
    train.add_argument("--finetune", action="store_true", help="also fine-tune from the frozen run")
    train.add_argument("--scratch", action="store_true", help="also a small CNN from scratch, for contrast")
    train.add_argument("--img-size", type=int, default=128)
    train.add_argument("--out", metavar="DIR", help="folder for the jobs (default: the work folder)")
    train.set_defaults(func=_train)
    zipped = kinds.add_parser("zip", help="a set as a zip of class folders")
    zipped.add_argument("set")
    zipped.add_argument("out", help="the .zip to write")
    zipped.set_defaults(func=_zip)
    delete = kinds.add_parser("delete", help="remove a set and its pictures")
    delete.add_argument("set")
    delete.set_defaults(func=_delete)


def _set(text: str):
    from vision_demo.datasets.captured import CapturedSet

    return CapturedSet.for_id(text)


def _list(args) -> int:
    from vision_demo.datasets.captured import list_sets

    sets = list_sets()
    for s in sets:
        age = (time.time() - s.folder.stat().st_mtime) / 3600
        print(f"{s.id}  {', '.join(f'{k} {n}' for k, n in s.counts().items())}  "
              f"({s.total_bytes() / 2**20:.1f} MB, used {age:.1f} h ago)")
    if not sets:
        print("no sets yet: capture some on the Your classes tab, or `classes add new NAME FILES`")
    return 0


def _add(args) -> int:
    from vision_demo.datasets.captured import CapturedSet, new_set_id
    from vision_demo.errors import VisionDemoError

    s = CapturedSet.for_id(new_set_id() if args.set == "new" else args.set)
    name = s.add_class(args.name)
    added, refused = s.add_files(name, args.files)
    for line in refused:
        print(f"skipped {line}")
    print(f"set {s.id}: added {added} to {name!r}; now {', '.join(f'{k} {n}' for k, n in s.counts().items())}")
    if not added:
        raise VisionDemoError("no picture was added")
    return 0


def _train(args) -> int:
    from vision_demo.classify.captured import submit_captured
    from vision_demo.commands.classify import _fail_if_any, _registry, _row, format_table
    from vision_demo.commands.printer import printing, wait_for
    from vision_demo.errors import VisionDemoError

    folder = Path(args.set).expanduser()
    if not folder.is_dir():
        try:
            folder = _set(args.set).folder
        except VisionDemoError:
            raise VisionDemoError(f"{args.set}: neither a set id nor a folder") from None
    registry = _registry(args.out)
    t0 = time.perf_counter()
    ids = submit_captured(registry, folder, finetune=args.finetune, scratch=args.scratch, img_size=args.img_size)
    with printing(registry, ids):
        states = wait_for(registry, ids)
    print(format_table([_row(s) for s in states]))
    print(f"total {time.perf_counter() - t0:.1f} s; job ids: {' '.join(ids)}")
    _fail_if_any(states)
    return 0


def _zip(args) -> int:
    s = _set(args.set)
    print(s.zip_to(Path(args.out).expanduser()))
    return 0


def _delete(args) -> int:
    s = _set(args.set)
    s.clear()
    print(f"deleted set {s.id}")
    return 0
