import json

from benchmarks import format_rule
from benchmarks.peers.cli import parse_args
from benchmarks.peers.harness import load_task
from spl_opt.testing import ScriptedEngine
from tests.benchmarks.test_peers import fake_models, toy_rows
from tests.conftest import _sum


def answers_only_with_the_rule(system: str, user: str) -> str:
    """A task model that says the right number, but marks it as the answer only when told to."""
    total = _sum(user)
    return f"Answer: {total}" if "Answer: N" in system else f"I added {total - 1} and 1, then 3."


def test_seed_and_rule_are_measured_on_the_same_examples(tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_rows(30)) + "\n")
    task = load_task(str(data), parse_args(["--train", "6", "--val", "4", "--test", "5"]))
    assert "Answer: N" in format_rule.rule_prompt(task)  # numeric targets: the number rule
    engine = ScriptedEngine(answers_only_with_the_rule)
    row = format_rule.measure(task, ["val", "test"], fake_models(engine, engine))
    assert row["n"] == 9 and len(engine.calls) == 18
    assert (row["seed"]["accuracy"], row["rule"]["accuracy"]) == (0.0, 1.0)
    table = format_rule.to_markdown([row], "python -m benchmarks.format_rule")
    assert "| toy | 9 | 0.00 [" in table and "+100 points" in table
