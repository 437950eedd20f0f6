"""Integration: the real embedded model (Qwen2.5-Coder-0.5B through llama.cpp), no fakes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TINY = "--train 6 --val 4 --test 4 --minibatch 3 --max-tokens 48 --editor-model embedded:qwen-0.5b".split()


@pytest.fixture(scope="module")
def lm():
    from spl_opt.lm.config import LMConfig, build_lm

    return build_lm(LMConfig(max_tokens=32))


def test_model_is_assembled_once_and_checked():
    from spl_opt.lm.models import MODELS, model_path

    path = model_path("qwen-0.5b")
    assert path.stat().st_size == MODELS["qwen-0.5b"].size
    assert model_path("qwen-0.5b") == path


def test_plain_chat_and_dspy_predict_on_the_embedded_engine(lm):
    import dspy
    from dspy.lm15 import Config, Message, Request

    response = lm(
        Request(
            model=lm.model,
            system="Reply with one word.",
            messages=(Message.user("Say hello."),),
            config=Config(temperature=0.0, max_tokens=8),
        )
    )
    assert response.text.strip() and response.usage.output_tokens > 0
    with dspy.context(lm=lm):
        prediction = dspy.Predict("question -> answer")(question="What is 2 + 3? Reply with the number.")
    assert "5" in prediction.answer


def test_engine_is_safe_under_threads(lm):
    from dspy.lm15 import Config, Message, Request

    def ask(i: int) -> str:
        return lm(
            Request(
                model=lm.model,
                system="Answer with a number only.",
                messages=(Message.user(f"What is {i} + 1?"),),
                config=Config(max_tokens=6),
            )
        ).text

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(6)))
    assert len(answers) == 6 and all(isinstance(a, str) for a in answers)


def _spl(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "spl_opt.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def test_tiny_optimize_run_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    proc = _spl("optimize", "--task", "letters", "--rollouts", "14", "--run-dir", str(run_dir), *TINY)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "| seed |" in out and "| learned |" in out and "Pareto front" in out
    result = json.loads((run_dir / "result.json").read_text())
    assert 4 < result["search"]["rollouts"] <= 14  # the seed's validation, then screening, within budget
    assert len(result["best_test"]["results"]) == 4
    assert result["search"]["task_usage"]["output_tokens"] > 0
    assert (run_dir / "prompt.txt").read_text().strip()

    report = _spl("report", str(run_dir))  # the report of a real run: figures, front and lineage
    out, _ = report.communicate(timeout=300)
    assert report.returncode == 0, out
    html = (run_dir / "report" / "report.html").read_text()
    assert all(
        (run_dir / "report" / f"{n}.png").exists() for n in ("pareto", "progress", "lineage", "budget")
    )
    front_ids = [m["candidate"]["playbook"] for m in result["search"]["front"]]
    assert all(escape(pb["preamble"]) in html for pb in front_ids)


def _cache_keys(run_dir: Path) -> list[tuple[str, ...]]:
    keys = []
    for line in (run_dir / "cache.jsonl").read_text().splitlines():
        with contextlib.suppress(ValueError):
            keys.append(tuple(json.loads(line)["key"]))
    return keys


def test_killed_run_resumes_without_recomputing(tmp_path):
    run_dir = tmp_path / "run"
    proc = _spl("optimize", "--task", "letters", "--rollouts", "14", "--run-dir", str(run_dir), *TINY)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "cache.jsonl").exists() and len(_cache_keys(run_dir)) >= 6:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _cache_keys(run_dir)
    assert len(before) >= 6
    resumed = _spl("resume", str(run_dir))
    out, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out
    after = _cache_keys(run_dir)
    assert after[: len(before)] == before
    assert len(after) == len(set(after)), "a finished evaluation was computed again"
    assert 4 < json.loads((run_dir / "result.json").read_text())["search"]["rollouts"] <= 14


def test_cli_run_on_ray_loads_the_embedded_model_in_its_actor(tmp_path):
    """`--backend ray` on the embedded model: the actor builds the model itself, the run completes."""
    run_dir = tmp_path / "run"
    args = ["--task", "letters", "--rollouts", "10", "--run-dir", str(run_dir), "--no-editor", "--quiet"]
    proc = _spl("optimize", *args, *TINY, "--backend", "ray", "--workers", "1")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "Ray: 1 worker(s) on 1 node(s)" in (run_dir / "run.log").read_text()
    result = json.loads((run_dir / "result.json").read_text())
    assert 4 < result["search"]["rollouts"] <= 10 and len(result["best_test"]["results"]) == 4
    assert all(r["error"] is None for r in result["best_test"]["results"])


def test_tune_editor_then_optimize_with_it_on_the_embedded_model(tmp_path):
    editor = tmp_path / "editor"
    tune = _spl(
        "tune-editor", "--tasks", "letters", "--budget", "14", "--train", "6", "--val", "4",
        "--demos", "1", "--bootstrap", "1", "--editor-model", "embedded:qwen-0.5b", "--out", str(editor),
    )  # fmt: skip
    out, _ = tune.communicate(timeout=900)
    assert tune.returncode == 0, out
    manifest = json.loads((editor / "manifest.json").read_text())
    assert manifest["tasks"] == ["letters"] and manifest["models"]["editor"] == "embedded:qwen-0.5b"
    assert (editor / "editor.json").exists() and manifest["measured"]["outcomes"] >= 1

    run_dir = tmp_path / "run"
    proc = _spl("optimize", "--task", "letters", "--rollouts", "14", "--run-dir", str(run_dir), "--editor",
                str(editor), *TINY)  # fmt: skip
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert json.loads((run_dir / "config.json").read_text())["editor"] == str(editor)


def test_a_two_step_program_learns_one_playbook_per_step_on_the_embedded_model(tmp_path):
    """A real two-step DSPy program (note the facts, then answer) on a BBH task: each step is traced,
    each edit names the step it changed and why, and the export is the whole program."""
    run_dir = tmp_path / "run"
    program = "spl_opt.dspy_programs:extract_then_answer"
    args = [
        "--task",
        "bbh:object_counting",
        "--program",
        program,
        "--rollouts",
        "14",
        "--run-dir",
        str(run_dir),
    ]
    proc = _spl("optimize", *args, *TINY)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "[step extract]" in out and "[step answer]" in out
    result = json.loads((run_dir / "result.json").read_text())
    assert 4 < result["search"]["rollouts"] <= 14 and result["program"] == program
    cached = [json.loads(line)["result"] for line in (run_dir / "cache.jsonl").read_text().splitlines()]
    assert cached and all([s["name"] for s in r["steps"]] == ["extract", "answer"] for r in cached)
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    proposals = [e for e in events if e["event"] == "proposal"]
    assert proposals and all(p["step"] in ("extract", "answer") and p["blame"] for p in proposals)
    assert all(e["part"] == p["step"] for p in proposals for e in p["proposal"]["edits"])

    export = _spl("export", str(run_dir), "--format", "dspy", "--out", str(tmp_path / "program.json"))
    out, _ = export.communicate(timeout=300)
    assert export.returncode == 0, out
    from spl_opt.dspy_programs import ExtractThenAnswer

    learned = ExtractThenAnswer(extract="", answer="")
    learned.load(str(tmp_path / "program.json"))
    parts = {p["name"]: p["playbook"] for p in result["search"]["best"]["candidate"]["playbook"]["parts"]}
    assert learned.extract.signature.instructions.startswith(parts["extract"]["preamble"][:40])
    assert learned.answer.signature.instructions.startswith(parts["answer"]["preamble"][:40])


def test_spl_opt_serve_answers_the_openai_client_on_the_embedded_model(tmp_path):
    """`spl-opt serve` on the real model: the official client chats, feedback is recorded under the
    bearer token, and the store lists the version that answered."""
    import socket

    import httpx
    import openai

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp_path / "pb.db"
    env_token = {"SPL_OPT_SERVE_TOKEN": "tok-integration"}
    args = [
        "serve",
        "--store",
        str(store),
        "--editor-model",
        "none",
        "--max-tokens",
        "32",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "spl_opt.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env_token},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/models").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        client = openai.OpenAI(base_url=base, api_key="x")
        reply = client.chat.completions.create(
            model="spl-opt", messages=[{"role": "user", "content": "What is 2 + 3? Answer with a number."}]
        )
        assert reply.choices[0].message.content.strip() and reply.system_fingerprint == "playbook-v1"
        auth = {"Authorization": "Bearer tok-integration"}
        sent = httpx.post(f"{base}/feedback", json={"call_id": reply.id, "label": "5"}, headers=auth)
        assert sent.status_code == 200, sent.text
    finally:
        proc.terminate()
        proc.wait(30)
    listed = _spl("playbook", "list", str(store))
    out, _ = listed.communicate(timeout=120)
    assert listed.returncode == 0 and "seed" in out, out
