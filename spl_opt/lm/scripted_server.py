"""A model server with scripted answers and injected faults, speaking `model_server`'s protocol.

For tests of crash containment (yours and ours), with no model and in milliseconds:

    python -m spl_opt.lm.scripted_server FD SCRIPT.json

The script (JSON): `answer` (text of every reply, default "Answer: 4"), `load` ("ok", "error" or a
signal name such as "SIGSEGV": what happens while loading), `faults` (request number -> "SIGSEGV",
"SIGKILL", "hang" or "exit"), `counter` (a file counting requests across restarts), `selftest`
("ok" or a fault, for the self-test request). Request numbers count every request but self-tests,
from 1, over the life of the counter file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


def _fault(kind: str) -> None:
    if kind == "hang":
        time.sleep(3600)
    elif kind == "exit":
        os._exit(3)
    else:
        os.kill(os.getpid(), getattr(signal, kind))
        time.sleep(5)


def _next_request(counter: Path) -> int:
    n = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    return n


def serve(conn: Any, script: dict[str, Any]) -> None:
    load = script.get("load", "ok")
    if load == "error":
        conn.send({"ok": False, "error": "llama.cpp could not load the model: scripted load error"})
        return
    if load != "ok":
        _fault(load)
    conn.send({"ok": True, "result": {"scripted": True, "pid": os.getpid()}})
    counter = Path(script["counter"]) if script.get("counter") else None
    answer = script.get("answer", "Answer: 4")
    n = 0
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):
            return
        op = req.get("op")
        if op == "selftest":
            if script.get("selftest", "ok") != "ok":
                _fault(script["selftest"])
            conn.send({"ok": True, "result": {"text": "OK", "seconds": 0.0}})
            continue
        n = _next_request(counter) if counter is not None else n + 1
        fault = script.get("faults", {}).get(str(n))
        if fault:
            conn.send({"progress": True})
            _fault(fault)
        one = {"text": answer, "finish_reason": "stop", "input_tokens": 10, "output_tokens": 3}
        if op == "chat":
            conn.send({"ok": True, "result": one})
        elif op == "batch":
            conn.send({"ok": True, "result": [one for _ in req["users"]]})
        elif op == "tokens":
            conn.send({"ok": True, "result": len(req["text"].split())})
        else:
            conn.send({"ok": False, "error": f"unknown request {op!r}"})


def command_for(script_path: Path) -> Any:
    """A `ModelProcess(command=...)` that starts this server with the script at `script_path`."""

    def command(fd: int, spec: Any) -> list[str]:
        return [sys.executable, "-m", "spl_opt.lm.scripted_server", str(fd), str(script_path)]

    return command


def main() -> None:
    fd, script_path = int(sys.argv[1]), sys.argv[2]
    conn = Connection(socket.socket(fileno=fd).detach())
    serve(conn, json.loads(Path(script_path).read_text()))


if __name__ == "__main__":
    main()
