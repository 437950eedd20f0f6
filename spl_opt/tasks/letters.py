"""A synthetic task: count a letter's occurrences in a real English word ("strawberry" has 3 r's)."""

from __future__ import annotations

import random
from collections.abc import Iterator

from spl_opt.core.records import Example

_WORD_TEXT = """
    strawberry banana mississippi raspberry blueberry apple orange pineapple papaya avocado coconut
    cucumber tomato potato broccoli zucchini cherry lemon mango grape peach watermelon elephant
    giraffe hippopotamus kangaroo alligator crocodile butterfly caterpillar dolphin penguin mammal
    puppy kitten rabbit squirrel chimpanzee bookkeeper beekeeper committee referee tennessee
    sleeveless cheesecake seventeen teepee independence excellence experience perseverance
    engineering millennium occurrence assessment successes possess possession address assassination
    abracadabra onomatopoeia parallel grammar bubble pepper balloon letter little coffee syzygy
    rhythm kayak level noon deed catamaran balalaika razzmatazz tattletale illegally necessary
    embarrass recommend accommodate tomorrow beginning believe receive definitely separate calendar
    cemetery conscience government library february restaurant environment strength knowledge
    language mountain computer keyboard telephone television umbrella pyramid volcano hurricane
    thunder lightning chocolate vanilla cinnamon spaghetti sandwich hamburger nevertheless
    university mathematics chemistry physics geography history philosophy adventure journey mystery
    treasure pirate castle dragon wizard voodoo bicycle airplane helicopter submarine rocket
    satellite telescope happiness kindness business wilderness intimidation civilization initiative
    possibility responsibility peppermint lollipop marshmallow bookshelf
    """
WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())

COUNTS: tuple[int, ...] = (0, 1, 2, 3, 4)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _pairs_by_count() -> dict[int, list[tuple[str, str]]]:
    """Every (word, letter) pair of the word list, grouped by how often the letter occurs."""
    pairs: dict[int, list[tuple[str, str]]] = {count: [] for count in COUNTS}
    for word in WORDS:
        for letter in _ALPHABET:
            count = word.count(letter)
            if count in pairs:
                pairs[count].append((word, letter))
    return pairs


def _cycle(items: list[tuple[str, str]], rng: random.Random) -> Iterator[tuple[str, str]]:
    """The items in a fresh random order, again and again (no repeat before all are used)."""
    while True:
        order = items[:]
        rng.shuffle(order)
        yield from order


def generate_letters(n: int, seed: int) -> list[Example]:
    """`n` questions "How many times does the letter 'r' appear in 'strawberry'?", target the count.

    Targets are balanced over COUNTS (per-count totals differ by at most one; count 0 means the
    letter is absent); no (word, letter) pair repeats before its pool is used up. Deterministic for
    `seed`; ids "letters-<i>"; inputs {"question": ...}; meta holds the word and the letter.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    pools = _pairs_by_count()
    cycles = {count: _cycle(pools[count], rng) for count in COUNTS}
    counts: list[int] = []
    while len(counts) < n:
        block = list(COUNTS)
        rng.shuffle(block)
        counts.extend(block)
    examples = []
    for i, count in enumerate(counts[:n]):
        word, letter = next(cycles[count])
        question = f"How many times does the letter '{letter}' appear in '{word}'?"
        examples.append(
            Example(
                id=f"letters-{i}",
                inputs={"question": question},
                target=str(count),
                meta={"word": word, "letter": letter},
            )
        )
    return examples
