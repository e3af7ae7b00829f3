"""vision_demo: transfer learning and one-pass detection, live in a browser.

Layers, each importing only from those below it (checked by `lint-imports`, see .importlinter):

    __main__ > cli                     python -m vision_demo ...
    ui | commands                      the browser app (the only importer of gradio), the CLI's subcommands
    take_home | warmup | prefetch      what the app does besides a tab: downloads, warm-up, the offline pack
    classify | detect                  the features: training, prediction, exports
    datasets                           generated scenes and shapes, uploads, YOLO sets
    jobs | images | ultralytics_env | formats   the job system (kinds named, not imported), safe decoding,
                                       Ultralytics set-up, the export formats and runtimes (one table each)
    settings > devices | folders > errors   the work folder and limits, devices, errors

`|` separates layers that do not import each other.

Data flows one way: upload -> datasets -> a job of classify / detect -> events -> jobs' registry -> cli / ui.
Importing the package sets the offline environment (see settings.configure) before any
library that reads it is imported.
"""
from vision_demo import settings as _settings

_settings.configure()

__version__ = "0.1.0"
