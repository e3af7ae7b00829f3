"""Issue 7 through a real server on 127.0.0.1, as a student on the LAN would try it (a client from 127.0.0.2).

Each attack is refused with a sentence that names no server path, nothing is created outside the work folder,
the uploads folder keeps its quota, and the server still answers afterwards.
"""
import os
import threading
import time

import pytest

from conftest import serve_app
from hostile import ESCAPE_FILES, ESCAPES, FileSystemWatch, classification_zip, from_address, yolo_zip, zip_bomb
from vision_demo import settings

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from vision_demo.jobs import JobRegistry

    registry = JobRegistry(tmp_path_factory.mktemp("hostile-jobs"))
    with serve_app(registry, warm_up=False) as url:
        with from_address("127.0.0.2"):
            student = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        teacher = gradio_client.Client(url, analytics_enabled=False, verbose=False)
        yield url, student, teacher, registry
        student.close()
        teacher.close()
    registry.shutdown()


def _as_student(client, *args, api_name):
    with from_address("127.0.0.2"):
        return client.predict(*args, api_name=api_name)


def _refusal(client, *args, api_name) -> str:
    with pytest.raises(Exception) as info:
        _as_student(client, *args, api_name=api_name)
    return str(info.value)


def _no_server_paths(message: str) -> None:
    work = os.path.realpath(settings.work_dir())
    assert work not in message and str(settings.work_dir()) not in message, message
    assert "/tmp/" not in message and "Something went wrong inside the app" not in message, message
    assert "Traceback" not in message


def _still_answers(client) -> None:
    gallery, _, report = _as_student(client, "scenes", None, api_name="/load_data")
    assert gallery and "6 classes" in report


def test_the_server_sees_the_student_as_a_visitor(server, tiny_scenes, no_network):
    """The premise of every test here: a client from 127.0.0.2 is not the server's own browser."""
    _, student, teacher, _ = server
    message = _refusal(student, tiny_scenes, None, api_name="/load_data")
    assert "can only be opened from the server itself" in message
    _no_server_paths(message)
    _, _, report = teacher.predict(tiny_scenes, None, api_name="/load_data")   # the teacher may
    assert "6 classes" in report and tiny_scenes in report
    assert not no_network


@pytest.mark.parametrize("attack", ["absolute", "dot-dot", "txt list, absolute"])
def test_an_escaping_yolo_zip_is_refused_and_serves_nothing(attack, server, tmp_path, no_network):
    _, student, _, _ = server
    yaml_text, key = ESCAPES[attack]
    upload = yolo_zip(tmp_path / "escape.zip", yaml_text, extra=ESCAPE_FILES.get(attack))
    with FileSystemWatch(tmp_path) as watch:
        started = time.monotonic()
        message = _refusal(student, "shapes", gradio_client.handle_file(str(upload)), api_name="/check_yolo_data")
        assert time.monotonic() - started < 5
        # training on it the way the check would have handed it over is refused the same way
        message_train = _refusal(student, "work:uploads/../../../etc", "pretrained", 1, 160, api_name="/yolo_train")
    assert f"`{key}" in message and "outside the data set" in message, message
    assert "not a folder of this app" in message_train or "only be opened" in message_train, message_train
    _no_server_paths(message)
    assert watch.new_outside() == {} and watch.links_outside() == []
    assert not [p for p in (settings.work_dir() / "uploads").iterdir() if p.name.startswith("escape-")]
    _still_answers(student)
    assert not no_network


def test_bombs_and_bad_labels_get_a_sentence_not_an_internal_error(server, tmp_path, no_network):
    from hostile import ALIAS_BOMB

    _, student, _, _ = server
    started = time.monotonic()
    message = _refusal(student, "shapes", gradio_client.handle_file(str(yolo_zip(tmp_path / "laughs.zip", ALIAS_BOMB))),
                       api_name="/check_yolo_data")
    assert "aliases" in message and time.monotonic() - started < 5
    _no_server_paths(message)

    started = time.monotonic()
    bomb = zip_bomb(tmp_path / "bomb.zip")
    message = _refusal(student, "scenes", gradio_client.handle_file(str(bomb)), api_name="/load_data")
    assert "zip bomb" in message and time.monotonic() - started < 10
    _no_server_paths(message)
    assert not [p for p in (settings.work_dir() / "uploads").iterdir() if p.name.startswith("bomb-")]

    labels = {"labels/train/train_0000.txt": "nan 0.5 0.5 0.1 0.1\n"}
    report, handle = _as_student(student, "shapes",
                                 gradio_client.handle_file(str(yolo_zip(tmp_path / "nan.zip", labels=labels))),
                                 api_name="/check_yolo_data")
    assert "labels/train/train_0000.txt line 1 has nan or inf" in report
    assert handle.startswith("work:datasets/prepared/") and handle.endswith("/data.yaml")
    _no_server_paths(report + handle)
    _still_answers(student)
    assert not no_network


def test_a_refused_classification_zip_names_its_own_folder_and_leaves_nothing(server, tmp_path, no_network):
    _, student, _, _ = server
    upload = classification_zip(tmp_path / "one-class.zip", classes=("cats",))
    message = _refusal(student, "scenes", gradio_client.handle_file(str(upload)), api_name="/load_data")
    assert message.startswith("train/: need at least two class folders"), message
    _no_server_paths(message)
    assert not [p for p in (settings.work_dir() / "uploads").iterdir() if p.name.startswith("one-class-")]
    # a good one: the report names the upload for people, its handle (what the Train tab accepts back) in the tooltip
    _, _, report = _as_student(student, "scenes", gradio_client.handle_file(str(classification_zip(tmp_path / "pets.zip"))),
                               api_name="/load_data")
    assert "your upload: pets.zip" in report and 'title="work:uploads/pets-' in report and "2 classes" in report
    assert "Disk used by the app: uploads" in report
    _no_server_paths(report)
    assert not no_network


def test_a_visitor_queues_at_most_a_few_jobs_behind_the_teachers_and_sees_no_paths(server, tmp_path, tiny_scenes,
                                                                                   no_network):
    _, student, teacher, registry = server
    release = threading.Event()
    registry.submit("classify", "the teacher's long demo", {}, lambda ctx: release.wait(60) and {})
    try:
        import shutil
        shutil.copytree(tiny_scenes, settings.subdir("datasets", "tiny"), dirs_exist_ok=True)
        handle = "work:datasets/tiny"   # what a visitor's Train tab holds after loading an upload
        ids = _as_student(student, handle, 1, 48, 8, api_name="/compare")          # four jobs: the limit
        assert len(ids) == 4
        message = _refusal(student, handle, "simple_cnn", "scratch", 1, 48, 8, 0, True, api_name="/train")
        assert "already have 4 training jobs" in message
        teacher_ids = teacher.predict(tiny_scenes, "simple_cnn", "scratch", 1, 48, 8, 0, True, api_name="/train")
        state = _as_student(student, ids[0], api_name="/job_status")
        assert state["status"] == "queued" and state["config"]["data"] == handle
        _no_server_paths(str(state))
    finally:
        release.set()
    order = []
    for job_id in [*teacher_ids, *ids]:
        final = registry.wait(job_id, timeout=240)
        assert final.status == "finished", final.error
        order.append((final.started, job_id))
    assert sorted(order)[0][1] == teacher_ids[0]     # the teacher's job ran first, though queued last
    assert not no_network


def _webcam_call(url: str, payload, session: str = "hostile-session") -> tuple[int, object]:
    """POST one frame to the webcam view's server function as the page does (/gradio_api/component_server/),
    from 127.0.0.2: (HTTP status, decoded answer)."""
    import http.client
    import json
    from urllib.parse import urlparse

    config = json.loads(urlopen_text(url + "config"))
    component = next(c["id"] for c in config["components"] if "webcam_frame" in (c.get("props") or {}).get("server_fns", []))
    body = json.dumps({"data": payload, "component_id": component, "fn_name": "webcam_frame", "session_hash": session})
    where = urlparse(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60, source_address=("127.0.0.2", 0))
    try:
        conn.request("POST", "/gradio_api/component_server/", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        text = response.read().decode()
        return response.status, (json.loads(text) if text.startswith(("{", "[")) else text)
    finally:
        conn.close()


def urlopen_text(url: str) -> str:
    from urllib.request import urlopen

    with urlopen(url, timeout=30) as r:
        return r.read().decode()


@pytest.mark.parametrize("payload, message", [
    ({"image": "data:image/jpeg;base64," + "QUFB" * 1_100_000}, "over 3 MB"),
    ({"image": "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="}, "data:image/jpeg;base64"),
    ({"image": "data:image/png;base64,iVBORw0KGgo="}, "image"),                       # a PNG header, no picture
    ({"image": "data:image/jpeg;base64,QUFB", "weights": "/etc/passwd"}, "can only be opened from the server"),
    ({"image": "data:image/jpeg;base64,QUFB", "weights": "../../../etc/passwd"}, "can only be opened from the server"),
    ("not even a dict", "data:image/jpeg;base64"),
])
def test_webcam_frames_from_a_student_get_a_message_and_the_server_goes_on(server, payload, message):
    """The live webcam's frames reach a server function, not a queued event: a hostile page sends anything."""
    url, student, _, _ = server
    with FileSystemWatch() as watch:
        status, answer = _webcam_call(url, payload)
    assert status == 200 and set(answer) == {"error"} and message in answer["error"], (status, answer)
    _no_server_paths(answer["error"])
    assert watch.new_outside() == {} and watch.links_outside() == []
    _still_answers(student)
