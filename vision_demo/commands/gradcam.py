"""`gradcam`: where a finished classifier looks in a picture, as a heat map over it (Grad-CAM).

    python -m vision_demo gradcam --job JOB --image photo.jpg --out heat.png            # the predicted class
    python -m vision_demo gradcam --job runs/frozen --image photo.jpg --class forest    # another class

JOB is a job id or the --out folder of a `train` run (as `diff` and `train --init-from` take). An unknown
class is one line listing the classes the model knows, and exit 1.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    cam = sub.add_parser("gradcam", help="where does it look: the Grad-CAM heat map of a finished classification "
                                         "run over an image, for the predicted class or a chosen one")
    cam.add_argument("--job", required=True, metavar="JOB",
                     help="a finished classification job's id, or the --out folder of a train run")
    cam.add_argument("--image", required=True, metavar="IMAGE", help="the picture to explain")
    cam.add_argument("--class", dest="class_name", metavar="C",
                     help="the class whose score the map explains (default: the one the model predicts)")
    cam.add_argument("--out", default="heat.png", metavar="PNG", help="where to write the overlay (default heat.png)")
    cam.set_defaults(func=_gradcam)


def _gradcam(args: argparse.Namespace) -> int:
    from vision_demo.classify.gradcam import gradcam, load_job
    from vision_demo.errors import VisionDemoError

    classifier, name = load_job(args.job)
    cam = gradcam(classifier, Path(args.image).expanduser(), args.class_name)
    out = Path(args.out).expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        cam.overlay.save(out, format="PNG")
    except OSError as err:
        raise VisionDemoError(f"cannot write {out} ({err.strerror or err}): give --out a writable .png path") from None
    print(f"{name}: {cam.predicted} ({cam.probability:.0%}); map for {cam.target} ({cam.target_probability:.0%}), "
          f"{cam.sizes} -> {out}")
    print(cam.legend)
    return 0
