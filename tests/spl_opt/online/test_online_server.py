"""The real server over loopback: the official `openai` client and `dspy.LM` chat with it; feedback
and rollback need the bearer token; bad requests get one clear JSON error."""

import json
import socket
import threading
import time

import dspy
import httpx
import pytest

from spl_opt import cli
from spl_opt.online import PlaybookStore
from spl_opt.online.server import create_app
from tests.conftest import HINT
from tests.spl_opt.online.test_online_learner import honest_learner, questions, suggestible

TOKEN = "tok-spl-test-123"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    import uvicorn

    learner = honest_learner(tmp_path / "pb.db")
    port = _port()
    server = uvicorn.Server(uvicorn.Config(create_app(learner, token=TOKEN), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield learner, f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(5)


def test_openai_client_chats_and_feedback_gets_an_edit_promoted(served):
    import openai

    learner, base = served
    client = openai.OpenAI(base_url=base, api_key="unused-for-reads")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for question, target in questions(6):
        reply = client.chat.completions.create(
            model="spl-opt", messages=[{"role": "user", "content": question}]
        )
        assert reply.choices[0].message.content == "It is 0." and reply.system_fingerprint == "playbook-v1"
        sent = httpx.post(f"{base}/feedback", json={"call_id": reply.id, "label": target}, headers=auth)
        assert sent.status_code == 200, sent.text
    assert learner.current().id > 1 and HINT in learner.current().playbook.render()
    reply = client.chat.completions.create(
        model="spl-opt",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 4 plus 9?"},
        ],
    )
    assert reply.choices[0].message.content.endswith("Answer: 13")
    playbook = httpx.get(f"{base}/playbook").json()
    assert HINT in playbook["prompt"] and len(httpx.get(f"{base}/playbook/versions").json()["versions"]) == 2

    lm = dspy.LM("openai/spl-opt", api_base=base, api_key="x", cache=False)
    assert lm("What is 2 plus 5?")[0].endswith("Answer: 7")

    back = httpx.post(f"{base}/playbook/rollback", json={}, headers=auth)
    assert back.status_code == 200 and back.json()["version"]["id"] == 1
    assert learner.current().id == 1


def test_writes_need_the_token_and_bad_requests_are_one_clear_error(served):
    learner, base = served
    reply = httpx.post(
        f"{base}/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
    ).json()
    call_id = reply["id"]
    cases = [
        ({"call_id": call_id, "score": 1.0}, {}, 401, "bearer token"),
        ({"call_id": call_id, "score": 1.0}, {"Authorization": "Bearer wrong"}, 401, "bearer token"),
        ({"call_id": "nope", "score": 1.0}, None, 404, "unknown call id"),
        ({"call_id": call_id}, None, 400, "needs a score, a label or a text"),
        ({"call_id": call_id, "score": 7}, None, 400, "score"),
        ({"call_id": call_id, "bogus": 1}, None, 400, "bogus"),
    ]
    for body, headers, status, message in cases:
        response = httpx.post(
            f"{base}/feedback",
            json=body,
            headers=headers if headers is not None else {"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == status and message in response.json()["error"]["message"], (
            response.text
        )
    assert httpx.post(f"{base}/playbook/rollback", json={}).status_code == 401
    no_user = httpx.post(f"{base}/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert no_user.status_code == 400 and "user message" in no_user.json()["error"]["message"]
    seed_back = httpx.post(f"{base}/playbook/rollback", json={}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert seed_back.status_code == 500 and "nothing to roll back to" in seed_back.json()["error"]["message"]
    assert learner.store.outcomes() == []  # nothing bad was recorded


def test_playbook_commands_and_the_distill_export(tmp_path, capsys, monkeypatch):
    store_path = tmp_path / "pb.db"
    learner = honest_learner(store_path)
    for question, target in questions(6):
        learner.feedback(learner(question).call_id, label=target)
    for question, target in questions(3, start=20):
        learner.feedback(learner(question).call_id, label=target)
    capsys.readouterr()
    assert cli.main(["playbook", "list", str(store_path)]) == 0
    listed = capsys.readouterr().out
    assert "*   2" in listed and "promoted" in listed and "seed" in listed
    assert cli.main(["playbook", "show", str(store_path)]) == 0 and HINT in capsys.readouterr().out
    assert cli.main(["playbook", "diff", str(store_path), "1", "2"]) == 0
    assert f"+- Learned rule: To answer, {HINT}" in capsys.readouterr().out
    out = tmp_path / "distill.jsonl"
    assert cli.main(["export", str(store_path), "--format", "distill", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(r["messages"][0]["role"] == "user" for r in rows)
    assert all(
        HINT not in json.dumps(r) and r["messages"][1]["content"].startswith("Let me think") for r in rows
    )
    assert (
        cli.main(["playbook", "rollback", str(store_path)]) == 0
        and "serving version 1" in capsys.readouterr().out
    )
    assert PlaybookStore(store_path).current().id == 1
    monkeypatch.delenv("SPL_OPT_SERVE_TOKEN", raising=False)
    assert cli.main(["serve", "--store", str(store_path), "--editor-model", "none"]) == 2
    assert "SPL_OPT_SERVE_TOKEN is not set" in capsys.readouterr().err
    assert cli.main(["playbook", "list", str(tmp_path / "empty.db")]) == 2
    assert "holds no playbook yet" in capsys.readouterr().err


def test_a_killed_server_loses_no_version_or_outcome(tmp_path):
    """`spl-opt serve` as its own process, killed with SIGKILL and started again on the same store."""
    import os
    import signal
    import subprocess
    import sys

    from spl_opt.testing import FakeChatServer

    store_path = tmp_path / "pb.db"
    env = {**os.environ, "SPL_OPT_SERVE_TOKEN": TOKEN, "FAKE_KEY": "sk-fake"}

    def start(fake: FakeChatServer, port: int) -> subprocess.Popen:
        args = [
            "serve",
            "--store",
            str(store_path),
            "--task-model",
            "openai/fake",
            "--api-base",
            fake.base_url,
            "--api-key-env",
            "FAKE_KEY",
        ]
        args += ["--editor-model", "none", "--port", str(port), "--review-every", "3", "--metric", "numeric"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "spl_opt.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError(proc.communicate()[0])

    auth = {"Authorization": f"Bearer {TOKEN}"}
    started: list[subprocess.Popen] = []
    with FakeChatServer(suggestible) as fake:
        try:
            port = _port()
            started.append(start(fake, port))
            base = f"http://127.0.0.1:{port}/v1"
            ids = []
            for question, target in questions(5):
                chat = {"messages": [{"role": "user", "content": question}]}
                reply = httpx.post(f"{base}/chat/completions", json=chat)
                assert reply.status_code == 200, reply.text
                ids.append(reply.json()["id"])
                sent = httpx.post(
                    f"{base}/feedback", json={"call_id": ids[-1], "label": target}, headers=auth
                )
                assert sent.status_code == 200, sent.text
            os.kill(started[0].pid, signal.SIGKILL)
            started[0].wait(10)
            port = _port()
            started.append(start(fake, port))
            base = f"http://127.0.0.1:{port}/v1"
            store = PlaybookStore(store_path)
            assert [c.id for c in store.calls()] == ids and len(store.outcomes()) == 5
            chat = {"messages": [{"role": "user", "content": "What is 1 plus 3?"}]}
            assert httpx.post(f"{base}/chat/completions", json=chat).status_code == 200
            assert len(store.calls()) == 6
            fake.down = True  # a faulty task model: one clear error, nothing recorded
            failed = httpx.post(f"{base}/chat/completions", json=chat)
            assert failed.status_code == 502 and "the task model failed" in failed.json()["error"]["message"]
            assert len(store.calls()) == 6
        finally:
            for proc in started:
                proc.kill()
                proc.wait(10)
