"""Online System Prompt Learning: `Learner` (answer, take feedback, review in gated steps), the
versioned `PlaybookStore`, the promotion `gate`, and the OpenAI-compatible server (`spl-opt serve`)."""

from spl_opt.online.learner import Answer, Learner, Review
from spl_opt.online.store import FeedbackError, Outcome, PlaybookStore, StoreError, Version

__all__ = [
    "Answer",
    "FeedbackError",
    "Learner",
    "Outcome",
    "PlaybookStore",
    "Review",
    "StoreError",
    "Version",
]
