"""The disk cache of embeddings: SQLite, keyed by (embedder name, version, sha256 of the text).

A text is embedded once per machine; a fully cached corpus needs no model load at all.
``default_cache_dir`` is the one place the default folder is decided (routers use it too).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphroute.embed.base import Embedder, check_texts
from graphroute.errors import EmbedderError

__all__ = ["CachedEmbedder", "default_cache_dir", "CACHE_ENV"]

CACHE_ENV = "GRAPHROUTE_CACHE"  # the environment variable that moves the cache folder


def default_cache_dir() -> Path:
    """The cache folder when none is given: ``$GRAPHROUTE_CACHE``, else ``~/.cache/graphroute``.

    It holds the embeddings and MiniLM's ONNX graph. Read on each call, so setting the variable
    after import still counts.
    """
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "graphroute"


class CachedEmbedder(Embedder):
    """Wraps an embedder with an on-disk cache: SQLite, keyed by (name, version, sha256 of text).

    Vectors are stored as raw float32 bytes (never pickled). SQLite's locking makes the cache safe
    for several processes at once; WAL mode lets readers run while one writes. Hits never touch
    the inner embedder, so a fully cached corpus needs no model load at all.
    """

    FILE = "embeddings.sqlite"

    def __init__(self, inner: Embedder, cache_dir: str | Path) -> None:
        if not isinstance(inner, Embedder):
            raise EmbedderError(f"CachedEmbedder wraps an Embedder; got {type(inner).__name__}.")
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        inner.use_cache_dir(self.cache_dir)  # MiniLM keeps its ONNX graph beside the vectors
        self._ready = False
        self._lock = threading.Lock()
        self._local = threading.local()  # this thread's open connection (see _connection)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name  # cached or not, the same vectors

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    @property
    def version(self) -> str:  # type: ignore[override]
        return self.inner.version

    @property
    def path(self) -> Path:
        return self.cache_dir / self.FILE

    def _connect(self) -> sqlite3.Connection:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(self.path), timeout=60)
            if not self._ready:
                with self._lock:
                    _create_schema(con)
                    self._ready = True
            con.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable enough for a cache, no fsync per write
            return con
        except (OSError, sqlite3.Error) as exc:
            raise EmbedderError(f"The embedding cache {self.path} cannot be used ({exc}). Point cache_dir at a writable "
                                "folder, delete a damaged file, or turn the cache off (cache_dir=None).") from None

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, kept open between calls: opening and closing one per call makes
        SQLite checkpoint its WAL on every close (~15 ms per query routed). Reopened after a fork, and
        when the file was removed or replaced (so deleting it still resets the cache)."""
        local = self._local
        try:
            st = os.stat(self.path)
            ident = (os.getpid(), st.st_dev, st.st_ino)
        except OSError:
            ident = None
        con = getattr(local, "con", None)
        if con is not None:
            if ident is not None and ident == local.ident:
                return con
            self._forget()
        con = self._connect()
        try:
            st = os.stat(self.path)
        except OSError as exc:
            con.close()
            raise EmbedderError(f"The embedding cache {self.path} cannot be used ({exc}). Point cache_dir at a "
                                "writable folder, or turn the cache off (cache_dir=None).") from None
        local.con, local.ident = con, (os.getpid(), st.st_dev, st.st_ino)
        return con

    def _forget(self) -> None:
        """Drop this thread's connection (closed, unless it was inherited through a fork: never touch those)."""
        local = self._local
        con, ident = getattr(local, "con", None), getattr(local, "ident", None)
        local.con = local.ident = None
        if con is not None and ident is not None and ident[0] == os.getpid():
            try:
                con.close()
            except sqlite3.Error:
                pass

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts, "CachedEmbedder")
        name, version, dim = self.inner.name, self.inner.version, self.inner.dim
        out = np.zeros((len(texts), dim), np.float32)  # [N, dim]
        if not texts:
            return out
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        con = self._connection()
        try:
            unique = list(dict.fromkeys(keys))
            for i in range(0, len(unique), 500):  # stay under SQLite's bound-parameter limit
                chunk = unique[i: i + 500]
                rows = con.execute(f"SELECT text_sha256, dim, vec FROM vectors WHERE embedder=? AND version=? "
                                   f"AND text_sha256 IN ({','.join('?' * len(chunk))})", [name, version, *chunk])
                for key, d, blob in rows:
                    if d == dim and len(blob) == 4 * dim:  # a damaged row is treated as a miss
                        found[key] = np.frombuffer(blob, np.float32)
            missing = [k for k in unique if k not in found]
            if missing:
                first = {k: i for i, k in reversed(list(enumerate(keys)))}  # key -> first position
                vecs = np.asarray(self.inner.encode([texts[first[k]] for k in missing]), np.float32)  # [M, dim]
                if vecs.shape != (len(missing), dim):
                    raise EmbedderError(f"Embedder {name!r} returned shape {vecs.shape} for {len(missing)} texts; "
                                        f"expected ({len(missing)}, {dim}).")
                with con:
                    con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)",
                                    [(name, version, k, dim, v.tobytes()) for k, v in zip(missing, vecs)])
                found.update(zip(missing, vecs))
        except sqlite3.Error as exc:
            self._forget()
            raise EmbedderError(f"The embedding cache {self.path} failed ({exc}). Delete the file to reset it, "
                                "or turn the cache off (cache_dir=None).") from None
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, cache_dir={str(self.cache_dir)!r})"


SETUP_WAIT_S = 30.0  # how long a new connection waits for another process that is setting up the same file


def _create_schema(con: sqlite3.Connection) -> None:
    """WAL mode and the table, retried while another process holds the file's lock.

    Switching to WAL needs an exclusive lock, and SQLite answers "database is locked" at once (without its busy
    timeout) when two processes open a new cache together; WAL persists in the file, so it is set only once."""
    deadline = time.monotonic() + SETUP_WAIT_S
    while True:
        try:
            if str(con.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, version TEXT NOT NULL, "
                        "text_sha256 TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL, "
                        "PRIMARY KEY (embedder, version, text_sha256)) WITHOUT ROWID")
            con.commit()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
