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

from benchmarks.peers.results import PeerRun
from spl_opt.evaluators.stats import paired_lead

ACCURACY_MARGINS = {"gepa": 0.03, "mipro": 0.05}
NAMES = {"gepa": "GEPA", "mipro": "MIPROv2"}
EPS = 1e-9


Runs = dict[str, PeerRun]  # one task's finished runs, by optimizer


def _by_task(rows: Sequence[PeerRun]) -> dict[str, Runs]:
    tasks: dict[str, Runs] = {}
    for r in rows:
        if not r.failed:
            tasks.setdefault(r.task, {})[r.optimizer] = r
    return tasks


def accuracy_target(rows: Sequence[PeerRun]) -> dict[str, dict[str, Any]]:
    """Per peer (GEPA, MIPROv2) that has results: mean test accuracy of spl and of the peer over the
    tasks both finished, spl's lead (with a paired bootstrap interval when per-example scores were
    kept) and whether the lead reaches the target margin."""
    out: dict[str, dict[str, Any]] = {}
    for peer, margin in ACCURACY_MARGINS.items():
        tasks = {t: runs for t, runs in _by_task(rows).items() if {"spl", peer} <= set(runs)}
        if not tasks:
            continue
        spl, other = (_mean_test(tasks, name) for name in ("spl", peer))
        out[peer] = {
            "tasks": len(tasks),
            "spl": spl,
            "peer": other,
            "lead": spl - other,
            "lead_ci95": _lead_ci(tasks, peer),
            "target": margin,
            "met": spl - other >= margin - EPS,
        }
    return out


def _test(run: PeerRun) -> float:
    assert run.test is not None  # a finished run has a test score
    return run.test.accuracy


def _mean_test(tasks: dict[str, Runs], name: str) -> float:
    return sum(_test(runs[name]) for runs in tasks.values()) / len(tasks)


def _lead_ci(tasks: dict[str, Runs], peer: str) -> list[float] | None:
    """The paired bootstrap interval of spl's lead over `peer`, when every run kept its per-example
    test scores (results from before the harness kept them have none)."""
    pairs = [(_scores(runs["spl"]), _scores(runs[peer])) for runs in tasks.values()]
    if not all(a and b and len(a) == len(b) for a, b in pairs):
        return None
    _, low, high = paired_lead([(a, b) for a, b in pairs if a and b])
    return [low, high]


def _scores(run: PeerRun) -> list[float] | None:
    return run.test.scores if run.test is not None else None


def rollouts_to_reach(curve: Sequence[Sequence[float]], accuracy: float) -> int | None:
    """The rollouts at the first curve point at or above `accuracy`; None when never reached."""
    return next((int(r) for r, a in curve if a >= accuracy - EPS), None)


def rollout_target(spl: PeerRun, gepa: PeerRun) -> dict[str, Any]:
    """Whether spl reached GEPA's final validation accuracy within half of GEPA's rollouts."""
    gepa_val = gepa.val_accuracy or 0.0
    reached = rollouts_to_reach(spl.curve, gepa_val)
    gepa_reached = rollouts_to_reach(gepa.curve, gepa_val)
    return {
        "gepa_val": gepa.val_accuracy,
        "gepa_rollouts": gepa.rollouts,
        "gepa_rollouts_to_reach": gepa_reached,
        "gepa_improved": _improved(gepa),
        "spl_rollouts_to_reach": reached,
        "met": reached is not None and reached <= gepa.rollouts / 2,
        "met_strict": reached is not None and gepa_reached is not None and reached <= gepa_reached / 2,
    }


def _improved(run: PeerRun) -> bool:
    curve = run.curve
    return len(curve) > 1 and curve[-1][1] > curve[0][1] + EPS


def length_target(spl: PeerRun, gepa: PeerRun) -> dict[str, Any] | None:
    """spl's shortest prompt at GEPA's validation accuracy against GEPA's prompt; None when GEPA kept
    its seed prompt."""
    if gepa.prompt.strip() == gepa.seed_prompt.strip():
        return None
    gepa_val = gepa.val_accuracy or 0.0
    population = spl.details.get("population") or []
    reaching = [
        m["prompt_tokens"] for m in population if "prompt_tokens" in m and m["val_accuracy"] >= gepa_val - EPS
    ]
    shortest = min(reaching) if reaching else None
    ratio = shortest / gepa.prompt_tokens if shortest is not None and gepa.prompt_tokens else None
    return {
        "gepa_val": gepa.val_accuracy,
        "gepa_tokens": gepa.prompt_tokens,
        "spl_tokens_at_gepa_val": shortest,
        "ratio": ratio,
        "met": ratio is not None and ratio <= 0.5 + EPS,
    }


def targets(rows: Sequence[PeerRun]) -> dict[str, Any]:
    """All three targets: accuracy over tasks, rollouts and length per task (spl against GEPA)."""
    per_task: dict[str, dict[str, Any]] = {}
    for task, runs in sorted(_by_task(rows).items()):
        if "spl" in runs and "gepa" in runs:
            per_task[task] = {
                "rollouts": rollout_target(runs["spl"], runs["gepa"]),
                "length": length_target(runs["spl"], runs["gepa"]),
            }
    return {"accuracy": accuracy_target(rows), "per_task": per_task}


def _ci(interval: list[float] | None) -> str:
    if interval is None:
        return ""
    return f" (95% paired bootstrap [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}])"


def _yes(flag: bool) -> str:
    return "met" if flag else "not met"


def targets_markdown(result: dict[str, Any]) -> str:
    """The targets as a markdown section for summary.md."""
    lines = ["## Targets (spl against GEPA and MIPROv2)", ""]
    for peer, a in result["accuracy"].items():
        lines.append(
            f"- Mean test accuracy over {a['tasks']} tasks: spl {a['spl']:.3f}, "
            f"{NAMES[peer]} {a['peer']:.3f}; "
            f"lead {100 * a['lead']:+.1f} points{_ci(a['lead_ci95'])} "
            f"(target +{100 * a['target']:.0f}: {_yes(a['met'])})."
        )
    lines += [
        "",
        "| task | GEPA final val (rollouts spent; to reach it) | spl rollouts to reach it | ≤ half? "
        "| GEPA prompt tokens | spl tokens at that val | ratio | ≤ half? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, t in result["per_task"].items():
        r, n = t["rollouts"], t["length"]
        reached = "never" if r["spl_rollouts_to_reach"] is None else str(r["spl_rollouts_to_reach"])
        kept = "" if r["gepa_improved"] else " (seed)"
        gepa = f"{r['gepa_val']:.2f}{kept} ({r['gepa_rollouts']}; {r['gepa_rollouts_to_reach']})"
        half = f"{_yes(r['met'])} of spent, {_yes(r['met_strict'])} of to-reach"
        rollouts = f"| {task} | {gepa} | {reached} | {half} "
        if n is None:
            lines.append(rollouts + "| GEPA kept the seed prompt | | | n/a |")
            continue
        spl_tokens = "never reached" if n["spl_tokens_at_gepa_val"] is None else n["spl_tokens_at_gepa_val"]
        ratio = "–" if n["ratio"] is None else f"{n['ratio']:.2f}"
        lines.append(rollouts + f"| {n['gepa_tokens']} | {spl_tokens} | {ratio} | {_yes(n['met'])} |")
    lines += [
        "",
        "(seed): GEPA's final validation accuracy is its seed prompt's, reached by every optimizer with "
        "its first validation pass. ≤ half?: spl's rollouts to reach GEPA's final validation accuracy "
        "against half of the rollouts GEPA spent, and (stricter) against half of the rollouts GEPA took "
        "to reach it. spl tokens at that val: the shortest prompt in spl's population whose validation "
        "accuracy reaches GEPA's final one.",
    ]
    return "\n".join(lines) + "\n"
