"""Feature extraction with and without the feature cache, on this machine: figures, not asserts.

    python benchmarks/bench_feature_cache.py                      # Lite0, 96 px, 3 epochs, the default scenes
    python benchmarks/bench_feature_cache.py --model resnet18 --img-size 128 --epochs 5

Prints, for a frozen backbone with a new head:
- naive: the backbone runs on every image in every epoch (what a plain training loop with
  requires_grad=False does): seconds per epoch;
- cached: the backbone runs once per image (vision_demo.classify.feature_cache), then the head trains on
  the stored features: extraction seconds once, then seconds per head epoch;
and the test accuracy of both (they must agree closely: same features, same head, same seed).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vision_demo  # noqa: E402,F401  (offline environment first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0", choices=("efficientnet_lite0", "resnet18"))
    parser.add_argument("--data", default="scenes")
    parser.add_argument("--img-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from vision_demo.classify import feature_cache
    from vision_demo.classify.models import apply_strategy, build_model, head_of, set_train_mode
    from vision_demo.classify.inputs import ImageListDataset, build_transform
    from vision_demo.datasets.imagefolder import load_dataset

    data = load_dataset(None if args.data == "scenes" else args.data)
    transform = build_transform(args.img_size, normalize=True, train=False)
    train = DataLoader(ImageListDataset(data.train, transform), batch_size=args.batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    test = DataLoader(ImageListDataset(data.test, transform), batch_size=args.batch_size)
    device = torch.device("cpu")
    criterion = nn.CrossEntropyLoss()
    print(f"{args.model} frozen, {len(data.train)} train / {len(data.test)} test images at {args.img_size} px, "
          f"{args.epochs} epochs, {torch.get_num_threads()} threads")

    # naive: the whole model forward every epoch, gradients only for the head
    torch.manual_seed(0)
    model, _ = build_model(args.model, len(data.classes), pretrained=True)
    optimizer = torch.optim.Adam(apply_strategy(model, args.model, "frozen"), lr=1e-3)
    naive = []
    for _ in range(args.epochs):
        t = time.perf_counter()
        set_train_mode(model, "frozen")
        for images, targets in train:
            loss = criterion(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        naive.append(time.perf_counter() - t)
    model.eval()
    with torch.inference_mode():
        correct = sum((model(x).argmax(1) == y).sum().item() for x, y in test)
    print(f"naive : {' '.join(f'{s:.2f}' for s in naive)} s per epoch, total {sum(naive):.2f} s, "
          f"test acc {correct / len(data.test):.3f}")

    # cached: backbone once per image, head on stored features
    torch.manual_seed(0)
    model, _ = build_model(args.model, len(data.classes), pretrained=True)
    optimizer = torch.optim.Adam(apply_strategy(model, args.model, "frozen"), lr=1e-3)
    store = feature_cache.FeatureStore.build(model, args.model, train, test, device)
    generator = torch.Generator().manual_seed(0)
    heads = [feature_cache.train_head_epoch(head_of(model), store.train, store.train_labels, optimizer, criterion,
                                            args.batch_size, generator)[2] for _ in range(args.epochs)]
    acc = feature_cache.evaluate_head(head_of(model), store.test, store.test_labels, criterion)["acc"]
    total = store.train_extract_seconds + sum(heads)
    print(f"cached: extract {store.extract_seconds:.2f} s (train part {store.train_extract_seconds:.2f} s) once, "
          f"head {' '.join(f'{1000 * s:.1f}' for s in heads)} ms per epoch, training total {total:.2f} s, "
          f"test acc {acc:.3f}")
    print(f"speed-up of the training part: {sum(naive) / total:.1f}x (grows with the number of epochs)")


if __name__ == "__main__":
    main()
