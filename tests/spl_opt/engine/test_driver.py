"""The steady-state driver: results are told as they finish, and a resume replays that order."""

import itertools
import json
import random
import threading
import time

import pytest

from spl_opt.config import BackendConfig, RunConfig, SearchConfig
from spl_opt.core.records import Playbook
from spl_opt.engine.runner import default_operators, execute, task_scorer
from spl_opt.programs import ChatProgram
from spl_opt.testing import StrategyFollower, editor_reply, scripted_lm
from tests.conftest import HINT, _sum

CONFIG = RunConfig(
    search=SearchConfig(minibatch_size=3, parallel=3, operators={"editor": 1.0, "worked-example": 1.0}),
    backend=BackendConfig(workers=4),
    budget={"max_rollouts": 90},
)


class Jittery:
    """The toy task model with a random delay per call; can interrupt the run at call `kill_at`."""

    def __init__(self, seed: int, kill_at: int | None = None):
        self.rng = random.Random(seed)
        self.follower = StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0.")
        self.kill_at, self.calls = kill_at, 0
        self.lock = threading.Lock()

    def __call__(self, system, user):
        with self.lock:
            self.calls += 1
            delay, count = self.rng.uniform(0, 0.01), self.calls
        if count == self.kill_at:
            raise KeyboardInterrupt
        time.sleep(delay)
        return self.follower(system, user)


def _run(run_dir, task, responder):
    task_lm = scripted_lm(responder)
    editor_lm = scripted_lm([editor_reply("add", f"Always {HINT}; end with 'Answer: N'.")])
    report = execute(
        task=task,
        program=ChatProgram(task_lm),
        scorer=task_scorer(task),
        seed_playbook=Playbook(preamble=task.seed_prompt),
        operators=default_operators(editor_lm),
        config=CONFIG,
        run_dir=run_dir,
    )
    return report, task_lm.engine


def _events(run_dir):
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def test_iterations_finish_out_of_order_without_a_generation_barrier(tmp_path, toy_task):
    report, _ = _run(tmp_path / "run", toy_task, Jittery(1))
    tells = [int(e["key"].split(".")[0]) for e in _events(tmp_path / "run") if e["event"] == "tell"]
    assert any(a > b for a, b in itertools.pairwise(tells) if b > 0)  # told as they finish, not in order
    assert report.search.best.evaluation.objectives.accuracy == 1.0


@pytest.mark.parametrize("kill_at", [9, 25, 40])
def test_a_killed_steady_state_run_replays_its_recorded_order_exactly(tmp_path, toy_task, kill_at):
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _run(run_dir, toy_task, Jittery(2, kill_at=kill_at))
    before = [e for e in _events(run_dir) if e["event"] != "session"]
    cached = len((run_dir / "cache.jsonl").read_text().splitlines())
    report, engine = _run(run_dir, toy_task, Jittery(3))  # other delays: another order if not replayed
    after = [e for e in _events(run_dir) if e["event"] != "session"]
    assert after[: len(before)] == before  # the journal's prefix is kept and replayed, not rewritten
    assert len(engine.calls) + cached == len((run_dir / "cache.jsonl").read_text().splitlines())
    assert report.search.best.evaluation.objectives.accuracy == 1.0
