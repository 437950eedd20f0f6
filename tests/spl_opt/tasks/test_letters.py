from collections import Counter

from spl_opt.tasks.letters import COUNTS, WORDS, generate_letters


def test_word_list_is_real_and_includes_classics() -> None:
    assert len(WORDS) >= 140
    assert len(set(WORDS)) == len(WORDS)
    assert {"strawberry", "banana", "mississippi"} <= set(WORDS)


def test_targets_are_correct_counts() -> None:
    for ex in generate_letters(200, seed=1):
        word, letter = ex.meta["word"], ex.meta["letter"]
        assert ex.inputs == {"question": f"How many times does the letter '{letter}' appear in '{word}'?"}
        assert ex.target == str(word.count(letter))


def test_targets_are_balanced_and_include_absent_letters() -> None:
    for n in (5, 23, 110, 500):
        counts = Counter(ex.target for ex in generate_letters(n, seed=3))
        assert set(counts) <= {str(c) for c in COUNTS}
        per_count = [counts.get(str(c), 0) for c in COUNTS]
        assert max(per_count) - min(per_count) <= 1
    assert Counter(ex.target for ex in generate_letters(110, seed=0))["0"] == 22


def test_deterministic_per_seed_with_ids() -> None:
    a = generate_letters(40, seed=7)
    assert a == generate_letters(40, seed=7)
    assert a != generate_letters(40, seed=8)
    assert [ex.id for ex in a] == [f"letters-{i}" for i in range(40)]


def test_no_repeated_question_while_pools_last() -> None:
    questions = [ex.inputs["question"] for ex in generate_letters(100, seed=0)]
    assert len(set(questions)) == len(questions)


def test_zero_examples() -> None:
    assert generate_letters(0, seed=0) == []
