"""One-pass detection: YOLO weights, prediction, YOLO training as a job, and the sliding-window comparison.

    from vision_demo.detect.detector import get_detector
    detection = get_detector().predict("bus.jpg")          # the bundled person detector, offline
    print(len(detection.boxes), detection.timings_ms["total"])

Modules: `weights` (which .pt files exist), `detector` (predict, webcam frames, runtime choice), `export`
(the same weights exported once per image size to OpenVINO / ONNX Runtime, checked against torch, in a
background job), `train` (YOLO training as a job), `sliding_window` (why one pass wins). Ultralytics itself
is imported through vision_demo/ultralytics_env.py (inside the work folder, offline, safe loading), and
nothing here imports it at module import time: the UI stays fast to start.
"""
