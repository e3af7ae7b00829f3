"""The Gradio app: one module per tab, `job_view` renders job snapshots, `app.build_demo()` puts them together.

    from vision_demo.ui.app import build_demo
    build_demo().launch()

Only this package (and app.py) imports gradio; torch and ultralytics are imported on first use.
Importing it points Gradio's upload folder into the work folder (unless GRADIO_TEMP_DIR is set):
nothing a user uploads is written outside it.
"""
import os

from vision_demo import settings

os.environ.setdefault("GRADIO_TEMP_DIR", str(settings.subdir("gradio")))
