"""Speed benchmark, measured side by side in one run:

0. Batched evaluation: one candidate (a ~300-token system prompt) over 50 BBH questions with 128
   generated tokens, sequential prefix-cached calls against the batched engine (parallel sequences
   sharing the prompt's KV prefix, 4 and 16 at a time): examples/s, the ratio, and how many outputs
   equal the sequential ones.
0b. Kernels and batching together (on a CPU with AVX-512): the same candidate and examples with AVX2
   kernels one at a time (the baseline), then this CPU's best kernels one at a time and 16 at a time.
1. KV-cache reuse of the shared system-prompt prefix: one candidate with a >= 300-token system prompt
   evaluated over 50 examples on the embedded model, prefix cache on vs off (ratio of wall times).
2. Framework overhead: a real optimize run on the embedded model, wall time minus time inside LM
   calls, as a share of the run; and the framework's own cost per rollout with a zero-latency fake LM.

    python -m benchmarks.speed
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spl_opt.backends.local import local_evaluator
from spl_opt.config import SearchConfig, validate_config
from spl_opt.core.records import Candidate, Playbook, Strategy, TaskData
from spl_opt.engine.runner import default_operators, execute, run_config, task_scorer, token_counter
from spl_opt.lm.config import LMConfig, build_lm
from spl_opt.lm.cpu import VARIANT_ENV, cpu_flags, cpu_model
from spl_opt.programs import ChatProgram
from spl_opt.tasks.registry import resolve_task

RESULTS = Path(__file__).parent / "results"

LONG_PLAYBOOK = Playbook(
    preamble="You count letters in words. Answer with the number only, no other text.",
    strategies=tuple(
        Strategy(id=f"s{i}", title=title, text=text)
        for i, (title, text) in enumerate(
            [
                (
                    "Read the question",
                    "Find the letter asked about and the word it must be counted in; the letter is "
                    "in single quotes and so is the word.",
                ),
                (
                    "Spell the word",
                    "Go through the word one character at a time from the first to the last, and "
                    "compare each character with the letter, ignoring case.",
                ),
                (
                    "Keep a tally",
                    "Every time a character matches, add one to the running count; do not skip doubled "
                    "letters such as the two r's in 'berry' or the two s's in 'mississippi'.",
                ),
                (
                    "Absent letters",
                    "If no character matches, the answer is 0; a letter that is absent is common.",
                ),
                (
                    "Check",
                    "Count a second time in the opposite direction; if the two counts differ, count again.",
                ),
                (
                    "Format",
                    "Reply with only the final count as digits, for example 3, never words like three.",
                ),
                ("Worked example", "Q: How many times does the letter 'r' appear in 'strawberry'? A: 3"),
                ("Worked example 2", "Q: How many times does the letter 'z' appear in 'banana'? A: 0"),
                ("Worked example 3", "Q: How many times does the letter 's' appear in 'mississippi'? A: 4"),
                ("Worked example 4", "Q: How many times does the letter 'e' appear in 'referee'? A: 4"),
                ("Worked example 5", "Q: How many times does the letter 'o' appear in 'tomorrow'? A: 3"),
                ("Worked example 6", "Q: How many times does the letter 'p' appear in 'puppy'? A: 3"),
            ],
            1,
        )
    ),
)


REASONING_PLAYBOOK = Playbook(
    preamble="You solve logic puzzles about people who tell the truth or lie. Think step by step, "
    "then give the final answer on its own line as 'Answer: Yes' or 'Answer: No'.",
    strategies=tuple(
        Strategy(id=f"r{i}", title=title, text=text)
        for i, (title, text) in enumerate(
            [
                (
                    "Find the anchor",
                    "One person's truthfulness is stated outright, for example "
                    "'Fidel lies.' Start from that person; every other claim depends on it.",
                ),
                (
                    "Follow the chain",
                    "Each sentence says that one person says another lies or tells the "
                    "truth. Go through the sentences in order, one person at a time.",
                ),
                (
                    "Truth-teller's claim",
                    "If the speaker tells the truth, what they say is right: "
                    "'X says Y lies' with X truthful means Y lies.",
                ),
                (
                    "Liar's claim",
                    "If the speaker lies, the opposite of their claim holds: 'X says Y "
                    "lies' with X a liar means Y tells the truth.",
                ),
                (
                    "Keep a table",
                    "Write each name with T or F as you settle it, so no step is lost and "
                    "no person is evaluated twice with different results.",
                ),
                (
                    "Answer the question asked",
                    "The last sentence asks about one person: read their "
                    "value from your table, Yes if they tell the truth, No if they lie.",
                ),
                ("Check", "Walk the chain once more from the anchor; if any step disagrees, redo it."),
                ("Format", "End with exactly one line 'Answer: Yes' or 'Answer: No' and nothing after it."),
            ],
            1,
        )
    ),
)


WORKED_PLAYBOOK = Playbook(  # the same strategies with room to reason: about 120 tokens per answer
    preamble="You solve logic puzzles about people who tell the truth or lie. Explain your reasoning in "
    "full sentences, person by person, before you give your conclusion.",
    strategies=REASONING_PLAYBOOK.strategies[:-1],
)


def _timed(lm: Any, task: TaskData, candidate: Candidate, size: int) -> tuple[dict[str, Any], list[str]]:
    """One evaluation of `candidate` over the task's test examples, `size` sequences per batch."""
    evaluator = local_evaluator(ChatProgram(lm, batch_size=size), task_scorer(task))
    start = time.perf_counter()
    ev = evaluator.evaluate(candidate, task.test, "test")
    seconds = time.perf_counter() - start
    generated = sum(r.output_tokens for r in ev.results)
    row = {
        "seconds": round(seconds, 2),
        "examples_per_second": round(len(ev.results) / seconds, 3),
        "generated_tokens_per_second": round(generated / seconds, 1),
        "generated_tokens_per_example": round(generated / len(ev.results), 1),
        "accuracy": ev.objectives.accuracy,
        "prompt_tokens": ev.objectives.length_tokens,
        "errors": sum(r.error is not None for r in ev.results),
    }
    return row, [r.output for r in ev.results]


def _compare(row: dict[str, Any], base: dict[str, Any], outputs: list[str], base_outputs: list[str]) -> None:
    same = sum(a == b for a, b in zip(base_outputs, outputs, strict=True))
    row["speedup"] = round(base["seconds"] / row["seconds"], 2)
    row["same_output_as_sequential"] = f"{same}/{len(outputs)}"


def batched(
    n_examples: int, max_tokens: int, playbook: Playbook, sizes: tuple[int, ...] = (4, 16)
) -> dict[str, object]:
    """Sequential prefix-cached evaluation against the batched engine, same candidate and examples."""
    task = resolve_task("bbh:web_of_lies", n_train=1, n_val=1, n_test=n_examples, seed=1)
    lm = build_lm(LMConfig(max_tokens=max_tokens))
    candidate = Candidate(playbook=playbook)
    out: dict[str, Any] = {
        "cpu": cpu_model(),
        "engine": lm.engine.load(),
        "examples": len(task.test),
        "max_tokens": max_tokens,
    }
    local_evaluator(ChatProgram(lm, batch_size=1), task_scorer(task)).evaluate(candidate, task.train, "train")
    out["sequential"], base_outputs = _timed(lm, task, candidate, 1)
    print("sequential", out["sequential"], flush=True)
    for size in sizes:
        row, outputs = _timed(lm, task, candidate, size)
        _compare(row, out["sequential"], outputs, base_outputs)
        out[f"batch_{size}"] = row
        print(f"batch_{size}", row, flush=True)
    return out


def kernels(n_examples: int, max_tokens: int, playbook: Playbook, size: int = 16) -> dict[str, object]:
    """The issue's AVX-512 target: AVX2 kernels one example at a time (the baseline) against this
    CPU's own best kernels, one at a time and `size` sequences per batch; same process spec, the
    model process restarted between kernel choices. Skipped on a CPU without AVX-512."""
    if "avx512f" not in cpu_flags():
        return {"cpu": cpu_model(), "skipped": "this CPU has no AVX-512"}
    task = resolve_task("bbh:web_of_lies", n_train=1, n_val=1, n_test=n_examples, seed=1)
    candidate = Candidate(playbook=playbook)
    lm = build_lm(LMConfig(max_tokens=max_tokens))
    out: dict[str, Any] = {"cpu": cpu_model(), "examples": len(task.test), "max_tokens": max_tokens}
    base_outputs: list[str] = []
    for label, variant, size_ in (
        ("avx2_sequential", "haswell", 1),
        ("best_sequential", "", 1),
        (f"best_batch_{size}", "", size),
    ):
        if (os.environ.get(VARIANT_ENV, "") != variant) or not base_outputs:
            lm.engine.process().close()  # the next request restarts it with the kernels asked for
        if variant:
            os.environ[VARIANT_ENV] = variant
        else:
            os.environ.pop(VARIANT_ENV, None)
        info = lm.engine.load()
        local_evaluator(ChatProgram(lm, batch_size=1), task_scorer(task)).evaluate(
            candidate, task.train, "train"
        )
        row, outputs = _timed(lm, task, candidate, size_)
        row["kernels"] = info.get("variant")
        if base_outputs:
            _compare(row, out["avx2_sequential"], outputs, base_outputs)
        else:
            base_outputs = outputs
        out[label] = row
        print(label, row, flush=True)
    os.environ.pop(VARIANT_ENV, None)
    return out


def kv_cache(n_examples: int, max_tokens: int) -> dict[str, float]:
    task = resolve_task("letters", n_train=1, n_val=1, n_test=n_examples, seed=1)
    config = LMConfig(max_tokens=max_tokens)
    out: dict[str, float] = {}
    for label, prefix in (("warmup", True), ("cache_on", True), ("cache_off", False)):
        lm = build_lm(config, prefix_cache=prefix)
        program = ChatProgram(lm, batch_size=1)  # one call at a time: the prefix cache is what is measured
        evaluator = local_evaluator(program, task_scorer(task), length=token_counter(lm, config))
        examples = task.test[:3] if label == "warmup" else task.test
        start = time.perf_counter()
        ev = evaluator.evaluate(Candidate(playbook=LONG_PLAYBOOK), examples, "test")
        out[f"{label}_seconds"] = round(time.perf_counter() - start, 2)
        out[f"{label}_accuracy"] = ev.objectives.accuracy
        out["prompt_tokens"] = ev.objectives.length_tokens
        out[f"{label}_output_tokens"] = sum(r.output_tokens for r in ev.results)
    out["speedup"] = round(out["cache_off_seconds"] / out["cache_on_seconds"], 2)
    return out


def overhead_real(rollouts: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = validate_config(
            {
                "task": "letters",
                "n_train": 10,
                "n_val": 8,
                "n_test": 8,
                "run_dir": tmp,
                "task_lm": {"max_tokens": 128},
                "editor_lm": {"model": "embedded:qwen-0.5b", "temperature": 0.7},
                "budget": {"max_rollouts": rollouts},
                "search": {"minibatch_size": 4},
            }
        )
        report, _ = run_config(config, echo=False)
    overhead = max(0.0, report.wall_seconds - report.lm_seconds)
    return {
        "wall_seconds": round(report.wall_seconds, 2),
        "lm_seconds": round(report.lm_seconds, 2),
        "overhead_seconds": round(overhead, 3),
        "overhead_share": round(overhead / report.wall_seconds, 4),
        "rollouts": report.search.rollouts,
    }


def overhead_fake(rollouts: int) -> dict[str, float]:
    from spl_opt.testing import StrategyFollower, editor_reply, scripted_lm

    task = resolve_task("letters", n_train=30, n_val=20, n_test=10, seed=0)
    lm = scripted_lm(StrategyFollower(lambda user: "1", "spell the word", wrong=lambda u: "2"))
    editor = scripted_lm([editor_reply("add", "Spell the word letter by letter, then count.")])
    config = validate_config({"budget": {"max_rollouts": rollouts}, "search": SearchConfig().model_dump()})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = execute(
            task=task,
            program=ChatProgram(lm),
            scorer=task_scorer(task),
            seed_playbook=Playbook(preamble="Count."),
            operators=default_operators(editor),
            config=config,
            run_dir=Path(tmp),
        )
        wall = time.perf_counter() - start
    calls = report.search.rollouts + report.test_usage.calls
    return {
        "rollouts": calls,
        "wall_seconds": round(wall, 3),
        "ms_per_rollout": round(1000 * wall / calls, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--rollouts", type=int, default=40)
    parser.add_argument("--batch-examples", type=int, default=50)
    parser.add_argument("--batch-max-tokens", type=int, default=128)
    parser.add_argument("--only", choices=["batched", "kernels", "kv_cache", "overhead"], default=None)
    parser.add_argument("--out", default=str(RESULTS / "speed.json"))
    args = parser.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}  # sections run alone update theirs
    results["command"] = "python -m benchmarks.speed " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out" and v is not None
    )
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "batched": lambda: {
            "batched": {
                "short_answers": batched(args.batch_examples, args.batch_max_tokens, REASONING_PLAYBOOK),
                "worked_answers": batched(args.batch_examples, args.batch_max_tokens, WORKED_PLAYBOOK),
            }
        },
        "kernels": lambda: {"kernels": kernels(args.batch_examples, args.batch_max_tokens, WORKED_PLAYBOOK)},
        "overhead": lambda: {
            "framework_fake_lm": overhead_fake(400),
            "overhead_real_run": overhead_real(args.rollouts),
        },
        "kv_cache": lambda: {"kv_cache": kv_cache(args.examples, args.max_tokens)},
    }
    for name, run in sections.items():
        if args.only in (None, name):
            section = run()
            print(json.dumps(section), flush=True)
            results.update(section)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
