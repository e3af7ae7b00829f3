"""The offline environment: set at import, inside the work folder, and importing writes nothing."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_import_sets_the_offline_environment_and_writes_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VISION_DEMO_", "YOLO_", "HF_HUB_", "GRADIO_", "ULTRALYTICS_", "_VISION_DEMO"))}
    env["PYTHONPATH"] = str(ROOT)
    code = ("import os, vision_demo; print(os.environ['YOLO_OFFLINE'], os.environ['HF_HUB_OFFLINE'], "
            "os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['ULTRALYTICS_SAFE_LOAD'], "
            "os.environ['YOLO_AUTOINSTALL'], os.environ['YOLO_CONFIG_DIR'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:5] == ["1", "1", "False", "1", "False"]
    assert out[5] == str(tmp_path.resolve() / "vision_demo_work" / "ultralytics")
    assert list(tmp_path.iterdir()) == []  # the work folder appears only when something is written


def test_a_users_own_choice_wins_and_online_lifts_the_offline_switches(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VISION_DEMO_", "YOLO_", "HF_HUB_", "_VISION_DEMO"))}
    env.update(PYTHONPATH=str(ROOT), YOLO_CONFIG_DIR=str(tmp_path / "mine"), VISION_DEMO_ONLINE="1")
    code = "import os, vision_demo; print(os.environ['YOLO_CONFIG_DIR'], os.environ.get('YOLO_OFFLINE', '-'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(tmp_path / "mine"), "-"]


def test_openvino_telemetry_is_the_converters_do_nothing_stub():
    """OpenVINO's converter would report to Google Analytics and write ~/intel/openvino_ga_cid; with the
    package made unimportable it uses its own stub (what a machine without openvino-telemetry gets)."""
    code = ("import sys, vision_demo; import openvino.tools.ovc.telemetry_utils as t; "
            "print(sys.modules['openvino_telemetry'], t.tm.__name__)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", "openvino.tools.ovc.telemetry_stub"]
