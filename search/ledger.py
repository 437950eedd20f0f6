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

STUDY_FILE = "optuna.journal"


def open_storage(storage: str | None, run_dir: Path) -> Any:
    """The storage for `storage` (an RDB URL) or, by default, a journal file in `run_dir`."""

    if storage:
        return storage
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(run_dir / STUDY_FILE)))


class OptunaLedger:
    """Records members as trials, once each (a resumed run re-records nothing)."""

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

    def record(self, member: Member) -> None:
        import optuna

        cand, obj = member.candidate, member.evaluation.objectives
        if cand.id in self._recorded:
            return
        attrs = {
            "candidate_id": cand.id,
            "prompt": cand.prompt,
            "parents": list(cand.parents),
            "operator": cand.operator,
            "generation": cand.generation,
            "edits": [e.model_dump(mode="json") for e in cand.edits],
            "cost_tokens": obj.cost_tokens,
        }
        self.study.add_trial(
            optuna.trial.create_trial(values=[obj.accuracy, obj.length_tokens], user_attrs=attrs)
        )
        self._recorded.add(cand.id)

    def front_ids(self) -> list[str]:
        """Candidate ids of the study's Pareto front (`best_trials`)."""
        return [t.user_attrs["candidate_id"] for t in self.study.best_trials]
