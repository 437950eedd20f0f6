"""`spl-opt dashboard`: optuna-dashboard on a run's ledger (the study the run recorded)."""

from __future__ import annotations

from pathlib import Path

from spl_opt.core.errors import RunDirError, SplError
from spl_opt.engine.journal import CONFIG, read_config
from spl_opt.ledger import STUDY_FILE, open_storage


def serve(run_dir: Path, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the dashboard until interrupted."""
    storage_url = read_config(run_dir).get("storage") if (run_dir / CONFIG).is_file() else None
    if not storage_url and not (run_dir / STUDY_FILE).is_file():
        raise RunDirError(f"{run_dir} has no Optuna ledger ({STUDY_FILE}) yet")
    try:
        from optuna_dashboard import run_server
    except ImportError as exc:
        raise SplError("optuna-dashboard is not installed: pip install optuna-dashboard") from exc
    print(f"optuna-dashboard on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    run_server(open_storage(storage_url, run_dir), host=host, port=port)
