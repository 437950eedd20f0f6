"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class SplError(Exception):
    """Base for every error spl-opt raises on purpose."""


class ConfigError(SplError):
    """The configuration is invalid; the message names the key and the problem."""


class DataError(SplError):
    """A dataset is missing or malformed; the message names the file and line."""


class LMError(SplError):
    """A language model could not be built or loaded (not one failed call: those are recorded)."""


class RunDirError(SplError):
    """A run directory is missing, foreign, or cannot be resumed."""


class WorkerLost(SplError):
    """A worker process or node died before it finished a call; the caller may retry elsewhere."""
