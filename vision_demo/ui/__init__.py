"""The Gradio app: one module per tab, `job_view` renders job snapshots, `app.build_demo()` puts them together.

    from vision_demo.ui.app import build_demo
    build_demo().launch()

Only this package (and app.py) imports gradio; torch and ultralytics are imported on first use.
"""
