"""How deep to unfreeze: fine-tune from the frozen run with the last k blocks unfrozen, k = 0, 1, 2, ... all.

The lesson's rule of thumb, "start with feature extraction, then progressively unfreeze the deepest blocks",
as a measurement: one frozen run (its head trained on features computed once, the feature cache), then one
ordinary classification job per k that starts from it (`init_from`) with `unfreeze_blocks=k` and lr 1e-4.
Test accuracy, trainable weights and wall time per k come back in each job's result.

    from vision_demo.classify.unfreeze import submit_unfreeze, unfreeze_rows
    ids = submit_unfreeze(registry, data="scenes", model="efficientnet_lite0", blocks=(0, 1, 2, "all"))
    rows = unfreeze_rows(registry.snapshot(ids))   # [{k, modules, trainable_params, test_acc, wall_seconds}, ...]

    python -m vision_demo unfreeze --data scenes --blocks 0 1 2 all --epochs 2 --out runs/unfreeze

The blocks of each backbone are in its catalogue entry (classify/catalog.py, `blocks`): EfficientNet-Lite0's
stem, its 7 stages and its head convolution; ResNet-18's stem and layer1-4. k = 0 trains the head alone
(continuing the frozen run at the smaller lr), k = "all" every weight.
"""
from __future__ import annotations

from typing import Any

from vision_demo.classify.catalog import CATALOG, PRETRAINED_MODELS
from vision_demo.errors import VisionDemoError

DEFAULT_BLOCKS = (0, 1, 2, "all")
FINETUNE_LR = 1e-4   # the lesson's: weights that are already good move in 10x smaller steps than a new head's


def parse_blocks(model: str, blocks) -> list[int]:
    """(0, "1", "all") -> sorted distinct ints in 0..len(blocks); "all" is every block of `model`."""
    if model not in PRETRAINED_MODELS:
        raise VisionDemoError(f"unfreezing starts from ImageNet weights and {model} has none: use one of "
                              f"{', '.join(PRETRAINED_MODELS)}")
    n = len(CATALOG[model].blocks)
    out = set()
    for value in blocks or ():
        text = str(value).strip().lower()
        if text == "all":
            out.add(n)
            continue
        try:
            k = int(text)
        except ValueError:
            raise VisionDemoError(f"--blocks takes numbers of blocks or 'all' (e.g. 0 1 2 all), not {value!r}") from None
        if not 0 <= k <= n:
            raise VisionDemoError(f"{model} has {n} blocks: unfreeze 0 (the head only) to {n} (or 'all'), not {k}")
        out.add(k)
    if not out:
        raise VisionDemoError("give at least one number of blocks to unfreeze, e.g. 0 1 2 all")
    return sorted(out)


def submit_unfreeze(registry, data: str = "scenes", model: str | None = None, blocks=DEFAULT_BLOCKS,
                    epochs: int = 2, img_size: int = 96, batch_size: int = 32, frozen_epochs: int = 3,
                    owner: str | None = None, **kw: Any) -> list[str]:
    """Queue the frozen run, then one fine-tune job per k starting from it; returns all the ids, frozen first.
    Every option is checked before anything is queued."""
    from vision_demo.classify.pretrained import default_backbone
    from vision_demo.classify.train import TrainConfig, submit, validate_config

    model = model or default_backbone()
    ks = parse_blocks(model, blocks)
    common = dict(data=data, model=model, img_size=img_size, batch_size=batch_size, **kw)
    frozen = TrainConfig(strategy="frozen", epochs=frozen_epochs, cache_features=True, **common)
    tuned = [TrainConfig(strategy="finetune", epochs=epochs, lr=FINETUNE_LR, unfreeze_blocks=k, **common)
             for k in ks]
    validate_config(frozen)
    for config in tuned:
        validate_config(config)   # (before init_from is set: the frozen job does not exist yet)
    frozen_id = submit(registry, frozen, owner=owner)
    ids = [frozen_id]
    for config in tuned:
        config.init_from = frozen_id
        ids.append(submit(registry, config, owner=owner))
    return ids


def unfreeze_rows(states) -> list[dict]:
    """One row per finished fine-tune job of a sweep, by k: the modules it trained, trainable weights, test
    accuracy, wall seconds; the frozen run it started from is left out (it is the row before k = 0)."""
    rows = []
    for s in states:
        r = s.result or {}
        if s.status != "finished" or r.get("unfreeze_blocks") is None:
            continue
        spec = CATALOG[r["model"]]
        k = int(r["unfreeze_blocks"])
        rows.append({"k": k, "all": k == len(spec.blocks), "blocks": list(spec.blocks[len(spec.blocks) - k:] if k else []),
                     "modules": list(spec.last_blocks(k)), "model": r["model"],
                     "trainable_params": r["trainable_params"], "total_params": r["total_params"],
                     "test_acc": r["test_acc"], "wall_seconds": r["wall_seconds"], "epochs": len(r.get("epochs", [])),
                     "job_id": s.id})
    return sorted(rows, key=lambda row: row["k"])


def frozen_row(states) -> dict | None:
    """The frozen run the sweep started from (test accuracy of the head alone on stored features)."""
    for s in states:
        r = s.result or {}
        if s.status == "finished" and r.get("strategy") == "frozen":
            return {"test_acc": r["test_acc"], "wall_seconds": r["wall_seconds"],
                    "trainable_params": r["trainable_params"], "job_id": s.id}
    return None


def summary(rows: list[dict], frozen: dict | None = None) -> str:
    """One line a teacher can read out: the best k, and what the deepest unfreezing cost."""
    if not rows:
        return "no finished fine-tune run yet"
    best = max(rows, key=lambda r: (r["test_acc"], -r["k"]))
    parts = []
    if frozen:
        parts.append(f"frozen {frozen['test_acc']:.1%}")
    parts += [f"k={'all' if r['all'] else r['k']} {r['test_acc']:.1%} ({r['trainable_params']:,} weights, "
              f"{r['wall_seconds']:.0f} s)" for r in rows]
    which = f"all {best['k']} blocks" if best["all"] else ("the head alone" if best["k"] == 0 else
                                                          f"the last {best['k']} block(s)")
    return (f"best: {which} unfrozen, {best['test_acc']:.1%} test accuracy. "
            + "; ".join(parts))
