"""How long "Compare all four" takes on this machine, measured before it starts; and how many images per class
fit a class period.

A big data set does not fit a lesson: Kaggle's Intel set (14,034 training images) takes ~17 minutes for the four
runs on a 2-core laptop at 96 px. So before it starts, this times a few real batches of each run on the chosen
set (decode, resize, forward, backward, step: what the job does), multiplies by the batches the runs will do, and
solves for the `--per-class N` (a seeded subset, TrainConfig.per_class) whose compare fits the budget.

    from vision_demo.classify.compare_time import measure_compare
    estimate = measure_compare("path/to/intel", img_size=96, batch_size=32)   # a few seconds on a CPU
    estimate.seconds(epochs=3)                   # the four runs, all images, on this machine
    estimate.per_class_for(120, epochs=3)        # the N that fits 2 minutes (None: the whole set fits)
    estimate.seconds(epochs=3, per_class=120)

Each run's cost, per epoch: its training batches x its measured step, plus the test batches x its measured forward
(every epoch ends with an evaluation on the test split). The frozen run is one forward over the training and test
images (its features are computed once; the head's epochs on stored features cost next to nothing). Once per run:
the model build (measured) and loading the data (measured). The test split is never cut, so it sets a floor.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

from vision_demo.classify.catalog import BACKBONE, PRESETS, model_label, strategy_spec
from vision_demo.errors import VisionDemoError

MEASURED_BATCHES = 2      # timed batches per run, after one untimed (the first batch pays for lazy set-up)
PRESET = "Compare all four"


@dataclass
class RunCost:
    """One run of the compare, as measured: seconds per training step and per forward (a batch each)."""
    label: str
    strategy: str
    step_seconds: float       # one training batch: decode + forward + backward + optimizer step (0: frozen)
    forward_seconds: float    # one evaluation batch: decode + forward, no gradients
    build_seconds: float      # building the model (and loading its ImageNet weights)
    features_once: bool       # frozen: one forward over train + test, then a head on stored features


@dataclass
class CompareEstimate:
    """What `measure_compare` measured on this machine, and the time of the compare for any epochs / subset."""
    data: str
    batch_size: int
    img_size: int
    train_per_class: dict[str, int]          # class -> training images (all of them)
    test_images: int
    load_seconds: float                      # reading the data set's file list, paid by every run
    runs: list[RunCost] = field(default_factory=list)
    batches_measured: int = 0                # timed batches in all (what the figure is measured from)
    measure_seconds: float = 0.0             # how long measuring took

    @property
    def train_images(self) -> int:
        return sum(self.train_per_class.values())

    def train_images_with(self, per_class: int | None) -> int:
        return sum(self.train_per_class.values()) if not per_class else \
            sum(min(n, int(per_class)) for n in self.train_per_class.values())

    def run_seconds(self, run: RunCost, epochs: int, per_class: int | None = None) -> float:
        bs = self.batch_size
        train_batches = math.ceil(self.train_images_with(per_class) / bs)
        test_batches = math.ceil(self.test_images / bs)
        once = self.load_seconds + run.build_seconds
        if run.features_once:
            return once + (train_batches + test_batches) * run.forward_seconds
        return once + int(epochs) * (train_batches * run.step_seconds + test_batches * run.forward_seconds)

    def seconds(self, epochs: int, per_class: int | None = None) -> float:
        """The whole compare, one run after another (a CPU has one worker)."""
        return sum(self.run_seconds(r, epochs, per_class) for r in self.runs)

    def per_class_for(self, budget_seconds: float, epochs: int) -> int | None:
        """The largest N images per class whose compare fits `budget_seconds`; None when the whole set fits.
        VisionDemoError when not even one image per class fits (the test split alone takes longer)."""
        if self.seconds(epochs) <= budget_seconds:
            return None
        low, high = 1, max(self.train_per_class.values())   # seconds() grows with N: bisect
        if self.seconds(epochs, low) > budget_seconds:
            floor = self.seconds(epochs, low)
            raise VisionDemoError(f"even 1 image per class takes about {floor:.0f} s here (the {self.test_images} "
                                  f"test images are evaluated every epoch): use fewer epochs or a smaller image size")
        while low < high:
            mid = (low + high + 1) // 2
            if self.seconds(epochs, mid) <= budget_seconds:
                low = mid
            else:
                high = mid - 1
        return _round_down(low)


def _round_down(n: int) -> int:
    """A number a teacher reads out: 137 -> 130, 1234 -> 1200 (never up: it must still fit)."""
    if n < 20:
        return n
    step = 10 ** (len(str(n)) - 2)
    return n // step * step


def _timed(fn, batches) -> float:
    """Median seconds of fn(batch) over the timed batches (the first one is run untimed before)."""
    fn(batches[0])
    times = []
    for batch in batches[1:]:
        t0 = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def measure_compare(data: str = "scenes", img_size: int = 96, batch_size: int = 32, backbone: str | None = None,
                    normalize: bool = True, batches: int = MEASURED_BATCHES, seed: int = 0,
                    device: str | None = None) -> CompareEstimate:
    """Time `batches` real batches of each run of "Compare all four" on `data` (after one untimed batch each).

    Images are decoded from the set itself (a sample drawn with `seed`), through the job's own transforms and
    loader, so slow disks and large JPEGs count. Seconds on a CPU shared with nothing else: 3 models x 3 batches.
    """
    import torch
    from torch import nn

    from vision_demo import devices
    from vision_demo.classify.inputs import ImageListDataset, build_transform
    from vision_demo.classify.loop import make_loader
    from vision_demo.classify.models import apply_strategy, build_model, set_train_mode
    from vision_demo.classify.pretrained import default_backbone
    from vision_demo.datasets import archive
    from vision_demo.datasets.imagefolder import load_dataset

    started = time.perf_counter()
    devices.use_all_cores()   # as the job does: a detection in this process may have left torch one thread
    backbone = backbone or default_backbone()
    with archive.using(data):
        t0 = time.perf_counter()
        ds = load_dataset(None if data in (None, "", "scenes") else data)
        load_seconds = time.perf_counter() - t0
        if not ds.train or not ds.test:
            raise VisionDemoError(f"the data set needs training and test images: found {len(ds.train)} / {len(ds.test)}")
        counts = ds.counts()
        device_ = devices.pick_device(device)
        sample = random.Random(seed).sample(ds.train, min(len(ds.train), (batches + 1) * batch_size))

        def loaded(train: bool):
            tf = build_transform(img_size, normalize=normalize, train=train)
            loader = make_loader(ImageListDataset(sample, tf, report=ds.report), batch_size, False, device_, seed)
            return [(x.to(device_), y.to(device_)) for x, y in loader]   # decoding is timed once per transform

        train_batches = loaded(True)      # (pays for the first decode's imports and caches)
        t0 = time.perf_counter()
        eval_batches = loaded(False)
        decode = (time.perf_counter() - t0) / max(len(eval_batches), 1)   # seconds to decode a batch
        # Every timed batch is one real batch size (a short last one would read fast): repeat the full ones.
        full = [b for b in train_batches if len(b[1]) == batch_size] or train_batches
        train_batches = (full * (batches + 1))[:batches + 1]
        full = [b for b in eval_batches if len(b[1]) == batch_size] or eval_batches
        eval_batches = (full * (batches + 1))[:batches + 1]

        criterion, runs, built = nn.CrossEntropyLoss(), [], {}
        for kwargs in PRESETS[PRESET]:
            name = backbone if kwargs["model"] == BACKBONE else kwargs["model"]
            strategy, spec = kwargs["strategy"], strategy_spec(kwargs["strategy"])
            if name not in built:   # the frozen and fine-tuned runs share one build (the job builds each once)
                t0 = time.perf_counter()
                model, _ = build_model(name, len(ds.classes), pretrained=spec.pretrained)
                built[name] = (model.to(device_), time.perf_counter() - t0)
            model, build_seconds = built[name]
            params = apply_strategy(model, name, strategy)
            optimizer = torch.optim.Adam(params, lr=1e-4)   # the rate does not change the time of a step

            def forward(batch, model=model):
                model.eval()
                with torch.no_grad():
                    model(batch[0])

            def step(batch, model=model, optimizer=optimizer, strategy=strategy):
                set_train_mode(model, strategy)
                optimizer.zero_grad(set_to_none=True)
                criterion(model(batch[0]), batch[1]).backward()
                optimizer.step()

            forward_seconds = _timed(forward, eval_batches) + decode
            step_seconds = 0.0 if spec.features_once else _timed(step, train_batches) + decode
            runs.append(RunCost(model_label(name, strategy), strategy, step_seconds, forward_seconds, build_seconds,
                                spec.features_once))
    timed = sum(batches * (1 if r.features_once else 2) for r in runs)
    return CompareEstimate(str(data), int(batch_size), int(img_size), counts["train"], len(ds.test), load_seconds,
                           runs, timed, time.perf_counter() - started)


__all__ = ["CompareEstimate", "RunCost", "measure_compare", "MEASURED_BATCHES"]
