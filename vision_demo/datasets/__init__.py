"""Data sets: where images come from and how they are checked before training.

    archive.py      extract_once / extract_zip: safe unpacking of uploads (no "..", no links, size and ratio
                    limits), once per content, under a quota
    scenes.py       the offline default: six Intel-like scene classes drawn procedurally
    imagefolder.py  load_dataset: train/+test/, val/, Kaggle's Intel layout, or class folders to split
    intel.py        download_intel: the real Intel Image Classification set (online only)
    shapes.py       a YOLO-format detection set of simple shapes (offline)
    yolo.py         prepare_yolo_dataset: check and normalise a YOLO data set
    names.py        dataset_name: what every tab calls a set ("Scenes · 128 px · 40 per class"), never its path

Nothing here imports torch: the torch Dataset and transforms are in classify/inputs.py.
"""
