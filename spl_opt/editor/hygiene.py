"""Keep LM-written strategies general and short.

A small editor model often copies the evidence block it was shown (input, expected answer, feedback)
into the strategy it writes, or writes a paragraph where a rule was asked for. Such text costs prompt
tokens on every call and teaches one example's answer, so it is cut before it becomes an edit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EVIDENCE_LABELS = (
    "expected answer:",
    "feedback:",
    "assistant output:",
    "### wrong",
    "### right",
    "wrong example",
    "right example",
)
_SENTENCE_END = re.compile(r"(?<=[A-Za-z)\]\"'`])[.!?](?=\s|$)")
MAX_SENTENCES = 3
MAX_WORDS = 60
MAX_TITLE_WORDS = 6


def cut_evidence(text: str) -> str:
    """`text` up to the first evidence label it copied (case-insensitive), whitespace collapsed."""
    flat = " ".join(text.split())
    lower = flat.lower()
    cuts = [i for label in EVIDENCE_LABELS if (i := lower.find(label)) >= 0]
    return flat[: min(cuts)].rstrip(" -:;,") if cuts else flat


def first_sentences(text: str, max_sentences: int = MAX_SENTENCES, max_words: int = MAX_WORDS) -> str:
    """At most `max_sentences` whole sentences and `max_words` words; a single sentence longer than
    `max_words` is cut at a word boundary and closed with '...'. A numbered step ("1.") does not end
    a sentence."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    kept = text
    if len(ends) > max_sentences:
        kept = text[: ends[max_sentences - 1]]
    words = kept.split()
    if len(words) <= max_words:
        return kept.strip()
    fitting = [e for e in ends if len(text[:e].split()) <= max_words]
    if fitting:
        return text[: fitting[-1]].strip()
    return " ".join(words[:max_words]).rstrip(" ,;:") + "..."


def clean_strategy_text(text: str) -> str:
    """An editor's strategy (or preamble) text without copied evidence, at most three sentences and
    sixty words; empty when nothing general is left."""
    return first_sentences(cut_evidence(text))


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def copied_from(text: str, sources: Iterable[str], share: float = 0.5) -> str | None:
    """The first of `sources` that `text` copies (at least `share` of its word trigrams appear in it),
    or None."""
    mine = _trigrams(text)
    if not mine:
        return None
    for source in sources:
        if len(mine & _trigrams(source)) >= share * len(mine):
            return source
    return None


def content_words(text: str) -> set[str]:
    """The words of four letters or more, lower-cased."""
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4}


def copies_foreign(text: str, demos: Iterable[tuple[str, str]], inputs: str) -> str | None:
    """The first demonstration (its edit text, and the inputs it was written for) that `text` copies
    together with words of the demonstration's own task: words its text shares with its inputs that
    `inputs` (the task at hand) lack. A general rule copied and fitted to this task (an answer format
    with this task's labels) does not carry its task along; "The argument is valid" written for a
    counting task does."""
    mine, here = content_words(text), content_words(inputs)
    for demo, theirs in demos:
        own = (content_words(demo) & content_words(theirs)) - here
        if mine & own and copied_from(text, [demo]) is not None:
            return demo
    return None


def resembles(text: str, other: str, share: float = 0.6) -> bool:
    """Whether the two texts share at least `share` of the content words (four letters or more) of
    the one with fewer: examples of one task, or of one family (logical deduction with three or seven
    objects), share 0.9 or more; examples of two unrelated tasks share under 0.2."""
    mine, theirs = content_words(text), content_words(other)
    fewer = min(len(mine), len(theirs))
    return fewer > 0 and len(mine & theirs) >= share * fewer


def clean_title(title: str, max_words: int = MAX_TITLE_WORDS) -> str:
    """A title of at most `max_words` words, without copied evidence or trailing punctuation."""
    words = cut_evidence(title).split()[:max_words]
    return " ".join(words).strip(" -:;,.`'\"")
