import pytest

from spl_opt.editor.dspy_editor import DSPyEditor
from spl_opt.testing import StrategyFollower, editor_reply, scripted_lm
from spl_opt.tuning.pipeline import gather_samples
from spl_opt.tuning.sampling import SAMPLE_KINDS, EditSampler, sample_outcomes
from tests.conftest import HINT, _sum


def _editor(text: str) -> DSPyEditor:
    return DSPyEditor(scripted_lm([editor_reply("add", text)]))


def test_samples_show_a_minibatch_and_measure_on_the_rest(toy_task, task_lm):
    sampler = EditSampler(toy_task, task_lm, pool=8, minibatch=3, seed=1)
    sample = sampler.sample_at(0)
    assert len(sample.shown) == 3 and len(sample.held) == 5
    assert not {e.id for e in sample.shown} & {e.id for e in sample.held}
    outcome = sampler.propose(_editor(f"To answer, {HINT}."), 0)
    assert outcome is not None and outcome.needs_lm and outcome.edits
    assert len(outcome.evidence.failures) == 3 and outcome.evidence.kind == SAMPLE_KINDS[0]
    assert (outcome.parent_score, outcome.child_score) == (0.0, 1.0) and outcome.accepted
    assert (outcome.parent_val, outcome.child_val) == (0.0, 1.0)


def test_an_edit_that_does_not_help_gains_nothing(toy_task, task_lm):
    outcome = EditSampler(toy_task, task_lm, pool=8, minibatch=3).propose(_editor("Be polite."), 1)
    assert outcome is not None and outcome.gain == 0.0 and outcome.val_gain == 0.0
    assert outcome.accepted is False and outcome.evidence.kind == SAMPLE_KINDS[1]


def test_two_editors_see_the_same_evidence(toy_task, task_lm):
    sampler = EditSampler(toy_task, task_lm, pool=8, minibatch=3, seed=2)
    a = sampler.propose(_editor("Be polite."), 4)
    b = sampler.propose(_editor(f"To answer, {HINT}."), 4)
    assert a is not None and b is not None and a.evidence == b.evidence
    assert (a.val_gain, b.val_gain) == (0.0, 1.0)


def test_an_unusable_edit_is_recorded_unmeasured(toy_task, task_lm):
    editor = DSPyEditor(scripted_lm(["no fields here"]))
    [outcome] = sample_outcomes([EditSampler(toy_task, task_lm, pool=6, minibatch=2)], editor, [0])
    assert not outcome.edits and outcome.error and outcome.skipped == "no usable edit"
    assert outcome.gain is None and outcome.accepted is None


def test_a_parent_with_no_failures_gives_no_sample(toy_task):
    right = scripted_lm(StrategyFollower(_sum, hint=""))  # every prompt holds the empty hint
    assert EditSampler(toy_task, right, pool=6, minibatch=2).propose(_editor("x"), 0) is None


def test_minibatch_must_leave_examples_held_out(toy_task, task_lm):
    with pytest.raises(ValueError, match="smaller than pool"):
        EditSampler(toy_task, task_lm, pool=4, minibatch=4)


def test_gathered_samples_are_appended_and_not_asked_again(toy_task, task_lm, tmp_path):
    from spl_opt.evaluators.cache import EvalCache

    calls = []

    def counting(system: str, user: str) -> str:
        calls.append(user)
        return editor_reply("add", f"To answer, {HINT}.")

    editor = DSPyEditor(scripted_lm(counting))
    path = tmp_path / "samples.jsonl"
    kwargs = dict(samples=2, pool=6, minibatch=2, seed=0, cache=EvalCache(), echo=False)
    first = gather_samples({"toy": toy_task}, path, task_lm, editor, **kwargs)
    assert len(first) == 2 and len(calls) == 2
    again = gather_samples({"toy": toy_task}, path, task_lm, editor, **{**kwargs, "samples": 3})
    assert len(again) == 3 and len(calls) == 3  # the two recorded samples were read, not asked again
    assert [o.iteration for o in again] == [0, 1, 2]


def test_teacher_operators_are_sampled_on_the_same_evidence(toy_task, task_lm, tmp_path):
    from spl_opt.core.errors import ConfigError
    from spl_opt.evaluators.cache import EvalCache
    from spl_opt.tuning.pipeline import teacher_operators

    path = tmp_path / "samples.jsonl"
    kwargs = dict(samples=2, pool=6, minibatch=2, seed=0, cache=EvalCache(), echo=False)
    teachers = teacher_operators(["answer-format", "worked-example"])
    done = gather_samples(
        {"toy": toy_task}, path, task_lm, _editor("Be polite."), teachers=teachers, **kwargs
    )
    by = {(o.operator, o.iteration): o for o in done}
    assert sorted(by) == [(op, i) for op in ("answer-format", "editor", "worked-example") for i in (0, 1)]
    assert by["answer-format", 0].evidence == by["editor", 0].evidence and not by["answer-format", 0].needs_lm
    assert by["worked-example", 1].edits[0].text.startswith("Q: ")
    again = gather_samples(
        {"toy": toy_task}, path, task_lm, _editor("Be polite."), teachers=teachers, **kwargs
    )
    assert len(again) == 6  # all read back, none asked again
    with pytest.raises(ConfigError, match="unknown teacher operators \\['ablate'\\]"):
        teacher_operators(["ablate"])


def test_tune_editor_from_fresh_samples_alone(toy_task, task_lm, tmp_path, monkeypatch):
    """`budget=0, samples=N`: no search, N measured edits per task, the winners become demonstrations."""
    import spl_opt.engine.runner as runner
    import spl_opt.tuning.pipeline as pipeline
    from spl_opt.editor.artifact import read_manifest
    from spl_opt.tuning.outcomes import read_edits

    editor_lm = scripted_lm([editor_reply("add", f"To answer, {HINT}.")], temperature=0.7)
    monkeypatch.setattr(pipeline, "build_lm", lambda config: editor_lm if "1.5b" in config.model else task_lm)
    monkeypatch.setattr(runner, "task_of", lambda config: toy_task)
    kwargs = dict(budget=0, samples=3, pool=8, minibatch=3, holdout=0.0, echo=False)
    path, tuned = pipeline.tune_from_tasks(tasks=["toy"], out=tmp_path / "editor", **kwargs)
    recorded = list(read_edits(path / pipeline.SAMPLES))
    assert len(recorded) == 3 and all(o.val_gain == 1.0 for o in recorded)
    assert not (path / "runs").exists()  # no search was run
    manifest = read_manifest(path)
    assert manifest.measured["samples"] == 3 and manifest.measured["outcomes"] == 3
    assert manifest.demos >= 1 and all(HINT in d.text for d in tuned.module.propose.demos)
    [context] = manifest.priors  # "format": the toy task model's wrong answers have no answer marker
    assert manifest.priors[context]["editor"] == (4.0, 1.0)  # it passed all three screens


def test_a_cache_given_empty_is_the_one_filled(toy_task, task_lm, tmp_path):
    """An empty EvalCache is falsy (it has a length): it must still be used, not swapped for a new one."""
    from spl_opt.evaluators.cache import EvalCache
    from spl_opt.tuning.tune import EditGain

    cache = EvalCache(tmp_path / "eval-cache.jsonl")
    EditSampler(toy_task, task_lm, pool=6, minibatch=2, cache=cache).propose(_editor("Be polite."), 0)
    assert len(cache) > 0 and (tmp_path / "eval-cache.jsonl").read_text().count("\n") == len(cache)
    empty = EvalCache()
    assert EditGain(task_lm, {"toy": toy_task}, [], empty).cache is empty
