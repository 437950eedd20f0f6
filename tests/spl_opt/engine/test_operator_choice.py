import random

from spl_opt.config import SearchConfig
from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Example, Playbook, Strategy
from spl_opt.engine.operator_choice import OperatorStats, choose_operator, format_share, operator_weights
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


def test_answer_format_is_boosted_by_the_share_of_format_failures():
    search = SearchConfig()
    formless = Evidence(failures=(_failure("so 5 it is"),))
    weights = operator_weights(search, ALL, {}, formless, BARE)
    assert set(weights) == {"editor", "worked-example", "answer-format", "compress"}  # no strategy, donor
    assert weights["answer-format"] == 0.15 * 10 * 0.5
    assert weights["answer-format"] > weights["editor"] + weights["worked-example"]
    plain = operator_weights(search, ALL, {}, Evidence(failures=(_failure("Answer: 5"),)), BARE)
    assert plain["answer-format"] == 0.15 * 0.5
    off = operator_weights(search.model_copy(update={"format_boost": 0.0}), ALL, {}, formless, BARE)
    assert off["answer-format"] == 0.15 * 0.5


def test_weights_follow_screening_success_and_the_draw_is_deterministic():
    stats = {"editor": OperatorStats(tried=4, accepted=0)}
    weights = operator_weights(SearchConfig(), _operators("editor", "compress"), stats, Evidence(), NOTED)
    assert weights == {"compress": 0.05 * 0.5}  # the editor needs failures to reflect on
    failing = Evidence(failures=(_failure("Answer: 5"),))
    weights = operator_weights(SearchConfig(), _operators("editor", "compress"), stats, failing, NOTED)
    assert weights["editor"] == 0.4 * 1 / 6
    draws = [choose_operator(weights, random.Random(s)) for s in range(20)]
    assert draws == [choose_operator(weights, random.Random(s)) for s in range(20)]
    assert choose_operator({}, random.Random(0)) is None
