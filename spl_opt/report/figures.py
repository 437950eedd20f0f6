"""The report's figures: each function draws one PNG with matplotlib (Agg backend) and returns its path.

matplotlib is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate
from spl_opt.engine.result import RunReport

DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    _pyplot().close(fig)
    return path


def _point(member: Member) -> tuple[int, float]:
    return member.evaluation.objectives.length_tokens, member.evaluation.objectives.accuracy


def pareto_figure(members: Sequence[Member], front: Sequence[Member], path: Path) -> Path:
    """All members as validation accuracy against prompt tokens, the front as a step line; the seed
    (first member) and the best (highest accuracy, then shortest) are annotated."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if members:
        xs, ys = zip(*(_point(m) for m in members), strict=True)
        ax.scatter(xs, ys, s=24, color="#9aa5b1", label="members", zorder=2)
    ordered = sorted(front, key=lambda m: _point(m)[0])
    if ordered:
        fx, fy = zip(*(_point(m) for m in ordered), strict=True)
        ax.step(fx, fy, where="post", color="#d9480f", linewidth=1.5, zorder=3)
        ax.scatter(fx, fy, s=46, color="#d9480f", label="Pareto front", zorder=4)
    if members:
        seed = members[0]
        best = max(members, key=lambda m: (m.evaluation.objectives.accuracy, -_point(m)[0]))
        for member, label in ((seed, "seed"), (best, "best")):
            ax.annotate(
                f"{label} {member.candidate.id[:6]}",
                _point(member),
                xytext=(8, -14 if label == "best" else 8),
                textcoords="offset points",
                fontsize=8,
                arrowprops={"arrowstyle": "-", "color": "#555"},
            )
    ax.set_xlabel("prompt tokens")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(-0.05, 1.08)
    ax.set_title("Accuracy vs prompt length")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def progress_figure(
    history: Sequence[tuple[int, float]],
    seed_test_acc: float | None,
    best_test_acc: float | None,
    path: Path,
    total_rollouts: int | None = None,
    test_curve: Sequence[tuple[int, float]] = (),
) -> Path:
    """Best validation accuracy so far against rollouts (a step line, extended to `total_rollouts`),
    the test accuracy of the best-so-far prompt when measured (`test_curve`), and the seed's and the
    learned prompt's test accuracy marked and labelled at the end."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    xs = [x for x, _ in history]
    ys = [y for _, y in history]
    end = max([*xs, total_rollouts or 0, 1])
    if history:
        ax.step([*xs, end], [*ys, ys[-1]], where="post", color="#1c7ed6", label="best val accuracy")
        ax.scatter(xs, ys, s=14, color="#1c7ed6", zorder=3)
    if test_curve:
        txs, tys = [x for x, _ in test_curve], [y for _, y in test_curve]
        ax.step(
            [*txs, end],
            [*tys, tys[-1]],
            where="post",
            color="#2b8a3e",
            alpha=0.8,
            label="its test accuracy (measured after the search)",
        )
    for acc, label, color in (
        (seed_test_acc, "seed test", "#868e96"),
        (best_test_acc, "learned test", "#2b8a3e"),
    ):
        if acc is None:
            continue
        ax.axhline(acc, color=color, linestyle=":", linewidth=1)
        ax.scatter([end], [acc], marker="D", s=40, color=color, zorder=4)
        below = label == "seed test"  # seed under its line, learned above: equal values stay legible
        ax.annotate(
            f"{label} {acc:.3f}",
            (end, acc),
            xytext=(-8, -11 if below else 5),
            textcoords="offset points",
            ha="right",
            fontsize=8,
            color=color,
        )
    ax.set_xlabel("rollouts (task LM calls on examples)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.05, 1.08)
    ax.set_title("Search progress")
    ax.grid(alpha=0.3)
    if history:
        ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def _layout(
    edges: Sequence[tuple[str, str]], candidates: Mapping[str, Candidate]
) -> dict[str, tuple[float, int]]:
    """Node positions (x, generation): each layer ordered by its parents' x, so edges rarely cross."""
    nodes = list(dict.fromkeys(n for edge in edges for n in edge))
    parent_of = {child: parent for parent, child in edges}
    layers: dict[int, list[str]] = defaultdict(list)
    for node in nodes:
        gen = candidates[node].generation if node in candidates else 0
        layers[gen].append(node)
    pos: dict[str, tuple[float, int]] = {}
    for gen in sorted(layers):
        layer = sorted(layers[gen], key=lambda n: (pos.get(parent_of.get(n, ""), (0.0, 0))[0], n))
        for i, node in enumerate(layer):
            pos[node] = (i - (len(layer) - 1) / 2, gen)
    return pos


def lineage_figure(
    edges: Sequence[tuple[str, str]],
    candidates: Mapping[str, Candidate],
    accuracies: Mapping[str, float],
    path: Path,
) -> Path:
    """A layered tree, one row per generation (seed on top): nodes labelled with a short id and their
    validation accuracy, edges labelled with the operator that made the child."""
    plt = _pyplot()
    pos = _layout(edges, candidates)
    width = max([1, *(sum(1 for p in pos.values() if p[1] == g) for g in {p[1] for p in pos.values()})])
    depth = max([0, *(p[1] for p in pos.values())])
    fig, ax = plt.subplots(figsize=(max(5.0, 1.9 * width), max(2.6, 1.1 * (depth + 1) + 0.8)))
    for parent, child in edges:
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        ax.plot([x0, x1], [y0, y1], color="#adb5bd", zorder=1)
        op = candidates[child].operator if child in candidates else ""
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            op,
            fontsize=7,
            color="#495057",
            ha="center",
            va="center",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
            zorder=2,
        )
    for node, (x, y) in pos.items():
        acc = accuracies.get(node)
        label = f"{node[:6]}\n{acc:.2f}" if acc is not None else f"{node[:6]}\n–"
        ax.text(
            x,
            y,
            label,
            fontsize=8,
            ha="center",
            va="center",
            zorder=3,
            bbox={"boxstyle": "round,pad=0.35", "fc": "#e7f5ff", "ec": "#1c7ed6"},
        )
    if not pos:
        ax.text(0, 0, "no accepted edits: the seed is the only member", ha="center", va="center")
    ax.set_xlim(-width / 2 - 0.3, width / 2 + 0.3)
    ax.set_ylim(depth + 0.6, -0.6)
    ax.set_yticks(range(depth + 1))
    ax.set_ylabel("generation")
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title("Lineage of the front (short id, val accuracy)")
    return _save(fig, path)


def budget_figure(report: RunReport, path: Path) -> Path:
    """LM calls, tokens (input + output) and LM seconds per role: task search, editor, task test."""
    plt = _pyplot()
    roles = {
        "task search": report.search.task_usage,
        "editor": report.search.editor_usage,
        "task test": report.test_usage,
    }
    names = list(roles)
    colors = ["#1c7ed6", "#d9480f", "#2b8a3e"]
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.2))
    panels: list[tuple[str, list[float]]] = [
        ("calls", [float(u.calls) for u in roles.values()]),
        ("tokens (in + out)", [float(u.input_tokens + u.output_tokens) for u in roles.values()]),
        ("LM seconds", [u.seconds for u in roles.values()]),
    ]
    for ax, (title, values) in zip(axes, panels, strict=True):
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(
            bars, labels=[f"{v:.3g}" if title == "LM seconds" else f"{v:.0f}" for v in values], fontsize=7
        )
        ax.set_title(title, fontsize=9)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
        ax.margins(y=0.15)
    fig.suptitle("Budget by role", fontsize=10)
    return _save(fig, path)
