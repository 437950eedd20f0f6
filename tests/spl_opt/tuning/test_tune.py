import json
import re

from spl_opt import optimize
from spl_opt.core.protocols import Evidence, EvidenceItem
from spl_opt.core.records import Edit, Playbook
from spl_opt.editor.artifact import EditorManifest, load_editor_module, read_manifest, save_editor
from spl_opt.evaluators.metrics import numeric_match
from spl_opt.testing import editor_reply, scripted_lm
from spl_opt.tuning.outcomes import EditOutcome
from spl_opt.tuning.tune import EditGain, learn_priors, tune_editor
from tests.conftest import HINT, make_task

GOOD = f"To answer, {HINT} and reply 'Answer: N'."
BAD = "Be polite and friendly."


def follows_demos(system: str, conversation: str) -> str:
    """An editor LM that writes the good edit only once a demonstration shows it (the parents and
    evidence it is shown never hold the hint themselves)."""
    return editor_reply("add", GOOD if HINT in system + conversation else BAD)


def _evidence(task, start):
    items = []
    for ex in task.train[start : start + 3]:
        items.append(
            EvidenceItem(
                input=ex.input_text(), target=ex.target, output="It is 0.", feedback="wrong", score=0.0
            )
        )
    return Evidence(failures=tuple(items))


def _outcomes(task):
    """Recorded proposals: the hint won its screen and validation; the polite rule did nothing."""
    parent = Playbook(preamble=task.seed_prompt)
    out = []
    for i, (text, won) in enumerate([(GOOD, True), (BAD, False)] * 3):
        out.append(
            EditOutcome(
                run="r",
                task=task.name,
                iteration=i + 1,
                operator="editor",
                needs_lm=True,
                parent_id=parent.id,
                parent=parent,
                evidence=_evidence(task, i % 4),
                edits=(Edit(op="add", title="Learned rule", text=text, rationale="the rule is missing"),),
                parent_score=0.0,
                child_score=1.0 if won else 0.0,
                accepted=won,
                parent_val=0.0,
                child_val=1.0 if won else None,
            )
        )
    out.append(out[1].model_copy(update={"operator": "worked-example", "needs_lm": False}))
    return out


def test_priors_follow_the_screening_outcomes_per_context():
    priors = learn_priors(_outcomes(make_task()))
    assert priors["wrong"]["editor"] == (4.0, 4.0)  # 3 accepted, 3 rejected
    assert priors["wrong"]["worked-example"] == (1.0, 2.0)
    assert priors["wrong"]["editor:any"] == (4.0, 4.0)  # journals without a requested kind
    assert "worked-example:any" not in priors["wrong"]  # an operator that needs no LM has no kinds
    capped = learn_priors(_outcomes(make_task()) * 10, strength=6)
    assert capped["wrong"]["editor"] == (4.0, 4.0)  # 60 outcomes weigh as 6


def test_edit_gain_is_measured_with_the_task_lm(toy_task, task_lm):
    outcomes = _outcomes(toy_task)
    gain = EditGain(task_lm, {"toy": toy_task}, outcomes)
    assert gain.of_edits(outcomes[0], outcomes[0].edits) == 1.0
    assert gain.of_edits(outcomes[1], outcomes[1].edits) == 0.0
    assert gain.of_edits(outcomes[1], ()) is None


def test_tuning_learns_to_prefer_the_edit_that_scores(toy_task, task_lm):
    editor_lm = scripted_lm(follows_demos, conversation=True, temperature=0.7)
    tuned = tune_editor(_outcomes(toy_task), {"toy": toy_task}, task_lm, editor_lm, demos=2, holdout=0.5)
    demos = tuned.module.propose.demos
    assert demos and all(HINT in d.text for d in demos)  # only edits that measured well
    held = tuned.measured["holdout"]
    assert held["n"] == 3
    assert held["untuned"]["mean_gain"] == 0.0 and held["tuned"]["mean_gain"] == 1.0
    assert tuned.priors["wrong"]["editor"] == (4.0, 4.0)


def test_a_teachers_winning_edit_teaches_the_editor_to_write_it(toy_task, task_lm):
    """The LM edits all lost; an operator that needs no LM won on the same evidence: its edit becomes
    the demonstration, and the editor that follows its demonstrations writes it on held-out parents."""
    lm_edits = [
        o.model_copy(update={"edits": (o.edits[0].model_copy(update={"text": BAD}),)})
        for o in _outcomes(toy_task)
    ]
    lm_edits = [
        o.model_copy(update={"accepted": False, "child_score": 0.0, "child_val": None}) for o in lm_edits[:6]
    ]
    teacher = lm_edits[0].model_copy(
        update={
            "operator": "answer-format",
            "needs_lm": False,
            "edits": _outcomes(toy_task)[0].edits,
            "child_score": 1.0,
            "accepted": True,
            "child_val": 1.0,
            "evidence": _evidence(toy_task, 4),  # not one of the held-out parents' evidence
        }
    )
    editor_lm = scripted_lm(follows_demos, conversation=True, temperature=0.7)
    alone = tune_editor(lm_edits, {"toy": toy_task}, task_lm, editor_lm, demos=2, bootstrapped=0, holdout=0.5)
    assert alone.module.propose.demos == []  # nothing won
    tuned = tune_editor(
        [*lm_edits, teacher], {"toy": toy_task}, task_lm, editor_lm, demos=2, bootstrapped=0, holdout=0.5
    )
    [demo] = tuned.module.propose.demos
    assert HINT in demo.text and tuned.measured["demo_sources"] == ["answer-format"]
    assert tuned.measured["holdout"]["tuned"]["mean_gain"] == 1.0
    assert tuned.measured["holdout"]["untuned"]["mean_gain"] == 0.0


def test_a_tuned_editor_saves_loads_runs_and_replays(tmp_path, toy_task, task_lm):
    editor_lm = scripted_lm(follows_demos, conversation=True, temperature=0.7)
    tuned = tune_editor(_outcomes(toy_task), {"toy": toy_task}, task_lm, editor_lm, demos=2, holdout=0.0)
    path = save_editor(tmp_path / "editor", tuned.module, EditorManifest(tasks=("toy",), priors=tuned.priors))
    assert read_manifest(path).priors == tuned.priors
    loaded = [dict(d)["text"] for d in load_editor_module(path).propose.demos]
    assert loaded == [d.text for d in tuned.module.propose.demos]

    def metric(example, reply):
        score = numeric_match(example.target, reply)
        return score.value, score.feedback

    def run():
        return optimize(
            trainset=toy_task.train,
            valset=toy_task.val,
            metric=metric,
            lm=task_lm,
            editor_lm=editor_lm,
            editor=path,
            seed_prompt=toy_task.seed_prompt,
            budget=60,
            run_dir=tmp_path / "run",
        )

    first = run()
    assert HINT in first.prompt  # the tuned editor's demonstration led to the hint
    calls = len(editor_lm.engine.calls)
    again = run()  # a rerun of a finished run replays it: the same prompt, no editor call
    assert again.prompt == first.prompt and len(editor_lm.engine.calls) == calls


def test_tune_editor_command_needs_tasks_or_runs_and_a_bad_editor_is_one_line(tmp_path, capsys):
    from spl_opt.cli import main

    assert main(["tune-editor", "--out", str(tmp_path / "e")]) == 2
    assert "needs --tasks or --runs" in capsys.readouterr().err
    assert (
        main(["optimize", "--editor", str(tmp_path), "--rollouts", "5", "--run-dir", str(tmp_path / "r")])
        == 2
    )
    assert "is not a tuned editor" in capsys.readouterr().err


def test_gepa_evolves_the_editors_own_instructions_from_measured_gains(toy_task, task_lm):
    editor_lm = scripted_lm(follows_demos, conversation=True, temperature=0.7)
    instruction = f"Propose one edit. When sums go wrong, write: {HINT}."

    def reflect(system: str, user: str) -> str:  # every output field asked for holds the instruction
        fields = re.search(r"Your output fields are:\n(.*?)All interactions", system, re.S)
        names = re.findall(r"^\d+\. `(\w+)`", fields.group(1), re.M) if fields else ["new_instruction"]
        if "JSON object" in system:
            return json.dumps(dict.fromkeys(names, instruction))
        return "\n\n".join(f"[[ ## {n} ## ]]\n{instruction}" for n in names) + "\n\n[[ ## completed ## ]]"

    reflection = scripted_lm(reflect)
    tuned = tune_editor(
        _outcomes(toy_task),
        {"toy": toy_task},
        task_lm,
        editor_lm,
        demos=2,
        bootstrapped=2,
        holdout=0.5,
        reflection_lm=reflection,
        instruction_calls=12,
    )
    assert HINT in tuned.measured["instructions"]  # the evolved instructions, measured better
    assert tuned.measured["holdout"]["tuned"]["mean_gain"] == 1.0


def test_an_edit_that_only_fits_the_examples_it_was_written_from_does_not_score(toy_task):
    # every failure shown expects 4; "the answer is 4" fixes them and nothing else
    task_lm = scripted_lm(lambda s, u: "Answer: 4" if "answer is 4" in s else "It is 0.")
    outcome = _outcomes(toy_task)[0]
    shown = toy_task.train[1]  # "What is 1 plus 3?" -> 4
    evidence = Evidence(
        failures=(
            EvidenceItem(input=shown.input_text(), target="4", output="It is 0.", feedback="", score=0.0),
        )
    )
    outcome = outcome.model_copy(update={"evidence": evidence})
    gain = EditGain(task_lm, {"toy": toy_task}, [outcome])
    cheat = Edit(op="add", title="t", text="The answer is 4.")
    assert shown.id not in {e.id for e in gain.examples(outcome)}
    assert gain.of_edits(outcome, (cheat,)) == 0.0


def test_a_demonstrations_evidence_is_cut_to_fit_the_editors_context():
    from spl_opt.tuning.tune import short_evidence

    long = "\n\n".join(f"### WRONG example {i}\nInput: {'x' * 1000}" for i in range(4))
    cut = short_evidence(long)
    assert cut.count("### ") == 2 and len(cut) < 700 and cut.startswith("### WRONG example 0")


def test_gepa_scores_its_candidates_on_one_proposal_per_task_first():
    from spl_opt.tuning.tune import one_per_task

    outcomes = [
        o.model_copy(update={"task": t}) for o, t in zip(_outcomes(make_task()), "aabbbc", strict=False)
    ]
    picked = one_per_task(outcomes, n=4)
    assert [o.task for o in picked] == ["a", "b", "c", "a"]
