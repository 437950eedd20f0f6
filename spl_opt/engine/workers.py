"""Worker specs: what a worker process needs to build its Worker itself, as plain configuration.

Remote workers (Ray actors) receive a `WorkerSpec`, never an LM client: each builds its LMs once, from
LMConfig, and reads any API key from its own environment. A spec holds no secrets.
"""

from __future__ import annotations

import os
import threading
from typing import Literal

from spl_opt.core.protocols import Evidence, Program, Scorer
from spl_opt.core.records import EDITOR_KINDS, Playbook, Proposal, Record, TaskData
from spl_opt.evaluators.metrics import Score, exact_match, numeric_match, task_labels
from spl_opt.evaluators.worker import Worker
from spl_opt.lm.config import LMConfig


def scorer_for(metric: str, labels: tuple[str, ...] | None) -> Scorer:
    """Numeric or normalized exact match on the final answer read from free text."""
    if metric == "numeric":
        return lambda ex, out: _pair(numeric_match(ex.target, out.text))
    return lambda ex, out: _pair(exact_match(ex.target, out.text, labels))


def _pair(score: Score) -> tuple[float, str, str]:
    return score.value, score.feedback, score.outcome


class LazyEditor:
    """The LM editor, built from its LMConfig on first use (a worker that only evaluates never loads it)."""

    name = "editor"
    needs_lm = True
    kinds = EDITOR_KINDS

    def applies(self, parent: Playbook, evidence: Evidence) -> bool:
        return bool(evidence.failures)

    def __init__(self, config: LMConfig, tuned: str | None = None) -> None:
        self.config = config
        self.tuned = tuned  # a tuned editor's directory (`spl_opt.editor.artifact`)
        self._editor: object | None = None
        self._lock = threading.Lock()

    def propose(self, parent: Playbook, evidence: Evidence, n: int = 1) -> Proposal:
        with self._lock:
            if self._editor is None:
                from spl_opt.editor.artifact import editor_dir, load_editor_module
                from spl_opt.editor.dspy_editor import DSPyEditor
                from spl_opt.lm.config import build_lm

                module = load_editor_module(editor_dir(self.tuned)) if self.tuned else None
                self._editor = DSPyEditor(build_lm(self.config), module)
        return self._editor.propose(parent, evidence, n)  # type: ignore[attr-defined]


class WorkerSpec(Record):
    """A picklable factory of Workers: the task LM, the editor LM (optional), and the metric."""

    task_lm: LMConfig
    editor_lm: LMConfig | None = None
    editor: str | None = None  # a tuned editor's directory, readable where the worker runs
    program: str | None = None  # a DSPy program's factory, `module:function`, importable on the worker
    metric: Literal["numeric", "exact"] = "exact"
    labels: tuple[str, ...] | None = None
    namespace: str

    @classmethod
    def for_task(
        cls,
        task: TaskData,
        task_lm: LMConfig,
        editor_lm: LMConfig | None,
        namespace: str,
        editor: str | None = None,
        program: str | None = None,
    ) -> WorkerSpec:
        labels = task_labels(task)
        metric = "numeric" if task.metric == "numeric" else "exact"
        return cls(
            task_lm=task_lm,
            editor_lm=editor_lm,
            editor=editor,
            program=program,
            metric=metric,
            labels=labels,
            namespace=namespace,
        )

    def __call__(self) -> Worker:
        """Build the worker: the task LM now (a broken model fails here), the editor LM on first use."""
        from spl_opt.lm.config import build_lm
        from spl_opt.programs import ChatProgram, DSPyProgram, build_program

        lm = build_lm(self.task_lm)
        program: Program = (
            DSPyProgram(build_program(self.program), lm, namespace=self.namespace)
            if self.program
            else ChatProgram(lm, namespace=self.namespace)
        )
        editors = {"editor": LazyEditor(self.editor_lm, self.editor)} if self.editor_lm is not None else {}
        names = {c.api_key_env for c in (self.task_lm, self.editor_lm) if c is not None and c.api_key_env}
        secrets = tuple(v for v in (os.environ.get(n) for n in sorted(names)) if v)
        return Worker(program, scorer_for(self.metric, self.labels), editors, secrets)
