"""The layers of vision_demo/__init__.py, enforced: `lint-imports` keeps the contracts of .importlinter, and a
wrong arrow (gradio outside ui/, a lower layer importing a higher one, inside a function too) breaks them."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` of the environment running the tests, on the package and .importlinter found in `cwd`."""
    script = Path(sys.executable).with_name("lint-imports")
    command = str(script) if script.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is missing: pip install -r requirements-dev.txt"
    env = {**os.environ, "PYTHONPATH": str(cwd)}   # this copy of vision_demo, not another on the path
    return subprocess.run([command, "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_package_keeps_its_import_contracts():
    out = lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    contracts = (ROOT / ".importlinter").read_text().count("[importlinter:contract:")   # every one was checked
    assert contracts >= 2 and f"{contracts} kept, 0 broken" in out.stdout, out.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("classify/__init__.py", "import gradio\n", "Only the UI imports gradio"),
    ("jobs.py", "\n\ndef _runner():\n    from vision_demo.classify.train import job_from_config\n"
                "    return job_from_config\n", "Layers"),
    ("datasets/scenes.py", "\n\ndef _plot():\n    from vision_demo.ui import job_view\n    return job_view\n",
     "Layers"),
])
def test_a_wrong_arrow_breaks_a_contract(tmp_path, module, line, contract):
    """A copy of the package with one forbidden import added fails lint-imports, naming the import."""
    shutil.copytree(ROOT / "vision_demo", tmp_path / "vision_demo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    assert lint_imports(tmp_path).returncode == 0          # the copy as it is keeps them
    with open(tmp_path / "vision_demo" / module, "a") as f:
        f.write(line)
    out = lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    broken = out.stdout[out.stdout.index("Broken contracts"):]
    assert contract in broken, out.stdout            # (ui/ is above datasets and imports gradio: both break)
    importer = "vision_demo." + module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    assert importer in broken, out.stdout
