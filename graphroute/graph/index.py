"""Nearest known queries for new ones: an exact scan, or an inverted-file (IVF) index for large logs.

Routing a query starts with its ``k`` most similar logged queries (cosine of unit vectors). An exact
scan reads every stored vector per query: O(N·D) memory traffic, which is what made ``select()``
slow down as the logs grew (100k queries × 384 floats is 150 MB per routed query). The IVF index
clusters the stored vectors once (spherical k-means, ~√N cells); a search scores the cells'
centroids and then, exactly, only the members of the ``n_probe`` best cells, so a query reads
O(√N·D). It is approximate: a true neighbour in a cell that was not probed is missed. Every
candidate it does return carries its exact similarity, and a query for which the probed cells
hold fewer than k vectors is answered by the exact scan.

Vectors appended after the index was built (``Router.observe``, new queries) are scanned exactly
until they outgrow a fifth of the indexed ones; the index is then rebuilt on the next search.
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np
import torch
from torch import Tensor

from graphroute.errors import ConfigError

__all__ = ["IVFIndex", "SEARCH_MODES", "IVF_MIN_KEYS", "nearest", "top_k_neighbors", "build_index", "carry_index"]

SEARCH_MODES = ("auto", "exact", "ivf")
IVF_MIN_KEYS = 50_000  # "auto" switches to the index from this many stored queries
_REBUILD_TAIL = 0.2  # rebuild once unindexed vectors exceed this share of the indexed ones


def top_k_neighbors(queries: Tensor, keys: Tensor, k: int, exclude_self: bool = False,
                    block: int = 4096) -> tuple[Tensor, Tensor]:
    """Cosine top-k of each row of ``queries`` among ``keys`` (both L2-normalised), blockwise.

    Returns (indices [Q, k'], similarities [Q, k']) with k' = min(k, number of keys); with
    ``exclude_self`` row i never returns key i (queries and keys are then the same table).
    """
    n_keys = keys.shape[0]
    kk = min(k, n_keys - (1 if exclude_self else 0))
    if kk <= 0 or queries.shape[0] == 0:
        return (torch.zeros(queries.shape[0], 0, dtype=torch.long),
                torch.zeros(queries.shape[0], 0))
    idx_out, sim_out = [], []
    buf = torch.empty(min(block, queries.shape[0]), n_keys, dtype=torch.result_type(queries, keys))
    for start in range(0, queries.shape[0], block):
        q = queries[start:start + block]
        # one buffer for every block: a fresh [B, n_keys] each time costs page faults (~30% of the time)
        sims = torch.mm(q, keys.T, out=buf[:q.shape[0]])  # [B, n_keys]
        if exclude_self:
            rows = torch.arange(sims.shape[0])
            sims[rows, rows + start] = -math.inf
        s, i = sims.topk(kk, dim=1)
        idx_out.append(i)
        sim_out.append(s)
    return torch.cat(idx_out), torch.cat(sim_out)



class IVFIndex:
    """Spherical k-means cells over unit vectors ``keys`` [N, D]; deterministic for a given seed.

    n_lists: number of cells (default round(√N)); n_probe: cells searched per query (default
    max(8, n_lists // 10)); iters: k-means iterations on a sample of at most 64 vectors per cell.
    """

    def __init__(self, keys: Tensor, *, n_lists: int | None = None, n_probe: int | None = None,
                 iters: int = 10, seed: int = 0) -> None:
        n = keys.shape[0]
        if n == 0:
            raise ConfigError("IVFIndex needs at least one key vector; got an empty table.")
        self.n_keys = n
        self.n_lists = max(1, min(n, n_lists or round(math.sqrt(n))))
        self.n_probe = max(1, min(self.n_lists, n_probe or max(8, self.n_lists // 10)))
        gen = torch.Generator().manual_seed(seed)
        sample = keys[torch.randperm(n, generator=gen)[: min(n, 64 * self.n_lists)]]
        cent = sample[torch.randperm(sample.shape[0], generator=gen)[: self.n_lists]].clone()
        for _ in range(iters):
            assign = (sample @ cent.T).argmax(1)
            sums = torch.zeros_like(cent).index_add_(0, assign, sample)
            empty = torch.bincount(assign, minlength=self.n_lists) == 0
            sums[empty] = cent[empty]  # an empty cell keeps its centroid
            cent = torch.nn.functional.normalize(sums, dim=1)
        self.centroids = cent  # [L, D]
        assign = torch.cat([(keys[s: s + 8192] @ cent.T).argmax(1) for s in range(0, n, 8192)])
        self.perm = torch.argsort(assign, stable=True)  # key indices grouped by cell
        self.sorted_keys = keys[self.perm].contiguous()  # [N, D], one contiguous block per cell
        counts = torch.bincount(assign, minlength=self.n_lists)
        self.offsets = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]).tolist()
        # numpy views for the search loop: a small numpy dot costs a fraction of a torch op's overhead
        self._cent = self.centroids.numpy()
        self._keys = self.sorted_keys.numpy()
        self._perm = self.perm.numpy()
        self._off = self.offsets

    def search(self, x: Tensor, k: int, tail: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Approximate ``top_k_neighbors(x, keys, k)``; ``tail`` [M, D]: vectors stored after the indexed N
        (indices N..N+M-1), scanned exactly. Rows whose probed cells hold fewer than k vectors are
        padded with similarity -inf (``nearest`` answers those by the exact scan)."""
        q = x.shape[0]
        n_all = self.n_keys + (0 if tail is None else tail.shape[0])
        kk = min(k, n_all)
        out_i = np.zeros((q, max(kk, 0)), dtype=np.int64)
        out_s = np.full((q, max(kk, 0)), -np.inf, dtype=np.float32)
        if kk > 0 and q > 0:
            xs = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
            csim = xs @ self._cent.T  # [Q, L]
            p = self.n_probe
            probe = np.argpartition(-csim, p - 1, axis=1)[:, :p] if p < self.n_lists else \
                np.broadcast_to(np.arange(self.n_lists), (q, self.n_lists))
            tail_s = None if tail is None or not tail.shape[0] else xs @ tail.detach().numpy().T  # [Q, M]
            tail_i = None if tail_s is None else np.arange(self.n_keys, n_all)
            for r in range(q):  # per query: one dot per probed cell, each over a contiguous block
                cells = [c for c in probe[r].tolist() if self._off[c + 1] > self._off[c]]
                sims = [self._keys[self._off[c]: self._off[c + 1]] @ xs[r] for c in cells]
                ids = [self._perm[self._off[c]: self._off[c + 1]] for c in cells]
                if tail_s is not None:
                    sims.append(tail_s[r])
                    ids.append(tail_i)
                if not sims:
                    continue
                s_r, i_r = np.concatenate(sims), np.concatenate(ids)
                if s_r.shape[0] > kk:
                    keep = np.argpartition(-s_r, kk - 1)[:kk]
                    s_r, i_r = s_r[keep], i_r[keep]
                order = np.lexsort((i_r, -s_r))  # similarity descending, then index
                out_s[r, : order.shape[0]], out_i[r, : order.shape[0]] = s_r[order], i_r[order]
        return torch.from_numpy(out_i), torch.from_numpy(out_s)


# id(keys tensor) -> (weak reference to it, IVFIndex, rows indexed); an entry leaves with its tensor.
# (Not a WeakKeyDictionary: that compares colliding keys with ==, which tensors answer elementwise.)
_INDEXES: dict[int, tuple[weakref.ref, IVFIndex, int]] = {}
_LOCK = threading.Lock()


def _get(keys: Tensor) -> tuple[IVFIndex, int] | None:
    entry = _INDEXES.get(id(keys))
    return None if entry is None or entry[0]() is not keys else (entry[1], entry[2])


def _put(keys: Tensor, index: IVFIndex, n_indexed: int) -> None:
    if id(keys) not in _INDEXES:
        weakref.finalize(keys, _INDEXES.pop, id(keys), None)
    _INDEXES[id(keys)] = (weakref.ref(keys), index, n_indexed)


def carry_index(old_keys: Tensor, new_keys: Tensor) -> None:
    """``new_keys`` extends ``old_keys`` (rows appended): let it reuse the old index, scanning the new rows."""
    with _LOCK:
        entry = _get(old_keys)
        if entry is not None:
            _put(new_keys, *entry)


def build_index(keys: Tensor, seed: int = 0) -> IVFIndex:
    """The IVF index ``nearest(..., mode="ivf")`` will use for ``keys``, built now if it is missing or stale."""
    return _index_for(keys, seed)[0]


def _index_for(keys: Tensor, seed: int) -> tuple[IVFIndex, int]:
    with _LOCK:
        entry = _get(keys)
        if entry is None or keys.shape[0] - entry[1] > _REBUILD_TAIL * entry[1]:
            entry = (IVFIndex(keys, seed=seed), keys.shape[0])
            _put(keys, *entry)
        return entry


def nearest(x: Tensor, keys: Tensor, k: int, mode: str = "auto", seed: int = 0) -> tuple[Tensor, Tensor]:
    """Top-k rows of ``keys`` for each row of ``x`` (both unit vectors): (indices, similarities), descending.

    mode: ``"exact"`` scans every key; ``"ivf"`` uses an IVF index over ``keys`` (built on first use and
    cached with the tensor); ``"auto"`` is exact below ``IVF_MIN_KEYS`` keys and IVF from there.
    """
    if mode not in SEARCH_MODES:
        raise ConfigError(f"neighbour search mode {mode!r} is not one of {', '.join(SEARCH_MODES)}.")
    if mode == "exact" or (mode == "auto" and keys.shape[0] < IVF_MIN_KEYS) or keys.shape[0] == 0:
        return top_k_neighbors(x, keys, k)
    index, n_indexed = _index_for(keys, seed)
    idx, sim = index.search(x, k, tail=keys[n_indexed:] if keys.shape[0] > n_indexed else None)
    short = ~torch.isfinite(sim).all(1)  # the probed cells held fewer than k vectors: scan those rows
    if bool(short.any()):
        e_i, e_s = top_k_neighbors(x[short], keys, k)
        idx, sim = idx.clone(), sim.clone()
        idx[short], sim[short] = e_i, e_s
    return idx, sim
