"""`spl-opt serve`: an OpenAI-compatible chat endpoint that answers with the served playbook, plus
feedback, on FastAPI.

- `POST /v1/chat/completions`: the playbook is the system prompt (a client's own system message
  follows it); the last user message is the call's input; the response `id` is the call id.
- `POST /v1/feedback` `{"call_id", "score"?, "label"?, "text"?}`: an outcome (bearer token).
- `GET /v1/playbook`, `GET /v1/playbook/versions`; `POST /v1/playbook/rollback` `{"to"?}` (token).
- `GET /v1/models`.
Writes need `Authorization: Bearer <token>`; reads are open. Errors are JSON `{"error": {"message"}}`
with 400 (bad feedback), 401 (no or wrong token), 404 (unknown call id), 502 (the task model failed),
507 (the store is full).
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from spl_opt.core.errors import SplError
from spl_opt.online.learner import Learner
from spl_opt.online.store import FeedbackError, StoreError


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content)
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = "spl-opt"
    messages: list[ChatMessage] = Field(min_length=1)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: str
    score: float | None = Field(None, ge=0.0, le=1.0)
    label: str | None = None
    text: str = Field("", max_length=4000)
    client: str = Field("", max_length=200)


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: int | None = None
    note: str = ""


def create_app(learner: Learner, *, token: str | None, model_name: str = "spl-opt") -> Any:
    """The FastAPI app over `learner`. With `token` None, writes are refused (there is no way to
    authorize them)."""
    app = FastAPI(title="spl-opt", version="1")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "spl_opt_error"}}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(400, f"{where or 'body'}: {first.get('msg')}")

    def authorized(request: Request) -> JSONResponse | None:
        if token is None:
            return error(401, "writes are disabled: the server was started without a token")
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return error(401, "a valid bearer token is required for this request")
        return None

    def failure(exc: SplError) -> JSONResponse:
        if isinstance(exc, FeedbackError):
            return error(404 if "unknown call id" in str(exc) else 400, str(exc))
        if isinstance(exc, StoreError) and "full" in str(exc):
            return error(507, str(exc))
        return error(500, str(exc))

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "spl-opt"}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: ChatRequest) -> dict[str, Any] | JSONResponse:
        users = [m for m in body.messages if m.role == "user"]
        if not users:
            return error(400, "messages: at least one user message is required")
        system = "\n\n".join(m.text() for m in body.messages if m.role == "system")
        try:
            answer = learner.answer({"question": users[-1].text()}, system=system)
        except SplError as exc:
            return failure(exc)
        except Exception as exc:  # the task model failed: say so, record nothing
            return error(
                502, f"the task model failed ({type(exc).__name__}): {str(exc).splitlines()[0][:300]}"
            )
        return {
            "id": answer.call_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "system_fingerprint": f"playbook-v{answer.version}",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    @app.post("/v1/feedback", response_model=None)
    def feedback(body: FeedbackRequest, request: Request) -> dict[str, Any] | JSONResponse:
        denied = authorized(request)
        if denied is not None:
            return denied
        try:
            outcome = learner.feedback(
                body.call_id, score=body.score, label=body.label, text=body.text, client=body.client
            )
        except SplError as exc:
            return failure(exc)
        return {"recorded": outcome.model_dump(mode="json"), "version": learner.current().id}

    @app.get("/v1/playbook")
    def playbook() -> dict[str, Any]:
        version = learner.current()
        return {"version": version.model_dump(mode="json"), "prompt": version.playbook.render()}

    @app.get("/v1/playbook/versions")
    def versions() -> dict[str, Any]:
        return {"versions": [v.model_dump(mode="json") for v in learner.store.versions()]}

    @app.post("/v1/playbook/rollback", response_model=None)
    def rollback(body: RollbackRequest, request: Request) -> dict[str, Any] | JSONResponse:
        denied = authorized(request)
        if denied is not None:
            return denied
        try:
            version = learner.store.rollback(body.to, body.note)
        except SplError as exc:
            return failure(exc)
        return {"version": version.model_dump(mode="json")}

    return app


def serve(learner: Learner, *, host: str, port: int, token: str | None) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(learner, token=token), host=host, port=port, log_level="warning")
