"""Sliding-window arithmetic (exact) and its measured cost against one YOLO pass."""
import pytest

from vision_demo.detect.sliding_window import count_windows, format_cost, sliding_window_cost


def test_window_counts_by_hand():
    # 640 px, window 128, stride 64: positions 0, 64, ..., 512 -> 9 per axis -> 81
    assert count_windows((640, 640), (128,), 0.5) == [
        {"window": 128, "stride": 64, "positions_x": 9, "positions_y": 9, "n_windows": 81}]
    # non-square: 480 high, 640 wide, window 64 stride 32 -> 19 x 14
    row = count_windows((480, 640), (64,), 0.5)[0]
    assert (row["positions_x"], row["positions_y"], row["n_windows"]) == (19, 14, 266)
    # stride = window (no overlap): 640/256 -> 2 positions; a window larger than the image fits nowhere
    assert [r["n_windows"] for r in count_windows((640, 640), (256, 1000), 1.0)] == [4, 0]
    with pytest.raises(ValueError):
        count_windows((640, 640), (64,), 0)


@pytest.mark.slow
def test_cost_is_measured_and_cached():
    cost = sliding_window_cost((320, 320), (64, 128), 0.5, classifier="resnet18", classifier_size=64, yolo_imgsz=320)
    assert cost["passes"] == 81 + 16   # 320 px: window 64 stride 32 -> 9 x 9; window 128 stride 64 -> 4 x 4
    assert cost["classifier_ms"] > 0 and cost["yolo_ms"] > 0
    assert cost["sliding_seconds"] == pytest.approx(cost["passes"] * cost["classifier_ms"] / 1000, rel=0.01)
    assert cost["speedup"] == pytest.approx(cost["sliding_seconds"] / cost["yolo_seconds"], rel=0.05)
    again = sliding_window_cost((320, 320), (64, 128), 0.5, classifier="resnet18", classifier_size=64, yolo_imgsz=320)
    assert again["classifier_ms"] == cost["classifier_ms"] and again["yolo_ms"] == cost["yolo_ms"]
    assert "81" in format_cost(cost) and "measured" in format_cost(cost)
