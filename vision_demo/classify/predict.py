"""A finished classification run on new images: load its checkpoint safely, predict the top k classes.

    clf = load_classifier("WORK/jobs/<id>")         # or the path of its model.pt
    clf.predict("photo.jpg", k=3)                  # [("forest", 0.91), ("mountain", 0.05), ...]
    clf = cached_classifier("WORK/jobs/<id>")       # the same, loaded once (the last few are kept)

The checkpoint is the plain dict train.py saves ({model, strategy, classes, img_size, normalize,
state_dict, config}); it is read with torch.load(weights_only=True), which only rebuilds tensors and
plain containers, so an uploaded file cannot run code. The image goes through the same resize and
normalization as the test images did in training.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from vision_demo.errors import VisionDemoError

_REQUIRED = ("model", "classes", "img_size", "normalize", "state_dict")


class Classifier:
    """A trained model + its classes + its input transform, ready for `predict`."""

    def __init__(self, model, classes: list[str], img_size: int, normalize: bool, info: dict[str, Any]):
        from vision_demo.classify.inputs import build_transform

        self.model = model.eval()
        self.classes = list(classes)
        self.img_size, self.normalize = int(img_size), bool(normalize)
        self.info = info                      # model name, strategy, config of the run
        self.transform = build_transform(self.img_size, normalize=self.normalize, train=False)
        self._lock = threading.Lock()         # one forward pass at a time (UI handlers run in threads)

    def predict(self, image, k: int = 5) -> list[tuple[str, float]]:
        """Top-k (class, probability) for `image` (anything images.load_rgb accepts), most likely first."""
        import torch

        from vision_demo.images import load_rgb

        x = self.transform(load_rgb(image)).unsqueeze(0)   # (1, 3, S, S)
        with self._lock, torch.inference_mode():
            probs = self.model(x).softmax(1)[0]             # (classes,)
        top = probs.topk(max(1, min(int(k), len(self.classes))))
        return [(self.classes[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def read_checkpoint(path, name: str | None = None, hint: str = "") -> dict[str, Any]:
    """Read one of our classification checkpoints with torch.load(weights_only=True) and check it is the
    dict train.py saves (the keys in _REQUIRED). VisionDemoError otherwise, naming the file as `name`
    (default: its file name) and ending with `hint` (what to give instead), when there is one.
    Used by load_classifier and by train.py's --init-from."""
    import torch

    path = Path(path)
    name = name or path.name
    tail = f": {hint}" if hint else ""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses pickled code; anything else is a corrupt / foreign file
        raise VisionDemoError(f"{name} is not a vision_demo classification checkpoint "
                              f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}){tail}") from None
    if not isinstance(ckpt, dict) or any(key not in ckpt for key in _REQUIRED):
        raise VisionDemoError(f"{name} is not a vision_demo classification checkpoint "
                              f"(expected keys {', '.join(_REQUIRED)}){tail}")
    return ckpt


def load_classifier(job_dir_or_checkpoint) -> Classifier:
    """Load our own checkpoint (a job folder or its model.pt) with weights_only=True."""
    from vision_demo.classify.models import build_model

    path = Path(job_dir_or_checkpoint).expanduser()
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise VisionDemoError(f"no checkpoint at {path}: give a finished classification job's folder or its model.pt")
    ckpt = read_checkpoint(path)
    classes = [str(c) for c in ckpt["classes"]]
    model, _ = build_model(str(ckpt["model"]), len(classes), pretrained=False)  # the weights come from the file
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError) as err:
        raise VisionDemoError(f"{path.name}: its weights do not fit a {ckpt['model']} with {len(classes)} classes "
                              f"({str(err).splitlines()[0][:200]})") from None
    info = {"model": ckpt["model"], "strategy": ckpt.get("strategy"), "config": ckpt.get("config", {}),
            "weights_source": ckpt.get("weights_source"), "checkpoint": str(path)}
    return Classifier(model, classes, int(ckpt["img_size"]), bool(ckpt["normalize"]), info)


CACHE_SIZE = 4   # classifiers kept in memory (a ResNet-18 is ~45 MB)
_cache: OrderedDict[str, Classifier] = OrderedDict()
_cache_lock = threading.Lock()
# One load at a time. Two first loads at once (Predict and "Where does it look?" on a cold server) would import
# torchvision in two threads, and CPython's import deadlock guard then hands one of them a half-imported module
# ("partially initialized module 'torchvision.transforms' has no attribute 'Resize'", seen here).
_load_lock = threading.Lock()


def _cached(key: str) -> Classifier | None:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    return None


def cached_classifier(job_dir_or_checkpoint) -> Classifier:
    """load_classifier(), once per job: the last CACHE_SIZE stay loaded, the least recently used go."""
    key = str(Path(job_dir_or_checkpoint).expanduser().resolve())
    if (classifier := _cached(key)) is not None:
        return classifier
    with _load_lock:   # outside the cache lock: loading takes a second, others may use theirs meanwhile
        if (classifier := _cached(key)) is not None:   # loaded by the request we waited for
            return classifier
        classifier = load_classifier(key)
    with _cache_lock:
        _cache[key] = classifier
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return classifier
