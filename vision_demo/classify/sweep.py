"""When does pretraining matter most: the same runs on 10 %, 25 %, 50 % and 100 % of the training images.

    from vision_demo.classify.sweep import submit_sweep, sweep_rows
    ids = submit_sweep(registry, data="scenes", fractions=(0.1, 0.25, 0.5, 1.0))
    rows = sweep_rows(registry.snapshot(ids))     # [{fraction, model, strategy, train_images, test_acc}, ...]

    python -m vision_demo sweep --fractions 0.1 0.25 0.5 1 --out runs/sweep

By default the pretrained backbone frozen (feature extraction) against the small CNN from scratch, with the
same epochs: with few pictures the scratch model has too little to learn edges and textures from, and the
ImageNet features already have them, so the gap is widest at the smallest fraction. The subsets are
stratified and seeded (classify.train's train_fraction): each smaller one is part of the larger ones, and
the test images are always all of them.
"""
from __future__ import annotations

from typing import Any

from vision_demo.classify.catalog import is_pretrained_strategy
from vision_demo.errors import VisionDemoError

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def default_runs() -> list[tuple[str, str]]:
    from vision_demo.classify.pretrained import default_backbone

    return [(default_backbone(), "frozen"), ("simple_cnn", "scratch")]


def submit_sweep(registry, data: str = "scenes", fractions=DEFAULT_FRACTIONS, runs=None, epochs: int = 3,
                 img_size: int = 96, batch_size: int = 32, owner: str | None = None, **kw: Any) -> list[str]:
    """Queue every (fraction, model, strategy) run, smallest fraction first; returns the job ids."""
    from vision_demo.classify.train import TrainConfig, submit, validate_config

    fractions = sorted({float(f) for f in fractions})
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise VisionDemoError(f"fractions must be in (0, 1], e.g. 0.1 0.25 0.5 1, not {fractions}")
    configs = [TrainConfig(data=data, model=model, strategy=strategy, epochs=epochs, img_size=img_size,
                           batch_size=batch_size, train_fraction=f, **kw)
               for f in fractions for model, strategy in (runs or default_runs())]
    for config in configs:   # all checked before any is queued
        validate_config(config)
    return [submit(registry, config, owner=owner) for config in configs]


def sweep_rows(states) -> list[dict]:
    """One row per finished run of a sweep: fraction, model, strategy, train_images, test_acc."""
    rows = []
    for s in states:
        r = s.result or {}
        if s.status == "finished" and r:
            rows.append({"fraction": r.get("train_fraction", 1.0), "model": r["model"], "strategy": r["strategy"],
                         "train_images": r.get("train_images"), "test_acc": r["test_acc"], "job_id": s.id})
    return sorted(rows, key=lambda row: (row["fraction"], row["model"]))


def gaps(rows: list[dict]) -> dict[float, float]:
    """Per fraction: the best pretrained run's test accuracy minus the best scratch run's (in points of 0..1)."""
    out = {}
    for f in sorted({row["fraction"] for row in rows}):
        pre = [row["test_acc"] for row in rows if row["fraction"] == f and is_pretrained_strategy(row["strategy"])]
        scratch = [row["test_acc"] for row in rows if row["fraction"] == f and not is_pretrained_strategy(row["strategy"])]
        if pre and scratch:
            out[f] = max(pre) - max(scratch)
    return out
