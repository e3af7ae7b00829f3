"""Inside the model from the command line: the first layer's filters, each stage's feature maps, the linear probe
per stage, and the unfreeze-k sweep.

    python -m vision_demo filters --job JOB --out filters.png
    python -m vision_demo feature-maps --image photo.jpg [--model M] [--job SCRATCH_JOB] --out maps.png
    python -m vision_demo probe --data scenes [--model M] [--img-size 96] --out probe.json
    python -m vision_demo unfreeze --data scenes [--model M] --blocks 0 1 2 all [--epochs 2] --out runs/unfreeze

JOB is a finished classification job's id or the --out folder of a `train` run. `probe` and `unfreeze` run as
jobs of the work folder's registry (Ctrl-C cancels them); `unfreeze` writes OUT/k<k>/result.json per k (as
`sweep` writes its runs) and OUT/unfreeze.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vision_demo.classify.catalog import PRETRAINED_MODELS


def register(sub: argparse._SubParsersAction) -> None:
    filters = sub.add_parser("filters", help="what the first layer learned: the first convolution's filters of a "
                                             "finished run (after and before training) next to ImageNet's")
    filters.add_argument("--job", required=True, metavar="JOB",
                         help="a finished classification job's id, or the --out folder of a train run")
    filters.add_argument("--backbone", choices=PRETRAINED_MODELS,
                         help="the ImageNet model shown next to a scratch run (default: efficientnet_lite0 offline)")
    filters.add_argument("--out", default="filters.png", metavar="PNG")
    filters.set_defaults(func=_filters)

    maps = sub.add_parser("feature-maps", help="what each stage sees: a few feature maps per stage for one picture, "
                                               "the ImageNet backbone next to a model from scratch")
    maps.add_argument("--image", required=True, metavar="IMAGE")
    maps.add_argument("--model", choices=PRETRAINED_MODELS, help="the pretrained backbone (default: this machine's)")
    maps.add_argument("--job", metavar="JOB", help="a finished scratch run to show beside it (default: the same "
                                                   "network with random weights)")
    maps.add_argument("--img-size", type=int, default=96)
    maps.add_argument("--out", default="maps.png", metavar="PNG")
    maps.set_defaults(func=_maps)

    probe = sub.add_parser("probe", help="how general is each stage: a logistic regression on the frozen features "
                                         "after every stage, test accuracy per stage")
    probe.add_argument("--data", default="scenes", help="folder, .zip, or 'scenes' (generated, the default)")
    probe.add_argument("--model", choices=PRETRAINED_MODELS, help="the pretrained backbone (default: this machine's)")
    probe.add_argument("--img-size", type=int, default=96)
    probe.add_argument("--scratch", default="random", metavar="JOB",
                       help="the scratch side: 'random' (same network, random weights; the default), a finished "
                            "scratch run's job id or folder, or 'none'")
    probe.add_argument("--shuffle-labels", action="store_true",
                       help="the control: shuffled training labels (test accuracy should fall to chance)")
    probe.add_argument("--seed", type=int, default=0)
    probe.add_argument("--out", default="probe.json", metavar="JSON")
    probe.set_defaults(func=_probe)

    unfreeze = sub.add_parser("unfreeze", help="how deep to unfreeze: fine-tune from the frozen run with the last k "
                                               "blocks unfrozen (lr 1e-4), test accuracy / weights / time per k")
    unfreeze.add_argument("--data", default="scenes", help="folder, .zip, or 'scenes' (generated, the default)")
    unfreeze.add_argument("--model", choices=PRETRAINED_MODELS, help="the pretrained backbone (default: this machine's)")
    unfreeze.add_argument("--blocks", nargs="+", default=["0", "1", "2", "all"], metavar="K",
                          help="numbers of last blocks to unfreeze, or 'all' (default 0 1 2 all)")
    unfreeze.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs per k (default 2)")
    unfreeze.add_argument("--frozen-epochs", type=int, default=3, help="epochs of the frozen run's head (default 3)")
    unfreeze.add_argument("--img-size", type=int, default=96)
    unfreeze.add_argument("--batch-size", type=int, default=32)
    unfreeze.add_argument("--seed", type=int, default=0)
    unfreeze.add_argument("--device", help="cpu, cuda, mps (default: the fastest present)")
    unfreeze.add_argument("--out", metavar="DIR", help="folder for the jobs and result files (default: the work folder)")
    unfreeze.set_defaults(func=_unfreeze)


def _save_png(image, out: Path) -> Path:
    from vision_demo.errors import VisionDemoError

    out = out.expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, format="PNG")
    except (OSError, ValueError) as err:
        raise VisionDemoError(f"cannot write {out} ({getattr(err, 'strerror', None) or err}): "
                              "give --out a writable .png path") from None
    return out


def _write_json(out: Path, data) -> Path:
    from vision_demo.errors import VisionDemoError

    out = out.expanduser()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data, indent=1))
    except OSError as err:
        raise VisionDemoError(f"cannot write {out} ({err.strerror or err}): give --out a writable path") from None
    return out


def _filters(args: argparse.Namespace) -> int:
    from vision_demo.classify.filters import caption, job_filters, panels_image

    panels = job_filters(args.job, backbone=args.backbone)
    out = _save_png(panels_image(panels), Path(args.out))
    for panel in panels.panels:
        print(f"{panel.title}: {len(panel.tiles)} filters {'x'.join(map(str, panel.shape[1:]))}")
    print(caption(panels))
    print(f"filters: {out}")
    return 0


def _maps(args: argparse.Namespace) -> int:
    from vision_demo.classify.feature_maps import compare_maps
    from vision_demo.classify.pretrained import default_backbone

    image, sides = compare_maps(Path(args.image).expanduser(), args.model or default_backbone(), args.img_size,
                                scratch_job=args.job)
    out = _save_png(image, Path(args.out))
    for title, maps in sides:
        print(f"{title}: " + ", ".join(f"{m.stage} {m.channels}x{m.size[0]}x{m.size[1]}" for m in maps))
    print(f"feature maps: {out}")
    return 0


def _run_job(registry, job_id: str):
    from vision_demo.commands.printer import printing, wait_for
    from vision_demo.errors import VisionDemoError

    with printing(registry, [job_id]):
        [state] = wait_for(registry, [job_id])
    if state.status != "finished":
        raise VisionDemoError(f"{state.name} {state.status}: {state.error or state.message}")
    return state


def _probe(args: argparse.Namespace) -> int:
    from vision_demo.classify.probe import ProbeConfig, submit_probe, summary
    from vision_demo.jobs import default_registry

    scratch = "" if args.scratch.lower() == "none" else args.scratch
    config = ProbeConfig(data=args.data, model=args.model, img_size=args.img_size, seed=args.seed, scratch=scratch,
                         shuffle_labels=args.shuffle_labels)
    registry = default_registry()
    t0 = time.perf_counter()
    state = _run_job(registry, submit_probe(registry, config))
    result = state.result
    out = _write_json(Path(args.out), result)
    print(f"stage        channels  size     test acc   {result['scratch_label'] or ''}")
    scratch_rows = {r["stage"]: r for r in result["scratch"]}
    for row in result["pretrained"]:
        other = scratch_rows.get(row["stage"])
        print(f"{row['stage']:<12} {row['channels']:>8}  {row['size'][0]:>3}x{row['size'][1]:<3}  {row['test_acc']:>8.1%}"
              + (f"   {other['test_acc']:.1%}" if other else ""))
    print(summary(result))
    print(f"probe: {out}  (total {time.perf_counter() - t0:.0f} s)")
    return 0


def _unfreeze(args: argparse.Namespace) -> int:
    from vision_demo import settings
    from vision_demo.classify.unfreeze import frozen_row, submit_unfreeze, summary, unfreeze_rows
    from vision_demo.commands.classify import _fail_if_any, _registry
    from vision_demo.commands.printer import printing, wait_for

    registry = _registry(args.out)
    t0 = time.perf_counter()
    job_ids = submit_unfreeze(registry, data=args.data, model=args.model, blocks=args.blocks, epochs=args.epochs,
                              frozen_epochs=args.frozen_epochs, img_size=args.img_size, batch_size=args.batch_size,
                              seed=args.seed, device=args.device)
    print(f"queued {len(job_ids)} jobs (the frozen run, then one per k) under {registry.root}", flush=True)
    with printing(registry, job_ids, every=30.0):
        states = wait_for(registry, job_ids)
    _fail_if_any(states)
    out = Path(args.out).expanduser() if args.out else settings.subdir("runs", time.strftime("unfreeze-%Y%m%d-%H%M%S"))
    rows, frozen = unfreeze_rows(states), frozen_row(states)
    for state in states:
        r = state.result
        folder = "frozen" if r.get("unfreeze_blocks") is None else f"k{r['unfreeze_blocks']}"
        _write_json(out / folder / "result.json", r)
    total = time.perf_counter() - t0
    _write_json(out / "unfreeze.json", {"data": args.data, "model": states[0].result["model"], "frozen": frozen,
                                        "runs": rows, "total_seconds": total})
    print("k     trainable weights  test acc  wall s  modules")
    print(f"{'frozen':<6}{frozen['trainable_params']:>17,}  {frozen['test_acc']:>8.1%}  {frozen['wall_seconds']:>6.1f}  head")
    for row in rows:
        k = "all" if row["all"] else str(row["k"])
        print(f"{k:<6}{row['trainable_params']:>17,}  {row['test_acc']:>8.1%}  {row['wall_seconds']:>6.1f}  "
              + (", ".join(row["blocks"]) or "head only"))
    print(summary(rows, frozen))
    print(f"unfreeze: {out / 'unfreeze.json'}  (total {total:.0f} s)")
    return 0
