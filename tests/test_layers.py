"""The import contract: layers that only point down (README, "Layout").

Every `spl_opt` module, lazy imports inside functions included, may import only from its own
component or from a lower layer; the components of one layer do not import each other. The top-level
names `search` and `evaluators` are folders of the repository, imported only as `spl_opt.search` and
`spl_opt.evaluators`.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("spl_opt.core",),  # records, protocols, errors
    (  # pure logic and the models, independent of each other
        "spl_opt.search",
        "spl_opt.evaluators",
        "spl_opt.editor",
        "spl_opt.tasks",
        "spl_opt.lm",
        "spl_opt.programs",
        "spl_opt.dspy_programs",
        "spl_opt.config_file",
        "spl_opt.testing",
    ),
    ("spl_opt.config",),
    ("spl_opt.backends", "spl_opt.ledger"),  # where calls run; the Optuna ledger
    ("spl_opt.engine",),  # the loop, replay, journal, run orchestration
    ("spl_opt.export", "spl_opt.dashboard", "spl_opt.tuning", "spl_opt.online"),
    ("spl_opt.report",),
    ("spl_opt.api", "spl_opt.cli"),  # entry points
    ("spl_opt.teleprompt",),  # spl_opt.SPL, the DSPy optimizer over the API
    ("spl_opt",),  # the package's face: `optimize`, the records
)


def component(module: str) -> tuple[int, str]:
    """(layer, component) of a module: the longest component name it starts with."""
    best: tuple[int, str] | None = None
    for layer, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (
                best is None or len(name) > len(best[1])
            ):
                best = (layer, name)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def modules() -> dict[str, Path]:
    found = {}
    for folder, _, files in os.walk(ROOT / "spl_opt", followlinks=True):
        for file in files:
            if file.endswith(".py"):
                path = Path(folder) / file
                parts = path.relative_to(ROOT).with_suffix("").parts
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


MODULES = modules()


def test_the_folders_are_installed_inside_the_spl_opt_namespace():
    assert {"spl_opt.search.pareto", "spl_opt.evaluators.task", "spl_opt.backends.ray"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    layer, own = component(module)
    wrong = []
    for name in sorted(imports(MODULES[module])):
        top = name.split(".")[0]
        if top in ("search", "evaluators"):
            wrong.append(f"{name} (import it as spl_opt.{name})")
        elif top == "spl_opt" and name != "spl_opt":
            their_layer, theirs = component(name)
            if theirs != own and their_layer >= layer:
                wrong.append(f"{name} ({theirs}, layer {their_layer})")
    assert not wrong, f"{module} ({own}, layer {layer}) imports upward or sideways: {', '.join(wrong)}"


def test_no_module_is_over_400_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these modules: {long}"


def test_benchmarks_and_tests_import_the_namespaced_packages():
    for path in [*ROOT.glob("benchmarks/**/*.py"), *ROOT.glob("tests/**/*.py")]:
        tops = {name.split(".")[0] for name in imports(path)}
        assert not tops & {"search", "evaluators"}, f"{path} imports a top-level search/evaluators"
