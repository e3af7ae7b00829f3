"""The Inside-the-model endpoints through gradio_client, as a script uses them: named, a picture back from the
filters and the feature maps, job ids back from the probe (whose result /job_status then holds), and a bad
input as one clear sentence.
"""
import pytest

from conftest import serve_fresh_app
from test_server import finished_states

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with serve_fresh_app(tmp_path_factory.mktemp("inside_server_jobs")) as (url, _):
        c = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        yield c
        c.close()


def test_inside_endpoints(client, tiny_scenes, no_network):
    from PIL import Image

    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/inside_filters", "/inside_feature_maps", "/inside_probe", "/inside_unfreeze",
            "/inside_train_scratch"} <= names

    picture, note = client.predict("random", "efficientnet_lite0", api_name="/inside_filters")
    assert Image.open(picture).width > 400 and "noise" in note
    maps = client.predict("0", None, tiny_scenes, "efficientnet_lite0", "random", 48, api_name="/inside_feature_maps")
    assert Image.open(maps).height > 300

    [job_id], line = client.predict(tiny_scenes, "efficientnet_lite0", 48, "random", api_name="/inside_probe")
    assert line == "probe: queued"
    [state] = finished_states(client, [job_id], 300)
    stages = state["result"]["pretrained"]
    assert len(stages) == 9 and all(0 <= s["test_acc"] <= 1 for s in stages)
    assert state["result"]["test_images"] == 18                       # tiny_scenes: 3 test pictures x 6 classes

    with pytest.raises(gradio_client.exceptions.AppError, match="no job 'nope'"):
        client.predict("nope", "efficientnet_lite0", api_name="/inside_filters")
    with pytest.raises(gradio_client.exceptions.AppError, match="data not found"):
        client.predict(tiny_scenes + "-missing", "efficientnet_lite0", ["0", "all"], 1, 48, api_name="/inside_unfreeze")
    assert not no_network
