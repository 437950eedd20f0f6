from spl_opt.core.records import Objectives
from spl_opt.search.acceptance import BetterOrShorter


def _obj(accuracy: float, length: int) -> Objectives:
    return Objectives(accuracy=accuracy, length_tokens=length)


def test_better_or_shorter_accepts_gains_and_equal_but_shorter_prompts():
    rule = BetterOrShorter()
    assert rule.accepts(_obj(0.4, 100), _obj(0.6, 300))
    assert rule.accepts(_obj(0.4, 100), _obj(0.4, 90))
    assert not rule.accepts(_obj(0.4, 100), _obj(0.4, 100))
    assert not rule.accepts(_obj(0.6, 100), _obj(0.4, 10))
