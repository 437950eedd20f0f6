import optuna

from spl_opt.core.protocols import Member
from spl_opt.core.records import Candidate, Evaluation, Objectives, Playbook
from spl_opt.ledger import OptunaLedger


def _member(prompt: str, acc: float, length: int) -> Member:
    cand = Candidate(playbook=Playbook(preamble=prompt), operator="editor")
    ev = Evaluation(
        candidate_id=cand.id,
        split="val",
        results=(),
        objectives=Objectives(accuracy=acc, length_tokens=length),
    )
    return Member(candidate=cand, evaluation=ev)


def test_members_become_trials_once_and_survive_reopening(tmp_path):
    members = [_member("a", 0.5, 10), _member("b", 0.8, 30), _member("c", 0.4, 40), _member("d", 0.8, 20)]
    ledger = OptunaLedger(tmp_path, "toy")
    for m in members:
        ledger.record_member(m)
    ledger.record_member(members[0])
    assert len(ledger.study.trials) == 4
    assert sorted(ledger.front_ids()) == sorted([members[0].candidate.id, members[3].candidate.id])

    reopened = OptunaLedger(tmp_path, "toy")
    reopened.record_member(members[1])  # a resumed run records nothing twice
    assert len(reopened.study.trials) == 4
    trial = reopened.study.trials[3]
    assert trial.user_attrs["prompt"] == "d" and trial.values == [0.8, 20.0]
    assert trial.state == optuna.trial.TrialState.COMPLETE


def test_rdb_storage_url(tmp_path):
    ledger = OptunaLedger(tmp_path, "toy", storage=f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.record_member(_member("a", 0.5, 10))
    assert (tmp_path / "ledger.db").exists() and not (tmp_path / "optuna.journal").exists()


def test_children_rejected_at_screening_are_pruned_trials(tmp_path):
    ledger = OptunaLedger(tmp_path, "toy")
    child = Candidate(playbook=Playbook(preamble="worse"), parents=("p",), operator="ablate")
    ledger.record_rejected(child, 0.2)
    ledger.record_rejected(child, 0.2)
    (trial,) = ledger.study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values == {0: 0.2}
    assert trial.user_attrs["parents"] == ["p"] and trial.user_attrs["operator"] == "ablate"
    assert ledger.front_ids() == []
