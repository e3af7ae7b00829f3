"""Subcommands of `python -m vision_demo`; each module has `register(subparsers)`."""
