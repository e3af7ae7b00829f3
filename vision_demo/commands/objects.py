"""`objects …`: the Your objects sets from the command line (the same folders the tab writes).

    python -m vision_demo objects new my-desk --classes "mug, phone"      # NAME then names the set
    python -m vision_demo objects add my-desk --image pic.jpg --box "mug 120 80 300 260" --box "phone 10 10 90 200"
    python -m vision_demo objects add my-desk --image empty-desk.jpg       # no --box: a background picture
    python -m vision_demo objects list
    python -m vision_demo objects train my-desk [--epochs 15] [--imgsz 320] [--scratch] [--out DIR]
    python -m vision_demo objects zip my-desk --out my-desk.zip          # a YOLO data set: yolo-train --data my-desk.zip
    python -m vision_demo objects delete my-desk

A box is the class then x1 y1 x2 y2 in the picture's pixels. `train` runs the tab's recipe
(detect/objects.py: the bundled detector fine-tuned at 320 px, backbone frozen) and writes OUT/result.json
with map50 and map50_95, as `yolo-train` does.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    objects = sub.add_parser("objects", help="Your objects: pictures with boxes (list, new, add, train, zip, delete)")
    actions = objects.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every set in the work folder").set_defaults(func=_list)
    new = actions.add_parser("new", help="a new set called NAME (the other commands take the name or the id)")
    new.add_argument("name")
    new.add_argument("--classes", help="its object classes, e.g. \"mug, phone\" (else named by the first boxes)")
    new.set_defaults(func=_new)
    add = actions.add_parser("add", help="add a picture with its boxes")
    add.add_argument("set", help="a set name or id")
    add.add_argument("--image", required=True, help="the picture")
    add.add_argument("--box", action="append", default=[], metavar='"CLASS X1 Y1 X2 Y2"',
                     help="one box in the picture's pixels (repeat for more); none: a background picture")
    add.set_defaults(func=_add)
    train = actions.add_parser("train", help="the tab's one-click training; writes OUT/result.json")
    train.add_argument("set")
    from vision_demo.detect.objects import EPOCHS, IMGSZ   # plain constants: the module imports nothing heavy
    train.add_argument("--epochs", type=int, default=EPOCHS)
    train.add_argument("--imgsz", type=int, default=IMGSZ)
    train.add_argument("--scratch", action="store_true", help="random weights instead of the bundled detector")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the fastest present)")
    train.add_argument("--out", metavar="DIR", help="folder for the job and result.json (default: the work folder)")
    train.set_defaults(func=_train)
    zipped = actions.add_parser("zip", help="the set as a YOLO data set (.zip) that yolo-train --data takes")
    zipped.add_argument("set")
    zipped.add_argument("--out", required=True, help="the .zip to write")
    zipped.add_argument("--seed", type=int, default=0, help="the train/val split's seed")
    zipped.set_defaults(func=_zip)
    delete = actions.add_parser("delete", help="remove a set with its pictures and boxes")
    delete.add_argument("set")
    delete.set_defaults(func=_delete)


def _line(s) -> str:
    summary = s.summary()
    boxes = ", ".join(f"{k} {n}" for k, n in summary["boxes"].items())
    return (f"{s.name() or '(browser set)'}  {s.id}  {summary['pictures']} pictures ({summary['background']} background, "
            f"{summary['unlabelled']} without boxes yet)  boxes: {boxes}")


def _list(args) -> int:
    from vision_demo.datasets.objects import list_sets

    sets = [s for s in list_sets() if s.exists()]
    for s in sets:
        print(_line(s))
    if not sets:
        print("no object sets yet: `objects new NAME`, or capture some on the Your objects tab")
    return 0


def _new(args) -> int:
    from vision_demo.datasets.objects import ObjectSet, list_sets, new_set_id
    from vision_demo.errors import VisionDemoError

    if any(s.name() == args.name.strip() for s in list_sets()):
        raise VisionDemoError(f"there is already a set called {args.name!r}: pick another name, or "
                              f"`objects delete {args.name}` first")
    s = ObjectSet.for_id(new_set_id())
    s.set_name(args.name)
    if args.classes:
        s.set_classes(args.classes)
    else:
        s._write_meta(classes=[], grow=True)   # named by the boxes `objects add` gets
    print(f"set {s.name()!r} ({s.id}): classes {', '.join(s.classes()) if args.classes else 'from the boxes you add'}")
    return 0


def _add(args) -> int:
    from vision_demo.datasets.objects import find_set, parse_box

    s = find_set(args.set)
    boxes = [parse_box(text) for text in args.box]
    before = s.classes()
    if s.meta().get("grow"):   # made without --classes: a new class name joins the set
        boxes = [(s.add_class(name), *xyxy) for name, *xyxy in boxes]
    try:
        stem = s.add(Path(args.image).expanduser(), boxes=boxes, label=Path(args.image).name)
    except Exception:
        if s.classes() != before:   # the picture was refused: so is a class only its boxes named
            s._write_meta(classes=before)
        raise
    print(f"{args.image}: {len(boxes)} box{'es' * (len(boxes) != 1)} -> picture {stem}; {_line(s)}")
    return 0


def _train(args) -> int:
    from vision_demo.commands.printer import run_one, write_result
    from vision_demo.datasets.objects import find_set
    from vision_demo.detect.objects import submit_objects
    from vision_demo.jobs import JobRegistry, default_registry

    s = find_set(args.set)
    out = Path(args.out).expanduser() if args.out else None
    registry = JobRegistry(out / "jobs") if out else default_registry()
    t0 = time.perf_counter()
    [job_id] = submit_objects(registry, s, epochs=args.epochs, imgsz=args.imgsz, scratch=args.scratch,
                              seed=args.seed, device=args.device)
    state = run_one(registry, job_id, "objects train")
    if state is None:
        return 1
    result = state.result
    target = write_result(state, out, set=s.id)
    print(f"mAP50 {result['map50']:.3f}  mAP50-95 {result['map50_95']:.3f}  precision {result['precision']:.3f}  "
          f"recall {result['recall']:.3f}  ({time.perf_counter() - t0:.0f} s)")
    for row in result["per_class"]:
        print(f"  {row['class']:>12}: {row['instances']:>4} boxes  mAP50 {row['map50']:.2f}  mAP50-95 {row['map50_95']:.2f}")
    print(f"wrote {target}; detector job:{job_id} (the Detect tab lists it; `detect --weights job:{job_id}`)")
    return 0


def _zip(args) -> int:
    from vision_demo.datasets.objects import find_set

    s = find_set(args.set)
    target = s.zip_to(Path(args.out).expanduser(), seed=args.seed)
    split = s.split(args.seed)
    print(f"{target}: {len(split['train'])} train + {len(split['val'])} val pictures, classes "
          f"{', '.join(s.classes())} (yolo-train --data {target})")
    return 0


def _delete(args) -> int:
    from vision_demo.datasets.objects import find_set

    s = find_set(args.set)
    s.clear()
    print(f"deleted set {s.name() or s.id}")
    return 0
