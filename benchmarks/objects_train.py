"""How long "Your objects" trains, and how well, for 2 classes x 20 webcam-like pictures (the issue's target:
<= 3 minutes on the 2-core CPU). Prints one line per recipe: epochs, freeze, seconds, mAP50, mAP50-95.

    VISION_DEMO_HOME=/tmp/bench-objects python benchmarks/objects_train.py                 # the default recipe
    VISION_DEMO_HOME=/tmp/bench-objects python benchmarks/objects_train.py 10:0 10:10 15:10  # epochs:freeze ...

The pictures come from tests/objects_scene.py (an orange ball and a blue book on a noisy desk, one object per
picture, 20 of each), so every run sees the same set.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main(argv: list[str]) -> int:
    from vision_demo import settings
    settings.configure()
    from objects_scene import scene
    from vision_demo.datasets.objects import ObjectSet, new_set_id
    from vision_demo.detect import objects as recipe
    from vision_demo.jobs import JobRegistry

    s = ObjectSet.for_id(new_set_id())
    s.set_classes("ball, book")
    for i in range(40):
        img, boxes = scene(1000 + i, jitter=60, ball=i % 2 == 0, book=i % 2 == 1)
        s.add(img, boxes=boxes)
    registry = JobRegistry(settings.subdir("bench-jobs"))
    # epochs:freeze[:batch[:step]] — step 1: an optimizer step per batch, no warm-up; 0 (the recipe): Ultralytics'
    # defaults (a step per 64 images, 100 warm-up steps)
    runs = [[int(v) for v in a.split(":")] for a in argv] or [[recipe.EPOCHS, recipe.FREEZE]]
    for epochs, freeze, *more in runs:
        batch, step = (more + [recipe.BATCH, 0][len(more):])[:2]
        t0 = time.perf_counter()
        [job] = recipe.submit_objects(registry, s, epochs=epochs, freeze=freeze, batch=batch,
                                      step_every_batch=bool(step))
        state = registry.wait(job)
        r = state.result or {}
        curve = " ".join(f"{h['map50']:.2f}" for h in r.get("epochs", []))
        print(f"epochs {epochs:>2} freeze {freeze:>2} batch {batch:>2} step/batch {step}: {time.perf_counter() - t0:6.1f} s  {state.status}  "
              f"mAP50 {r.get('map50', 0):.3f}  mAP50-95 {r.get('map50_95', 0):.3f}  curve {curve}  {state.error or ''}",
              flush=True)
    registry.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
