"""The online commands: `spl-opt playbook list|show|diff|rollback STORE`, `spl-opt serve`, and the
distillation export (`spl-opt export STORE --format distill`)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any

from spl_opt.core.errors import ConfigError
from spl_opt.online.store import PlaybookStore, StoreError, Version

TOKEN_ENV = "SPL_OPT_SERVE_TOKEN"


def add_parsers(sub: Any) -> None:
    pb = sub.add_parser("playbook", help="the versions of an online learner's playbook store")
    actions = pb.add_subparsers(dest="action", required=True)
    for name, text in (("list", "every version"), ("show", "one version's prompt (default: current)")):
        p = actions.add_parser(name, help=text)
        p.add_argument("store", help="a SQLite file or any SQLAlchemy URL")
        if name == "show":
            p.add_argument("version", nargs="?", type=int)
    diff = actions.add_parser("diff", help="how two versions' prompts differ")
    diff.add_argument("store")
    diff.add_argument("a", type=int)
    diff.add_argument("b", type=int)
    back = actions.add_parser("rollback", help="serve an earlier version again (reversible)")
    back.add_argument("store")
    back.add_argument("--to", type=int, help="the version to serve (default: the current one's parent)")

    serve = sub.add_parser("serve", help="an OpenAI-compatible endpoint that learns from feedback")
    add = serve.add_argument
    add("--store", required=True, help="the playbook store: a SQLite file or a SQLAlchemy URL")
    add("--task-model", default="embedded:qwen-0.5b")
    add("--api-base", help="an OpenAI-compatible server for the task and editor models")
    add("--api-key-env", help="the environment variable holding that server's API key")
    add("--editor-model", default="embedded:qwen-1.5b", help="'none' for LM-free operators only")
    add("--max-tokens", type=int, default=256)
    add("--seed-prompt", default="You are a helpful assistant.")
    add("--metric", choices=["exact", "numeric"], default="exact")
    add("--review-every", type=int, default=20, help="outcomes between reviews")
    add("--token-budget", type=int, default=400, help="the longest playbook promoted, in tokens")
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8000)
    add("--token-env", default=TOKEN_ENV, help=f"environment variable holding the write token ({TOKEN_ENV})")


def _row(v: Version, current: int | None) -> str:
    replay = f"{v.replay.current:.2f}->{v.replay.candidate:.2f} (n={v.replay.n})" if v.replay else ""
    mark = "*" if v.id == current else " "
    parent = v.parent if v.parent is not None else "-"
    return f"{mark}{v.id:>4} {parent:>6}  {v.status:<8} {v.operator:<15} {replay:<22} {v.reason}"


def playbook_command(args: argparse.Namespace) -> int:
    store = PlaybookStore(args.store)
    current = store.current()
    if current is None:
        raise StoreError(f"{store.url} holds no playbook yet")
    if args.action == "list":
        print(f" {'id':>4} {'parent':>6}  {'status':<8} {'operator':<15} {'replay':<22} reason")
        for version in store.versions():
            print(_row(version, current.id))
    elif args.action == "show":
        version = store.version(args.version) if args.version is not None else current
        print(version.playbook.render())
    elif args.action == "diff":
        a, b = store.version(args.a), store.version(args.b)
        lines = difflib.unified_diff(
            a.playbook.render().splitlines(),
            b.playbook.render().splitlines(),
            fromfile=f"version {a.id}",
            tofile=f"version {b.id}",
            lineterm="",
        )
        print("\n".join(lines) or "(the same prompt)")
    else:
        version = store.rollback(args.to, note="spl-opt playbook rollback")
        print(f"serving version {version.id} (was {current.id})")
    return 0


def serve_command(args: argparse.Namespace) -> int:
    from spl_opt.lm.config import LMConfig, build_lm
    from spl_opt.online.learner import Learner
    from spl_opt.online.server import serve

    token = os.environ.get(args.token_env)
    if not token:
        raise ConfigError(f"{args.token_env} is not set: export a write token for feedback and rollback")
    remote = {"api_base": args.api_base, "api_key_env": args.api_key_env}
    editor = None
    if args.editor_model != "none":
        editor = build_lm(LMConfig(model=args.editor_model, temperature=0.7, max_tokens=384, **remote))
    learner = Learner(
        build_lm(LMConfig(model=args.task_model, max_tokens=args.max_tokens, **remote)),
        args.store,
        editor=editor,
        seed_prompt=args.seed_prompt,
        metric=args.metric,
        review_every=args.review_every,
        token_budget=args.token_budget,
        background=True,
    )
    print(f"serving playbook version {learner.current().id} on http://{args.host}:{args.port}/v1", flush=True)
    serve(learner, host=args.host, port=args.port, token=token)
    return 0


def distill_rows(store: PlaybookStore) -> list[dict[str, Any]]:
    """The calls the current playbook answered well (a score of 1, or the answer its label names),
    as chat-format rows without the playbook: fine-tuning data that moves the notes into weights."""
    from spl_opt.evaluators.metrics import exact_match

    current = store.current()
    if current is None:
        return []
    calls = {c.id: c for c in store.calls() if c.version == current.id}
    good: dict[str, None] = {}
    for outcome in store.outcomes():
        call = calls.get(outcome.call_id)
        if call is None:
            continue
        ok = outcome.score is not None and outcome.score >= 1.0
        if outcome.label is not None:
            ok = exact_match(outcome.label, call.output).value >= 1.0
        if ok:
            good[call.id] = None
        else:
            good.pop(call.id, None)
    return [
        {
            "messages": [
                {"role": "user", "content": calls[i].example().input_text()},
                {"role": "assistant", "content": calls[i].output},
            ]
        }
        for i in good
    ]


def export_distill(location: Path | str, out: Path | None) -> Path | None:
    rows = distill_rows(PlaybookStore(location))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out is None:
        sys.stdout.write(text)
        return None
    out.write_text(text, encoding="utf-8")
    return out
