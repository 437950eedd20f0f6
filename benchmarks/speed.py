"""Speed benchmark, measured side by side in one run:

1. KV-cache reuse of the shared system-prompt prefix: one candidate with a >= 300-token system prompt
   evaluated over 50 examples on the embedded model, prefix cache on vs off (ratio of wall times).
2. Framework overhead: a real optimize run on the embedded model, wall time minus time inside LM
   calls, as a share of the run; and the framework's own cost per rollout with a zero-latency fake LM.

    python -m benchmarks.speed
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from evaluators.task import TaskEvaluator
from spl_opt.config import SearchConfig, validate_config
from spl_opt.core.records import Candidate, Playbook, Strategy
from spl_opt.engine.runner import default_operators, execute, run_config, task_scorer, token_counter
from spl_opt.lm.config import LMConfig, build_lm
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


def kv_cache(n_examples: int, max_tokens: int) -> dict[str, float]:
    task = resolve_task("letters", n_train=1, n_val=1, n_test=n_examples, seed=1)
    config = LMConfig(max_tokens=max_tokens)
    out: dict[str, float] = {}
    for label, prefix in (("warmup", True), ("cache_on", True), ("cache_off", False)):
        lm = build_lm(config, prefix_cache=prefix)
        evaluator = TaskEvaluator.local(ChatProgram(lm), task_scorer(task), length=token_counter(lm, config))
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
    parser.add_argument("--out", default=str(RESULTS / "speed.json"))
    args = parser.parse_args()
    results = {
        "command": "python -m benchmarks.speed "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out")
    }
    results["framework_fake_lm"] = overhead_fake(400)
    print("framework cost with a zero-latency fake LM:", results["framework_fake_lm"], flush=True)
    results["kv_cache"] = kv_cache(args.examples, args.max_tokens)
    print("KV cache of the system prompt, on vs off:", results["kv_cache"], flush=True)
    results["overhead_real_run"] = overhead_real(args.rollouts)
    print("framework overhead in a real run:", results["overhead_real_run"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
