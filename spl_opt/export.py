"""`spl-opt export`: the learned prompt as text, the playbook as JSON, or a saved DSPy program."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spl_opt.core.errors import RunDirError
from spl_opt.engine.result import RunReport


def load_report(run_dir: Path) -> RunReport:
    """The finished run's report; a clear error when the run has not finished."""
    path = run_dir / "result.json"
    if not path.is_file():
        raise RunDirError(f"{run_dir} has no result.json: the run has not finished; resume it first")
    try:
        return RunReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RunDirError(f"{path}: not a valid spl-opt result ({str(exc).splitlines()[0]})") from None


def dspy_program(report: RunReport) -> object:
    """The learned DSPy program: the run's own program (rebuilt from its factory) with each
    predictor's learned instructions, or for a chat run a `dspy.Predict` over the task's input fields
    with the learned prompt as its instructions."""
    import dspy

    prompt = report.search.best.candidate.prompt
    if report.program:
        from spl_opt.programs import apply_prompt, build_program

        return apply_prompt(build_program(report.program), prompt)
    fields = ", ".join(report.input_fields)
    return dspy.Predict(dspy.Signature(f"{fields} -> answer", prompt))


def export(run_dir: Path, fmt: str, out: Path | None = None) -> Path | None:
    """Write the export to `out` (stdout for text/json when None); returns the path written, if any."""
    report = load_report(run_dir)
    best = report.search.best.candidate
    if fmt == "dspy":
        target = out or run_dir / "program.json"
        dspy_program(report).save(str(target))  # type: ignore[attr-defined]
        return target
    text = (
        best.prompt + "\n"
        if fmt == "text"
        else json.dumps(best.playbook.model_dump(mode="json"), indent=2) + "\n"
    )
    if out is None:
        sys.stdout.write(text)
        return None
    out.write_text(text, encoding="utf-8")
    return out
