"""How a benchmark that reads earlier results leaves its own: OUT/NAME.json and OUT/NAME.md."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """The command that ran `module` with `argv` (the process's own arguments when None)."""
    return f"python -m {module} " + " ".join(sys.argv[1:] if argv is None else argv)


def save_tables(out: Path, name: str, record: dict[str, Any], markdown: str) -> None:
    """Write `record` as OUT/NAME.json and `markdown` as OUT/NAME.md, and print the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown)
    print(markdown)
