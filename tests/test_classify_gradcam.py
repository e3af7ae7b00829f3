"""Where does it look (Grad-CAM): the map follows the object, on every catalogue model, frozen or not, from the
core, the CLI and a real server through gradio_client.

The falsifiable check: a small CNN trained to tell a red square from a blue one, shown a picture with red on
the left and blue on the right, must put most of the map for "red" on the left half and most of the map for
"blue" on the right (and the other way round once the picture is mirrored).
"""
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import serve_app  # the module pytest loaded (tests.conftest would run it again: a new WORK)
from vision_demo.classify.catalog import CATALOG
from vision_demo.classify.gradcam import gradcam, load_job
from vision_demo.classify.models import build_model
from vision_demo.classify.predict import Classifier, load_classifier
from vision_demo.classify.train import TrainConfig, submit
from vision_demo.cli import main
from vision_demo.errors import VisionDemoError
from vision_demo.jobs import JobRegistry

COLOURS = {"blue": (30, 40, 220), "red": (220, 30, 30)}
SIZE = 32


def write_colour_squares(root: Path, train=16, test=4, seed=0) -> Path:
    """Two classes: a red or a blue square (a third of the side) anywhere on grey noise."""
    rng = np.random.default_rng(seed)
    side = SIZE // 3
    for split, n in (("train", train), ("test", test)):
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(70, 170, (SIZE, SIZE, 3), dtype=np.uint8)
                x, y = rng.integers(0, SIZE - side, 2)
                pixels[y:y + side, x:x + side] = colour
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def red_left_blue_right() -> Image.Image:
    pixels = np.random.default_rng(5).integers(70, 170, (SIZE, SIZE, 3), dtype=np.uint8)
    side = SIZE // 3
    top = (SIZE - side) // 2
    pixels[top:top + side, 2:2 + side] = COLOURS["red"]
    pixels[top:top + side, SIZE - 2 - side:SIZE - 2] = COLOURS["blue"]
    return Image.fromarray(pixels)


def left_share(heat: np.ndarray) -> float:
    return float(heat[:, : heat.shape[1] // 2].sum() / heat.sum())


@pytest.fixture(scope="module")
def squares_run(tmp_path_factory):
    """SimpleCNN from scratch on the two colours, 3 epochs at 32 px (under a second; 100 % test accuracy)."""
    root = tmp_path_factory.mktemp("gradcam")
    registry = JobRegistry(root / "jobs")
    config = TrainConfig(data=str(write_colour_squares(root / "squares")), model="simple_cnn", strategy="scratch",
                         epochs=3, img_size=SIZE, batch_size=8)
    state = registry.wait(submit(registry, config), timeout=120)
    registry.shutdown()
    assert state.status == "finished", state.error
    assert state.result["test_acc"] == 1.0   # the colours are easy: the map check below is about where, not if
    return state


def no_hooks_left(model) -> bool:
    return not any(m._forward_hooks or m._backward_hooks for m in model.modules())


def test_the_map_covers_the_object_of_its_class(squares_run):
    classifier = load_classifier(squares_run.out_dir)
    picture = red_left_blue_right()
    red, blue = gradcam(classifier, picture, "red"), gradcam(classifier, picture, "blue")
    assert left_share(red.heat) > 0.7 and left_share(blue.heat) < 0.3, (left_share(red.heat), left_share(blue.heat))
    mirrored = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert left_share(gradcam(classifier, mirrored, "red").heat) < 0.3   # the map moves with the object
    assert red.target == "red" and blue.target == "blue" and {red.predicted} == {blue.predicted} <= set(COLOURS)
    assert "raised the score of red" in red.legend


def test_every_catalogue_model_has_a_map_even_with_every_weight_frozen():
    picture = red_left_blue_right()
    for name, spec in CATALOG.items():
        model, _ = build_model(name, 2, pretrained=False)
        model.requires_grad_(False)   # harder than a frozen backbone: nothing asks for gradients
        classifier = Classifier(model, ["blue", "red"], 64, True, {"model": name})
        cam = gradcam(classifier, picture)
        assert cam.layer == spec.gradcam_layer
        assert cam.heat.shape == (cam.overlay.height, cam.overlay.width) == (224, 224)   # shown larger than 64 px
        assert cam.heat.dtype == np.float32 and 0 <= cam.heat.min() and cam.heat.max() <= 1
        assert no_hooks_left(model), f"{name}: Grad-CAM left a hook behind"
        assert all(p.grad is None for p in model.parameters()), f"{name}: Grad-CAM wrote into a weight's .grad"
        assert not any(p.requires_grad for p in model.parameters())   # and changed nothing about the model


def test_a_coarse_model_gets_a_7x7_map_computed_on_the_picture_enlarged_and_it_still_follows_the_object(tmp_path):
    """ResNet-18 at 64 px halves the picture five times: a 2×2 grid. The map is computed at 224 px (7×7) for the
    answer of the model at its own 64 px, and it must still put red on the red square and move with it."""
    registry = JobRegistry(tmp_path / "jobs")
    config = TrainConfig(data=str(write_colour_squares(tmp_path / "squares")), model="resnet18", strategy="scratch",
                         epochs=4, img_size=64, batch_size=8)
    state = registry.wait(submit(registry, config), timeout=300)
    registry.shutdown()
    assert state.status == "finished" and state.result["test_acc"] == 1.0, state.error
    classifier = load_classifier(state.out_dir)
    picture = red_left_blue_right()
    red, blue = gradcam(classifier, picture, "red"), gradcam(classifier, picture, "blue")
    assert red.model_grid == (2, 2) and red.grid == (7, 7) and (red.model_px, red.map_px) == (64, 224)
    assert "224 px" in red.sizes and "2×2" in red.sizes and "the answer is the model's at 64 px" in red.sizes
    assert left_share(red.heat) > 0.7 and left_share(blue.heat) < 0.3, (left_share(red.heat), left_share(blue.heat))
    mirrored = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert left_share(gradcam(classifier, mirrored, "red").heat) < 0.3
    [(top, p)] = classifier.predict(picture, k=1)   # the answer is Predict's, at the model's own size
    assert red.predicted == top and red.probability == pytest.approx(p, abs=1e-5)


def test_every_catalogue_model_maps_at_least_7x7_cells_at_the_lessons_96_px():
    picture = red_left_blue_right()
    for name in CATALOG:
        model, _ = build_model(name, 2, pretrained=False)
        cam = gradcam(Classifier(model, ["blue", "red"], 96, True, {"model": name}), picture)
        assert min(cam.grid) >= 7, f"{name}: a {cam.grid} map at 96 px"
        assert cam.map_px == (96 if min(cam.model_grid) >= 7 else 224), (name, cam.model_grid, cam.map_px)


def test_a_blank_map_says_why_and_what_to_try():
    """SimpleCNN's features are ReLU'd (never negative) and its head is linear: with every weight of "red"
    negative, each cell can only lower red's score, so Grad-CAM's ReLU leaves nothing."""
    import torch

    model, _ = build_model("simple_cnn", 2, pretrained=False)
    with torch.no_grad():
        model.fc.weight[1] = -model.fc.weight[1].abs() - 0.01
    cam = gradcam(Classifier(model, ["blue", "red"], 64, True, {"model": "simple_cnn"}), red_left_blue_right(), "red")
    assert cam.empty and cam.heat.max() == 0
    assert "blank" in cam.legend and "pushed it down" in cam.legend and "Try another class" in cam.legend


@pytest.fixture(scope="module")
def scene_runs(tiny_scenes, tmp_path_factory):
    """The lesson's pair on the tiny scenes, 1 epoch at 48 px, through the CLI: scratch and pretrained frozen."""
    root = tmp_path_factory.mktemp("gradcam-scenes")
    runs = {}
    for model, strategy in (("simple_cnn", "scratch"), ("efficientnet_lite0", "frozen")):
        out = root / strategy
        assert main(["train", "--data", tiny_scenes, "--model", model, "--strategy", strategy, "--epochs", "1",
                     "--img-size", "48", "--batch-size", "8", "--out", str(out)]) == 0
        runs[strategy] = out
    return runs


def test_predicted_class_and_maps_per_class_on_the_scenes(scene_runs):
    for out in scene_runs.values():
        classifier, name = load_job(str(out))
        result = json.loads((out / "result.json").read_text())
        assert name == result["model_label"]
        path = result["test_predictions"][0]["path"]
        cam = gradcam(classifier, path)
        [(top, p)] = classifier.predict(path, k=1)
        assert (cam.predicted, cam.target) == (top, top) and cam.probability == pytest.approx(p, abs=1e-5)
        maps = {c: gradcam(classifier, path, c).heat for c in classifier.classes}
        assert any(np.ptp(heat) > 0.5 for heat in maps.values()), "every map is flat"
        assert np.ptp(maps[top]) > 0, f"{name}: the map of its own answer is flat"
        differ = [abs(maps[a] - maps[b]).mean() for a in maps for b in maps if a < b]
        assert max(differ) > 0.05, f"{name}: every class gets the same map"
        with pytest.raises(VisionDemoError, match="unknown class 'cat': this model knows buildings, forest"):
            gradcam(classifier, path, "cat")


def test_two_requests_at_once_on_one_cached_model(scene_runs):
    classifier, _ = load_job(str(scene_runs["frozen"]))
    result = json.loads((scene_runs["frozen"] / "result.json").read_text())
    paths = [p["path"] for p in result["test_predictions"][:6]]
    alone = [gradcam(classifier, p).heat for p in paths]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda p: gradcam(classifier, p).heat, paths))
        predicted = list(pool.map(lambda p: classifier.predict(p, k=1), paths))   # predict shares the model
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(alone, together))
    assert len(predicted) == len(paths) and no_hooks_left(classifier.model)


def test_two_first_loads_at_once_load_the_job_once(squares_run):
    from vision_demo.classify import predict

    predict._cache.clear()
    with ThreadPoolExecutor(2) as pool:   # Predict and "Where does it look?" on a cold server
        a, b = pool.map(predict.cached_classifier, [squares_run.out_dir] * 2)
    assert a is b   # one load, one model in memory (two loads at once once imported torchvision half-way)


def test_cli_writes_a_png_and_bad_input_is_one_line(scene_runs, tmp_path, capsys):
    run = scene_runs["scratch"]
    image = json.loads((run / "result.json").read_text())["test_predictions"][0]["path"]
    out = tmp_path / "maps" / "heat.png"
    assert main(["gradcam", "--job", str(run), "--image", image, "--class", "forest", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "map for forest" in printed and "raised the score of forest" in printed
    with Image.open(out) as png:
        assert png.format == "PNG" and png.size == (224, 224)

    assert main(["gradcam", "--job", str(run), "--image", image, "--class", "cat", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown class 'cat'" in err[0] and "buildings, forest, glacier" in err[0]
    assert main(["gradcam", "--job", str(tmp_path / "nowhere"), "--image", image]) == 1
    assert "no such finished job" in capsys.readouterr().err
    assert main(["gradcam", "--job", str(run), "--image", str(tmp_path / "nothing.jpg")]) == 1
    assert "nothing.jpg" in capsys.readouterr().err


def test_cli_takes_a_job_id_of_the_work_folder(squares_run, tmp_path, capsys):
    from vision_demo.jobs import default_registry

    registry = default_registry()
    config = TrainConfig(data=str(Path(squares_run.config["data"])), model="simple_cnn", strategy="scratch",
                         epochs=1, img_size=SIZE, batch_size=8)
    job_id = submit(registry, config)
    assert registry.wait(job_id, timeout=120).status == "finished"
    picture = tmp_path / "both.png"
    red_left_blue_right().save(picture)
    assert main(["gradcam", "--job", job_id, "--image", str(picture), "--out", str(tmp_path / "h.png")]) == 0
    assert (tmp_path / "h.png").stat().st_size > 1000
    assert "SimpleCNN · scratch:" in capsys.readouterr().out


def test_default_pair_is_scratch_against_pretrained():
    from types import SimpleNamespace

    from vision_demo.ui.try_tab import _default_pair

    states = [SimpleNamespace(id=i, result={"strategy": s}, config={}) for i, s in
              (("ft", "finetune"), ("fz", "frozen"), ("sc", "scratch"), ("sc2", "scratch"))]
    ids = ["ft", "sc", "fz", "sc2"]   # newest first
    assert _default_pair(states, ids) == ("sc", "ft")
    assert _default_pair(states[:2], ["ft", "fz"]) == ("fz", "ft")   # no scratch job: the two newest
    assert _default_pair([], []) == (None, None)


@pytest.mark.slow
def test_gradcam_on_a_real_server_returns_two_maps(scene_runs, squares_run, tmp_path, no_network):
    gradio_client = pytest.importorskip("gradio_client")
    # the finished jobs as one registry lists them (each --out folder of `train` holds its own jobs/)
    (tmp_path / "jobs").mkdir()
    folders = {strategy: next((out / "jobs").iterdir()) for strategy, out in scene_runs.items()}
    folders["squares"] = Path(squares_run.out_dir)
    for folder in folders.values():
        (tmp_path / "jobs" / folder.name).symlink_to(folder)
    ids = {key: folder.name for key, folder in folders.items()}
    registry = JobRegistry(tmp_path / "jobs")
    image = json.loads((scene_runs["scratch"] / "result.json").read_text())["test_predictions"][0]["path"]
    with serve_app(registry) as url:
        client = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        a, note_a, b, note_b = client.predict(gradio_client.handle_file(image), ids["scratch"], ids["frozen"],
                                              "predicted", api_name="/gradcam")
        for path, note, label in ((a, note_a, "SimpleCNN · scratch"), (b, note_b, "EfficientNet-Lite0 · frozen")):
            with Image.open(path) as png:
                assert png.format == "PNG" and png.size == (224, 224)   # lossless: a heat map, not a photo
            assert note.startswith(f"**{label}** says **") and "Red = the pixels" in note
        # two jobs on different data: the class one of them does not know is said in its caption
        a, note_a, b, note_b = client.predict(gradio_client.handle_file(image), ids["squares"], ids["scratch"],
                                              "sea", api_name="/gradcam")
        assert a is None and "unknown class 'sea': this model knows blue, red" in note_a
        assert b is not None and "raised the score of sea" in note_b
        with pytest.raises(Exception, match="No job 'nope'"):
            client.predict(gradio_client.handle_file(image), "nope", "", "predicted", api_name="/gradcam")
        client.close()
    registry.shutdown()
    assert not no_network
