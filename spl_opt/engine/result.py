"""What a search returns: records only, so a result round-trips through JSON."""

from __future__ import annotations

from spl_opt.core.protocols import Member
from spl_opt.core.records import Evaluation, Record
from spl_opt.search.guard import Choice


class RoleUsage(Record):
    """LM spend of one role (task or editor): calls, tokens, seconds inside LM calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0

    def add(self, input_tokens: int, output_tokens: int, seconds: float) -> RoleUsage:
        return RoleUsage(
            calls=self.calls + 1,
            input_tokens=self.input_tokens + input_tokens,
            output_tokens=self.output_tokens + output_tokens,
            seconds=self.seconds + seconds,
        )


class SearchResult(Record):
    """The outcome of `Optimizer.run`: the seed and best members, the Pareto front and the history.

    `best` is the guarded choice (see `search.guard`); `choice` says which member had the best
    validation accuracy and why `best` is or is not that member."""

    seed: Member
    best: Member
    front: tuple[Member, ...]
    members: tuple[Member, ...]
    history: tuple[tuple[int, float], ...]
    rollouts: int
    iterations: int
    stop_reason: str
    task_usage: RoleUsage
    editor_usage: RoleUsage
    operator_stats: dict[str, tuple[int, int]]
    choice: Choice | None = None


class RunReport(Record):
    """A finished run: the search result plus test evaluations of the seed and the best prompt."""

    task: str
    search: SearchResult
    seed_test: Evaluation | None
    best_test: Evaluation | None
    test_usage: RoleUsage
    wall_seconds: float
    lm_seconds: float
    input_fields: tuple[str, ...] = ("question",)
    program: str | None = None  # the DSPy program's factory (`module:function`), when it has one
    failed_calls: int = 0  # this session's task-LM calls that failed for good (excluded, retried on resume)
    reports_truncation: bool = False  # the program tells outputs cut off at the generation limit
