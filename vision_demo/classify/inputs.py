"""What a classifier is fed: ImageNet's normalization, the resize / augmentation transform, and a torch Dataset
of (path, label) items that survives bad files.

    from vision_demo.classify.inputs import ImageListDataset, build_transform
    train_set = ImageListDataset(data.train, build_transform(96, train=True), report=data.report)

`data` comes from datasets.imagefolder.load_dataset, which finds and checks the files (and never imports torch).
"""
from __future__ import annotations

import logging
from pathlib import Path

from torch.utils.data import Dataset

from vision_demo.datasets.imagefolder import DatasetReport
from vision_demo.errors import BadImageError, VisionDemoError
from vision_demo.images import load_rgb

log = logging.getLogger(__name__)

# ImageNet channel statistics (RGB, 0..1 scale). Pretrained backbones were trained on images
# normalised with exactly these numbers; feeding them anything else shifts every activation.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_transform(img_size: int, normalize: bool = True, train: bool = False):
    """Resize((s, s)) -> [RandomHorizontalFlip when train] -> ToTensor -> ImageNet Normalize (when normalize).

    Use train=False for evaluation and for feature extraction: a frozen backbone's features are
    computed once per image and reused every epoch, which only makes sense without random
    augmentation. The flip is the only augmentation: scenes stay scenes mirrored, and a light
    touch keeps a 3-epoch demo fair to the from-scratch models.
    """
    from torchvision import transforms

    steps = [transforms.Resize((int(img_size), int(img_size)))]   # squash, not crop: the whole scene is the label
    if train:
        steps.append(transforms.RandomHorizontalFlip())
    steps.append(transforms.ToTensor())                            # HxWxC uint8 -> CxHxW float in 0..1
    if normalize:
        steps.append(transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return transforms.Compose(steps)


class ImageListDataset(Dataset):
    """(path, label) items -> (tensor, label), decoded with images.load_rgb.

    A file that fails to decode (truncated, deleted or damaged since loading) is recorded in
    report.skipped and replaced by the next readable image of the same class, so one bad file never
    ends a training run. Safe with threads; with DataLoader worker processes each worker keeps its
    own copy of the report (the failure is also logged as a warning).
    """

    def __init__(self, items, transform=None, report: DatasetReport | None = None, split: str = "train"):
        self.items = [(str(p), int(y)) for p, y in items]
        self.transform = transform
        self.report = report
        self.split = split
        self._bad: set[int] = set()
        if not self.items:
            raise VisionDemoError(f"no images in the {split} split: add images to each class folder of {split}/")

    def __len__(self) -> int:
        return len(self.items)

    def _candidates(self, index: int):
        """index first, then the same class in order, then anything (lazily: the common case costs nothing)."""
        yield index
        n, label = len(self.items), self.items[index][1]
        yield from (i for i in ((index + k) % n for k in range(1, n)) if self.items[i][1] == label)
        yield from (i for i in ((index + k) % n for k in range(1, n)) if self.items[i][1] != label)

    def __getitem__(self, index: int):
        for i in self._candidates(index):
            if i in self._bad:
                continue
            path, label = self.items[i]
            try:
                image = load_rgb(path)
            except BadImageError as err:
                self._bad.add(i)
                log.warning("skipping %s", err)
                if self.report is not None:
                    self.report.add_skipped(path, f"failed while training: {err}")
                continue
            return (self.transform(image) if self.transform is not None else image), label
        bad = sorted(Path(self.items[i][0]).name for i in self._bad)
        raise VisionDemoError(f"no readable image left in the {self.split} split: all {len(self.items)} of its "
                              f"files failed to decode ({', '.join(bad[:3])}{', …' if len(bad) > 3 else ''}); "
                              f"add readable images to each class folder of {self.split}/")
