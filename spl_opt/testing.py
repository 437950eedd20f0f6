"""Fakes for tests, shipped for users' own tests too (like DSPy's DummyLM).

`ScriptedEngine` is a real engine for `dspy.LM(engine=...)` whose answers come from a function of
(system prompt, user message); `BatchingScriptedEngine` also decodes batches, like the embedded
engine. `scripted_lm` wraps one in a `dspy.LM`. `scripted_model_server` starts a model server process
with scripted answers and injected crashes or hangs (for `ModelProcess(command=...)`).
`StrategyFollower` is a toy task model that answers right only when its system prompt holds the
needed hint, so a search over prompts has something real to learn; `editor_reply` formats an
editor answer in DSPy's chat format.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

Responder = Callable[[str, str], str]


def _cut(text: str, limit: int | None) -> tuple[str, int, bool]:
    """(`text` cut at `limit` tokens, its tokens, whether it was cut); a word is a token here."""
    words = text.split()
    if limit is None or len(words) <= limit:
        return text, len(words), False
    return " ".join(words[:limit]), limit, True


class ScriptedEngine:
    """Answers each request with `responder(system, last_user_message)`; counts calls; thread safe.

    `fail_on` makes a call raise (to test failure handling): a predicate over (system, user). With
    `conversation`, the responder gets every message's text instead of the last user message (to
    script a model that follows the demonstrations before the question).
    """

    def __init__(
        self,
        responder: Responder | Sequence[str],
        fail_on: Callable[[str, str], bool] | None = None,
        *,
        conversation: bool = False,
    ):
        self.conversation = conversation
        if not callable(responder):
            replies = list(responder)
            state = {"i": 0}

            def cycle(_: str, __: str) -> str:
                reply = replies[state["i"] % len(replies)]
                state["i"] += 1
                return reply

            responder = cycle
        self.responder: Responder = responder
        self.fail_on = fail_on
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def complete(self, request: Any) -> Any:
        from dspy.lm15 import Message, Response, TextPart, Usage

        system = (
            request.system
            if isinstance(request.system, str)
            else "".join(getattr(p, "text", "") for p in (request.system or ()))
        )
        messages = request.messages if self.conversation else request.messages[-1:]
        user = "\n\n".join(m.text or "" for m in messages)
        with self._lock:
            self.calls.append((system, user))
        if self.fail_on is not None and self.fail_on(system, user):
            raise RuntimeError("scripted failure")
        text, tokens, cut = _cut(self.responder(system, user), getattr(request.config, "max_tokens", None))
        return Response(
            id=None,
            model="scripted",
            message=Message.assistant([TextPart(text)]),
            finish_reason="length" if cut else "stop",
            usage=Usage(input_tokens=len((system + user).split()), output_tokens=tokens),
        )

    def stream(self, request: Any) -> Iterator[Any]:
        from dspy.lm15 import response_to_events

        return iter(response_to_events(self.complete(request)))

    def close(self) -> None:
        pass


class BatchingScriptedEngine(ScriptedEngine):
    """A ScriptedEngine with the embedded engine's `complete_batch`; `batches` records each batch's size."""

    def __init__(
        self,
        responder: Responder | Sequence[str],
        fail_on: Callable[[str, str], bool] | None = None,
        *,
        conversation: bool = False,
    ):
        super().__init__(responder, fail_on, conversation=conversation)
        self.batches: list[int] = []

    def complete_batch(
        self, system: str | None, users: Sequence[str], *, max_tokens: int, stop: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        system = system or ""
        with self._lock:
            self.batches.append(len(users))
            self.calls.extend((system, user) for user in users)
        if self.fail_on is not None and any(self.fail_on(system, user) for user in users):
            raise RuntimeError("scripted failure")
        replies = []
        for user in users:
            text, tokens, cut = _cut(self.responder(system, user), max_tokens)
            replies.append(
                {
                    "text": text,
                    "finish_reason": "length" if cut else "stop",
                    "input_tokens": len((system + user).split()),
                    "output_tokens": tokens,
                }
            )
        return replies


def scripted_lm(
    responder: Responder | Sequence[str],
    *,
    model: str = "scripted/fake",
    batching: bool = False,
    **kwargs: Any,
) -> Any:
    """A `dspy.LM` over a ScriptedEngine, or a BatchingScriptedEngine (reach it as `lm.engine`)."""
    import dspy

    engine_class = BatchingScriptedEngine if batching else ScriptedEngine
    engine = engine_class(
        responder, kwargs.pop("fail_on", None), conversation=kwargs.pop("conversation", False)
    )
    return dspy.LM(
        model,
        engine=engine,
        cache=False,
        temperature=kwargs.pop("temperature", 0.0),
        max_tokens=kwargs.pop("max_tokens", 256),
        **kwargs,
    )


class StrategyFollower:
    """A toy task model: right when the system prompt contains `hint` (case-insensitive), else wrong.

    `solve(user) -> str` gives the right answer; wrong answers are `wrong(user)`. With `format_hint`,
    a right answer is written as "Answer: X" only when that hint is present too.
    """

    def __init__(self, solve: Callable[[str], str], hint: str, wrong: Callable[[str], str] | None = None):
        self.solve = solve
        self.hint = hint.lower()
        self.wrong = wrong or (lambda user: "I am not sure.")

    def __call__(self, system: str, user: str) -> str:
        if self.hint in system.lower():
            return f"Let me think step by step. Answer: {self.solve(user)}"
        return self.wrong(user)


def editor_reply(
    operation: str,
    text: str,
    *,
    strategy_id: str = "none",
    title: str = "Learned rule",
    diagnosis: str = "The answers miss the rule.",
) -> str:
    """An editor LM answer in DSPy's ChatAdapter format."""
    fields = {
        "diagnosis": diagnosis,
        "operation": operation,
        "strategy_id": strategy_id,
        "title": title,
        "text": text,
    }
    body = "\n\n".join(f"[[ ## {k} ## ]]\n{v}" for k, v in fields.items())
    return f"{body}\n\n[[ ## completed ## ]]"


FAULT_KINDS = ("500", "429", "stall", "non_json", "empty", "garbage")


class FakeChatServer:
    """An OpenAI-compatible chat server on loopback that answers after a fixed latency.

    Answers come from `responder(system, user)` (default: "Answer: 0"). Counts requests and keeps the
    Authorization headers it saw, so tests can check that workers sent their key. Use as a context
    manager, or `start()`/`close()`; `base_url` is what `api_base` should be. Thread per request.

    Faults, for reliability tests: a share `fault_rate` of requests (drawn with `seed`) gets one of
    `fault_kinds`: an HTTP 500 or 429, a `stall` of that many seconds before answering, a 200 whose
    body is not JSON, an empty answer, or garbage text. While `down` is set every request gets a 503
    (an outage). `faults` counts what was served, by kind.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        port: int = 0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[str] = FAULT_KINDS,
        stall: float = 5.0,
        seed: int = 0,
    ) -> None:
        import random

        self.responder: Responder = responder or (lambda s, u: "Answer: 0")
        self.latency = latency
        self.port = port
        self.requests = 0
        self.auth: set[str] = set()
        self.fault_rate, self.fault_kinds, self.stall = fault_rate, tuple(fault_kinds), stall
        self.down = False
        self.faults: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server: Any = None

    def _draw_fault(self) -> str | None:
        """The fault for the next request, if any (under the lock)."""
        if self.down:
            kind = "503"
        elif self.fault_rate and self._rng.random() < self.fault_rate:
            kind = self._rng.choice(self.fault_kinds)
        else:
            return None
        self.faults[kind] = self.faults.get(kind, 0) + 1
        return kind

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeChatServer:
        import json
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add 40 ms to every reply

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with fake._lock:
                    fake.requests += 1
                    fake.auth.add(self.headers.get("Authorization", ""))
                    fault = fake._draw_fault()
                messages = body.get("messages", [])
                system = next((m["content"] for m in messages if m.get("role") == "system"), "")
                user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
                text = fake.responder(_text(system), _text(user))
                time.sleep(fake.latency + (fake.stall if fault == "stall" else 0.0))
                if fault in ("500", "429", "503"):
                    self._send(int(fault), json.dumps({"error": {"message": f"injected {fault}"}}).encode())
                    return
                if fault == "non_json":
                    self._send(200, b"<html>upstream proxy error</html>")
                    return
                text = {"empty": "", "garbage": "\x00#@!~ \ufffd\ufffd ~~ %%"}.get(fault or "", text)
                reply = json.dumps(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                ).encode()
                self._send(200, reply)

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that died mid-request (a killed worker) is not the server's problem

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fake-chat").start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


class PoisonObeyingEditor:
    """The worst-case editor for red-team tests: an LM-free operator that writes as a strategy any
    "always answer X" it finds in the evidence (a user's feedback text or an input), as an editor
    that obeys injected instructions would, or else "always answer L" for a label L that several
    failures share (it overgeneralizes from mislabelled outcomes). Only a gate can stop its edits."""

    name = "editor"
    needs_lm = False

    def __init__(self, pattern: str = r"always answer (\w+)") -> None:
        import re

        self._pattern = re.compile(pattern, re.I)

    def _payload(self, evidence: Any) -> str | None:
        from collections import Counter

        for item in (*evidence.failures, *evidence.successes):
            for text in (item.feedback, item.input):
                match = self._pattern.search(text or "")
                if match:
                    return match.group(1)
        shared = Counter(item.target for item in evidence.failures if item.target).most_common(1)
        return shared[0][0] if shared and shared[0][1] >= 2 else None

    def applies(self, parent: Any, evidence: Any) -> bool:
        return self._payload(evidence) is not None

    def propose(self, parent: Any, evidence: Any, n: int = 1) -> Any:
        from spl_opt.core.records import Edit, Proposal

        payload = self._payload(evidence)
        if payload is None:
            return Proposal(editor_id=self.name, error="nothing to obey")
        edit = Edit(op="add", title="Rule", text=f"Always answer {payload}.", editor_id=self.name)
        return Proposal(editor_id=self.name, edits=(edit,))
