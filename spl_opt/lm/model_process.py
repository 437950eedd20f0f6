"""The embedded model in a process of its own, so a native crash, an OOM kill or a hang is contained.

`ModelProcess` starts `spl_opt.lm.model_server` (or any server speaking its protocol, such as the
scripted one in `spl_opt.testing`) over a socket pair, waits for its load report, and runs a
self-test that decodes a few tokens: a broken install fails in seconds, before a search starts.

Each request is retried once in a fresh process if the process dies (a signal, an exit) or stops
reporting progress for `stall_timeout` seconds (it is then killed); a second failure is one `LMError`
line saying what died, with which signal, and what to do. The caller (the evaluator) records that as
a failed call, never as a lost run. Processes are shared per model spec within a Python process and
stopped at exit; a server also dies with its parent.
"""

from __future__ import annotations

import atexit
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from spl_opt.core.errors import LMError
from spl_opt.lm import cpu

log = logging.getLogger("spl_opt.lm")

LOAD_TIMEOUT = 300.0  # seconds to load a model and answer the self-test
STALL_TIMEOUT = 120.0  # seconds without progress after which a server counts as hung


@dataclass(frozen=True)
class ModelSpec:
    """What one model process serves: a GGUF file, its context, threads and batch shape."""

    path: str
    n_ctx: int = 4096
    n_threads: int = 1
    n_seq: int = 16  # sequences decoded together by a batch request
    batch_ctx: int = 8192  # KV cells of the batch context (shared prefix + every sequence)
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or Path(self.path).name


Command = Callable[[int, ModelSpec], list[str]]


def server_command(fd: int, spec: ModelSpec) -> list[str]:
    return [
        sys.executable, "-m", "spl_opt.lm.model_server", str(fd), spec.path,
        str(spec.n_ctx), str(spec.n_threads), str(spec.n_seq), str(spec.batch_ctx),
    ]  # fmt: skip


def describe_exit(returncode: int | None) -> str:
    """`died with SIGSEGV (signal 11)`, `exited with code 3`, ..."""
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"died with {name} (signal {-returncode})"
    return f"exited with code {returncode}"


def advice(returncode: int | None) -> str:
    if returncode == -signal.SIGKILL:
        return "it was killed, most likely for lack of memory: free memory or use a smaller model"
    if returncode in (-signal.SIGSEGV, -signal.SIGILL, -signal.SIGBUS, -signal.SIGABRT):
        return f"the llama.cpp build may not suit this CPU: {cpu.REINSTALL_HINT}"
    if returncode is None:
        return "raise the stall timeout if the model is just slow"
    return "see the model log for details"


def check_model_file(path: str) -> None:
    """One-line errors for a missing file, a file that is not GGUF, or a model too big for memory."""
    file = Path(path)
    if not file.is_file():
        raise LMError(f"model file not found: {path}")
    with file.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise LMError(f"{path} is not a GGUF model file (llama.cpp needs GGUF weights)")
    available = available_memory()
    need = file.stat().st_size + 256 * 2**20
    if available is not None and need > available:
        raise LMError(
            f"model {file.name} needs about {need / 2**30:.1f} GiB of memory; "
            f"only {available / 2**30:.1f} GiB are available"
        )


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Died(Exception):
    """The server process died or hung during a request (internal: triggers restart and retry)."""

    def __init__(self, returncode: int | None, hung: bool = False) -> None:
        self.returncode, self.hung = returncode, hung


class ModelProcess:
    """A client of one model server process; thread safe (requests are serialized)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        command: Command = server_command,
        load_timeout: float = LOAD_TIMEOUT,
        stall_timeout: float = STALL_TIMEOUT,
        check_file: bool = True,
    ) -> None:
        self.spec = spec
        self.command = command
        self.load_timeout = load_timeout
        self.stall_timeout = stall_timeout
        self.check_file = check_file
        self.info: dict[str, Any] = {}
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._log: Any = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ----- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Start the server if it is not running: load, then self-test. Raises LMError (one line)."""
        with self._lock:
            self._ensure()
            return self.info

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self.check_file:
            check_model_file(self.spec.path)
        self._spawn()
        try:
            self.info = self._receive(self.load_timeout)
            selftest = self._call({"op": "selftest"}, self.load_timeout)
        except _Died as died:
            raise LMError(
                f"the embedded model process ({self.spec.name}) {self._what(died)} while loading or "
                f"self-testing{self._log_tail()}; {advice(died.returncode)}"
            ) from None
        except LMError:
            self._stop()
            raise
        self.info["selftest_seconds"] = selftest.get("seconds")

    def _spawn(self) -> None:
        self._stop()
        parent, child = socket.socketpair()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server process
        try:
            self._proc = subprocess.Popen(
                self.command(child.fileno(), self.spec),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                start_new_session=True,  # a Ctrl-C reaches the run, which stops the server itself
            )
        finally:
            child.close()
        self._conn = Connection(parent.detach())

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()

    # ----- requests ----------------------------------------------------------------------------------
    def request(self, op: str, **payload: Any) -> Any:
        """Run one request; on a crash or hang restart the server and retry once."""
        with self._lock:
            self._ensure()
            try:
                return self._call({"op": op, **payload}, self.stall_timeout)
            except _Died as died:
                first = died
            self.restarts += 1
            log.warning(
                "the embedded model process (%s) %s during a call%s; restarting it and retrying the call",
                self.spec.name, self._what(first), self._log_tail(),
            )  # fmt: skip
            self._ensure()
            try:
                return self._call({"op": op, **payload}, self.stall_timeout)
            except _Died as died:
                raise LMError(
                    f"the embedded model process ({self.spec.name}) {self._what(died)} twice in a row "
                    f"on the same call{self._log_tail()}; {advice(died.returncode)}"
                ) from None

    def _call(self, message: dict[str, Any], timeout: float) -> Any:
        assert self._conn is not None
        try:
            self._conn.send(message)
        except (OSError, EOFError):
            raise self._died() from None
        return self._receive(timeout)

    def _receive(self, timeout: float) -> Any:
        """The reply to the request in flight, skipping progress messages; `timeout` counts from the
        last message received."""
        assert self._conn is not None
        while True:
            try:
                ready = self._conn.poll(timeout)
                reply = self._conn.recv() if ready else None
            except (OSError, EOFError):
                raise self._died() from None
            if reply is None:
                raise self._died(hung=True)
            if reply.get("progress"):
                continue
            if reply.get("ok"):
                return reply.get("result")
            raise LMError(f"the embedded model ({self.spec.name}): {reply.get('error')}")

    def _died(self, hung: bool = False) -> _Died:
        proc = self._proc
        code: int | None = None
        if proc is not None:
            if hung:
                proc.kill()
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        self._stop()
        return _Died(None if hung else code, hung)

    def _what(self, died: _Died) -> str:
        if died.hung:
            return f"did not answer for {self.stall_timeout:.0f} s and was stopped"
        return describe_exit(died.returncode)

    def _log_tail(self) -> str:
        """`: <last line the server printed>`, for a message, or ''."""
        if self._log is None:
            return ""
        try:
            self._log.seek(0)
            lines = [
                ln.strip() for ln in self._log.read().decode("utf-8", "replace").splitlines() if ln.strip()
            ]
        except (OSError, ValueError):
            return ""
        return f" (its last words: {lines[-1][:200]!r})" if lines else ""


_shared: dict[ModelSpec, ModelProcess] = {}
_shared_lock = threading.Lock()


def shared_process(spec: ModelSpec) -> ModelProcess:
    """The one ModelProcess per spec in this Python process (started on first request)."""
    with _shared_lock:
        if spec not in _shared:
            _shared[spec] = ModelProcess(spec)
        return _shared[spec]


@atexit.register
def _close_all() -> None:
    with _shared_lock:
        for process in _shared.values():
            process.close()
        _shared.clear()
