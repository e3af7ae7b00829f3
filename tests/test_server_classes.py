"""Your classes through a real server and gradio_client, the way a script (or two students) would use it:
a set per id, pictures uploaded per class, one-click training, a prediction, the zip, and nobody else's pictures.

No network: every test runs under `no_network`.
"""
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from conftest import serve_fresh_app  # the module pytest loaded (tests.conftest would run it again: a new WORK)
from test_datasets_captured import picture
from vision_demo.jobs import TERMINAL

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_fresh_app(tmp_path_factory.mktemp("classes_jobs")) as served:
        yield served


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Six 'webcam' pictures each of two colours, as files to upload."""
    folder = tmp_path_factory.mktemp("pictures")
    out = {}
    for name, color in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        out[name] = []
        for i in range(6):
            path = folder / f"{name}-{i}.png"
            Image.fromarray(picture((color[0], color[1] + 5 * i, color[2]))).save(path)
            out[name].append(path)
    return out


def client_for(url):
    return gradio_client.Client(url, analytics_enabled=False, verbose=False)


def test_two_students_capture_train_and_predict_each_their_own(server, pictures, tmp_path, no_network):
    url, registry = server
    alice, bob = client_for(url), client_for(url)
    try:
        a, b = alice.predict(api_name="/classes_new_set"), bob.predict(api_name="/classes_new_set")
        assert a != b and len(a) == 32
        names = alice.predict(a, "red, blue", "", api_name="/classes_names")
        assert names[0] == "red, blue" and names[1] == {"red": 0, "blue": 0}
        for name in ("red", "blue"):
            counts = alice.predict(a, name, [gradio_client.handle_file(str(p)) for p in pictures[name]],
                                   api_name="/classes_add")[0]
        assert counts == {"red": 6, "blue": 6}
        # Bob's set is his own: the default classes, empty; his upload does not reach Alice's.
        bob_counts = bob.predict(b, "nothing", [gradio_client.handle_file(str(pictures["red"][0]))],
                                 api_name="/classes_add")[0]
        assert bob_counts == {"thumbs up": 0, "thumbs down": 0, "nothing": 1}
        with pytest.raises(Exception, match="need at least 4 pictures|at least 4 pictures"):
            bob.predict(b, False, False, api_name="/classes_train")   # says what to capture more of

        t0 = time.time()
        ids = alice.predict(a, False, False, api_name="/classes_train")
        assert len(ids) == 1                                          # returns at once, the job runs
        while (state := alice.predict(ids[0], api_name="/job_status"))["status"] not in TERMINAL:
            assert time.time() - t0 < 120, state
            time.sleep(0.5)
        assert state["status"] == "finished", state.get("error")
        print(f"\nclasses: frozen job on 2 x 6 pictures: {time.time() - t0:.1f} s from click to finished, "
              f"test acc {state['result']['test_acc']:.2f}")
        blue = tmp_path / "blue.png"
        Image.fromarray(picture((25, 60, 230))).save(blue)
        label = alice.predict(gradio_client.handle_file(str(blue)), a, None, api_name="/classes_predict")
        assert label["label"] == "blue" and {c["label"] for c in label["confidences"]} == {"red", "blue"}
        # Bob cannot predict with Alice's model through his own set, nor with none trained.
        with pytest.raises(Exception, match="not trained on your classes"):
            bob.predict(gradio_client.handle_file(str(blue)), b, ids[0], api_name="/classes_predict")
        with pytest.raises(Exception, match="press Train first"):
            bob.predict(gradio_client.handle_file(str(blue)), b, None, api_name="/classes_predict")
        assert registry.snapshot(kind="classify") == []               # not on everyone's Train & compare tab

        zipped = alice.predict(a, api_name="/classes_zip")
        with zipfile.ZipFile(zipped) as zf:
            assert sorted({n.split("/")[0] for n in zf.namelist()}) == ["blue", "red"] and len(zf.namelist()) == 12
        cleared = alice.predict(a, api_name="/classes_clear")
        assert cleared[1] == {"thumbs up": 0, "thumbs down": 0, "nothing": 0}
        assert bob.predict(b, "nothing", [], api_name="/classes_add")[0]["nothing"] == 1   # Bob's is still there
        with pytest.raises(Exception, match="not a set id"):
            alice.predict("../../jobs", "x", [], api_name="/classes_add")
    finally:
        alice.close()
        bob.close()
    assert not no_network


def test_a_visitor_gets_a_work_handle_for_the_train_tab_never_a_path(server, pictures):
    from vision_demo.datasets.captured import CapturedSet, new_set_id
    from vision_demo.ui import captured_tab
    from vision_demo.ui.common import check_server_folder

    _, registry = server
    student = SimpleNamespace(client=SimpleNamespace(host="192.168.1.23"), headers={})
    s = CapturedSet.for_id(new_set_id())
    s.set_classes("red, blue")
    for name in ("red", "blue"):
        s.add_files(name, pictures[name][:4])
    handle = captured_tab.make_handlers(registry).use_in_train(s.id, request=student)
    assert handle == f"work:captured/{s.id}"
    assert Path(check_server_folder(handle, student)) == s.folder.resolve()   # the Train tab accepts it back
