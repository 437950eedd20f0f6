import json

import pytest

from spl_opt.core.errors import RunDirError
from spl_opt.engine.journal import SESSION, Journal, read_config


def test_events_are_appended_and_replayed_without_rewriting(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append(SESSION, kind="start")
    journal.append("candidate", candidate={"x": 1})
    journal.append("screen", iteration=1, accepted=True)
    journal.close()
    lines = path.read_text().splitlines()

    again = Journal(path)
    assert again.replaying and again.recorded("candidate") is not None
    assert again.append(SESSION, kind="resume")["kind"] == "resume"  # bookkeeping is always written
    assert again.append("candidate", candidate={"x": 1})["candidate"] == {"x": 1}
    assert again.append("screen", iteration=1, accepted=True)["accepted"] is True
    assert not again.replaying
    again.append("member", iteration=2)
    again.close()
    events = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert events == [json.loads(line)["event"] for line in lines] + [SESSION, "member"]


def test_a_diverging_resume_is_a_clear_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append("screen", iteration=1, accepted=True)
    journal.close()
    with pytest.raises(RunDirError, match="diverged"):
        Journal(path).append("screen", iteration=2, accepted=True)
    with pytest.raises(RunDirError, match="diverged"):
        Journal(path).append("member", iteration=1)


def test_torn_line_is_counted_and_skipped(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"event": "candidate", "time": 1}\n{"event": "scr')
    journal = Journal(path)
    assert journal.torn_lines == 1 and len(journal.events) == 1


def test_read_config_errors(tmp_path):
    with pytest.raises(RunDirError, match="not an spl-opt run directory"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(RunDirError, match="not valid JSON"):
        read_config(tmp_path)
