"""The outcome store: routing decisions and the outcomes fed back for them, in SQLite (WAL mode).

One file, shared by every serving worker (which write decisions and outcomes) and the learner
(which reads outcomes in id order and folds them into the router). SQLite serialises writers, so
outcome ids (AUTOINCREMENT) are assigned and committed in increasing order: a reader that has seen
id ``n`` will never later see a new row with an id below ``n``. That is what makes the learner's
watermark (the highest id folded into a published snapshot) enough for exactly-once folding.

Tables (schema version in ``PRAGMA user_version``; see ``SCHEMA_VERSION``)::

    decisions(id TEXT PRIMARY KEY, ...)      one row per routing decision; ids from secrets.token_urlsafe
    outcomes(id INTEGER PRIMARY KEY AUTOINCREMENT, decision_id, query, task, model, agent, effect, cost, ...)
    model_ops(id INTEGER PRIMARY KEY AUTOINCREMENT, op, name, card, status, detail)
                                             admin adds / removes, in order; status 'applied' or 'skipped'
                                             (detail: why) once the learner has taken it (version 2)

A connection belongs to one thread (sqlite3's rule); each process opens its own ``Store``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import graphroute as gr

__all__ = ["SCHEMA_VERSION", "Store", "Decision", "Outcome", "new_decision_id"]

SCHEMA_VERSION = 2  # 2: model_ops.status / detail

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    source TEXT NOT NULL,              -- 'route' or 'proxy'
    query TEXT NOT NULL,
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    agent TEXT NOT NULL,
    effect REAL NOT NULL,              -- predicted
    cost REAL NOT NULL,                -- predicted USD
    latency_s REAL,                    -- predicted
    score REAL NOT NULL,
    fallback INTEGER NOT NULL DEFAULT 0,
    objective TEXT NOT NULL,           -- JSON of the weights and constraints asked for
    generation INTEGER NOT NULL,       -- the router snapshot that decided
    tokens_in INTEGER, tokens_out INTEGER, served_latency_s REAL, served_cost REAL  -- what the upstream reported
);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    decision_id TEXT REFERENCES decisions(id),
    query TEXT NOT NULL,
    task TEXT,                         -- NULL: the learner infers it from similar past queries
    model TEXT NOT NULL,
    agent TEXT NOT NULL,
    effect REAL NOT NULL,
    cost REAL NOT NULL,
    latency_s REAL
);
CREATE INDEX IF NOT EXISTS outcomes_by_decision ON outcomes(decision_id);
CREATE TABLE IF NOT EXISTS model_ops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    op TEXT NOT NULL,                  -- 'add' or 'remove'
    name TEXT NOT NULL,
    card TEXT NOT NULL,                -- JSON: description, price_in, price_out, params_b
    status TEXT,                       -- NULL until the learner takes it: 'applied' or 'skipped'
    detail TEXT                        -- why it was skipped
);
"""

_DECISION_COLS = ("id", "created_at", "source", "query", "task", "model", "agent", "effect", "cost", "latency_s",
                  "score", "fallback", "objective", "generation")
_OUTCOME_COLS = ("decision_id", "query", "task", "model", "agent", "effect", "cost", "latency_s")


def new_decision_id() -> str:
    """An unguessable id (24 random bytes, URL-safe): knowing one decision's id tells nothing of another's."""
    return "dec_" + secrets.token_urlsafe(24)


@dataclass
class Decision:
    """A routing decision as stored (predictions, not outcomes)."""

    id: str
    source: str
    query: str
    task: str
    model: str
    agent: str
    effect: float
    cost: float
    latency_s: float | None
    score: float
    fallback: bool
    objective: dict
    generation: int
    created_at: float = 0.0


@dataclass
class Outcome:
    """One outcome fed back: for a decision (decision_id set) or for a (query, model, agent) directly."""

    query: str
    model: str
    agent: str
    effect: float
    cost: float
    task: str | None = None
    latency_s: float | None = None
    decision_id: str | None = None


class Store:
    """The SQLite outcome store at ``path`` (created with the current schema when absent).

    durability: "full" (default) fsyncs every commit, so an acknowledged outcome survives a power
    cut; "normal" syncs at WAL checkpoints only (still survives a killed process, not a power cut).
    """

    def __init__(self, path: str | Path, *, durability: str = "full", timeout_s: float = 30.0) -> None:
        if durability not in ("full", "normal"):
            raise gr.ConfigError(f"durability must be 'full' or 'normal'; got {durability!r}.")
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None,
                                       check_same_thread=False)
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute(f"PRAGMA synchronous={durability.upper()}")
            self.con.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            self._migrate()
        except sqlite3.Error as exc:
            raise gr.ConfigError(f"The outcome store {str(self.path)!r} cannot be opened ({exc}). Point --db at a "
                                 "writable SQLite file (it is created when absent).") from None

    def _migrate(self) -> None:
        """Create the schema, or check that an existing file is one this code reads."""
        version = self.con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise gr.ConfigError(f"The outcome store {str(self.path)!r} has schema version {version}, newer than this "
                                 f"graphroute's {SCHEMA_VERSION}. Upgrade graphroute, or point --db at another file.")
        if version == SCHEMA_VERSION:
            return
        self.con.execute("BEGIN IMMEDIATE")
        try:
            version = self.con.execute("PRAGMA user_version").fetchone()[0]  # another process may have won the race
            if version == 0:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self.con.execute(statement)
            elif version == 1:  # version 1 kept no outcome of a model op
                self.con.execute("ALTER TABLE model_ops ADD COLUMN status TEXT")
                self.con.execute("ALTER TABLE model_ops ADD COLUMN detail TEXT")
            self.con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------------ decisions
    def add_decisions(self, decisions: Sequence[Decision]) -> None:
        """Insert decisions in one transaction (committed when this returns)."""
        now = time.time()
        rows = [(d.id, d.created_at or now, d.source, d.query, d.task, d.model, d.agent, d.effect, d.cost,
                 d.latency_s, d.score, int(d.fallback), json.dumps(d.objective), d.generation) for d in decisions]
        with self._tx():
            self.con.executemany(f"INSERT INTO decisions ({', '.join(_DECISION_COLS)}) VALUES "
                                 f"({', '.join('?' * len(_DECISION_COLS))})", rows)

    def record_usage(self, decision_id: str, tokens_in: int | None, tokens_out: int | None,
                     latency_s: float | None, cost: float | None) -> None:
        """What the upstream reported for a proxied decision."""
        with self._tx():
            self.con.execute("UPDATE decisions SET tokens_in=?, tokens_out=?, served_latency_s=?, served_cost=? "
                             "WHERE id=?", (tokens_in, tokens_out, latency_s, cost, decision_id))

    def reassign(self, decision_id: str, model: str, agent: str, effect: float, cost: float,
                 latency_s: float | None, score: float) -> None:
        """The proxy fell back: the decision is the model that answered, with that model's predictions."""
        with self._tx():
            self.con.execute("UPDATE decisions SET model=?, agent=?, effect=?, cost=?, latency_s=?, score=? WHERE id=?",
                             (model, agent, effect, cost, latency_s, score, decision_id))

    def decision(self, decision_id: str) -> dict | None:
        """The decision and its outcomes as a JSON-ready dict, or None when the id is unknown."""
        cur = self.con.execute("SELECT * FROM decisions WHERE id=?", (decision_id,))
        row = cur.fetchone()
        if row is None:
            return None
        d = dict(zip([c[0] for c in cur.description], row))
        outs = self.con.execute("SELECT id, effect, cost, latency_s, created_at FROM outcomes WHERE decision_id=? "
                                "ORDER BY id", (decision_id,)).fetchall()
        usage = {k: d[k] for k in ("tokens_in", "tokens_out", "served_latency_s", "served_cost")}
        return {
            "decision_id": d["id"], "source": d["source"], "query": d["query"], "task": d["task"],
            "model": d["model"], "agent": d["agent"], "generation": d["generation"], "created_at": d["created_at"],
            "objective": json.loads(d["objective"]), "fallback": bool(d["fallback"]),
            "predicted": {"effect": d["effect"], "cost": d["cost"], "latency_s": d["latency_s"], "score": d["score"]},
            "usage": usage if any(v is not None for v in usage.values()) else None,
            "outcomes": [{"outcome_id": i, "effect": e, "cost": c, "latency_s": lat, "at": at}
                         for i, e, c, lat, at in outs],
        }

    def decisions_by_id(self, ids: Iterable[str]) -> dict[str, tuple]:
        """{id: (query, task, model, agent, cost, latency_s)} for the ids that exist."""
        ids = list(dict.fromkeys(ids))
        out: dict[str, tuple] = {}
        for s in range(0, len(ids), 500):  # SQLite's default limit on bound variables is 999
            part = ids[s:s + 500]
            q = f"SELECT id, query, task, model, agent, cost, latency_s FROM decisions WHERE id IN " \
                f"({', '.join('?' * len(part))})"
            out.update({r[0]: r[1:] for r in self.con.execute(q, part)})
        return out

    # ------------------------------------------------------------------ outcomes
    def add_outcomes(self, outcomes: Sequence[Outcome]) -> list[int]:
        """Insert outcomes in one transaction; returns their ids once committed (durable)."""
        now = time.time()
        ids = []
        with self._tx():
            for o in outcomes:
                cur = self.con.execute(
                    f"INSERT INTO outcomes (created_at, {', '.join(_OUTCOME_COLS)}) VALUES "
                    f"(?, {', '.join('?' * len(_OUTCOME_COLS))})",
                    (now, o.decision_id, o.query, o.task, o.model, o.agent, float(o.effect), float(o.cost),
                     None if o.latency_s is None else float(o.latency_s)))
                ids.append(int(cur.lastrowid))
        return ids

    def outcomes_after(self, watermark: int, limit: int = 10_000) -> list[tuple]:
        """Outcomes with id > watermark in id order: (id, query, task, model, agent, effect, cost, latency_s)."""
        return self.con.execute("SELECT id, query, task, model, agent, effect, cost, latency_s FROM outcomes "
                                "WHERE id > ? ORDER BY id LIMIT ?", (int(watermark), int(limit))).fetchall()

    def last_outcome(self) -> tuple[int, float | None]:
        """(highest outcome id or 0, its time)."""
        row = self.con.execute("SELECT id, created_at FROM outcomes ORDER BY id DESC LIMIT 1").fetchone()
        return (0, None) if row is None else (int(row[0]), float(row[1]))

    def first_outcome_after(self, watermark: int) -> float | None:
        """When the oldest outcome not yet folded (id > watermark) arrived, or None."""
        row = self.con.execute("SELECT created_at FROM outcomes WHERE id > ? ORDER BY id LIMIT 1",
                               (int(watermark),)).fetchone()
        return None if row is None else float(row[0])

    def count_outcomes(self) -> int:
        return int(self.con.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])

    # ------------------------------------------------------------------ model ops
    def add_model_op(self, op: str, name: str, card: dict) -> int:
        with self._tx():
            cur = self.con.execute("INSERT INTO model_ops (created_at, op, name, card) VALUES (?, ?, ?, ?)",
                                   (time.time(), op, name, json.dumps(card)))
        return int(cur.lastrowid)

    def record_op_results(self, results: Sequence[tuple[int, str, str]]) -> None:
        """Store what became of model ops: (op id, 'applied' or 'skipped', detail)."""
        with self._tx():
            self.con.executemany("UPDATE model_ops SET status = ?, detail = ? WHERE id = ?",
                                 [(status, detail, int(op_id)) for op_id, status, detail in results])

    def op_result(self, op_id: int) -> tuple[str, str] | None:
        """(status, detail) of a model op the learner has taken, else None."""
        row = self.con.execute("SELECT status, detail FROM model_ops WHERE id = ?", (int(op_id),)).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1] or "")

    def last_model_op(self) -> int:
        """The id of the newest model op accepted (0 when none)."""
        return int(self.con.execute("SELECT COALESCE(MAX(id), 0) FROM model_ops").fetchone()[0])

    def model_ops_after(self, watermark: int) -> list[tuple[int, str, str, dict]]:
        rows = self.con.execute("SELECT id, op, name, card FROM model_ops WHERE id > ? ORDER BY id",
                                (int(watermark),)).fetchall()
        return [(i, op, name, json.loads(card)) for i, op, name, card in rows]

    # ------------------------------------------------------------------ export
    def export_logs(self):
        """Every outcome as canonical logs (query, task, model, agent, effect, cost, latency_s), for the next fit.

        Rows whose task was never known are given task None; fill them (or let the learner infer them)
        before ``fit``.
        """
        import pandas as pd

        rows = self.con.execute("SELECT id, decision_id, query, task, model, agent, effect, cost, latency_s "
                                "FROM outcomes ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=["outcome_id", "decision_id", "query", "task", "model", "agent", "effect",
                                           "cost", "latency_s"])

    def _tx(self):
        return _Transaction(self.con)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock is taken up front, so two writers
    never deadlock upgrading a read lock."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        self.con.execute("BEGIN IMMEDIATE")
        return self.con

    def __exit__(self, exc_type, exc, tb) -> None:
        self.con.execute("COMMIT" if exc_type is None else "ROLLBACK")
