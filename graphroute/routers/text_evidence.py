"""Per-query evidence: what a query's own text says beyond its task's record, kept only where it pays.

The graph router predicts each (query, pair) from the query's task record and its neighbours; on most
logs that is all the signal there is, and per-query corrections fitted to the training queries only
add noise to the choice (a winner's curse over many near-tied pairs). Where the text does carry
signal (which model solves *this* maths problem), a lexical reader (or a linear one on the query's
embedding) finds it. ``TextEvidence`` fits,
per task, residual predictors of effect and log cost around the task record and keeps them for a task
only when, out of fold, routing with them earns more reward than routing without them:

- the record: each pair's mean in the task, shrunk to the task's mean by n / (n + m), m = within-pair
  variance / between-pair variance (method of moments);
- residual bases: one ridge per pair on TF-IDF + query-form features (length, lines, code, maths,
  options, digits), one ridge per pair on the form features alone, the mean residual of the
  k = 30 most TF-IDF-similar training queries that ran the pair, times n / (n + 10), and, where the
  router passes its query embeddings, one ridge per pair on the centred, unit-length embedding (its
  penalty chosen per pair by generalised cross-validation): what a query means beside what it says;
- a non-negative least-squares blend of the bases, fitted on 3-fold out-of-fold predictions;
- a gate gamma in {0, 1/10, 1/2, 1}: on the same out-of-fold predictions each query picks among the
  task's logged pairs at ten trade-offs (1 - w) effect - w cost, w = 0, 0.1, ..., 0.9 (the three
  scenarios among them); a gamma of 1/2 or 1 is kept only if the queries' reward gain over gamma = 0,
  averaged over the trade-offs, has a mean above two standard errors, and none of the three scenarios
  loses by more than one standard error;
- where neither passes, a small share (1/10) that only orders the queries the record leaves near a tie:
  it moves few choices at the ten trade-offs (on a two-pair log often none), so it is judged on a grid
  of a hundred (w = 0, 0.01, ..., 0.99), where it does move them, and kept when that gain is above one
  standard error, under the same guard of the three scenarios. This is what a user who sets the weight
  between the scenarios, and a sweep of the weight (AIQ, APGR), sees: without it a task's queries all
  switch pair at the same weight, in an order that is noise.

A task whose gate stays shut stores nothing, and routes exactly as the graph does. In a task whose
gate opened, ``gamma * (blended residual)`` is added to the graph's effect and log-cost predictions
of the pairs the evidence knows (the graph stands in for the record it was validated against: on
dense logs the two agree, on sparse ones the graph's record is the better one); a pair added later
(``add_model``) has no evidence and keeps the graph's prediction. The evidence is fitted once, in
``Router.fit``: ``observe`` and the other growth calls change the graph, not the evidence (``remove_*``
drops the removed node's pairs from it). The gate judges choices among the pairs logged in the task; where
a router also offers pairs never logged there (the shipped router's 99 models in an LLMRouter task), the
shifted pairs compete with those too, which no out-of-fold check measured. scikit-learn
fits the vectoriser and the ridges; predicting reads the stored arrays (the vectoriser is rebuilt from
its vocabulary and idf).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from graphroute.data.text import TfidfRows, tfidf_vectorizer
from graphroute.graph.arrays import record_shrink

__all__ = ["TextEvidence", "TaskEvidence", "form_features"]

FOLDS = 3  # cross-fitting folds for the blend and the gate
GATES = (0.5, 1.0)  # residual shares tried against 0
GATE_Z = 2.0  # a share is kept when its gain exceeds this many standard errors (~2-4 % false opens per task:
# one-sided 2.3 % per share, two shares tried)
MIN_QUERIES = 30  # fewer queries in a task: no evidence for it (too few to judge the gate)
MIN_SCORED = 10  # fewer scored out-of-fold queries: the gate stays shut
# the cost weights w of the trade-offs (1 - w) effect - w cost the gate scores: the user sets the weight
# at query time, so evidence must route better over the whole range, not at one point of it; the
# three scenarios (w = 0, 0.5, 0.8) are on the grid
TRADE_OFFS = tuple(i / 10 for i in range(10))
GUARDED = (0.0, 0.5, 0.8)  # the scenarios' cost weights: none may lose more than GUARD_Z standard errors
GUARD_Z = 1.0
# where neither share of GATES passes: a small share that orders the queries the record leaves near a tie,
# judged on a finer grid of trade-offs (at ten it often moves no choice) and kept above TIE_Z standard errors
TIE_SHARE = 0.1
TIE_GRID = tuple(i / 100 for i in range(100))
TIE_Z = 1.0
K_NEIGHBOURS = 30  # lexical neighbours per pair
KNN_M = 10.0  # a mean residual over n neighbours keeps n / (n + KNN_M)
RIDGE_ALPHA = 1.0
# the embedding ridges' penalties, chosen per pair by generalised cross-validation: dense unit rows
# need far more shrinkage than sparse TF-IDF ones (on GSM8K's training queries GCV picks 10-22)
EMB_ALPHAS = tuple(float(a) for a in np.logspace(-1, 3, 13))
FORM_SCALE = 0.3  # weight of the standardised form columns beside the TF-IDF ones
MAX_FEATURES = 8192  # TF-IDF vocabulary per task
BASES = ("ridge", "form", "knn", "emb")
SIM_BLOCK = 1024  # queries per block of the dense [block, N] similarity matrix (bounds memory)
F32 = np.float32

_CODE = re.compile(r"```|def |import |return |\{\s*$|;\s*$", re.M)
_MATH = re.compile(r"\$|\\frac|\\sqrt|\^|=")
_OPTION = re.compile(r"^\s*\(?[A-J][.)]\s", re.M)
_DIGIT = re.compile(r"\d")
N_FORM = 6


def form_features(texts: list[str]) -> np.ndarray:
    """[Q, 6] features of a query's form: log length, log lines, code, maths, options / 10, digit share."""
    out = np.empty((len(texts), N_FORM), dtype=np.float64)
    for i, s in enumerate(texts):
        n = len(s)
        out[i] = (math.log1p(n), math.log1p(s.count("\n")), float(bool(_CODE.search(s))),
                  float(bool(_MATH.search(s))), len(_OPTION.findall(s)) / 10.0, len(_DIGIT.findall(s)) / max(n, 1))
    return out


def _shrunk_means(v: np.ndarray) -> np.ndarray:
    """[P] per-column mean of ``v`` [Q, P] (NaN = not logged), shrunk to the grand mean by n / (n + m), m
    by the graph's method of moments (``record_shrink``, one row of cells with the grand mean as prior)."""
    ok = np.isfinite(v)
    n = ok.sum(0)
    vz = np.where(ok, v, 0.0)
    grand = float(vz.sum() / max(n.sum(), 1))
    total = vz.sum(0)
    mean = np.where(n > 0, total / np.maximum(n, 1), grand)
    m = record_shrink(n[None], total[None], (vz ** 2).sum(0)[None], np.full((1, len(n)), grand), floor=0.0, cap=1e6)
    return grand + (mean - grand) * np.where(n > 0, n / np.maximum(n + m, 1e-12), 0.0)


def _ridges(x, r: np.ndarray, alphas: tuple[float, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One scikit-learn Ridge per column of ``r`` [Q, P] on its logged rows: (coef [P, F], intercept [P]).
    ``alphas``: choose each column's penalty among these by generalised cross-validation (``RidgeCV``)
    instead of RIDGE_ALPHA."""
    from sklearn.linear_model import Ridge, RidgeCV

    def model(multi: bool):
        if alphas is None:
            return Ridge(alpha=RIDGE_ALPHA)
        return RidgeCV(alphas=alphas, alpha_per_target=multi)

    n_p = r.shape[1]
    coef, icpt = np.zeros((n_p, x.shape[1]), dtype=F32), np.zeros(n_p, dtype=F32)
    ok = np.isfinite(r)
    full = np.flatnonzero(ok.all(0))
    if len(full):  # the columns logged for every row: one multi-output fit
        fit = model(len(full) > 1).fit(x, r[:, full])
        coef[full], icpt[full] = np.atleast_2d(fit.coef_), fit.intercept_
    for p in np.flatnonzero(~ok.all(0)):
        rows = np.flatnonzero(ok[:, p])
        if len(rows) >= 2:
            fit = model(False).fit(x[rows], r[rows, p])
            coef[p], icpt[p] = fit.coef_, fit.intercept_
    return coef, icpt


class _NoWords(Exception):
    """A task's training texts hold no word the vectoriser keeps: the task gets no evidence."""


def _blended(weights: np.ndarray, bases: dict[str, np.ndarray]) -> np.ndarray:
    """[2, Q, P] the bases mixed by ``weights`` [2, J] (effect, log cost)."""
    return np.stack([sum(weights[i, j] * bases[name][i] for j, name in enumerate(BASES)) for i in range(2)])


@dataclass
class _Bases:
    """The record and the residual predictors of one task, fitted on one set of its queries."""

    vocabulary: list[str]
    idf: np.ndarray  # [V]
    form_mu: np.ndarray  # [6]
    form_sd: np.ndarray  # [6]
    rec: np.ndarray  # [2, P] effect and log-cost record
    ridge: np.ndarray  # [2, P, V + 6] coefficients (effect, log cost) on TF-IDF + scaled form
    ridge_b: np.ndarray  # [2, P]
    form: np.ndarray  # [2, P, 6] on the standardised form alone
    form_b: np.ndarray  # [2, P]
    train_x: object  # scipy CSR [Q, V], L2-normalised rows
    resid: np.ndarray  # [2, Q, P] training residuals, NaN = not logged
    emb_mu: np.ndarray  # [D] the training queries' mean embedding (D = 0: no embedding base)
    emb: np.ndarray  # [2, P, D] coefficients on the centred, L2-normalised embedding
    emb_b: np.ndarray  # [2, P]
    _vec: object = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, texts: list[str], e: np.ndarray, lc: np.ndarray, emb: np.ndarray | None = None) -> _Bases:
        import scipy.sparse as sp

        vec = tfidf_vectorizer(MAX_FEATURES, min_df=2 if len(texts) >= 20 else 1)
        try:
            x = vec.fit_transform(texts)
        except ValueError:  # no term in two texts: retry with every term
            vec = tfidf_vectorizer(MAX_FEATURES, min_df=1)
            try:
                x = vec.fit_transform(texts)
            except ValueError:  # not one word (arithmetic, emoji, punctuation): nothing for a lexical reader
                raise _NoWords from None
        if hasattr(vec, "stop_words_"):  # the pruned terms: not needed to transform, and can be large
            del vec.stop_words_
        f = form_features(texts)
        mu, sd = f.mean(0), f.std(0)
        sd = np.where(sd < 1e-6, 1.0, sd)  # a form constant in these queries stays 0 for any new one
        fz = (f - mu) / sd
        rec = np.stack([_shrunk_means(e), _shrunk_means(lc)])
        resid = np.stack([e - rec[0], lc - rec[1]])
        xf = sp.hstack([x, sp.csr_matrix((fz * FORM_SCALE).astype(F32))]).tocsr()
        ridge, ridge_b = zip(*(_ridges(xf, r) for r in resid))
        form, form_b = zip(*(_ridges(fz, r) for r in resid))
        vocab = [w for w, _ in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])]
        n_p = e.shape[1]
        if emb is None:
            emb_mu, ec, eb = np.zeros(0, dtype=F32), np.zeros((2, n_p, 0), dtype=F32), np.zeros((2, n_p), dtype=F32)
        else:
            emb_mu = np.asarray(emb, dtype=np.float64).mean(0).astype(F32)
            xe = _emb_rows(emb, emb_mu)
            ec, eb = (np.stack(v) for v in zip(*(_ridges(xe, r, EMB_ALPHAS) for r in resid)))
        return cls(vocab, vec.idf_.astype(F32), mu, sd, rec, np.stack(ridge), np.stack(ridge_b), np.stack(form),
                   np.stack(form_b), x.astype(F32).tocsr(), resid.astype(F32), emb_mu, ec, eb, vec)

    def _vectoriser(self) -> TfidfRows:
        """The TF-IDF rows of new texts: the fitted vectoriser's, or one rebuilt from the stored vocabulary."""
        vec = self._vec  # read once: another thread may replace it meanwhile (with an equal TfidfRows)
        if isinstance(vec, TfidfRows):
            return vec
        rows = TfidfRows(vec if vec is not None else tfidf_vectorizer(MAX_FEATURES, vocabulary=self.vocabulary,
                                                                      idf=self.idf))
        self._vec = rows
        return rows

    def predict(self, texts: list[str], emb: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Residual bases for new queries: {name: [2, Q, P]} (effect, log cost); ``emb`` [Q, D] their
        embeddings (without them the embedding base reads the training queries' mean embedding; it is 0
        where the evidence was fitted without embeddings)."""
        import scipy.sparse as sp

        x = self._vectoriser()(texts)
        fz = (form_features(texts) - self.form_mu) / self.form_sd
        xf = sp.hstack([x, sp.csr_matrix((fz * FORM_SCALE).astype(F32))]).tocsr()
        out = {"ridge": np.stack([np.asarray(xf @ self.ridge[i].T) + self.ridge_b[i] for i in range(2)]),
               "form": np.stack([fz @ self.form[i].T + self.form_b[i] for i in range(2)])}
        blocks = [_knn_residual((x[i:i + SIM_BLOCK] @ self.train_x.T).toarray(), self.resid)
                  for i in range(0, x.shape[0], SIM_BLOCK)]
        out["knn"] = np.concatenate(blocks, axis=1) if blocks else np.zeros((2, 0, self.rec.shape[1]))
        if not self.emb_mu.size:
            out["emb"] = np.zeros((2, len(texts), self.rec.shape[1]))
        elif emb is None:  # no embedding to read: the prediction at the training queries' mean
            out["emb"] = np.repeat(self.emb_b[:, None, :].astype(np.float64), len(texts), axis=1)
        else:
            emb = np.asarray(emb)
            if emb.shape != (len(texts), self.emb_mu.size):
                raise ValueError(f"text evidence: the query embeddings have shape {emb.shape}, not "
                                 f"({len(texts)}, {self.emb_mu.size}): this evidence was fitted on "
                                 f"{self.emb_mu.size}-dimensional embeddings, one row per query. Embed the "
                                 "queries with the router's own embedder.")
            xe = _emb_rows(emb, self.emb_mu)
            out["emb"] = np.stack([xe @ self.emb[i].T + self.emb_b[i] for i in range(2)])
        return out


def _emb_rows(emb: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Embeddings centred on the training mean and scaled to unit length: a log's sentence vectors share a
    large common direction, and what tells its queries apart is the rest (on the scale of TF-IDF rows)."""
    z = np.asarray(emb, dtype=np.float64) - mu
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def _knn_residual(sims: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """[2, Q, P]: per pair, the summed residual of the K_NEIGHBOURS most similar training queries that ran
    it, over (n + KNN_M). ``sims`` [Q, N] cosines; ``resid`` [2, N, P], NaN = not logged."""
    n_q, n_p = sims.shape[0], resid.shape[2]
    out = np.zeros((2, n_q, n_p))
    logged = np.isfinite(resid[0])
    groups: dict[bytes, list[int]] = {}
    for p in range(n_p):  # pairs logged on the same queries share one neighbour search
        groups.setdefault(logged[:, p].tobytes(), []).append(p)
    for cols in groups.values():
        rows = np.flatnonzero(logged[:, cols[0]])
        if not len(rows):
            continue
        s = sims[:, rows]
        k = min(K_NEIGHBOURS, len(rows))
        nb = rows[np.argpartition(-s, k - 1, axis=1)[:, :k]] if k < len(rows) else np.tile(rows, (n_q, 1))
        for i in range(2):
            out[i][:, cols] = resid[i][:, cols][nb].sum(1) / (k + KNN_M)
    return out


def _blend(bases: dict[str, np.ndarray], resid: np.ndarray) -> np.ndarray:
    """[2, J] non-negative least-squares weights of the bases for each target, on the logged cells."""
    from scipy.optimize import nnls

    w = np.zeros((2, len(BASES)))
    for i in range(2):
        ok = np.isfinite(resid[i])
        if ok.sum() > len(BASES):
            a = np.stack([bases[b][i][ok] for b in BASES], 1)
            w[i] = nnls(a, resid[i][ok])[0]
    return w


def _gate(rec: np.ndarray, delta: np.ndarray, e: np.ndarray, c: np.ndarray) -> float:
    """The residual share that routes best out of fold: the largest-gain share of GATES whose per-query
    reward gain over share 0, averaged over the trade-off grid TRADE_OFFS, has a mean above GATE_Z
    standard errors; else TIE_SHARE where its gain, averaged over the finer grid TIE_GRID, has a mean
    above TIE_Z standard errors; else 0. No share is kept where one of the GUARDED scenarios loses more
    than GUARD_Z standard errors.

    rec, delta: [2, Q, P] out-of-fold record and blended residual (effect, log cost); e, c: [Q, P]
    logged effect and cost (NaN = not logged). Each query picks among the task's logged pairs at each
    trade-off; a pick whose outcome was not logged scores no gain (with sparse logs the gain is measured
    where both picks were logged, which is unbiased when the logged pairs are random)."""
    ok = np.isfinite(e)
    cand = ok.any(0)
    lo, hi = np.nanmin(c[ok]), np.nanmax(c[ok])
    span = hi - lo if hi > lo else 1.0
    ez, cn = np.where(ok, e, 0.0), np.where(ok, (c - lo) / span, 0.0)
    rows = np.arange(e.shape[0])

    def picks(g: float, grid=TRADE_OFFS) -> list[np.ndarray]:
        eh, ch = rec[0] + g * delta[0], (np.exp(rec[1] + g * delta[1]) - lo) / span
        return [np.where(cand, (1 - w) * eh - w * ch, -np.inf).argmax(1) for w in grid]

    base = {TRADE_OFFS: picks(0.0)}

    def gain(g: float, grid=TRADE_OFFS) -> tuple[float, float] | None:
        """(mean, standard error) of the gain of share g over share 0; None where too few queries are
        scored or a guarded scenario loses beyond its noise."""
        total = np.zeros(len(rows))
        scored = np.zeros(len(rows), dtype=bool)
        if grid not in base:
            base[grid] = picks(0.0, grid)
        for w, a, b in zip(grid, picks(g, grid), base[grid]):
            seen = ok[rows, a] & ok[rows, b]
            d = np.where(seen, ((1 - w) * ez[rows, a] - w * cn[rows, a]) - ((1 - w) * ez[rows, b] - w * cn[rows, b]),
                         0.0)
            total += d / len(grid)
            scored |= seen
            if w in GUARDED and seen.sum() >= MIN_SCORED:  # a named scenario must not lose beyond its noise
                if d[seen].mean() < -GUARD_Z * d[seen].std(ddof=1) / math.sqrt(seen.sum()):
                    return None
        if scored.sum() < MIN_SCORED:
            return None
        return float(total[scored].mean()), float(total[scored].std(ddof=1) / math.sqrt(scored.sum()))

    best, best_gain = 0.0, 0.0
    for g in GATES:
        r = gain(g)
        if r is not None and r[0] > GATE_Z * r[1] and r[0] > best_gain:
            best, best_gain = g, r[0]
    if best == 0.0 and TIE_SHARE > 0:
        r = gain(TIE_SHARE, TIE_GRID)
        if r is not None and r[0] > TIE_Z * r[1]:
            best = TIE_SHARE
    return best


@dataclass
class TaskEvidence:
    """One task's evidence: its pairs (model, agent), fitted bases, blend weights and gate."""

    task: str
    pairs: list[tuple[str, str]]
    bases: _Bases
    weights: np.ndarray  # [2, J]
    gamma: float

    def delta(self, texts: list[str], emb: np.ndarray | None = None) -> np.ndarray:
        """[2, Q, P_task] gamma times the blended residual (effect, log cost) for new queries of this task."""
        return self.gamma * _blended(self.weights, self.bases.predict(texts, emb))


def _fit_task(texts: list[str], e: np.ndarray, c: np.ndarray, rng: np.random.Generator, cost_eps: float,
              emb: np.ndarray | None = None) -> tuple[_Bases, np.ndarray, float] | None:
    """Fit one task's evidence on its queries' texts and [Q, P] effect / cost (NaN = not logged); None
    where the gate stays shut or the texts hold no word."""
    lc = np.log(np.where(np.isfinite(c), np.maximum(c, 0.0), np.nan) + cost_eps)
    fold = rng.permutation(len(texts)) % FOLDS
    rec = np.zeros((2,) + e.shape)
    oof = {b: np.zeros((2,) + e.shape) for b in BASES}
    try:
        for k in range(FOLDS):
            a, h = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            fitted = _Bases.fit([texts[i] for i in a], e[a], lc[a], None if emb is None else emb[a])
            rec[:, h] = fitted.rec[:, None, :]
            for name, v in fitted.predict([texts[i] for i in h], None if emb is None else emb[h]).items():
                oof[name][:, h] = v
    except _NoWords:
        return None
    resid = np.stack([e, lc]) - rec
    w = _blend(oof, resid)
    delta = _blended(w, oof)
    gamma = _gate(rec, delta, e, c)
    if gamma <= 0:
        return None
    return _Bases.fit(texts, e, lc, emb), w, gamma


@dataclass
class TextEvidence:
    """The per-task evidence of a fitted router (tasks whose gate stayed shut are absent)."""

    tasks: dict[str, TaskEvidence]

    @classmethod
    def fit(cls, texts: list[str], query_task: np.ndarray, task_names: list[str], effect: np.ndarray,
            cost: np.ndarray, pairs: list[tuple[str, str]], seed: int, cost_eps: float = 1e-6,
            emb: np.ndarray | None = None) -> TextEvidence:
        """texts [N] (boilerplate stripped), query_task [N] task index, effect / cost [N, P] per logged
        query and pair (NaN = not logged), pairs: the P (model, agent) names. Log cost is modelled as
        log(cost + cost_eps): pass the graph's ``cost_eps``, so that the shifts add on its scale. ``emb``
        [N, D]: the queries' embeddings, for the embedding base (None: that base stays 0)."""
        if emb is not None and (np.ndim(emb) != 2 or len(emb) != len(texts)):
            raise ValueError(f"TextEvidence.fit: emb has shape {np.shape(emb)}, not ({len(texts)}, D): pass one "
                             "embedding row per text, or emb=None to fit without the embedding base.")
        out = {}
        for t, name in enumerate(task_names):
            rows = np.flatnonzero(query_task == t)
            if len(rows) < MIN_QUERIES:
                continue
            cols = np.flatnonzero(np.isfinite(effect[rows]).any(0))
            if len(cols) < 2:
                continue
            rng = np.random.default_rng([seed, t])
            e, c = effect[np.ix_(rows, cols)], cost[np.ix_(rows, cols)]
            fitted = _fit_task([texts[i] for i in rows], e, c, rng, cost_eps, None if emb is None else emb[rows])
            if fitted is not None:
                out[name] = TaskEvidence(name, [pairs[p] for p in cols], *fitted)
        return cls(out)

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def apply(self, texts: list[str], task_names: list[str], pairs: list[tuple[str, str]], effect: np.ndarray,
              log_cost_shift: np.ndarray, emb: np.ndarray | None = None) -> None:
        """Add each query's evidence in place, for the pairs its task's evidence knows: to ``effect`` [Q, P]
        (then clipped to [0, 1]) and to ``log_cost_shift`` [Q, P] (zeros in; the change of log cost out).
        ``task_names`` [Q]: each query's task (given or inferred); ``pairs``: the P (model, agent) columns."""
        col = {p: i for i, p in enumerate(pairs)}
        names = np.asarray(task_names, dtype=object)
        for name, ev in self.tasks.items():
            rows = np.flatnonzero(names == name)
            src = [j for j, p in enumerate(ev.pairs) if p in col]
            if not len(rows) or not src:
                continue
            dst = np.array([col[ev.pairs[j]] for j in src])
            d = ev.delta([texts[i] for i in rows], None if emb is None else emb[rows])[:, :, src]
            effect[np.ix_(rows, dst)] = np.clip(effect[np.ix_(rows, dst)] + d[0], 0.0, 1.0)
            log_cost_shift[np.ix_(rows, dst)] += d[1]

    def without(self, kind: str, name: str) -> TextEvidence | None:
        """This evidence without the pairs of one model (``kind="model"``) or agent: what ``remove_model`` /
        ``remove_agent`` leave, so that a node added back under the same name starts without the old
        one's evidence. None when no task keeps two pairs."""
        side = {"model": 0, "agent": 1}[kind]
        out = {}
        for task, ev in self.tasks.items():
            keep = [j for j, p in enumerate(ev.pairs) if p[side] != name]
            if len(keep) < 2:
                continue
            b = ev.bases
            bases = replace(b, rec=b.rec[:, keep], ridge=b.ridge[:, keep], ridge_b=b.ridge_b[:, keep],
                            form=b.form[:, keep], form_b=b.form_b[:, keep], resid=b.resid[:, :, keep],
                            emb=b.emb[:, keep], emb_b=b.emb_b[:, keep])
            out[task] = replace(ev, pairs=[ev.pairs[j] for j in keep], bases=bases)
        return TextEvidence(out) if out else None

    def summary(self) -> dict[str, float]:
        """{task: gamma} for the tasks where the evidence is used."""
        return {name: ev.gamma for name, ev in self.tasks.items()}

    # ---- files (Router.save / graphroute.load) ----------------------------------------------------
    def to_parts(self, half: bool = False) -> tuple[list[dict], dict[str, np.ndarray]]:
        """(JSON-able meta per task, named arrays) to store; ``half``: the ridges and residuals as float16."""
        meta, arrays = [], {}
        small = np.float16 if half else F32
        for i, ev in enumerate(self.tasks.values()):
            b = ev.bases
            meta.append({"task": ev.task, "pairs": [list(p) for p in ev.pairs], "vocabulary": b.vocabulary,
                         "gamma": ev.gamma, "n_train": int(b.train_x.shape[0])})
            x = b.train_x
            parts = {"idf": b.idf, "form_mu": b.form_mu, "form_sd": b.form_sd, "rec": b.rec,
                     "ridge": b.ridge.astype(small), "ridge_b": b.ridge_b, "form": b.form, "form_b": b.form_b,
                     "x_data": x.data.astype(F32), "x_indices": x.indices.astype(np.int32),
                     "x_indptr": x.indptr.astype(np.int64), "resid": b.resid.astype(small), "weights": ev.weights,
                     "emb_mu": b.emb_mu, "emb": b.emb.astype(small), "emb_b": b.emb_b}
            arrays.update({f"{i}.{k}": np.ascontiguousarray(v) for k, v in parts.items()})
        return meta, arrays

    @classmethod
    def from_parts(cls, meta: list[dict], arrays: dict[str, np.ndarray]) -> TextEvidence:
        """The inverse of ``to_parts``; raises ValueError when the parts disagree in shape."""
        import scipy.sparse as sp

        out = {}
        for i, m in enumerate(meta):
            a = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.split(".", 1)[0] == str(i)}
            n_v, n_p, n_q = len(m["vocabulary"]), len(m["pairs"]), int(m["n_train"])
            if "emb_mu" not in a and "weights" in a and a["weights"].shape == (2, len(BASES) - 1):
                # written by router format version 3, before the embedding base: absent, its weight 0
                a.update(weights=np.concatenate([a["weights"], np.zeros((2, 1))], 1), emb_mu=np.zeros(0, F32),
                         emb=np.zeros((2, n_p, 0), F32), emb_b=np.zeros((2, n_p), F32))
            if "emb_mu" not in a or a["emb_mu"].ndim != 1:
                raise ValueError(f"text evidence {m['task']!r}: emb_mu is missing or not one-dimensional; a "
                                 "format-4 file holds emb_mu, emb and emb_b for every task. Save the router again.")
            n_d = int(a["emb_mu"].shape[0])
            want = {"idf": (n_v,), "rec": (2, n_p), "ridge": (2, n_p, n_v + N_FORM), "ridge_b": (2, n_p),
                    "form": (2, n_p, N_FORM), "form_b": (2, n_p), "resid": (2, n_q, n_p), "weights": (2, len(BASES)),
                    "form_mu": (N_FORM,), "form_sd": (N_FORM,), "x_indptr": (n_q + 1,), "emb": (2, n_p, n_d),
                    "emb_b": (2, n_p)}
            for k, shape in want.items():
                if k not in a or tuple(a[k].shape) != shape:
                    raise ValueError(f"text evidence {m['task']!r}: {k} has shape "
                                     f"{None if k not in a else tuple(a[k].shape)}, not {shape}")
            x = sp.csr_matrix((a["x_data"].astype(F32), a["x_indices"], a["x_indptr"]), shape=(n_q, n_v))
            bases = _Bases(list(m["vocabulary"]), a["idf"].astype(F32), a["form_mu"], a["form_sd"], a["rec"],
                           a["ridge"].astype(F32), a["ridge_b"], a["form"], a["form_b"], x, a["resid"].astype(F32),
                           a["emb_mu"].astype(F32), a["emb"].astype(F32), a["emb_b"].astype(F32))
            out[m["task"]] = TaskEvidence(m["task"], [tuple(p) for p in m["pairs"]], bases, a["weights"],
                                          float(m["gamma"]))
        return cls(out)
