"""A data set's name for people (datasets.names.dataset_name): the same name for the same set however it is
given, and never a path of the server."""
import os

from vision_demo import settings
from vision_demo.datasets.names import dataset_name
from vision_demo.datasets.scenes import write_scenes


def test_the_default_scenes_by_name_handle_or_folder_read_the_same():
    folder = settings.work_path() / "datasets" / "scenes-128-40-0"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenes.json").write_text('{"size": 128, "per_class": 40, "seed": 0}')   # what write_scenes marks
    names = {dataset_name(s) for s in ("scenes", "", None, str(folder), "work:datasets/scenes-128-40-0")}
    assert names == {"Scenes · 128 px · 40 per class"}


def test_a_generated_set_anywhere_is_named_from_its_own_marker(tmp_path):
    write_scenes(tmp_path / "tiny", per_class=1, size=32, seed=2, test_per_class=1)
    assert dataset_name(tmp_path / "tiny") == "Scenes · 32 px · 1 per class · seed 2"


def test_uploads_intel_webcam_classes_and_other_folders(tmp_path):
    work = settings.work_path()
    upload = work / "uploads" / "flowers-0123456789abcdef" / "flowers"
    upload.mkdir(parents=True)
    (upload / "scenes.json").write_text('{"size": 48, "per_class": 5}')   # a zipped scenes set is still the upload
    assert dataset_name(upload) == "your upload: flowers.zip"
    assert dataset_name("work:uploads/flowers-0123456789abcdef") == "your upload: flowers.zip"
    assert dataset_name("/tmp/gradio/3f2a/flowers.zip") == "your upload: flowers.zip"
    assert dataset_name(work / "datasets" / "kaggle" / "datasets" / "x" / "versions" / "2") == "Intel Image Classification"
    (tmp_path / "by_hand" / "seg_train").mkdir(parents=True)   # Kaggle's layout unzipped by hand
    assert dataset_name(tmp_path / "by_hand") == "Intel Image Classification"
    assert dataset_name("work:captured/" + "a" * 32) == "your webcam classes"
    assert dataset_name(tmp_path / "my holiday set") == "folder my holiday set"
    assert dataset_name("shapes") == "shapes"
    for source in (upload, tmp_path / "my holiday set", "work:../../etc", "~/x", "/"):
        name = dataset_name(source)
        assert "/" not in name and os.sep not in name, name
