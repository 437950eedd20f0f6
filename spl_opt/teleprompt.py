"""`spl_opt.SPL`: System Prompt Learning as a DSPy optimizer (`dspy.Teleprompter`).

    optimized = spl_opt.SPL(metric=metric, budget=300, editor_lm=editor_lm).compile(
        program, trainset=trainset, valset=valset
    )
    optimized.spl_result  # OptimizeResult: the prompt, the Pareto front, the history, the run directory

A metric with `dspy.GEPA`'s signature `(gold, pred, trace, pred_name, pred_trace)` returning a float
or `dspy.Prediction(score=..., feedback=...)` works unchanged, as does DSPy's usual `(gold, pred,
trace=None)`. The search runs `spl_opt.optimize`; see it for what each setting does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dspy.teleprompt import Teleprompter

from spl_opt.api import optimize
from spl_opt.config import validate_config
from spl_opt.search.budget import Budget


def two_argument_metric(metric: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """`metric` called as `metric(gold, pred)`, with None for any further parameter it requires
    (DSPy's `trace`, GEPA's `pred_name` and `pred_trace`)."""
    try:
        params = list(inspect.signature(metric).parameters.values())
    except (TypeError, ValueError):
        return metric
    required = [
        p
        for p in params[2:]
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not required:
        return metric
    return lambda gold, pred: metric(gold, pred, *([None] * len(required)))


class SPL(Teleprompter):
    """Learns the program's system prompt (its predictors' instructions) as a playbook of strategies,
    selected on validation accuracy and prompt length. `search_options` are `SearchConfig` fields
    (e.g. `minibatch_size`, `population_size`, `parallel`), checked when the optimizer is made."""

    def __init__(
        self,
        metric: Callable[..., Any],
        *,
        budget: Budget | int = 200,
        lm: Any = None,
        editor_lm: Any = None,
        editor: str | Path | None = None,
        run_dir: str | Path | None = None,
        seed: int = 0,
        verbose: bool = False,
        **search_options: Any,
    ) -> None:
        super().__init__()
        self.metric = metric
        self.budget = budget
        self.lm = lm
        self.editor_lm = editor_lm
        self.editor = editor
        self.run_dir = run_dir
        self.seed = seed
        self.verbose = verbose
        self.search = validate_config({"search": search_options}).search

    def compile(
        self,
        student: Any,
        *,
        trainset: list[Any],
        teacher: Any = None,
        valset: list[Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The optimized copy of `student`, with `spl_result` (an `OptimizeResult`) attached.
        Without `valset`, validation uses `trainset` (as DSPy's optimizers do; it then overfits)."""
        result = optimize(
            student,
            trainset=trainset,
            valset=valset if valset else trainset,
            metric=two_argument_metric(self.metric),
            lm=self.lm,
            editor_lm=self.editor_lm,
            editor=self.editor,
            budget=self.budget,
            search=self.search,
            run_dir=self.run_dir,
            seed=self.seed,
            verbose=self.verbose,
        )
        optimized = result.program
        optimized.spl_result = result
        return optimized
