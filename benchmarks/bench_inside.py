"""Inside the model from the CLI, on the default offline data (the generated scenes), timed: what a teacher runs.

    VISION_DEMO_HOME=/tmp/bench-inside python benchmarks/bench_inside.py [--out runs/inside]

1) a model from scratch to look at (EfficientNet-Lite0, 3 epochs at 96 px) and its filters next to ImageNet's;
2) the feature maps of one test picture; 3) the linear probe per stage; 4) the unfreeze sweep k = 0 1 2 all.
Each step is its own `python -m vision_demo ...` process (the import of torch included), as a teacher types it.
Prints the seconds of each and the total (goal: under 3 minutes on a 2-core CPU), and the figures.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vision_demo", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return seconds, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/inside")
    parser.add_argument("--img-size", default="96")
    args = parser.parse_args()
    out = Path(args.out)
    times = {}
    t0 = time.perf_counter()   # the default offline data (40 train / 30 test per class at 128 px), drawn once
    scenes = subprocess.run([sys.executable, "-c", "from vision_demo.datasets.scenes import default_scenes; "
                             "print(default_scenes())"], capture_output=True, text=True, check=True).stdout.strip()
    times["0 data: the default scenes"] = time.perf_counter() - t0
    data = "scenes"
    times["1a train from scratch (3 epochs)"], _ = run(["train", "--data", data, "--model", "efficientnet_lite0",
                                                        "--strategy", "scratch", "--epochs", "3", "--img-size",
                                                        args.img_size, "--out", str(out / "scratch")])
    times["1b filters"], text = run(["filters", "--job", str(out / "scratch"), "--out", str(out / "filters.png")])
    print(text.strip())
    picture = sorted((Path(scenes) / "test" / "forest").iterdir())[0]
    times["2 feature maps"], text = run(["feature-maps", "--image", str(picture), "--job", str(out / "scratch"),
                                         "--img-size", args.img_size, "--out", str(out / "maps.png")])
    times["3 probe"], text = run(["probe", "--data", data, "--img-size", args.img_size, "--out",
                                  str(out / "probe.json")])
    print(text.strip())
    times["4 unfreeze 0 1 2 all"], text = run(["unfreeze", "--data", data, "--blocks", "0", "1", "2", "all",
                                               "--img-size", args.img_size, "--out", str(out / "unfreeze")])
    print(text.strip())
    print()
    for step, seconds in times.items():
        print(f"{step:<36} {seconds:6.1f} s")
    total = sum(s for k, s in times.items() if not k.startswith("0"))
    print(f"{'all four (without making the data)':<36} {total:6.1f} s  (goal < 180 s)")
    (out / "bench_inside.json").write_text(json.dumps({"seconds": times, "total": total}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
