"""`data scenes OUT` (the offline classification set) and `data shapes OUT` (the offline YOLO set)."""
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
