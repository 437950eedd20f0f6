import random

from spl_opt.config import SearchConfig
from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Example, Playbook, Strategy
from spl_opt.engine.operator_choice import (
    OperatorStats,
    choose_operator,
    evidence_context,
    format_share,
    operator_weights,
    prior,
)
from spl_opt.engine.runner import default_operators
from spl_opt.engine.workers import LazyEditor
from spl_opt.evaluators.metrics import exact_match
from spl_opt.lm.config import LMConfig


def _operators(*names: str) -> dict:
    """Real operators by name; the LM editor is lazy (built only if it proposes, which it does not here)."""
    ops = default_operators(None, (Example(id="t", inputs={"q": "q"}, target="7"),))
    ops["editor"] = LazyEditor(LMConfig())
    return {name: ops[name] for name in names}


ALL = _operators("editor", "worked-example", "answer-format", "ablate", "merge", "compress")
BARE = Playbook(preamble="Answer.")  # no strategy to ablate
NOTED = Playbook(preamble="Answer.", strategies=(Strategy(id="s1", title="t", text="Check."),))


def _failure(output: str, target: str = "7") -> EvidenceItem:
    score = exact_match(target, output)
    return EvidenceItem(
        input="q",
        target=target,
        output=output,
        feedback=score.feedback,
        score=score.value,
        outcome=score.outcome,
    )


def test_format_failures_are_the_scorers_no_answer_outcomes():
    assert _failure("I think it is maybe 5").outcome == "no_answer"  # no marker: last line read
    assert _failure("Answer: 5").outcome == "wrong"  # a wrong answer in the right form
    assert _failure("Answer: 7").outcome == "correct"
    evidence = Evidence(failures=(_failure("so 5 it is"), _failure("Answer: 5")))
    assert format_share(evidence) == 0.5
    assert format_share(Evidence()) == 0.0


BASE = SearchConfig().operators


def test_format_failures_favour_answer_format_through_the_default_prior():
    formless = Evidence(failures=(_failure("so 5 it is"),))
    assert evidence_context(formless) == "format"
    weights = operator_weights(BASE, ALL, {}, formless, BARE)
    assert set(weights) == {"editor", "worked-example", "answer-format", "compress"}  # no strategy, donor
    assert weights["answer-format"] == 0.15 * 9  # prior (9, 1): odds 9
    assert weights["answer-format"] > weights["editor"] + weights["worked-example"]
    plain = Evidence(failures=(_failure("Answer: 5"),))
    assert evidence_context(plain) == "wrong" and evidence_context(Evidence()) == "clean"
    assert operator_weights(BASE, ALL, {}, plain, BARE)["answer-format"] == 0.15  # uniform prior: odds 1
    tuned = {"format": {"answer-format": (1.0, 4.0), "editor": (6.0, 1.0)}}
    weights = operator_weights(BASE, ALL, {}, formless, BARE, priors=tuned)
    assert weights["answer-format"] == 0.15 / 4 and weights["editor"] == 0.4 * 6


def test_an_arm_the_tuning_never_measured_gets_its_siblings_pooled_rate_not_uniform_odds():
    tuned = {
        "wrong": {"editor": (3.0, 9.0), "worked-example": (2.0, 4.0), "editor:add": (2.0, 5.0)},
        "format": {"editor": (1.0, 1.0)},
    }
    # operators: 3 of 14 accepted over two arms, 7 observations each on average
    assert prior(tuned, "wrong", "compress") == (1 + 3 / 14 * 7, 1 + 11 / 14 * 7)
    assert prior(tuned, "wrong", "editor:any") == (2.0, 5.0)  # kind arms pool kind arms only
    assert prior(tuned, "wrong", "editor") == (3.0, 9.0)
    assert prior(tuned, "format", "answer-format") == (9.0, 1.0)  # the default stands where not tuned
    assert prior(tuned, "format", "merge") == (1.0, 1.0)  # the siblings observed nothing
    assert prior(tuned, "clean", "merge") == prior(None, "wrong", "merge") == (1.0, 1.0)
    wrong = Evidence(failures=(_failure("Answer: 5"),))
    weights = operator_weights(BASE, ALL, {}, wrong, NOTED, priors=tuned)
    assert weights["ablate"] / BASE["ablate"] < 1  # as likely as the measured arms, not odds 1


def test_weights_follow_screening_outcomes_in_the_same_context_and_the_draw_is_deterministic():
    stats = {("wrong", "editor"): OperatorStats(tried=4, accepted=0)}
    weights = operator_weights(BASE, _operators("editor", "compress"), stats, Evidence(), NOTED)
    assert weights == {"compress": 0.05}  # the editor needs failures to reflect on
    failing = Evidence(failures=(_failure("Answer: 5"),))
    weights = operator_weights(BASE, _operators("editor", "compress"), stats, failing, NOTED)
    assert weights["editor"] == 0.4 * 1 / 5  # (1 + 0 accepted) / (1 + 4 rejected)
    formless = Evidence(failures=(_failure("so 5 it is"),))
    other = operator_weights(BASE, _operators("editor", "compress"), stats, formless, NOTED)
    assert other["editor"] == 0.4  # what failed on wrong answers says nothing about format failures
    draws = [choose_operator(weights, random.Random(s)) for s in range(20)]
    assert draws == [choose_operator(weights, random.Random(s)) for s in range(20)]
    assert choose_operator({}, random.Random(0)) is None


def test_an_exhausted_operator_is_not_drawn():
    formless = Evidence(failures=(_failure("so 5 it is"),))
    weights = operator_weights(BASE, ALL, {}, formless, BARE, exhausted={"answer-format"})
    assert "answer-format" not in weights and "editor" in weights


def test_the_editor_is_asked_for_a_kind_of_edit_drawn_by_its_own_arms():
    from spl_opt.engine.operator_choice import arms, kind_arm, kind_weights, with_kind

    editor, failing = ALL["editor"], Evidence(failures=(_failure("Answer: 5"),))
    assert set(kind_weights("editor", editor, {}, failing, BARE)) == {"", "add", "preamble", "example"}
    assert set(kind_weights("editor", editor, {}, failing, NOTED)) == {
        "",
        "add",
        "revise",
        "delete",
        "preamble",
        "example",
    }
    assert kind_weights("compress", ALL["compress"], {}, failing, NOTED) == {}  # no kinds: never asked
    stats = {("wrong", "editor:revise"): OperatorStats(tried=3, accepted=3)}
    tuned = {"wrong": {"editor:delete": (1.0, 9.0)}}
    weights = kind_weights("editor", editor, stats, failing, NOTED, priors=tuned)
    # unmeasured kinds take the measured kind's prior (1, 9): revise (1 + 3) / 9, the others 1 / 9
    assert weights["revise"] == 4 / 9 and weights["delete"] == weights[""] == weights["example"] == 1 / 9
    asked = [with_kind(failing, weights, random.Random(s)).kind for s in range(40)]
    assert asked.count("revise") > 2 * asked.count("add")  # odds 4 against 1
    assert asked == [with_kind(failing, weights, random.Random(s)).kind for s in range(40)]
    assert with_kind(failing, {}, random.Random(0)) == failing  # an operator without kinds
    asked_add = failing.model_copy(update={"kind": "add"})
    assert arms("editor", editor, asked_add) == [("wrong", "editor"), ("wrong", "editor:add")]
    assert arms("compress", ALL["compress"], failing) == [("wrong", "compress")]
    assert kind_arm("editor", "") == "editor:any"
