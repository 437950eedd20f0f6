"""Engine build benchmark: which CPU kernels the installed llama.cpp runs here, and how fast.

Starts the embedded model's process (as every run does), then times a generation with one sequence:
prompt tokens/s and generated tokens/s for Qwen 0.5B, plus the CPU variant chosen and the build's
features. To compare builds, install each wheel into its own directory and run this once per build:

    pip install --no-deps --target /tmp/engines/native llama_cpp_python-...whl
    PYTHONPATH=/tmp/engines/native python -m benchmarks.engine --label native --out ...

    python -m benchmarks.engine --label portable
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from spl_opt.lm.cpu import cpu_model
from spl_opt.lm.llama_engine import LlamaEngine

RESULTS = Path(__file__).parent / "results"
PROMPT = (
    "Write a detailed, step-by-step explanation of how to evaluate the boolean expression "
    "'not ( True and False ) or ( False and not True )', then explain De Morgan's laws with examples."
)


def measure(model: str, max_tokens: int, repeats: int) -> dict[str, object]:
    engine = LlamaEngine(model, prefix_cache=False)
    start = time.perf_counter()
    info = engine.load()
    startup = time.perf_counter() - start
    process = engine.process()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = process.request(
            "chat",
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=max_tokens,
            temperature=0.0,
            reset=True,
        )
        runs.append((time.perf_counter() - start, out["input_tokens"], out["output_tokens"]))
    seconds = min(r[0] for r in runs)
    _, prompt_tokens, output_tokens = runs[0]
    return {
        "variant": info.get("variant", "monolithic build"),
        "system_info": info.get("system_info"),
        "startup_seconds": round(startup, 2),
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(output_tokens / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--label", default="installed")
    parser.add_argument("--model", default="qwen-0.5b")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "engine.json"))
    args = parser.parse_args()
    row = {"label": args.label, "model": args.model, "cpu": cpu_model()}
    row.update(measure(args.model, args.max_tokens, args.repeats))
    print(json.dumps(row), flush=True)
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    rows = [r for r in rows if r.get("label") != args.label] + [row]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
