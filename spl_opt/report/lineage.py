"""Where the learned prompt came from: candidates read back from the journal, ancestries, diffs and
each strategy's measured contribution. Pure functions, no I/O."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable, Mapping, Sequence

from spl_opt.core.edits import ablations
from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate, Playbook
from spl_opt.engine.events import CandidateEvent, Event


def load_candidates(journal_events: Iterable[Event]) -> dict[str, Candidate]:
    """Every candidate the journal recorded, by id, in the order they were first proposed."""
    candidates: dict[str, Candidate] = {}
    for event in journal_events:
        if isinstance(event, CandidateEvent):
            candidates.setdefault(event.candidate.id, event.candidate)
    return candidates


def ancestry(candidate_id: str, candidates: Mapping[str, Candidate]) -> list[Candidate]:
    """The chain from the oldest known ancestor (the seed) to `candidate_id`, following first parents.

    Raises KeyError when `candidate_id` itself is unknown; stops at a parent the mapping lacks.
    """
    chain = [candidates[candidate_id]]
    seen = {candidate_id}
    while chain[-1].parents:
        parent_id = chain[-1].parents[0]
        if parent_id in seen or parent_id not in candidates:
            break
        seen.add(parent_id)
        chain.append(candidates[parent_id])
    return chain[::-1]


def lineage_tree(best_ids: Iterable[str], candidates: Mapping[str, Candidate]) -> list[tuple[str, str]]:
    """The (parent_id, child_id) edges of the union of the ancestries of `best_ids`, without repeats."""
    edges: dict[tuple[str, str], None] = {}
    for candidate_id in best_ids:
        if candidate_id not in candidates:
            continue
        chain = ancestry(candidate_id, candidates)
        for parent, child in itertools.pairwise(chain):
            edges.setdefault((parent.id, child.id), None)
    return list(edges)


def edit_diff(parent: Playbook, child: Playbook) -> str:
    """A unified diff of the two rendered prompts ('' when they render the same)."""
    lines = difflib.unified_diff(
        parent.render().splitlines(),
        child.render().splitlines(),
        fromfile=f"parent {parent.id}",
        tofile=f"child {child.id}",
        lineterm="",
    )
    return "\n".join(lines)


def strategy_contributions(best: Member, members: Sequence[Member]) -> dict[str, float | None]:
    """Per strategy of the best playbook (key `id`, or `part/id` with parts): best validation accuracy
    minus that of a member whose playbook is the best one without that strategy, or None when no such
    member was evaluated."""
    best_acc = best.evaluation.objectives.accuracy
    contributions: dict[str, float | None] = {}
    for key, _, ablated in ablations(best.candidate.playbook):
        match = next((m for m in members if m.candidate.playbook == ablated), None)
        contributions[key] = None if match is None else best_acc - match.evaluation.objectives.accuracy
    return contributions


def changed_parts(parent: Playbook, child: Playbook) -> list[str]:
    """The names of the parts whose playbooks differ between two multi-part playbooks."""
    return [
        p.name
        for p in child.parts
        if any(q.name == p.name and q.playbook != p.playbook for q in parent.parts)
    ]


def lineage_by_part(chain: Sequence[Candidate]) -> dict[str, list[tuple[Candidate, Candidate]]]:
    """For each part of the last playbook in `chain` (an ancestry), the steps of the chain that
    changed that part's playbook, in order: each predictor's own lineage."""
    if not chain or not chain[-1].playbook.parts:
        return {}
    steps: dict[str, list[tuple[Candidate, Candidate]]] = {p.name: [] for p in chain[-1].playbook.parts}
    for parent, child in itertools.pairwise(chain):
        for name in changed_parts(parent.playbook, child.playbook):
            steps.setdefault(name, []).append((parent, child))
    return steps
