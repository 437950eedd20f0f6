"""Prompt length in tokens, the second objective."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

TokenCounter = Callable[[str], int]

_PIECES = re.compile(r"\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (~1.3 tokens per word or symbol), used when no tokenizer is at hand."""
    return math.ceil(len(_PIECES.findall(text)) * 1.3)


class LengthCounter:
    """Counts prompt tokens with `counter` (a real tokenizer), memoized per prompt text."""

    def __init__(self, counter: TokenCounter | None = None) -> None:
        self._counter = counter or approx_tokens
        self._memo: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._memo:
            self._memo[text] = self._counter(text)
        return self._memo[text]
