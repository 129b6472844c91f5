"""Published router snapshots: numbered generations plus one pointer file, replaced atomically.

Layout of a snapshot directory::

    gen-000007/          a router saved with Router.save (itself written atomically)
    CURRENT              JSON {generation, path, outcome_watermark, op_watermark, published_at, base}

The learner saves a generation, fsyncs, then replaces CURRENT with ``os.replace``: a reader sees
the old pointer or the new one, never a half-written file, and the directory it names is complete.
``outcome_watermark`` is the highest outcome id folded into that router; on restart the learner
replays only outcomes above it, so each outcome is folded exactly once. Old generations are pruned
(the newest ``keep`` stay), so a worker still loading a recent one finds it. ``base`` identifies the
router the directory was started from (``router_digest``): a restart with another ``--router`` is
refused, since the snapshots would silently keep serving the first one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import graphroute as gr

__all__ = ["Pointer", "SnapshotDir", "router_digest"]


def router_digest(path: str | Path | None) -> str:
    """The identity of a saved router: the sha256 of its manifest.json (which lists every file's hash);
    ``path`` None is the shipped default router."""
    from graphroute.routers.default import default_router_path

    root = Path(path) if path is not None else default_router_path()
    return hashlib.sha256((root / "manifest.json").read_bytes()).hexdigest()


@dataclass(frozen=True)
class Pointer:
    """What CURRENT says: the published generation and how much of the store it holds."""

    generation: int
    path: str  # directory name inside the snapshot directory
    outcome_watermark: int  # highest outcome id folded into this router
    op_watermark: int  # highest model_ops id applied
    published_at: float
    base: str | None = None  # router_digest of the router generation 0 was made from (None: written before it was kept)


class SnapshotDir:
    """The snapshot directory at ``root`` (created when absent)."""

    POINTER = "CURRENT"

    def __init__(self, root: str | Path, keep: int = 3) -> None:
        self.root = Path(root)
        self.keep = keep
        self.root.mkdir(parents=True, exist_ok=True)

    def current(self) -> Pointer | None:
        """The published pointer, or None before the first publish."""
        try:
            data = json.loads((self.root / self.POINTER).read_text())
            return Pointer(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise gr.RouterFileError(f"{self.root / self.POINTER} is unreadable ({exc}); it is written atomically, "
                                     "so it was edited by hand. Delete it to restart from the base router.") from None

    def router_path(self, pointer: Pointer) -> Path:
        name = Path(pointer.path).name  # never a path outside the directory, whatever the file says
        return self.root / name

    def load(self, pointer: Pointer):
        """The router of ``pointer`` (gr.load checks every file's hash)."""
        return gr.load(self.router_path(pointer))

    def check_base(self, base: str, router: str | None) -> None:
        """Raise ConfigError when these snapshots were started from another router than ``router``
        (digest ``base``); nothing published yet, or a pointer written before bases were kept, passes."""
        cur = self.current()
        if cur is not None and cur.base is not None and cur.base != base:
            name = router if router is not None else "the shipped default router"
            raise gr.ConfigError(f"The snapshots in {self.root} were started from another router (digest "
                                 f"{cur.base[:12]}), not from {name} (digest {base[:12]}): serving them would "
                                 "ignore the router you passed. Fix: pass the --router they were started with, "
                                 "or a new --db (or --snapshots directory) for this router.")

    def publish(self, router, outcome_watermark: int, op_watermark: int, base: str | None = None) -> Pointer:
        """Save ``router`` as the next generation and point CURRENT at it (``base``: see ``check_base``)."""
        cur = self.current()
        gen = (cur.generation + 1) if cur else 0
        name = f"gen-{gen:06d}"
        router.save(self.root / name)
        for f in (self.root / name).iterdir():  # Router.save renames atomically; the data must be on disk too
            _fsync(f, os.O_RDONLY)
        _fsync(self.root / name, os.O_RDONLY)
        pointer = Pointer(generation=gen, path=name, outcome_watermark=int(outcome_watermark),
                          op_watermark=int(op_watermark), published_at=time.time(), base=base)
        tmp = self.root / f".{self.POINTER}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(asdict(pointer), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / self.POINTER)
        _fsync(self.root, os.O_RDONLY)
        self.prune(gen)
        return pointer

    def prune(self, current_gen: int) -> None:
        """Remove generations older than the newest ``keep`` and unpublished leftovers of a crash."""
        for p in self.root.glob("gen-*"):
            try:
                gen = int(p.name.split("-", 1)[1])
            except ValueError:
                continue
            if gen <= current_gen - self.keep or gen > current_gen:
                shutil.rmtree(p, ignore_errors=True)


def _fsync(path: Path, flags: int) -> None:
    """Flush a file, or a directory's entries (POSIX needs the directory synced after a rename)."""
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
