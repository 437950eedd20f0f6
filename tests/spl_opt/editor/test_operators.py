import pytest

from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Playbook, Strategy
from spl_opt.editor.operators import (
    AblateOperator,
    CompressOperator,
    MergeOperator,
    NoteOperator,
    PlaceboOperator,
    WorkedExampleOperator,
    compress_text,
)

PB = Playbook(
    preamble="Solve it.",
    strategies=(
        Strategy(id="s1", title="A", text="Count letters."),
        Strategy(id="s2", title="B", text="Check twice."),
    ),
)


def _item(score: float, output: str = "Answer: 3") -> EvidenceItem:
    return EvidenceItem(
        input="How many r in 'strawberry'?", target="3", output=output, feedback="f", score=score
    )


def test_ablate_deletes_one_strategy_chosen_by_seed():
    edits = AblateOperator().propose(PB, Evidence(seed=1)).edits
    assert [(e.op, e.strategy_id) for e in edits] == [("delete", "s2")]
    assert AblateOperator().propose(Playbook(preamble="x"), Evidence()).error


def test_merge_adds_missing_donor_strategies():
    donor = Playbook(
        preamble="y",
        strategies=(
            Strategy(id="s1", title="A", text="count  letters."),
            Strategy(id="s2", title="C", text="Spell it out."),
        ),
    )
    edits = MergeOperator().propose(PB, Evidence(donors=(donor,))).edits
    assert [(e.op, e.text) for e in edits] == [("add", "Spell it out.")]
    assert MergeOperator().propose(PB, Evidence()).edits == ()


def test_compress_drops_filler_and_repeats():
    assert (
        compress_text("Please make sure to count. Count. Remember to check twice.") == "Count. Check twice."
    )
    pb = Playbook(
        preamble="Solve.", strategies=(Strategy(id="s1", title="", text="Please count. Please count."),)
    )
    edit = CompressOperator().propose(pb, Evidence()).edits[0]
    assert (edit.op, edit.strategy_id, edit.text) == ("revise", "s1", "Count.")
    assert CompressOperator().propose(Playbook(preamble="Solve."), Evidence()).edits == ()


def test_worked_example_adds_few_shots_then_replaces_one():
    op = WorkedExampleOperator()
    success = _item(1.0)
    edit = op.propose(PB, Evidence(successes=(success,))).edits[0]
    assert (edit.op, edit.title) == ("add", "Worked example 1") and edit.text.endswith("A: Answer: 3")
    long_success = _item(1.0, "x" * 400)
    assert op.propose(PB, Evidence(successes=(long_success,))).edits[0].text.endswith("A: 3")
    assert op.propose(PB, Evidence(failures=(_item(0.0, "wrong"),))).edits[0].text.endswith("A: 3")
    shots = tuple(Strategy(id=f"s{i}", title=f"{op.title} {i}", text=f"Q: q{i} A: {i}") for i in range(1, 4))
    full = Playbook(preamble="x", strategies=shots)
    edit = op.propose(full, Evidence(successes=(success,), seed=1)).edits[0]
    assert (edit.op, edit.strategy_id) == ("revise", "s2")
    shown = Playbook(
        preamble="x", strategies=(Strategy(id="s1", title=op.title, text=f"Q: {success.input} A: 3"),)
    )
    assert op.propose(shown, Evidence(successes=(success,))).error
    assert op.propose(PB, Evidence()).error
    unknown = _item(0.0, "wrong").model_copy(update={"target": ""})
    assert op.propose(PB, Evidence(failures=(unknown,))).error  # a failure with no known answer


def test_worked_example_does_not_repeat_the_answer_marker():
    edit = WorkedExampleOperator().propose(PB, Evidence(successes=(_item(1.0, "A: 3"),))).edits[0]
    assert edit.text.endswith("? A: 3") and "A: A:" not in edit.text


def test_answer_format_states_the_data_convention_once():
    from spl_opt.editor.operators import AnswerFormatOperator

    labels = AnswerFormatOperator(("yes", "no", "yes"), ("no", "yes"), numeric=False)
    (edit,) = labels.propose(PB, Evidence()).edits
    assert edit.op == "add" and "exactly one of: no, yes" in edit.text
    assert "final number" in AnswerFormatOperator(("3", "12"), None, numeric=True).rule
    assert "Answer: a b" in AnswerFormatOperator(("a b", "c d e"), None, numeric=False).rule
    stated = Playbook(preamble="x", strategies=(Strategy(id="s1", title="Answer format", text="..."),))
    assert labels.propose(stated, Evidence()).error


def test_placebo_adds_one_note_about_nothing_once():
    from spl_opt.core.edits import apply_edits

    evidence = Evidence(failures=(_item(0.0),))
    (edit,) = PlaceboOperator().propose(PB, evidence).edits
    child = apply_edits(PB, (edit,))
    assert child.strategies[-1].text == PlaceboOperator.text and "strawberry" not in edit.text
    again = PlaceboOperator().propose(child, evidence)
    assert again.edits == () and "already" in (again.error or "")


def test_a_given_note_is_proposed_as_an_add_once_and_must_have_text():
    from spl_opt.core.edits import apply_edits

    note = NoteOperator("  Spell the word letter by letter, counting as you go. ", name="written")
    evidence = Evidence(failures=(_item(0.0),))
    assert note.applies(PB, evidence) and not note.needs_lm
    (edit,) = note.propose(PB, evidence).edits
    text = "Spell the word letter by letter, counting as you go."
    assert (edit.op, edit.text, edit.editor_id) == ("add", text, "written")
    child = apply_edits(PB, (edit,))
    assert not note.applies(child, evidence)
    assert "written note already" in (note.propose(child, evidence).error or "")
    with pytest.raises(ValueError, match="needs text"):
        NoteOperator(" ")
    spaced = NoteOperator("Count  each\nitem.")
    (edit,) = spaced.propose(PB, evidence).edits
    assert not spaced.applies(apply_edits(PB, (edit,)), evidence)  # knows its note as the playbook stores it
