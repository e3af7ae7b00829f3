"""Your objects through a real server and gradio_client, as a script (or two students) would use it: a set per id,
pictures uploaded, boxes set through /objects_boxes (bad ones refused with one sentence), the summary, the zip,
and nobody else's set. No training here (test_browser_objects.py trains through the page). No network."""
import zipfile
from pathlib import Path

import pytest

from conftest import serve_fresh_app
from objects_scene import scene

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_fresh_app(tmp_path_factory.mktemp("objects_jobs")) as served:
        yield served


def client_for(url):
    return gradio_client.Client(url, analytics_enabled=False, verbose=False)


def test_a_script_builds_a_set_with_boxes_and_downloads_it(server, tmp_path, no_network):
    url, _ = server
    alice, bob = client_for(url), client_for(url)
    try:
        names = set(alice.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {"/objects_new_set", "/objects_names", "/objects_add", "/objects_summary", "/objects_boxes",
                "/objects_train", "/objects_zip", "/objects_clear"} <= names
        a, b = alice.predict(api_name="/objects_new_set"), bob.predict(api_name="/objects_new_set")
        assert a != b and len(a) == 32
        assert alice.predict(a, "ball, book", api_name="/objects_names")[0] == "ball, book"
        files, truth = [], []
        for i in range(4):
            img, boxes = scene(40 + i)
            files.append(tmp_path / f"desk-{i}.png")
            img.save(files[-1])
            truth.append(boxes)
        status = alice.predict(a, [gradio_client.handle_file(str(f)) for f in files], api_name="/objects_add")
        assert "Added 4 pictures" in status
        summary = alice.predict(a, api_name="/objects_summary")
        assert summary["unlabelled"] == 4 and summary["classes"] == ["ball", "book"]
        pictures = [p["picture"] for p in summary["pictures"]]   # oldest first: the upload's order
        for picture, boxes in zip(pictures, truth):
            stored = alice.predict(a, picture, [{"class": c, "xyxy": xyxy} for c, *xyxy in boxes],
                                   api_name="/objects_boxes")
            assert [s["class"] for s in stored] == ["ball", "book"]
        # Bad boxes: one sentence each, nothing changed.
        for box, words in ((["ball", 600, 10, 700, 100], "outside"), (["cat", 1, 1, 50, 50], "unknown class"),
                           (["ball", 5, 5, 5, 90], "real size"), (["ball", "NaN", 5, 50, 90], "not a number")):
            with pytest.raises(gradio_client.exceptions.AppError) as err:
                alice.predict(a, pictures[0], [{"class": box[0], "xyxy": box[1:]}], api_name="/objects_boxes")
            assert words in str(err.value) and "Traceback" not in str(err.value)
        with pytest.raises(gradio_client.exceptions.AppError, match="not one of your pictures"):
            alice.predict(a, "../../set", [], api_name="/objects_boxes")
        assert alice.predict(a, api_name="/objects_summary")["boxes"] == {"ball": 4, "book": 4}
        # Bob cannot reach Alice's pictures with his own id, and his set is empty.
        with pytest.raises(gradio_client.exceptions.AppError, match="not one of your pictures"):
            bob.predict(b, pictures[0], [], api_name="/objects_boxes")
        assert bob.predict(b, api_name="/objects_summary")["pictures"] == []
        # The zip: a YOLO data set with every picture and its labels.
        zipped = Path(alice.predict(a, api_name="/objects_zip"))
        with zipfile.ZipFile(zipped) as zf:
            names = zf.namelist()
        assert "data.yaml" in names and sum(n.startswith("images/") for n in names) == 4
        assert sum(n.startswith("images/val/") for n in names) >= 1
        alice.predict(a, api_name="/objects_clear")
        assert alice.predict(a, api_name="/objects_summary")["pictures"] == []
    finally:
        alice.close()
        bob.close()
    assert not no_network


def test_the_editors_server_functions_answer_one_sentence_and_never_raise(tmp_path):
    """What the page's JS calls (component_server): bad frames, bad boxes, other sets' pictures, no model yet."""
    import base64
    import io

    from vision_demo.jobs import JobRegistry
    from vision_demo.ui.objects_tab import make_handlers

    h = make_handlers(JobRegistry(tmp_path / "jobs"))
    fns = {fn.__name__: fn for fn in h.server_functions}
    sid = h.new_set()
    h.set_names(sid, "ball, book")
    img, boxes = scene(9)
    buffer = io.BytesIO()
    img.save(buffer, "JPEG")
    frame = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
    picture = fns["objects_capture"]({"set": sid, "image": frame, "assist": True})["picture"]   # no model: no proposals
    shown = fns["objects_picture"]({"set": sid, "picture": picture})
    assert shown["image"].startswith("data:image/jpeg;base64,") and (shown["w"], shown["h"]) == (640, 480)
    cases = [
        ("objects_capture", {"set": sid, "image": "data:text/html;base64,PGI+"}, "data:image/jpeg"),
        ("objects_capture", {"set": sid, "image": "data:image/jpeg;base64,AAAA"}, "webcam frame"),
        ("objects_save", {"set": sid, "picture": picture, "boxes": [{"class": "cat", "xyxy": [1, 1, 9, 9]}]},
         "unknown class"),
        ("objects_save", {"set": sid, "picture": picture, "boxes": "all of them"}, "must be a list"),
        ("objects_picture", {"set": sid, "picture": "../set"}, "not one of your pictures"),
        ("objects_picture", {"set": h.new_set(), "picture": picture}, "not one of your pictures"),
        ("objects_state", {"set": "../../etc"}, "not a set id"),
        ("objects_live", {"set": sid, "image": frame}, "Train first"),
        ("objects_delete", {"set": sid, "picture": "nope"}, "already gone"),
    ]
    for name, payload, words in cases:
        answer = fns[name](payload)
        assert set(answer) == {"error"} and words.lower() in answer["error"].lower(), (name, answer)
        assert "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert fns["objects_state"]({"set": sid})["pictures"] == [picture]   # nothing else was written
