"""`sftscope lab`: being built (see the issue that owns it)."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this command's parser; `set_defaults(handler=...)` names the function that runs it."""
