"""Where batched greedy decoding departs from one-at-a-time decoding, and why.

Decodes the same examples three ways in one model process: sequential chat calls, the batched path
with one sequence per batch, and the batched path with ``--size`` sequences. For each example it
prints the first character at which the output differs from the sequential one (``-`` when equal).
If the batch of one already differs, the cause is the kernels chosen for a different batch shape,
not sequences interfering with each other.

    python -m benchmarks.agreement --examples 12 --size 4
"""

from __future__ import annotations

import argparse
import json

from benchmarks.speed import WORKED_PLAYBOOK
from spl_opt.lm.llama_engine import LlamaEngine
from spl_opt.tasks.registry import resolve_task


def first_difference(a: str, b: str) -> int | None:
    if a == b:
        return None
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="bbh:web_of_lies")
    parser.add_argument("--examples", type=int, default=12)
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    task = resolve_task(args.task, n_train=1, n_val=1, n_test=args.examples, seed=1)
    engine = LlamaEngine("qwen-0.5b")
    process = engine.process()
    system = WORKED_PLAYBOOK.render()
    users = [example.input_text() for example in task.test]
    sequential = [
        process.request(
            "chat",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            max_tokens=args.max_tokens,
            temperature=0.0,
        )["text"]
        for user in users
    ]
    result: dict[str, list[int | None]] = {}
    for size in (1, args.size):
        batched: list[str] = []
        for start in range(0, len(users), size):
            replies = engine.complete_batch(system, users[start : start + size], max_tokens=args.max_tokens)
            batched += [reply["text"] for reply in replies]
        result[f"batch_{size}"] = [first_difference(a, b) for a, b in zip(sequential, batched, strict=True)]
        same = sum(position is None for position in result[f"batch_{size}"])
        marks = " ".join("-" if p is None else str(p) for p in result[f"batch_{size}"])
        print(f"batch of {size}: {same}/{len(users)} equal; first differing character: {marks}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
