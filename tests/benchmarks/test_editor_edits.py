"""benchmarks.editor_edits' bookkeeping: per-arm summary, pairs by sample, and the guarded arm computed
from the tuned rows that copy another task's demonstration."""

import dspy

from benchmarks import editor_edits
from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.editor.dspy_editor import DSPyEditor

DEMO = "The argument is valid. The premises are explicitly stated, and the conclusion follows."


def row(index: int, arm: str, held: float | None, edit: str = "add: Count each item.", **extra) -> dict:
    return {
        "task": "bbh:object_counting",
        "seed": 0,
        "index": index,
        "arm": arm,
        "kind": extra.pop("kind", ""),
        "usable": held is not None,
        "shown_gain": held,
        "held_gain": held,
        "accepted": bool(held and held > 0),
        "edit": edit,
        **extra,
    }


def test_summary_pairs_the_arms_by_sample_and_an_unusable_edit_gains_nothing():
    rows = [row(0, "untuned", 0.25), row(0, "tuned", 0.5), row(1, "untuned", None), row(1, "tuned", 0.25)]
    rows.append(row(0, "placebo", -0.25))
    arms = editor_edits.summarize(rows)["arms"]
    assert list(arms) == ["untuned", "tuned", editor_edits.GUARDED, "placebo"]
    assert arms["untuned"]["usable"] == 0.5 and arms["tuned"]["usable"] == 1.0
    assert arms["untuned"]["held_gain"][0] == 0.125 and arms["tuned"]["held_gain"][0] == 0.375
    assert arms["tuned"]["pairs"] == 2 and arms["tuned"]["minus_untuned"][0] == 0.25
    assert arms["placebo"]["pairs"] == 1 and arms["placebo"]["minus_untuned"][0] == -0.5
    assert arms["untuned"]["minus_untuned"] is None
    assert editor_edits.summarize(rows)["acceptance_ratio"] == 2.0


def test_a_copy_of_another_tasks_demo_is_marked_and_the_guarded_arm_counts_it_unusable():
    fallacy = "### WRONG example 1\nInput: Here comes a perfectly valid argument: every critic is a fan.\n"
    module = DSPyEditor(None).module
    module.propose.demos = [dspy.Example(playbook="p", evidence=fallacy, operation="add", text=DEMO)]
    rows = [row(0, "untuned", 0.0), row(0, "tuned", -0.25, f"add: {DEMO}"), row(1, "tuned", 0.25)]
    counting = Evidence(
        failures=(
            EvidenceItem(
                input="I have a flute and a drum. How many?", target="2", output="", feedback="", score=0.0
            ),
        )
    )
    editor_edits.mark_copies(rows, DSPyEditor(None, module), lambda task: counting)
    assert [r.get("copies_demo") for r in rows] == [None, True, False]
    summary = editor_edits.summarize(rows)
    arms = summary["arms"]
    assert summary["copies_demo"] == 1
    assert arms["tuned"]["held_gain"][0] == 0.0 and arms[editor_edits.GUARDED]["held_gain"][0] == 0.125
    assert arms[editor_edits.GUARDED]["minus_untuned"][0] == 0.0  # guarded 0 (unusable) minus untuned 0
    assert "copy another task's demonstration: 1 of 2" in editor_edits.to_markdown(rows, summary, ["cmd"])


def test_kinds_followed_counts_what_the_lm_editors_wrote_for_each_kind_asked():
    rows = [
        row(0, "untuned", 0.0, "add: Count.", kind="preamble"),
        row(1, "tuned", None, "unusable edit: ...", kind="preamble"),
        row(2, "tuned", 0.0, "preamble: Count.", kind="preamble"),
        row(0, "tuned", 0.0, "revise: Count."),
        row(0, "placebo", 0.0, "add: Note."),
    ]
    assert editor_edits.kinds_followed(rows) == {
        "preamble": {"asked": 3, "followed": 1, "other": 1, "unusable": 1},
        "any": {"asked": 1, "followed": 1, "other": 0, "unusable": 0},
    }


def test_an_earlier_measurements_rows_are_reused_for_the_arms_that_do_not_depend_on_the_tuned_editor(
    tmp_path,
):
    import json

    earlier = [row(0, "untuned", 0.25), row(0, "tuned", 0.5), row(0, "placebo", 0.0), row(1, "untuned", None)]
    (tmp_path / "edits.json").write_text(json.dumps({"rows": earlier}))
    have = [row(1, "untuned", 0.125)]
    got = editor_edits.reused(tmp_path, have)
    assert [(r["index"], r["arm"]) for r in got] == [(0, "untuned"), (0, "placebo")]  # not tuned, not had
    assert all(r["reused_from"] == str(tmp_path) for r in got)


def test_the_example_arm_asks_the_untuned_editor_for_a_worked_solution_whatever_the_sample_asks():
    from spl_opt.core.records import Playbook
    from spl_opt.testing import scripted_lm

    lm = scripted_lm(["[[ ## solution ## ]]\nTwo things: a flute and a drum, so 2.\n\n[[ ## completed ## ]]"])
    asking = editor_edits.Asking(DSPyEditor(lm), "example")
    failing = EvidenceItem(
        input="I have a flute and a drum. How many?", target="2", output="3", feedback="", score=0
    )
    proposal = asking.propose(Playbook(preamble="p"), Evidence(failures=(failing,), kind="add"))
    assert (asking.name, asking.needs_lm) == ("editor", True)
    assert proposal.edits[0].text.endswith("so 2. Answer: 2")
    rows = [row(0, "untuned", 0.0), row(0, editor_edits.EXAMPLE, 0.25, kind="example")]
    arms = editor_edits.summarize(rows)["arms"]
    assert arms[editor_edits.EXAMPLE]["minus_untuned"][0] == 0.25


def test_the_written_arm_reads_one_strategy_per_task_and_is_paired_with_the_placebo(tmp_path):
    import json

    import pytest

    path = tmp_path / "strategies.json"
    path.write_text(json.dumps({"strategies": {"bbh:object_counting": "Count one item at a time."}}))
    assert editor_edits.written_strategies(str(path), ["bbh:object_counting"]) == {
        "bbh:object_counting": "Count one item at a time."
    }
    with pytest.raises(SystemExit, match="no strategy for letters"):
        editor_edits.written_strategies(str(path), ["bbh:object_counting", "letters"])
    with pytest.raises(SystemExit, match="needs --written"):
        editor_edits.written_strategies(None, ["letters"])
    rows = [row(0, "placebo", 0.125), row(0, editor_edits.WRITTEN, 0.5), row(1, "placebo", 0.0)]
    arms = editor_edits.summarize(rows)["arms"]
    assert arms[editor_edits.WRITTEN]["minus_placebo"][0] == 0.375
    assert arms["placebo"]["minus_placebo"] is None
    assert "paired minus placebo" in editor_edits.to_markdown(rows, editor_edits.summarize(rows), ["cmd"])
    rows += [row(0, "answer-format", 0.25), row(0, editor_edits.WRITTEN_FORMAT, 0.125)]
    assert editor_edits.summarize(rows)["strategy_added"][0] == -0.125


def test_the_committed_held_out_strategies_cover_the_held_out_tasks():
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "strategies" / "held-out.json"
    from benchmarks.editor import TEST, _csv

    tasks = _csv(TEST)
    assert set(editor_edits.written_strategies(str(path), tasks)) == set(tasks) and len(tasks) == 8


def test_rows_name_their_task_model_and_an_out_holds_one(tmp_path):
    import json
    import shutil
    from pathlib import Path

    import pytest

    editor = tmp_path / "editor"
    shutil.copytree(Path(__file__).parents[2] / "benchmarks" / "results" / "editor-v4" / "editor", editor)
    manifest = json.loads((editor / "manifest.json").read_text())
    out = tmp_path / "out"
    out.mkdir()
    record = {"manifest": manifest, "rows": [row(0, "placebo", 0.0)]}
    (out / "edits.json").write_text(json.dumps(record))
    assert editor_edits.task_models(record["rows"]) == {editor_edits.DEFAULT_TASK_LM}
    argv = ["--editor", str(editor), "--test-tasks", "bbh:object_counting", "--out", str(out)]
    with pytest.raises(SystemExit, match="holds rows of task model"):
        editor_edits.main([*argv, "--arms", "placebo", "--task-lm", "embedded:qwen-1.5b"])
    with pytest.raises(SystemExit, match="holds rows of task model"):
        editor_edits.main([*argv, "--arms", "placebo", "--task-max-tokens", "512"])
    editor_edits.main([*argv, "--report-only", "--task-lm", "embedded:qwen-1.5b"])
    assert "Task model: embedded:qwen-0.5b." in (out / "edits.md").read_text()


def test_a_task_budget_must_be_a_positive_number_of_tokens(capsys):
    import pytest

    with pytest.raises(SystemExit):
        editor_edits.parse_args(["--editor", "e", "--out", "o", "--task-max-tokens", "0"])
    assert "must be a positive number of tokens, not 0" in capsys.readouterr().err
    assert (
        editor_edits.parse_args(["--editor", "e", "--out", "o", "--task-max-tokens", "512"]).task_max_tokens
        == 512
    )


def test_a_task_budget_other_than_the_default_is_part_of_the_task_models_name():
    rows = [{**row(0, "placebo", 0.0), "task_lm": "embedded:qwen-0.5b", "task_max_tokens": 512}]
    assert editor_edits.task_models(rows) == {"embedded:qwen-0.5b (max_tokens 512)"}
    assert editor_edits.task_model("m", editor_edits.DEFAULT_MAX_TOKENS) == "m"


def test_together_proposes_both_operators_edits_in_one_child_or_none():
    from spl_opt.core.records import Playbook
    from spl_opt.editor.operators import AnswerFormatOperator, NoteOperator

    note = NoteOperator("Count one item at a time.", name="written")
    answer_format = AnswerFormatOperator(("3", "12"), None, numeric=True)
    both = editor_edits.Together("written+format", note, answer_format)
    failing = EvidenceItem(input="How many?", target="3", output="three", feedback="", score=0.0)
    evidence = Evidence(failures=(failing,))
    proposal = both.propose(Playbook(preamble="p"), evidence)
    assert [e.text for e in proposal.edits] == ["Count one item at a time.", answer_format.rule]
    assert not both.needs_lm and both.applies(Playbook(preamble="p"), evidence)
    from spl_opt.core.edits import apply_edits

    child = apply_edits(Playbook(preamble="p"), proposal.edits)
    assert both.propose(child, evidence).error and not both.propose(child, evidence).edits


def test_an_edit_written_alike_for_every_sample_of_a_task_and_seed_counts_once_per_distinct_edit():
    rows = [
        row(0, "placebo", 0.0, edit="add: notes"),
        row(1, "placebo", 0.25, edit="add: notes"),  # the same child, other examples held out
        {**row(0, "placebo", 0.5, edit="add: notes"), "seed": 1},
        row(0, "untuned", 0.25, edit="add: one"),
        row(1, "untuned", -0.25, edit="add: two"),
    ]
    arms = editor_edits.summarize(rows)["arms"]
    placebo, untuned = arms["placebo"], arms["untuned"]
    assert placebo["calls"] == 3 and placebo["distinct_edits"] == 2
    assert placebo["held_gain_by_edit"][0] == (0.125 + 0.5) / 2  # seed 0's two samples averaged first
    assert untuned["distinct_edits"] == 2 and untuned["held_gain_by_edit"][0] == 0.0
    assert untuned["minus_placebo_by_edit"][0] == ((0.25 - 0.0) + (-0.25 - 0.25)) / 2  # two distinct pairs
    assert placebo["minus_placebo_by_edit"] is None
    text = editor_edits.to_markdown(rows, editor_edits.summarize(rows), [])
    assert "| placebo | 2 | +0.312 [" in text
