"""The one error type users see.

A `VisionDemoError` carries a message that says what to change ("…: halve the batch size").
The CLI prints it as one line and exits 1; the UI shows it as `gr.Error`; a job that raises it
ends as `failed` with the message. Anything else is a bug and is logged with its traceback.
"""


class VisionDemoError(Exception):
    """A problem the user can fix; `str(err)` is the whole message."""


class BadImageError(VisionDemoError):
    """A file or upload that is not a usable image (corrupt, truncated, too large, empty)."""


class JobCancelled(Exception):
    """Raised inside a job when its stop flag was set; the registry records `cancelled`."""
