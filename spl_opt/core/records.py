"""Immutable records of a System Prompt Learning run. Every record round-trips through JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Record(BaseModel):
    """Base for all records: frozen, no unknown fields, JSON round-trip."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def content_hash(*parts: str, length: int = 12) -> str:
    """A short, stable hex digest of the given strings."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


class Example(Record):
    """One task example: `inputs` are the named input fields, `target` the expected answer."""

    id: str
    inputs: dict[str, str]
    target: str
    meta: dict[str, Any] = Field(default_factory=dict)

    def input_text(self) -> str:
        """The inputs as one user message (the single field's value, or `name: value` lines)."""
        if len(self.inputs) == 1:
            return next(iter(self.inputs.values()))
        return "\n".join(f"{k}: {v}" for k, v in self.inputs.items())


class TaskData(Record):
    """A task's examples, split once with a fixed seed; `test` is never seen during search."""

    name: str
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    test: tuple[Example, ...]
    metric: Literal["exact", "numeric"] = "exact"
    seed_prompt: str = "You are a helpful assistant."


class Strategy(Record):
    """A named note-to-self: when this kind of problem comes up, try that."""

    id: str
    title: str
    text: str

    def render(self) -> str:
        return f"- {self.title}: {self.text}" if self.title else f"- {self.text}"


class Playbook(Record):
    """A system prompt as a preamble plus a list of strategies; `render()` gives the prompt text.

    A program with several predictors has one playbook per predictor: a playbook whose `parts` are
    (predictor name, playbook) pairs in the program's order, with no preamble or strategies of its
    own. Its rendering is the parts' prompts, each under a `[step NAME]` line (`split_prompt` reads
    them back), and its length is the sum of theirs.
    """

    preamble: str = ""
    strategies: tuple[Strategy, ...] = ()
    parts: tuple[Part, ...] = ()

    @model_validator(mode="after")
    def _parts_stand_alone(self) -> Playbook:
        if self.parts:
            if self.preamble or self.strategies:
                raise ValueError("a playbook with parts has no preamble or strategies of its own")
            names = [p.name for p in self.parts]
            if len(set(names)) != len(names):
                raise ValueError(f"part names repeat: {names}")
            if any(p.playbook.parts for p in self.parts):
                raise ValueError("a part's playbook has no parts of its own")
        return self

    def render(self) -> str:
        if self.parts:
            return "\n\n".join(
                f"{STEP_MARK.format(p.name)}\n{p.playbook.render()}".strip() for p in self.parts
            )
        if not self.strategies:
            return self.preamble.strip()
        lines = "\n".join(s.render() for s in self.strategies)
        return f"{self.preamble.strip()}\n\nStrategies:\n{lines}".strip()

    @property
    def id(self) -> str:
        """Content hash of the rendered prompt: equal prompts share an id (and cached evaluations)."""
        return content_hash(self.render())

    def strategy(self, strategy_id: str) -> Strategy | None:
        return next((s for s in self.strategies if s.id == strategy_id), None)

    def texts(self) -> tuple[str, ...]:
        """The prompt of each part (or the one prompt): what length objectives count."""
        return tuple(p.playbook.render() for p in self.parts) if self.parts else (self.render(),)

    def part(self, name: str) -> Playbook:
        """The playbook of part `name` (this playbook itself for ""); KeyError if there is none."""
        if not name:
            return self
        for p in self.parts:
            if p.name == name:
                return p.playbook
        raise KeyError(f"no part named {name!r} (parts: {[p.name for p in self.parts]})")

    def with_part(self, name: str, playbook: Playbook) -> Playbook:
        """This playbook with part `name` replaced by `playbook`."""
        self.part(name)
        parts = tuple(Part(name=name, playbook=playbook) if p.name == name else p for p in self.parts)
        return self.model_copy(update={"parts": parts})


STEP_MARK = "[step {}]"


class Part(Record):
    """The playbook of one predictor (step) of a multi-step program."""

    name: str
    playbook: Playbook


Playbook.model_rebuild()


def split_prompt(prompt: str, names: Sequence[str]) -> dict[str, str] | None:
    """The per-step prompts of a rendered multi-part playbook with these part names, in order; None
    when `prompt` is not one (a single prompt)."""
    lines = prompt.split("\n")
    marks = [STEP_MARK.format(n) for n in names]
    starts: list[int] = []
    for mark in marks:
        begin = starts[-1] + 1 if starts else 0
        index = next((i for i in range(begin, len(lines)) if lines[i] == mark), None)
        if index is None:
            return None
        starts.append(index)
    if starts[0] != 0:
        return None
    ends = [*starts[1:], len(lines)]
    return {name: "\n".join(lines[s + 1 : e]).strip() for name, s, e in zip(names, starts, ends, strict=True)}


EditOp = Literal["add", "revise", "delete", "preamble"]
EDIT_OPS: tuple[EditOp, ...] = ("add", "revise", "delete", "preamble")
EDITOR_KINDS = (*EDIT_OPS, "example")  # what the LM editor can be asked for; "example": a worked solution


class Edit(Record):
    """One change to a playbook. `strategy_id` names the target for revise/delete; `text` is new content."""

    op: EditOp
    strategy_id: str | None = None
    title: str = ""
    text: str = ""
    rationale: str = ""
    editor_id: str = ""
    part: str = ""  # the predictor whose playbook it changed, in a multi-step program


class Candidate(Record):
    """A playbook in the population, with where it came from."""

    playbook: Playbook
    parents: tuple[str, ...] = ()
    edits: tuple[Edit, ...] = ()
    generation: int = 0
    operator: str = "seed"

    @property
    def id(self) -> str:
        return self.playbook.id

    @property
    def prompt(self) -> str:
        return self.playbook.render()


Outcome = Literal["correct", "wrong", "no_answer", "error"]
"""What happened on one example: the answer was right; wrong; unreadable, in the wrong form (no
final-answer marker, nothing to read) or cut off at the generation limit before it finished; or the
call failed (an infrastructure fault, not an answer)."""


class Step(Record):
    """What one predictor of a multi-step program got and gave on one example (its trace)."""

    name: str
    input: str
    output: str


class ExampleResult(Record):
    """The result of running one candidate on one example. `error` is set when the call failed.

    `outcome` is set by the scorer (correct / wrong / no_answer) and by the evaluator (error; and
    no_answer for an output cut off at the generation limit that was not right: what was read from it
    is not an answer it finished); records written before outcomes existed get one derived from
    `error` and `score`. Errors are no evidence about the prompt: they count in no accuracy, are
    never cached, and are retried on resume.
    """

    example_id: str
    score: float
    output: str = ""
    feedback: str = ""
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency: float = 0.0
    outcome: Outcome = "wrong"
    steps: tuple[Step, ...] = ()  # a multi-step program's trace, in call order
    truncated: bool = False  # the output was cut off at the generation limit

    @model_validator(mode="before")
    @classmethod
    def _derive_outcome(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("outcome") is None:
            derived = "error" if data.get("error") else "correct" if data.get("score", 0) >= 1.0 else "wrong"
            data = {**data, "outcome": derived}
        return data

    @property
    def scored(self) -> bool:
        """Whether this result is evidence about the prompt (its call did not fail)."""
        return self.outcome != "error"


class Objectives(Record):
    """What selection optimizes: accuracy up, prompt length (tokens) down, cost (LM tokens) down."""

    accuracy: float
    length_tokens: int
    cost_tokens: int = 0


Split = Literal["train", "val", "test"]


class Evaluation(Record):
    """A candidate's results on a set of examples of one split."""

    candidate_id: str
    split: Split
    results: tuple[ExampleResult, ...]
    objectives: Objectives

    def scores(self) -> dict[str, float]:
        """Per-example scores of the examples whose call did not fail."""
        return {r.example_id: r.score for r in self.results if r.scored}

    @property
    def errors(self) -> int:
        """Examples whose call failed (excluded from the accuracy)."""
        return sum(not r.scored for r in self.results)

    @property
    def answered(self) -> int:
        """Examples whose call did not fail (the ones the accuracy counts)."""
        return len(self.results) - self.errors

    @property
    def cut_off(self) -> int:
        """Examples whose call did not fail but whose output stopped at the generation limit."""
        return sum(r.scored and r.truncated for r in self.results)


def dumps(record: BaseModel) -> str:
    """Compact JSON for one record (one journal line)."""
    return json.dumps(record.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


class Proposal(Record):
    """What one editor call produced: edits (possibly none), the LM cost, and any failure with raw text."""

    editor_id: str
    edits: tuple[Edit, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    latency: float = 0.0
    error: str | None = None
    raw: str = ""

    def on_part(self, part: str) -> Proposal:
        """This proposal with its edits marked as edits of part `part` (itself when `part` is "")."""
        if not part:
            return self
        return self.model_copy(
            update={"edits": tuple(e.model_copy(update={"part": part}) for e in self.edits)}
        )
