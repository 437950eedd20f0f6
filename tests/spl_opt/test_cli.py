import json
import subprocess
import sys

import pytest

from spl_opt import cli
from spl_opt.lm import config as lm_config
from spl_opt.testing import StrategyFollower, editor_reply, scripted_lm
from tests.conftest import HINT


def _sum(user: str) -> str:
    import re

    return str(sum(int(x) for x in re.findall(r"\d+", user)))


def _error_of(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("spl-opt: error: ")
    return err


def test_unknown_task_is_one_clear_line(capsys):
    assert "unknown task 'nope'" in _error_of(capsys, ["optimize", "--task", "nope"])


def test_malformed_data_file_names_the_line(tmp_path, capsys):
    data = tmp_path / "mine.jsonl"
    data.write_text('{"input": "a", "target": "1"}\n{"input": "b", "target": \n')
    err = _error_of(capsys, ["optimize", "--task", "mine", "--data", str(data)])
    assert "mine.jsonl" in err and "line 2" in err


def test_invalid_config_names_the_key(capsys):
    assert "budget.max_rollouts" in _error_of(capsys, ["optimize", "--rollouts", "-5"])


def test_resume_of_a_directory_that_is_no_run(tmp_path, capsys):
    assert "not an spl-opt run directory" in _error_of(capsys, ["resume", str(tmp_path)])


def test_resume_says_what_is_wrong_with_a_torn_config_or_garbage_journal(tmp_path, capsys):
    from spl_opt.config import validate_config

    (tmp_path / "config.json").write_text('{"task": "letters",')
    err = _error_of(capsys, ["resume", str(tmp_path)])
    assert "config.json" in err and "different run" not in err
    (tmp_path / "config.json").write_text(
        json.dumps(validate_config({"task": "letters"}).model_dump(mode="json"))
    )
    (tmp_path / "journal.jsonl").write_text('garbage\n\x00\x01 more garbage\n{"event": "candidate"}\n')
    err = _error_of(capsys, ["resume", str(tmp_path)])
    assert "journal.jsonl is damaged: 2 of 3 lines are not journal events" in err


def test_a_missing_api_key_fails_before_the_search(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SPL_TEST_NO_SUCH_KEY", raising=False)
    args = ["optimize", "--task-model", "openai/gpt-4o-mini", "--api-key-env", "SPL_TEST_NO_SUCH_KEY"]
    err = _error_of(capsys, [*args, "--no-editor", "--run-dir", str(tmp_path / "r")])
    assert "SPL_TEST_NO_SUCH_KEY" in err and "is not set" in err
    assert not (tmp_path / "r").exists()  # before anything was written


@pytest.fixture
def fake_lms(monkeypatch):
    def build(config, **_):
        if config.temperature > 0:  # the editor LM
            return scripted_lm([editor_reply("add", f"To answer, {HINT} and reply 'Answer: N'.")])
        return scripted_lm(StrategyFollower(_sum, HINT, wrong=lambda u: "I do not know."))

    monkeypatch.setattr(lm_config, "build_lm", build)


def test_optimize_then_resume_a_finished_run(tmp_path, capsys, fake_lms):
    data = tmp_path / "sums.json"
    data.write_text(
        json.dumps({"examples": [{"input": f"{i} + {i + 1}", "target": str(2 * i + 1)} for i in range(40)]})
    )
    run_dir = tmp_path / "run"
    argv = [
        "optimize",
        "--task",
        "sums",
        "--data",
        str(data),
        "--rollouts",
        "60",
        "--run-dir",
        str(run_dir),
        "--train",
        "10",
        "--val",
        "8",
        "--test",
        "8",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "| learned | 1.000 |" in out
        and "Pareto front" in out
        and HINT in (run_dir / "prompt.txt").read_text()
    )
    result = json.loads((run_dir / "result.json").read_text())
    assert result["best_test"]["objectives"]["accuracy"] == 1.0
    assert result["seed_test"]["objectives"]["accuracy"] == 0.0
    cached = len((run_dir / "cache.jsonl").read_text().splitlines())
    assert cli.main(["resume", str(run_dir)]) == 0  # a finished run replays without a single new LM call
    assert len((run_dir / "cache.jsonl").read_text().splitlines()) == cached
    assert "| learned | 1.000 |" in capsys.readouterr().out


def test_import_is_light():
    code = (
        "import sys, spl_opt, spl_opt.core, search, evaluators; "
        "heavy = [m for m in ('dspy', 'optuna', 'ray', 'llama_cpp', 'litellm') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_task_lm_that_always_fails_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        lm_config, "build_lm", lambda config, **_: scripted_lm(["x"], fail_on=lambda s, u: True)
    )
    err = _error_of(capsys, ["optimize", "--task", "letters", "--run-dir", str(tmp_path / "r"), "--val", "3"])
    assert "failed on every validation example" in err and "scripted failure" in err


def test_a_missing_gguf_is_one_clear_error(tmp_path, capsys):
    err = _error_of(
        capsys,
        [
            "optimize",
            "--task-model",
            f"embedded:{tmp_path}/none.gguf",
            "--no-editor",
            "--run-dir",
            str(tmp_path / "r"),
        ],
    )
    assert "GGUF file not found" in err


def test_a_file_that_is_not_a_gguf_model_is_one_clear_error(tmp_path, capsys):
    fake = tmp_path / "weights.gguf"
    fake.write_text("these are not weights")
    args = ["optimize", "--task-model", f"embedded:{fake}", "--no-editor", "--run-dir", str(tmp_path / "r")]
    err = _error_of(capsys, args)
    assert "is not a GGUF model file" in err and "\n" not in err.strip()


def test_backend_flags_reach_the_config():
    args = cli._parser().parse_args(["optimize", "--ray-address", "auto", "--workers", "4"])
    config = cli.config_from_args(args)
    assert (config.backend.kind, config.backend.address, config.backend.workers) == ("ray", "auto", 4)
    args = cli._parser().parse_args(["optimize", "--backend", "ray", "--worker-concurrency", "8"])
    config = cli.config_from_args(args)
    assert (config.backend.kind, config.backend.address, config.backend.worker_concurrency) == (
        "ray",
        None,
        8,
    )
    assert cli.config_from_args(cli._parser().parse_args(["optimize"])).backend.kind == "thread"


def test_a_ray_address_without_the_ray_backend_is_refused(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('[backend]\nkind = "thread"\naddress = "auto"\n')
    assert "backend" in _error_of(capsys, ["optimize", "--config", str(path)])


def test_resume_can_move_a_run_to_another_backend(tmp_path, monkeypatch, capsys):
    from spl_opt.config import RunConfig
    from spl_opt.engine import runner

    (tmp_path / "config.json").write_text(RunConfig(run_dir=str(tmp_path)).model_dump_json())
    seen = []
    monkeypatch.setattr(
        runner, "run_config", lambda config, echo=True: seen.append(config) or (None, tmp_path)
    )
    monkeypatch.setattr("spl_opt.engine.summary.render_summary", lambda report: "")
    assert (
        cli.main(["resume", str(tmp_path), "--ray-address", "10.0.0.5:6379", "--worker-concurrency", "4"])
        == 0
    )
    assert seen[0].backend.kind == "ray" and seen[0].backend.address == "10.0.0.5:6379"
    assert seen[0].backend.worker_concurrency == 4
    assert runner._same_run(RunConfig(run_dir=str(tmp_path)).model_dump(mode="json"), seen[0])


def test_resume_on_threads_drops_the_cluster_address_and_may_change_workers(tmp_path, monkeypatch, capsys):
    from spl_opt.config import BackendConfig, RunConfig
    from spl_opt.engine import runner

    saved = RunConfig(run_dir=str(tmp_path), backend=BackendConfig(kind="ray", address="auto"))
    (tmp_path / "config.json").write_text(saved.model_dump_json())
    seen = []
    monkeypatch.setattr(
        runner, "run_config", lambda config, echo=True: seen.append(config) or (None, tmp_path)
    )
    monkeypatch.setattr("spl_opt.engine.summary.render_summary", lambda report: "")
    assert cli.main(["resume", str(tmp_path), "--backend", "thread", "--workers", "3"]) == 0
    assert seen[0].backend.kind == "thread" and seen[0].backend.address is None
    assert seen[0].backend.workers == 3 and runner._same_run(saved.model_dump(mode="json"), seen[0])
