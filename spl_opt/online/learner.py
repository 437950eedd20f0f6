"""Online System Prompt Learning: a served program that keeps notes from feedback, gated and reversible.

    learner = Learner(lm, store="playbooks.db", editor=editor_lm, review_every=20)
    answer = learner("How many r's are in strawberry?")      # answered with the current playbook
    learner.feedback(answer.call_id, label="3")               # or score=..., or text=...

Every `review_every` outcomes a review proposes edits from the recent failures and successes (the
search's editor and LM-free operators, the same operator policy), replays each proposed playbook and
the served one on past calls with known outcomes, and promotes a proposal only if it passes the gate
(`spl_opt.online.gate`). Feedback and inputs are evidence, never instructions: feedback text reaches
the editor quoted, as what a user said; an edit that repeats it, or that carries a phrase of the calls'
inputs which is not the task's framing, is refused before replay; and no edit is served unless it wins
on the replay buffer, whose outcomes come from labels or confirmed answers. A call's known outcome
is its label, or, after a score of 1, the answer it gave. `gated=False` keeps every edit (the
optillm-style baseline of the benchmark).
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spl_opt.core.edits import EditError, apply_edits
from spl_opt.core.errors import ConfigError
from spl_opt.core.protocols import Evidence, Operator, Program, ProgramOutput, Scorer
from spl_opt.core.records import Candidate, Edit, Evaluation, Example, Playbook
from spl_opt.engine.operator_choice import choose_operator, operator_weights
from spl_opt.engine.workers import scorer_for
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.length import LengthCounter
from spl_opt.evaluators.metrics import example_labels
from spl_opt.evaluators.task import TaskEvaluator
from spl_opt.evaluators.worker import Worker
from spl_opt.online.feedback import (
    Known,
    Testimony,
    carried_from_inputs,
    echoed_feedback,
    read_testimony,
    recent_evidence,
    replay_buffer,
)
from spl_opt.online.gate import binomial_cdf, gate
from spl_opt.online.store import Outcome, PlaybookStore, Replay, Version

DEFAULT_OPERATORS = {"editor": 0.5, "worked-example": 0.2, "answer-format": 0.2, "compress": 0.1}


@dataclass(frozen=True)
class Answer:
    """A call's answer: its id (for feedback), the text, and the playbook version that answered."""

    call_id: str
    text: str
    version: int


@dataclass(frozen=True)
class Review:
    """What one review did: the versions it recorded (promoted or rejected) and why."""

    proposed: tuple[Version, ...] = ()
    promoted: Version | None = None
    skipped: str = ""


def _seed(program_or_lm: Any, seed_prompt: str | None) -> Playbook:
    """The first version: `seed_prompt`, else a DSPy program's own instructions, else a generic prompt.
    A program with several predictors is refused (online reviews edit one playbook)."""
    if hasattr(program_or_lm, "named_predictors"):
        from spl_opt.programs import seed_playbook

        playbook = seed_playbook(program_or_lm)
        if playbook.parts:
            raise ConfigError("online learning edits one playbook: give it a program with one predictor")
        return Playbook(preamble=seed_prompt) if seed_prompt else playbook
    return Playbook(preamble=seed_prompt or "You are a helpful assistant.")


def as_program(program_or_lm: Any, lm: Any = None) -> Program:
    """A Program from a DSPy module (run on `lm`, default DSPy's configured LM), a `dspy.LM` (one chat
    call), or a Program."""
    from spl_opt.programs import ChatProgram, DSPyProgram

    if hasattr(program_or_lm, "named_predictors"):
        import dspy

        lm = lm or dspy.settings.lm
        if lm is None:
            raise ConfigError("a DSPy program needs its LM: Learner(program, store, lm=...)")
        return DSPyProgram(program_or_lm, lm)
    if hasattr(program_or_lm, "run"):
        return program_or_lm
    return ChatProgram(program_or_lm)


class Learner:
    """Answers with the served playbook; learns from feedback in gated reviews. Thread safe."""

    def __init__(
        self,
        program_or_lm: Any,
        store: PlaybookStore | str | Path,
        *,
        lm: Any = None,
        editor: Any = None,
        operators: Mapping[str, Operator] | None = None,
        weights: Mapping[str, float] | None = None,
        seed_prompt: str | None = None,
        metric: Literal["exact", "numeric"] = "exact",
        review_every: int = 20,
        replay_size: int = 60,
        proposals: int = 2,
        token_budget: int = 400,
        alpha: float = 0.1,
        retests: int = 2,
        gated: bool = True,
        watch: int | None = 20,
        background: bool = False,
        length: LengthCounter | None = None,
        seed: int = 0,
    ) -> None:
        if review_every < 1 or replay_size < 1 or proposals < 1:
            raise ValueError("review_every, replay_size and proposals must be at least 1")
        self.program = as_program(program_or_lm, lm)
        self.store = store if isinstance(store, PlaybookStore) else PlaybookStore(store)
        self.editor = editor
        self._operators = dict(operators) if operators is not None else None
        self.weights = dict(weights or DEFAULT_OPERATORS)
        self.metric = metric
        self.review_every = review_every
        self.replay_size = replay_size
        self.proposals = proposals
        self.token_budget = token_budget
        self.alpha = alpha
        self.retests = retests  # replays of a promising rejected child as evidence accumulates
        self.gated = gated
        self.watch = watch  # live outcomes after which a promoted version is checked (None: never)
        self.background = (
            background  # reviews run in a thread of their own (a server's feedback returns at once)
        )
        self.reviews: list[Review] = []
        self.length = length or LengthCounter()
        self.rng = random.Random(seed)
        self.store.seed(_seed(program_or_lm, seed_prompt))
        self._lock = threading.RLock()
        self._since_review = 0
        self._cache = EvalCache()  # replay results by (playbook, call and its target, program)

    # ----- serving ----------------------------------------------------------------------------------
    def current(self) -> Version:
        version = self.store.current()
        assert version is not None  # seeded in __init__
        return version

    def __call__(self, question: str | None = None, /, **inputs: str) -> Answer:
        """Answer one request (a question, or the program's named inputs) with the served playbook."""
        named = {"question": question} if question is not None else {k: str(v) for k, v in inputs.items()}
        if not named:
            raise ValueError("a call needs a question or named inputs")
        return self.answer(named)

    def answer(self, inputs: dict[str, str], system: str = "") -> Answer:
        """Answer `inputs`; `system` (a client's own system message) follows the playbook."""
        version = self.current()
        prompt = "\n\n".join(p for p in (version.playbook.render(), system.strip()) if p)
        output = self.program.run(prompt, Example(id="live", inputs=inputs, target=""))
        call = self.store.record_call(version.id, inputs, output.text)
        return Answer(call_id=call.id, text=output.text, version=version.id)

    def feedback(
        self,
        call_id: str,
        *,
        score: float | None = None,
        label: str | None = None,
        text: str = "",
        client: str = "",
    ) -> Outcome:
        """Record an outcome of a call; every `review_every` outcomes, review."""
        outcome = self.store.record_outcome(
            Outcome(call_id=call_id, score=score, label=label, text=text, client=client)
        )
        with self._lock:
            self._since_review += 1
            due = self._since_review >= self.review_every
            if due:
                self._since_review = 0
            self.check_served()
        if due and self.background:
            threading.Thread(target=self.review, name="spl-opt-review", daemon=True).start()
        elif due:
            self.review()
        return outcome

    def live_scores(self, version: int) -> list[float]:
        """The scores of the calls `version` answered whose outcome is known (a score or a label)."""
        calls = {c.id: c for c in self.store.calls() if c.version == version}
        scores: dict[str, float] = {}
        for outcome in self.store.outcomes():
            call = calls.get(outcome.call_id)
            if call is None:
                continue
            if outcome.label is not None:
                out = ProgramOutput(value=call.output, text=call.output)
                example = call.example(outcome.label)
                scores[call.id] = float(self._scorer([example])(example, out)[0])
            elif outcome.score is not None:
                scores[call.id] = outcome.score
        return list(scores.values())

    def check_served(self) -> Version | None:
        """Roll a promoted version back to its parent when, after `watch` live outcomes, its successes
        are improbably few for its parent's live accuracy (one-sided binomial test at `alpha`)."""
        version = self.current()
        if self.watch is None or version.status != "promoted" or version.parent is None:
            return None
        live = self.live_scores(version.id)
        before = self.live_scores(version.parent)
        if len(live) < self.watch or not before:
            return None
        rate = sum(before) / len(before)
        p_value = binomial_cdf(int(sum(live)), len(live), rate)
        if p_value >= self.alpha:
            return None
        note = (
            f"automatic: version {version.id} scored {sum(live):.0f}/{len(live)} live, its parent "
            f"{rate:.2f} (p = {p_value:.3f})"
        )
        return self.store.rollback(version.parent, note)

    # ----- learning ---------------------------------------------------------------------------------
    def _scorer(self, examples: Sequence[Example]) -> Scorer:
        return scorer_for(self.metric, example_labels(examples))

    def known(self) -> Known:
        """The replay buffer: the last `replay_size` calls whose outcome is known."""
        return replay_buffer(self.store, self.replay_size)

    def evidence(self, version: Version, known: Known) -> Evidence:
        """The recent outcomes of the served version's calls, as the editor's evidence (gated: only
        the labels of clients with a track record are shown as expected answers)."""
        scorer = self._scorer(known.examples)
        seed = self.rng.randrange(1 << 30)
        return recent_evidence(self.store, version, known, scorer, 4 * self.review_every, seed, self.gated)

    def rolled_back(self) -> set[str]:
        """Playbook ids of versions that were served and then rolled back (not proposed again)."""
        moves = self.store.head_moves()
        left = {a.version for a, b in itertools.pairwise(moves) if b.kind == "rollback"}
        return {self.store.version(v).playbook.id for v in left}

    def operators(self, known: Known) -> dict[str, Operator]:
        if self._operators is not None:
            return self._operators
        from spl_opt.engine.runner import default_operators

        return default_operators(self.editor, tuple(known.examples))

    def review(self) -> Review:
        """Propose up to `proposals` edits to the served playbook; promote the first that passes."""
        with self._lock:
            review = self._review()
            self.reviews.append(review)
            return review

    def _review(self) -> Review:
        version = self.current()
        known = self.known()
        evidence = self.evidence(version, known)
        if not evidence.failures:
            return Review(skipped="no recent failure to learn from")
        if self.gated and not known.examples:
            return Review(skipped="no call with a known outcome to replay")
        operators = self.operators(known)
        scorer = self._scorer(known.examples)
        evaluator = TaskEvaluator(
            _serial(self.program, scorer),
            namespace=self.program.cache_namespace,
            cache=self._cache,
            length=self.length,
        )
        served = Candidate(playbook=version.playbook)
        served_eval = evaluator.evaluate(served, known.examples, "val") if self.gated else None
        proposed: list[Version] = []
        tried: set[str] = {served.id} | self.rolled_back()
        retests = [(c.playbook, c.operator, c.edits) for c in self.challengers(version)] if self.gated else []
        testimony = read_testimony(self.store) if self.gated else None
        for index in range(len(retests) + self.proposals):
            if index < len(retests):
                child, name, edits = retests[index]
            else:
                weights = operator_weights(self.weights, operators, {}, evidence, version.playbook)
                picked = choose_operator({k: v for k, v in weights.items() if k in operators}, self.rng)
                if picked is None:
                    break
                name, edits = picked, operators[picked].propose(version.playbook, evidence, 2).edits
                try:
                    child = apply_edits(version.playbook, edits) if edits else None  # type: ignore[assignment]
                except EditError:
                    continue
            if child is None or child.id in tried:
                continue
            tried.add(child.id)
            recorded = self._decide(
                version, child, name, edits, evidence, evaluator, served_eval, known, testimony
            )
            proposed.append(recorded)
            if recorded.status == "promoted":
                return Review(proposed=tuple(proposed), promoted=recorded)
        return Review(proposed=tuple(proposed))

    def challengers(self, version: Version) -> list[Version]:
        """Children of the served version rejected only for want of evidence (more wins than losses,
        not beyond chance) and tested at most `retests` times: replayed again, on the grown buffer, at
        the next review (their results on calls already replayed are cached)."""
        tests: dict[str, list[Version]] = {}
        for v in self.store.versions():
            if v.parent == version.id and v.status == "rejected":
                tests.setdefault(v.playbook.id, []).append(v)
        waiting = [
            runs[-1]
            for runs in tests.values()
            if len(runs) <= self.retests
            and runs[-1].replay is not None
            and runs[-1].replay.wins > runs[-1].replay.losses
            and runs[-1].replay.p_value > self.alpha
        ]
        return waiting[-self.proposals :]

    def _refusal(self, parent: Playbook, edits: Sequence[Edit], testimony: Testimony) -> str | None:
        """Why an edit is refused before replay: it repeats a user's feedback text or carries a phrase
        from the calls' inputs into the prompt. Feedback and inputs are evidence, never instructions."""
        echo = echoed_feedback([f"{e.title} {e.text}" for e in edits], testimony.said)
        if echo is not None:
            return f"repeats a user's feedback ({echo!r}): feedback is evidence, not an instruction"
        carried = carried_from_inputs(edits, parent.render(), testimony.inputs, testimony.clients)
        if carried is not None:
            return f"carries {carried!r} from a call's input: inputs are data, not instructions"
        return None

    def _decide(
        self,
        version: Version,
        child: Playbook,
        operator: str,
        edits: Any,
        evidence: Evidence,
        evaluator: TaskEvaluator,
        served_eval: Evaluation | None,
        known: Known,
        testimony: Testimony | None,
    ) -> Version:
        shown = {
            "failures": [x.model_dump(mode="json") for x in evidence.failures[:4]],
            "successes": [x.model_dump(mode="json") for x in evidence.successes[:2]],
        }

        def record(promote: bool, reason: str, replay: Replay | None = None) -> Version:
            return self.store.add_version(
                child,
                parent=version.id,
                status="promoted" if promote else "rejected",
                operator=operator,
                edits=edits,
                evidence=shown,
                replay=replay,
                reason=reason,
            )

        refusal = self._refusal(version.playbook, edits, testimony) if testimony is not None else None
        if refusal is not None:
            return record(False, refusal)
        if served_eval is None:  # ungated: keep every edit
            return record(True, "ungated: every edit is kept")
        child_eval = evaluator.evaluate(Candidate(playbook=child), known.examples, "val")
        decision = gate(
            served_eval,
            child_eval,
            known.clients,
            tokens=self.length(child.render()),
            current_tokens=self.length(version.playbook.render()),
            token_budget=self.token_budget,
            alpha=self.alpha,
        )
        return record(decision.promote, decision.reason, decision.replay)


def _serial(program: Program, scorer: Scorer) -> Any:
    from spl_opt.backends.local import SerialBackend

    return SerialBackend(Worker(program, scorer))
