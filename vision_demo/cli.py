"""`python -m vision_demo …`: the command line. One subcommand, one module in vision_demo/commands.

    python -m vision_demo data scenes /tmp/scenes --per-class 40 --size 128
    python -m vision_demo compare --data /tmp/scenes --epochs 3 --img-size 96
    python -m vision_demo detect bus.jpg --json boxes.json

`main(argv) -> int` is what the tests call. A `VisionDemoError` is one line on stderr and exit 1;
anything unexpected is one line and exit 3, with the traceback in WORK/logs/cli-error.log.
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback

from vision_demo import settings
from vision_demo.errors import VisionDemoError


class OneLineParser(argparse.ArgumentParser):
    """A bad option is one line on stderr and exit 2 (argparse would print the whole usage first).

    Subcommand parsers inherit the class (argparse's add_subparsers uses type(self)).
    """

    def __init__(self, *args, **kwargs):
        # No abbreviations: `gradcam --job X` must not be read as the top-level --job-cpus / --job-gpus.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """--executor, --job-cpus, --job-gpus: where training jobs run (the CLI's and app.py's common options)."""
    parser.add_argument("--executor", default=None, metavar="WHERE",
                        help="where training jobs run: local (this process, the default), ray:HOST:PORT (a Ray head) "
                             "or ray:auto (default: $VISION_DEMO_EXECUTOR or local)")
    parser.add_argument("--job-cpus", type=float, default=None, metavar="N",
                        help="with a Ray executor: CPUs (torch threads) per job (default: $VISION_DEMO_JOB_CPUS or 2)")
    parser.add_argument("--job-gpus", type=float, default=None, metavar="N",
                        help="with a Ray executor: GPUs per job, e.g. 1 or 0.5 (default: $VISION_DEMO_JOB_GPUS or 0)")


def build_parser() -> argparse.ArgumentParser:
    from vision_demo.commands import captured, classify, data, detect, gradcam, inside, objects, prefetch
    from vision_demo.commands import export as export_command

    parser = OneLineParser(prog="python -m vision_demo",
                                     description="Transfer learning and one-pass detection, from the command line.")
    parser.add_argument("--work-dir", help="folder for everything written (default: $VISION_DEMO_HOME or ./vision_demo_work)")
    parser.add_argument("--online", action="store_true",
                        help="allow downloads (ResNet-18 ImageNet weights, yolov8n.pt, Kaggle data); offline is the default")
    add_executor_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.register(sub)
    classify.register(sub)
    detect.register(sub)
    prefetch.register(sub)
    export_command.register(sub)
    captured.register(sub)
    objects.register(sub)
    gradcam.register(sub)
    inside.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings.configure(work=args.work_dir, online_mode=True if args.online else None, executor_spec=args.executor,
                       cpus_per_job=args.job_cpus, gpus_per_job=args.job_gpus)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except VisionDemoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line here, the whole story in the log
        log_path = settings.subdir("logs") / "cli-error.log"
        log_path.write_text(traceback.format_exc())
        print(f"internal error: {type(err).__name__}: {err} (traceback in {log_path})", file=sys.stderr)
        return 3
