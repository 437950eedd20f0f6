"""A small finished run directory, made by the real engine with scripted LMs (no real model).

The toy task model needs two rules in its system prompt: with one it answers half the examples, with
both all of them; the scripted editor adds the missing rule, so the best prompt is two edits from the seed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spl_opt.config import RunConfig, SearchConfig
from spl_opt.core.records import Playbook
from spl_opt.engine.result import RunReport
from spl_opt.engine.runner import default_operators, execute, task_scorer
from spl_opt.programs import ChatProgram
from spl_opt.testing import editor_reply, scripted_lm
from tests.conftest import HINT, _sum, make_task

RULE = "the numbers are whole numbers"


def _task_model(system: str, user: str) -> str:
    known = sum(rule in system.lower() for rule in (RULE, HINT))
    first = int(re.findall(r"\d+", user)[0])
    return f"Answer: {_sum(user)}" if known == 2 or (known == 1 and first % 2 == 0) else "It is 0."


def _editor_model(system: str, user: str) -> str:
    if RULE in user.lower():
        return editor_reply("add", f"To answer, {HINT} <carefully> & reply.", title="Add them")
    return editor_reply("add", f"Note that {RULE}.", title="Whole numbers")


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunReport]:
    run_dir = tmp_path_factory.mktemp("report") / "run"
    task = make_task()
    config = RunConfig(
        search=SearchConfig(
            minibatch_size=4, operators={"editor": 1.0, "worked-example": 0.5, "ablate": 0.5}
        ),
        budget={"max_rollouts": 80},
    )
    report = execute(
        task=task,
        program=ChatProgram(scripted_lm(_task_model)),
        scorer=task_scorer(task),
        seed_playbook=Playbook(preamble=task.seed_prompt),
        operators=default_operators(scripted_lm(_editor_model)),
        config=config,
        run_dir=run_dir,
    )
    return run_dir, report
