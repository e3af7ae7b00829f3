"""vision_demo: transfer learning and one-pass detection, live in a browser.

Layers (data flows one way): datasets -> classify / detect -> jobs (events) -> cli / ui.
Importing the package sets the offline environment (see settings.configure) before any
library that reads it is imported.
"""
from vision_demo import settings as _settings

_settings.configure()

__version__ = "0.1.0"
