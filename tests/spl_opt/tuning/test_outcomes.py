import json

import pytest

from spl_opt.cli import main
from spl_opt.config import RunConfig, SearchConfig
from spl_opt.core.errors import DataError, RunDirError
from spl_opt.core.records import Playbook
from spl_opt.engine.runner import default_operators, execute, task_scorer
from spl_opt.programs import ChatProgram
from spl_opt.search.budget import Budget
from spl_opt.tuning.outcomes import export_edits, read_edits, run_outcomes
from tests.conftest import HINT


def make_run(path, task, task_lm, editor_lm, *, operators=None, rollouts=60, seed=0):
    """A finished search on the toy task, its journal in `path`."""
    execute(
        task=task,
        program=ChatProgram(task_lm),
        scorer=task_scorer(task),
        seed_playbook=Playbook(preamble=task.seed_prompt),
        operators=default_operators(editor_lm, task.train),
        config=RunConfig(
            task=task.name,
            seed=seed,
            budget=Budget(max_rollouts=rollouts),
            search=SearchConfig(minibatch_size=3, **({"operators": operators} if operators else {})),
        ),
        run_dir=path,
    )
    return path


def test_every_proposal_becomes_an_outcome_with_its_evidence_and_gains(
    tmp_path, toy_task, task_lm, editor_lm
):
    run = make_run(tmp_path / "run", toy_task, task_lm, editor_lm, operators={"editor": 1.0})
    outcomes = run_outcomes(run)
    proposals = [json.loads(line) for line in (run / "journal.jsonl").open() if '"proposal"' in line]
    assert len(outcomes) == len(proposals) >= 1
    first = outcomes[0]
    assert first.task == "toy" and first.run == "run" and first.operator == "editor" and first.needs_lm
    assert first.parent.preamble == toy_task.seed_prompt and first.evidence and first.evidence.failures
    assert HINT in first.edits[0].text
    assert (first.parent_score, first.child_score, first.gain, first.accepted) == (0.0, 1.0, 1.0, True)
    assert first.val_gain == 1.0  # the child reached validation: 0 -> 1


def test_export_round_trips_and_the_cli_writes_the_same(tmp_path, toy_task, task_lm, editor_lm):
    runs = [make_run(tmp_path / f"run{s}", toy_task, task_lm, editor_lm, seed=s) for s in (0, 1)]
    path = tmp_path / "edits.jsonl"
    count = export_edits(runs, path)
    expected = [o for r in runs for o in run_outcomes(r)]
    assert count == len(expected) > 1 and list(read_edits(path)) == expected
    assert main(["edits", *map(str, runs), "--out", str(tmp_path / "cli.jsonl")]) == 0
    assert (tmp_path / "cli.jsonl").read_text() == path.read_text()


def test_bad_input_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "edits.jsonl"
    path.write_text('{"run": "r"}\n')
    with pytest.raises(DataError, match=r"edits.jsonl:1: not an edit outcome"):
        list(read_edits(path))
    with pytest.raises(RunDirError, match="not an spl-opt run directory"):
        run_outcomes(tmp_path)
    assert main(["edits", str(tmp_path), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "not an spl-opt run directory" in capsys.readouterr().err
