"""`export`: take a finished job home as one file (a .zip with the model, model.json and a README).

    python -m vision_demo export --job 20261125-131500-ab12cd --format onnx
    python -m vision_demo export --job runs/frozen --format torchscript --out frozen.zip   # a train --out folder
    python -m vision_demo export --job <yolo job id> --format openvino

A classification job exports as pt, torchscript, onnx or openvino (normalization and softmax inside: one call
on a 0-255 image gives the classes); a detection job as pt, onnx or openvino (Ultralytics' exporter). Each
export is checked against PyTorch before it is written; the line printed says how well it agreed. The file is
kept in the work folder (asking again returns it at once); --out copies it where you want it.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from vision_demo.formats import all_formats, formats_for   # the table: no torch, --help stays instant


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help=f"a finished job as one file: {', '.join(all_formats())}")
    export.add_argument("--job", required=True, metavar="JOB",
                        help="a finished job's id, or the --out folder of a train / yolo-train run")
    # No argparse `choices`: a format that does not fit the job (torchscript of a YOLO job) or no format at all
    # is the same kind of mistake, one line and exit 1 from take_home.check_format.
    export.add_argument("--format", required=True, metavar="{" + ",".join(all_formats()) + "}",
                        help=f"classification: {', '.join(formats_for('classify'))}; "
                             f"detection: {', '.join(formats_for('detect'))}")
    export.add_argument("--out", metavar="PATH", help="also copy the .zip here (a file name or a folder)")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from vision_demo.take_home import build_download, download_info, find_job

    job = find_job(args.job)
    path = build_download(job, args.format)
    check = download_info(path).get("check") or {}
    if check.get("images") and "same_top1" in check:
        print(f"checked: same top-1 class as PyTorch on {check['same_top1']}/{check['images']} test images "
              f"(probabilities at most {check['max_prob_diff']:.1g} apart)")
    elif check.get("images"):
        print(f"checked: the same boxes as torch on {check['images']} images")
    if args.out:
        target = Path(args.out).expanduser()
        target = target / path.name if target.is_dir() else target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        path = target
    print(path)
    return 0
