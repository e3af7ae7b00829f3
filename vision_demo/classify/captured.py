"""One click trains "Your classes": the pretrained backbone frozen (features computed once: seconds), and if
asked, fine-tuned from it and a small CNN from scratch for contrast. The jobs are ordinary classification
jobs (classify/train.py) of their own kind, KIND, so they stay on the page of the student whose pictures
they learnt from (the Train & compare tab lists only its own kind).

    ids = submit_captured(registry, "WORK/captured/<set id>", finetune=True, scratch=True)
    python -m vision_demo classes train <set id or folder> --finetune --scratch

Why these settings: ~30 pictures a class is little data, so the ImageNet backbone does the seeing and only a
linear head (a few thousand weights) learns; its features are computed once, so 20 head epochs cost almost
nothing. 128 px: the CPU extracts features ~4x faster than at 224, and a hand or a face fills the frame.
"""
from __future__ import annotations

from pathlib import Path

from vision_demo.errors import VisionDemoError

KIND = "captured"           # the jobs' kind in the registry (not "classify": see the docstring)
IMG_SIZE = 128
MIN_PER_CLASS = 4           # 20 % of them (at least one) is held out to measure the accuracy
# (model, strategy, epochs, batch size). The frozen head trains on stored features: epochs are milliseconds.
# Fine-tuning moves ImageNet weights with a 10x smaller lr (1e-4): 3 epochs adapt them without wrecking them.
# The scratch CNN gets more epochs and still loses: it has only these pictures to learn to see from.
FROZEN = ("frozen", 20, 16)
FINETUNE = ("finetune", 3, 16)
SCRATCH = ("simple_cnn", "scratch", 12, 16)


def check_trainable(folder) -> dict[str, int]:
    """{class: pictures} of the folder's class folders; VisionDemoError when a class has too few to train and
    test on, naming it."""
    from vision_demo.datasets.captured import CapturedSet
    from vision_demo.datasets.imagefolder import load_dataset

    if CapturedSet(Path(folder)).is_captured():   # a webcam set: every class it names counts, empty ones too
        counts = CapturedSet(Path(folder)).counts()
    else:
        data = load_dataset(str(folder))
        counts = {c: data.counts()["train"][c] + data.counts()["test"][c] for c in data.classes}
    few = [f"{c} ({n})" for c, n in counts.items() if n < MIN_PER_CLASS]
    if few:
        raise VisionDemoError(f"each class needs at least {MIN_PER_CLASS} pictures to train and test on: capture "
                              f"more of {', '.join(few)}")
    return counts


def submit_captured(registry, folder, finetune: bool = False, scratch: bool = False, owner: str | None = None,
                    backbone: str | None = None, img_size: int = IMG_SIZE, seed: int = 0) -> list[str]:
    """Queue the frozen run (and fine-tuning from it, and the scratch CNN) on a folder of class folders;
    returns the job ids at once. VisionDemoError before anything is queued when the data cannot train."""
    from vision_demo.classify.catalog import model_label
    from vision_demo.classify.pretrained import default_backbone
    from vision_demo.classify.train import TrainConfig, submit, validate_config

    folder = str(Path(folder))
    check_trainable(folder)
    backbone = backbone or default_backbone()
    strategy, epochs, batch = FROZEN
    frozen = TrainConfig(data=folder, model=backbone, strategy=strategy, epochs=epochs, batch_size=batch,
                         img_size=img_size, seed=seed, name=model_label(backbone, strategy))
    configs = [frozen]
    if scratch:
        model, strategy, epochs, batch = SCRATCH
        configs.append(TrainConfig(data=folder, model=model, strategy=strategy, epochs=epochs, batch_size=batch,
                                   img_size=img_size, seed=seed, name=model_label(model, strategy)))
    for config in configs:
        validate_config(config)
    ids = [submit(registry, frozen, owner=owner, kind=KIND)]
    if finetune:   # starts from the frozen run's trained head: queued after it, waits for it
        strategy, epochs, batch = FINETUNE
        ids.append(submit(registry, TrainConfig(data=folder, model=backbone, strategy=strategy, epochs=epochs,
                                                batch_size=batch, img_size=img_size, seed=seed, init_from=ids[0],
                                                name=model_label(backbone, "fine-tuned")),
                          owner=owner, kind=KIND))
    ids += [submit(registry, config, owner=owner, kind=KIND) for config in configs[1:]]
    return ids


def jobs_of(registry, folder) -> list:
    """The registry's jobs that trained on this folder (oldest first): a set's results after a reload or restart."""
    folder = str(Path(folder))
    return [s for s in registry.snapshot(kind=KIND) if str(s.config.get("data")) == folder]


def best_job(states) -> str | None:
    """The finished job to predict with: the highest test accuracy, the newest on a tie."""
    done = [s for s in states if s.status == "finished" and s.result]
    if not done:
        return None
    return max(done, key=lambda s: (s.result.get("test_acc", 0.0), s.ended or 0)).id
