from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Playbook, Strategy
from spl_opt.editor.dspy_editor import DSPyEditor, parse_op, render_evidence, render_playbook
from spl_opt.testing import editor_reply, scripted_lm

PB = Playbook(preamble="Solve it.", strategies=(Strategy(id="s1", title="Format", text="Say the answer."),))
EVIDENCE = Evidence(
    failures=(EvidenceItem(input="2+2?", target="4", output="5", feedback="Wrong", score=0.0),)
)


def test_proposes_a_parsed_edit_with_usage():
    lm = scripted_lm([editor_reply("revise", "End with 'Answer: N'.", strategy_id="[s1]")])
    proposal = DSPyEditor(lm).propose(PB, EVIDENCE)
    assert proposal.error is None
    (edit,) = proposal.edits
    assert (edit.op, edit.strategy_id, edit.text) == ("revise", "s1", "End with 'Answer: N'.")
    assert proposal.input_tokens > 0 and edit.rationale


def test_unparseable_output_is_a_recorded_failure_not_an_exception():
    lm = scripted_lm(["I think you should try harder!"])
    proposal = DSPyEditor(lm).propose(PB, EVIDENCE, n=2)
    assert proposal.edits == () and proposal.error
    assert len(lm.engine.calls) >= 2  # every attempt was made


def test_lenient_reading_of_small_model_answers():
    assert parse_op("**Add** a strategy") == "add"
    assert parse_op("nothing") is None
    lm = scripted_lm([editor_reply("revise", "New rule.", strategy_id="s7")])  # unknown id: read as an add
    (edit,) = DSPyEditor(lm).propose(PB, EVIDENCE).edits
    assert edit.op == "add"
    lm = scripted_lm(
        [editor_reply("delete", "", strategy_id="s9"), editor_reply("delete", "", strategy_id="s1")]
    )
    proposal = DSPyEditor(lm).propose(PB, EVIDENCE, n=2)
    assert [(e.op, e.strategy_id) for e in proposal.edits] == [("delete", "s1")]


def test_rendering_shows_ids_and_failures_first():
    assert "[s1] Format: Say the answer." in render_playbook(PB)
    text = render_evidence(EVIDENCE)
    assert text.startswith("### WRONG example 1") and "Expected answer: 4" in text
    asked = render_evidence(EVIDENCE.model_copy(update={"kind": "revise"}))
    assert asked.endswith("Requested edit: revise: revise one existing strategy (name its id).")
    assert "Requested edit" not in text


def test_copied_evidence_is_cut_from_the_edit_and_an_empty_edit_is_unusable():
    echo = "Add the counts. Expected answer: 10 Feedback: Wrong"
    (edit,) = DSPyEditor(scripted_lm([editor_reply("add", echo)])).propose(PB, EVIDENCE).edits
    assert edit.text == "Add the counts."
    proposal = DSPyEditor(scripted_lm([editor_reply("add", "Feedback: Wrong")])).propose(PB, EVIDENCE)
    assert proposal.edits == () and "unusable" in (proposal.error or "")


def test_an_edit_that_copies_another_tasks_demonstration_is_unusable():
    import dspy

    demo = "The argument is valid. The premises are explicitly stated, and the conclusion follows."
    fallacy = "### WRONG example 1\nInput: Here comes a perfectly valid argument: every critic is a fan.\n"
    arithmetic = "### WRONG example 1\nInput: What is 3+3?\nAssistant output: 7"
    copying = [editor_reply("add", demo), editor_reply("add", "Count each object, then add.")]
    editor = DSPyEditor(scripted_lm(copying))
    editor.module.propose.demos = [dspy.Example(playbook="p", evidence=fallacy, operation="add", text=demo)]
    [(text, inputs)] = editor.foreign_demos(EVIDENCE)
    assert text == demo and inputs.strip() == "Here comes a perfectly valid argument: every critic is a fan."
    proposal = editor.propose(PB, EVIDENCE, n=2)
    assert [e.text for e in proposal.edits] == ["Count each object, then add."]
    assert "copies another task's demonstration" in (proposal.error or "")
    same_task = dspy.Example(playbook="p", evidence=arithmetic, operation="add", text=demo)
    editor = DSPyEditor(scripted_lm(copying))
    editor.module.propose.demos = [same_task]
    evidence = Evidence(
        failures=(EvidenceItem(input="What is 2+2?", target="4", output="5", feedback="", score=0.0),)
    )
    assert editor.foreign_demos(evidence) == []
    assert [e.text for e in editor.propose(PB, evidence).edits] == [demo]  # a demo of this task may recur
