"""init, --config files, export, dashboard, mlflow, run.log: on a real run made with scripted fake LMs."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dspy
import pytest

from spl_opt import cli
from spl_opt.lm import config as lm_config
from spl_opt.testing import StrategyFollower, editor_reply, scripted_lm
from tests.conftest import HINT

ROOT = Path(__file__).resolve().parents[2]


def _sum(user: str) -> str:
    import re

    return str(sum(int(x) for x in re.findall(r"\d+", user)))


def _fake_build(config, **_):
    if config.temperature > 0:
        return scripted_lm([editor_reply("add", f"To answer, {HINT} and reply 'Answer: N'.")])
    return scripted_lm(StrategyFollower(_sum, HINT, wrong=lambda u: "I do not know."))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    data = tmp / "sums.jsonl"
    data.write_text(
        "".join(
            json.dumps({"question": f"{i} + {i + 1}", "answer": str(2 * i + 1)}) + "\n" for i in range(30)
        )
    )
    config = tmp / "run.toml"
    config.write_text(
        f'task = "sums"\ndata_file = "{data}"\nn_train = 8\nn_val = 6\nn_test = 6\nquiet = true\n'
        f'run_dir = "{tmp / "run"}"\n[budget]\nmax_rollouts = 40\n[search]\nminibatch_size = 3\n'
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lm_config, "build_lm", _fake_build)
        assert cli.main(["optimize", "--config", str(config), "--seed", "1"]) == 0
    return tmp / "run"


def test_config_file_and_flags_are_merged_and_saved(finished_run):
    saved = json.loads((finished_run / "config.json").read_text())
    assert saved["task"] == "sums" and saved["budget"]["max_rollouts"] == 40 and saved["seed"] == 1
    assert saved["search"]["minibatch_size"] == 3 and saved["quiet"] is True
    log = (finished_run / "run.log").read_text()
    assert "task sums" in log and "search stopped" in log


def test_init_writes_a_commented_config_that_validates_to_the_defaults(tmp_path, capsys):
    from spl_opt.config import RunConfig
    from spl_opt.config_file import load_config_file

    path = tmp_path / "spl-opt.toml"
    assert cli.main(["init", str(path)]) == 0
    assert "# " in path.read_text()
    assert RunConfig.model_validate(load_config_file(path)) == RunConfig()
    assert cli.main(["init", str(path)]) == 2  # never overwrites
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name,text,expected",
    [
        ("bad.toml", "[budget]\nmax_rollouts = 'many'\n", "budget.max_rollouts"),
        ("bad.toml", "task_lmx = 1\n", "task_lmx"),
        ("bad.toml", "[search]\nminibatch_size = 0\n", "search.minibatch_size"),
        ("bad.toml", "task = \n", "invalid TOML"),
        ("bad.yaml", "task: letters\nbudget: [\n", "line 3"),
        ("bad.ini", "x", ".toml, .yaml or .yml"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path, capsys, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    assert cli.main(["optimize", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_export_text_json_and_a_dspy_program_that_loads(finished_run, tmp_path, capsys):
    prompt = (finished_run / "prompt.txt").read_text()
    assert cli.main(["export", str(finished_run)]) == 0
    assert capsys.readouterr().out == prompt
    assert cli.main(["export", str(finished_run), "--format", "json", "--out", str(tmp_path / "p.json")]) == 0
    playbook = json.loads((tmp_path / "p.json").read_text())
    assert any(HINT in s["text"] for s in playbook["strategies"])
    assert (
        cli.main(["export", str(finished_run), "--format", "dspy", "--out", str(tmp_path / "prog.json")]) == 0
    )
    loaded = dspy.Predict("question -> answer")
    loaded.load(str(tmp_path / "prog.json"))
    assert loaded.signature.instructions == prompt.strip()


def test_export_of_an_unfinished_run_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "has not finished" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_the_ledger_on_loopback(finished_run):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "spl_opt.cli", "dashboard", str(finished_run), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.3)
        assert '"sums"' in body and "study_summaries" in body
    finally:
        proc.kill()
        proc.wait()


def test_mlflow_logging_to_a_local_store(finished_run, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts under ./mlruns
    from spl_opt.config import validate_config
    from spl_opt.engine.tracking import log_run
    from spl_opt.export import load_report

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = validate_config(json.loads((finished_run / "config.json").read_text()))
    run_id = log_run(uri, config, load_report(finished_run), finished_run)
    run = mlflow.tracking.MlflowClient(uri).get_run(run_id)
    assert run.data.metrics["learned_val_accuracy"] == 1.0 and run.data.params["task"] == "sums"
    assert (tmp_path / "mlruns").is_dir()


def test_report_with_measured_strategy_contributions(finished_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lm_config, "build_lm", _fake_build)
    out = tmp_path / "report"
    assert cli.main(["report", str(finished_run), "--out", str(out), "--measure"]) == 0
    html = (out / "report.html").read_text()
    assert "not measured" not in html and "+1.000" in html  # without the hint, accuracy drops to 0
    assert all(
        (out / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        for name in ("pareto", "progress", "lineage", "budget")
    )


def test_the_ledger_holds_every_evaluated_candidate_and_its_front_matches_the_run(finished_run):
    import optuna

    from spl_opt.export import load_report
    from spl_opt.ledger import OptunaLedger

    report = load_report(finished_run)
    study = OptunaLedger(finished_run, "sums").study
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    events = [json.loads(line) for line in (finished_run / "journal.jsonl").read_text().splitlines()]
    assert {t.user_attrs["candidate_id"] for t in complete} == {m.candidate.id for m in report.search.members}
    assert len(pruned) == sum(1 for e in events if e["event"] == "screen" and not e["accepted"])
    front = {m.candidate.id for m in report.search.front}
    assert {t.user_attrs["candidate_id"] for t in study.best_trials} == front


def test_test_curve_follows_the_best_so_far_prompt(finished_run, monkeypatch):
    from spl_opt.engine.measure import best_so_far, measure_test_curve
    from spl_opt.export import load_report

    monkeypatch.setattr(lm_config, "build_lm", _fake_build)
    report = load_report(finished_run)
    curve = measure_test_curve(finished_run, report)
    assert [x for x, _ in curve] == [x for x, _ in report.search.history]
    assert curve[0][1] == report.seed_test.objectives.accuracy
    assert curve[-1][1] == report.best_test.objectives.accuracy
    bests = best_so_far(report.search.members)
    assert bests[0].id == report.search.seed.candidate.id and bests[-1].id == report.search.best.candidate.id


def test_a_two_step_program_from_the_cli_exports_as_the_whole_program(tmp_path, monkeypatch, capsys):
    """`--program module:function`: one playbook per predictor, an HTML report with a lineage per
    predictor, and `export --format dspy` rebuilds the program with each step's instructions."""
    from spl_opt.core.records import Playbook
    from spl_opt.dspy_programs import EXTRACT, ExtractThenAnswer
    from tests.spl_opt.test_programs import two_step_answer

    def build(config, **_):
        if config.temperature > 0:
            return scripted_lm([editor_reply("add", "Add the two numbers given in the facts.")])
        return scripted_lm(two_step_answer)

    data = tmp_path / "sums.jsonl"
    rows = [{"question": f"What is {i} plus {i + 2}?", "answer": str(2 * i + 2)} for i in range(1, 30)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(lm_config, "build_lm", build)
    run = tmp_path / "run"
    args = ["optimize", "--task", "sums", "--data", str(data), "--train", "8", "--val", "6", "--test", "6"]
    args += ["--program", "spl_opt.dspy_programs:extract_then_answer", "--rollouts", "60", "--minibatch", "3"]
    assert cli.main([*args, "--run-dir", str(run), "--quiet"]) == 0
    playbook = json.loads((run / "playbook.json").read_text())
    assert [p["name"] for p in playbook["parts"]] == ["extract", "answer"]
    assert cli.main(["export", str(run), "--format", "dspy", "--out", str(tmp_path / "p.json")]) == 0
    program = ExtractThenAnswer()
    program.load(str(tmp_path / "p.json"))
    learned = Playbook.model_validate(playbook)
    assert program.extract.signature.instructions == learned.part("extract").render()
    assert program.answer.signature.instructions == learned.part("answer").render()
    assert (
        "Add the two numbers" in learned.part("answer").render()
        and EXTRACT not in learned.part("answer").render()
    )
    assert cli.main(["report", str(run)]) == 0
    html = (run / "report" / "report.html").read_text()
    assert "Lineage per predictor" in html and 'data-part="answer"' in html
    capsys.readouterr()
    assert cli.main(["optimize", "--task", "sums", "--data", str(data), "--program", "nope:make"]) == 2
    assert "cannot import nope" in capsys.readouterr().err
