import pytest

from search.guard import guarded_choice, paired_counts, sign_test_p
from tests.search.test_selection import member

SEED_SCORES = dict.fromkeys("abcdefghij", 0.0) | {"a": 1.0, "b": 1.0}


def test_sign_test_known_values():
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(3, 0) == 0.125
    assert sign_test_p(5, 0) == 1 / 32
    assert sign_test_p(6, 1) == 8 / 128
    with pytest.raises(ValueError):
        sign_test_p(-1, 2)


def test_paired_counts_use_shared_examples_only():
    seed = member("seed", SEED_SCORES, 5)
    other = member("other", {"a": 0.0, "c": 1.0, "d": 1.0, "z": 1.0}, 9)
    assert paired_counts(other.evaluation, seed.evaluation) == (2, 1)


def test_a_lucky_lead_keeps_the_seed_and_says_why():
    seed = member("seed", SEED_SCORES, 5)
    lucky = member("lucky", SEED_SCORES | {"c": 1.0, "d": 1.0, "e": 1.0}, 20)  # 3 wins, 0 losses
    chosen, choice = guarded_choice([seed, lucky], seed, alpha=0.1)
    assert chosen is seed and choice.top == lucky.candidate.id
    assert (choice.wins, choice.losses, choice.p_value) == (3, 0, 0.125)
    assert "kept the seed" in choice.note
    chosen, choice = guarded_choice([seed, lucky], seed, alpha=None)
    assert chosen is lucky and choice.note == "unguarded"


def test_the_best_member_that_clears_the_test_is_chosen():
    seed = member("seed", SEED_SCORES, 5)
    wins = dict.fromkeys("cdefg", 1.0)
    strong = member("strong", SEED_SCORES | wins, 30)  # 5 wins, 0 losses: p = 1/32
    more = dict.fromkeys("hij", 1.0) | {"a": 0.0, "b": 0.0}
    top = member("top", SEED_SCORES | wins | more, 40)  # 8 wins, 2 losses: p = 56/1024 > 0.05
    chosen, choice = guarded_choice([seed, top, strong], seed, alpha=0.05)
    assert chosen is strong and choice.top == top.candidate.id and choice.p_value == 1 / 32
    assert "beats the seed on 5" in choice.note
    assert guarded_choice([seed], seed, alpha=0.1)[1].note == "the seed is the validation best"
    with pytest.raises(ValueError):
        guarded_choice([], seed, alpha=0.1)
