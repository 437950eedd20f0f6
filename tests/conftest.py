"""Shared fixtures: a toy task with a learnable hint, scripted task and editor LMs."""

from __future__ import annotations

import os
import re

import pytest

from spl_opt.core.records import Example, TaskData
from spl_opt.testing import StrategyFollower, editor_reply, scripted_lm

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
HINT = "add the two numbers"


def _sum(user: str) -> str:
    a, b = map(int, re.findall(r"\d+", user)[:2])
    return str(a + b)


def make_task(n_train: int = 12, n_val: int = 8, n_test: int = 6) -> TaskData:
    examples = [
        Example(id=f"toy-{i}", inputs={"question": f"What is {i} plus {2 * i + 1}?"}, target=str(3 * i + 1))
        for i in range(n_train + n_val + n_test)
    ]
    return TaskData(
        name="toy",
        train=tuple(examples[:n_train]),
        val=tuple(examples[n_train : n_train + n_val]),
        test=tuple(examples[n_train + n_val :]),
        metric="numeric",
        seed_prompt="You are an assistant.",
    )


@pytest.fixture
def toy_task() -> TaskData:
    return make_task()


@pytest.fixture
def task_lm():
    """Answers right only once the system prompt holds HINT."""
    return scripted_lm(StrategyFollower(_sum, HINT, wrong=lambda user: "It is 0."))


@pytest.fixture
def editor_lm():
    """Always proposes adding the hint as a strategy."""
    return scripted_lm([editor_reply("add", f"To answer, {HINT} and reply 'Answer: N'.")])
