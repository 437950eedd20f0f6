import pytest

from spl_opt.core.records import Edit, Playbook
from spl_opt.online.store import FeedbackError, Outcome, PlaybookStore, Replay, StoreError, store_url


def test_versions_calls_and_outcomes_persist_and_rollback_is_reversible(tmp_path):
    path = tmp_path / "pb.db"
    store = PlaybookStore(path)
    seed = store.seed(Playbook(preamble="Be helpful."))
    assert store.seed(Playbook(preamble="other")) == seed  # an existing store keeps its seed
    edit = Edit(op="add", title="t", text="Add the numbers.")
    child = store.add_version(
        Playbook(preamble="Be helpful.").model_copy(update={"preamble": "Be helpful. Add."}),
        parent=seed.id,
        status="promoted",
        operator="editor",
        edits=(edit,),
        evidence={"failures": [{"input": "1+1"}]},
        replay=Replay(n=5, current=0.2, candidate=0.8, wins=3, losses=0, p_value=0.125),
        reason="3 wins",
    )
    rejected = store.add_version(
        Playbook(preamble="Bad."), parent=child.id, status="rejected", reason="loses"
    )
    assert store.current().id == child.id
    call = store.record_call(child.id, {"question": "1+1"}, "Answer: 2")
    store.record_outcome(Outcome(call_id=call.id, score=1.0, client="alice"))
    store.close()

    again = PlaybookStore(str(path))  # a new process sees everything
    assert [v.id for v in again.versions()] == [seed.id, child.id, rejected.id]
    assert again.version(child.id).edits == (edit,) and again.version(child.id).replay.wins == 3
    assert again.calls()[0].inputs == {"question": "1+1"} and again.outcomes()[0].client == "alice"
    assert again.rollback().id == seed.id and again.current().id == seed.id
    assert again.rollback(to=child.id).id == child.id  # and forward again
    assert [m.kind for m in again.head_moves()] == ["seed", "promote", "rollback", "rollback"]
    with pytest.raises(StoreError, match="was rejected at review"):
        again.rollback(to=rejected.id)
    again.rollback(to=seed.id)
    with pytest.raises(StoreError, match="is the seed: there is nothing to roll back to"):
        again.rollback()


def test_bad_feedback_and_bad_stores_are_one_clear_line(tmp_path):
    store = PlaybookStore(tmp_path / "pb.db")
    seed = store.seed(Playbook(preamble="x"))
    call = store.record_call(seed.id, {"question": "q"}, "a")
    with pytest.raises(FeedbackError, match="unknown call id 'nope'"):
        store.record_outcome(Outcome(call_id="nope", score=1.0))
    with pytest.raises(FeedbackError, match="needs a score, a label or a text"):
        store.record_outcome(Outcome(call_id=call.id))
    with pytest.raises(FeedbackError, match=r"score must be in \[0, 1\]"):
        store.record_outcome(Outcome(call_id=call.id, score=3.0))
    with pytest.raises(StoreError, match="no version 99"):
        store.version(99)
    with pytest.raises(StoreError, match="cannot open the playbook store"):
        PlaybookStore("nosuchdialect://x")
    assert store_url("sqlite:///a.db") == "sqlite:///a.db" and store_url("a.db").startswith("sqlite:////")


def test_a_full_store_says_so_and_keeps_what_it_had(tmp_path, monkeypatch):
    store = PlaybookStore(tmp_path / "pb.db")
    seed = store.seed(Playbook(preamble="x"))
    call = store.record_call(seed.id, {"question": "q"}, "a")
    import sqlite3

    import sqlalchemy

    def full(*args, **kwargs):
        raise sqlalchemy.exc.OperationalError(
            "INSERT", {}, sqlite3.OperationalError("database or disk is full")
        )

    with monkeypatch.context() as mp:
        mp.setattr(store._engine, "begin", full)
        with pytest.raises(StoreError, match=r"the store is full .*nothing was written"):
            store.record_call(seed.id, {"question": "q2"}, "b")
    assert [c.id for c in store.calls()] == [call.id]
