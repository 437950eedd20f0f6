from spl_opt.core.records import Evaluation, ExampleResult, Objectives
from spl_opt.online.gate import gate


def _eval(scores: dict[str, float]) -> Evaluation:
    results = tuple(ExampleResult(example_id=k, score=v) for k, v in scores.items())
    accuracy = sum(scores.values()) / len(scores)
    return Evaluation(
        candidate_id="c",
        split="val",
        results=results,
        objectives=Objectives(accuracy=accuracy, length_tokens=0),
    )


def _decide(current, candidate, clients=None, tokens=10, current_tokens=10, budget=100, alpha=0.1):
    return gate(
        _eval(current),
        _eval(candidate),
        clients or {},
        tokens=tokens,
        current_tokens=current_tokens,
        token_budget=budget,
        alpha=alpha,
    )


def test_promotes_a_clear_win_and_rejects_chance_losses_and_long_prompts():
    ids = [f"c{i}" for i in range(8)]
    now = dict.fromkeys(ids, 0.0)
    better = {k: 1.0 if i < 5 else 0.0 for i, k in enumerate(ids)}
    won = _decide(now, better)
    assert won.promote and won.replay.wins == 5 and won.replay.losses == 0 and won.replay.p_value < 0.1
    assert not _decide(now, {**now, "c0": 1.0}).promote  # one flip: could be chance
    assert "could be chance" in _decide(now, {**now, "c0": 1.0}).reason
    worse = _decide(better, now)
    assert not worse.promote and "does not beat" in worse.reason
    assert "over the budget of 100" in _decide(now, better, tokens=101).reason
    same = _decide(now, now, tokens=8)
    assert same.promote and "2 tokens shorter" in same.reason
    assert not _decide(now, now).promote


def test_a_lead_that_rests_on_one_client_is_rejected():
    ids = [f"c{i}" for i in range(12)]
    clients = {k: "mallory" if i < 9 else "alice" for i, k in enumerate(ids)}
    now = {k: 0.0 if i < 9 else 1.0 for i, k in enumerate(ids)}  # mallory's mislabels fail the honest model
    poisoned = {k: 1.0 if i < 9 else 0.0 for i, k in enumerate(ids)}  # "always answer 42" fits only her
    decision = _decide(now, poisoned, clients)
    assert decision.replay.wins == 9 and decision.replay.losses == 3 and decision.replay.p_value < 0.1
    assert not decision.promote and "rests on client 'mallory'" in decision.reason
    honest = {k: 1.0 for k in ids}
    two_sided = {k: 0.0 if i in (0, 1, 2, 9, 10) else 1.0 for i, k in enumerate(ids)}
    assert _decide(two_sided, honest, clients).promote  # a gain both clients see
