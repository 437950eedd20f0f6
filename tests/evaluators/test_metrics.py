import pytest

from spl_opt.evaluators.metrics import (
    Score,
    exact_match,
    extract_answer,
    extract_number,
    labels_of,
    normalize,
    numeric_match,
)

OPTIONS = ("(A)", "(B)", "(C)", "(D)", "(E)")
BOOLS = ("False", "True")


def test_normalize_strips_case_markdown_quotes_punctuation_and_answer_prefix() -> None:
    assert normalize("  **True**. ") == "true"
    assert normalize('"Valid"') == "valid"
    assert normalize("The answer is (A).") == "(a)"
    assert normalize("Answer:  `Monsters,   Inc`!") == "monsters, inc"
    assert normalize("] ] >") == "] ] >"


def test_extract_answer_reads_the_last_marker() -> None:
    out = "Let's count: s-t-r-a-w... There are 3 r's. Answer: 3"
    assert extract_answer(out) == "3"
    assert extract_answer("Answer: 2\nWait, recount.\nFinal answer: 4") == "4"
    assert extract_answer("So \\boxed{42}.") == "42"
    assert extract_answer("steps...\n#### 17") == "17"
    assert extract_answer("The answer is sunny. It rained before.") == "sunny"
    assert extract_answer("Answer:\n\n**(C)**", OPTIONS) == "(C)"


def test_extract_answer_with_option_labels() -> None:
    assert extract_answer("The answer is (B).", OPTIONS) == "(B)"
    assert extract_answer("The answer is B because the rest fail.", OPTIONS) == "(B)"
    assert extract_answer("Final answer: D) the blue one", OPTIONS) == "(D)"
    assert extract_answer("(A) is wrong, so it must be (C)", OPTIONS) == "(C)"


def test_extract_answer_with_word_labels() -> None:
    assert extract_answer("So the expression evaluates to False.", BOOLS) == "False"
    assert extract_answer("**True**", BOOLS) == "True"
    assert extract_answer("The argument is invalid.", ("invalid", "valid")) == "invalid"
    assert extract_answer("Yes, that is plausible", ("No", "Yes")) == "Yes"
    # a marker whose text has no label: the last label after it counts
    assert extract_answer("Answer: let me think.\nA is True, so the result is False", BOOLS) == "False"


def test_extract_answer_falls_back_to_last_line_or_none() -> None:
    assert extract_answer("thinking...\nParis\n\n") == "Paris"
    assert extract_answer("I am not sure", BOOLS) == "I am not sure"
    assert extract_answer("") is None
    assert extract_answer("  \n ") is None


def test_extract_number() -> None:
    assert extract_number("#### 1,234") == "1234"
    assert extract_number("There are 3 r's. Answer: 3") == "3"
    assert extract_number("She paid $18.") == "18"
    assert extract_number("The result is -12.5 degrees") == "-12.5"
    assert extract_number("5 - 3 = 2") == "2"
    assert extract_number("The answer is 7 apples, since 3 + 4 = 7 and not 9") == "7"
    assert extract_number("Answer: 48 + 24 = 72, plus 10 were given later") == "72"
    assert extract_number("no digits here") is None


def test_exact_match_correct_wrong_and_unreadable() -> None:
    ok = exact_match("False", "So the expression evaluates to False.", BOOLS)
    assert ok == Score(
        value=1.0, feedback="Correct: the answer 'False' matches.", extracted="False", outcome="correct"
    )
    wrong = exact_match("False", "not (True) is False... so the answer is True.", BOOLS)
    assert wrong.value == 0.0 and wrong.outcome == "wrong"
    assert wrong.feedback == "Wrong: expected 'False' but the final answer read was 'True'."
    none = exact_match("False", "")
    assert none.value == 0.0 and none.extracted is None and none.outcome == "no_answer"
    assert "no final answer could be read" in none.feedback and "'False'" in none.feedback


def test_exact_match_accepts_whole_output_and_option_letters() -> None:
    assert exact_match("dog cat", "Dog   cat.").value == 1.0
    assert exact_match("(B)", "The answer is B.").value == 1.0
    assert exact_match("(B)", "The answer is (B).", OPTIONS).value == 1.0
    assert exact_match("(B)", "The answer is (C).", OPTIONS).value == 0.0


def test_feedback_is_short_and_does_not_quote_the_full_output() -> None:
    output = "reasoning " * 200 + "\nAnswer: " + "word " * 100
    score = exact_match("x", output)
    assert score.value == 0.0
    assert len(score.feedback) < 300
    assert "reasoning reasoning" not in score.feedback


def test_numeric_match() -> None:
    assert numeric_match("1234", "#### 1,234").value == 1.0
    assert numeric_match("72", "48 + 24 = 72 clips.").value == 1.0
    assert numeric_match("0.5", "Answer: 0.5000000001").value == 1.0
    wrong = numeric_match("3", "There are 2 r's. Answer: 2")
    assert wrong.value == 0.0 and wrong.extracted == "2" and wrong.outcome == "wrong"
    assert numeric_match("3", "I think it is 2").outcome == "no_answer"  # no final-answer marker
    assert wrong.feedback == "Wrong: expected '3' but the final answer read was '2'."
    none = numeric_match("3", "I cannot tell.")
    assert none.value == 0.0 and none.extracted is None and none.outcome == "no_answer"
    assert "no final numeric answer" in none.feedback


def test_numeric_match_falls_back_to_exact_for_non_numeric_targets() -> None:
    assert numeric_match("True", "Answer: True").value == 1.0


def test_labels_of() -> None:
    assert labels_of(["True", "False", "True", "True", "False"]) == ("False", "True")
    assert labels_of(["a", "b", "c"]) is None  # too many distinct values for 3 targets
    assert labels_of([str(i % 20) for i in range(100)]) is None  # more than max_labels
    assert labels_of([str(i % 20) for i in range(100)], max_labels=20) is not None
    assert labels_of([]) is None


@pytest.mark.parametrize(
    "output",
    [
        "**Answer**: 18\n\n(3 eggs left over, 2 days)",
        "### Answer\n18\n\nIt took 2 days.",
        "**Final Answer**\n18\nso 2 days pass.",
        "Answer - 18, after 2 days",
    ],
)
def test_markdown_answer_markers_are_read(output):
    assert numeric_match("18", output).value == 1.0


def test_markdown_markers_with_labels_and_a_typographic_minus():
    labels = ("no", "yes")
    assert exact_match("yes", "**Answer**: Yes\n\nReason: no evidence against it.", labels).value == 1.0
    options = ("(A)", "(B)", "(C)", "(D)")
    assert exact_match("(B)", "**Answer**: (B)\n\nNot (A) because it is too small.", options).value == 1.0
    assert numeric_match("-3", "Answer: \u22123").value == 1.0


def test_lettered_options_are_completed_from_the_questions_so_an_option_no_target_names_is_read() -> None:
    question = "Which is oldest?\nOptions:\n(A) the bus\n(B) the car\n(C) the van\n(D) the truck"
    targets = ["(A)", "(B)", "(A)", "(B)", "(A)"]
    labels = labels_of(targets, [question, "not an option line: (Z)"])
    assert labels == ("(A)", "(B)", "(C)", "(D)")
    assert labels_of(targets) == ("(A)", "(B)")
    assert labels_of(["yes", "no", "yes", "no", "no"], [question]) == ("no", "yes")  # not lettered: as given
    premises = "Which follows?\n(I) all cats sleep\n(II) no cat sleeps\nOptions:\n(A) I\n(B) II\n(C) both"
    assert labels_of(targets, [premises]) == ("(A)", "(B)", "(C)")  # (I) is no option: the run starts at (A)
    output = "(A) is ruled out because the bus is newer. The truck is the oldest, so (D)."
    assert exact_match("(D)", output, labels).value == 1.0
    assert exact_match("(D)", output, labels_of(targets)).value == 0.0  # without (D): reads the (A)
