"""Reliability drill, run as a user would: `spl-opt optimize` against a fault-injecting OpenAI-compatible
server on loopback (`spl_opt.testing.FakeChatServer`), with kills, faults, an outage and bad input.

    python -m benchmarks.reliability [--kills 20] [--only kills,faults,outage,ray_driver,inputs]

1. kills: SIGKILL at random moments, each followed by `spl-opt resume`, on the thread and Ray
   backends: the final result against an uninterrupted run with the same seed, and LM requests made
   again (only calls in flight at a kill should be).
2. faults: 20% injected faults of six kinds (500, 429, a stall past the timeout, a non-JSON body,
   empty text, garbage text): the run completes; no fault is scored as a wrong answer.
3. outage: the server answers 503 for a while, the run finishes with failed calls, then a resume on
   the recovered server: requests made again and the final accuracy against the fault-free run's.
4. ray_driver: the driver of a `--backend ray` run is killed: LM requests after its death and its
   processes still alive 10 s later.
5. inputs: malformed data files, configs, flags and run directories: how many give a one-line error.

The fake model answers every question right ("Answer: <a+b>"), so any "wrong" outcome is a fault
scored as a wrong answer, and the true accuracy of every prompt is 1.0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from spl_opt.testing import FakeChatServer

RESULTS = Path(__file__).parent / "results"
KEY_ENV = "SPL_RELIABILITY_KEY"


def answer(system: str, user: str) -> str:
    numbers = [int(x) for x in re.findall(r"\d+", user)]
    return f"Answer: {sum(numbers[:2])}"


def write_task(folder: Path) -> Path:
    data = folder / "sums.json"
    rows = [{"input": f"What is {i} + {2 * i + 1}?", "target": str(3 * i + 1)} for i in range(60)]
    data.write_text(json.dumps({"examples": rows}))
    return data


def spl(*args: str, wait: bool = True, timeout: float = 600) -> subprocess.Popen[str]:
    env = {**os.environ, KEY_ENV: "sk-drill", "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "spl_opt.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if wait:
        proc.communicate(timeout=timeout)
    return proc


def optimize_args(data: Path, server: FakeChatServer, run_dir: Path, *extra: str) -> list[str]:
    return [
        "optimize", "--task", "sums", "--data", str(data), "--task-model", "openai/gpt-4o-mini",
        "--api-base", server.base_url, "--api-key-env", KEY_ENV, "--no-editor", "--quiet",
        "--rollouts", "150", "--train", "20", "--val", "15", "--test", "20", "--minibatch", "5",
        "--parallel", "4", "--workers", "4", "--worker-concurrency", "4", "--run-dir", str(run_dir), *extra,
    ]  # fmt: skip


def outcome_of(run_dir: Path) -> dict[str, Any]:
    result = json.loads((run_dir / "result.json").read_text())
    search = result["search"]
    tests = [r for r in result["best_test"]["results"]]
    return {
        "prompt": search["best"]["candidate"]["playbook"],
        "rollouts": search["rollouts"],
        "iterations": search["iterations"],
        "test_accuracy": sum(r["score"] for r in tests if r.get("outcome") != "error")
        / max(1, sum(r.get("outcome") != "error" for r in tests)),
        "test_errors": sum(r.get("outcome") == "error" for r in tests),
    }


def cache_stats(run_dir: Path) -> dict[str, int]:
    keys: list[tuple[str, ...]] = []
    outcomes: Counter[str] = Counter()
    torn = 0
    for line in (run_dir / "cache.jsonl").read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            torn += 1
            continue
        if "result" in row:
            outcome = row["result"].get("outcome", "?")
            outcomes[outcome] += 1
            if outcome != "error":
                keys.append(tuple(row["key"]))
    journal_torn = 0
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        try:
            json.loads(line)
        except ValueError:
            journal_torn += 1
    return {
        "duplicate_result_keys": len(keys) - len(set(keys)),
        "torn_cache_lines": torn,
        "torn_journal_lines": journal_torn,
        **{f"outcome_{k}": v for k, v in sorted(outcomes.items())},
    }


def kills(data: Path, folder: Path, backend: str, n_kills: int, rng: random.Random) -> dict[str, Any]:
    extra = ("--backend", "ray", "--workers", "2") if backend == "ray" else ()
    latency = (
        0.05 if backend == "ray" else 0.2
    )  # a thread session is fast: slower answers leave room for 20 kills
    with FakeChatServer(answer, latency=latency) as server:
        base_dir = folder / f"kills-{backend}-base"
        spl(*optimize_args(data, server, base_dir, *extra))
        base_requests = server.requests
    base = outcome_of(base_dir)
    window = (1.0, 6.0) if backend == "ray" else (0.3, 2.5)  # seconds from a session start to a timed kill
    with FakeChatServer(answer, latency=latency) as server:
        run_dir = folder / f"kills-{backend}"
        args = optimize_args(data, server, run_dir, *extra)
        done_kills, start = 0, time.monotonic()
        proc = spl(*args, wait=False)
        while done_kills < n_kills:
            # a quarter of the kills at a random moment (start-up included), the rest after a few
            # new LM requests, so that twenty kills fit in one run
            begin, deadline = server.requests, time.monotonic() + rng.uniform(*window)
            wanted = rng.randint(1, 6) if rng.random() < 0.75 else None
            while proc.poll() is None and (
                server.requests < begin + wanted if wanted else time.monotonic() < deadline
            ):
                time.sleep(0.002)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                done_kills += 1
            elif (run_dir / "result.json").exists():
                break  # the run finished between two kills
            started = (run_dir / "config.json").exists()
            proc = spl("resume", str(run_dir), wait=False) if started else spl(*args, wait=False)
        proc.communicate(timeout=600)  # the last session runs to the end
        requests = server.requests
    final = outcome_of(run_dir)
    return {
        "backend": backend,
        "kills": done_kills,
        "seconds": round(time.monotonic() - start, 1),
        "same_result_as_uninterrupted": final == base,
        "uninterrupted": base,
        "killed_and_resumed": final,
        "lm_requests_uninterrupted": base_requests,
        "lm_requests_with_kills": requests,
        "lm_requests_made_again": requests - base_requests,
        **cache_stats(run_dir),
    }


def faults(data: Path, folder: Path) -> dict[str, Any]:
    run_dir = folder / "faults"
    with FakeChatServer(answer, latency=0.02, fault_rate=0.2, stall=3.0, seed=1) as server:
        proc = spl(*optimize_args(data, server, run_dir, "--timeout", "1"))
        served = dict(server.faults)
        requests = server.requests
    stats = cache_stats(run_dir)
    result = outcome_of(run_dir) if (run_dir / "result.json").exists() else {}
    return {
        "completed": proc.returncode == 0,
        "lm_requests": requests,
        "faults_injected": served,
        "faults_injected_total": sum(served.values()),
        "faults_scored_as_wrong_answers": stats.get("outcome_wrong", 0),
        "result": result,
        **stats,
    }


def outage(data: Path, folder: Path) -> dict[str, Any]:
    base_dir, run_dir = folder / "outage-base", folder / "outage"
    with FakeChatServer(answer, latency=0.02) as server:
        spl(*optimize_args(data, server, base_dir))
    base = outcome_of(base_dir)
    with FakeChatServer(answer, latency=0.02) as server:
        proc = spl(*optimize_args(data, server, run_dir), wait=False)
        while server.requests < 60 and proc.poll() is None:
            time.sleep(0.01)
        server.down = True  # the outage: every request gets a 503 until the run has finished
        proc.communicate(timeout=600)
        during = outcome_of(run_dir) if (run_dir / "result.json").exists() else {}
        server.down = False
        before = server.requests
        resumed = spl("resume", str(run_dir))
        again = server.requests - before
    after = outcome_of(run_dir)
    failed = cache_stats(run_dir).get("outcome_error", 0)
    return {
        "first_session_exit_code": proc.returncode,
        "during_outage": during,
        "failed_calls_recorded": failed,
        "requests_on_resume": again,
        "resume_exit_code": resumed.returncode,
        "fault_free": base,
        "after_resume": after,
        "final_test_accuracy_equals_fault_free": after.get("test_accuracy") == base["test_accuracy"],
    }


def _processes() -> dict[int, str]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return out


def ray_driver(data: Path, folder: Path) -> dict[str, Any]:
    before = set(_processes())
    with FakeChatServer(answer, latency=0.3) as server:
        args = optimize_args(data, server, folder / "ray-driver", "--backend", "ray", "--workers", "2")
        proc = spl(*args, wait=False)
        while server.requests < 8 and proc.poll() is None:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only, as a crash or an OOM kill would
        proc.wait()
        at_death = server.requests
        time.sleep(10)
        after = server.requests - at_death
    left = {p: c for p, c in _processes().items() if p not in before and ("ray" in c or "spl_opt" in c)}
    return {
        "requests_before_death": at_death,
        "lm_requests_after_death": after,
        "processes_left_after_10s": len(left),
        "left": sorted(c[:120] for c in left.values()),
    }


def inputs(data: Path, folder: Path) -> dict[str, Any]:
    bad = folder / "bad"
    bad.mkdir()
    (bad / "torn.jsonl").write_text('{"input": "a", "target": "1"}\n{"input": "b", "target": \n')
    (bad / "empty.json").write_text("")
    (bad / "wrong.json").write_text('{"examples": [{"question": 1}]}')
    (bad / "two.jsonl").write_text('{"input": "a", "target": "1"}\n{"input": "b", "target": "2"}\n')
    (bad / "config.toml").write_text("[budget\nmax_rollouts = 3")
    (bad / "config.yaml").write_text("budget: {max_rollouts: -1}")
    (bad / "notarun").mkdir()
    (bad / "badconfig").mkdir()
    (bad / "badconfig" / "config.json").write_text('{"task": "letters",')
    (bad / "garbage").mkdir()
    (bad / "garbage" / "config.json").write_text('{"task": "letters"}')
    (bad / "garbage" / "journal.jsonl").write_text("\0\0 garbage\nmore garbage\n")
    (bad / "notgguf.gguf").write_text("not weights")
    cases = {
        "unknown task": ["optimize", "--task", "nope"],
        "torn data line": ["optimize", "--task", "x", "--data", str(bad / "torn.jsonl")],
        "empty data file": ["optimize", "--task", "x", "--data", str(bad / "empty.json")],
        "rows without fields": ["optimize", "--task", "x", "--data", str(bad / "wrong.json")],
        "missing data file": ["optimize", "--task", "x", "--data", str(bad / "none.jsonl")],
        "negative rollouts": ["optimize", "--rollouts", "-5"],
        "zero validation": ["optimize", "--val", "0"],
        "broken TOML": ["optimize", "--config", str(bad / "config.toml")],
        "invalid YAML value": ["optimize", "--config", str(bad / "config.yaml")],
        "missing config file": ["optimize", "--config", str(bad / "none.toml")],
        "resume of no run": ["resume", str(bad / "notarun")],
        "resume with a torn config": ["resume", str(bad / "badconfig")],
        "resume with garbage journal": ["resume", str(bad / "garbage")],
        "resume of a missing dir": ["resume", str(bad / "none")],
        "missing GGUF": ["optimize", "--task-model", f"embedded:{bad}/none.gguf", "--no-editor"],
        "not a GGUF": ["optimize", "--task-model", f"embedded:{bad / 'notgguf.gguf'}", "--no-editor"],
        "missing API key": ["optimize", "--task-model", "openai/x", "--api-key-env", "SPL_NO_SUCH_KEY"],
        "unreachable cluster": ["optimize", "--ray-address", "127.0.0.1:1", "--no-editor"],
        "unknown backend": ["optimize", "--backend", "mpi"],
        "bad timeout": ["optimize", "--timeout", "-1"],
    }
    clear = {}
    for name, argv in cases.items():
        start = time.monotonic()
        proc = (
            spl(*argv, "--run-dir", str(folder / "bad-runs" / name.replace(" ", "-")), wait=False)
            if argv[0] == "optimize"
            else spl(*argv, wait=False)
        )
        out, _ = proc.communicate(timeout=120)
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error:" in ln]  # progress lines before it are fine
        one_line = proc.returncode not in (0, None) and len(errors) == 1 and "Traceback" not in out
        clear[name] = {
            "one_line_error": one_line,
            "exit_code": proc.returncode,
            "lines": len(lines),
            "seconds": round(time.monotonic() - start, 1),
            "said": errors or lines[-1:],
        }
    return {
        "tried": len(cases),
        "clear_one_line": sum(c["one_line_error"] for c in clear.values()),
        "cases": clear,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--only", default="kills,faults,outage,ray_driver,inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "reliability.json"))
    args = parser.parse_args()
    out = Path(args.out)
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results["command"] = "python -m benchmarks.reliability " + " ".join(sys.argv[1:])
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = write_task(folder)
        steps = {
            "kills_thread": lambda: kills(data, folder, "thread", args.kills, rng),
            "kills_ray": lambda: kills(data, folder, "ray", args.kills, rng),
            "faults": lambda: faults(data, folder),
            "outage": lambda: outage(data, folder),
            "ray_driver": lambda: ray_driver(data, folder),
            "inputs": lambda: inputs(data, folder),
        }
        chosen = args.only.split(",")
        for name, step in steps.items():
            if name in chosen or name.split("_")[0] in chosen:
                results[name] = step()
                print(name, json.dumps(results[name], default=str)[:1500], flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
