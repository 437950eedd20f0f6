"""The embedded model's own process: loads llama.cpp and one GGUF model, then answers requests.

Started by `spl_opt.lm.model_process.ModelProcess` as `python -m spl_opt.lm.model_server FD`, where
FD is one end of a socket pair. Messages are pickled dicts (`multiprocessing.connection` framing):

    request  {"op": "chat", "messages", "max_tokens", "temperature", "stop", "seed"}
             {"op": "batch", "system", "users", "max_tokens", "stop"}      greedy, shared prefix
             {"op": "tokens", "text"}                                     count tokens
             {"op": "selftest"}                                           decode a few tokens
    replies  {"progress": True}     while working (a silent process is a hung one)
             {"ok": True, "result": ...} or {"ok": False, "error": "one line"}

The first message is the load report: {"ok": True, "result": info} or {"ok": False, "error": ...}.
The process dies with its parent (PR_SET_PDEATHSIG) and exits when the pipe closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from spl_opt.lm import cpu

PROGRESS_EVERY = 1.0  # seconds between progress messages


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):  # not Linux: the closed pipe still ends the loop
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _mapped(soname: str) -> str:
    """The path of the already loaded library `soname` (wheels hold copies, not symlinks, of
    libggml.so, .so.0 and .so.0.x: loading another copy would start a second backend registry)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if Path(path).name.startswith(soname):
            return path
    return soname


def select_cpu_backend(llama_cpp: Any) -> dict[str, Any]:
    """Load the CPU backend this machine should use (see `spl_opt.lm.cpu`) before llama.cpp picks one.

    Returns what was chosen and why; raises RuntimeError (one line) when the build cannot run here."""
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    variants = cpu.variant_files(lib_dir)
    flags = cpu.cpu_flags()
    info: dict[str, Any] = {"portable": bool(variants), "cpu_flags_known": bool(flags)}
    if variants:

        def score(path: Path) -> int:
            fn = ctypes.CDLL(str(path)).ggml_backend_score
            fn.restype = ctypes.c_int
            return int(fn())

        chosen, scores = cpu.choose_variant(
            variants, score, forced=os.environ.get(cpu.VARIANT_ENV, ""), allow_amx=cpu.amx_allowed()
        )
        ggml = ctypes.CDLL(_mapped("libggml.so"))
        ggml.ggml_backend_load.restype = ctypes.c_void_p
        ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
        if not ggml.ggml_backend_load(str(chosen).encode()):
            raise RuntimeError(f"llama.cpp could not load its CPU backend {chosen.name}")
        info.update(variant=cpu.variant_name(chosen), scores=scores)
    system_info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    features = cpu.compiled_features(system_info)
    missing = cpu.missing_features(features, flags)
    if missing:
        raise RuntimeError(
            f"this llama-cpp-python build uses {', '.join(missing)}, which this CPU lacks "
            f"(a wheel built on another machine, e.g. from pip's cache); {cpu.REINSTALL_HINT}"
        )
    info["system_info"] = system_info.strip()
    info["amx_repack_off"] = bool(features & cpu.AMX_FEATURES) and not cpu.amx_allowed()
    return info


def _without_extra_buffers(llama_cpp: Any) -> None:
    """Make `Llama` load weights without ggml's extra buffer types (AMX repacking) in this process.

    `Llama` reads `llama_model_default_params()` and exposes no `use_extra_bufts` argument."""
    default = llama_cpp.llama_model_default_params

    def params() -> Any:
        p = default()
        p.use_extra_bufts = False
        return p

    llama_cpp.llama_model_default_params = params


class Server:
    """Holds the model; every method runs one request."""

    def __init__(self, path: str, n_ctx: int, n_threads: int, n_seq: int, batch_ctx: int, send: Any) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise RuntimeError(f"llama-cpp-python is not installed ({exc}); {cpu.REINSTALL_HINT}") from exc

        self.send = send
        self.info = select_cpu_backend(llama_cpp)
        if self.info["amx_repack_off"]:
            _without_extra_buffers(llama_cpp)
        from llama_cpp import Llama, llama_chat_format

        start = time.perf_counter()
        try:
            self.llama: Any = Llama(
                model_path=path, n_ctx=n_ctx, n_threads=n_threads, n_batch=512, verbose=False, seed=0
            )
        except (ValueError, RuntimeError) as exc:
            raise RuntimeError(f"llama.cpp could not load {path}: {exc}") from exc
        self.info["load_seconds"] = round(time.perf_counter() - start, 2)
        template = self.llama.metadata.get("tokenizer.chat_template")
        self.formatter: Any = None
        if template:
            model = self.llama._model
            eos, bos = model.token_eos(), model.token_bos()
            self.formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
        self.n_threads, self.n_seq, self.batch_ctx = n_threads, n_seq, batch_ctx
        self._decoder: Any = None
        self._last_progress = 0.0

    def progress(self) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = now
            self.send({"progress": True})

    def chat(self, req: dict[str, Any]) -> dict[str, Any]:
        """One completion through `Llama.create_chat_completion` (prefix reuse across calls unless
        `reset`)."""
        if req.get("reset"):
            self.llama.reset()
        chunks = self.llama.create_chat_completion(
            messages=req["messages"],
            temperature=req.get("temperature", 0.0),
            max_tokens=req.get("max_tokens", 512),
            stop=req.get("stop") or None,
            seed=req.get("seed", 0),
            stream=True,
        )
        text, finish = [], "stop"
        for chunk in chunks:
            choice = chunk["choices"][0]
            text.append(choice["delta"].get("content") or "")
            finish = choice.get("finish_reason") or finish
            self.progress()
        out = "".join(text)
        return {
            "text": out,
            "finish_reason": finish,
            "input_tokens": self._count(req["messages"]),
            "output_tokens": self.tokens({"text": out}),
        }

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        if self.formatter is None:
            raise RuntimeError("this GGUF has no chat template: batched chat is not available")
        result = self.formatter(messages=messages)
        tokens = self.llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return tokens, stop

    def _count(self, messages: list[dict[str, str]]) -> int:
        try:
            return len(self._prompt_tokens(messages)[0])
        except RuntimeError:
            return 0

    def batch(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """Greedy completions of one system prompt with many user messages, as one batch."""
        from spl_opt.lm.batch_decode import BatchDecoder

        if self._decoder is None:
            self._decoder = BatchDecoder(
                self.llama, n_seq=self.n_seq, n_ctx=self.batch_ctx, n_threads=self.n_threads
            )
        system = [{"role": "system", "content": req["system"]}] if req.get("system") else []
        prompts, stops = [], list(req.get("stop") or [])
        for user in req["users"]:
            tokens, template_stop = self._prompt_tokens([*system, {"role": "user", "content": user}])
            prompts.append(tokens)
            stops += [s for s in template_stop if s not in stops]
        gens = self._decoder.generate(
            prompts, max_tokens=req.get("max_tokens", 512), stop=stops, on_step=self.progress
        )
        return [
            {
                "text": g.text,
                "finish_reason": g.finish_reason,
                "input_tokens": g.prompt_tokens,
                "output_tokens": len(g.tokens),
            }
            for g in gens
        ]

    def tokens(self, req: dict[str, Any]) -> int:
        return len(self.llama.tokenize(req["text"].encode("utf-8"), add_bos=False, special=False))

    def selftest(self, req: dict[str, Any]) -> dict[str, Any]:
        start = time.perf_counter()
        out = self.chat(
            {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4, "temperature": 0.0}
        )
        out["seconds"] = round(time.perf_counter() - start, 3)
        return out


def serve(conn: Any, path: str, n_ctx: int, n_threads: int, n_seq: int, batch_ctx: int) -> None:
    try:
        server = Server(path, n_ctx, n_threads, n_seq, batch_ctx, conn.send)
    except Exception as exc:
        conn.send({"ok": False, "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
        return
    conn.send({"ok": True, "result": server.info})
    handlers = {
        "chat": server.chat,
        "batch": server.batch,
        "tokens": server.tokens,
        "selftest": server.selftest,
    }
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):
            return
        handler = handlers.get(req.get("op"))
        if handler is None:
            conn.send({"ok": False, "error": f"unknown request {req.get('op')!r}"})
            continue
        try:
            conn.send({"ok": True, "result": handler(req)})
        except Exception as exc:
            conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> None:
    import socket
    from multiprocessing.connection import Connection

    args = argv if argv is not None else sys.argv[1:]
    fd, path, n_ctx, n_threads, n_seq, batch_ctx = int(args[0]), args[1], *map(int, args[2:6])
    _die_with_parent()
    sock = socket.socket(fileno=fd)
    conn = Connection(sock.detach())
    serve(conn, path, n_ctx, n_threads, n_seq, batch_ctx)


if __name__ == "__main__":
    main()
