"""How many answers never finished? Outputs that stopped at the generation limit, read from the
evaluation caches of edit-by-edit measurements (no model is run):

    python -m benchmarks.cutoff benchmarks/results/editor-v4 benchmarks/results/strategies-1.5b \\
        --out benchmarks/results/cutoff

Per measurement and task: the seed prompt's outputs, the share of them at the limit (`--limit`
output tokens, the task model's generation budget) and their accuracy, against the accuracy of
the outputs that finished; then every prompt's outputs together. Caches written before results
recorded `truncated` are read by their token count, which is the same test: the engine stops at
exactly the limit. Writes OUT/cutoff.{md,json}.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.output import command_line, save_tables
from spl_opt.core.records import Playbook
from spl_opt.evaluators.cache import EvalCache
from spl_opt.tasks.registry import SEED_PROMPT

TASK_OF_PREFIX = {"train": "gsm8k"}  # gsm8k's example ids name their split, not the task


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cutoff", description=__doc__.splitlines()[0])
    p.add_argument("measurements", nargs="+", help="OUT directories of benchmarks.editor_edits")
    p.add_argument("--limit", type=int, default=256, help="the task model's generation limit (tokens)")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def read_cache(path: Path) -> list[dict[str, Any]]:
    """The cached answers (`EvalCache`'s reading: the last per key, no failed call), each with its
    prompt id, example id and task (from the example id); `truncated` only where the result recorded it."""
    cache = EvalCache(path)
    cache.close()
    out = []
    for (prompt, example, _), result in cache.results():
        prefix = example.rsplit("-", 1)[0]
        fields = result.model_dump(
            include={"score", "output_tokens", *({"truncated"} & result.model_fields_set)}
        )
        out.append(
            {"prompt": prompt, "example": example, "task": TASK_OF_PREFIX.get(prefix, prefix), **fields}
        )
    return out


def is_cut_off(result: dict[str, Any], limit: int) -> bool:
    """Recorded as truncated, or (before results recorded it) `limit` output tokens."""
    if "truncated" in result:
        return bool(result["truncated"])
    return int(result.get("output_tokens", 0)) >= limit


def counts(results: Iterable[dict[str, Any]], limit: int) -> dict[str, Any]:
    rows = list(results)
    cut: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for r in rows:
        (cut if is_cut_off(r, limit) else done).append(r)

    def accuracy(part: list[dict[str, Any]]) -> float | None:
        return sum(r["score"] for r in part) / len(part) if part else None

    return {
        "outputs": len(rows),
        "cut_off": len(cut),
        "share_cut_off": len(cut) / len(rows) if rows else None,
        "accuracy_cut_off": accuracy(cut),
        "accuracy_finished": accuracy(done),
    }


def measure(directory: Path, limit: int) -> dict[str, Any]:
    results = read_cache(directory / "eval-cache.jsonl")
    seed = Playbook(preamble=SEED_PROMPT).id
    tasks = sorted({r["task"] for r in results})
    return {
        "seed_prompt": {
            t: counts((r for r in results if r["prompt"] == seed and r["task"] == t), limit) for t in tasks
        },
        "all_prompts": counts(results, limit),
        "prompts": len({r["prompt"] for r in results}),
    }


def to_markdown(report: dict[str, Any], command: str) -> str:
    def f(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}"

    lines = []
    for name, m in report["measurements"].items():
        lines += [
            f"## {name}",
            "",
            "| task (seed prompt) | outputs | cut off at the limit | accuracy, cut off "
            "| accuracy, finished |",
            "|---|---|---|---|---|",
        ]
        for task, c in m["seed_prompt"].items():
            lines.append(
                f"| {task} | {c['outputs']} | {c['cut_off']} ({f(c['share_cut_off'])}) "
                f"| {f(c['accuracy_cut_off'])} | {f(c['accuracy_finished'])} |"
            )
        a = m["all_prompts"]
        lines += [
            "",
            f"All {m['prompts']} prompts: {a['cut_off']} of {a['outputs']} outputs cut off "
            f"({f(a['share_cut_off'])}); accuracy {f(a['accuracy_cut_off'])} cut off, "
            f"{f(a['accuracy_finished'])} finished.",
            "",
        ]
    lines.append(f"Limit: {report['limit']} output tokens. Command: `{command}`")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    report = {
        "limit": args.limit,
        "measurements": {d: measure(Path(d), args.limit) for d in args.measurements},
    }
    command = command_line("benchmarks.cutoff", argv)
    save_tables(Path(args.out), "cutoff", report, to_markdown(report, command))


if __name__ == "__main__":
    main()
