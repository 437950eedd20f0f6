"""Peers benchmark: spl-opt against DSPy's GEPA and MIPROv2 (and the unoptimized seed prompt), alike.

    python -m benchmarks.peers --data letters,bbh:web_of_lies --optimizers seed,spl,gepa,mipro \\
        --budget 200 --seed 0

For each task (`--data`: `letters`, `gsm8k`, `bbh:<name>`, or a path to a BBH-style `.json` file,
`{"examples": [{"input": ..., "target": ...}]}`, or a `.jsonl` file with input/target or
question/answer rows; several comma-separated) and each optimizer, one run with:

- the same task LM (default embedded Qwen2.5-Coder-0.5B, temperature 0) and the same editor /
  reflection / prompt-proposal LM (default embedded Qwen2.5-Coder-1.5B, temperature 0.7);
- the same train / validation / test split (`--train/--val/--test`, shuffled with `--seed`); test
  examples are never seen during optimization;
- the same program and metric: the system prompt of one plain chat call (system = prompt, user =
  the example's input), the free-text reply scored by spl-opt's task scorer; see
  `benchmarks.peers.program` for how GEPA and MIPROv2 optimize exactly that call;
- the same budget of task-LM rollouts (`--budget`): one rollout is one task-LM call made during
  optimization, counted below DSPy's (disabled) cache by a counting engine, identically for all;
  plus a wall-clock cap per run on the optimization (`--minutes`).

The harness then evaluates every chosen prompt on the test split itself, with the same code
(`ChatProgram` + the task scorer), and writes under `--out`: `<task>/<optimizer>.json` per run,
`<task>/curves.png` (best validation accuracy against rollouts, every optimizer), and
`summary.md` / `summary.json` (a table of every result JSON under `--out`). `seed` is the
unoptimized prompt: rollouts 0; its validation accuracy is measured by the harness, outside the
budget.

The package: `cli` (this command line), `harness` (load the tasks and models, run each (task,
optimizer) pair, score its prompt on test), `metering` (rollouts counted at the engine), `program`
(the shared program and metric), `spec` (what each optimizer gets and returns), one module per
optimizer (`spl` through spl-opt's public API, `gepa`, `mipro`; `optimizers` names them), `results`
(the typed result of a run, `PeerRun`), `targets` and `report` (summary table, targets, curves).
"""
