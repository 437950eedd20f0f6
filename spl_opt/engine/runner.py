"""Composes a run from a RunConfig (task data, LMs, program, evaluator, operators, journal) and saves it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from spl_opt.backends.retry import RetryingBackend
from spl_opt.config import RunConfig, SearchConfig, default_run_dir
from spl_opt.core.errors import LMError, RunDirError, SplError
from spl_opt.core.protocols import Backend, Operator, Program, Scorer
from spl_opt.core.records import Candidate, Evaluation, Example, Playbook, Proposal, TaskData
from spl_opt.engine.backend_setup import (
    BackendEditor,
    local_backend,
    ray_backend,
)
from spl_opt.engine.driver import Live, done, drive
from spl_opt.engine.events import FinishedEvent, SessionEvent
from spl_opt.engine.journal import (
    CACHE,
    CONFIG,
    JOURNAL,
    Journal,
    check_resumable,
    read_config,
    write_json,
)
from spl_opt.engine.optimizer import Optimizer
from spl_opt.engine.progress import Reporter, Snapshot
from spl_opt.engine.replay import Replay
from spl_opt.engine.result import RoleUsage, RunReport
from spl_opt.engine.summary import cut_off_warning, write_outputs
from spl_opt.engine.work import ProposeRequest, Work
from spl_opt.engine.workers import scorer_for
from spl_opt.evaluators.cache import EvalCache
from spl_opt.evaluators.length import LengthCounter
from spl_opt.evaluators.metrics import example_labels, parse_number, task_labels
from spl_opt.evaluators.task import EvalRequest, TaskEvaluator
from spl_opt.ledger import OptunaLedger
from spl_opt.lm.config import LMConfig


def task_scorer(task: TaskData) -> Scorer:
    """Numeric or normalized exact match on the final answer read from free text."""
    labels = task_labels(task)
    return scorer_for("numeric" if task.metric == "numeric" else "exact", labels)


def default_operators(
    editor_lm: Any | None, train: tuple[Example, ...] = (), editor_module: Any = None
) -> dict[str, Operator]:
    """The LM editor (when an editor LM is given; `editor_module` is a tuned EditorModule) plus every
    operator that needs no LM; the answer-format operator when training examples are given."""
    from spl_opt.editor.operators import (
        AblateOperator,
        AnswerFormatOperator,
        CompressOperator,
        MergeOperator,
        WorkedExampleOperator,
    )

    ops: dict[str, Operator] = {
        "ablate": AblateOperator(),
        "merge": MergeOperator(),
        "compress": CompressOperator(),
        "worked-example": WorkedExampleOperator(),
    }
    if train:
        targets = tuple(e.target for e in train)
        numeric = all(parse_number(t) is not None for t in targets)
        ops["answer-format"] = AnswerFormatOperator(targets, example_labels(train), numeric)
    if editor_lm is not None:
        from spl_opt.editor.dspy_editor import DSPyEditor

        ops["editor"] = DSPyEditor(editor_lm, editor_module)
    return ops


def search_config(config: RunConfig) -> SearchConfig:
    """The run's search settings with a tuned editor's operator priors under the configured ones."""
    if not config.editor:
        return config.search
    from spl_opt.editor.artifact import editor_dir, read_manifest

    tuned = read_manifest(editor_dir(config.editor)).priors
    own = config.search.operator_priors
    priors = {c: {**tuned.get(c, {}), **own.get(c, {})} for c in sorted({*tuned, *own})}
    return config.search.model_copy(update={"operator_priors": priors})


def token_counter(lm: Any, config: LMConfig | None) -> LengthCounter:
    """Prompt tokens under the task model's own tokenizer when it is embedded, else an estimate."""
    engine = getattr(lm, "engine", None)
    count = getattr(engine, "count_tokens", None)
    if config is not None and config.is_embedded and count is not None:
        return LengthCounter(count)
    return LengthCounter()


def execute(
    *,
    task: TaskData,
    program: Program,
    scorer: Scorer,
    seed_playbook: Playbook,
    operators: Mapping[str, Operator],
    config: RunConfig,
    run_dir: Path,
    length: LengthCounter | None = None,
    reporter: Reporter | None = None,
    backend: Backend | None = None,
) -> RunReport:
    """Run (or resume) a search in `run_dir`, then evaluate the seed and the best prompt on test data.

    Calls run on `backend` (default: this process, see `local_backend`), which is closed at the end.
    The report's wall and LM seconds are this session's: a resumed run's replayed work costs nothing.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    reporter = reporter or Reporter(run_dir, config.budget, quiet=True, echo=False)
    log = reporter.line
    start = time.monotonic()
    journal = Journal(run_dir / JOURNAL)
    cache = EvalCache(run_dir / CACHE)

    def lost(message: str) -> None:
        journal.write(SessionEvent(kind="worker_lost", detail=message))
        log(f"  {message}")

    calls = RetryingBackend(backend or local_backend(program, scorer, operators, config), on_lost=lost)
    evaluator = TaskEvaluator(calls, namespace=program.cache_namespace, cache=cache, length=length)
    journal.write(
        SessionEvent(
            kind="resume" if journal.events else "start",
            cached_results=len(cache),
            torn_lines=journal.torn_lines + cache.skipped_lines,
        )
    )
    try:

        def propose(request: ProposeRequest) -> Future[Proposal]:
            if operators[request.operator].needs_lm:  # on the backend's workers
                return calls.propose(request.operator, request.parent, request.evidence, request.attempts)
            return done(optimizer.propose_here(request))

        replay = Replay(journal, Live(evaluator, propose))
        optimizer = Optimizer(
            Candidate(playbook=seed_playbook),
            task.train,
            task.val,
            operators,
            replay,
            search=search_config(config),
            budget=config.budget,
            random_seed=config.seed,
            ledger=OptunaLedger(run_dir, study_name=task.name, storage=config.storage),
        )

        def check(work: Work, result: Evaluation | Proposal) -> None:
            if not isinstance(work, EvalRequest) or not isinstance(result, Evaluation):
                return
            if result.results and all(r.error for r in result.results):  # the LM is down, not wrong:
                what = "validation example" if work.split == "val" else f"{work.split} example"
                raise LMError(  # stop before the optimizer sees it, so a resume redoes these calls
                    f"the task LM failed on every {what} of {work.candidate.id}: {result.results[0].error}; "
                    f"the run stopped; `spl-opt resume {run_dir}` continues once it answers"
                )
            if work.split == "val":
                log(
                    f"  val {result.objectives.accuracy:.3f}  len {result.objectives.length_tokens:4d}  "
                    f"[{work.candidate.operator}] {work.candidate.id}  (rollouts "
                    f"{len(optimizer.state.rollouts) + len(work.examples)})"
                )
                warning = (
                    cut_off_warning(result, "seed validation") if work.candidate.generation == 0 else None
                )
                if warning:
                    log(f"  {warning}")

        def progress(opt: Optimizer) -> None:
            reporter.update(
                Snapshot(
                    rollouts=len(opt.state.rollouts),
                    best_accuracy=opt.best_accuracy(),
                    front_size=len(opt.front()),
                    iterations=opt.state.started,
                    failed_calls=evaluator.failed_calls,
                )
            )

        search = drive(optimizer, replay, before_tell=check, after_tell=progress)
        log(f"search stopped: {search.stop_reason}")
        if search.choice is not None and search.choice.chosen != search.choice.top:
            log(f"choice: {search.choice.note}")
        seed_test = best_test = None
        if task.test:
            seed_test, best_test = evaluator.evaluate_many(
                [
                    EvalRequest(search.seed.candidate, task.test, "test"),
                    EvalRequest(search.best.candidate, task.test, "test"),
                ]
            )
    finally:
        calls.close()
        cache.close()
        reporter.close()
    test_usage = RoleUsage()
    tested = [ev for ev in (seed_test, best_test) if ev is not None]
    unique = {(ev.candidate_id, r.example_id): r for ev in tested for r in ev.results}
    for r in unique.values():
        test_usage = test_usage.add(r.input_tokens, r.output_tokens, r.latency)
    lm_seconds = evaluator.fresh_seconds + replay.fresh_proposal_seconds
    report = RunReport(
        task=task.name,
        search=search,
        seed_test=seed_test,
        best_test=best_test,
        test_usage=test_usage,
        wall_seconds=time.monotonic() - start,
        lm_seconds=lm_seconds,
        input_fields=tuple(task.train[0].inputs),
        program=config.program,
        failed_calls=evaluator.failed_calls,
        reports_truncation=getattr(program, "reports_truncation", False),
    )
    replay.emit(
        FinishedEvent(
            stop_reason=search.stop_reason,
            best=search.best.candidate.id,
            iterations=search.iterations,
            choice=search.choice,
        )
    )
    journal.close()
    write_outputs(run_dir, report)
    return report


def _same_run(saved: dict[str, Any], config: RunConfig) -> bool:
    from spl_opt.config import validate_config

    try:  # through validation, so that settings added since the run was saved take their defaults
        return validate_config(saved).identity() == config.identity()
    except SplError:
        return False


def task_of(config: RunConfig) -> TaskData:
    """The task data a configuration names, split as the run splits it."""
    from spl_opt.tasks.registry import resolve_task

    return resolve_task(
        config.task,
        data_dir=Path(config.data_dir) if config.data_dir else None,
        data_file=Path(config.data_file) if config.data_file else None,
        n_train=config.n_train,
        n_val=config.n_val,
        n_test=config.n_test,
        seed=config.seed,
    )


def task_program(config: RunConfig, task_lm: Any) -> Program:
    """The CLI's task program, cached under the task LM's configuration: one chat call, or the DSPy
    program `config.program` names."""
    from spl_opt.programs import ChatProgram, DSPyProgram, build_program

    if config.program:
        namespace = f"dspy-{config.program}-{config.task_lm.cache_key()}"
        return DSPyProgram(build_program(config.program), task_lm, namespace=namespace)
    return ChatProgram(task_lm, namespace=f"chat-{config.task_lm.cache_key()}")


def seed_of(config: RunConfig, task: TaskData) -> Playbook:
    """The run's seed playbook: `seed_prompt`, else a program's own instructions (one part per
    predictor), else the task's seed prompt."""
    if config.seed_prompt or not config.program:
        return Playbook(preamble=config.seed_prompt or task.seed_prompt)
    from spl_opt.programs import build_program, seed_playbook

    return seed_playbook(build_program(config.program))


def run_config(config: RunConfig, *, echo: bool = True) -> tuple[RunReport, Path]:
    """The CLI's main job: optimize the system prompt of a built-in or file task on the configured LMs."""
    from spl_opt.lm.config import build_lm

    task = task_of(config)
    uses_editor = config.search.operators.get("editor", 0) > 0
    for lm in (config.task_lm, config.editor_lm) if uses_editor else (config.task_lm,):
        lm.check_key()  # a missing key fails now, not after the validation set
    if config.editor:
        from spl_opt.editor.artifact import editor_dir, read_manifest

        read_manifest(editor_dir(config.editor))  # a wrong path fails now, before any model loads
    seed = seed_of(config, task)  # so does a program factory that cannot be imported
    run_dir = Path(config.run_dir) if config.run_dir else default_run_dir(config)
    if (run_dir / CONFIG).exists() and not _same_run(read_config(run_dir), config):
        raise RunDirError(
            f"{run_dir} holds a different run; use `spl-opt resume {run_dir}` or another --run-dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG, config.model_dump(mode="json"))
    reporter = Reporter(run_dir, config.budget, quiet=config.quiet, echo=echo)
    reporter.line(
        f"task {task.name}: {len(task.train)} train / {len(task.val)} val / {len(task.test)} test; "
        f"task LM {config.task_lm.model}, editor LM {config.editor_lm.model}; run dir {run_dir}"
    )
    uses_editor = config.search.operators.get("editor", 0) > 0
    backend: Backend | None = None
    try:
        task_lm = build_lm(config.task_lm)  # in the driver too: prompt lengths use its tokenizer
        describe = getattr(getattr(task_lm, "engine", None), "describe", None)
        if describe is not None:
            reporter.line(describe())
        program = task_program(config, task_lm)
        if config.backend.kind == "ray":
            ray = ray_backend(config, task, program.cache_namespace)
            backend = ray
            reporter.line(
                f"Ray: {config.backend.workers} worker(s) on {len({n for _, n in ray.placement})} node(s), "
                f"started in {ray.start_seconds:.1f} s"
            )
            operators = default_operators(None, task.train)
            if uses_editor:
                operators["editor"] = BackendEditor(backend, "editor")
        else:
            editor_lm = build_lm(config.editor_lm) if uses_editor else None
            tuned = None
            if uses_editor and config.editor:
                from spl_opt.editor.artifact import editor_dir, load_editor_module

                tuned = load_editor_module(editor_dir(config.editor))
            operators = default_operators(editor_lm, task.train, tuned)
    except BaseException:
        if backend is not None:
            backend.close()
        reporter.close()
        raise
    report = execute(
        task=task,
        program=program,
        scorer=task_scorer(task),
        seed_playbook=seed,
        operators=operators,
        config=config,
        run_dir=run_dir,
        length=token_counter(task_lm, config.task_lm),
        reporter=reporter,
        backend=backend,
    )
    if config.mlflow:
        from spl_opt.engine.tracking import log_run

        log_run(config.mlflow, config, report, run_dir)
    return report, run_dir


def resume(
    run_dir: Path,
    *,
    quiet: bool | None = None,
    echo: bool = True,
    backend: dict[str, Any] | None = None,
    workers: int | None = None,
) -> tuple[RunReport, Path]:
    """Continue a killed run from its directory: finished evaluations and proposals are replayed.

    `backend` and `workers` override the saved settings (a session may run elsewhere than the last).
    """
    from spl_opt.config import validate_config

    check_resumable(run_dir)
    saved = validate_config(read_config(run_dir))
    session = {**saved.backend.model_dump(mode="json"), **(backend or {})}
    if workers is not None:
        session["workers"] = workers
    if session["kind"] == "thread":
        session["address"] = None  # a thread session does not join the cluster of an earlier one
    config = validate_config({**saved.model_dump(mode="json"), "backend": session})
    update: dict[str, Any] = {"run_dir": str(run_dir)}
    if quiet is not None:
        update["quiet"] = quiet
    return run_config(config.model_copy(update=update), echo=echo)
