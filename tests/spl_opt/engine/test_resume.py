"""A run killed at any moment resumes where it stopped: nothing finished is lost or computed again."""

import json

import pytest

from spl_opt.config import RunConfig, SearchConfig
from spl_opt.core.records import Playbook
from spl_opt.engine.runner import default_operators, execute, task_scorer
from spl_opt.programs import ChatProgram
from spl_opt.testing import ScriptedEngine, StrategyFollower, editor_reply, scripted_lm
from tests.conftest import HINT, _sum

CONFIG = RunConfig(
    search=SearchConfig(minibatch_size=3, operators={"editor": 1.0, "worked-example": 0.5}),
    budget={"max_rollouts": 60},
)


class Killer:
    """Wraps a responder; raises KeyboardInterrupt (like a kill) at call number `at`."""

    def __init__(self, inner, at: int | None):
        self.inner, self.at, self.count = inner, at, 0

    def __call__(self, system, user):
        self.count += 1
        if self.at is not None and self.count == self.at:
            raise KeyboardInterrupt
        return self.inner(system, user)


def _run(run_dir, task, kill_task_at=None, kill_editor_at=None):
    task_fn = Killer(StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0."), kill_task_at)
    editor_fn = Killer(
        lambda s, u: editor_reply("add", f"Always {HINT}; end with 'Answer: N'."), kill_editor_at
    )
    task_lm, editor_lm = scripted_lm(task_fn), scripted_lm(editor_fn)
    report = execute(
        task=task,
        program=ChatProgram(task_lm),
        scorer=task_scorer(task),
        seed_playbook=Playbook(preamble=task.seed_prompt),
        operators=default_operators(editor_lm),
        config=CONFIG,
        run_dir=run_dir,
    )
    return report, task_lm.engine, editor_lm.engine


def _outcomes(evaluation):
    return [(r.example_id, r.score, r.output) for r in evaluation.results]


def _calls(engine: ScriptedEngine) -> int:
    return len(engine.calls)


@pytest.mark.parametrize("kill_task_at,kill_editor_at", [(5, None), (14, None), (31, None), (None, 1)])
def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path, toy_task, kill_task_at, kill_editor_at):
    reference, ref_task, ref_editor = _run(tmp_path / "ref", toy_task)
    run_dir = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        _run(run_dir, toy_task, kill_task_at, kill_editor_at)
    first_task_calls = kill_task_at - 1 if kill_task_at else None
    resumed, task_engine, editor_engine = _run(run_dir, toy_task)

    assert [m.candidate.id for m in resumed.search.members] == [
        m.candidate.id for m in reference.search.members
    ]
    assert resumed.search.best.candidate.id == reference.search.best.candidate.id
    assert _outcomes(resumed.best_test) == _outcomes(reference.best_test)
    if first_task_calls is not None:  # finished task calls of the first session are never redone
        assert first_task_calls + _calls(task_engine) == _calls(ref_task)
    else:  # the task calls before the editor kill are all replayed from the cache
        assert _calls(editor_engine) <= _calls(ref_editor)
    events = [json.loads(line)["event"] for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    ref_events = [
        json.loads(line)["event"] for line in (tmp_path / "ref/journal.jsonl").read_text().splitlines()
    ]
    assert [e for e in events if e != "session"] == [e for e in ref_events if e != "session"]


def test_torn_last_lines_are_skipped_on_resume(tmp_path, toy_task):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _run(run_dir, toy_task, kill_task_at=20)
    for name in ("journal.jsonl", "cache.jsonl"):
        with (run_dir / name).open("a") as f:
            f.write('{"event": "cand')  # a write cut by the kill
    resumed, _, _ = _run(run_dir, toy_task)
    assert resumed.search.best.evaluation.objectives.accuracy == 1.0


def test_rerunning_a_run_finished_by_its_time_budget_replays_it(tmp_path, toy_task):
    import time as _time

    from spl_opt.engine import runner

    slow = StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0.")

    def answer(system, user):
        _time.sleep(0.01)
        return slow(system, user)

    from spl_opt.search.budget import Budget

    config = CONFIG.model_copy(update={"budget": Budget(max_wall_seconds=0.4)})
    reports = []
    for _ in range(2):
        editor = scripted_lm([editor_reply("add", f"Always {HINT}; end with 'Answer: N'.")])
        reports.append(
            runner.execute(
                task=toy_task,
                program=ChatProgram(scripted_lm(answer)),
                scorer=task_scorer(toy_task),
                seed_playbook=Playbook(preamble=toy_task.seed_prompt),
                operators=default_operators(editor),
                config=config,
                run_dir=tmp_path / "run",
            )
        )
    first, again = reports
    assert "time budget" in first.search.stop_reason and again.search.stop_reason == first.search.stop_reason
    assert [m.candidate.id for m in again.search.members] == [m.candidate.id for m in first.search.members]


def test_a_run_whose_lm_was_down_at_the_start_resumes_once_it_is_up(tmp_path, toy_task):
    from spl_opt.core.errors import LMError
    from spl_opt.engine import runner

    def run(task_lm):
        return runner.execute(
            task=toy_task,
            program=ChatProgram(task_lm, namespace="same"),
            scorer=task_scorer(toy_task),
            seed_playbook=Playbook(preamble=toy_task.seed_prompt),
            operators=default_operators(scripted_lm([editor_reply("add", f"Always {HINT}.")])),
            config=CONFIG,
            run_dir=tmp_path / "run",
        )

    with pytest.raises(LMError, match="failed on every validation example"):
        run(scripted_lm(["x"], fail_on=lambda s, u: True))
    report = run(scripted_lm(StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0.")))
    assert not any(r.error for r in report.search.seed.evaluation.results)
    assert report.search.best.evaluation.objectives.accuracy == 1.0
