"""Applying edits to playbooks: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable

from spl_opt.core.records import Edit, Playbook, Strategy


class EditError(ValueError):
    """An edit that cannot apply to this playbook (unknown strategy id, empty text)."""


def next_strategy_id(playbook: Playbook) -> str:
    """The next free id of the form s<N>."""
    used = {s.id for s in playbook.strategies}
    n = len(playbook.strategies) + 1
    while f"s{n}" in used:
        n += 1
    return f"s{n}"


def apply_edit(playbook: Playbook, edit: Edit) -> Playbook:
    """The playbook after `edit`; raises EditError when the edit does not fit the playbook."""
    strategies = list(playbook.strategies)
    text = " ".join(edit.text.split())
    if edit.op != "delete" and not text:
        raise EditError(f"{edit.op} edit has no text")
    if edit.op == "add":
        if any(s.text == text for s in strategies):
            raise EditError("strategy already present")
        strategies.append(Strategy(id=next_strategy_id(playbook), title=edit.title.strip(), text=text))
        return playbook.model_copy(update={"strategies": tuple(strategies)})
    if edit.op == "preamble":
        return playbook.model_copy(update={"preamble": text})
    index = next((i for i, s in enumerate(strategies) if s.id == edit.strategy_id), None)
    if index is None:
        raise EditError(f"no strategy with id {edit.strategy_id!r}")
    if edit.op == "delete":
        del strategies[index]
    else:  # revise: replace the target strategy's content
        old = strategies[index]
        strategies[index] = old.model_copy(update={"title": edit.title.strip() or old.title, "text": text})
    return playbook.model_copy(update={"strategies": tuple(strategies)})


def apply_edits(playbook: Playbook, edits: Iterable[Edit]) -> Playbook:
    """Apply edits in order; raises EditError on the first one that does not fit."""
    for edit in edits:
        playbook = apply_edit(playbook, edit)
    return playbook


def apply_edits_to(playbook: Playbook, part: str, edits: Iterable[Edit]) -> Playbook:
    """`playbook` with `edits` applied to its part `part` (to the whole playbook when `part` is "")."""
    if not part:
        return apply_edits(playbook, edits)
    return playbook.with_part(part, apply_edits(playbook.part(part), edits))


def ablations(playbook: Playbook) -> list[tuple[str, Strategy, Playbook]]:
    """For each strategy (of each part): its key (`id`, or `part/id` in a multi-part playbook), the
    strategy, and the playbook without it."""

    def without(pb: Playbook, i: int) -> Playbook:
        return pb.model_copy(update={"strategies": pb.strategies[:i] + pb.strategies[i + 1 :]})

    if not playbook.parts:
        return [(s.id, s, without(playbook, i)) for i, s in enumerate(playbook.strategies)]
    return [
        (f"{p.name}/{s.id}", s, playbook.with_part(p.name, without(p.playbook, i)))
        for p in playbook.parts
        for i, s in enumerate(p.playbook.strategies)
    ]
