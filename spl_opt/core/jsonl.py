"""Append-only JSON-lines files that survive a kill mid-write."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO


def open_append(path: Path) -> TextIO:
    """Open `path` for appending; a torn last line (a kill mid-write) is closed off first, so the next
    line written stands alone instead of being glued to the fragment and lost with it."""
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:
            with path.open("a", encoding="utf-8") as f:
                f.write("\n")
    return path.open("a", encoding="utf-8")
