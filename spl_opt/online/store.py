"""The versioned playbook store of online learning: every version, call and outcome, on any SQLAlchemy
database (a SQLite file by default).

Nothing is overwritten or deleted: a version keeps its parent, the edit that made it, the evidence
it was made from and its replay scores; the current version is the last `head` move (a promotion or a
rollback), so a rollback is reversible and the history stays readable. Every write is one committed
transaction, so a killed process loses at most the request in flight. A database error becomes a
`StoreError` in one line (a full disk says so).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from spl_opt.core.errors import SplError
from spl_opt.core.records import Edit, Example, Playbook, Record

VersionStatus = Literal["seed", "promoted", "rejected"]


class StoreError(SplError):
    """The store cannot be read or written (a bad URL, a full disk, a damaged database)."""


class FeedbackError(SplError):
    """Feedback that cannot be recorded: an unknown call id, or no score, label or text."""


class Replay(Record):
    """How a proposed version did against the current one on the replay buffer."""

    n: int = 0
    current: float = 0.0
    candidate: float = 0.0
    wins: int = 0
    losses: int = 0
    p_value: float = 1.0


class Version(Record):
    """One playbook version: its parent, the edit that made it, why, and whether it was promoted."""

    id: int
    parent: int | None
    playbook: Playbook
    status: VersionStatus
    operator: str = "seed"
    edits: tuple[Edit, ...] = ()
    evidence: dict[str, Any] = Field(default_factory=dict)
    replay: Replay | None = None
    reason: str = ""
    created: float = 0.0


class Call(Record):
    """One answered request: the version that answered, its named inputs, and the output."""

    id: str
    version: int
    inputs: dict[str, str]
    output: str
    created: float = 0.0

    def example(self, target: str = "") -> Example:
        """The call as a task example (for replaying it under another playbook)."""
        return Example(id=self.id, inputs=self.inputs, target=target)


class Outcome(Record):
    """Feedback on a call: a score in [0, 1], a label (the right answer), and/or free text."""

    call_id: str
    score: float | None = None
    label: str | None = None
    text: str = ""
    client: str = ""
    created: float = 0.0


class HeadMove(Record):
    """The current version changed: promoted after a review, or rolled back (by whom, why)."""

    version: int
    kind: Literal["seed", "promote", "rollback"]
    note: str = ""
    created: float = 0.0


def store_url(location: str | Path) -> str:
    """A SQLAlchemy URL for `location`: a URL as it is, a path as a SQLite file."""
    text = str(location)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    if "full" in message.lower():
        return f"the store is full ({message}): free space, then retry; nothing was written"
    return message


class PlaybookStore:
    """Versions, calls, outcomes and head moves in four tables; thread safe."""

    def __init__(self, location: str | Path) -> None:
        import sqlalchemy as sa

        self.url = store_url(location)
        metadata = sa.MetaData()
        self._versions = sa.Table(
            "versions",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("parent", sa.Integer, nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("data", sa.Text, nullable=False),
        )
        self._calls = sa.Table(
            "calls",
            metadata,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("data", sa.Text, nullable=False),
        )
        self._outcomes = sa.Table(
            "outcomes",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("call_id", sa.String(64), nullable=False, index=True),
            sa.Column("data", sa.Text, nullable=False),
        )
        self._head = sa.Table(
            "head",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("data", sa.Text, nullable=False),
        )
        self._lock = threading.RLock()
        try:
            self._engine = sa.create_engine(self.url)
            metadata.create_all(self._engine)
        except Exception as exc:
            raise StoreError(f"cannot open the playbook store {self.url}: {_one_line(exc)}") from None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            try:
                with self._engine.begin() as conn:
                    yield conn
            except SplError:
                raise
            except Exception as exc:
                raise StoreError(f"playbook store {self.url}: {_one_line(exc)}") from None

    def close(self) -> None:
        self._engine.dispose()

    # ----- versions ---------------------------------------------------------------------------------
    def seed(self, playbook: Playbook) -> Version:
        """The current version; an empty store starts with `playbook` as its seed."""
        current = self.current()
        if current is not None:
            return current
        version = self.add_version(playbook, parent=None, status="seed")
        self._move(HeadMove(version=version.id, kind="seed"))
        return version

    def add_version(
        self,
        playbook: Playbook,
        *,
        parent: int | None,
        status: VersionStatus,
        operator: str = "seed",
        edits: tuple[Edit, ...] = (),
        evidence: dict[str, Any] | None = None,
        replay: Replay | None = None,
        reason: str = "",
    ) -> Version:
        """Record a version (a promoted one also becomes current)."""
        fields = {
            "playbook": playbook.model_dump(mode="json"),
            "operator": operator,
            "edits": [e.model_dump(mode="json") for e in edits],
            "evidence": evidence or {},
            "replay": replay.model_dump(mode="json") if replay else None,
            "reason": reason,
            "created": time.time(),
        }
        with self._tx() as conn:
            row = conn.execute(
                self._versions.insert().values(parent=parent, status=status, data=json.dumps(fields))
            )
            version_id = int(row.inserted_primary_key[0])
            if status == "promoted":
                self._insert_move(conn, HeadMove(version=version_id, kind="promote", note=reason))
        return Version(id=version_id, parent=parent, status=status, **fields)

    def version(self, version_id: int) -> Version:
        with self._tx() as conn:
            row = conn.execute(self._versions.select().where(self._versions.c.id == version_id)).first()
        if row is None:
            raise StoreError(f"no version {version_id} in {self.url}")
        return _version(row)

    def versions(self) -> list[Version]:
        with self._tx() as conn:
            rows = conn.execute(self._versions.select().order_by(self._versions.c.id)).all()
        return [_version(r) for r in rows]

    def current(self) -> Version | None:
        """The version answering now (the last head move), or None for an empty store."""
        moves = self.head_moves()
        return self.version(moves[-1].version) if moves else None

    def head_moves(self) -> list[HeadMove]:
        with self._tx() as conn:
            rows = conn.execute(self._head.select().order_by(self._head.c.id)).all()
        return [HeadMove.model_validate_json(r.data) for r in rows]

    def rollback(self, to: int | None = None, note: str = "") -> Version:
        """Make version `to` (default: the current version's parent) current again; reversible."""
        current = self.current()
        if current is None:
            raise StoreError(f"{self.url} holds no playbook yet")
        target = to if to is not None else current.parent
        if target is None:
            raise StoreError(f"version {current.id} is the seed: there is nothing to roll back to")
        version = self.version(target)
        if version.status == "rejected":
            raise StoreError(f"version {target} was rejected at review: it was never served")
        self._move(HeadMove(version=version.id, kind="rollback", note=note or f"from version {current.id}"))
        return version

    def _move(self, move: HeadMove) -> None:
        with self._tx() as conn:
            self._insert_move(conn, move)

    def _insert_move(self, conn: Any, move: HeadMove) -> None:
        stamped = move.model_copy(update={"created": move.created or time.time()})
        conn.execute(self._head.insert().values(data=stamped.model_dump_json()))

    # ----- calls and outcomes -----------------------------------------------------------------------
    def record_call(self, version: int, inputs: dict[str, str], output: str) -> Call:
        call = Call(id=uuid.uuid4().hex, version=version, inputs=inputs, output=output, created=time.time())
        with self._tx() as conn:
            conn.execute(
                self._calls.insert().values(id=call.id, version=version, data=call.model_dump_json())
            )
        return call

    def call(self, call_id: str) -> Call:
        with self._tx() as conn:
            row = conn.execute(self._calls.select().where(self._calls.c.id == call_id)).first()
        if row is None:
            raise FeedbackError(f"unknown call id {call_id!r}")
        return Call.model_validate_json(row.data)

    def calls(self) -> list[Call]:
        with self._tx() as conn:
            rows = conn.execute(self._calls.select()).all()
        return sorted((Call.model_validate_json(r.data) for r in rows), key=lambda c: c.created)

    def record_outcome(self, outcome: Outcome) -> Outcome:
        """Record feedback on a known call; FeedbackError for an unknown call or empty feedback."""
        if outcome.score is None and outcome.label is None and not outcome.text.strip():
            raise FeedbackError("feedback needs a score, a label or a text")
        if outcome.score is not None and not 0.0 <= outcome.score <= 1.0:
            raise FeedbackError(f"score must be in [0, 1], got {outcome.score}")
        self.call(outcome.call_id)
        stamped = outcome.model_copy(update={"created": outcome.created or time.time()})
        with self._tx() as conn:
            conn.execute(
                self._outcomes.insert().values(call_id=outcome.call_id, data=stamped.model_dump_json())
            )
        return stamped

    def outcomes(self) -> list[Outcome]:
        """Every outcome, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(self._outcomes.select().order_by(self._outcomes.c.id)).all()
        return [Outcome.model_validate_json(r.data) for r in rows]


def _version(row: Any) -> Version:
    return Version(id=row.id, parent=row.parent, status=row.status, **json.loads(row.data))
