"""IoU by hand through a real server on 127.0.0.1 and gradio_client: /iou_by_hand, offline."""
from pathlib import Path

import pytest

from conftest import asset, serve_app  # the module pytest loaded (tests.conftest would run it again: a new WORK)
from vision_demo.detect.box_match import iou

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow   # the detector loads (seconds)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("jobs"))
    with serve_app(registry, warm_up=False) as url:
        client = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        yield client
        client.close()
    registry.shutdown()


def iou_by_hand(client, picture, threshold, box, image=None, **kwargs):
    out = client.predict(picture, threshold, *box, image=image, runtime="torch", api_name="/iou_by_hand", **kwargs)
    names = ("image", "box_line", "map_line", "predictions", "thresholds", "plot", "status")
    return dict(zip(names, out))


def test_bus_scores_the_students_box_and_the_slider_changes_the_tps_without_a_new_run(client, no_network):
    assert "/iou_by_hand" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    box = [50, 399, 246, 901]                      # the hand label of the man in the light coat, exactly
    low = iou_by_hand(client, "photo:bus.jpg", 0.5, box)
    assert Path(low["image"]).is_file()
    assert "IoU **1.00** with the ground-truth person" in low["box_line"]
    assert "with the model's #1 (Normal" in low["box_line"]
    assert "mAP50 = " in low["map_line"] and "mAP50-95 = " in low["map_line"]
    assert "model boxes on bus.jpg at 640 px" in low["status"] and "cached" not in low["status"]
    counts = {row[0]: row[1] for row in low["thresholds"]["data"]}      # IoU threshold -> TP
    assert list(counts) == [f"{0.5 + 0.05 * i:.2f}" for i in range(10)]
    assert counts["0.50"] >= 3 and counts["0.95"] < counts["0.50"]      # a stricter IoU, fewer true positives
    assert [row[4] for row in low["predictions"]["data"]].count("TP") == counts["0.50"]

    high = iou_by_hand(client, "photo:bus.jpg", 0.9, box)
    assert "cached: the model did not run again" in high["status"]
    assert high["predictions"]["data"][0][:4] == low["predictions"]["data"][0][:4]   # the same boxes...
    assert [row[4] for row in high["predictions"]["data"]].count("TP") == counts["0.90"] < counts["0.50"]
    assert f"At IoU ≥ 0.90: **{counts['0.90']} TP" in high["map_line"]   # ...scored at the slider's threshold
    assert no_network == []


def test_a_shapes_image_compares_the_box_with_its_label(client, no_network):
    from vision_demo.detect.iou_lesson import load_picture

    truth = load_picture("shapes:val_0003.jpg").truths[0]
    x1, y1, x2, y2 = (round(v) for v in truth["xyxy"])
    box = [x1 + 3, y1 + 3, x2 - 3, y2 - 3]          # the labelled shape, 3 px inside its label on every side
    out = iou_by_hand(client, "shapes:val_0003.jpg", 0.5, box)
    expected = iou(box, truth["xyxy"])
    assert f"IoU **{expected:.2f}** with the ground-truth {truth['class_name']}" in out["box_line"]
    # the bundled person detector sees no shapes, and the page says what to do about it
    assert "cannot find these objects" in out["map_line"] and "Train a detector" in out["map_line"]
    assert out["thresholds"]["data"][0][1:4] == [0, 0, len(load_picture("shapes:val_0003.jpg").truths)]
    assert no_network == []


def test_an_upload_has_no_ground_truth_and_a_bad_picture_is_a_message(client, no_network):
    out = iou_by_hand(client, "upload", 0.5, [0, 0, 400, 500], image=gradio_client.handle_file(str(asset("bus.jpg"))))
    assert "No ground truth" in out["map_line"] and "with the model's #" in out["box_line"]
    with pytest.raises(Exception, match="unknown picture"):
        iou_by_hand(client, "photo:../../secret.jpg", 0.5, [None] * 4)
    with pytest.raises(Exception, match="outside 0.05..1.0"):
        iou_by_hand(client, "photo:bus.jpg", 3, [None] * 4)
    assert no_network == []
