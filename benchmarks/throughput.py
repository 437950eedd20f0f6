"""Throughput benchmark: task evaluations per second against concurrency, for the thread backend and
for Ray on one and on two local nodes, measured side by side in one run.

The LM is `FakeChatServer`, an OpenAI-compatible server in its own process on loopback that answers
after a fixed latency, so the figures measure the framework (evaluator, backend, DSPy's LM client and
HTTP), not a model. Parallel efficiency = measured rate / ideal rate (concurrency / latency).
Per-evaluation framework overhead = wall × concurrency / calls − latency.

    python -m benchmarks.throughput [--latency 0.2] [--concurrency 1,4,16,64] [--rounds 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

from spl_opt.core.records import Candidate, Example, Playbook
from spl_opt.evaluators.task import EvalRequest, TaskEvaluator

RESULTS = Path(__file__).parent / "results"
KEY_ENV = "SPL_OPT_BENCH_KEY"


def _serve(port: int, latency: float) -> None:
    from spl_opt.testing import FakeChatServer

    server = FakeChatServer(latency=latency, port=port).start()
    try:
        while True:
            time.sleep(3600)
    finally:
        server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workload(concurrency: int, rounds: int, groups: int) -> list[EvalRequest]:
    """`concurrency × rounds` calls: `groups` candidates (at least one per worker), fresh each time."""
    calls = concurrency * rounds
    per = max(1, calls // groups)
    stamp = time.time_ns()
    requests = []
    for g in range(groups):
        examples = tuple(
            Example(id=f"e{g}-{i}", inputs={"q": f"question {g}-{i}"}, target="0") for i in range(per)
        )
        requests.append(EvalRequest(Candidate(playbook=Playbook(preamble=f"p{stamp}-{g}")), examples, "val"))
    return requests


def _measure(evaluator: TaskEvaluator, requests: list[EvalRequest]) -> tuple[float, int]:
    start = time.perf_counter()
    evaluations = evaluator.evaluate_many(requests)
    wall = time.perf_counter() - start
    calls = sum(len(e.results) for e in evaluations)
    failed = sum(1 for e in evaluations for r in e.results if r.error)
    if failed:
        raise RuntimeError(f"{failed} of {calls} calls failed: {evaluations[0].results[0].error}")
    return wall, calls


def _row(backend: str, concurrency: int, wall: float, calls: int, latency: float, **extra: Any) -> dict:
    rate = calls / wall
    ideal = concurrency / latency
    return {
        "backend": backend,
        "concurrency": concurrency,
        "calls": calls,
        "wall_s": round(wall, 3),
        "evals_per_s": round(rate, 1),
        "ideal_per_s": round(ideal, 1),
        "efficiency": round(rate / ideal, 3),
        "overhead_ms_per_eval": round(1000 * (wall * concurrency / calls - latency), 2),
        **extra,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from spl_opt.backends.local import ThreadBackend
    from spl_opt.engine.workers import WorkerSpec
    from spl_opt.lm.config import LMConfig

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ[KEY_ENV] = "sk-benchmark"
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, args.latency), daemon=True
    )
    server.start()
    time.sleep(1.0)
    # a model name DSPy knows: for an unknown name DSPy scans its whole price table on every call
    # (about 1 ms of CPU), which would be measured here as framework overhead
    lm = LMConfig(model=f"openai/{args.model}", api_base=f"http://127.0.0.1:{port}/v1", api_key_env=KEY_ENV)
    spec = WorkerSpec(task_lm=lm, namespace="bench")
    levels = [int(c) for c in args.concurrency.split(",")]
    rows: list[dict[str, Any]] = []
    try:
        worker = spec()
        for c in levels:
            with ThreadBackend(worker, c, chunk_size=1) as backend:
                evaluator = TaskEvaluator(backend, namespace="bench")
                _measure(evaluator, _workload(c, 1, c))  # warm-up: threads and connections
                wall, calls = _measure(evaluator, _workload(c, args.rounds, c))
            rows.append(_row("thread", c, wall, calls, args.latency))
            print(rows[-1], flush=True)
        for nodes in (1, 2):
            rows.extend(_ray_rows(spec, nodes, levels, args))
    finally:
        server.kill()
    return {
        "command": "python -m benchmarks.throughput " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "latency_s": args.latency,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows": rows,
    }


def _ray_rows(spec: Any, nodes: int, levels: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    from ray.cluster_utils import Cluster

    from spl_opt.backends.ray import RayBackend

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    rows = []
    try:
        for c in levels:
            workers = min(c, 2 * nodes)
            per_actor = -(-c // workers)
            backend = RayBackend(
                spec, workers, concurrency=per_actor, address=cluster.address, cpus_per_worker=0.5
            )
            try:
                evaluator = TaskEvaluator(backend, namespace="bench")
                _measure(evaluator, _workload(c, 1, workers))
                wall, calls = _measure(evaluator, _workload(c, args.rounds, workers))
                placed = len({node for _, node in backend.placement})
            finally:
                backend.close()
            rows.append(
                _row(
                    f"ray-{nodes}-node",
                    c,
                    wall,
                    calls,
                    args.latency,
                    workers=workers,
                    nodes_used=placed,
                    start_s=round(backend.start_seconds, 2),
                )
            )
            print(rows[-1], flush=True)
    finally:
        cluster.shutdown()
    return rows


def local_ray_start_seconds() -> float:
    """Time for `RayBackend` to start a fresh local Ray instance and one actor (no cluster)."""
    import ray

    from spl_opt.backends.ray import RayBackend

    if ray.is_initialized():
        ray.shutdown()
    with RayBackend(_ScriptedFactory(), 1) as backend:
        return backend.start_seconds


class _ScriptedFactory:
    def __call__(self) -> Any:
        from spl_opt.evaluators.worker import Worker
        from spl_opt.programs import ChatProgram
        from spl_opt.testing import scripted_lm

        return Worker(ChatProgram(scripted_lm(["Answer: 0"])), lambda ex, out: (1.0, ""))


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Throughput: evaluations per second against concurrency (latency {result['latency_s']} s)",
        "",
        f"`{result['command']}` on {result['machine']}.",
        f"Starting a fresh local Ray instance with one actor: {result['ray_local_start_s']} s.",
        "",
        "| backend | concurrency | calls | evals/s | ideal/s | efficiency | overhead ms/eval | Ray start s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['backend']} | {r['concurrency']} | {r['calls']} | {r['evals_per_s']} | {r['ideal_per_s']} "
            f"| {r['efficiency']:.2f} | {r['overhead_ms_per_eval']} | {r.get('start_s', '')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--rounds", type=int, default=16, help="calls per concurrency slot")
    parser.add_argument("--model", default="gpt-4o-mini", help="model name the fake server answers as")
    parser.add_argument("--out", default=str(RESULTS / "throughput"))
    args = parser.parse_args()
    result = run(args)
    result["ray_local_start_s"] = round(local_ray_start_seconds(), 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
