"""`data scenes OUT` (the offline classification set), `data shapes OUT` (the offline YOLO set) and
`data photos OUT` (bus.jpg and zidane.jpg, the example photos pip installs with Ultralytics)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="generate the offline data sets")
    kinds = data.add_subparsers(dest="kind", required=True, metavar="KIND")

    scenes = kinds.add_parser("scenes", help="six Intel-like scene classes as an ImageFolder (train/, test/)")
    scenes.add_argument("out", help="folder to write")
    scenes.add_argument("--per-class", type=int, default=40, help="training images per class (test: 3/4 of it)")
    scenes.add_argument("--size", type=int, default=128, help="image side in pixels")
    scenes.add_argument("--seed", type=int, default=0)
    scenes.set_defaults(func=_scenes)

    shapes = kinds.add_parser("shapes", help="a YOLO-format detection set of simple shapes, with data.yaml")
    shapes.add_argument("out", help="folder to write")
    shapes.add_argument("--train", type=int, default=64, help="training images")
    shapes.add_argument("--val", type=int, default=16, help="validation images")
    shapes.add_argument("--size", type=int, default=320, help="image side in pixels")
    shapes.add_argument("--seed", type=int, default=0)
    shapes.set_defaults(func=_shapes)

    photos = kinds.add_parser("photos", help="copy the example photos (bus.jpg, zidane.jpg) into a folder, "
                                             "for detect and gradcam")
    photos.add_argument("out", help="folder to write")
    photos.set_defaults(func=_photos)


def _scenes(args: argparse.Namespace) -> int:
    from vision_demo.datasets.scenes import write_scenes

    summary = write_scenes(args.out, per_class=args.per_class, size=args.size, seed=args.seed)
    print(summary)
    return 0


def _shapes(args: argparse.Namespace) -> int:
    from vision_demo.datasets.shapes import write_shapes

    yaml_path = write_shapes(args.out, train=args.train, val=args.val, size=args.size, seed=args.seed)
    print(f"wrote {yaml_path}")
    return 0


def _photos(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from vision_demo.errors import VisionDemoError
    from vision_demo.images import example_photos

    photos = example_photos()
    if not photos:
        raise VisionDemoError("the example photos are missing: they come with ultralytics (pip install -r requirements.txt)")
    out = Path(args.out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        copied = [shutil.copyfile(photo, out / Path(photo).name) for photo in photos]
    except OSError as err:
        raise VisionDemoError(f"cannot write into {out} ({err.strerror or err}): give a writable folder") from None
    print("wrote " + ", ".join(str(p) for p in copied))
    return 0
