import json
from concurrent.futures import Future

import pytest

from spl_opt.core.errors import RunDirError
from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Playbook, Proposal
from spl_opt.engine.driver import Live, done
from spl_opt.engine.events import (
    FinishedEvent,
    MemberEvent,
    ProposalEvent,
    ScreenEvent,
    SessionEvent,
    TellEvent,
)
from spl_opt.engine.journal import Journal
from spl_opt.engine.replay import Replay
from spl_opt.engine.work import ProposeRequest


class _Evaluator:
    """Records what it is asked; an evaluator the replay must reach only for live work."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, bool]] = []

    def submit(self, request, *, replay=False):
        self.submitted.append((request, replay))
        return Future()


def _screen(iteration: int, accepted: bool = True) -> ScreenEvent:
    return ScreenEvent(
        iteration=iteration,
        operator="ablate",
        parent="p",
        child="c",
        parent_score=0.5,
        child_score=0.6,
        accepted=accepted,
    )


def _replay(path, proposals=None):
    def propose(request):
        if proposals is not None:
            proposals.append(request)
        return done(Proposal(editor_id="editor", latency=2.0))

    return Replay(Journal(path), Live(_Evaluator(), propose))


def test_events_are_appended_and_replayed_without_rewriting(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = _replay(path)
    first.journal.write(SessionEvent(kind="start"))
    first.emit(TellEvent(key="0.0"))
    first.emit(_screen(1))
    first.journal.close()
    lines = path.read_text().splitlines()

    again = _replay(path)
    assert again.replaying
    again.journal.write(SessionEvent(kind="resume"))  # bookkeeping is always written
    again.emit(TellEvent(key="0.0"))
    again.emit(_screen(1))
    assert not again.replaying
    again.emit(_screen(2))
    again.journal.close()
    events = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert events == [json.loads(line)["event"] for line in lines] + ["session", "screen"]


def test_a_diverging_resume_is_a_clear_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    first = _replay(path)
    first.emit(_screen(1))
    first.journal.close()
    with pytest.raises(RunDirError, match="diverged"):
        _replay(path).emit(_screen(2))
    with pytest.raises(RunDirError, match="diverged"):
        _replay(path).emit(MemberEvent.model_construct(iteration=1, candidate_id="c", event="member"))


def test_recorded_results_order_and_end_are_served_and_live_work_reaches_the_sources(tmp_path):
    path = tmp_path / "journal.jsonl"
    recorded = Proposal(editor_id="editor", latency=7.0)
    first = _replay(path)
    first.emit(ProposalEvent(iteration=1, operator="editor", parent="p", proposal=recorded))
    first.emit(TellEvent(key="1.1"))
    first.emit(FinishedEvent(stop_reason="budget", best="b", iterations=4))
    first.journal.close()

    asked: list[ProposeRequest] = []
    replay = _replay(path, asked)
    assert replay.end == (4, "budget")
    request = ProposeRequest(1, "editor", Playbook(preamble=""), Evidence(), 1)
    assert replay.submit("1.1", request).result() == recorded and asked == []  # served, not re-asked
    assert replay.fresh_proposal_seconds == 0.0
    fresh = ProposeRequest(2, "editor", Playbook(preamble=""), Evidence(), 1)
    assert replay.submit("2.1", fresh).result().latency == 2.0 and asked == [fresh]
    assert replay.fresh_proposal_seconds == 2.0
    replay.emit(ProposalEvent(iteration=1, operator="editor", parent="p", proposal=recorded))
    with pytest.raises(RunDirError, match=r"tells '1\.1' next"):
        replay.next_key(["2.0"])
    assert replay.next_key(["2.0", "1.1"]) == "1.1"
    replay.submit("1.1", "an evaluation")  # told before: its recorded failed calls are served
    replay.submit("3.0", "another")
    assert replay.live.evaluator.submitted == [("an evaluation", True), ("another", False)]
