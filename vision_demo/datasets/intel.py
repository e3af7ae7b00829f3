"""The real data set: Kaggle's Intel Image Classification (25k photos, 150x150, six scene classes).

    VISION_DEMO_ONLINE=1 python -c "from vision_demo.datasets.intel import download_intel; print(download_intel())"
    python -m vision_demo --online compare --data intel     # if the CLI accepts "intel"

Online, kagglehub downloads it (about 350 MB) into WORK/datasets/kaggle/ and the folder it returns
is what load_dataset understands (seg_train/seg_train/<class>/, seg_test/seg_test/<class>/,
seg_pred/ ignored). Offline, the error says how to get it by hand.
"""
from __future__ import annotations

import os
from pathlib import Path

from vision_demo import settings
from vision_demo.errors import VisionDemoError

KAGGLE_HANDLE = "puneet6060/intel-image-classification"
KAGGLE_URL = "https://www.kaggle.com/datasets/puneet6060/intel-image-classification"

OFFLINE_HELP = (
    "the Intel Image Classification data set is not on this machine and downloads are off. "
    f"Either download it in a browser from {KAGGLE_URL} (the Download button gives archive.zip), "
    "unzip it anywhere and give that folder, or the zip itself, to --data or the Data tab; "
    "or start the app with --online (or VISION_DEMO_ONLINE=1) to fetch it with kagglehub "
    "(needs internet; Kaggle may ask for an API token in ~/.kaggle/kaggle.json)"
)


def download_intel() -> Path:
    """The downloaded data set's folder (cached in WORK/datasets/kaggle); VisionDemoError offline."""
    if not settings.online():
        raise VisionDemoError(OFFLINE_HELP)
    cache = settings.subdir("datasets", "kaggle")
    os.environ["KAGGLEHUB_CACHE"] = str(cache)   # read by kagglehub at call time: keep its cache in WORK
    try:
        import kagglehub
    except ImportError:
        raise VisionDemoError("kagglehub is not installed: pip install kagglehub, "
                              f"or download the data set by hand from {KAGGLE_URL}") from None
    try:
        path = Path(kagglehub.dataset_download(KAGGLE_HANDLE))
    except Exception as err:  # kagglehub raises requests/HTTP/its own errors: all mean "could not download"
        raise VisionDemoError(f"downloading {KAGGLE_HANDLE} failed ({type(err).__name__}: {err}); check the "
                              f"internet connection, or download it by hand from {KAGGLE_URL} and give the "
                              "folder or zip to --data / the Data tab") from None
    if not path.is_dir():
        raise VisionDemoError(f"kagglehub returned {path}, which is not a folder; download the data set by hand "
                              f"from {KAGGLE_URL}")
    return path
