import pytest
from pydantic import ValidationError

from spl_opt.core.edits import EditError, apply_edit, apply_edits
from spl_opt.core.records import Candidate, Edit, Evaluation, ExampleResult, Objectives, Playbook, Strategy


def _playbook() -> Playbook:
    return Playbook(
        preamble="Solve the task.",
        strategies=(Strategy(id="s1", title="Format", text="End with Answer: X."),),
    )


def test_records_round_trip_through_json():
    cand = Candidate(playbook=_playbook(), parents=("abc",), edits=(Edit(op="add", text="t"),), generation=2)
    assert Candidate.model_validate_json(cand.model_dump_json()) == cand
    ev = Evaluation(
        candidate_id=cand.id,
        split="val",
        objectives=Objectives(accuracy=0.5, length_tokens=9),
        results=(ExampleResult(example_id="e1", score=1.0, output="Answer: 3", feedback="ok"),),
    )
    assert Evaluation.model_validate_json(ev.model_dump_json()) == ev


def test_records_are_immutable():
    with pytest.raises(ValidationError):
        _playbook().preamble = "x"  # type: ignore[misc]


def test_render_and_content_hash_are_stable():
    pb = _playbook()
    assert pb.render() == "Solve the task.\n\nStrategies:\n- Format: End with Answer: X."
    assert pb.id == Playbook.model_validate_json(pb.model_dump_json()).id
    assert pb.id != Playbook(preamble="Solve the task.").id
    assert Playbook(preamble="  Hi ").render() == "Hi"


def test_apply_edits_add_revise_delete_preamble():
    pb = apply_edit(_playbook(), Edit(op="add", title="Count", text="Spell the word   letter by letter."))
    assert [s.id for s in pb.strategies] == ["s1", "s2"]
    assert pb.strategies[1].text == "Spell the word letter by letter."
    pb = apply_edit(pb, Edit(op="revise", strategy_id="s1", text="Reply 'Answer: X'."))
    assert pb.strategies[0].text == "Reply 'Answer: X'." and pb.strategies[0].title == "Format"
    pb = apply_edits(pb, [Edit(op="delete", strategy_id="s2"), Edit(op="preamble", text="Be exact.")])
    assert pb.preamble == "Be exact." and [s.id for s in pb.strategies] == ["s1"]
    assert apply_edit(pb, Edit(op="add", text="New")).strategies[-1].id == "s2"


@pytest.mark.parametrize(
    "edit",
    [
        Edit(op="revise", strategy_id="s9", text="x"),
        Edit(op="delete"),
        Edit(op="add", text="   "),
        Edit(op="add", text="End with Answer: X."),
    ],
)
def test_edits_that_do_not_fit_raise(edit):
    with pytest.raises(EditError):
        apply_edit(_playbook(), edit)


def _two_parts() -> Playbook:
    from spl_opt.core.records import Part

    extract = Playbook(preamble="List the facts.")
    answer = Playbook(preamble="Answer.", strategies=(Strategy(id="s1", title="Sum", text="Add them."),))
    return Playbook(parts=(Part(name="extract", playbook=extract), Part(name="answer", playbook=answer)))


def test_a_multi_part_playbook_renders_each_part_and_reads_back():
    from spl_opt.core.records import split_prompt

    whole = _two_parts()
    assert whole.render().startswith("[step extract]\nList the facts.\n\n[step answer]\nAnswer.")
    assert split_prompt(whole.render(), ["extract", "answer"]) == {
        "extract": "List the facts.",
        "answer": "Answer.\n\nStrategies:\n- Sum: Add them.",
    }
    assert split_prompt("You are helpful.", ["extract", "answer"]) is None
    assert split_prompt(whole.render(), ["answer", "extract"]) is None  # the order is part of it
    assert whole.texts() == ("List the facts.", "Answer.\n\nStrategies:\n- Sum: Add them.")
    assert Playbook.model_validate_json(whole.model_dump_json()) == whole
    changed = whole.with_part("extract", Playbook(preamble="Note the numbers."))
    assert changed.part("extract").preamble == "Note the numbers." and changed.part("answer") == whole.part(
        "answer"
    )
    assert changed.id != whole.id
    with pytest.raises(KeyError, match="no part named 'judge'"):
        whole.part("judge")


def test_a_multi_part_playbook_has_no_text_of_its_own_and_unique_parts():
    from spl_opt.core.records import Part

    part = Part(name="a", playbook=Playbook(preamble="x"))
    with pytest.raises(ValidationError, match="no preamble or strategies of its own"):
        Playbook(preamble="shared", parts=(part,))
    with pytest.raises(ValidationError, match="part names repeat"):
        Playbook(parts=(part, part))
    with pytest.raises(ValidationError, match="no parts of its own"):
        Playbook(parts=(Part(name="b", playbook=Playbook(parts=(part,))),))


def test_ablations_remove_one_strategy_of_one_part_at_a_time():
    from spl_opt.core.edits import ablations

    whole = _two_parts()
    ((key, strategy, ablated),) = ablations(whole)
    assert key == "answer/s1" and strategy.text == "Add them."
    assert ablated.part("answer").strategies == () and ablated.part("extract") == whole.part("extract")
    single = whole.part("answer")
    assert [(k, p.strategies) for k, _, p in ablations(single)] == [("s1", ())]
