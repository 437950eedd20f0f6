"""The issue's three targets, checked from the peer results (pure: result rows in, verdicts out).

1. Accuracy: mean test accuracy of spl >= GEPA + 3 points and >= MIPROv2 + 5 points, over the tasks
   where all three finished.
2. Rollouts: spl reaches GEPA's final validation accuracy within half of GEPA's rollouts, read from
   spl's curve of best validation accuracy against rollouts.
3. Length: at equal accuracy spl's prompt is at most half as long as GEPA's: the shortest member of
   spl's population whose validation accuracy reaches GEPA's final one, against GEPA's prompt. Tasks
   where GEPA kept the seed prompt are left out (no learned prompt to compare with).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ACCURACY_MARGINS = {"gepa": 0.03, "mipro": 0.05}
EPS = 1e-9


def _by_task(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    tasks: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        if "error" not in r:
            tasks.setdefault(r["task"], {})[r["optimizer"]] = r
    return tasks


def accuracy_target(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean test accuracy per optimizer over the tasks every one of spl, GEPA and MIPROv2 finished."""
    tasks = {t: runs for t, runs in _by_task(rows).items() if {"spl", *ACCURACY_MARGINS} <= set(runs)}
    if not tasks:
        return {"tasks": 0}
    means = {
        name: sum(runs[name]["test"]["accuracy"] for runs in tasks.values()) / len(tasks)
        for name in ("spl", *ACCURACY_MARGINS)
    }
    return {
        "tasks": len(tasks),
        "mean_test": means,
        "lead": {name: means["spl"] - means[name] for name in ACCURACY_MARGINS},
        "met": {name: means["spl"] - means[name] >= m - EPS for name, m in ACCURACY_MARGINS.items()},
    }


def rollouts_to_reach(curve: Sequence[Sequence[float]], accuracy: float) -> int | None:
    """The rollouts at the first curve point at or above `accuracy`; None when never reached."""
    return next((int(r) for r, a in curve if a >= accuracy - EPS), None)


def rollout_target(spl: dict[str, Any], gepa: dict[str, Any]) -> dict[str, Any]:
    """Whether spl reached GEPA's final validation accuracy within half of GEPA's rollouts."""
    reached = rollouts_to_reach(spl.get("curve") or [], gepa["val_accuracy"])
    return {
        "gepa_val": gepa["val_accuracy"],
        "gepa_rollouts": gepa["rollouts"],
        "gepa_improved": _improved(gepa),
        "spl_rollouts_to_reach": reached,
        "met": reached is not None and reached <= gepa["rollouts"] / 2,
    }


def _improved(run: dict[str, Any]) -> bool:
    curve = run.get("curve") or []
    return len(curve) > 1 and curve[-1][1] > curve[0][1] + EPS


def length_target(spl: dict[str, Any], gepa: dict[str, Any]) -> dict[str, Any] | None:
    """spl's shortest prompt at GEPA's validation accuracy against GEPA's prompt; None when GEPA kept
    its seed prompt."""
    if gepa["prompt"].strip() == gepa["seed_prompt"].strip():
        return None
    population = (spl.get("details") or {}).get("population") or []
    reaching = [
        m["prompt_tokens"]
        for m in population
        if "prompt_tokens" in m and m["val_accuracy"] >= gepa["val_accuracy"] - EPS
    ]
    shortest = min(reaching) if reaching else None
    ratio = shortest / gepa["prompt_tokens"] if shortest is not None and gepa["prompt_tokens"] else None
    return {
        "gepa_val": gepa["val_accuracy"],
        "gepa_tokens": gepa["prompt_tokens"],
        "spl_tokens_at_gepa_val": shortest,
        "ratio": ratio,
        "met": ratio is not None and ratio <= 0.5 + EPS,
    }


def targets(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """All three targets: accuracy over tasks, rollouts and length per task (spl against GEPA)."""
    per_task: dict[str, dict[str, Any]] = {}
    for task, runs in sorted(_by_task(rows).items()):
        if "spl" in runs and "gepa" in runs:
            per_task[task] = {
                "rollouts": rollout_target(runs["spl"], runs["gepa"]),
                "length": length_target(runs["spl"], runs["gepa"]),
            }
    return {"accuracy": accuracy_target(rows), "per_task": per_task}


def _yes(flag: bool) -> str:
    return "met" if flag else "not met"


def targets_markdown(result: dict[str, Any]) -> str:
    """The targets as a markdown section for summary.md."""
    acc = result["accuracy"]
    lines = ["## Targets (spl against GEPA and MIPROv2)", ""]
    if acc["tasks"]:
        m, lead = acc["mean_test"], acc["lead"]
        lines.append(
            f"- Mean test accuracy over {acc['tasks']} tasks: spl {m['spl']:.3f}, GEPA {m['gepa']:.3f}, "
            f"MIPROv2 {m['mipro']:.3f}. spl leads GEPA by {100 * lead['gepa']:+.1f} points (target +3: "
            f"{_yes(acc['met']['gepa'])}) and MIPROv2 by {100 * lead['mipro']:+.1f} points (target +5: "
            f"{_yes(acc['met']['mipro'])})."
        )
    lines += [
        "",
        "| task | GEPA final val (rollouts) | spl rollouts to reach it | ≤ half? "
        "| GEPA prompt tokens | spl tokens at that val | ratio | ≤ half? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, t in result["per_task"].items():
        r, n = t["rollouts"], t["length"]
        reached = "never" if r["spl_rollouts_to_reach"] is None else str(r["spl_rollouts_to_reach"])
        kept = "" if r["gepa_improved"] else " (seed)"
        rollouts = (
            f"| {task} | {r['gepa_val']:.2f}{kept} ({r['gepa_rollouts']}) | {reached} | {_yes(r['met'])} "
        )
        if n is None:
            lines.append(rollouts + "| GEPA kept the seed prompt | | | n/a |")
            continue
        spl_tokens = "never reached" if n["spl_tokens_at_gepa_val"] is None else n["spl_tokens_at_gepa_val"]
        ratio = "–" if n["ratio"] is None else f"{n['ratio']:.2f}"
        lines.append(rollouts + f"| {n['gepa_tokens']} | {spl_tokens} | {ratio} | {_yes(n['met'])} |")
    lines += [
        "",
        "(seed): GEPA's final validation accuracy is its seed prompt's, reached by every optimizer with "
        "its first validation pass. spl tokens at that val: the shortest prompt in spl's population whose "
        "validation accuracy reaches GEPA's final one.",
    ]
    return "\n".join(lines) + "\n"
