"""load_dataset layouts, the skip/convert report, the seeded split, and ImageListDataset surviving bad files."""
import struct
import zipfile
import zlib

import pytest
import torch
from PIL import Image

from vision_demo.classify.inputs import IMAGENET_MEAN, IMAGENET_STD, ImageListDataset, build_transform
from vision_demo.datasets.imagefolder import ClassificationData, DatasetReport, load_dataset
from vision_demo.errors import VisionDemoError

COLOURS = {"cat": (200, 40, 40), "dog": (40, 200, 40), "owl": (40, 40, 200)}


def _images(folder, cls, n, start=0, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        Image.new("RGB", (size, size), COLOURS[cls]).save(folder / f"{cls}_{i:03d}.png")


def _split_tree(root, split_names=("train", "test"), n=(4, 2), classes=("cat", "dog")):
    for split, k in zip(split_names, n):
        for c in classes:
            _images(root / split / c, c, k)
    return root


def _names(items):
    return sorted(p.rsplit("/", 1)[-1] for p, _ in items)


def test_train_test_layout(tmp_path):
    data = load_dataset(_split_tree(tmp_path / "ds"))
    assert isinstance(data, ClassificationData)
    assert data.layout == "imagefolder" and data.classes == ["cat", "dog"]
    assert data.counts() == {"train": {"cat": 4, "dog": 4}, "test": {"cat": 2, "dog": 2}}
    assert all(p.startswith(str(tmp_path)) and "/train/" in p for p, _ in data.train)
    assert all(("/cat/" in p) == (y == 0) for p, y in data.train + data.test)
    assert data.report.skipped == [] and data.report.converted == []
    assert data.report.summary().startswith("skipped 0 files; converted 0")


def test_val_layout_and_wrapper_folder(tmp_path):
    _split_tree(tmp_path / "upload" / "my_dataset", split_names=("train", "val"))
    data = load_dataset(tmp_path / "upload")      # the user points at the folder above
    assert data.layout == "imagefolder"
    assert data.counts()["test"] == {"cat": 2, "dog": 2}


def _intel_tree(root):
    classes = ("buildings", "forest")
    for c in classes:
        COLOURS.setdefault(c, (120, 120, 120))
        _images(root / "seg_train" / "seg_train" / c, c, 3)
        _images(root / "seg_test" / "seg_test" / c, c, 2)
    (root / "seg_pred" / "seg_pred").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "seg_pred" / "seg_pred" / "123.jpg")
    return root


def test_intel_layout_found_from_the_top(tmp_path):
    data = load_dataset(_intel_tree(tmp_path / "intel"))
    assert data.layout == "intel" and data.classes == ["buildings", "forest"]
    assert data.counts() == {"train": {"buildings": 3, "forest": 3}, "test": {"buildings": 2, "forest": 2}}
    assert not any("seg_pred" in p for p, _ in data.train + data.test)
    assert any("seg_pred" in n for n in data.report.notes)


def test_intel_zip_with_an_extra_top_folder(tmp_path):
    tree = _intel_tree(tmp_path / "src" / "intel-image-classification")
    z = tmp_path / "archive.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in tree.rglob("*"):
            if f.is_file():
                zf.write(f, f.relative_to(tmp_path / "src"))
    data = load_dataset(z)
    assert data.layout == "intel" and data.counts()["train"] == {"buildings": 3, "forest": 3}
    assert str(tmp_path / "src") not in data.train[0][0]           # read from the extracted copy
    assert load_dataset(z).root == data.root                       # extracted once, not per call


def test_class_folders_only_stratified_seeded_split(tmp_path):
    root = tmp_path / "pile"
    _images(root / "cat", "cat", 10)
    _images(root / "dog", "dog", 20)
    _images(root / "owl", "owl", 5)
    a = load_dataset(root, test_fraction=0.2, seed=1)
    assert a.layout == "single-split"
    assert a.counts() == {"train": {"cat": 8, "dog": 16, "owl": 4}, "test": {"cat": 2, "dog": 4, "owl": 1}}
    assert not set(_names(a.train)) & set(_names(a.test))
    b = load_dataset(root, test_fraction=0.2, seed=1)
    assert (a.train, a.test) == (b.train, b.test)                  # deterministic
    c = load_dataset(root, test_fraction=0.2, seed=2)
    assert _names(c.test) != _names(a.test) and c.counts() == a.counts()
    only_train = tmp_path / "only_train"
    _split_tree(only_train, split_names=("train",), n=(5,))
    d = load_dataset(only_train, test_fraction=0.4)
    assert d.layout == "single-split" and d.counts()["test"] == {"cat": 2, "dog": 2}


def test_a_class_named_train_is_a_class(tmp_path):
    root = tmp_path / "vehicles"
    for name in ("train", "car", "bus"):
        COLOURS.setdefault(name, (90, 90, 90))
        _images(root / name, name, 5)
    data = load_dataset(root)
    assert data.layout == "single-split" and data.classes == ["bus", "car", "train"]
    assert sum(data.counts()["test"].values()) == 3


def _fake_png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b""))


def test_bad_and_odd_files_reported_not_fatal(tmp_path):
    root = _split_tree(tmp_path / "messy")
    cat = root / "train" / "cat"
    (cat / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(cat / "cmyk.jpg")
    (cat / "notes.txt").write_text("labels are folder names\n")
    (cat / "fake.png").write_text("not a png")
    (cat / "bomb.png").write_bytes(_fake_png_header(30_000, 30_000))
    (cat / ".DS_Store").write_bytes(b"\0\0")
    data = load_dataset(root)
    skipped = dict(data.report.skipped)
    assert set(skipped) == {"train/cat/corrupt.jpg", "train/cat/notes.txt", "train/cat/fake.png", "train/cat/bomb.png"}
    assert "not an image" in skipped["train/cat/notes.txt"] and "bomb" in skipped["train/cat/bomb.png"]
    assert data.report.converted == [("train/cat/cmyk.jpg", "CMYK -> RGB")]
    assert data.counts()["train"] == {"cat": 5, "dog": 4}          # 4 good + the CMYK one
    summary = data.report.summary()
    assert "skipped 4 files" in summary and "1 CMYK -> RGB" in summary
    assert data.report.to_dict()["skipped"][0][0].startswith("train/cat/")


def test_class_mismatch_between_splits(tmp_path):
    root = _split_tree(tmp_path / "mismatch")
    _images(root / "test" / "owl", "owl", 2)                      # a class training never saw
    data = load_dataset(root)
    assert data.classes == ["cat", "dog"]
    assert sum("has no training images" in r for _, r in data.report.skipped) == 2
    assert any("owl" in n for n in data.report.notes)

    disjoint = tmp_path / "disjoint"
    _images(disjoint / "train" / "cat", "cat", 2)
    _images(disjoint / "train" / "dog", "dog", 2)
    _images(disjoint / "test" / "owl", "owl", 2)
    with pytest.raises(VisionDemoError, match="share no class"):
        load_dataset(disjoint)


def test_unusable_sources_say_what_was_found(tmp_path):
    with pytest.raises(VisionDemoError, match="no such folder"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VisionDemoError, match="at least two class folders"):
        load_dataset(tmp_path / "empty")
    _images(tmp_path / "one" / "cat", "cat", 3)
    with pytest.raises(VisionDemoError, match="at least two"):
        load_dataset(tmp_path / "one")
    flat = tmp_path / "flat"
    _images(flat, "cat", 3)
    with pytest.raises(VisionDemoError, match="cat_000.png"):
        load_dataset(flat)                                         # the message lists what is there
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(VisionDemoError, match="is a file"):
        load_dataset(tmp_path / "file.txt")
    with pytest.raises(VisionDemoError, match="test_fraction"):
        load_dataset(tmp_path / "one", test_fraction=1.5)


def test_image_list_dataset_survives_a_file_broken_after_loading(tmp_path):
    root = _split_tree(tmp_path / "late", n=(3, 1))
    data = load_dataset(root)
    broken_path, broken_label = data.train[1]
    with open(broken_path, "r+b") as f:                            # truncate it after the header check
        f.truncate(30)
    dataset = ImageListDataset(data.train, build_transform(16), report=data.report)
    x, y = dataset[1]
    assert x.shape == (3, 16, 16) and y == broken_label            # replaced by the same class
    assert data.report.skipped[0][0] == broken_path and "failed while training" in data.report.skipped[0][1]
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=0)
    labels = torch.cat([yb for _, yb in loader]).tolist()
    assert len(labels) == 6 and labels.count(broken_label) == 3
    assert len(data.report.skipped) == 1                            # recorded once

    gone = ImageListDataset([(str(tmp_path / "missing.png"), 0)], build_transform(8))
    with pytest.raises(VisionDemoError, match="no readable image"):
        gone[0]


def test_image_list_dataset_in_threads(tmp_path):
    root = _split_tree(tmp_path / "threads", n=(6, 1))
    data = load_dataset(root)
    for path, _ in data.train[::3]:
        open(path, "wb").close()                                   # empty the file
    dataset = ImageListDataset(data.train, build_transform(8), report=data.report)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda i: tuple(dataset[i][0].shape), list(range(len(dataset))) * 3))
    assert set(shapes) == {(3, 8, 8)}
    assert sorted(p for p, _ in data.report.skipped) == sorted(p for p, _ in data.train[::3])


def test_build_transform():
    white = Image.new("RGB", (30, 20), (255, 255, 255))
    x = build_transform(12)(white)
    assert x.shape == (3, 12, 12)
    expected = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    assert torch.allclose(x[:, 0, 0], expected, atol=1e-5)
    raw = build_transform(12, normalize=False)(white)
    assert raw.max().item() == 1.0 and raw.min().item() == 1.0
    half = Image.new("RGB", (2, 1), (0, 0, 0))
    half.putpixel((1, 0), (255, 255, 255))
    train_tf = build_transform(2, normalize=False, train=True)
    torch.manual_seed(0)
    firsts = {train_tf(half)[0, 0, 0].item() for _ in range(30)}
    assert firsts == {0.0, 1.0}                                     # flipped some of the time
    assert {build_transform(2, normalize=False)(half)[0, 0, 0].item() for _ in range(5)} == {0.0}


def test_report_pickles_for_worker_processes():
    import pickle
    report = DatasetReport(skipped=[("a", "corrupt")])
    assert pickle.loads(pickle.dumps(report)).skipped == [("a", "corrupt")]
