"""Integration: search on a real two-node Ray cluster on 127.0.0.1 (`ray.cluster_utils.Cluster`).

The LM is `FakeChatServer`, an OpenAI-compatible server on loopback, so these tests measure the
framework and its fault handling, not a model. Only the clusters started here are shut down.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
from pathlib import Path

import pytest

from spl_opt.config import validate_config
from spl_opt.engine import runner
from spl_opt.testing import FakeChatServer, StrategyFollower, editor_reply
from tests.conftest import HINT, _sum

pytestmark = [pytest.mark.integration, pytest.mark.ray]

SECRET = "sk-spl-test-5f1c9a0d7e"  # must reach the fake server, and nothing else
KEY_ENV = "SPL_OPT_TEST_API_KEY"


def respond(system: str, user: str) -> str:
    if "playbook" in system.lower() and "evidence" in system.lower():  # the DSPy editor's prompt
        return editor_reply("add", f"To answer, {HINT} and reply 'Answer: N'.")
    return StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0.")(system, user)


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", KEY_ENV)}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ[KEY_ENV] = SECRET  # workers started below inherit it, as `ray start` would on a node
    # the head runs no actors (0 CPUs), so every actor is on a worker node that a test may remove
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    c.add_node(num_cpus=2)
    c.add_node(num_cpus=2)
    c.wait_for_nodes()
    yield c
    c.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def server():
    with FakeChatServer(respond, latency=0.05) as s:
        yield s


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    rows = [{"question": f"What is {i} plus {2 * i + 1}?", "answer": str(3 * i + 1)} for i in range(40)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tmp_path: Path, data_file: Path, server: FakeChatServer, address: str | None, **extra):
    lm = {"model": "openai/fake", "api_base": server.base_url, "api_key_env": KEY_ENV}
    data = {
        "task": "toy",
        "data_file": str(data_file),
        "n_train": 12,
        "n_val": 8,
        "n_test": 6,
        "task_lm": lm,
        "editor_lm": lm,
        "budget": {"max_rollouts": 70},
        "search": {"minibatch_size": 3, "parallel": 2, "operators": {"editor": 1.0}},
        "backend": {"kind": "ray", "address": address, "worker_concurrency": 2, "workers": 2},
        "run_dir": str(tmp_path / "run"),
        "quiet": True,
        **extra,
    }
    return validate_config(data)


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def _capture_backend(monkeypatch) -> list:
    made: list = []
    real = runner.ray_backend

    def capture(*args, **kwargs):
        backend = real(*args, **kwargs)
        made.append(backend)
        return backend

    monkeypatch.setattr(runner, "ray_backend", capture)
    return made


def test_optimize_on_two_nodes_learns_like_the_thread_backend(
    cluster, server, data_file, tmp_path, monkeypatch
):
    made = _capture_backend(monkeypatch)
    report, _ = runner.run_config(_config(tmp_path, data_file, server, cluster.address), echo=False)
    backend = made[0]
    assert len({node for _, node in backend.placement}) == 2  # one actor on each node
    assert report.search.best.evaluation.objectives.accuracy == 1.0
    assert HINT in report.search.best.candidate.prompt
    assert report.best_test is not None and report.best_test.objectives.accuracy == 1.0

    thread_cfg = _config(tmp_path / "t", data_file, server, None).model_copy(
        update={"backend": validate_config({}).backend}
    )
    thread_report, _ = runner.run_config(thread_cfg, echo=False)
    assert thread_report.search.best.candidate.prompt == report.search.best.candidate.prompt
    assert thread_report.best_test.objectives.accuracy == report.best_test.objectives.accuracy

    # a rerun of the finished run replays it from the journal and cache: no LM call at all
    before = server.requests
    again, _ = runner.run_config(_config(tmp_path, data_file, server, cluster.address), echo=False)
    assert server.requests == before
    assert again.search.best.candidate.id == report.search.best.candidate.id


def _lost(run_dir: Path) -> list[dict]:
    return [e for e in _events(run_dir) if e.get("kind") == "worker_lost"]


# The seed's validation set is the first work and goes to actor 0 (all actors idle: the first is
# chosen), so at the 3rd request actor 0 has calls in flight.
KILL_AT_REQUEST = 3


def test_a_worker_killed_mid_evaluation_is_retried_and_recorded(cluster, data_file, tmp_path, monkeypatch):
    made = _capture_backend(monkeypatch)
    killed: list[int] = []

    def kill_once(system: str, user: str) -> str:
        if made and not killed and fake.requests >= KILL_AT_REQUEST:
            killed.append(made[0].placement[0][0])
            os.kill(killed[0], signal.SIGKILL)
        return respond(system, user)

    with FakeChatServer(kill_once, latency=0.2) as fake:
        report, run_dir = runner.run_config(_config(tmp_path, data_file, fake, cluster.address), echo=False)
        assert killed
        lost = _lost(run_dir)
        assert lost and all("retrying once" in e["detail"] for e in lost)  # each retry succeeded
        assert report.search.best.evaluation.objectives.accuracy == 1.0
        assert all(r.error is None for m in report.search.members for r in m.evaluation.results)
        # the journal is whole: a rerun replays to the same end without new calls
        before = fake.requests
        again, _ = runner.run_config(_config(tmp_path, data_file, fake, cluster.address), echo=False)
        assert fake.requests == before and again.search.best.candidate.id == report.search.best.candidate.id


def test_a_node_removed_mid_run_does_not_stop_the_run(cluster, data_file, tmp_path, monkeypatch):
    cluster.add_node(num_cpus=2)  # room for Ray to restart the lost actor elsewhere
    cluster.wait_for_nodes()
    made = _capture_backend(monkeypatch)
    removed: list[str] = []

    def remove_actor_0s_node(system: str, user: str) -> str:
        if made and not removed and fake.requests >= KILL_AT_REQUEST:
            node_id = made[0].placement[0][1]
            victim = next(n for n in cluster.worker_nodes if n.node_id == node_id)
            removed.append(node_id)
            threading.Thread(target=cluster.remove_node, args=(victim,)).start()
        return respond(system, user)

    with FakeChatServer(remove_actor_0s_node, latency=0.2) as fake:
        report, run_dir = runner.run_config(_config(tmp_path, data_file, fake, cluster.address), echo=False)
    assert removed
    lost = _lost(run_dir)
    assert lost and all("retrying once" in e["detail"] for e in lost)
    assert report.search.best.evaluation.objectives.accuracy == 1.0
    assert all(r.error is None for m in report.search.members for r in m.evaluation.results)
    assert all(json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines())


def test_asking_for_more_cpus_than_the_cluster_has_is_one_clear_error(cluster, data_file, tmp_path, capsys):
    from spl_opt.core.errors import LMError

    with FakeChatServer(respond) as fake:
        config = _config(tmp_path, data_file, fake, cluster.address)
        config = config.model_copy(update={"backend": config.backend.model_copy(update={"workers": 40})})
        with pytest.raises(LMError, match="need 40 CPUs"):
            runner.run_config(config, echo=False)


def test_no_api_key_is_sent_to_workers_or_written_to_disk(cluster, server, data_file, tmp_path):
    import ray
    import ray.cloudpickle

    from spl_opt.engine.workers import WorkerSpec

    config = _config(tmp_path, data_file, server, cluster.address)
    _, run_dir = runner.run_config(config, echo=False)
    assert server.auth == {f"Bearer {SECRET}"}  # the workers did authenticate, from their environment
    spec = WorkerSpec.for_task(runner.task_of(config), config.task_lm, config.editor_lm, "ns")
    for payload in (ray.cloudpickle.dumps(spec), pickle.dumps(spec), config.model_dump_json().encode()):
        assert SECRET.encode() not in payload
    session = Path(cluster.head_node.get_session_dir_path())
    leaks = [
        str(p)
        for root in (run_dir, session)
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and _contains(p, SECRET.encode())
    ]
    assert leaks == []


def _contains(path: Path, needle: bytes) -> bool:
    try:
        return needle in path.read_bytes()
    except OSError:
        return False


def respond_two_step(system: str, user: str) -> str:
    """The editor, or `spl_opt.dspy_programs.ExtractThenAnswer`'s two steps: the facts hold the sum;
    the answer is right only when its own instructions hold the hint."""
    if "playbook" in system.lower() and "evidence" in system.lower():
        return editor_reply("add", f"To answer, {HINT} and reply 'Answer: N'.")
    if "\nfacts:" not in user:
        return f"The total is {_sum(user)}."
    return StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0.")(system, user.split("\nfacts:")[0])


def test_a_two_step_program_is_rebuilt_on_the_workers_from_its_factory(cluster, data_file, tmp_path):
    with FakeChatServer(respond_two_step, latency=0.02) as server:
        config = _config(
            tmp_path, data_file, server, cluster.address, program="spl_opt.dspy_programs:extract_then_answer"
        )
        report, _ = runner.run_config(config, echo=False)
        thread = config.model_copy(
            update={"backend": validate_config({}).backend, "run_dir": str(tmp_path / "threads")}
        )
        thread_report, _ = runner.run_config(thread, echo=False)
    best = report.search.best.candidate.playbook
    assert report.search.best.evaluation.objectives.accuracy == 1.0
    assert HINT in best.part("answer").render() and HINT not in best.part("extract").render()
    assert thread_report.search.best.candidate.playbook == best
