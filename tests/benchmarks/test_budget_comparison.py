"""benchmarks.budget: two edit-by-edit measurements of the same samples at two budgets, side by side."""

import json

import pytest

from benchmarks import budget, cutoff
from spl_opt.core.records import Playbook


def _row(task: str, index: int, arm: str, held: float | None, **extra) -> dict:
    accepted = bool(held and held > 0)
    return {
        "task": task,
        "seed": 0,
        "index": index,
        "arm": arm,
        "held_gain": held,
        "accepted": accepted,
        **extra,
    }


def _out(directory, rows, cache_lines=()):
    directory.mkdir()
    (directory / "edits.json").write_text(json.dumps({"rows": rows}))
    (directory / "eval-cache.jsonl").write_text("".join(line + "\n" for line in cache_lines))
    return directory


def test_the_arms_are_compared_on_the_samples_both_measured(tmp_path):
    first = [
        _row("bbh:web_of_lies", 0, "placebo", 0.0),
        _row("bbh:web_of_lies", 1, "placebo", 0.25),
        _row("bbh:web_of_lies", 0, "written", -0.5),
        _row("gsm8k", 0, "written", None),
    ]
    second = [_row(r["task"], r["index"], r["arm"], 0.25, task_max_tokens=512) for r in first[:3]]
    report = budget.compare(first, second)
    written, placebo = report["arms"]["written"], report["arms"]["placebo"]
    assert written["samples"] == 1 and written["gain"][0][0] == -0.5 and written["difference"][0] == 0.75
    assert placebo["samples"] == 2 and placebo["accepted"] == [1, 2] and placebo["difference"][0] == 0.125
    assert placebo["distinct"] == 1 and placebo["difference_by_edit"] == (0.125, 0.125, 0.125)  # one edit
    assert report["tasks"] == {"bbh:web_of_lies": {"written": [-0.5, 0.25], "placebo": [0.125, 0.25]}}
    assert budget.budget_of(second) == 512 and budget.budget_of(first) == budget.DEFAULT_MAX_TOKENS


def test_the_report_shows_the_seed_prompts_accuracy_and_cut_off_share_at_each_budget(tmp_path):
    seed = Playbook(preamble=cutoff.SEED_PROMPT).id

    def entry(example, score, truncated):
        result = {"example_id": example, "score": score, "truncated": truncated}
        return json.dumps({"key": [seed, example, "ns"], "result": result})

    rows = [_row("bbh:web_of_lies", 0, "placebo", 0.0)]
    first = _out(
        tmp_path / "a", rows, [entry("web_of_lies-1", 0.0, True), entry("web_of_lies-2", 1.0, False)]
    )
    second = _out(
        tmp_path / "b",
        [{**r, "task_max_tokens": 512} for r in rows],
        [
            entry("web_of_lies-1", 1.0, False),
            entry("web_of_lies-2", 1.0, False),
            entry("web_of_lies-3", 0.0, True),
        ],
    )  # web_of_lies-3 only at the second budget: left out of both columns
    budget.main([str(first), str(second), "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "budget.md").read_text()
    assert "Second: embedded:qwen-0.5b (max_tokens 512)." in text
    assert "| bbh:web_of_lies | 0.50 → 1.00 | 0.50 → 0.00 | +0.00 → +0.00 |" in text
    assert "paired over the 2 pool examples both caches hold: +0.500" in text


def test_a_missing_measurement_is_one_clear_error(tmp_path):
    with pytest.raises(SystemExit, match=r"edits\.json does not exist"):
        budget.main([str(tmp_path / "none"), str(tmp_path / "none"), "--out", str(tmp_path / "out")])


def test_without_a_cache_the_report_says_the_seed_was_not_compared(tmp_path):
    rows = [_row("bbh:web_of_lies", 0, "placebo", 0.0)]
    first, second = _out(tmp_path / "a", rows), _out(tmp_path / "b", rows)
    (first / "eval-cache.jsonl").unlink()
    budget.main([str(first), str(second), "--out", str(tmp_path / "out")])
    text = (tmp_path / "out" / "budget.md").read_text()
    assert "no pool example is in both caches" in text and "paired over the 0" not in text
