"""Scoring of free-text LLM outputs against targets, with short feedback for an editor LLM.

Pure functions: no I/O. `extract_answer` / `extract_number` read the final answer out of a model's
free text; `exact_match` / `numeric_match` score it and explain the score in a sentence or two.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from spl_opt.core.records import Example, Record, TaskData

_MAX_SHOWN = 80  # characters of an answer quoted in feedback

Source = Literal["marker", "label", "line", "none"]


class Score(Record):
    """The score of one output: `value` in [0, 1], `feedback` for the editor, the answer read, and
    the outcome: "no_answer" when no answer could be read or a wrong one stood without a final-answer
    marker (the answer's form failed), else "correct" or "wrong"."""

    value: float
    feedback: str
    extracted: str | None
    outcome: Literal["correct", "wrong", "no_answer"] = "wrong"


# --- normalization -----------------------------------------------------------------------------

_MARKDOWN = re.compile(r"\*\*|__|`")
_LEADING_ANSWER = re.compile(r"^(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|:)\s*:?|answer\s*:)\s*")
_QUOTES = "\"'“”‘’"
_TRAILING = ".,;:!?"


def normalize(text: str) -> str:
    """Lowercased text without markdown, quotes, trailing punctuation, a leading "answer:" or
    "the answer is", and with runs of whitespace collapsed to one space."""
    out = _MARKDOWN.sub("", text).lower()
    out = " ".join(out.split())
    prev = None
    while prev != out:
        prev = out
        out = _LEADING_ANSWER.sub("", out)
        out = out.strip().strip(_QUOTES).rstrip(_TRAILING).strip()
    return out


# --- answer extraction -------------------------------------------------------------------------

_MARKERS = (
    re.compile(
        r"\b(?:final\s+)?answer\b[*_`]*\s*(?:is\b|:|=|-(?=\s))[*_`]*[ \t]*:?[ \t]*(?P<rest>[^\n]*)",
        re.IGNORECASE,
    ),
    # an "Answer" heading or bold line alone, the answer on the next line
    re.compile(
        r"^[#*_ \t]*(?:final\s+)?answer[*_: \t]*\n+[ \t]*(?P<rest>[^\n]+)", re.IGNORECASE | re.MULTILINE
    ),
    re.compile(r"####[ \t]*(?P<rest>[^\n]*)"),
    re.compile(r"\\boxed\{(?P<rest>(?:[^{}]|\{[^{}]*\})*)\}"),
)
_SENTENCE_END = re.compile(r"\.\s")
_OPTION = re.compile(r"^\(([A-Z])\)$")
_OPTION_LINE = re.compile(r"^[ \t]*(\([A-Z]\))[ \t]", re.MULTILINE)


def _clean(text: str) -> str:
    """Strip markdown, whitespace, quotes and trailing punctuation; keep case."""
    out = _MARKDOWN.sub("", text)
    prev = None
    while prev != out:
        prev = out
        out = out.strip().strip(_QUOTES).rstrip(_TRAILING).strip()
    return " ".join(out.split())


def _last_marker(text: str) -> tuple[str, int] | None:
    """The answer text after the last answer marker and the offset where that text ends."""
    best: tuple[int, str, int] | None = None
    for pattern in _MARKERS:
        for m in pattern.finditer(text):
            if best is None or m.start() > best[0]:
                best = (m.start(), m.group("rest"), m.end())
    if best is None:
        return None
    _, rest, end = best
    if not rest.strip():  # "Answer:" alone on its line: the answer is on the next non-empty line
        following = text[end:].lstrip("\n")
        line = next((ln for ln in following.splitlines() if ln.strip()), "")
        return line, end + len(line)
    return rest, end


def _label_pattern(label: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(label)}(?![A-Za-z0-9])", re.IGNORECASE)


def _label_in_marker(rest: str, labels: Sequence[str]) -> str | None:
    """The first label in a marker's answer text; options "(A)" also match "A)" or a leading "A"."""
    text = _MARKDOWN.sub("", rest)
    hits: list[tuple[int, str]] = []
    for label in labels:
        m = _label_pattern(label).search(text)
        if m:
            hits.append((m.start(), label))
        option = _OPTION.match(label)
        if option:
            letter = re.escape(option.group(1))
            m = re.search(rf"(?<![A-Za-z0-9(]){letter}\)", text) or re.match(
                rf"\s*{letter}(?![A-Za-z0-9])", text
            )
            if m:
                hits.append((m.start(), label))
    return min(hits)[1] if hits else None


def _last_label(text: str, labels: Sequence[str]) -> str | None:
    """The label occurring last in `text` as a whole token."""
    text = _MARKDOWN.sub("", text)
    best: tuple[int, int, str] | None = None
    for label in labels:
        for m in _label_pattern(label).finditer(text):
            key = (m.end(), len(label), label)
            if best is None or key > best:
                best = key
    return best[2] if best else None


def _extract(output: str, labels: Sequence[str] | None) -> tuple[str | None, Source]:
    """The final answer and how it was found."""
    marker = _last_marker(output)
    if marker is not None:
        rest, end = marker
        if labels:
            label = _label_in_marker(rest, labels) or _last_label(output[end:], labels)
            if label is not None:
                return label, "marker"
        answer = _clean(_SENTENCE_END.split(rest, maxsplit=1)[0])
        if answer:
            return answer, "marker"
    if labels:
        label = _last_label(output, labels)
        if label is not None:
            return label, "label"
    line = next((ln for ln in reversed(output.splitlines()) if _clean(ln)), None)
    if line is None:
        return None, "none"
    return _clean(line), "line"


def extract_answer(output: str, labels: Sequence[str] | None = None) -> str | None:
    """The final answer in a model's free text, or None for an empty output.

    In order: the text after the LAST explicit marker ("Answer: X", "answer is X", "Final answer: X",
    "\\boxed{X}", "#### X"; with `labels`, the first label in that text); with `labels`, the label
    occurring last as a whole token (returned as spelled in `labels`); else the last non-empty line.
    """
    return _extract(output, labels)[0]


_NUMBER = re.compile(
    r"(?:(?<![\w)])-)?(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?<![\w.])-?\.\d+"
)


def _numbers(text: str) -> list[str]:
    return [m.group().replace(",", "") for m in _NUMBER.finditer(text)]


def extract_number(output: str) -> str | None:
    """The answer number in a model's free text, commas removed ("1,234" -> "1234"), or None.

    Prefers a number after the last answer marker (after its last "=" if any); else the last number.
    """
    output = output.replace("\u2212", "-")  # a typographic minus sign
    marker = _last_marker(output)
    if marker is not None:
        rest = marker[0]
        after_eq = rest.rsplit("=", 1)[-1]
        found = _numbers(after_eq) or _numbers(rest)
        if found:
            return found[0]
    found = _numbers(output)
    return found[-1] if found else None


def parse_number(text: str) -> float | None:
    """`text` as a number if it is exactly one (commas, "$" and a trailing "." allowed), else None."""
    stripped = _clean(text).lstrip("$").replace(",", "")
    if not re.fullmatch(r"-?(?:\d+(?:\.\d*)?|\.\d+)", stripped):
        return None
    return float(stripped)


# --- scoring -----------------------------------------------------------------------------------


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _option_letter(norm: str) -> str:
    """Option text "(a)" or "a)" as its letter "a"; other text unchanged."""
    m = re.fullmatch(r"\(?([a-z])\)", norm)
    return m.group(1) if m else norm


def _same(a: str, b: str) -> bool:
    na, nb = normalize(a), normalize(b)
    return na == nb or _option_letter(na) == _option_letter(nb)


_NO_MARKER = "No explicit final-answer marker (e.g. 'Answer: ...') was found."
_UNREADABLE = "could be read from the output"


def _wrong(target: str, answer: str, source: Source) -> str:
    text = f"Wrong: expected '{_shown(target)}' but the final answer read was '{_shown(answer)}'."
    if source == "line":
        text += " " + _NO_MARKER
    return text


def _wrong_score(target: str, answer: str, source: Source) -> Score:
    outcome = "no_answer" if source == "line" else "wrong"  # no marker: the form failed too
    return Score(value=0.0, feedback=_wrong(target, answer, source), extracted=answer, outcome=outcome)


def _unreadable(target: str, what: str) -> str:
    return (
        f"Wrong: no final {what} {_UNREADABLE} (expected '{_shown(target)}'); "
        f"end the response with a clear final {what}."
    )


def exact_match(target: str, output: str, labels: Sequence[str] | None = None) -> Score:
    """1.0 if the normalized extracted answer (or the whole normalized output) equals the target."""
    answer, source = _extract(output, labels)
    if (answer is not None and _same(answer, target)) or (output.strip() and _same(output, target)):
        shown = answer if answer is not None and _same(answer, target) else target
        return Score(
            value=1.0,
            feedback=f"Correct: the answer '{_shown(shown)}' matches.",
            extracted=answer,
            outcome="correct",
        )
    if answer is None:
        return Score(value=0.0, feedback=_unreadable(target, "answer"), extracted=None, outcome="no_answer")
    return _wrong_score(target, answer, source)


def numeric_match(target: str, output: str) -> Score:
    """1.0 if the number read from the output equals the target number (tolerance 1e-6).

    A target that is not a number falls back to `exact_match`.
    """
    expected = parse_number(target)
    if expected is None:
        return exact_match(target, output)
    answer = extract_number(output)
    if answer is None:
        return Score(
            value=0.0, feedback=_unreadable(target, "numeric answer"), extracted=None, outcome="no_answer"
        )
    if math.isclose(float(answer), expected, rel_tol=0.0, abs_tol=1e-6):
        return Score(
            value=1.0,
            feedback=f"Correct: the answer '{answer}' matches.",
            extracted=answer,
            outcome="correct",
        )
    source: Source = "marker" if _last_marker(output) is not None else "line"
    return _wrong_score(target, answer, source)


def labels_of(
    targets: Iterable[str], inputs: Iterable[str] = (), max_labels: int = 12
) -> tuple[str, ...] | None:
    """The sorted set of distinct targets if they are few (at most `max_labels` and fewer than half
    the number of targets), else None. Lettered options ("(A)", "(B)", ...) are completed with the
    options `inputs` offer (each question's lines "(A) ...", "(B) ...", ... from (A) on, without a
    gap): a few targets need not name every option a question offers."""
    items = list(targets)
    distinct = set(items)
    if len(distinct) <= max_labels and len(distinct) < len(items) / 2:
        if all(_OPTION.match(label) for label in distinct):
            distinct |= {option for text in inputs for option in _options_offered(text)}
        return tuple(sorted(distinct))
    return None


def _options_offered(question: str) -> list[str]:
    letters = {m.group(1)[1] for m in _OPTION_LINE.finditer(question)}
    offered = []
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in letters:
            break
        offered.append(f"({letter})")
    return offered


def example_labels(examples: Sequence[Example]) -> tuple[str, ...] | None:
    """`labels_of` the examples' targets, lettered options completed from their questions."""
    return labels_of((e.target for e in examples), (e.input_text() for e in examples))


def task_labels(task: TaskData) -> tuple[str, ...] | None:
    """`example_labels` of a task's train and validation examples (test data shapes nothing)."""
    return example_labels((*task.train, *task.val))
