"""The routing graph as numpy arrays: what a router serves from, with no torch imported.

`GraphArrays` holds the same node tables, outcome edges and neighbour lists as the training-side
`graph.state.GraphState` (which converts to and from it), and computes what routing a query needs:
the pair tables and pair statistics the decoder reads, the per-query outcome lists for evidence,
and the cost / latency scales. The arithmetic mirrors ``GraphState``'s torch code operation by
operation (float32), except the effect records' prior and its weight, which both call the float64
numpy functions here (``two_way_prior``, ``record_weight``); predictions agree within float rounding
(tests/test_pair_tables.py).
Shapes use N known queries, E outcome edges, T tasks, P candidate pairs, Q target queries, K neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from graphroute.graph.schema import MAX_SHRINK, SHRINK

__all__ = ["GraphArrays", "PairTablesNP", "neighbor_weights", "record_shrink", "two_way_prior", "cross_fit_weight",
           "task_halves", "record_weight"]

F32 = np.float32
PRIOR_CLIP = 1e-3  # the overall mean effect is clipped to [PRIOR_CLIP, 1 - PRIOR_CLIP] before its logit
PRIOR_STEPS = 100  # most Newton steps of two_way_prior (it converges in under 10 on the bench logs)
PRIOR_MAX_STEP = 4.0  # largest change of one logit per step (damps the first steps from a far start)
CROSS_FIT_SPLITS = 3  # splits of the queries into halves that choose the records' prior weight
CROSS_FIT_GRID = np.exp(np.linspace(0.0, np.log(MAX_SHRINK), 41))  # prior weights tried: 1 to MAX_SHRINK runs


def neighbor_weights(sim: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of similarities [Q, K] over the valid (finite) neighbours; a row with none gets zeros."""
    valid = np.isfinite(sim)
    s = np.where(valid, sim, F32(-1e9)).astype(F32) / F32(temperature)
    if s.shape[1] == 0:
        return s
    e = np.exp(s - s.max(1, keepdims=True))
    w = (e / e.sum(1, keepdims=True)) * valid
    return (w / np.maximum(w.sum(1, keepdims=True), F32(1e-12))).astype(F32)


def two_way_prior(t_cnt: np.ndarray, t_sum: np.ndarray, base: float, weight: float = SHRINK) -> np.ndarray:
    """[T, P] the two-way prior of the (task, pair) effect records: sigmoid(a_t + b_p), a task level plus a
    pair skill on the logit scale (an item-response model of the cells), float64.

    t_cnt, t_sum: [T, P] runs and sum of the effect per (task, pair); base: the mean effect of every run.
    Fitted by penalised binomial likelihood (effects in [0, 1] count as fractional successes): each a_t
    has ``weight`` pseudo-runs pulling it to logit(base), each b_p ``weight`` pseudo-runs pulling it to 0,
    so a task without runs gets the overall level and a pair without runs the task's. On the logit scale
    skill adds where probabilities cannot: a pair 0.10 above the rest on a task everyone nearly solves is
    far above them on a hard one (an additive prior on the probability scale put it only 0.10 above).
    Newton steps on all T + P logits at once (the penalty makes the problem strictly convex; a level and
    a skill trade off against each other, which one block at a time would follow only slowly), to a step
    below 1e-9 or ``PRIOR_STEPS`` steps; deterministic.
    """
    n, s = np.asarray(t_cnt, dtype=np.float64), np.asarray(t_sum, dtype=np.float64)
    n_t, n_p = n.shape
    clipped = min(max(float(base), PRIOR_CLIP), 1 - PRIOR_CLIP)
    b0 = math.log(clipped / (1 - clipped))
    lam = weight * 0.25  # pseudo-runs times one run's Fisher information at p = 1/2
    target = np.concatenate([np.full(n_t, b0), np.zeros(n_p)])  # where the pseudo-runs pull; also the start
    theta = target.copy()
    for _ in range(PRIOR_STEPS):
        p = 1.0 / (1.0 + np.exp(-(theta[:n_t, None] + theta[None, n_t:])))
        r, w = s - n * p, n * p * (1 - p)
        grad = np.concatenate([r.sum(1), r.sum(0)]) - lam * (theta - target)
        hess = np.zeros((n_t + n_p, n_t + n_p))
        hess[:n_t, n_t:], hess[n_t:, :n_t] = w, w.T
        hess[np.diag_indices(n_t + n_p)] = np.concatenate([w.sum(1), w.sum(0)]) + lam
        step = np.clip(np.linalg.solve(hess, grad), -PRIOR_MAX_STEP, PRIOR_MAX_STEP)
        theta = theta + step
        if float(np.abs(step).max(initial=0.0)) < 1e-9:
            break
    return 1.0 / (1.0 + np.exp(-(theta[:n_t, None] + theta[None, n_t:])))


def task_halves(query_task: np.ndarray, bit: int = 0) -> np.ndarray:
    """[N] bool: one half of a split ``record_weight`` cross-fits: the queries whose rank within their task
    (in graph order) has this bit set (bit 0: every other query; bit 1: every other pair of queries; ...),
    so that each task is split evenly however its queries interleave with other tasks'."""
    return (_task_rank(query_task) >> bit) % 2 == 1


def _task_rank(query_task: np.ndarray) -> np.ndarray:
    """[N] each query's position among the queries of its task, in graph order."""
    qt = np.asarray(query_task, dtype=np.int64)
    order = np.argsort(qt, kind="stable")
    sorted_t = qt[order]
    first = np.searchsorted(sorted_t, sorted_t, side="left")  # where each query's task starts in the order
    rank = np.empty(len(qt), dtype=np.int64)
    rank[order] = np.arange(len(qt)) - first
    return rank


def record_weight(eff: np.ndarray, cnt: np.ndarray, query_task: np.ndarray, n_tasks: int) -> float:
    """The prior weight of the (task, pair) effect records for outcome matrices ``eff`` / ``cnt`` [N, P] (mean
    effect and runs per (query, pair)) of queries in tasks ``query_task`` [N]: ``cross_fit_weight`` over
    ``CROSS_FIT_SPLITS`` splits into ``task_halves`` (their errors summed: one split's choice moves by a grid
    step or more with the split), in float64; the torch and the numpy pair tables call this one function."""
    c = np.asarray(cnt, dtype=np.float64)
    qt = np.asarray(query_task, dtype=np.int64)
    n_groups, n_p = 1 << CROSS_FIT_SPLITS, c.shape[1]  # queries grouped by task and rank mod 2**splits
    group = qt * n_groups + _task_rank(qt) % n_groups
    sums = _task_sums(np.hstack([c, np.asarray(eff, dtype=np.float64) * c]), group, n_tasks * n_groups)
    sums = sums.reshape(n_tasks, n_groups, 2 * n_p)  # runs, then effect sums, per (task, group, pair)
    splits = []
    for bit in range(CROSS_FIT_SPLITS):
        odd = (np.arange(n_groups) >> bit) % 2 == 1
        splits.append([(sums[:, part, :n_p].sum(1), sums[:, part, n_p:].sum(1)) for part in (~odd, odd)])
    return cross_fit_weight(splits)


def _task_sums(mat: np.ndarray, query_task: np.ndarray, n_tasks: int) -> np.ndarray:
    """[T, P] the rows of ``mat`` [N, P] summed per task (one sorted pass)."""
    out = np.zeros((n_tasks, mat.shape[1]))
    if not len(query_task):
        return out
    order = np.argsort(query_task, kind="stable")
    tasks, starts = np.unique(query_task[order], return_index=True)
    out[tasks] = np.add.reduceat(mat[order], starts, axis=0)
    return out


def cross_fit_weight(splits: list[list[tuple[np.ndarray, np.ndarray]]]) -> float:
    """The prior weight m (in runs) of the (task, pair) effect records, chosen by cross-fitting: in each split
    of the queries into two halves (each half's [T, P] runs and effect sums), each half builds records with its
    own ``two_way_prior`` for every m on ``CROSS_FIT_GRID``, and m is the one whose records predict the other
    half's cell means best (squared error weighted by the other half's runs, summed both ways and over splits).

    Where the cells differ from the prior by more than the noise of a cell's mean, a small m wins (the cells
    keep their own runs); where they differ only by noise (few runs per cell, as in logs that keep one or two
    outcomes per query), a large one (the records lean on the prior). No cell with runs in both halves of any
    split: SHRINK.
    """
    err = np.zeros(len(CROSS_FIT_GRID))
    scored = False
    for halves in splits:
        (na, sa), (nb, sb) = ((np.asarray(n, dtype=np.float64), np.asarray(x, dtype=np.float64)) for n, x in halves)
        both = (na > 0) & (nb > 0)
        if not both.any():
            continue
        scored = True
        for (n1, s1), (n2, s2) in (((na, sa), (nb, sb)), ((nb, sb), (na, sa))):
            prior = two_way_prior(n1, s1, float(s1.sum() / max(n1.sum(), 1.0)))
            w, target = n2[both], (s2 / np.maximum(n2, 1.0))[both]
            n1b, s1b, pb = n1[both], s1[both], prior[both]
            m = CROSS_FIT_GRID[:, None]
            err += np.sum(w * ((s1b + m * pb) / (n1b + m) - target) ** 2, axis=1)
    return float(CROSS_FIT_GRID[int(np.argmin(err))]) if scored else SHRINK


def record_shrink(t_cnt: np.ndarray, t_sum: np.ndarray, t_sq: np.ndarray, prior: np.ndarray,
                  floor: float = SHRINK, cap: float = MAX_SHRINK) -> float:
    """The prior weight m (in runs) of the (task, pair) effect records, decided by the data (method of moments).

    t_cnt, t_sum, t_sq: [T, P] runs, sum and sum of squares of the effect per (task, pair); prior: [T, P]
    the two-way prior (task level + pair skill). A cell's record is (sum + m·prior) / (n + m), with
    m = within-cell variance / variance of the cells' true deviations from the prior (the deviations'
    observed spread minus its sampling part), clipped to [floor, cap]: where the (task, pair)
    interactions are small next to the noise of a cell's mean (few runs per cell, as in logs that
    keep one or two outcomes per query), the records lean on the prior; where they are large, on the
    cell's own runs. (``text_evidence`` shrinks its per-pair means to the task mean with it; the graph's
    records use ``cross_fit_weight``.)
    """
    t_cnt, t_sum, t_sq, prior = (np.asarray(a, dtype=np.float64) for a in (t_cnt, t_sum, t_sq, prior))
    many = t_cnt > 1
    if not many.any():
        return floor
    mean = t_sum / np.maximum(t_cnt, 1.0)
    within = float(np.sum((t_sq - t_cnt * mean ** 2)[many]) / np.sum(t_cnt[many] - 1.0))
    seen = t_cnt > 0
    tau2 = float(np.mean((mean[seen] - prior[seen]) ** 2 - within / t_cnt[seen]))
    m = within / tau2 if tau2 > 1e-12 else cap
    return float(min(max(m, floor), cap))


@dataclass
class PairTablesNP:
    """Query-independent records the pair statistics read (``GraphArrays.pair_tables``)."""

    eff: np.ndarray  # [N, P] mean effect per (query, pair)
    cz: np.ndarray  # [N, P] mean cost_z
    has: np.ndarray  # [N, P] 1.0 where the pair ran on the query
    pair_eff: np.ndarray  # [P] overall record, shrunk
    log_tot: np.ndarray  # [P] log1p(runs per pair) / 10
    task_eff: np.ndarray  # [T, P] record per task, shrunk
    task_cz: np.ndarray  # [T, P]
    log_t_cnt: np.ndarray  # [T, P] log1p(runs per (task, pair)) / 10


@dataclass
class GraphArrays:
    """Node tables and outcome edges as numpy arrays (the fields of ``GraphState``)."""

    query_ids: list[str]
    query_texts: list[str]
    query_task: np.ndarray  # [N] int64
    query_x: np.ndarray  # [N, D] float32
    task_names: list[str]
    task_x: np.ndarray  # [T, D]
    model_names: list[str]
    model_x: np.ndarray  # [M, D]
    model_num: np.ndarray  # [M, 4]
    agent_names: list[str]
    agent_x: np.ndarray  # [A, D]
    out_query: np.ndarray  # [E] int64
    out_model: np.ndarray  # [E] int64
    out_agent: np.ndarray  # [E] int64
    out_effect: np.ndarray  # [E] float32
    out_cost: np.ndarray  # [E] float32 dollars
    out_latency: np.ndarray  # [E] float32 seconds, NaN where not logged
    nbr_idx: np.ndarray  # [N, K0] int64 (the training graph's neighbour lists)
    nbr_sim: np.ndarray  # [N, K0] float32
    cost_loc: float = 0.0
    cost_scale: float = 1.0
    cost_eps: float = 1e-6
    lat_loc: float = 0.0
    lat_scale: float = 1.0

    ARRAYS = ("query_task", "query_x", "task_x", "model_x", "model_num", "agent_x", "out_query", "out_model",
              "out_agent", "out_effect", "out_cost", "out_latency", "nbr_idx", "nbr_sim")
    LISTS = ("query_ids", "query_texts", "task_names", "model_names", "agent_names")
    SCALARS = ("cost_loc", "cost_scale", "cost_eps", "lat_loc", "lat_scale")
    INTS = ("query_task", "out_query", "out_model", "out_agent", "nbr_idx")

    # ---- sizes and scales ------------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    @property
    def n_pairs(self) -> int:
        return len(self.model_names) * len(self.agent_names)

    @property
    def has_latency(self) -> bool:
        return bool(np.isfinite(self.out_latency).any())

    def pair_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """(model index [P], agent index [P]) of each candidate pair, in the pair order (model-major)."""
        n_m, n_a = len(self.model_names), len(self.agent_names)
        return np.repeat(np.arange(n_m, dtype=np.int64), n_a), np.tile(np.arange(n_a, dtype=np.int64), n_m)

    def pair_index(self, model: np.ndarray, agent: np.ndarray) -> np.ndarray:
        return model * len(self.agent_names) + agent

    def cost_z(self, cost: np.ndarray) -> np.ndarray:
        return ((np.log(cost + F32(self.cost_eps)) - F32(self.cost_loc)) / F32(self.cost_scale)).astype(F32)

    def cost_from_z(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(np.exp(z * F32(self.cost_scale) + F32(self.cost_loc)) - F32(self.cost_eps), F32(0.0))

    def lat_from_z(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(np.expm1(z * F32(self.lat_scale) + F32(self.lat_loc)), F32(0.0))

    # ---- decoder statistics ------------------------------------------------------------------
    def outcome_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean effect, mean cost_z and count per (query, pair) over every outcome edge: three [N, P]."""
        n, n_p = self.n_queries, self.n_pairs
        flat = self.out_query * n_p + self.pair_index(self.out_model, self.out_agent)
        cnt = np.bincount(flat, minlength=n * n_p).astype(F32)
        eff = np.bincount(flat, weights=self.out_effect, minlength=n * n_p).astype(F32)
        cz = np.bincount(flat, weights=self.cost_z(self.out_cost), minlength=n * n_p).astype(F32)
        safe = np.maximum(cnt, F32(1))
        return (eff / safe).reshape(n, n_p), (cz / safe).reshape(n, n_p), cnt.reshape(n, n_p)

    def pair_tables(self) -> PairTablesNP:
        """``GraphState.pair_tables`` of every outcome edge, in numpy (see there for the two-way prior)."""
        eff, cz, cnt = self.outcome_matrix()
        tot_cnt = cnt.sum(0)  # [P]
        tot_eff = (eff * cnt).sum(0)
        tot_cz = (cz * cnt).sum(0)
        all_eff = tot_eff.sum() / np.maximum(tot_cnt.sum(), F32(1))
        all_cz = tot_cz.sum() / np.maximum(tot_cnt.sum(), F32(1))
        sh = F32(SHRINK)
        pair_eff = (tot_eff + sh * all_eff) / (tot_cnt + sh)
        t_cnt, t_eff, t_cz = self._per_task(cnt, eff * cnt, cz * cnt)  # [T, P] each
        n_task = t_cnt.sum(1)  # [T]
        task_all_cz = (t_cz.sum(1) + sh * all_cz) / (n_task + sh)
        resid_cz = (t_cz - t_cnt * task_all_cz[:, None]).sum(0)
        off_cz = (resid_cz + sh * self._price_offset(resid_cz, tot_cnt)) / (tot_cnt + sh)
        prior_eff = two_way_prior(t_cnt, t_eff, float(all_eff)).astype(F32)  # [T, P]
        prior_cz = task_all_cz[:, None] + off_cz[None]
        m = F32(record_weight(eff, cnt, self.query_task, len(self.task_names)))  # the records' prior weight
        return PairTablesNP(eff=eff, cz=cz, has=(cnt > 0).astype(F32), pair_eff=pair_eff.astype(F32),
                            log_tot=(np.log1p(tot_cnt) / F32(10)).astype(F32),
                            task_eff=((t_eff + m * prior_eff) / (t_cnt + m)).astype(F32),
                            task_cz=((t_cz + sh * prior_cz) / (t_cnt + sh)).astype(F32),
                            log_t_cnt=(np.log1p(t_cnt) / F32(10)).astype(F32))

    def _per_task(self, *mats: np.ndarray) -> list[np.ndarray]:
        """Each [N, P] matrix summed over the queries of each task: [T, P] (one pass over sorted rows)."""
        n_t = len(self.task_names)
        order = np.argsort(self.query_task, kind="stable")
        counts = np.bincount(self.query_task, minlength=n_t)
        ends = np.cumsum(counts)
        starts = ends - counts
        out = []
        for m in mats:
            sums, sorted_m = np.zeros((n_t, m.shape[1]), F32), m[order]
            for t in np.flatnonzero(counts):  # tasks with queries
                sums[t] = sorted_m[starts[t]:ends[t]].sum(0)
            out.append(sums)
        return out

    def _price_offset(self, resid_cz: np.ndarray, tot_cnt: np.ndarray) -> np.ndarray:
        """``GraphState._price_offset`` in numpy: the pairs' cost offset as their model's price predicts it."""
        n_a = len(self.agent_names)
        price = np.expm1(self.model_num[:, 0]) + np.expm1(self.model_num[:, 1])  # [M]
        priced = np.repeat(self.model_num[:, 2] > 0, n_a)  # [P], pairs are model-major
        x = np.repeat(np.log(price + F32(1e-3)), n_a)
        fit = priced & (tot_cnt > 0)
        out = np.zeros_like(resid_cz)
        if int(fit.sum()) < 3:
            return out
        xf, yf = x[fit], resid_cz[fit] / tot_cnt[fit]
        var = ((xf - xf.mean()) ** 2).sum()
        if float(var) < 1e-9:
            return out
        slope = ((xf - xf.mean()) * (yf - yf.mean())).sum() / var
        return np.where(priced, yf.mean() + slope * (x - xf.mean()), out).astype(F32)

    @staticmethod
    def pair_features(tb: PairTablesNP, nbr_idx: np.ndarray, nbr_w: np.ndarray, task_idx: np.ndarray) -> np.ndarray:
        """``GraphState.pair_features`` from published tables: [Q, P, len(PAIR_FEATURES)] float32."""
        te, tc = tb.task_eff[task_idx], tb.task_cz[task_idx]  # [Q, P]
        w = nbr_w[..., None] * tb.has[nbr_idx]  # [Q, K, P]
        mass = w.sum(1)  # [Q, P]
        prior = F32(SHRINK * 0.2)
        knn_eff = ((w * tb.eff[nbr_idx]).sum(1) + prior * te) / (mass + prior)
        knn_cz = ((w * tb.cz[nbr_idx]).sum(1) + prior * tc) / (mass + prior)
        return np.stack([knn_eff, mass, knn_cz, te, tc, np.broadcast_to(tb.pair_eff[None], te.shape),
                         np.broadcast_to(tb.log_tot[None], te.shape), tb.log_t_cnt[task_idx]],
                        axis=-1).astype(F32)

    def task_votes(self, nbr: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The task each row's neighbours vote for (weighted by similarity); the first task on a tie: [Q]."""
        votes = np.zeros((nbr.shape[0], len(self.task_names)), dtype=F32)
        rows = np.broadcast_to(np.arange(nbr.shape[0])[:, None], nbr.shape)
        np.add.at(votes, (rows, self.query_task[nbr]), w)
        return votes.argmax(1)

    def edges_by_query(self) -> tuple[np.ndarray, np.ndarray]:
        """(order [E], offsets [N + 1]): the outcome edges of query i are ``order[offsets[i]:offsets[i + 1]]``."""
        order = np.argsort(self.out_query, kind="stable")
        offsets = np.zeros(self.n_queries + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(np.bincount(self.out_query, minlength=self.n_queries))
        return order, offsets

    # ---- persistence ------------------------------------------------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        return {n: np.ascontiguousarray(getattr(self, n)) for n in self.ARRAYS}

    def meta(self) -> dict:
        return {**{n: list(getattr(self, n)) for n in self.LISTS}, **{n: getattr(self, n) for n in self.SCALARS}}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict) -> GraphArrays:
        """From saved parts; a compact save's float16 / int32 come back as float32 / int64."""
        arr = {n: np.asarray(arrays[n], dtype=np.int64 if n in cls.INTS else F32) for n in cls.ARRAYS}
        return cls(**arr, **{n: list(meta[n]) for n in cls.LISTS}, **{n: float(meta[n]) for n in cls.SCALARS})
