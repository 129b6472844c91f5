"""Lexical baselines on TF-IDF features: kNN (k=30, uniform weights) and one ridge per candidate pair.

Ten-line routers a demanding reviewer brings (issue 14): on some data they beat everything built
on sentence embeddings, so they are the bar. The vectoriser and the ridge are scikit-learn's
(``TfidfVectorizer``, ``Ridge``), fitted on the training query texts only.

- ``TfidfKNNRouter``: the k most similar training queries by TF-IDF cosine; each pair's effect and
  cost is the plain mean over the neighbours that ran it (the pair's task mean where none did).
  When a query's task is given and known, neighbours come from that task only.
- ``TfidfRidgeRouter``: per (model, agent), a ridge from the TF-IDF vector (+ a task one-hot) to
  the effect and another to log cost, each fitted on the queries that ran the pair.

A query given without a task gets the task its nearest training queries vote for (the ridge's
one-hot then encodes that inferred task), so both route task-free queries.
"""

from __future__ import annotations

import numpy as np

from graphroute.routers.baselines.common import TASK_VOTERS, TableRouter, check_int, check_number, per_task
from graphroute.selection import DEFAULT_EVIDENCE

__all__ = ["TfidfKNNRouter", "TfidfRidgeRouter"]

SIM_BLOCK = 1024  # queries per block of the [block, N] similarity matrix (bounds memory)
# the ridge penalties TfidfRidgeRouter(alpha="auto") chooses from on held-out training queries
RIDGE_ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


class _TfidfText(TableRouter):
    """What both TF-IDF baselines share: the vectoriser, neighbours by cosine, the task vote."""

    ngram_range: tuple[int, int]
    min_df: int
    max_features: int | None

    def _fit_vectorizer(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        owner = type(self).__name__
        check_int(owner, "min_df", self.min_df, 1)
        if self.max_features is not None:
            check_int(owner, "max_features", self.max_features, 1)
        lo, hi = self.ngram_range
        check_int(owner, "ngram_range[0]", lo, 1)
        check_int(owner, "ngram_range[1]", hi, lo)
        # sublinear tf: a word said ten times is not ten times the evidence; rows are L2-normalised,
        # so a dot product of two rows is their cosine
        self.vectorizer_ = TfidfVectorizer(ngram_range=(lo, hi), min_df=min(self.min_df, len(texts)),
                                           max_features=self.max_features, sublinear_tf=True, dtype=np.float32)
        self.train_x_ = self.vectorizer_.fit_transform(texts)  # sparse [N, V]
        return self.train_x_

    def _similarities(self, x, rows: slice):
        """Dense cosines of queries ``x[rows]`` to every training query [B, N]."""
        return (x[rows] @ self.train_x_.T).toarray()

    def _top(self, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k highest columns per row (ties: the lower training index): (index, cosine) [B, k]."""
        kk = min(k, sims.shape[1])
        order = np.argsort(-sims, axis=1, kind="stable")[:, :kk]
        return order, np.take_along_axis(sims, order, axis=1)

    def _vote(self, idx: np.ndarray, sim: np.ndarray) -> np.ndarray:
        """Task index [B] the nearest TASK_VOTERS neighbours vote for, weighted by similarity."""
        idx, sim = idx[:, :TASK_VOTERS], np.maximum(sim[:, :TASK_VOTERS], 0.0) + 1e-6
        votes = np.zeros((idx.shape[0], len(self.table_.task_names)))
        np.add.at(votes, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), self.table_.query_task[idx].ravel()),
                  sim.ravel())
        return votes.argmax(1)

    def evidence(self, query: str, task: str | None = None, k: int = DEFAULT_EVIDENCE):
        """The k training queries most similar to ``query`` by TF-IDF cosine."""
        import pandas as pd

        self._check_fitted()
        idx, sim = self._top(self._similarities(self.vectorizer_.transform([query]), slice(0, 1)), k)
        t = self.table_
        return pd.DataFrame({"rank": np.arange(idx.shape[1]), "query_id": [t.query_ids[i] for i in idx[0]],
                             "query": [t.texts[i] for i in idx[0]],
                             "task": [t.task_names[t.query_task[i]] for i in idx[0]],
                             "similarity": sim[0].astype(float)})


class TfidfKNNRouter(_TfidfText):
    """k nearest training queries by TF-IDF cosine, uniform weights; within the task when it is given.

    Parameters: k: neighbours (30).  ngram_range, min_df, max_features: the vectoriser's.
    """

    def __init__(self, *, k: int = 30, ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                 max_features: int | None = 100_000) -> None:
        self.k = k
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, logs, models=None, agents=None, tasks=None) -> TfidfKNNRouter:
        """Vectorise the training queries and keep their outcomes."""
        check_int("TfidfKNNRouter", "k", self.k, 1)
        table = self._fit_table(logs)
        self._fit_vectorizer(table.texts)
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        t = self.table_
        x = self.vectorizer_.transform(queries)
        given = np.array([-1 if q is None else t.task_names.index(q) if q in t.task_names else -1 for q in tasks])
        idx = np.zeros((len(queries), min(self.k, len(t.texts))), dtype=np.int64)
        valid = np.zeros(idx.shape, dtype=bool)  # a neighbour outside the given task (similarity -inf) does not count
        voted = np.zeros(len(queries), dtype=np.int64)
        for s in range(0, len(queries), SIM_BLOCK):
            rows = slice(s, s + SIM_BLOCK)
            sims = self._similarities(x, rows)  # [B, N]
            voted[rows] = self._vote(*self._top(sims, TASK_VOTERS))
            g = given[rows]
            within = g[:, None] >= 0
            # a given, known task: only that task's training queries are neighbours
            sims = np.where(within & (t.query_task[None, :] != g[:, None]), -np.inf, sims)
            top_idx, top_sim = self._top(sims, self.k)
            idx[rows], valid[rows] = top_idx, np.isfinite(top_sim)
        names, t_idx = self._resolve_tasks(queries, tasks, voted)
        ran = t.logged[idx] & valid[:, :, None]  # [Q, K, P]
        cnt = ran.sum(1)  # [Q, P]
        out = {}
        for key, values, fallback in (("effect", t.effect, per_task(self.task_effect_, self.pair_effect_, t_idx)),
                                      ("cost", t.cost, self._task_cost(t_idx))):
            total = np.where(ran, values[idx], 0.0).sum(1)
            out[key] = np.where(cnt > 0, total / np.maximum(cnt, 1), fallback)
        return {"task": names, "effect": np.clip(out["effect"], 0.0, 1.0), "cost": np.maximum(out["cost"], 0.0)}


class TfidfRidgeRouter(_TfidfText):
    """One ridge per (model, agent) for effect and one for log cost, on TF-IDF (+ task one-hot).

    Pairs logged on the same training queries share one multi-output ``Ridge`` (the same solution
    as one ridge per pair: ridge targets are solved independently). Cost is fitted as
    log(cost + c0), c0 = half the smallest positive logged cost, so a free run stays finite.

    Parameters: alpha: ridge penalty, or "auto" (default): the value of ``RIDGE_ALPHAS`` with the
    lowest effect error on a seeded 10% of the training queries held out, then refitted on all
    (the data decide, as RidgeCV would; the choice is ``alpha_``).  use_task: append the task
    one-hot (given, or inferred from the nearest training queries when a query comes without one).
    ngram_range, min_df, max_features: the vectoriser's.
    """

    def __init__(self, *, alpha: float | str = "auto", use_task: bool = True, ngram_range: tuple[int, int] = (1, 2),
                 min_df: int = 1, max_features: int | None = 100_000) -> None:
        self.alpha = alpha
        self.use_task = use_task
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, logs, models=None, agents=None, tasks=None) -> TfidfRidgeRouter:
        """Vectorise the training queries, choose alpha (when "auto") and fit the per-pair ridges."""
        if self.alpha != "auto":
            check_number("TfidfRidgeRouter", "alpha", self.alpha, 0.0, open_lo=True)
        table = self._fit_table(logs)
        x = self._features(self._fit_vectorizer(table.texts), table.query_task)
        positive = table.cost[table.logged & (table.cost > 0)]
        self.cost_floor_ = float(positive.min()) / 2 if positive.size else 1e-12
        log_cost = np.log(np.where(table.logged, table.cost, 0.0) + self.cost_floor_)
        self.alpha_ = self._choose_alpha(x) if self.alpha == "auto" else float(self.alpha)
        self.groups_ = self._fit_groups(x, np.ones(len(table.texts), dtype=bool), self.alpha_, log_cost)
        return self

    def _fit_groups(self, x, rows_used: np.ndarray, alpha: float, log_cost: np.ndarray | None) -> list[tuple]:
        """(pair indices, Ridge for effect, Ridge for log cost or None) per group of pairs logged on the same rows."""
        from sklearn.linear_model import Ridge

        t = self.table_
        logged = t.logged & rows_used[:, None]
        masks = logged.T  # [P, N]
        groups = []
        for mask in np.unique(masks, axis=0):
            pairs, rows = np.flatnonzero((masks == mask).all(1)), np.flatnonzero(mask)
            if not len(rows):
                continue
            eff = Ridge(alpha=alpha).fit(x[rows], t.effect[np.ix_(rows, pairs)])
            cst = None if log_cost is None else Ridge(alpha=alpha).fit(x[rows], log_cost[np.ix_(rows, pairs)])
            groups.append((pairs, eff, cst))
        return groups

    def _choose_alpha(self, x) -> float:
        """The RIDGE_ALPHAS value with the lowest held-out squared effect error (10% of queries, seeded)."""
        t = self.table_
        n = len(t.texts)
        if n < 20:  # too few queries to hold any out: the middle of the grid
            return RIDGE_ALPHAS[len(RIDGE_ALPHAS) // 2]
        held = np.zeros(n, dtype=bool)
        held[np.random.default_rng(0).permutation(n)[: max(2, n // 10)]] = True
        errors = []
        for alpha in RIDGE_ALPHAS:
            sq, cnt = 0.0, 0
            for pairs, eff, _ in self._fit_groups(x, ~held, alpha, None):
                pred = eff.predict(x[held]).reshape(int(held.sum()), -1)  # [H, |pairs|]
                ok = t.logged[np.ix_(held, pairs)]
                sq += float((np.where(ok, pred - np.nan_to_num(t.effect[np.ix_(held, pairs)]), 0.0) ** 2).sum())
                cnt += int(ok.sum())
            errors.append(sq / max(cnt, 1))
        return float(RIDGE_ALPHAS[int(np.argmin(errors))])

    def _features(self, text_x, task_idx: np.ndarray):
        """TF-IDF rows with the task one-hot appended (none when use_task is off or one task) [Q, V (+T)]."""
        from scipy import sparse

        n_t = len(self.table_.task_names)
        if not self.use_task or n_t < 2:
            return text_x.tocsr()
        known = task_idx >= 0
        onehot = sparse.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                                    (np.flatnonzero(known), task_idx[known])), shape=(text_x.shape[0], n_t))
        return sparse.hstack([text_x, onehot], format="csr")

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        text_x = self.vectorizer_.transform(queries)
        voted = np.zeros(len(queries), dtype=np.int64)
        if any(t is None for t in tasks):
            for s in range(0, len(queries), SIM_BLOCK):
                rows = slice(s, s + SIM_BLOCK)
                voted[rows] = self._vote(*self._top(self._similarities(text_x, rows), TASK_VOTERS))
        names, t_idx = self._resolve_tasks(queries, tasks, voted)
        x = self._features(text_x, t_idx)
        n_p = len(self.candidates_)
        effect, log_cost = np.empty((len(queries), n_p)), np.empty((len(queries), n_p))
        for pairs, eff, cst in self.groups_:
            effect[:, pairs] = eff.predict(x).reshape(len(queries), -1)
            log_cost[:, pairs] = cst.predict(x).reshape(len(queries), -1)
        cost = np.maximum(np.exp(log_cost) - self.cost_floor_, 0.0)
        return {"task": names, "effect": np.clip(effect, 0.0, 1.0), "cost": cost}
