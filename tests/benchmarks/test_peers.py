"""The peers benchmark harness, on scripted fake LMs (no real model): CLI, data, counting, fairness,
and one end-to-end run per optimizer."""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
from pathlib import Path

import dspy
import pytest

from benchmarks.peers import harness
from benchmarks.peers.cli import DEFAULT_OUT, parse_args
from benchmarks.peers.metering import Usage, counted_lm
from benchmarks.peers.mipro import fit_mipro_trials, mipro_trial_calls
from benchmarks.peers.program import PlainChatAdapter, SystemPromptProgram
from benchmarks.peers.results import PeerRun
from benchmarks.peers.spec import best_so_far
from spl_opt.core.records import Example
from spl_opt.evaluators.length import LengthCounter
from spl_opt.lm.config import LMConfig
from spl_opt.programs import ChatProgram
from spl_opt.testing import ScriptedEngine, StrategyFollower
from tests.conftest import HINT, _sum

RULE = f"To answer, {HINT} and reply 'Answer: N'."
FIELDS = re.compile(r"Your output fields are:\n(.*?)All interactions", re.S)


def fake_editor(system: str, user: str) -> str:
    """An editor for every optimizer's prompts: fills the requested output fields (ChatAdapter markers
    or a JSON object, as the system message asks) and always proposes RULE as the instruction."""
    match = FIELDS.search(system)
    names = re.findall(r"^\d+\. `(\w+)`", match.group(1), re.M) if match else ["text"]
    fixed = {
        "operation": "add",
        "strategy_id": "none",
        "title": "Learned rule",
        "diagnosis": "Misses the rule.",
    }
    values = {
        n: fixed.get(n, RULE if "instruction" in n or n == "text" else "A note on the data.") for n in names
    }
    if "JSON object" in system:
        return json.dumps(values)
    body = "\n\n".join(f"[[ ## {k} ## ]]\n{v}" for k, v in values.items())
    return f"{body}\n\n[[ ## completed ## ]]"


def cli(command: str):
    return parse_args(shlex.split(command))


def toy_rows(n: int) -> list[dict[str, str]]:
    return [{"input": f"What is {i} plus {2 * i + 1}?", "target": str(3 * i + 1)} for i in range(n)]


def fake_models(task_engine: ScriptedEngine, editor_engine: ScriptedEngine) -> harness.Models:
    return harness.Models(
        task_engine=task_engine,
        task_config=LMConfig(model="scripted/task", max_tokens=64),
        editor_engine=editor_engine,
        editor_config=LMConfig(model="scripted/editor", temperature=0.7, max_tokens=384),
        count_tokens=LengthCounter(),
    )


# --------------------------------------------------------------------------------------------------
# Command line and data
# --------------------------------------------------------------------------------------------------


def test_cli_defaults_and_lists():
    args = parse_args([])
    assert args.data == ["letters"]
    assert args.optimizers == ["seed", "spl", "gepa", "mipro"]
    assert (args.budget, args.seed, args.train, args.val, args.test) == (200, 0, 30, 20, 50)
    assert args.task_model == "embedded:qwen-0.5b" and args.editor_model == "embedded:qwen-1.5b"
    assert args.editor_temperature == 0.7 and args.out == str(DEFAULT_OUT)

    args = cli(
        "--data 'letters, bbh:web_of_lies,data/x.jsonl' --optimizers gepa,spl,gepa --budget 30 --train 6 "
        "--val 5 --test 4 --minutes 2.5 --max-tokens 64 --out /tmp/o"
    )
    assert args.data == ["letters", "bbh:web_of_lies", "data/x.jsonl"]
    assert args.optimizers == ["gepa", "spl"]  # deduplicated, order kept
    assert (args.budget, args.train, args.val, args.test, args.minutes, args.max_tokens) == (
        30,
        6,
        5,
        4,
        2.5,
        64,
    )


@pytest.mark.parametrize(
    "argv", [["--optimizers", "spl,dspy"], ["--budget", "0"], ["--val", "-1"], ["--minutes", "0"]]
)
def test_cli_rejects_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_loads_a_bbh_style_json_file(tmp_path):
    path = tmp_path / "yesno.json"
    rows = [{"input": f"Is {i} even?", "target": "Yes" if i % 2 == 0 else "No"} for i in range(20)]
    path.write_text(json.dumps({"canary": "x", "examples": rows}))
    args = parse_args(["--data", str(path), "--train", "8", "--val", "5", "--test", "7"])
    task = harness.load_task(args.data[0], args)
    assert task.name == "yesno" and task.metric == "exact"
    assert (len(task.train), len(task.val), len(task.test)) == (8, 5, 7)
    ids = [e.id for e in (*task.train, *task.val, *task.test)]
    assert len(set(ids)) == 20  # disjoint splits covering the file
    assert all(e.inputs.keys() == {"input"} and e.target in ("Yes", "No") for e in task.train)


def test_loads_a_jsonl_file_with_question_answer_rows(tmp_path):
    path = tmp_path / "sums.jsonl"
    lines = [json.dumps({"question": f"{i}+{i}?", "answer": f"work #### {2 * i}"}) for i in range(12)]
    path.write_text("\n".join(lines) + "\n")
    args = parse_args(["--train", "30", "--val", "20", "--test", "50"])
    task = harness.load_task(str(path), args)  # fewer rows than asked: split proportionally
    assert task.name == "sums" and task.metric == "numeric"
    assert (
        sum(map(len, (task.train, task.val, task.test))) == 12 and min(map(len, (task.val, task.test))) >= 1
    )
    first = task.train[0]
    assert first.inputs.keys() == {"question"} and first.target == str(
        2 * int(first.inputs["question"].split("+")[0])
    )


def test_bad_data_is_an_error_before_any_model_loads(tmp_path):
    with pytest.raises(SystemExit, match=r"error: .*nope\.jsonl"):
        harness.main(["--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match="unknown task 'bbh:no_such_task'"):
        harness.main(["--data", "bbh:no_such_task", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_builtin_task_names_are_not_files():
    args = parse_args(["--train", "4", "--val", "3", "--test", "2"])
    assert not harness.is_data_file("letters") and harness.is_data_file("x.jsonl")
    task = harness.load_task("letters", args)
    assert task.name == "letters" and (len(task.train), len(task.val), len(task.test)) == (4, 3, 2)


# --------------------------------------------------------------------------------------------------
# Counting and fairness
# --------------------------------------------------------------------------------------------------


def test_counting_engine_counts_every_call_including_failures_and_copies():
    usage = Usage()
    engine = ScriptedEngine(lambda s, u: "four words right here", fail_on=lambda s, u: u == "boom")
    lm = counted_lm(engine, LMConfig(model="scripted/x"), usage)
    program = ChatProgram(lm)
    program.run("sys", Example(id="a", inputs={"q": "one two"}, target=""))
    with pytest.raises(Exception, match="scripted failure"):
        program.run("sys", Example(id="b", inputs={"q": "boom"}, target=""))
    lm.copy(temperature=0.5)(messages=[{"role": "user", "content": "x"}])  # an LM copy counts too
    copy.deepcopy(lm)(messages=[{"role": "user", "content": "x"}])  # and a deep copy
    assert usage.calls == 4 and usage.errors == 1 and len(engine.calls) == 4
    # ScriptedEngine: input tokens = words of system + user ("sysone two"), output = words of the reply
    assert usage.input_tokens == 2 + 1 + 1 and usage.output_tokens == 4 * 3


def test_dspy_program_sends_the_same_request_as_chat_program():
    seen = []

    class Recorder(ScriptedEngine):
        def complete(self, request):
            seen.append(request)
            return super().complete(request)

    engine = Recorder(lambda s, u: "Answer: 3")
    lm = counted_lm(engine, LMConfig(model="scripted/x", max_tokens=77), Usage())
    for inputs in ({"question": "How many r in 'strawberry'?"}, {"a": "1", "b": "2"}):
        example = Example(id="e", inputs=inputs, target="3")
        ChatProgram(lm).run("Count carefully.", example)
        with dspy.context(lm=lm):
            prediction = SystemPromptProgram(list(inputs), "Count carefully.")(**inputs)
        assert prediction.answer == "Answer: 3"
        assert seen[-1] == seen[-2]  # system, user message, temperature, max_tokens: all equal
    assert seen[-1].system == "Count carefully." and seen[-1].messages[-1].text == "a: 1\nb: 2"


def test_plain_chat_adapter_keeps_an_empty_reply_as_an_empty_answer():
    lm = counted_lm(ScriptedEngine(lambda s, u: ""), LMConfig(model="scripted/x"), Usage())
    with dspy.context(lm=lm):
        assert SystemPromptProgram(["q"], "Be brief.")(q="hi").answer == ""
    assert PlainChatAdapter().parse(SystemPromptProgram(["q"], "x").predict.signature, "t") == {"answer": "t"}


def test_mipro_trial_sizing():
    # no minibatch: the default program's full evaluation, then one full evaluation per trial
    assert mipro_trial_calls(4, 6, False, 35, 5) == 30
    assert fit_mipro_trials(30, 6, False, 35, 5) == 4 and fit_mipro_trials(11, 6, False, 35, 5) == 0
    # minibatch: 60 + 10 trials of 35 + full evaluations after trials 5 and 10 (the extra one at the end
    # is skipped because 10 is a multiple of 5) ... per Optuna's numbering, which counts them as trials
    assert mipro_trial_calls(10, 60, True, 35, 5) == 60 + 10 * 35 + 2 * 60
    assert fit_mipro_trials(60 + 10 * 35 + 2 * 60, 60, True, 35, 5) == 10


def test_best_so_far_is_a_running_maximum():
    assert best_so_far([(30, 0.5), (10, 0.2), (20, 0.1), (40, 0.5), (50, 0.9)]) == [
        (10, 0.2),
        (30, 0.5),
        (50, 0.9),
    ]


# --------------------------------------------------------------------------------------------------
# End to end, per optimizer
# --------------------------------------------------------------------------------------------------

BUDGET, MINIBATCH, N_VAL, N_TEST = 40, 3, 6, 5
OVERSHOOT = {"seed": 0, "mipro": 0, "spl": 0, "gepa": 2 * MINIBATCH + N_VAL}  # spl never overshoots


@pytest.mark.parametrize("optimizer", ["seed", "spl", "gepa", "mipro"])
def test_end_to_end_run_writes_results_within_budget(optimizer, tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_rows(40)) + "\n")
    out = tmp_path / "out"
    args = cli(
        f"--data {data} --optimizers {optimizer} --budget {BUDGET} --minibatch {MINIBATCH} --train 8 "
        f"--val {N_VAL} --test {N_TEST} --mipro-candidates 3 --out {out} --runs {tmp_path / 'runs'} "
        "--minutes 2"
    )
    task_engine = ScriptedEngine(StrategyFollower(_sum, HINT, wrong=lambda user: "It is 0."))
    editor_engine = ScriptedEngine(fake_editor)
    [record] = harness.run(args, fake_models(task_engine, editor_engine), command="test")

    assert record.error is None, record.traceback
    path = out / "toy" / f"{optimizer}.json"
    assert PeerRun.model_validate_json(path.read_text()) == record
    assert record.command == "test" and record.versions["dspy"] == dspy.__version__
    assert record.seeds == {"split": 0, "optimizer": 0}
    assert record.split == {"train": 8, "val": N_VAL, "test": N_TEST, "seed": 0}

    # every task-LM call is accounted for: optimization rollouts + test (+ the seed's validation)
    seed_val = record.usage["seed_val"]["calls"]
    assert len(task_engine.calls) == record.rollouts + N_TEST + seed_val
    assert len(editor_engine.calls) == record.editor_calls
    assert record.rollouts <= BUDGET + OVERSHOOT[optimizer]
    assert record.overshoot == max(0, record.rollouts - BUDGET)
    assert record.tokens["task_input"] > 0 or optimizer == "seed"

    if optimizer == "seed":
        assert record.rollouts == 0 and record.editor_calls == 0 and seed_val == N_VAL
        assert record.prompt == "You are a helpful assistant."
        assert record.test.accuracy == 0.0 and record.val_accuracy == 0.0
        assert record.curve == [(0, 0.0)]
    else:
        assert record.rollouts > 0 and record.editor_calls > 0 and seed_val == 0
        assert HINT in record.prompt.lower()
        assert record.test.accuracy == 1.0 and record.test.n == N_TEST
        assert record.val_accuracy == 1.0
        curve = record.curve
        assert curve[0][1] == 0.0 and curve[-1][1] == 1.0  # the seed, then the learned prompt
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(curve))
        assert curve[-1][0] <= record.rollouts
    low, high = record.test.ci95
    assert low <= record.test.accuracy <= high
    assert record.prompt_tokens == LengthCounter()(record.prompt)

    summary = (out / "summary.md").read_text()
    assert re.search(rf"\| toy \| {optimizer} \| \d\.\d\d \[", summary)
    assert f"{record.rollouts} / {BUDGET}" in summary
    assert (out / "toy" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text())[0]["optimizer"] == optimizer


def test_skip_existing_keeps_a_result_with_the_same_settings(tmp_path):
    data = tmp_path / "toy.json"
    data.write_text(json.dumps({"examples": toy_rows(20)}))
    argv = ["--data", str(data), "--optimizers", "seed", "--train", "5", "--val", "4", "--test", "3"]
    argv += ["--out", str(tmp_path / "out"), "--skip-existing"]
    engine = ScriptedEngine(lambda s, u: "Answer: 1")
    models = fake_models(engine, ScriptedEngine(fake_editor))
    assert len(harness.run(parse_args(argv), models)) == 1
    calls = len(engine.calls)
    assert harness.run(parse_args(argv), models) == [] and len(engine.calls) == calls  # kept
    assert len(harness.run(parse_args([*argv, "--budget", "7"]), models)) == 1  # other settings: rerun


def test_a_failing_optimizer_is_recorded_and_the_table_says_so(tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_rows(20)) + "\n")
    args = cli(
        f"--data {data} --optimizers mipro,seed --train 5 --val 4 --test 3 --out {tmp_path / 'out'} "
        "--budget 20 --mipro-candidates 3"
    )
    broken_editor = ScriptedEngine(lambda s, u: "x", fail_on=lambda s, u: True)  # MIPRO's proposals raise
    failed, seed = harness.run(args, fake_models(ScriptedEngine(lambda s, u: "Answer: 1"), broken_editor))
    assert "scripted failure" in (failed.error or "") and failed.test is None
    assert seed.error is None  # the next run goes on
    summary = (Path(args.out) / "summary.md").read_text()
    assert "| toy | mipro | failed:" in summary and "| toy | seed | " in summary


def test_mipro_minibatch_mode_spends_exactly_the_simulated_calls(tmp_path):
    # above 50 validation examples MIPROv2 evaluates trials on minibatches of 35 plus periodic full
    # evaluations; the trial count is sized by simulating that schedule, which must match the real run
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_rows(70)) + "\n")
    args = cli(
        f"--data {data} --optimizers mipro --budget 400 --train 8 --val 55 --test 2 --mipro-candidates 3 "
        f"--out {tmp_path / 'out'}"
    )
    task_engine = ScriptedEngine(StrategyFollower(_sum, HINT, wrong=lambda user: "It is 0."))
    [record] = harness.run(args, fake_models(task_engine, ScriptedEngine(fake_editor)))
    details = record.details
    assert (
        details["minibatch"] is True
        and details["planned_trials"] >= 5
        and details["skipped_evaluations"] == 0
    )
    planned = details["calls_before_trials"] + mipro_trial_calls(details["planned_trials"], 55, True, 35, 5)
    assert record.rollouts == planned <= 400
    assert record.val_accuracy == 1.0 and record.curve[-1][1] == 1.0


def test_every_committed_result_reads_as_a_typed_run_and_writes_back_the_same_json():
    paths = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "results").glob("peers*/*/*.json"))
    assert len(paths) >= 24
    for path in paths:
        run = PeerRun.model_validate_json(path.read_text())
        assert json.loads(run.to_json()) == json.loads(path.read_text()), path


def two_step_task(system: str, user: str) -> str:
    """ExtractThenAnswer's two steps: the facts hold the sum; the answer is right only with HINT."""
    if "\nfacts:" not in user:
        return f"The total is {_sum(user)}."
    return StrategyFollower(_sum, HINT, wrong=lambda u: "It is 0.")(system, user)


@pytest.mark.parametrize("optimizer", ["seed", "spl", "gepa"])
def test_two_step_program_runs_alike_for_every_optimizer(optimizer, tmp_path):
    """`--program two-step`: every optimizer learns the instructions of ExtractThenAnswer's steps; the
    budget counts program runs (two LM calls each); test scores the learned steps the same way."""
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_rows(40)) + "\n")
    args = cli(
        f"--data {data} --optimizers {optimizer} --program two-step --budget 80 --minibatch {MINIBATCH} "
        f"--train 8 --val {N_VAL} --test {N_TEST} --out {tmp_path / 'out'} --runs {tmp_path / 'runs'}"
    )
    task_engine = ScriptedEngine(two_step_task)
    [record] = harness.run(args, fake_models(task_engine, ScriptedEngine(fake_editor)), command="test")
    assert record.error is None, record.traceback
    assert record.settings["program"] == "two-step"
    assert record.prompt.startswith("[step extract]\n") and "\n[step answer]\n" in record.prompt
    seed_val = record.usage["seed_val"]["calls"]
    assert len(task_engine.calls) == 2 * (record.rollouts + N_TEST) + seed_val
    if optimizer == "seed":
        assert record.test.accuracy == 0.0 and HINT not in record.prompt.lower()
    else:
        answer_part = record.prompt.split("[step answer]")[1]
        assert HINT in answer_part.lower() and record.test.accuracy == 1.0


def test_mipro_refuses_the_two_step_program(tmp_path):
    data = tmp_path / "toy.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_rows(20)) + "\n")
    args = cli(
        f"--data {data} --optimizers mipro --program two-step --train 5 --val 4 --test 3 --out {tmp_path}"
    )
    [record] = harness.run(args, fake_models(ScriptedEngine(two_step_task), ScriptedEngine(fake_editor)))
    assert "mipro runs only on --program chat" in (record.error or "")
