import json

import pytest

from spl_opt.core.errors import RunDirError
from spl_opt.core.records import Candidate, Playbook
from spl_opt.engine.events import (
    CandidateEvent,
    ScreenEvent,
    SessionEvent,
    SkipEvent,
    event_line,
    parse_event,
)
from spl_opt.engine.journal import Journal, read_config


def _screen(iteration: int) -> ScreenEvent:
    return ScreenEvent(
        iteration=iteration,
        operator="ablate",
        parent="p",
        child="c",
        parent_score=0.5,
        child_score=0.6,
        accepted=True,
    )


def test_events_are_typed_records_that_round_trip_through_a_journal_line(tmp_path):
    candidate = CandidateEvent(candidate=Candidate(playbook=Playbook(preamble="Be brief.")))
    line = event_line(candidate)
    assert list(line)[:2] == ["event", "time"] and line["event"] == "candidate"
    assert parse_event(json.loads(json.dumps(line))) == candidate
    session = parse_event({"event": "session", "time": 1.0, "kind": "worker_lost", "detail": "gone"})
    assert isinstance(session, SessionEvent) and session.model_dump()["detail"] == "gone"
    with pytest.raises(ValueError):
        parse_event({"event": "screen", "iteration": 1})  # a screen event without its fields


def test_written_events_are_read_back_with_their_time(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.write(SessionEvent(kind="start"))
    written = journal.write(_screen(1))
    journal.close()
    assert written.time > 0
    again = Journal(path)
    assert [type(e) for e in again.events] == [SessionEvent, ScreenEvent]
    assert again.of_kind(ScreenEvent) == [written]
    again.close()


def test_torn_line_is_counted_and_skipped(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"event": "skip", "time": 1, "iteration": 1, "reason": "x"}\n{"event": "scr')
    journal = Journal(path)
    assert journal.torn_lines == 1 and len(journal.events) == 1
    assert journal.events[0] == SkipEvent(time=1, iteration=1, reason="x")


def test_read_config_errors(tmp_path):
    with pytest.raises(RunDirError, match="not an spl-opt run directory"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(RunDirError, match="not valid JSON"):
        read_config(tmp_path)
