"""The search engine: `ask()` for work, `tell()` its results (`spl_opt.engine.driver.drive` loops them).

One iteration: sample a parent (per-example Pareto), evaluate it on a train minibatch, let an operator
propose an edit from the failures and successes, evaluate the child on the same minibatch, and only if
it does at least as well (and better or shorter) evaluate it on the full validation set and add it to
the population. Iterations are generators that yield work (EvalRequest, ProposeRequest), so up to
`parallel` of them are in flight; the search is steady-state: an iteration starts as soon as another
ends, and results are told one at a time in the order they finish, with no generation barrier.

Everything that decides the search is seeded or is a result it is told; it emits what happens as
typed events (`spl_opt.engine.events`) and never reads them back, so a resumed run that is told the
same results in the same order (`spl_opt.engine.replay`) repeats the killed one exactly.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from spl_opt.config import SearchConfig
from spl_opt.core.edits import EditError, apply_edits_to
from spl_opt.core.protocols import Evidence, Ledger, Member, Operator, Selector
from spl_opt.core.records import Candidate, Evaluation, Example, Playbook, Proposal
from spl_opt.engine.blame import Blame
from spl_opt.engine.events import (
    CandidateEvent,
    EventSink,
    MemberEvent,
    ProposalEvent,
    ScreenEvent,
    SkipEvent,
    TellEvent,
)
from spl_opt.engine.operator_choice import (
    OperatorStats,
    arms,
    choose_operator,
    kind_weights,
    operator_weights,
    repeats,
    with_kind,
)
from spl_opt.engine.result import RoleUsage, SearchResult
from spl_opt.engine.work import Iteration, Pending, ProposeRequest, Work, edit_target
from spl_opt.evaluators.task import EvalRequest
from spl_opt.search.acceptance import AcceptanceRule, BetterOrShorter
from spl_opt.search.budget import Budget, exhausted
from spl_opt.search.guard import guarded_choice
from spl_opt.search.pareto import pareto_front
from spl_opt.search.selection import ParetoSelector

MAX_IDLE_ITERATIONS = 50


@dataclass
class _Job:
    gen: Iteration
    work: Work
    iteration: int
    step: int = 0
    issued: bool = False

    @property
    def key(self) -> str:
        return f"{self.iteration}.{self.step}"


@dataclass
class _State:
    population: list[Member] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    rollouts: dict[tuple[str, str], tuple[int, int, float]] = field(default_factory=dict)
    history: list[tuple[int, float]] = field(default_factory=list)
    ops: dict[str, OperatorStats] = field(default_factory=dict)
    policy: dict[tuple[str, str], OperatorStats] = field(default_factory=dict)  # by (context, operator)
    editor: RoleUsage = field(default_factory=RoleUsage)
    started: int = 0
    last_improvement: int = 0
    idle: int = 0


class Optimizer:
    """Evolves playbooks for one task. Test data is never given to it."""

    def __init__(
        self,
        seed: Candidate,
        train: Sequence[Example],
        val: Sequence[Example],
        operators: Mapping[str, Operator],
        events: EventSink,
        *,
        search: SearchConfig | None = None,
        budget: Budget | None = None,
        selector: Selector | None = None,
        random_seed: int = 0,
        ledger: Ledger | None = None,
        acceptance: AcceptanceRule | None = None,
    ) -> None:
        if not train or not val:
            raise ValueError("the optimizer needs at least one train and one validation example")
        self.seed_candidate = seed
        self.train = tuple(train)
        self.val = tuple(val)
        self.operators = dict(operators)
        self.events = events
        self.search = search or SearchConfig()
        self.acceptance = acceptance or BetterOrShorter()
        self.budget = budget or Budget(max_rollouts=300)
        self.selector = selector or ParetoSelector()
        self.random_seed = random_seed
        self.ledger = ledger
        self._end: tuple[int, str] | None = None
        self.state = _State()
        self.stop_reason: str | None = None
        self._jobs: list[_Job] = []
        self._clock = time.monotonic()

    # ----- the ask/tell protocol -------------------------------------------------------------------
    def ask(self) -> list[Pending]:
        """Work not handed out yet, starting iterations up to `parallel` in flight (none: wait for
        results, or the search is over when nothing is in flight either)."""
        if not self.state.members and not self._jobs:
            self._start(self._seed_job(), 0)
        while self.state.members and len(self._jobs) < self.search.parallel and self.stop_reason is None:
            reason = self._budget_reason()
            if reason is not None:
                self.stop_reason = reason
                break
            self.state.started += 1
            self._start(self._iteration(self.state.started), self.state.started)
        fresh = []
        for job in self._jobs:
            if not job.issued:
                job.issued = True
                fresh.append(Pending(job.key, job.work))
        return fresh

    @property
    def in_flight(self) -> list[str]:
        """Keys of the work handed out and not told yet."""
        return [job.key for job in self._jobs if job.issued]

    def tell(self, key: str, result: Evaluation | Proposal) -> None:
        """The result of the work handed out under `key`."""
        job = next((j for j in self._jobs if j.issued and j.key == key), None)
        if job is None:
            raise KeyError(f"no work in flight under key {key!r}")
        if isinstance(result, Evaluation):
            for r in result.results:
                self.state.rollouts.setdefault(
                    (result.candidate_id, r.example_id), (r.input_tokens, r.output_tokens, r.latency)
                )
        self.events.emit(TellEvent(key=key))
        try:
            job.work = job.gen.send(result)
        except StopIteration:
            self._jobs.remove(job)
            return
        job.step += 1
        job.issued = False

    def stop_after(self, iterations: int, reason: str) -> None:
        """Start no iteration beyond `iterations`, and end with `reason` (a finished run that is
        rerun replays up to where it stopped, whatever its budgets say now)."""
        self._end = (iterations, reason)

    def propose_here(self, request: ProposeRequest) -> Proposal:
        """Run a proposal request's operator in this thread."""
        return self.operators[request.operator].propose(request.parent, request.evidence, request.attempts)

    # ----- iterations ------------------------------------------------------------------------------
    def _start(self, gen: Iteration, iteration: int) -> None:
        with contextlib.suppress(StopIteration):
            self._jobs.append(_Job(gen, next(gen), iteration))

    def _seed_job(self) -> Iteration:
        seed = self.seed_candidate
        self.state.seen.add(seed.id)
        self.events.emit(CandidateEvent(candidate=seed))
        evaluation = yield EvalRequest(seed, self.val, "val")
        assert isinstance(evaluation, Evaluation)
        self._add_member(Member(candidate=seed, evaluation=evaluation), iteration=0)

    def _iteration(self, i: int) -> Iteration:
        rng = random.Random(f"{self.random_seed}:{i}")
        parent = self.selector.parents(self.state.population, 1, rng)[0]
        batch = tuple(rng.sample(self.train, min(self.search.minibatch_size, len(self.train))))
        if not self._fits(parent_request := EvalRequest(parent.candidate, batch, "train")):
            return self._out_of_rollouts(i, "screening the parent")
        parent_eval = yield parent_request
        assert isinstance(parent_eval, Evaluation)
        whole = parent.candidate.playbook
        donors = [m.candidate.playbook for m in self.front() if m is not parent]
        found, evidence = edit_target(parent_eval, batch, whole, donors, i, rng.randrange(1 << 30))
        step = found.step if found is not None else ""
        op_name = self._choose_operator(rng, whole, step, evidence)
        if op_name is None:
            return self._idle(i, "no operator applies")
        operator, policy, priors = self.operators[op_name], self.state.policy, self.search.operator_priors
        only = self.search.editor_kinds
        kinds = kind_weights(op_name, operator, policy, evidence, whole.part(step), priors=priors, only=only)
        evidence = with_kind(evidence, kinds, rng)
        proposal = yield ProposeRequest(i, op_name, whole.part(step), evidence, self.search.editor_attempts)
        assert isinstance(proposal, Proposal)
        proposal = proposal.on_part(step)
        self._record_proposal(i, op_name, parent, proposal, evidence, found)
        if not proposal.edits:
            return self._idle(i, proposal.error or "no edit")
        try:
            playbook = apply_edits_to(whole, step, proposal.edits)
        except EditError as exc:
            return self._idle(i, f"edit does not fit: {exc}")
        child = Candidate(
            playbook=playbook,
            parents=(parent.candidate.id,),
            edits=proposal.edits,
            generation=parent.candidate.generation + 1,
            operator=op_name,
        )
        if child.id in self.state.seen:
            return self._idle(i, "duplicate of an evaluated candidate")
        if not self._fits(child_request := EvalRequest(child, batch, "train")):
            return self._out_of_rollouts(i, "screening the child")
        self.state.seen.add(child.id)
        self.state.idle = 0
        self.events.emit(CandidateEvent(candidate=child))
        child_eval = yield child_request
        assert isinstance(child_eval, Evaluation)
        old, new = parent_eval.objectives, child_eval.objectives
        accepted = self.acceptance.accepts(old, new)
        counted = [self.state.ops.setdefault(op_name, OperatorStats())]
        counted += [policy.setdefault(arm, OperatorStats()) for arm in arms(op_name, operator, evidence)]
        for stats in counted:
            stats.tried += 1
            stats.accepted += accepted
        self.events.emit(
            ScreenEvent(
                iteration=i,
                operator=op_name,
                parent=parent.candidate.id,
                child=child.id,
                parent_score=old.accuracy,
                child_score=new.accuracy,
                accepted=accepted,
            )
        )
        if not accepted and self.ledger is not None:
            self.ledger.record_rejected(child, new.accuracy)
        if accepted:
            if not self._fits(val_request := EvalRequest(child, self.val, "val")):
                return self._out_of_rollouts(i, "validating the accepted child")
            val_eval = yield val_request
            assert isinstance(val_eval, Evaluation)
            self._add_member(Member(candidate=child, evaluation=val_eval), iteration=i)

    def _fits(self, request: EvalRequest) -> bool:
        """Whether `request`, with the work in flight, stays within the rollout budget (counting only
        examples not evaluated yet): the search never spends more rollouts than it was given."""
        limit = self.budget.max_rollouts
        if limit is None:
            return True
        pending = [j.work for j in self._jobs if isinstance(j.work, EvalRequest)]
        new = sum(self._new_rollouts(r) for r in (*pending, request))
        return len(self.state.rollouts) + new <= limit

    def _new_rollouts(self, request: EvalRequest) -> int:
        cid = request.candidate.id
        return sum(1 for ex in request.examples if (cid, ex.id) not in self.state.rollouts)

    def _out_of_rollouts(self, i: int, step: str) -> None:
        limit = self.budget.max_rollouts
        reason = f"rollout budget spent ({len(self.state.rollouts)}/{limit}; too few left for {step})"
        self.stop_reason = self.stop_reason or reason
        self.events.emit(SkipEvent(iteration=i, reason=reason))

    def _idle(self, i: int, why: str) -> None:
        self.state.idle += 1
        self.events.emit(SkipEvent(iteration=i, reason=why))

    def _choose_operator(
        self, rng: random.Random, whole: Playbook, step: str, evidence: Evidence
    ) -> str | None:
        """See `spl_opt.engine.operator_choice`. `step` names the part edited ("" for the whole)."""
        weights = operator_weights(
            self.search.operators,
            self.operators,
            self.state.policy,
            evidence,
            whole.part(step),
            priors=self.search.operator_priors,
            exhausted=[
                name
                for name, op in self.operators.items()
                if repeats(op, whole, step, evidence, self.search.editor_attempts, self.state.seen)
            ],
        )
        return choose_operator(weights, rng)

    def _record_proposal(
        self,
        i: int,
        op_name: str,
        parent: Member,
        proposal: Proposal,
        evidence: Evidence,
        found: Blame | None,
    ) -> None:
        self.events.emit(
            ProposalEvent(
                iteration=i,
                operator=op_name,
                parent=parent.candidate.id,
                proposal=proposal,
                evidence=evidence,
                step=found.step if found else "",
                blame=found.reason if found else "",
            )
        )
        if proposal.input_tokens or proposal.output_tokens or self.operators[op_name].needs_lm:
            self.state.editor = self.state.editor.add(
                proposal.input_tokens, proposal.output_tokens, proposal.latency
            )

    # ----- population ------------------------------------------------------------------------------
    def _add_member(self, member: Member, iteration: int) -> None:
        best_before = self.best()
        self.state.members.append(member)
        self.state.population.append(member)
        if len(self.state.population) > self.search.population_size:
            self.state.population = self.selector.survivors(
                self.state.population, self.search.population_size
            )
        accuracy = member.evaluation.objectives.accuracy
        if best_before is None or accuracy > best_before.evaluation.objectives.accuracy:
            self.state.last_improvement = iteration  # patience counts accuracy gains, not shorter prompts
        self.state.history.append((len(self.state.rollouts), self.best_accuracy()))
        self.events.emit(
            MemberEvent(iteration=iteration, candidate_id=member.candidate.id, evaluation=member.evaluation)
        )
        if self.ledger is not None:
            self.ledger.record_member(member)

    def best(self) -> Member | None:
        """The best member by validation accuracy, then shorter prompt."""
        return max(self.state.members, key=lambda m: m.point, default=None)

    def best_accuracy(self) -> float:
        best = self.best()
        return best.evaluation.objectives.accuracy if best else 0.0

    def front(self) -> list[Member]:
        """Every evaluated member not dominated on (accuracy up, prompt tokens down)."""
        members = self.state.members
        points = [m.point for m in members]
        unique: dict[str, Member] = {}
        for i in pareto_front(points):
            unique.setdefault(members[i].candidate.id, members[i])
        return sorted(unique.values(), key=lambda m: m.evaluation.objectives.length_tokens)

    def _budget_reason(self) -> str | None:
        if self._end is not None:
            iterations, reason = self._end
            return reason if self.state.started >= iterations else None
        if self.state.idle >= MAX_IDLE_ITERATIONS:
            return f"no operator produced a usable edit in {MAX_IDLE_ITERATIONS} iterations"
        return exhausted(
            self.budget,
            rollouts=len(self.state.rollouts),
            iterations=self.state.started,
            elapsed=time.monotonic() - self._clock,
            since_improvement=self.state.started - self.state.last_improvement,
        )

    def result(self) -> SearchResult:
        if not self.state.members:
            raise RuntimeError("no candidate was evaluated")
        best, choice = guarded_choice(self.state.members, self.state.members[0], self.search.guard_alpha)
        task = RoleUsage()
        for tokens_in, tokens_out, latency in self.state.rollouts.values():
            task = task.add(tokens_in, tokens_out, latency)
        return SearchResult(
            seed=self.state.members[0],
            best=best,
            front=tuple(self.front()),
            members=tuple(self.state.members),
            history=tuple(self.state.history),
            rollouts=len(self.state.rollouts),
            iterations=self.state.started,
            stop_reason=self.stop_reason or "stopped",
            task_usage=task,
            editor_usage=self.state.editor,
            operator_stats={k: (v.tried, v.accepted) for k, v in sorted(self.state.ops.items())},
            choice=choice,
        )
