"""Edit-outcome data: every proposal in a run's journal as a record of what was edited and what it did.

A record holds the task, the parent playbook, the evidence the operator was shown, the operator, its
edits, and the outcome: the child's score minus the parent's on the same training minibatch (when it
was screened), and the change in validation accuracy (when the child got that far). Journals written
before proposals carried their evidence give records without it. `spl-opt edits RUN_DIR... --out F`
writes them as JSON lines; `read_edits` reads them back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import ValidationError

from spl_opt.core.errors import DataError, RunDirError
from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Edit, Playbook, Record
from spl_opt.engine.events import (
    CandidateEvent,
    Event,
    MemberEvent,
    ProposalEvent,
    ScreenEvent,
    SkipEvent,
)
from spl_opt.engine.journal import CONFIG, JOURNAL, read_events


class EditOutcome(Record):
    """One proposal and what came of it."""

    run: str
    task: str
    iteration: int
    operator: str
    needs_lm: bool  # an LM wrote it (it cost editor tokens)
    parent_id: str
    parent: Playbook  # what the operator edited: the whole playbook, or the blamed step's part
    step: str = ""  # that step, in a multi-step program
    evidence: Evidence | None = None
    edits: tuple[Edit, ...] = ()
    error: str | None = None
    child_id: str | None = None
    skipped: str | None = None  # why no child was screened (duplicate, edit does not fit, ...)
    parent_score: float | None = None  # on the minibatch
    child_score: float | None = None
    accepted: bool | None = None  # passed screening
    parent_val: float | None = None
    child_val: float | None = None

    @property
    def gain(self) -> float | None:
        """Child minus parent on the same minibatch; None when the child was not screened."""
        if self.parent_score is None or self.child_score is None:
            return None
        return self.child_score - self.parent_score

    @property
    def val_gain(self) -> float | None:
        if self.parent_val is None or self.child_val is None:
            return None
        return self.child_val - self.parent_val


def outcomes_of(events: Iterable[Event], run: str, task: str) -> list[EditOutcome]:
    """The edit outcomes of one run's events, in iteration order."""
    events = list(events)
    playbooks = {e.candidate.id: e.candidate.playbook for e in events if isinstance(e, CandidateEvent)}
    val = {e.candidate_id: e.evaluation.objectives.accuracy for e in events if isinstance(e, MemberEvent)}
    screens = {e.iteration: e for e in events if isinstance(e, ScreenEvent)}
    skips = {e.iteration: e.reason for e in events if isinstance(e, SkipEvent)}
    out = []
    for p in (e for e in events if isinstance(e, ProposalEvent)):
        screen = screens.get(p.iteration)
        child = screen.child if screen is not None else None
        out.append(
            EditOutcome(
                run=run,
                task=task,
                iteration=p.iteration,
                operator=p.operator,
                needs_lm=bool(p.proposal.input_tokens or p.proposal.output_tokens) or p.operator == "editor",
                parent_id=p.parent,
                parent=playbooks.get(p.parent, Playbook(preamble="")).part(p.step),
                step=p.step,
                evidence=p.evidence,
                edits=p.proposal.edits,
                error=p.proposal.error,
                child_id=child,
                skipped=skips.get(p.iteration) if screen is None else None,
                parent_score=screen.parent_score if screen is not None else None,
                child_score=screen.child_score if screen is not None else None,
                accepted=screen.accepted if screen is not None else None,
                parent_val=val.get(p.parent),
                child_val=val.get(child) if child is not None else None,
            )
        )
    return out


def run_outcomes(run_dir: Path) -> list[EditOutcome]:
    """The edit outcomes of the run in `run_dir` (RunDirError if it has no journal)."""
    if not (run_dir / JOURNAL).is_file():
        raise RunDirError(f"{run_dir} is not an spl-opt run directory (no {JOURNAL})")
    events, _ = read_events(run_dir / JOURNAL)
    return outcomes_of(events, run_dir.name, task_name(run_dir))


def task_name(run_dir: Path) -> str:
    """The run's task: from its configuration (CLI runs), else its result (API runs), else its name."""
    for name in (CONFIG, "result.json"):
        path = run_dir / name
        if path.is_file():
            with contextlib.suppress(ValueError, OSError):
                task = json.loads(path.read_text(encoding="utf-8")).get("task")
                if isinstance(task, str) and task:
                    return task
    return run_dir.name


def export_edits(run_dirs: Iterable[Path], out: Path) -> int:
    """Write the edit outcomes of `run_dirs` to `out` as JSON lines; returns how many."""
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for run_dir in run_dirs:
            for outcome in run_outcomes(run_dir):
                f.write(outcome.model_dump_json() + "\n")
                count += 1
    return count


def read_edits(path: Path) -> Iterator[EditOutcome]:
    """The records of an edits file; DataError naming the line of one that is not an edit outcome."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield EditOutcome.model_validate(json.loads(line))
            except (ValueError, ValidationError) as exc:
                first = str(exc).splitlines()[0]
                raise DataError(f"{path}:{number}: not an edit outcome ({first})") from None
