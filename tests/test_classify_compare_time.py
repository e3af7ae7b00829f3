"""compare_time: "Compare all four" timed from a few real batches on the chosen set, and the images per class
that fit a budget. Real models, real images (a small generated scenes set), no mocks."""
import pytest

from vision_demo.classify.compare_time import CompareEstimate, RunCost, _round_down, measure_compare
from vision_demo.datasets.scenes import write_scenes
from vision_demo.errors import VisionDemoError


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare_time") / "scenes"
    write_scenes(folder, per_class=12, size=48, seed=3, test_per_class=4)
    return folder


def test_measure_compare_times_each_run_on_the_set(small_set):
    estimate = measure_compare(str(small_set), img_size=48, batch_size=8, batches=2)
    print(f"\nmeasured in {estimate.measure_seconds:.1f} s: " +
          ", ".join(f"{r.label} step {r.step_seconds * 1000:.0f} ms fwd {r.forward_seconds * 1000:.0f} ms"
                    for r in estimate.runs) + f"; compare at 3 epochs ~{estimate.seconds(3):.0f} s")
    assert [r.strategy for r in estimate.runs] == ["scratch", "scratch", "frozen", "finetune"]
    assert estimate.train_images == 72 and estimate.test_images == 24
    for run in estimate.runs:
        assert run.forward_seconds > 0 and run.build_seconds >= 0
        assert (run.step_seconds == 0) == run.features_once      # frozen: features once, no training step
    assert estimate.batches_measured == 2 * 2 * 3 + 2            # three trained runs (step + forward), frozen
    assert estimate.seconds(3) > estimate.seconds(1) > 0
    assert estimate.seconds(3, per_class=3) < estimate.seconds(3)
    assert estimate.per_class_for(estimate.seconds(3) + 1, 3) is None   # it fits: nothing to offer
    budget = (estimate.seconds(3, per_class=2) + estimate.seconds(3)) / 2
    n = estimate.per_class_for(budget, 3)
    assert 2 <= n < 12 and estimate.seconds(3, n) <= budget < estimate.seconds(3, n + 1)
    with pytest.raises(VisionDemoError, match="even 1 image per class"):
        estimate.per_class_for(estimate.seconds(3, per_class=1) / 2, 3)


def test_the_arithmetic_of_a_compare():
    """Per epoch: training batches x step + test batches x forward; frozen: one forward over both; once per run:
    the data listing and the model build. The test split is never cut."""
    runs = [RunCost("CNN · scratch", "scratch", 0.5, 0.1, 2.0, False),
            RunCost("Lite0 · frozen", "frozen", 0.0, 0.2, 3.0, True)]
    estimate = CompareEstimate("x", 10, 96, {"a": 100, "b": 50}, 20, 1.0, runs)
    # scratch: 1 + 2 + 3 epochs x (15 x 0.5 + 2 x 0.1) = 26.1; frozen: 1 + 3 + (15 + 2) x 0.2 = 7.4
    assert estimate.seconds(3) == pytest.approx(26.1 + 7.4)
    # 40 per class: 80 training images, 8 batches: 3 + 3 x (4 + 0.2) = 15.6 and 4 + 10 x 0.2 = 6
    assert estimate.seconds(3, per_class=40) == pytest.approx(15.6 + 6.0)
    assert estimate.train_images_with(60) == 110
    assert _round_down(137) == 130 and _round_down(1234) == 1200 and _round_down(17) == 17


def test_measure_compare_says_what_is_wrong_with_the_data(tmp_path):
    with pytest.raises(VisionDemoError, match="no such folder"):
        measure_compare(str(tmp_path / "missing"))
