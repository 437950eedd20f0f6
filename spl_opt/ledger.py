"""Optuna as the ledger: every population member becomes a finished trial of a two-objective study.

Optuna cannot hold a growing space of prompts, so the evolution is ours; the study records it
(accuracy up, prompt tokens down) with the prompt, parents and edits as user attributes. That gives
`best_trials` (the Pareto front), durable storage (a JournalStorage file in the run directory by
default, any RDB URL for shared runs) and optuna-dashboard. Optuna is imported only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate

STUDY_FILE = "optuna.journal"


def open_storage(storage: str | None, run_dir: Path) -> Any:
    """The storage for `storage` (an RDB URL) or, by default, a journal file in `run_dir`."""

    if storage:
        return storage
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(run_dir / STUDY_FILE)))


class OptunaLedger:
    """The Ledger seam over an Optuna study: members and rejected children as trials, once each."""

    def __init__(self, run_dir: Path, study_name: str, storage: str | None = None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            study_name=study_name,
            storage=open_storage(storage, run_dir),
            directions=["maximize", "minimize"],
            load_if_exists=True,
        )
        self._recorded = {t.user_attrs.get("candidate_id") for t in self.study.get_trials(deepcopy=False)}

    def _add(self, candidate: Candidate, **trial: Any) -> None:
        import optuna

        if candidate.id in self._recorded:
            return
        attrs = {
            "candidate_id": candidate.id,
            "prompt": candidate.prompt,
            "parents": list(candidate.parents),
            "operator": candidate.operator,
            "generation": candidate.generation,
            "edits": [e.model_dump(mode="json") for e in candidate.edits],
            **trial.pop("user_attrs", {}),
        }
        self.study.add_trial(optuna.trial.create_trial(user_attrs=attrs, **trial))
        self._recorded.add(candidate.id)

    def record_member(self, member: Member) -> None:
        """A COMPLETE trial with values (validation accuracy, prompt tokens)."""
        obj = member.evaluation.objectives
        self._add(
            member.candidate,
            values=[obj.accuracy, obj.length_tokens],
            user_attrs={"cost_tokens": obj.cost_tokens},
        )

    def record_rejected(self, candidate: Candidate, minibatch_accuracy: float) -> None:
        """A PRUNED trial: screening is early stopping, its minibatch accuracy the intermediate value."""
        import optuna

        self._add(
            candidate, state=optuna.trial.TrialState.PRUNED, intermediate_values={0: minibatch_accuracy}
        )

    def front_ids(self) -> list[str]:
        """Candidate ids of the study's Pareto front (`best_trials`)."""
        return [t.user_attrs["candidate_id"] for t in self.study.best_trials]
