"""Resume in one place: an earlier session's journal, served back to a run that repeats it.

The search is deterministic given the results it is told and their order, so a resumed run repeats
the killed one if it is told the same results in the same order. `Replay` wraps the live sources of
results (`spl_opt.engine.driver.Live`) and owns everything a resume takes from the journal:

- the optimizer's events (`emit`): an event the journal already holds is checked against it, not
  written again; a different one means the code, data or config changed (RunDirError);
- results: an editor proposal the journal recorded is served instead of asking the operator again,
  and an evaluation already told is evaluated with the cache serving its recorded failed calls;
- their order (`next_key`): results are told in the order the journal recorded;
- the end: a finished run replays up to where it stopped and no further.

Nothing else in the engine reads the journal.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future
from typing import Any

from spl_opt.core.errors import RunDirError
from spl_opt.core.records import Evaluation, Proposal
from spl_opt.engine.driver import Live, done
from spl_opt.engine.events import (
    Event,
    FinishedEvent,
    ProposalEvent,
    SessionEvent,
    TellEvent,
)
from spl_opt.engine.journal import Journal
from spl_opt.engine.work import ProposeRequest, Work


class Replay:
    """The sources of a run in `journal`: recorded results and order first, then `live` ones.

    Implements `spl_opt.engine.driver.Sources` and `spl_opt.engine.events.EventSink`.
    """

    def __init__(self, journal: Journal, live: Live) -> None:
        self.journal = journal
        self.live = live
        self._recorded: list[Event] = [e for e in journal.events if not isinstance(e, SessionEvent)]
        self._cursor = 0
        self._proposals = {
            e.iteration: e.proposal for e in reversed(self._recorded) if isinstance(e, ProposalEvent)
        }
        self._told = {e.key for e in self._recorded if isinstance(e, TellEvent)}
        finished = [e for e in self._recorded if isinstance(e, FinishedEvent)]
        self.end: tuple[int, str] | None = (
            (finished[-1].iterations, finished[-1].stop_reason) if finished else None
        )

    @property
    def replaying(self) -> bool:
        return self._cursor < len(self._recorded)

    @property
    def fresh_proposal_seconds(self) -> float:
        return self.live.fresh_proposal_seconds

    def emit(self, event: Event) -> None:
        if not self.replaying:
            self.journal.write(event)
            return
        recorded = self._recorded[self._cursor]
        if not _same(recorded, event):
            raise RunDirError(
                f"{self.journal.path}: resume diverged at event {self._cursor} (journal has "
                f"{_kind(recorded)!r}, the run produced {_kind(event)!r} {_scalars(event)}); "
                "were the code, data or config changed?"
            )
        self._cursor += 1

    def submit(self, key: str, work: Work) -> Future[Evaluation | Proposal]:
        if isinstance(work, ProposeRequest):
            recorded = self._proposals.get(work.iteration)
            if recorded is not None:
                return done(recorded)
            return self.live.submit(key, work)
        return self.live.submit(key, work, replayed=key in self._told)

    def next_key(self, running: Collection[str]) -> str | None:
        recorded = self._recorded[self._cursor] if self.replaying else None
        if not isinstance(recorded, TellEvent):
            return None
        if recorded.key not in running:
            raise RunDirError(
                f"{self.journal.path}: resume diverged (the journal tells {recorded.key!r} next, "
                f"but the run has {sorted(running)} in flight); were the code, data or config changed?"
            )
        return recorded.key


def _kind(event: Event) -> Any:
    return getattr(event, "event", type(event).__name__)


def _scalars(event: Event) -> dict[str, Any]:
    """The top-level plain fields of an event: what a replay must reproduce exactly (nested records
    such as evaluations carry timings that a cache may round)."""
    return {
        k: v for k, v in event.model_dump(exclude={"time"}).items() if isinstance(v, str | int | float | bool)
    }


def _same(recorded: Event, event: Event) -> bool:
    return _kind(recorded) == _kind(event) and _scalars(recorded) == _scalars(event)
