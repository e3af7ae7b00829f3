"""Data sets: where images come from and how they are checked before training.

    archive.py      extract_zip: safe unpacking of uploaded zips (no '..', no symlinks, size limits)
    scenes.py       the offline default: six Intel-like scene classes drawn procedurally
    imagefolder.py  load_dataset: train/+test/, val/, Kaggle's Intel layout, or class folders to split
    intel.py        download_intel: the real Intel Image Classification set (online only)
    shapes.py       a YOLO-format detection set of simple shapes (offline)
    yolo.py         prepare_yolo_dataset: check and normalise a YOLO data set

Nothing here imports torch at module level except imagefolder's ImageListDataset users.
"""
