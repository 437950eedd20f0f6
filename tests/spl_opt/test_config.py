from spl_opt.config import SESSION_FIELDS, validate_config


def test_the_run_identity_leaves_out_how_a_session_runs_it():
    one = validate_config({"task": "letters", "backend": {"kind": "thread", "workers": 1}})
    other = validate_config(
        {"task": "letters", "quiet": True, "backend": {"kind": "ray", "workers": 4, "chunk_size": 2}}
    )
    assert one.identity() == other.identity() and one.run_id == other.run_id
    assert not SESSION_FIELDS & set(one.identity())
    changed = validate_config({"task": "letters", "search": {"minibatch_size": 7}})
    assert changed.run_id != one.run_id


def test_a_configuration_saved_with_workers_under_search_still_loads():
    old = validate_config({"task": "letters", "search": {"workers": 3, "chunk_size": 1, "parallel": 2}})
    assert (old.backend.workers, old.backend.chunk_size, old.search.parallel) == (3, 1, 2)
