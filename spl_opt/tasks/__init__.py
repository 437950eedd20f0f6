"""Tasks: built-in generators, data-file loading, and resolving a task spec into split TaskData."""

from spl_opt.tasks.files import load_examples
from spl_opt.tasks.letters import generate_letters
from spl_opt.tasks.registry import available_bbh_tasks, default_data_dir, resolve_task

__all__ = ["available_bbh_tasks", "default_data_dir", "generate_letters", "load_examples", "resolve_task"]
