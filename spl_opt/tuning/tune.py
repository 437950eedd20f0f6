"""Tuning the editor on a family of tasks: demonstrations that measured well, and operator priors.

From the edit outcomes of earlier runs (`spl_opt.tuning.outcomes`):

- **priors**: per (evidence context, operator or kind of LM edit), the Beta prior of passing
  screening, from how often that arm's children passed in that context, capped at `strength`
  pseudo-observations so a new run's own outcomes still move it (`learn_priors`);
- **demonstrations** for `EditorModule`: DSPy's `BootstrapFewShot` runs the editor (or a stronger
  `teacher_lm`) on the evidence of recorded proposals and keeps the edits whose *measured* gain is
  positive (`EditGain`: apply the edit to the parent and score the child against the parent on the
  evidence's examples with the task LM, through one evaluation cache); recorded edits that gained
  on their minibatch and did not lose on validation fill the remaining demonstration slots: the LM
  editor's own, and those of teacher operators that need no LM (`taught`), written as the editor
  would write them;
- **measurement**: on held-out recorded proposals, the untuned and the tuned editor each propose
  once per parent, and each edit's gain is measured the same way (`measure_editor`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spl_opt.backends.local import local_evaluator
from spl_opt.core.edits import EditError, apply_edits
from spl_opt.core.protocols import Evidence
from spl_opt.core.records import Candidate, Edit, Example, Playbook, TaskData, content_hash
from spl_opt.editor.dspy_editor import (
    DSPyEditor,
    edit_from_prediction,
    new_editor_module,
    render_evidence,
    render_playbook,
)
from spl_opt.editor.hygiene import clean_strategy_text, clean_title, first_sentences
from spl_opt.editor.solutions import KIND
from spl_opt.engine.operator_choice import evidence_context, kind_arm
from spl_opt.engine.runner import task_scorer
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.task import EvalRequest, TaskEvaluator
from spl_opt.programs import ChatProgram
from spl_opt.tuning.outcomes import EditOutcome

Priors = dict[str, dict[str, tuple[float, float]]]


def learn_priors(outcomes: Iterable[EditOutcome], *, strength: float = 20.0) -> Priors:
    """(alpha, beta) per evidence context and operator from screened outcomes that kept their evidence;
    for the LM editor also per kind of edit it was asked for (`editor:add`, ..., `editor:any`)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for o in outcomes:
        if o.accepted is None or o.evidence is None:
            continue
        context = evidence_context(o.evidence)
        for arm in (o.operator, kind_arm(o.operator, o.evidence.kind)) if o.needs_lm else (o.operator,):
            counts.setdefault((context, arm), [0, 0])[0 if o.accepted else 1] += 1
    priors: Priors = {}
    for (context, operator), (accepted, rejected) in sorted(counts.items()):
        scale = min(1.0, strength / (accepted + rejected))
        priors.setdefault(context, {})[operator] = (
            round(1 + accepted * scale, 3),
            round(1 + rejected * scale, 3),
        )
    return priors


def _key(playbook: str, evidence: str) -> str:
    return content_hash(playbook, evidence)


def editor_example(outcome: EditOutcome) -> Any:
    """A `dspy.Example` of EditorModule: the parent and evidence as inputs, the recorded edit as labels."""
    import dspy

    assert outcome.evidence is not None
    edit: Edit | None = outcome.edits[0] if outcome.edits else None
    return dspy.Example(
        playbook=render_playbook(outcome.parent),
        evidence=render_evidence(outcome.evidence),
        diagnosis=edit.rationale if edit else "",
        operation=edit.op if edit else "",
        strategy_id=(edit.strategy_id or "none") if edit else "none",
        title=edit.title if edit else "",
        text=edit.text if edit else "",
    ).with_inputs("playbook", "evidence")


DEMO_EVIDENCE_ITEMS = 2
DEMO_EVIDENCE_CHARS = 300


def short_evidence(evidence: str) -> str:
    """A demonstration's evidence block cut to its first examples, each to its first characters: every
    demonstration is sent with each editor call, and the editor's context is small (4096 tokens for
    the embedded models)."""
    blocks = [b.strip() for b in evidence.split("### ") if b.strip()][:DEMO_EVIDENCE_ITEMS]
    return "\n\n".join(
        "### " + (b if len(b) <= DEMO_EVIDENCE_CHARS else b[:DEMO_EVIDENCE_CHARS] + "...") for b in blocks
    )


def clean_demo(demo: Any) -> Any:
    """A demonstration cut like the editor's own edits (`spl_opt.editor.hygiene`) and with a short
    evidence block: a small editor copies its demonstrations' length and wordiness, and a long
    prompt or answer does not fit its context."""
    import dspy

    fields = demo.toDict() if hasattr(demo, "toDict") else dict(demo)
    fields["evidence"] = short_evidence(str(fields.get("evidence", "")))
    fields["text"] = clean_strategy_text(str(fields.get("text", "")))
    fields["title"] = clean_title(str(fields.get("title", "")))
    fields["diagnosis"] = first_sentences(str(fields.get("diagnosis", "")), max_sentences=2)
    return dspy.Example(**fields).with_inputs("playbook", "evidence")


def evidence_examples(evidence: Evidence) -> tuple[Example, ...]:
    """The examples behind `evidence` (failures and successes), as the task program receives them."""
    items = (*evidence.failures, *evidence.successes)
    return tuple(
        Example(id=content_hash(i.input, i.target), inputs={"input": i.input}, target=i.target) for i in items
    )


class EditGain:
    """The measured gain of an edit: the child's accuracy minus the parent's on `extra` training
    examples of its task that the edit's evidence did not show (the evidence's own examples only
    when the task has no others), both scored by the task LM through one evaluation cache. An edit
    that only fits the examples it was written from (say, "the answer is True" when every failure
    shown expected True) does not score.

    As a DSPy metric (`metric(example, prediction, trace)`) it finds the outcome by the example's
    inputs; with a `trace` (bootstrapping) it says whether the gain is positive.
    """

    def __init__(
        self,
        task_lm: Any,
        tasks: Mapping[str, TaskData],
        outcomes: Iterable[EditOutcome],
        cache: EvalCache | None = None,
        extra: int = 10,
        min_gain: float = 0.2,
    ) -> None:
        self.tasks = dict(tasks)
        self.extra = extra
        self.min_gain = min_gain  # two of ten examples: one flip is within llama.cpp's own noise
        self.cache = cache if cache is not None else EvalCache()  # an empty cache is falsy
        self.program = ChatProgram(task_lm)
        self._evaluators: dict[str, TaskEvaluator] = {}
        self._outcomes = {
            _key(render_playbook(o.parent), render_evidence(o.evidence)): o
            for o in outcomes
            if o.evidence is not None
        }

    def _evaluator(self, task: str) -> TaskEvaluator:
        if task not in self._evaluators:
            scorer = task_scorer(self.tasks[task])
            self._evaluators[task] = local_evaluator(self.program, scorer, self.cache)
        return self._evaluators[task]

    def scores(self, outcome: EditOutcome, edits: Sequence[Edit]) -> tuple[float, float] | None:
        """(parent, child) accuracy for `edits` applied to the outcome's parent; None for no usable edit."""
        if not edits or outcome.evidence is None:
            return None
        try:
            child = apply_edits(outcome.parent, tuple(edits))
        except EditError:
            return None
        examples = self.examples(outcome)
        parent, new = self._evaluator(outcome.task).evaluate_many(
            [
                _request(outcome.parent, examples),
                _request(child, examples),
            ]
        )
        return parent.objectives.accuracy, new.objectives.accuracy

    def examples(self, outcome: EditOutcome) -> tuple[Example, ...]:
        """Up to `extra` training examples of the task that the evidence did not show, chosen by the
        outcome's run and iteration (the same outcome is always measured on the same examples)."""
        assert outcome.evidence is not None
        shown = evidence_examples(outcome.evidence)
        inputs = {e.input_text() for e in shown}
        others = [e for e in self.tasks[outcome.task].train if e.input_text() not in inputs]
        random.Random(f"{outcome.run}:{outcome.iteration}").shuffle(others)
        return tuple(others[: self.extra]) or shown

    def of_edits(self, outcome: EditOutcome, edits: Sequence[Edit]) -> float | None:
        """Child minus parent for `edits` applied to the outcome's parent; None for no usable edit."""
        scored = self.scores(outcome, edits)
        return None if scored is None else scored[1] - scored[0]

    def _judge(self, example: Any, prediction: Any) -> tuple[float | None, str]:
        outcome = self._outcomes.get(_key(example.playbook, example.evidence))
        if outcome is None:
            return None, "unknown parent and evidence"
        edit = edit_from_prediction(outcome.parent, prediction)
        scored = self.scores(outcome, (edit,)) if edit is not None else None
        if edit is None or scored is None:
            return None, "The edit could not be read or does not fit the playbook: nothing was tested."
        before, after = scored
        verdict = "raised" if after > before else "lowered" if after < before else "did not change"
        return after - before, (
            f"The {edit.op} edit ({edit.text[:200]!r}) {verdict} the assistant's accuracy on these examples "
            f"from {before:.2f} to {after:.2f}."
        )

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float | bool:
        gain, _ = self._judge(example, prediction)
        if trace is not None:  # bootstrapping: keep an edit only if it won at least `min_gain`
            return gain is not None and gain >= self.min_gain
        return gain or 0.0

    def gepa(
        self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
    ) -> Any:
        """The gain with feedback, as `dspy.GEPA` wants its metric."""
        import dspy

        gain, feedback = self._judge(gold, pred)
        return dspy.Prediction(score=gain or 0.0, feedback=feedback)


def _request(playbook: Playbook, examples: tuple[Example, ...]) -> EvalRequest:
    return EvalRequest(Candidate(playbook=playbook), examples, "train")


def learnable(outcomes: Iterable[EditOutcome], tasks: Mapping[str, TaskData]) -> list[EditOutcome]:
    """LM-editor proposals on tasks we can score, with the evidence (and failures) they were shown;
    not its worked solutions (kind "example": another predictor, not the one tuned here)."""
    return [
        o
        for o in outcomes
        if o.needs_lm
        and o.evidence is not None
        and o.evidence.failures
        and o.evidence.kind != KIND
        and o.task in tasks
    ]


def taught(outcomes: Iterable[EditOutcome], tasks: Mapping[str, TaskData]) -> list[EditOutcome]:
    """Edits of operators that need no LM on tasks we can score, shown failures, and as the editor
    could have written them (one edit whose text its hygiene leaves as it is): demonstrations of
    what gains, for the editor to write on tasks the teacher never saw."""
    return [
        o
        for o in outcomes
        if not o.needs_lm
        and o.evidence is not None
        and o.evidence.failures
        and o.task in tasks
        and len(o.edits) == 1
        and o.edits[0].op == "add"
        and clean_strategy_text(o.edits[0].text) == " ".join(o.edits[0].text.split())
    ]


def one_per_task(outcomes: Sequence[EditOutcome], n: int = 12) -> list[EditOutcome]:
    """Up to `n` outcomes, the first of each task before a second of any, in their order otherwise
    (stable: within a round, the order holds)."""
    rounds: dict[str, int] = {}
    order = []
    for o in outcomes:
        rounds[o.task] = rounds.get(o.task, -1) + 1
        order.append((rounds[o.task], o))
    return [o for _, o in sorted(order, key=lambda x: x[0])][:n]


def winners(outcomes: Sequence[EditOutcome], n: int) -> list[EditOutcome]:
    """Up to `n` recorded edits that won their screen and did not lose on validation (or on the
    held-out examples of a sampled edit), best held-out gain first, one per task before a second:
    a small editor copies its demonstrations, and one task's rules would crowd out the rest."""
    ranked = sorted(
        (o for o in outcomes if (o.gain or 0) > 0 and (o.val_gain is None or o.val_gain >= 0)),
        key=lambda o: (-(o.val_gain or 0), -(o.gain or 0)),
    )
    return one_per_task(ranked, n)


@dataclass
class Tuned:
    """A tuned editor: the compiled module, the priors, and what was measured."""

    module: Any
    priors: Priors
    measured: dict[str, Any] = field(default_factory=dict)


def tune_editor(
    outcomes: Sequence[EditOutcome],
    tasks: Mapping[str, TaskData],
    task_lm: Any,
    editor_lm: Any,
    *,
    demos: int = 4,
    bootstrapped: int = 2,
    holdout: float = 0.3,
    seed: int = 0,
    teacher_lm: Any = None,
    cache: EvalCache | None = None,
    instruction_calls: int = 0,
    reflection_lm: Any = None,
) -> Tuned:
    """Compile EditorModule on the edit outcomes of `tasks` and measure it on held-out proposals.

    With `instruction_calls` > 0, `dspy.GEPA` first evolves the editor's own instructions within that
    many metric calls (each a measured edit), reflecting with `reflection_lm` (default: the teacher,
    else the editor LM) on one proposal at a time (a small editor's context holds one example's
    evidence), each candidate scored on one proposal per task (`one_per_task`); the
    demonstrations are then bootstrapped on top of the evolved instructions.
    """
    import dspy

    pool = learnable(outcomes, tasks)
    random.Random(seed).shuffle(pool)
    cut = round(len(pool) * holdout) if len(pool) > 1 else 0
    held, train = pool[:cut], pool[cut:]
    gain = EditGain(task_lm, tasks, outcomes, cache)
    module = new_editor_module()
    examples = [editor_example(o) for o in train]
    if instruction_calls > 0 and len(train) > 1:
        evolver = dspy.GEPA(
            metric=gain.gepa,
            max_metric_calls=instruction_calls,
            reflection_lm=reflection_lm or teacher_lm or editor_lm,
            reflection_minibatch_size=1,
            num_threads=1,
            seed=seed,
        )
        valset = [editor_example(o) for o in one_per_task(train)]
        with dspy.context(lm=editor_lm):
            module = evolver.compile(new_editor_module(), trainset=examples, valset=valset)
    if bootstrapped > 0 and train:
        optimizer = dspy.BootstrapFewShot(
            metric=gain,
            max_bootstrapped_demos=bootstrapped,
            max_labeled_demos=0,
            max_rounds=1,
            teacher_settings={"lm": teacher_lm} if teacher_lm is not None else {},
        )
        with dspy.context(lm=editor_lm):
            module = optimizer.compile(module, trainset=examples)
    predictor = module.propose
    fresh = len(predictor.demos)
    measuring = {(o.parent_id, o.evidence) for o in held}  # a teacher's edit of these would give it away
    teachers = [o for o in taught(outcomes, tasks) if (o.parent_id, o.evidence) not in measuring]
    chosen = winners([*train, *teachers], max(0, demos - fresh))
    recorded = [editor_example(o) for o in chosen]
    predictor.demos = [clean_demo(d) for d in (*predictor.demos, *recorded)]
    measured = {
        "instructions": str(predictor.signature.instructions),
        "pool": len(pool),
        "train": len(train),
        "bootstrapped_demos": fresh,
        "recorded_demos": len(predictor.demos) - fresh,
        "demo_sources": [o.operator for o in chosen],
        "holdout": measure_editor(held, gain, editor_lm, module) if held else None,
    }
    return Tuned(module=module, priors=learn_priors(outcomes), measured=measured)


def measure_editor(held: Sequence[EditOutcome], gain: EditGain, editor_lm: Any, tuned: Any) -> dict[str, Any]:
    """The untuned and the tuned editor on the same held-out parents and evidence: per editor, the
    share of proposals with a usable edit, the share whose measured gain is positive, and the mean
    gain per call (an unusable edit gains 0)."""
    out: dict[str, Any] = {"n": len(held)}
    for name, module in (("untuned", new_editor_module()), ("tuned", tuned)):
        editor = DSPyEditor(editor_lm, module)
        gains = []
        errors = []
        for o in held:
            assert o.evidence is not None
            proposal = editor.propose(o.parent, o.evidence, 1)
            gains.append(gain.of_edits(o, proposal.edits))
            if proposal.error:
                errors.append(proposal.error[:200])
        usable = [g for g in gains if g is not None]
        out[name] = {
            "errors": sorted(set(errors))[:3],
            "usable": len(usable) / len(gains),
            "positive": sum(g > 0 for g in usable) / len(gains),
            "mean_gain": sum(usable) / len(gains),
        }
    return out
