"""spl-opt: System Prompt Learning.

A model learns problem-solving strategies as edits to its own system prompt, kept as a playbook and
selected on evidence (accuracy and prompt length). This module stays light: heavy dependencies
(dspy, llama.cpp, optuna) load only when the parts that use them are used.
"""

from typing import Any

from spl_opt.core import Candidate, Edit, Evaluation, Example, ExampleResult, Playbook, Strategy, TaskData

__version__ = "0.1.0"

__all__ = [
    "SPL",
    "Candidate",
    "Edit",
    "Evaluation",
    "Example",
    "ExampleResult",
    "Playbook",
    "Strategy",
    "TaskData",
    "optimize",
]


def __getattr__(name: str) -> Any:
    if name == "optimize":
        from spl_opt.api import optimize

        return optimize
    if name == "SPL":
        from spl_opt.teleprompt import SPL

        return SPL
    raise AttributeError(name)
