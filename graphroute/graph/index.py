"""Nearest known queries for new ones: an exact scan, or an inverted-file (IVF) index for large logs.

Routing a query starts with its ``k`` most similar logged queries (cosine of unit vectors). An exact
scan reads every stored vector per query: O(N·D) memory traffic, which is what made ``select()``
slow down as the logs grew (100k queries × 384 floats is 150 MB per routed query). The IVF index
clusters the stored vectors once (spherical k-means, ~√N cells); a search scores the cells'
centroids and then, exactly, only the members of the ``n_probe`` best cells, so a query reads
O(√N·D). It is approximate: a true neighbour in a cell that was not probed is missed. Every
candidate it does return carries its exact similarity, and a query for which the probed cells
hold fewer than k vectors is answered by the exact scan.

Searching is numpy only (the routing path imports no torch). Building an index draws its seeded
sample with torch's generator (``IVFIndex.build``), so it happens where torch is loaded anyway: at
fit, observe and add_*; a saved router stores its index (``IVFIndex.arrays`` / ``from_arrays``).
Vectors appended after the index was built (``Router.observe``) are scanned exactly (the *tail*)
until they outgrow a fifth of the indexed ones (``is_stale``); the router then builds a new one.
``top_k_neighbors`` is the torch scan that computes the training graph's neighbour lists.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from graphroute.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["IVFIndex", "SEARCH_MODES", "IVF_MIN_KEYS", "resolve_mode", "nearest", "top_k", "top_k_neighbors",
           "is_stale"]

SEARCH_MODES = ("auto", "exact", "ivf")
IVF_MIN_KEYS = 50_000  # "auto" switches to the index from this many stored queries
_REBUILD_TAIL = 0.2  # an index is stale once unindexed vectors exceed this share of the indexed ones


def resolve_mode(mode: str, n_keys: int) -> str:
    """"exact" or "ivf": ``mode`` ("auto" | "exact" | "ivf") for a table of ``n_keys`` vectors."""
    if mode not in SEARCH_MODES:
        raise ConfigError(f"neighbour search mode {mode!r} is not one of {', '.join(SEARCH_MODES)}. "
                          "Pass 'exact' (scan every query), 'ivf' (approximate index) or 'auto'.")
    if mode == "auto":
        return "ivf" if n_keys >= IVF_MIN_KEYS else "exact"
    return mode


def top_k_neighbors(queries: Tensor, keys: Tensor, k: int, exclude_self: bool = False,
                    block: int = 4096) -> tuple[Tensor, Tensor]:
    """Cosine top-k of each row of ``queries`` among ``keys`` (both L2-normalised torch tensors), blockwise.

    Returns (indices [Q, k'], similarities [Q, k']) with k' = min(k, number of keys); with
    ``exclude_self`` row i never returns key i (queries and keys are then the same table).
    The training graph's neighbour lists (``GraphState.refresh_neighbors``) come from here.
    """
    import torch

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


def _top_of(sims: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """The kk largest of each row of ``sims`` [B, N]: similarity descending, equal ones by lower index."""
    n = sims.shape[1]
    if kk < n:
        part = np.argpartition(sims, n - kk, axis=1)[:, n - kk:]  # [B, kk], unordered
        cut = np.take_along_axis(sims, part, 1).min(1)  # [B] the k-th similarity
        ties = (sims >= cut[:, None]).sum(1) > kk  # rows where equal similarities compete for the last slots
        for r in np.flatnonzero(ties):  # rare (duplicate texts): settle them by index, exactly
            cand = np.flatnonzero(sims[r] >= cut[r])
            part[r] = cand[np.lexsort((cand, -sims[r, cand]))[:kk]]
    else:
        part = np.broadcast_to(np.arange(n), sims.shape).copy()
    s = np.take_along_axis(sims, part, 1)
    order = np.lexsort((part, -s), axis=1)  # similarity descending, then index
    return np.take_along_axis(part, order, 1).astype(np.int64), np.take_along_axis(s, order, 1)


def top_k(queries: np.ndarray, keys: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k in numpy: (indices int64 [Q, k'], similarities float32 [Q, k']), k' = min(k, N)."""
    q_n, n = queries.shape[0], keys.shape[0]
    kk = min(k, n)
    if kk <= 0 or q_n == 0:
        return np.zeros((q_n, 0), dtype=np.int64), np.zeros((q_n, 0), dtype=np.float32)
    out_i, out_s = [], []
    for start in range(0, q_n, block):
        i, s = _top_of(queries[start:start + block] @ keys.T, kk)  # [B, N] similarities
        out_i.append(i)
        out_s.append(s)
    return np.concatenate(out_i), np.concatenate(out_s)


class IVFIndex:
    """Spherical k-means cells over unit vectors ``keys`` [N, D]; deterministic for a given seed.

    Build one with ``IVFIndex.build(keys, ...)`` (needs torch) or restore a saved one with
    ``IVFIndex.from_arrays``. centroids [L, D]; perm [N]: key indices grouped by cell; offsets [L + 1].
    """

    def __init__(self, keys: np.ndarray, centroids: np.ndarray, perm: np.ndarray, counts: np.ndarray,
                 n_probe: int) -> None:
        keys = np.asarray(keys, dtype=np.float32)
        self.n_keys = int(perm.shape[0])
        self.n_lists = int(centroids.shape[0])
        self.n_probe = int(n_probe)
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)  # [L, D]
        self.perm = np.asarray(perm, dtype=np.int64)  # [N]
        self.counts = np.asarray(counts, dtype=np.int64)  # [L] keys per cell
        self.offsets = [0] + np.cumsum(self.counts).tolist()
        self.sorted_keys = np.ascontiguousarray(keys[self.perm])  # [N, D], one contiguous block per cell

    @classmethod
    def build(cls, keys, *, n_lists: int | None = None, n_probe: int | None = None, iters: int = 10,
              seed: int = 0) -> IVFIndex:
        """k-means of ``keys`` (numpy or a tensor): n_lists cells (default round(√N)), n_probe searched per
        query (default max(8, n_lists // 10)), iters iterations on a sample of at most 64 vectors per cell."""
        import torch

        keys_t = torch.as_tensor(np.asarray(keys, dtype=np.float32))
        n = keys_t.shape[0]
        if n == 0:
            raise ConfigError("IVFIndex needs at least one key vector; got an empty table. "
                              "Fit the router on logs first, or use neighbor_search='exact'.")
        lists = max(1, min(n, n_lists or round(math.sqrt(n))))
        probe = max(1, min(lists, n_probe or max(8, lists // 10)))
        gen = torch.Generator().manual_seed(seed)
        sample = keys_t[torch.randperm(n, generator=gen)[: min(n, 64 * lists)]]
        cent = sample[torch.randperm(sample.shape[0], generator=gen)[:lists]].clone()
        for _ in range(iters):
            assign = (sample @ cent.T).argmax(1)
            sums = torch.zeros_like(cent).index_add_(0, assign, sample)
            empty = torch.bincount(assign, minlength=lists) == 0
            sums[empty] = cent[empty]  # an empty cell keeps its centroid
            cent = torch.nn.functional.normalize(sums, dim=1)
        assign = torch.cat([(keys_t[s: s + 8192] @ cent.T).argmax(1) for s in range(0, n, 8192)])
        perm = torch.argsort(assign, stable=True)
        counts = torch.bincount(assign, minlength=lists)
        return cls(keys_t.numpy(), cent.numpy(), perm.numpy(), counts.numpy(), probe)

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``from_arrays`` needs (the keys themselves are the router's query table)."""
        return {"centroids": self.centroids, "perm": self.perm, "counts": self.counts,
                "n_probe": np.array([self.n_probe], dtype=np.int64)}

    @classmethod
    def from_arrays(cls, keys: np.ndarray, arrays: dict[str, np.ndarray]) -> IVFIndex:
        perm, counts = np.asarray(arrays["perm"], dtype=np.int64), np.asarray(arrays["counts"], dtype=np.int64)
        cent = np.asarray(arrays["centroids"], dtype=np.float32)
        if (perm.ndim != 1 or perm.shape[0] > keys.shape[0] or counts.shape != cent.shape[:1]
                or int(counts.sum()) != perm.shape[0] or (perm.size and (perm.min() < 0 or perm.max() >= perm.shape[0]))
                or cent.ndim != 2 or cent.shape[1] != keys.shape[1]):
            raise ValueError("the saved neighbour index does not match the query table")
        return cls(keys, cent, perm, counts, int(np.asarray(arrays["n_probe"]).reshape(-1)[0]))

    def search(self, x: np.ndarray, k: int, tail: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Approximate ``top_k(x, keys, k)``; ``tail`` [M, D]: vectors stored after the indexed N
        (indices N..N+M-1), scanned exactly. Rows whose probed cells hold fewer than k vectors are
        padded with similarity -inf (``nearest`` answers those by the exact scan)."""
        q = x.shape[0]
        n_all = self.n_keys + (0 if tail is None else tail.shape[0])
        kk = min(k, n_all)
        out_i = np.zeros((q, max(kk, 0)), dtype=np.int64)
        out_s = np.full((q, max(kk, 0)), -np.inf, dtype=np.float32)
        if kk <= 0 or q == 0:
            return out_i, out_s
        xs = np.ascontiguousarray(x, dtype=np.float32)
        csim = xs @ self.centroids.T  # [Q, L]
        p = self.n_probe
        probe = np.argpartition(-csim, p - 1, axis=1)[:, :p] if p < self.n_lists else \
            np.broadcast_to(np.arange(self.n_lists), (q, self.n_lists))
        tail_s = None if tail is None or not tail.shape[0] else xs @ tail.T  # [Q, M]
        tail_i = None if tail_s is None else np.arange(self.n_keys, n_all)
        off = self.offsets
        for r in range(q):  # per query: one dot per probed cell, each over a contiguous block
            cells = [c for c in probe[r].tolist() if off[c + 1] > off[c]]
            sims = [self.sorted_keys[off[c]: off[c + 1]] @ xs[r] for c in cells]
            ids = [self.perm[off[c]: off[c + 1]] for c in cells]
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
        return out_i, out_s


def is_stale(index: IVFIndex | None, n_keys: int) -> bool:
    """True when ``index`` cannot serve a table of ``n_keys`` vectors: missing, or its unindexed tail
    has outgrown a fifth of it (rows are only ever appended to a router's query table)."""
    return index is None or n_keys < index.n_keys or n_keys - index.n_keys > _REBUILD_TAIL * index.n_keys


def nearest(x: np.ndarray, keys: np.ndarray, k: int, mode: str = "auto", seed: int = 0,
            index: IVFIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k rows of ``keys`` for each row of ``x`` (both unit vectors): (indices, similarities), descending.

    mode: ``"exact"`` scans every key; ``"ivf"`` searches ``index`` (an IVFIndex over the first rows of
    ``keys``; the rows after them are scanned exactly), built here when None (that needs torch);
    ``"auto"`` is exact below ``IVF_MIN_KEYS`` keys and IVF from there.
    """
    x = np.asarray(x, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.float32)
    if resolve_mode(mode, keys.shape[0]) == "exact" or keys.shape[0] == 0:
        return top_k(x, keys, k)
    if index is None or index.n_keys > keys.shape[0]:
        index = IVFIndex.build(keys, seed=seed)
    n = index.n_keys
    idx, sim = index.search(x, k, tail=keys[n:] if keys.shape[0] > n else None)
    short = ~np.isfinite(sim).all(1)  # the probed cells held fewer than k vectors: scan those rows
    if short.any():
        idx[short], sim[short] = top_k(x[short], keys, k)
    return idx, sim
