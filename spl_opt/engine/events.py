"""The journal's vocabulary: one frozen record per kind of event a run writes to `journal.jsonl`.

The optimizer emits the search events (`CandidateEvent` ... `TellEvent`) to an `EventSink`; the
runner adds `FinishedEvent` and `SessionEvent` (bookkeeping outside the replayed sequence). Every
event is one JSON line, `{"event": kind, "time": ..., **fields}`; `parse_event` reads one back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import ConfigDict, Field, TypeAdapter

from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Candidate, Evaluation, Proposal, Record
from spl_opt.search.guard import Choice


class Event(Record):
    time: float = 0.0  # set when the journal writes the event


class CandidateEvent(Event):
    """A candidate is about to be evaluated for the first time."""

    event: Literal["candidate"] = "candidate"
    candidate: Candidate


class ProposalEvent(Event):
    """Operator `operator` answered for iteration `iteration` (replayed on resume, never re-asked)."""

    event: Literal["proposal"] = "proposal"
    iteration: int
    operator: str
    parent: str
    proposal: Proposal
    evidence: Evidence | None = None  # what the operator was shown (journals before it have none)
    step: str = ""  # the predictor whose playbook was edited, in a multi-step program
    blame: str = ""  # why that step was chosen


class ScreenEvent(Event):
    """A child against its parent on the parent's training minibatch."""

    event: Literal["screen"] = "screen"
    iteration: int
    operator: str
    parent: str
    child: str
    parent_score: float
    child_score: float
    accepted: bool


class SkipEvent(Event):
    """Iteration `iteration` ended without a child evaluated, and why."""

    event: Literal["skip"] = "skip"
    iteration: int
    reason: str


class MemberEvent(Event):
    """A candidate joined the members with its validation evaluation."""

    event: Literal["member"] = "member"
    iteration: int
    candidate_id: str
    evaluation: Evaluation


class TellEvent(Event):
    """The result of the work under `key` was told to the search (their order is replayed)."""

    event: Literal["tell"] = "tell"
    key: str


class FinishedEvent(Event):
    """The search ended; a rerun of a finished run replays it up to here and no further."""

    event: Literal["finished"] = "finished"
    stop_reason: str
    best: str
    iterations: int
    choice: Choice | None = None


class SessionEvent(Event):
    """Bookkeeping of one session (start, resume, a lost worker); never replayed."""

    model_config = ConfigDict(frozen=True, extra="allow")

    event: Literal["session"] = "session"
    kind: str


SearchEvent = CandidateEvent | ProposalEvent | ScreenEvent | SkipEvent | MemberEvent | TellEvent
JournalEvent = Annotated[
    SearchEvent | FinishedEvent | SessionEvent,
    Field(discriminator="event"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(JournalEvent)


def parse_event(data: Any) -> Event:
    """One journal line's JSON as its event record; pydantic's ValidationError if it is none."""
    event: Event = _ADAPTER.validate_python(data)
    return event


def event_line(event: Event) -> dict[str, Any]:
    """An event as the JSON object the journal writes (kind first)."""
    data = event.model_dump(mode="json")
    return {"event": data.pop("event"), "time": data.pop("time"), **data}


class EventSink(Protocol):
    """Where the optimizer's events go (see `spl_opt.engine.replay.Replay`).

    `emit` records the event, or, when it repeats an earlier session's event, checks that it is the
    same and records nothing; raises RunDirError when a resumed run diverges from its journal.
    """

    def emit(self, event: SearchEvent) -> None: ...


class EventList:
    """An `EventSink` that keeps events in memory (for tests and for runs without a directory)."""

    def __init__(self) -> None:
        self.events: list[SearchEvent] = []

    def emit(self, event: SearchEvent) -> None:
        self.events.append(event)
