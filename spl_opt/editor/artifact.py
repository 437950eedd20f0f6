"""A tuned editor on disk: the compiled `EditorModule` (DSPy's save format) and a manifest.

    editors/mine/
      editor.json     the module's state: its instructions and demonstrations (`dspy.Module.save`)
      manifest.json   EditorManifest: what it was tuned on, the operator priors, what was measured

`spl-opt tune-editor` writes one (`spl_opt.tuning.tune`); `optimize(..., editor=...)` and
`spl-opt optimize --editor DIR` load it: the module becomes the LM operator's program, the priors the
operator policy's (`spl_opt.engine.operator_choice`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from spl_opt.core.errors import ConfigError
from spl_opt.core.records import Record

MODULE_FILE = "editor.json"
MANIFEST_FILE = "manifest.json"


class EditorManifest(Record):
    """What a tuned editor is: its data, its priors, and what was measured of it."""

    format: Literal["spl-opt-editor/1"] = "spl-opt-editor/1"
    tasks: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    budget: int | None = None  # rollouts per tuning run, when the runs were made by tune-editor
    models: dict[str, str] = Field(default_factory=dict)  # role -> model
    priors: dict[str, dict[str, tuple[float, float]]] = Field(default_factory=dict)
    demos: int = 0
    measured: dict[str, Any] = Field(default_factory=dict)  # held-out edit gains, tuned and untuned
    versions: dict[str, str | None] = Field(default_factory=dict)
    created: str = ""


BUILTIN = "builtin:"
BUILTIN_EDITORS = Path(__file__).resolve().parent.parent / "editors"


def editor_dir(value: str) -> Path:
    """The directory a `--editor` value names: a path, or `builtin:NAME` for a tuned editor shipped in
    the package (`builtin:embedded`: tuned for the embedded models on 12 BBH tasks; not the default,
    as it did not beat the untuned editor on tasks it was not tuned on, see benchmarks/README.md)."""
    if not value.startswith(BUILTIN):
        return Path(value)
    name = value[len(BUILTIN) :]
    shipped = sorted(p.name for p in BUILTIN_EDITORS.iterdir() if p.is_dir())
    if name not in shipped:
        raise ConfigError(f"no built-in editor {name!r}; the package ships: {', '.join(shipped)}")
    return BUILTIN_EDITORS / name


def save_editor(directory: Path, module: Any, manifest: EditorManifest) -> Path:
    """Write `module` (an EditorModule) and `manifest` into `directory`; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    module.save(str(directory / MODULE_FILE))
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")
    return directory


def read_manifest(directory: Path) -> EditorManifest:
    """The manifest of the tuned editor in `directory`; ConfigError in one line if it is not one."""
    path = directory / MANIFEST_FILE
    if not path.is_file() or not (directory / MODULE_FILE).is_file():
        raise ConfigError(f"{directory} is not a tuned editor (needs {MODULE_FILE} and {MANIFEST_FILE})")
    try:
        return EditorManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: not an editor manifest ({str(exc).splitlines()[0]})") from None


def load_editor_module(directory: Path) -> Any:
    """The EditorModule saved in `directory`, with its instructions and demonstrations."""
    from spl_opt.editor.dspy_editor import new_editor_module

    read_manifest(directory)
    module = new_editor_module()
    try:
        module.load(str(directory / MODULE_FILE))
    except Exception as exc:  # DSPy raises several kinds for a state that does not fit
        raise ConfigError(f"{directory / MODULE_FILE}: cannot load the editor ({exc})") from None
    return module
