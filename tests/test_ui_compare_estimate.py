"""Train & compare before a big set starts: the measured time of "Compare all four", the images per class that
fit the budget, and the "Images per class" control reaching every job the tab starts. The tab's handlers over a
real registry and a real generated set big enough to be measured (no server, no browser: see
tests/test_browser_projector.py for the page)."""
import gradio as gr
import pytest

from vision_demo import settings
from vision_demo.classify.catalog import EXERCISES
from vision_demo.jobs import JobRegistry
from vision_demo.ui import train_tab


@pytest.fixture(scope="module")
def big_scenes(tmp_path_factory):
    """Just past settings.COMPARE_MEASURE_FROM_IMAGES training images, at 48 px: a few seconds to draw."""
    from vision_demo.datasets.scenes import CLASSES, write_scenes

    per_class = settings.COMPARE_MEASURE_FROM_IMAGES // len(CLASSES) + 1
    out = tmp_path_factory.mktemp("big_scenes") / "scenes"
    write_scenes(out, per_class=per_class, size=48, seed=4, test_per_class=5)
    return str(out)


def test_a_small_set_is_not_measured_and_nothing_is_shown(tmp_path, tiny_scenes):
    handlers = train_tab.make_handlers(JobRegistry(tmp_path / "jobs"))
    row, text, button = handlers.estimate(tiny_scenes, 3, 96, 32, None, "all")
    assert text == "" and button.visible is False and row.visible is False    # no room taken either
    row, text, button = handlers.estimate(str(tmp_path / "typing-a-pa"), 3, 96, 32, None, "all")   # not a set yet
    assert text == "" and button.visible is False and row.visible is False


def test_a_big_set_shows_its_measured_time_and_the_images_per_class_that_fit(tmp_path, big_scenes, monkeypatch):
    registry = JobRegistry(tmp_path / "jobs")
    handlers = train_tab.make_handlers(registry)
    # A budget this machine cannot meet with the whole set but can with a few per class (the default's 2 minutes
    # would need a set too big to draw in a test).
    monkeypatch.setattr(settings, "COMPARE_BUDGET_SECONDS", 20)
    row, text, button = handlers.estimate(big_scenes, 3, 64, 32, None, "all")
    print("\n" + text)
    from vision_demo.datasets.scenes import CLASSES
    n_train = len(CLASSES) * (settings.COMPARE_MEASURE_FROM_IMAGES // len(CLASSES) + 1)
    assert f"Compare all four on all {n_train:,} training images: about" in text
    assert "on this machine** (measured from 14 batches at 64 px)" in text
    assert "(budget 20 s)" in text and button.visible is True and row.visible is True
    n = int(button.value.split()[1])
    assert button.value == f"Use {n} per class" and f"With **{n} images per class**: about" in text
    assert 1 <= n < n_train // 6

    # The teacher takes the offer: every job the tab starts trains on n images per class.
    ids = handlers.compare(big_scenes, 1, 48, 32, [], None, str(n))[1]
    ids += handlers.train(big_scenes, "simple_cnn", "scratch", 1, 48, 32, 0, True, [], str(n))[1]
    ids += handlers.run_exercise(EXERCISES[0], big_scenes, 1, 48, 32, [], None, str(n))[1]
    assert [s.config["per_class"] for s in registry.snapshot(ids)] == [n] * len(ids)
    assert all(f"({n} per class)" in s.name for s in registry.snapshot(ids))
    for job_id in ids:
        registry.cancel(job_id)
    registry.shutdown()


def test_images_per_class_says_what_it_takes(tmp_path, tiny_scenes):
    handlers = train_tab.make_handlers(JobRegistry(tmp_path / "jobs"))
    with pytest.raises(gr.Error, match="images per class 'lots' is not a number"):
        handlers.train(tiny_scenes, "simple_cnn", "scratch", 1, 48, 8, 0, True, [], "lots")
    with pytest.raises(gr.Error, match="Images per class must be 'all' or a number"):
        handlers.compare(tiny_scenes, 1, 48, 8, [], None, "0")
