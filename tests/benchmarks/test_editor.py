"""benchmarks.editor's bookkeeping: when a run reached a validation accuracy, the per-arm summary and
the rollouts ratio, and rows kept from an earlier invocation with the same tuned editor."""

import json

from benchmarks import editor


def row(task: str, seed: int, arm: str, history, final_val: float, **extra) -> dict:
    base = {"task": task, "seed": seed, "arm": arm, "history": history, "final_val": final_val}
    return {
        **base,
        "editor_calls": 2,
        "editor_accepted": 0,
        "editor_val_gain": 0.0,
        "editor_share": 0.0,
        "test_scores": [1.0, 0.0],
        "test": 0.5,
        "rollouts": 10,
        **extra,
    }


def test_reached_at_is_the_first_rollout_count_at_or_above_the_accuracy():
    history = [(10, 0.2), (30, 0.4), (50, 0.6)]
    assert editor.reached_at(history, 0.4) == 30
    assert editor.reached_at(history, 0.7) is None


def test_summary_pairs_arms_by_task_and_seed():
    rows = [
        row("t", 0, "untuned", [(10, 0.2), (40, 0.4)], 0.4),
        row("t", 0, "tuned", [(20, 0.4)], 0.4, editor_accepted=1, editor_val_gain=0.2),
        row("t", 1, "untuned", [(10, 0.6)], 0.6),
        row("t", 1, "tuned", [(10, 0.2)], 0.2),
    ]
    summary = editor.summarize(rows)
    assert summary["tuned"]["acceptance"] == 0.25 and summary["untuned"]["acceptance"] == 0.0
    assert summary["tuned"]["val_gain_per_call"] == 0.05
    assert summary["rollouts_ratio"] == {"pairs": 2, "reached": 1, "mean": 0.5}


def test_rows_of_an_earlier_invocation_are_kept_only_for_the_same_tuned_editor(tmp_path):
    path = tmp_path / "editor.json"
    assert editor.recorded_rows(path, {"demos": 3}) == []
    rows = [row("t", 0, "untuned", [[10, 0.2]], 0.2)]
    path.write_text(json.dumps({"summary": {}, "rows": rows, "manifest": {"demos": 3}}))
    assert editor.recorded_rows(path, {"demos": 3}) == rows
    assert editor.recorded_rows(path, {"demos": 4}) == []


def test_kind_stats_count_the_lm_editors_proposals_by_the_kind_asked(tmp_path, toy_task, task_lm, editor_lm):
    from tests.spl_opt.tuning.test_outcomes import make_run

    run = make_run(tmp_path / "run", toy_task, task_lm, editor_lm, operators={"editor": 1.0})
    stats = editor.kind_stats([run, tmp_path / "gone"])  # a run directory not kept is skipped
    assert set(stats) <= {"any", "add", "revise", "delete", "preamble"}
    asked = sum(k["asked"] for k in stats.values())
    assert asked >= 1 and all(k["asked"] >= k["usable"] >= k["passed"] >= k["raised"] for k in stats.values())
    rows = [row("toy", 0, "untuned", [[10, 0.2]], 0.2)]
    editor.write_results(tmp_path, rows, {"demos": 0}, "cmd")
    assert json.loads((tmp_path / "editor.json").read_text())["summary"]["kinds"] == {
        "untuned": {},
        "tuned": {},
    }
