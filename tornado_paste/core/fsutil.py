"""Small filesystem helpers shared by the blob store, ingest and images."""

from __future__ import annotations

import os


def unlink_quietly(path: str) -> None:
    """Remove ``path`` if it is there (a clean-up that may race with another)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
