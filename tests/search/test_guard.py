import pytest

from spl_opt.search.guard import guarded_choice, holm_adjusted, paired_counts, sign_test_p
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
    wins = dict.fromkeys("cdefgh", 1.0)
    strong = member("strong", SEED_SCORES | wins, 30)  # 6 wins, 0 losses: p = 1/64, Holm: 2/64
    more = dict.fromkeys("ij", 1.0) | {"a": 0.0, "b": 0.0}
    top = member("top", SEED_SCORES | wins | more, 20)  # as accurate, shorter; 8 wins, 2 losses: p > 0.05
    chosen, choice = guarded_choice([seed, top, strong], seed, alpha=0.05)
    assert chosen is strong and choice.top == top.candidate.id and choice.p_value == 1 / 32
    assert "beats the seed on 6" in choice.note and "Holm-corrected over 2 prompts" in choice.note
    assert guarded_choice([seed], seed, alpha=0.1)[1].note == "the seed is the validation best"
    with pytest.raises(ValueError):
        guarded_choice([], seed, alpha=0.1)


def test_testing_many_prompts_is_corrected_for():
    seed = member("seed", SEED_SCORES, 5)
    # each beats the seed on 5 examples (p = 1/32 < 0.05 alone), but 3 of them were tested
    tried = [member(f"m{i}", SEED_SCORES | dict.fromkeys("cdefg", 1.0), 10 + i) for i in range(3)]
    chosen, choice = guarded_choice([seed, *tried], seed, alpha=0.05)
    assert chosen is seed and choice.p_value == pytest.approx(3 / 32)
    assert "Holm-corrected over 3 prompts" in choice.note


def test_holm_adjusted_p_values():
    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjusted([0.5]) == [0.5]
    assert holm_adjusted([]) == []
