"""Which edit operator an iteration tries: a bandit over operators, conditioned on the evidence (pure).

The evidence of a parent falls in one context (`evidence_context`): most of its failures are answers in
the wrong form (`format`), it has other failures (`wrong`), or none (`clean`). For each (context,
operator) the policy keeps a Beta posterior of "this operator's child passes screening": a prior
(alpha, beta), learned across runs by `spl-opt tune-editor` and saved with the editor, plus this run's
screening outcomes in that context. An operator is drawn with probability proportional to its
configured base weight times the posterior odds of acceptance, (alpha + accepted) / (beta + rejected):
probability matching, so an operator that keeps failing fades but is never ruled out, and one that
keeps succeeding in a context is drawn more in that context.

The default prior is uniform (1, 1) except for the answer-format operator on format failures, where
it is (9, 1): on small task models stating the answer's form is the edit that fixes most such
failures (`benchmarks/format_rule.py`). Tuned priors replace the defaults they name. An arm the
tuning never measured in a context it did measure gets that context's pooled tuned rate, as sure as
the average measured arm (`pooled`), not the uniform prior: weights compare posterior odds, and
uniform odds of 1 beside measured odds of 0.1 to 0.4 would favour whatever the tuning never tried.

An operator that lists `kinds` (the LM editor: add, revise, delete, preamble, example) is then asked
for one kind of edit (of those `search.editor_kinds` allows: "example" is opt-in), drawn the same way
among its kinds and "any" (it chooses), each a (context, arm) of its own: `editor:add`, ...,
`editor:any`, with uniform default priors. So the policy learns, per context, which kind of edit
passes screening, as it learns which operator does.

An operator that needs no LM is deterministic given its parent and evidence; if its child would be a
candidate the search has already evaluated, it is not drawn (the caller checks, see `Optimizer`).
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from spl_opt.core.edits import EditError, apply_edits_to
from spl_opt.core.protocols import Evidence, Operator
from spl_opt.core.records import Playbook
from spl_opt.editor.solutions import solvable

CONTEXTS = ("format", "wrong", "clean")
Priors = Mapping[str, Mapping[str, tuple[float, float]]]  # context -> operator -> (alpha, beta)
DEFAULT_PRIORS: dict[str, dict[str, tuple[float, float]]] = {"format": {"answer-format": (9.0, 1.0)}}
UNIFORM = (1.0, 1.0)


@dataclass
class OperatorStats:
    """How often an operator's child was screened, and how often it was accepted."""

    tried: int = 0
    accepted: int = 0

    @property
    def rejected(self) -> int:
        return self.tried - self.accepted


def format_share(evidence: Evidence) -> float:
    """The share of `evidence`'s failures whose outcome says the answer's form failed: nothing could be
    read, a wrong answer stood without a final-answer marker, or the output was cut off at the
    generation limit before it finished (0 without failures)."""
    failures = evidence.failures
    return sum(f.outcome == "no_answer" for f in failures) / len(failures) if failures else 0.0


def evidence_context(evidence: Evidence) -> str:
    """The context the policy conditions on (one of CONTEXTS)."""
    if not evidence.failures:
        return "clean"
    return "format" if format_share(evidence) >= 0.5 else "wrong"


def prior(priors: Priors | None, context: str, operator: str) -> tuple[float, float]:
    """The (alpha, beta) prior of `operator` (or kind arm) in `context`: the tuned one if given, else
    the default, else the pooled tuned prior of its siblings in `context` (operators, or kind arms),
    else uniform."""
    for table in (priors or {}, DEFAULT_PRIORS):
        if operator in table.get(context, {}):
            return tuple(table[context][operator])  # type: ignore[return-value]
    tuned = (priors or {}).get(context, {})
    return pooled([ab for arm, ab in tuned.items() if (":" in arm) == (":" in operator)])


def pooled(arms: Collection[tuple[float, float]]) -> tuple[float, float]:
    """One prior standing for arms with (alpha, beta) priors over a uniform base: their pooled rate
    of acceptance, with their mean number of observations (uniform if they observed nothing)."""
    accepted = sum(a - 1 for a, _ in arms)
    observed = sum(a + b - 2 for a, b in arms)
    if observed <= 0:
        return UNIFORM
    rate, n = accepted / observed, observed / len(arms)
    return round(1 + rate * n, 3), round(1 + (1 - rate) * n, 3)


def operator_weights(
    base: Mapping[str, float],
    available: Mapping[str, Operator],
    stats: Mapping[tuple[str, str], OperatorStats],
    evidence: Evidence,
    parent: Playbook,
    *,
    priors: Priors | None = None,
    exhausted: Collection[str] = (),
) -> dict[str, float]:
    """Weight per operator that is available, has a positive base weight, applies to the parent
    (`Operator.applies`) and is not in `exhausted` (would repeat an evaluated child); sorted by name.
    `stats` holds this run's screening outcomes by (context, operator)."""
    context = evidence_context(evidence)
    weights: dict[str, float] = {}
    for name, weight in sorted(base.items()):
        if name not in available or weight <= 0 or name in exhausted:
            continue
        if not available[name].applies(parent, evidence):
            continue
        alpha, beta = prior(priors, context, name)
        s = stats.get((context, name), OperatorStats())
        weights[name] = weight * (alpha + s.accepted) / (beta + s.rejected)
    return weights


def choose_operator(weights: Mapping[str, float], rng: random.Random) -> str | None:
    """One operator drawn by `weights` with `rng`; None when no operator applies."""
    if not weights:
        return None
    names = list(weights)
    return rng.choices(names, [weights[n] for n in names])[0]


def repeats(
    operator: Operator, whole: Playbook, step: str, evidence: Evidence, attempts: int, seen: Collection[str]
) -> bool:
    """Whether `operator` needs no LM (so is deterministic) and its child of `whole` (editing part
    `step`, or the whole for "") on this evidence is a candidate already evaluated (in `seen`):
    drawing it would waste the iteration."""
    target = whole.part(step)
    if operator.needs_lm or not operator.applies(target, evidence):
        return False
    proposal = operator.propose(target, evidence, attempts)
    try:
        return bool(proposal.edits) and apply_edits_to(whole, step, proposal.edits).id in seen
    except EditError:
        return False


def kind_arm(operator: str, kind: str) -> str:
    """The policy's arm for `operator` asked for an edit of `kind` ("" lets the operator choose)."""
    return f"{operator}:{kind or 'any'}"


def arms(name: str, operator: Operator, evidence: Evidence) -> list[tuple[str, str]]:
    """The (context, arm) keys a screening outcome of `operator` on `evidence` counts for: the
    operator, and for an operator with `kinds` the kind it was asked for."""
    context = evidence_context(evidence)
    keys = [(context, name)]
    if getattr(operator, "kinds", ()):
        keys.append((context, kind_arm(name, evidence.kind)))
    return keys


def kind_weights(
    name: str,
    operator: Operator,
    stats: Mapping[tuple[str, str], OperatorStats],
    evidence: Evidence,
    parent: Playbook,
    *,
    priors: Priors | None = None,
    only: Collection[str] | None = None,
) -> dict[str, float]:
    """Weight per kind of edit `operator` can be asked for (of `only`, if given) on `parent` ("": it
    chooses), as for operators: the posterior odds of acceptance of each (context, kind) arm. Revise
    and delete need a strategy; an example, a failure with a known answer not shown yet
    (`solutions.solvable`). Empty for an operator without `kinds`."""
    kinds = tuple(getattr(operator, "kinds", ()))
    if not kinds:
        return {}
    context = evidence_context(evidence)
    weights: dict[str, float] = {}
    for kind in ("", *kinds):
        if only is not None and kind and kind not in only:
            continue
        if kind in ("revise", "delete") and not parent.strategies:
            continue
        if kind == "example" and not solvable(parent, evidence):
            continue
        alpha, beta = prior(priors, context, kind_arm(name, kind))
        s = stats.get((context, kind_arm(name, kind)), OperatorStats())
        weights[kind] = (alpha + s.accepted) / (beta + s.rejected)
    return weights


def with_kind(evidence: Evidence, weights: Mapping[str, float], rng: random.Random) -> Evidence:
    """`evidence` asking for a kind of edit drawn by `weights` (`kind_weights`; empty: unchanged)."""
    if not weights:
        return evidence
    kind = rng.choices(list(weights), list(weights.values()))[0]
    return evidence.model_copy(update={"kind": kind})
