"""Optional MLflow logging of a finished run: parameters, metrics and artifacts (`--mlflow URI`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spl_opt.config import RunConfig
from spl_opt.core.errors import SplError
from spl_opt.engine.result import RunReport


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


def metrics_of(report: RunReport) -> dict[str, float]:
    s = report.search
    metrics = {
        "seed_val_accuracy": s.seed.evaluation.objectives.accuracy,
        "learned_val_accuracy": s.best.evaluation.objectives.accuracy,
        "learned_prompt_tokens": float(s.best.evaluation.objectives.length_tokens),
        "rollouts": float(s.rollouts),
        "iterations": float(s.iterations),
        "task_tokens": float(s.task_usage.input_tokens + s.task_usage.output_tokens),
        "editor_tokens": float(s.editor_usage.input_tokens + s.editor_usage.output_tokens),
        "wall_seconds": report.wall_seconds,
    }
    if report.seed_test is not None and report.best_test is not None:
        metrics["seed_test_accuracy"] = report.seed_test.objectives.accuracy
        metrics["learned_test_accuracy"] = report.best_test.objectives.accuracy
    return metrics


def log_run(uri: str, config: RunConfig, report: RunReport, run_dir: Path) -> str:
    """Log the run to MLflow at `uri`; returns the MLflow run id."""
    try:
        import mlflow
    except ImportError as exc:
        raise SplError("MLflow logging needs the extra: pip install 'spl-opt[mlflow]'") from exc
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("spl-opt")
    with mlflow.start_run(run_name=f"{report.task} {run_dir.name}") as run:
        mlflow.log_params(_flatten(config.model_dump(mode="json")))
        mlflow.log_metrics(metrics_of(report))
        for rollouts, accuracy in report.search.history:
            mlflow.log_metric("best_val_accuracy", accuracy, step=rollouts)
        for name in ("summary.md", "prompt.txt", "playbook.json", "result.json"):
            if (run_dir / name).is_file():
                mlflow.log_artifact(str(run_dir / name))
        return str(run.info.run_id)
