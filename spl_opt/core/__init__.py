"""The small core: records, protocols and errors. Depends on the standard library and pydantic only."""

from spl_opt.core.errors import ConfigError, DataError, LMError, RunDirError, SplError
from spl_opt.core.records import (
    Candidate,
    Edit,
    Evaluation,
    Example,
    ExampleResult,
    Objectives,
    Playbook,
    Strategy,
    TaskData,
    content_hash,
)

__all__ = [
    "Candidate",
    "ConfigError",
    "DataError",
    "Edit",
    "Evaluation",
    "Example",
    "ExampleResult",
    "LMError",
    "Objectives",
    "Playbook",
    "RunDirError",
    "SplError",
    "Strategy",
    "TaskData",
    "content_hash",
]
