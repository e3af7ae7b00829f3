"""Does the generated scenes set teach the lesson? Prints the figures; asserts nothing.

    python benchmarks/bench_scenes.py                       # 40 train / 30 test per class, 128 px, seed 0
    python benchmarks/bench_scenes.py --seeds 0 1 2 --size 96 --epochs 4

For each seed it (1) times the generation, then trains on the same split:
  a) colour histogram (8x8x8 RGB bins) + logistic regression: colour alone should NOT separate the classes;
  b) EfficientNet-Lite0, ImageNet weights frozen, features computed once + logistic regression (~ the "frozen" strategy);
  c) the small CNN from scratch, Adam 1e-3, a few epochs (~ the "scratch" strategy).
The lesson holds when b) is far above a) and c).

Measured here (2 CPU cores, generator version 3, `--seeds 0 1 2 --epochs 4`):
    seed  gen s  colour hist  Lite0 frozen  extract s  CNN scratch
       0    3.2        0.228         0.889        2.0        0.406
       1    3.2        0.261         0.922        1.8        0.378
       2    3.2        0.283         0.878        1.9        0.317
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision_demo.classify.inputs import ImageListDataset, build_transform  # noqa: E402
from vision_demo.datasets.imagefolder import load_dataset  # noqa: E402
from vision_demo.datasets.scenes import write_scenes  # noqa: E402
from vision_demo.images import load_rgb  # noqa: E402


def colour_histogram_accuracy(data) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def hist(path):
        a = np.asarray(load_rgb(path)) // 32                        # 8 levels per channel
        h = np.bincount((a[..., 0] * 64 + a[..., 1] * 8 + a[..., 2]).ravel(), minlength=512)
        return h / h.sum()

    xtr = np.stack([hist(p) for p, _ in data.train]); ytr = [y for _, y in data.train]
    xte = np.stack([hist(p) for p, _ in data.test]); yte = [y for _, y in data.test]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5)).fit(xtr, ytr)
    return float(clf.score(xte, yte))


def lite0_frozen_accuracy(data, img_size: int) -> tuple[float, float]:
    import torch
    from sklearn.linear_model import LogisticRegression

    from vision_demo.classify.models import build_model

    model, _ = build_model("efficientnet_lite0", len(data.classes), pretrained=True)
    model.eval()
    tf = build_transform(img_size, normalize=True, train=False)

    def features(items):
        loader = torch.utils.data.DataLoader(ImageListDataset(items, tf), batch_size=64)
        out, ys = [], []
        with torch.no_grad():
            for x, y in loader:
                out.append(model.forward_head(model.forward_features(x), pre_logits=True))
                ys.append(y)
        return torch.cat(out).numpy(), torch.cat(ys).numpy()

    start = time.perf_counter()
    xtr, ytr = features(data.train)
    xte, yte = features(data.test)
    seconds = time.perf_counter() - start
    clf = LogisticRegression(max_iter=3000, C=1.0).fit(xtr, ytr)
    return float(clf.score(xte, yte)), seconds


def scratch_cnn_accuracy(data, img_size: int, epochs: int, seed: int) -> float:
    import torch
    from torch import nn

    from vision_demo.classify.models import build_model

    torch.manual_seed(seed)
    model, _ = build_model("simple_cnn", len(data.classes), pretrained=False)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train = torch.utils.data.DataLoader(ImageListDataset(data.train, build_transform(img_size, train=True)),
                                        batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))
    test = torch.utils.data.DataLoader(ImageListDataset(data.test, build_transform(img_size)), batch_size=64)
    for _ in range(epochs):
        model.train()
        for x, y in train:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test:
            correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(data.test)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--size", type=int, default=128, help="generated image side")
    parser.add_argument("--img-size", type=int, default=96, help="model input side")
    parser.add_argument("--epochs", type=int, default=4, help="epochs for the scratch CNN")
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(2)
    print(f"{'seed':>4} {'gen s':>6} {'colour hist':>11} {'Lite0 frozen':>12} {'extract s':>9} {'CNN scratch':>11}")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_scenes(Path(tmp) / "scenes", per_class=args.per_class, size=args.size, seed=seed)
            gen = time.perf_counter() - start
            data = load_dataset(Path(tmp) / "scenes")
            hist = colour_histogram_accuracy(data)
            lite0, extract = lite0_frozen_accuracy(data, args.img_size)
            cnn = float("nan") if args.skip_cnn else scratch_cnn_accuracy(data, args.img_size, args.epochs, seed)
            print(f"{seed:>4} {gen:>6.1f} {hist:>11.3f} {lite0:>12.3f} {extract:>9.1f} {cnn:>11.3f}", flush=True)


if __name__ == "__main__":
    main()
