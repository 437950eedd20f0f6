"""What the harness writes from the runs under `--out`: summary.md (a table and the targets),
summary.json, targets.json, and one curves.png per task (best validation accuracy against rollouts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers.results import PeerRun, TestScore, load_results, slug
from benchmarks.peers.targets import targets, targets_markdown

# distinct colour, dash and marker per optimizer, so equal curves still show each other
STYLES: dict[str, dict[str, Any]] = {
    "seed": {"color": "grey", "linestyle": "--", "marker": ""},
    "spl": {"color": "tab:blue", "linestyle": "-", "marker": "o"},
    "gepa": {"color": "tab:orange", "linestyle": (0, (5, 2)), "marker": "s"},
    "mipro": {"color": "tab:green", "linestyle": (0, (2, 2)), "marker": "^"},
}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def accuracy_cell(test: TestScore) -> str:
    """`accuracy [low, high]`."""
    low, high = test.ci95
    return f"{test.accuracy:.2f} [{low:.2f}, {high:.2f}]"


def one_line(run: PeerRun) -> str:
    """A run's outcome in one line, for the harness's progress output."""
    if run.failed or run.test is None:
        return f"FAILED: {run.error}"
    return (
        f"test {accuracy_cell(run.test)}, val {_fmt(run.val_accuracy)}, "
        f"rollouts {run.rollouts}/{run.budget}, "
        f"editor calls {run.editor_calls}, {run.wall_seconds['total'] / 60:.1f} min"
    )


def to_markdown(rows: Sequence[PeerRun]) -> str:
    lines = [
        "| task | optimizer | test acc [95% CI] | val acc | rollouts / budget | editor calls "
        "| prompt tokens | wall (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.failed or r.test is None:
            lines.append(f"| {r.task} | {r.optimizer} | failed: {(r.error or '')[:80]} | | | | | |")
            continue
        lines.append(
            f"| {r.task} | {r.optimizer} | {accuracy_cell(r.test)} "
            f"| {_fmt(r.val_accuracy)} | {r.rollouts} / {r.budget} | {r.editor_calls} "
            f"| {r.prompt_tokens} | {r.wall_seconds['total'] / 60:.1f} |"
        )
    commands = sorted({r.command for r in rows} - {""})
    lines += ["", "Command(s):", *[f"- `{c}`" for c in commands]]
    lines += [
        "",
        "Test accuracy: mean over the test split with a 95% Wilson interval; val acc: the chosen prompt's "
        "validation accuracy as measured by its optimizer (seed: by the harness, outside the budget); "
        "rollouts: task-LM calls during optimization (test evaluation not included); wall: optimization "
        "plus test evaluation.",
    ]
    return "\n".join(lines) + "\n"


def plot_curves(rows: Sequence[PeerRun], path: Path) -> Path:
    """Best validation accuracy against rollouts, one step line per optimizer (seed: a flat line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    budget = max((r.budget for r in rows), default=0)
    right = max([budget, *(r.rollouts for r in rows)], default=1) or 1
    for r in rows:
        curve = r.curve
        name = r.optimizer
        style = STYLES.get(name, {"color": None, "linestyle": "-", "marker": "o"})
        if r.failed or not curve:  # failed, or no full validation evaluation before a cap
            why = "failed" if r.failed else "no validation evaluation"
            ax.plot([], [], color=style["color"], linestyle=style["linestyle"], label=f"{name} ({why})")
            continue
        xs: list[float] = [p[0] for p in curve]
        ys = [p[1] for p in curve]
        if name == "seed":
            ax.axhline(ys[0], color=style["color"], linestyle=style["linestyle"], label=f"seed ({ys[0]:.2f})")
            continue
        evaluated = list(range(len(xs)))  # markers on the evaluations, not on the line's end
        xs.append(max(r.rollouts, xs[-1]))
        ys.append(ys[-1])
        ax.step(
            xs,
            ys,
            where="post",
            markevery=evaluated,
            markersize=4,
            linewidth=1.6,
            alpha=0.85,
            label=f"{name} ({ys[-1]:.2f})",
            **style,
        )
    if budget:
        ax.axvline(budget, linestyle=":", color="black", linewidth=1, label=f"budget {budget}")
    ax.set_xlim(0, right * 1.05)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("task-LM rollouts during optimization")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(f"{rows[0].task}: best validation accuracy vs rollouts" if rows else "")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path


def write_outputs(out: Path) -> list[PeerRun]:
    """summary.md, summary.json, targets.json and one curves.png per task, from every result JSON under
    `out`."""
    rows = load_results(out)
    out.mkdir(parents=True, exist_ok=True)
    verdicts = targets(rows)
    (out / "summary.md").write_text(to_markdown(rows) + "\n" + targets_markdown(verdicts), encoding="utf-8")
    summary = [
        {
            k: getattr(r, k)
            for k in (
                "task",
                "optimizer",
                "test",
                "val_accuracy",
                "rollouts",
                "budget",
                "editor_calls",
                "prompt_tokens",
                "wall_seconds",
                "error",
            )
        }
        for r in rows
    ]
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2) + "\n", encoding="utf-8")
    (out / "targets.json").write_text(json.dumps(verdicts, indent=2) + "\n", encoding="utf-8")
    for task_name in sorted({r.task for r in rows}):
        plot_curves([r for r in rows if r.task == task_name], out / slug(task_name) / "curves.png")
    return rows


def _jsonable(value: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(Any).dump_python(value, mode="json")
