"""Crash containment of the model process, with the scripted server (no model, milliseconds)."""

import json
import logging
import os
import time

import pytest

from spl_opt.core.errors import LMError
from spl_opt.lm.model_process import ModelProcess, ModelSpec, check_model_file, describe_exit
from spl_opt.lm.scripted_server import command_for


def wait_for_exit(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def scripted(tmp_path, stall_timeout=5.0, load_timeout=10.0, **script):
    script.setdefault("counter", str(tmp_path / "count"))
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    spec = ModelSpec(str(tmp_path / "model.gguf"), label="scripted")
    return ModelProcess(
        spec,
        command=command_for(path),
        stall_timeout=stall_timeout,
        load_timeout=load_timeout,
        check_file=False,
    )


def test_answers_and_self_test(tmp_path):
    process = scripted(tmp_path, answer="Answer: 7")
    try:
        assert process.start()["scripted"] is True
        assert process.request("chat", messages=[])["text"] == "Answer: 7"
        assert [r["text"] for r in process.request("batch", system="s", users=["a", "b"])] == [
            "Answer: 7"
        ] * 2
        assert process.restarts == 0
    finally:
        process.close()


@pytest.mark.parametrize("fault", ["SIGSEGV", "SIGKILL", "exit", "hang"])
def test_a_crash_or_hang_restarts_the_process_and_retries_the_call(tmp_path, fault, caplog):
    process = scripted(tmp_path, stall_timeout=1.0, faults={"2": fault})
    try:
        process.start()
        first_pid = process.pid
        assert process.request("chat", messages=[])["text"] == "Answer: 4"
        with caplog.at_level(logging.WARNING, logger="spl_opt.lm"):
            assert process.request("chat", messages=[])["text"] == "Answer: 4"  # request 2 dies, 3 answers
        assert process.restarts == 1 and process.pid != first_pid
        assert wait_for_exit(first_pid, 5)
        assert "restarting it and retrying the call" in caplog.text
    finally:
        process.close()


def test_a_call_that_kills_the_process_twice_is_one_clear_error(tmp_path):
    process = scripted(tmp_path, faults={"1": "SIGSEGV", "2": "SIGSEGV"})
    try:
        with pytest.raises(LMError) as err:
            process.request("chat", messages=[])
        message = str(err.value)
        assert "died with SIGSEGV (signal 11) twice in a row" in message
        assert "\n" not in message and "install.sh" in message
        assert process.request("chat", messages=[])["text"] == "Answer: 4"  # the next call gets a new process
    finally:
        process.close()


def test_an_oom_kill_says_what_to_do(tmp_path):
    process = scripted(tmp_path, faults={"1": "SIGKILL", "2": "SIGKILL"})
    try:
        with pytest.raises(LMError, match=r"SIGKILL.*lack of memory"):
            process.request("chat", messages=[])
    finally:
        process.close()


def test_a_broken_install_fails_at_the_self_test(tmp_path):
    process = scripted(tmp_path, selftest="SIGILL")
    with pytest.raises(LMError, match=r"died with SIGILL .* while loading or self-testing.*install\.sh"):
        process.start()


def test_a_load_error_is_one_line(tmp_path):
    process = scripted(tmp_path, load="error")
    with pytest.raises(LMError, match="scripted load error"):
        process.start()


def test_a_server_that_hangs_while_loading_is_stopped(tmp_path):
    process = scripted(tmp_path, load="hang", load_timeout=1.0)
    with pytest.raises(LMError, match="did not answer for"):
        process.start()


def test_model_file_checks(tmp_path):
    with pytest.raises(LMError, match="not found"):
        check_model_file(str(tmp_path / "missing.gguf"))
    bad = tmp_path / "notes.gguf"
    bad.write_text("hello")
    with pytest.raises(LMError, match="is not a GGUF model file"):
        check_model_file(str(bad))
    good = tmp_path / "tiny.gguf"
    good.write_bytes(b"GGUF" + b"\0" * 64)
    check_model_file(str(good))


def test_model_larger_than_memory(tmp_path, monkeypatch):
    from spl_opt.lm import model_process

    model = tmp_path / "big.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(model_process, "available_memory", lambda: 1024)
    with pytest.raises(LMError, match=r"needs about .* GiB of memory; only 0.0 GiB are available"):
        check_model_file(str(model))


def test_describe_exit():
    assert describe_exit(-11) == "died with SIGSEGV (signal 11)"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(None) == "stopped answering"
