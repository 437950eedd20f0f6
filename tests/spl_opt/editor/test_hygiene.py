from spl_opt.editor.hygiene import (
    clean_strategy_text,
    clean_title,
    copied_from,
    copies_foreign,
    cut_evidence,
    first_sentences,
)


def test_copied_evidence_is_cut():
    text = (
        "Count each item separately, then add the counts. Expected answer: 10 "
        "Feedback: Wrong: expected '10' but the final answer read was '1'."
    )
    assert clean_strategy_text(text) == "Count each item separately, then add the counts."
    assert cut_evidence("### WRONG example 1\nInput: 2+2?") == ""


def test_at_most_three_sentences_and_numbered_steps_are_not_sentence_ends():
    assert first_sentences("Step 1. Do A. Then B! Then C? Then D.") == "Step 1. Do A. Then B! Then C?"
    assert first_sentences("Use `x`. Keep it.") == "Use `x`. Keep it."


def test_long_text_is_cut_at_a_sentence_within_the_word_limit():
    short, long = "Read the question.", " ".join(["word"] * 70) + "."
    assert first_sentences(f"{short} {long}") == short
    cut = first_sentences(long)
    assert cut.endswith("...") and len(cut.split()) == 60


def test_titles_are_short():
    assert clean_title("Adjust the strategy for handling the input `not not False`") == (
        "Adjust the strategy for handling the"
    )
    assert clean_title("Format:") == "Format"


def test_a_text_that_copies_a_source_is_named():
    demo = "The argument is valid. The premises are explicitly stated, and the conclusion follows."
    copy = "The argument is valid: the premises are explicitly stated and the conclusion follows!"
    assert copied_from(copy, ["Count every item.", demo]) == demo
    assert copied_from("Count every item once, then add the counts.", [demo]) is None
    assert copied_from("Yes.", [demo]) is None  # too short to judge


def test_a_general_rule_fitted_to_this_task_is_not_a_copy_of_another_task():
    demo = "End your reply with a last line 'Answer: X', where X is exactly one of: True, False."
    boolean = "not ( True ) and ( False ) is"
    counting = "I have a chair, two tables, and a piano. How many objects do I have?"
    fitted = "End your reply with a last line 'Answer: N', where N is exactly one number."
    assert copied_from(fitted, [demo]) == demo  # the words are the demonstration's
    assert copies_foreign(fitted, [(demo, boolean)], counting) is None  # but none of its task's own
    assert copies_foreign(demo, [(demo, boolean)], counting) == demo  # True/False labels for a count
    assert copies_foreign(demo, [(demo, boolean)], "True or False: not False") is None
