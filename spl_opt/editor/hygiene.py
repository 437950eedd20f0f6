"""Keep LM-written strategies general and short.

A small editor model often copies the evidence block it was shown (input, expected answer, feedback)
into the strategy it writes, or writes a paragraph where a rule was asked for. Such text costs prompt
tokens on every call and teaches one example's answer, so it is cut before it becomes an edit.
"""

from __future__ import annotations

import re

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


def clean_title(title: str, max_words: int = MAX_TITLE_WORDS) -> str:
    """A title of at most `max_words` words, without copied evidence or trailing punctuation."""
    words = cut_evidence(title).split()[:max_words]
    return " ".join(words).strip(" -:;,.`'\"")
