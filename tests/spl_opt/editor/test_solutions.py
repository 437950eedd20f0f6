from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Playbook, Strategy
from spl_opt.editor.dspy_editor import DSPyEditor
from spl_opt.editor.solutions import TITLE, reaches, solution_edit, solution_text, solvable
from spl_opt.engine.operator_choice import kind_weights
from spl_opt.testing import scripted_lm

ITEM = EvidenceItem(input="Is 7 prime?", target="Yes", output="No", feedback="Wrong", score=0.0)
ASK = Evidence(failures=(ITEM,), kind="example")


def _reply(solution: str) -> str:
    return f"[[ ## solution ## ]]\n{solution}\n\n[[ ## completed ## ]]"


def test_a_solution_counts_only_if_it_states_the_expected_answer_word_for_word():
    assert reaches("7 has no divisor but 1 and 7, so yes.", "Yes")
    assert reaches("The order is B, then C: the answer is (C).", "(C)")
    assert not reaches("Take a flute and a drum.", "(A)")  # a bare "a" is no option letter
    assert not reaches("So yes. " + "More words. " * 20, "Yes")  # the conclusion is what counts
    assert not reaches("It is invalid.", "valid")
    assert not reaches("The total is 12.", "2")
    assert reaches("The distance covered is 600,000 feet.", "600000")
    assert not reaches("anything", "")


def test_the_solution_becomes_one_line_with_the_expected_answer_last():
    text = solution_text(ITEM, "Step 1: 7 has no divisor but 1 and 7.\nSo yes.\nAnswer: no")
    assert text == "Q: Is 7 prime? A: Step 1: 7 has no divisor but 1 and 7. So yes. Answer: Yes"
    assert solution_text(ITEM, "7 is odd.\nAnswer: No") is None  # it never reaches the answer
    assert (
        solution_text(ITEM, "7 has two divisors.\nAnswer: yes")
        == "Q: Is 7 prime? A: 7 has two divisors. Answer: Yes"
    )
    marked = solution_text(ITEM, 'So the answer is "yes".[[ ## completed ## ]]')
    assert marked == 'Q: Is 7 prime? A: So the answer is "yes". Answer: Yes'
    assert solution_text(ITEM, "yes " * 200) is None  # too long to show on every call


def test_solvable_failures_have_a_known_answer_and_are_not_shown_already():
    unknown = EvidenceItem(input="Is 9 prime?", target="", output="x", feedback="", score=0.0)
    assert solvable(Playbook(preamble="p"), Evidence(failures=(ITEM, unknown))) == [ITEM]
    shown = Playbook(preamble="p", strategies=(Strategy(id="s1", title=TITLE, text="Q: Is 7 prime? A: yes"),))
    assert solvable(shown, ASK) == []
    assert solvable(Playbook(preamble="p"), ASK.model_copy(update={"final": False})) == []


def test_a_third_solution_replaces_one_shown():
    two = Playbook(
        preamble="p",
        strategies=tuple(Strategy(id=f"s{i}", title=f"{TITLE} {i}", text=f"Q: {i}") for i in (1, 2)),
    )
    assert solution_edit(Playbook(preamble="p"), "Q: x", 0, "editor").title == f"{TITLE} 1"
    edit = solution_edit(two, "Q: x", 1, "editor")
    assert (edit.op, edit.strategy_id, edit.title) == ("revise", "s2", f"{TITLE} 2")


def test_the_editor_asked_for_an_example_writes_a_worked_solution():
    lm = scripted_lm([_reply("7 is only divisible by 1 and itself, so yes.")])
    proposal = DSPyEditor(lm).propose(Playbook(preamble="p"), ASK)
    (edit,) = proposal.edits
    assert edit.op == "add" and edit.title == f"{TITLE} 1" and edit.editor_id == "editor"
    assert edit.text.startswith("Q: Is 7 prime? A: 7 is only") and edit.text.endswith("Answer: Yes")
    assert proposal.input_tokens > 0


def test_a_solution_that_misses_the_answer_is_a_recorded_failure():
    lm = scripted_lm([_reply("7 is odd."), _reply("Seven is odd.")])
    proposal = DSPyEditor(lm).propose(Playbook(preamble="p"), ASK, n=2)
    assert proposal.edits == () and "does not reach 'Yes'" in (proposal.error or "")
    assert len(lm.engine.calls) == 2
    nothing = DSPyEditor(lm).propose(Playbook(preamble="p"), Evidence(kind="example"))
    assert nothing.edits == () and "no failure" in (nothing.error or "")


def test_the_policy_asks_for_an_example_only_where_a_failure_can_be_solved():
    editor = DSPyEditor(None)
    failing = Evidence(failures=(ITEM,))
    assert "example" in kind_weights("editor", editor, {}, failing, Playbook(preamble="p"))
    blind = EvidenceItem(input="q", target="", output="x", feedback="", score=0.0)
    assert "example" not in kind_weights(
        "editor", editor, {}, Evidence(failures=(blind,)), Playbook(preamble="p")
    )


def test_the_example_kind_is_opt_in_through_the_search_config():
    import pytest

    from spl_opt.config import SearchConfig
    from spl_opt.core.errors import ConfigError

    editor, failing, parent = DSPyEditor(None), Evidence(failures=(ITEM,)), Playbook(preamble="p")
    default = SearchConfig().editor_kinds
    assert "example" not in kind_weights("editor", editor, {}, failing, parent, only=default)
    assert "" in kind_weights("editor", editor, {}, failing, parent, only=default)  # it may choose
    opted = SearchConfig(editor_kinds=(*default, "example")).editor_kinds
    assert "example" in kind_weights("editor", editor, {}, failing, parent, only=opted)
    with pytest.raises((ValueError, ConfigError), match="unknown edit kind"):
        SearchConfig(editor_kinds=("rewrite",))
