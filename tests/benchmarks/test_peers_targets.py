from benchmarks.peers.results import PeerRun
from benchmarks.peers.targets import rollouts_to_reach, targets, targets_markdown

SEED = "You are a helpful assistant."


def _row(task, optimizer, test, val, rollouts, curve, prompt=SEED, tokens=6, population=None, scores=None):
    row = {
        "task": task,
        "optimizer": optimizer,
        "test": {"accuracy": test, "ci95": [0.0, 1.0], "scores": scores},
        "val_accuracy": val,
        "rollouts": rollouts,
        "curve": curve,
        "prompt": prompt,
        "prompt_tokens": tokens,
        "seed_prompt": SEED,
    }
    if population is not None:
        row["details"] = {"population": population}
    return PeerRun.model_validate(row)


ROWS = [
    _row("a", "gepa", 0.50, 0.6, 60, [[15, 0.4], [55, 0.6]], prompt="Think step by step.", tokens=40),
    _row("a", "mipro", 0.40, 0.5, 58, [[29, 0.5]]),
    _row(
        "a",
        "spl",
        0.60,
        0.7,
        58,
        [[15, 0.4], [28, 0.6], [50, 0.7]],
        prompt="long",
        tokens=90,
        population=[
            {"val_accuracy": 0.4, "prompt_tokens": 6},
            {"val_accuracy": 0.6, "prompt_tokens": 18},
            {"val_accuracy": 0.7, "prompt_tokens": 90},
        ],
    ),
    _row("b", "gepa", 0.20, 0.1, 60, [[15, 0.1]]),
    _row("b", "mipro", 0.20, 0.1, 60, [[29, 0.1]]),
    _row("b", "spl", 0.20, 0.1, 55, [[15, 0.1]], population=[{"val_accuracy": 0.1, "prompt_tokens": 6}]),
    PeerRun(task="c", optimizer="spl", error="boom"),
]


def test_accuracy_target_averages_over_tasks_both_finished():
    acc = targets(ROWS)["accuracy"]
    assert acc["gepa"]["tasks"] == 2 and acc["mipro"]["tasks"] == 2
    assert round(acc["gepa"]["lead"], 3) == 0.05 and round(acc["mipro"]["lead"], 3) == 0.10
    assert acc["gepa"]["met"] and acc["mipro"]["met"]
    assert acc["gepa"]["lead_ci95"] is None  # no per-example scores kept
    without_mipro = targets([r for r in ROWS if r.optimizer != "mipro"])["accuracy"]
    assert set(without_mipro) == {"gepa"}


def test_paired_interval_when_per_example_scores_were_kept():
    rows = []
    for task, spl, gepa in (("a", [1, 1, 1, 0] * 5, [1, 0, 0, 0] * 5), ("b", [1, 0] * 10, [1, 0] * 10)):
        for name, scores in (("spl", spl), ("gepa", gepa)):
            rows.append(_row(task, name, sum(scores) / len(scores), 0.5, 60, [[15, 0.5]], scores=scores))
    gepa = targets(rows)["accuracy"]["gepa"]
    assert gepa["lead"] == 0.25 and 0 < gepa["lead_ci95"][0] < 0.25 < gepa["lead_ci95"][1]
    assert "95% paired bootstrap [+" in targets_markdown(targets(rows))


def test_rollouts_and_length_against_gepa():
    per_task = targets(ROWS)["per_task"]
    a = per_task["a"]
    assert a["rollouts"]["spl_rollouts_to_reach"] == 28 and a["rollouts"]["met"]  # 28 <= 60 / 2
    assert a["length"]["spl_tokens_at_gepa_val"] == 18 and a["length"]["met"]  # 18 / 40 <= 0.5
    b = per_task["b"]
    assert b["length"] is None and not b["rollouts"]["gepa_improved"]
    assert rollouts_to_reach([[15, 0.1], [40, 0.3]], 0.5) is None


def test_markdown_says_what_is_met_and_what_is_not():
    text = targets_markdown(targets(ROWS))
    assert "(target +3: met)" in text and "GEPA kept the seed prompt" in text
    assert "| a | 0.60 (60; 55) | 28 | met of spent, not met of to-reach | 40 | 18 | 0.45 | met |" in text
