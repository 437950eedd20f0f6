"""Integration: the real embedded model in its own process: CPU kernel choice, crash containment,
batched decoding against one-at-a-time decoding."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytestmark = pytest.mark.integration

QUESTIONS = [
    "What is 2 + 3? Reply with the number only.",
    "What is 7 * 6? Reply with the number only.",
    "Name the capital of France in one word.",
    "Is 17 a prime number? Reply Yes or No.",
    "What is 100 - 1? Reply with the number only.",
    "Spell the word 'cat' backwards.",
]


@pytest.fixture(scope="module")
def engine():
    from spl_opt.lm.llama_engine import LlamaEngine

    return LlamaEngine("qwen-0.5b")


def test_the_model_runs_in_its_own_process_on_kernels_this_cpu_has(engine):
    from spl_opt.lm import cpu

    info = engine.load()
    process = engine.process()
    assert process.pid is not None and process.pid != os.getpid()
    assert info["selftest_seconds"] is not None and info["selftest_seconds"] < 60
    features = cpu.compiled_features(info["system_info"])
    assert cpu.missing_features(features, cpu.cpu_flags()) == []
    if info["portable"]:  # installed by install.sh: a CPU variant chosen at load, never the AMX one
        assert info["variant"] not in cpu.EXCLUDED_VARIANTS
        assert not features & cpu.AMX_FEATURES


def test_batched_outputs_match_one_at_a_time_outputs(engine):
    system = "You are a precise assistant. Answer briefly."
    process = engine.process()
    one_by_one = [
        process.request(
            "chat",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": q}],
            max_tokens=24,
            temperature=0.0,
        )["text"]
        for q in QUESTIONS
    ]
    batched = [r["text"] for r in engine.complete_batch(system, QUESTIONS, max_tokens=24)]
    assert all(text.strip() for text in batched)
    same = sum(a == b for a, b in zip(one_by_one, batched, strict=True))
    assert same >= len(QUESTIONS) - 1, list(zip(one_by_one, batched, strict=True))
    assert "5" in batched[0] and "42" in batched[1]


def test_a_model_process_killed_mid_call_is_restarted_and_the_call_answered(engine):
    process = engine.process()
    process.start()
    victim = process.pid
    restarts = process.restarts
    answer: dict[str, object] = {}

    def call() -> None:
        answer["text"] = engine.complete_batch(
            None, ["Count from 1 to 40, separated by commas."], max_tokens=96
        )

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(1.0)
    os.kill(victim, signal.SIGSEGV)
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert answer["text"][0]["text"].startswith("1")  # type: ignore[index]
    assert process.restarts == restarts + 1 and process.pid != victim
