"""Acceptance rules: whether a child screened on its parent's minibatch goes on to validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from spl_opt.core.records import Objectives


class AcceptanceRule(Protocol):
    """Decides from the parent's and the child's objectives on the same minibatch; pure, no I/O."""

    def accepts(self, parent: Objectives, child: Objectives) -> bool: ...


@dataclass(frozen=True)
class BetterOrShorter:
    """Accept a child more accurate than its parent, or as accurate with a shorter prompt."""

    def accepts(self, parent: Objectives, child: Objectives) -> bool:
        return child.accuracy > parent.accuracy or (
            child.accuracy == parent.accuracy and child.length_tokens < parent.length_tokens
        )
