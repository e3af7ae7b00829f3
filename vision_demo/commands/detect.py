"""`detect` (boxes on images), `yolo-train` (train a YOLO detector), `sliding-window` (the cost table).

    python -m vision_demo detect bus.jpg zidane.jpg --json boxes.json --save annotated/
    python -m vision_demo detect bus.jpg --imgsz 320 --runtime torch      # against --runtime openvino: the speed-up
    python -m vision_demo yolo-train --data shapes --epochs 6 --imgsz 320 --out runs/yolo          # fine-tune
    python -m vision_demo yolo-train --data shapes --epochs 6 --imgsz 320 --scratch --out runs/scratch
    python -m vision_demo sliding-window --image-size 640 640 --windows 64 128 256 --stride 0.5

`detect` prints one line per image; an image that cannot be read is one line on stderr, the others are
still processed, and the exit code is 1 at the end. `yolo-train` writes OUT/result.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


from vision_demo.formats import DETECT_RUNTIMES   # the table: no torch, --help stays instant

RUNTIMES = tuple(DETECT_RUNTIMES)


def register(sub: argparse._SubParsersAction) -> None:
    detect = sub.add_parser("detect", help="YOLO boxes on images (bundled person detector by default)")
    detect.add_argument("images", nargs="+", metavar="IMAGE")
    detect.add_argument("--weights", help="'person (bundled)' (default), yolov8n.pt / yolo11n.pt (cached or --online), "
                                          "job:<id> of a finished yolo-train job, or a .pt path (loaded safely)")
    detect.add_argument("--conf", type=float, default=0.25, help="minimum confidence of a box (default 0.25)")
    detect.add_argument("--iou", type=float, default=0.7, help="NMS overlap above which the weaker box is dropped (0.7)")
    detect.add_argument("--imgsz", type=int, default=640, help="inference size (default 640; 320 is ~3x faster)")
    detect.add_argument("--classes", nargs="+", help="keep only these classes (names or ids)")
    detect.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="what runs the model: torch (the .pt as trained), openvino or onnx (the same weights "
                             "exported once per image size into the work folder and checked against torch), "
                             "auto (default: the fastest installed; torch on a GPU)")
    detect.add_argument("--json", metavar="OUT", help="write all boxes and timings to this JSON file")
    detect.add_argument("--save", metavar="DIR", help="write annotated images into DIR")
    detect.set_defaults(func=_detect)

    train = sub.add_parser("yolo-train", help="train a YOLO detector; writes OUT/result.json")
    train.add_argument("--data", default="shapes", help="YOLO folder, .zip, data.yaml, 'shapes' (generated, offline; "
                                                       "default) or an Ultralytics set name like coco8 (--online)")
    start = train.add_mutually_exclusive_group()
    start.add_argument("--weights", help="weights to fine-tune (default: the bundled person detector)")
    start.add_argument("--scratch", action="store_true", help="random weights (yolov8n.yaml): the baseline")
    train.add_argument("--epochs", type=int, default=6)
    train.add_argument("--imgsz", type=int, default=320)
    train.add_argument("--batch", type=int, default=16)
    train.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the fastest present)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", metavar="DIR", help="folder for the job and result.json (default: the work folder)")
    train.set_defaults(func=_train)

    slide = sub.add_parser("sliding-window", help="how many classifier passes a sliding window "
                                                                    "needs, against one YOLO pass (measured here)")
    slide.add_argument("--image-size", nargs=2, type=int, default=[640, 640], metavar=("H", "W"))
    slide.add_argument("--windows", nargs="+", type=int, default=[64, 128, 256], metavar="PX")
    slide.add_argument("--stride", type=float, default=0.5, help="stride as a fraction of the window (default 0.5)")
    slide.add_argument("--classifier", default="resnet18")
    slide.add_argument("--classifier-size", type=int, default=224)
    slide.add_argument("--weights", help="detector to time (default: the bundled person detector)")
    slide.add_argument("--yolo-imgsz", type=int, default=640)
    slide.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")
    slide.set_defaults(func=_sliding)


def _registry_of(weights):
    """The work folder's job registry when the weights name a job ("job:<id>"), else None (not opened)."""
    if not str(weights or "").strip().startswith("job:"):
        return None
    from vision_demo.jobs import default_registry
    return default_registry()


def _detect(args: argparse.Namespace) -> int:
    from PIL import Image

    from vision_demo.detect.detector import get_detector
    from vision_demo.errors import BadImageError

    detector = get_detector(args.weights, registry=_registry_of(args.weights))
    # A fast runtime is exported once per (weights, imgsz) and kept in the work folder: the first run waits
    # for it (seconds), later runs find it. If it cannot be made, torch answers and we say why.
    engine, note = detector.engine(args.runtime, args.imgsz, wait=True)
    if note:
        print(f"runtime: {engine.runtime} ({note})", file=sys.stderr)
    save_dir = Path(args.save).expanduser() if args.save else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)
    results, failed = [], 0
    for image in args.images:
        try:
            det = detector.predict(image, conf=args.conf, iou=args.iou, classes=args.classes, imgsz=args.imgsz,
                                   runtime=args.runtime)
        except BadImageError as err:
            print(str(err) if image in str(err) else f"{image}: {err}", file=sys.stderr)
            results.append({"image": image, "error": str(err)})
            failed += 1
            continue
        print(f"{image}: {det.summary()}")
        entry = {"image": image, **det.to_dict()}
        if save_dir:
            out = save_dir / f"{Path(image).stem}_boxes.png"
            Image.fromarray(det.annotated).save(out)
            entry["annotated"] = str(out)
        results.append(entry)
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(
            {"weights": detector.weights, "names": detector.names, "runtime": engine.runtime, "images": results},
            indent=1))
    if failed:
        print(f"{failed} of {len(args.images)} images could not be read", file=sys.stderr)
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> int:
    from vision_demo.commands.printer import run_one, write_result
    from vision_demo.detect.train import YoloTrainConfig, submit
    from vision_demo.jobs import JobRegistry, default_registry, make_executor

    out = Path(args.out).expanduser() if args.out else None
    registry = JobRegistry(out / "jobs", executor=make_executor()) if out else default_registry()
    config = YoloTrainConfig(data=args.data, weights=args.weights, scratch=args.scratch, epochs=args.epochs,
                             imgsz=args.imgsz, batch=args.batch, device=args.device, seed=args.seed)
    state = run_one(registry, submit(registry, config), "yolo-train")
    if state is None:
        return 1
    result = state.result
    target = write_result(state, out)
    print(f"mAP50 {result['map50']:.3f}  mAP50-95 {result['map50_95']:.3f}  precision {result['precision']:.3f}  "
          f"recall {result['recall']:.3f}  ({result['wall_seconds']:.0f} s, start: {result['weights_source']})")
    for row in result["per_class"]:
        print(f"  {row['class']:>12}: {row['instances']:>4} boxes  P {row['precision']:.2f}  R {row['recall']:.2f}  "
              f"mAP50 {row['map50']:.2f}  mAP50-95 {row['map50_95']:.2f}")
    problems = (result.get("data_report") or {}).get("problems") or []
    if problems:   # what was left out of the data set, and why: the numbers above are without it
        print(f"data set: {len(problems)} problem{'s' * (len(problems) != 1)} (files left out or ignored):")
        for problem in problems:
            print(f"  {problem}")
    print(f"wrote {target}; best weights {result['best_weights']}")
    return 0


def _sliding(args: argparse.Namespace) -> int:
    from vision_demo.detect.sliding_window import format_cost, sliding_window_cost
    from vision_demo.errors import VisionDemoError

    try:
        cost = sliding_window_cost(tuple(args.image_size), tuple(args.windows), args.stride, args.classifier,
                                   args.classifier_size, args.weights, args.yolo_imgsz,
                                   registry=_registry_of(args.weights))
    except ValueError as err:
        raise VisionDemoError(str(err)) from err
    print(format_cost(cost))
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(cost, indent=1))
    return 0
