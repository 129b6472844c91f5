"""Prototype for issue 14: a per-query router that stacks the task record with per-query evidence,
and keeps the per-query part only where out-of-fold ROUTING reward says it pays.

Self-contained (numpy, scipy, scikit-learn). For query q (task t, or a posterior over tasks) and
(model, agent) pair p:

    effect_hat[q, p]   = clip( r[t, p]  + gamma_t * sum_j w_pj * b_j[q, p], 0, 1 )
    log_cost_hat[q, p] = rc[t, p] + gamma_t * sum_j v_pj * bc_j[q, p]

- r / rc (the task record, _task_table): g_p (pair mean) + d_t (task offset from all pairs' runs)
  + the cell's own deviation shrunk by n_tp / (n_tp + m), m = within-cell variance / interaction
  variance (method of moments). Without a task label: posterior-weighted mix over tasks (TF-IDF
  logistic regression P(task | text)).
- b_j (residual predictors of y - r, fit on the training queries): "ridge" (one sklearn Ridge per
  pair on TF-IDF + 0.3 * standardised form features), "form" (Ridge per pair on the 6 form features
  alone), "knn_tfidf" / "knn_minilm" (mean residual of the k = 30 most similar training queries that
  ran the pair, within the task when given, times n / (n + 10)).
- w, v >= 0: NNLS on out-of-fold base predictions (3-fold cross-fitting, per-task stratified);
  per-pair weights shrunk to the shared ones: w_p = (n_p w_p^ + 200 w^) / (n_p + 200).
- gamma_t in {0, 0.5, 1} (_fit_gate): on the same out-of-fold predictions, each query picks among
  the pairs logged in its task at each of the 3 scenarios; the paired reward gain over gamma = 0
  (queries whose both picks were logged), averaged over scenarios, must exceed 1 SE. Else
  gamma_t = 0: the router is the task record for that task. Without a task: gamma of the
  classifier's argmax task (its own gate, fit in no-task mode).
- Then all bases are refit on all training queries (weights and gates kept).

    r = StackRouter(StackConfig(), seed=0).fit(logs, embed=None)   # canonical logs DataFrame
    E, C, pairs = r.predict(queries, tasks=None)                    # [Q, P] effect, [Q, P] cost
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

EPS = 1e-12


# ------------------------------------------------------------------------------------------- helpers
def _l2(X):
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-9)


_CODE = re.compile(r"```|def |import |return |\{\s*$|;\s*$", re.M)
_MATH = re.compile(r"\$|\\frac|\\sqrt|\^|=")
_OPT = re.compile(r"^\s*\(?[A-J][\.\)]\s", re.M)
_DIGIT = re.compile(r"\d")


@functools.lru_cache(maxsize=200_000)
def _form_row(s: str) -> tuple:
    n = len(s)
    return (math.log1p(n), math.log1p(s.count("\n")), float(bool(_CODE.search(s))), float(bool(_MATH.search(s))),
            len(_OPT.findall(s)) / 10.0, len(_DIGIT.findall(s)) / max(n, 1))


def form_features(texts) -> np.ndarray:
    """[Q, 6] query-form features: log length, log lines, code, maths, option count, digit share."""
    return np.array([_form_row(s) for s in texts], dtype=np.float64)


def _pair_means(V):
    n = np.isfinite(V).sum(0)
    m = np.where(n > 0, np.nansum(V, 0) / np.maximum(n, 1), np.nan)
    return np.where(np.isfinite(m), m, np.nanmean(V)), n


def _task_table(V, tidx, T):
    """[T, P] per-(task, pair) record of V: pair mean + task offset + shrunk interaction.

    g_p = the pair's mean over all its runs; d_t = the task's mean offset over all pairs' runs (every
    pair's data informs it); the cell's own deviation i_tp = mean_tp - g_p - d_t keeps the weight
    n / (n + m), with m = pooled within-cell variance / interaction variance (method of moments over
    all cells). Thin cells fall back to g_p + d_t; a pair with no run in a task gets g_p + d_t.
    """
    g, _ = _pair_means(V)
    P = V.shape[1]
    S = np.zeros((T, P)); N = np.zeros((T, P)); SS = np.zeros((T, P))
    f = np.isfinite(V); Vz = np.where(f, V, 0.0)
    for t in range(T):
        r = tidx == t
        N[t] = f[r].sum(0); S[t] = Vz[r].sum(0); SS[t] = (Vz[r] ** 2).sum(0)
    # task offsets from the residuals of every run in the task
    d = np.where(N.sum(1) > 0, (S - N * g[None, :]).sum(1) / np.maximum(N.sum(1), 1), 0.0)  # [T]
    base = g[None, :] + d[:, None]
    mean = np.where(N > 0, S / np.maximum(N, 1), base)
    within = np.where(N > 1, (SS - S * S / np.maximum(N, 1)) / np.maximum(N - 1, 1), np.nan)
    sw = float(np.nanmean(within)) if np.isfinite(within).any() else 0.0
    ok = N > 0
    inter = mean - base
    tau2 = float(np.mean((inter ** 2)[ok]) - np.mean((sw / np.maximum(N, 1))[ok])) if ok.any() else 0.0
    m = sw / tau2 if tau2 > 1e-12 else 1e6
    m = float(min(max(m, 0.0), 1e6))
    return base + inter * N / (N + m), m


def _knn_residual(S, R, k, m, others=()):
    """Per pair: mean residual of the k most similar fit queries that observed it, times n / (n + m).

    S: [Qp, Qf] similarity (-inf = not allowed); R: [Qf, P] residuals, NaN = unobserved. -> [Qp, P]
    `others`: more [Qf, P] matrices observed where R is (e.g. cost residuals), averaged over the same
    neighbours; then returns a list. Pairs with the same observed rows share one neighbour search.
    """
    Qp, P = S.shape[0], R.shape[1]
    mats = [R, *others]
    outs = [np.zeros((Qp, P)) for _ in mats]
    obsm = np.isfinite(R)
    groups: dict = {}
    for p in range(P):
        groups.setdefault(obsm[:, p].tobytes(), []).append(p)
    for cols in groups.values():
        obs = np.flatnonzero(obsm[:, cols[0]])
        if len(obs) == 0:
            continue
        Sp = S[:, obs]
        kk = min(k, len(obs))
        nb = np.argpartition(-Sp, kk - 1, axis=1)[:, :kk] if kk < len(obs) else np.tile(np.arange(len(obs)), (Qp, 1))
        valid = np.isfinite(np.take_along_axis(Sp, nb, 1))  # [Qp, kk]
        n = valid.sum(1)[:, None]
        rows = obs[nb]
        for M_, O in zip(mats, outs):
            y = np.where(valid[:, :, None], M_[:, cols][rows], 0.0)  # [Qp, kk, |cols|]
            O[:, cols] = y.sum(1) / (n + m)
    return outs if others else outs[0]


def _ridge_per_pair(Xf, Xp, V, alpha):
    """One Ridge per pair on its observed rows (dense columns share one multi-output fit). -> [Qp, P]"""
    P = V.shape[1]
    out = np.zeros((Xp.shape[0], P))
    obs = np.isfinite(V)
    full = obs.all(0)
    if full.any():
        out[:, full] = Ridge(alpha=alpha).fit(Xf, V[:, full]).predict(Xp).reshape(Xp.shape[0], -1)
    for p in np.flatnonzero(~full):
        r = np.flatnonzero(obs[:, p])
        if len(r) >= 2:
            out[:, p] = Ridge(alpha=alpha).fit(Xf[r], V[r, p]).predict(Xp)
    return out


# ------------------------------------------------------------------------------------------- config
@dataclass
class StackConfig:
    holdout: float = 0.2          # share of training queries (per task) held out to fit the blend weights
    folds: int = 3                # > 1: K-fold cross-fitting of the bases instead of one holdout
    centre: bool = False          # fit the effect blend on within-query centred residuals (only
                                  # differences between a query's pairs decide its route)
    gate: bool = True             # per task, keep gamma in gate_grid of the residuals, chosen by the
                                  # out-of-fold routing reward (mean over the three scenarios)
    gate_grid: tuple = (0.0, 0.5, 1.0)
    gate_z: float = 1.0           # a gamma > 0 must beat gamma = 0 by this many standard errors
    calibrate: bool = False       # pooled isotonic calibration of the blended effect (fit out of fold)
    k_tfidf: int = 30             # lexical neighbours per pair
    k_minilm: int = 30            # semantic neighbours per pair
    m_knn: float = 10.0           # kNN shrinkage: a mean residual over n neighbours keeps n / (n + m)
    ridge_alpha: float = 1.0      # TF-IDF ridge on residuals
    form_scale: float = 0.3       # weight of the standardised query-form columns beside the TF-IDF ones
    bases: tuple = ("ridge", "knn_tfidf", "knn_minilm", "form")  # residual predictors offered to the blend
    refit: bool = True            # refit the bases on all training queries after the blend is fit
    form_alpha: float = 1.0       # ridge on the standardised query-form features alone (base "form")
    blend_m: float = 200.0        # > 0: per-pair blend weights, shrunk to the shared ones with this many
                                  # held-out observations' weight (0 = one shared weight vector)


class _Bases:
    """The record + residual predictors fit on one set of queries."""

    def __init__(self, cfg: StackConfig, texts, tidx, T, E, C, M):
        self.cfg, self.T = cfg, T
        self.tidx_f = tidx
        self.vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=100000, dtype=np.float32)
        self.Xf = self.vec.fit_transform(texts)
        F = form_features(texts)
        self.f_mu, self.f_sd = F.mean(0), F.std(0) + 1e-9
        self.XFf = self._with_form(self.Xf, F)
        self.Mf = _l2(M) if M is not None else None
        logC = np.log(np.maximum(C, EPS))
        self.rec_e, self.m_e = _task_table(E, tidx, T)       # [T, P]
        self.rec_c, self.m_c = _task_table(logC, tidx, T)    # [T, P] mean log cost
        self.Re = E - self.rec_e[tidx]                       # [Qf, P] residuals (NaN = unobserved)
        self.Rc = logC - self.rec_c[tidx]
        self.clf = None
        if T > 1:
            self.clf = LogisticRegression(C=10.0, max_iter=300).fit(self.Xf, tidx)
        self.Ff = (F - self.f_mu) / self.f_sd
        self.form_e = self.form_c = None
        if "form" in cfg.bases:
            self.form_e = self._fit_ridge(self.Re, X=self.Ff, alpha=cfg.form_alpha)
            self.form_c = self._fit_ridge(self.Rc, X=self.Ff, alpha=cfg.form_alpha)
        # IRT-like shared difficulty: each fit query's mean residual over the pairs that ran it
        # (z_q); new queries get z from text, and the blend's per-pair weights play discriminations
        nobs = np.isfinite(self.Re).sum(1)
        self.zq = np.where(nobs > 0, np.nansum(self.Re, 1) / np.maximum(nobs, 1), np.nan)  # [Qf]
        self.irt = None
        if "irt_ridge" in cfg.bases:
            ok = np.isfinite(self.zq)
            self.irt = Ridge(alpha=cfg.ridge_alpha).fit(self.XFf[ok], self.zq[ok])
        self.ridge_e = self.ridge_c = None
        if "ridge" in cfg.bases:
            self.ridge_e = self._fit_ridge(self.Re)
            self.ridge_c = self._fit_ridge(self.Rc)

    def _with_form(self, X, F):
        Fz = (F - self.f_mu) / self.f_sd * self.cfg.form_scale
        return sp.hstack([X, sp.csr_matrix(Fz.astype(np.float32))]).tocsr()

    def _fit_ridge(self, R, X=None, alpha=None):
        X = self.XFf if X is None else X
        alpha = self.cfg.ridge_alpha if alpha is None else alpha
        obs = np.isfinite(R)
        full = obs.all(0)
        models = {}
        if full.any():
            models["full"] = (np.flatnonzero(full), Ridge(alpha=alpha).fit(X, R[:, full]))
        for p in np.flatnonzero(~full):
            r = np.flatnonzero(obs[:, p])
            if len(r) >= 2:
                models[int(p)] = Ridge(alpha=alpha).fit(X[r], R[r, p])
        return models

    @staticmethod
    def _apply_ridge(models, X, P):
        out = np.zeros((X.shape[0], P))
        for key, val in models.items():
            if key == "full":
                cols, m = val
                out[:, cols] = m.predict(X).reshape(X.shape[0], -1)
            else:
                out[:, key] = val.predict(X)
        return out

    def task_posterior(self, Xp):
        if self.clf is None:
            return np.ones((Xp.shape[0], 1))
        pr = np.zeros((Xp.shape[0], self.T))
        pr[:, self.clf.classes_] = self.clf.predict_proba(Xp)
        return pr

    def predict(self, texts, tidx, M):
        """Record and residual bases for new queries. tidx: [Qp] task indices, -1 = unknown, or None."""
        P = self.rec_e.shape[1]
        Xp = self.vec.transform(texts)
        Fp = form_features(texts)
        XFp = self._with_form(Xp, Fp)
        Fpz = (Fp - self.f_mu) / self.f_sd
        if tidx is None:
            post = self.task_posterior(Xp)                   # [Qp, T]
            rec_e, rec_c = post @ self.rec_e, post @ self.rec_c
            hard = post.argmax(1)
        else:
            known = tidx >= 0
            post = np.zeros((len(tidx), self.T)); post[np.flatnonzero(known), tidx[known]] = 1
            if (~known).any():
                post[~known] = self.task_posterior(Xp[~known])
            rec_e, rec_c = post @ self.rec_e, post @ self.rec_c
            hard = post.argmax(1)
        be, bc = {}, {}
        if "form" in self.cfg.bases:
            be["form"] = self._apply_ridge(self.form_e, Fpz, P)
            bc["form"] = self._apply_ridge(self.form_c, Fpz, P)
        if "ridge" in self.cfg.bases:
            be["ridge"] = self._apply_ridge(self.ridge_e, XFp, P)
            bc["ridge"] = self._apply_ridge(self.ridge_c, XFp, P)
        if self.irt is not None:
            be["irt_ridge"] = np.tile(self.irt.predict(XFp)[:, None], (1, P))
            bc["irt_ridge"] = np.zeros((Xp.shape[0], P))
        sims = {}
        if "knn_tfidf" in self.cfg.bases or "irt_knn" in self.cfg.bases:
            sims["knn_tfidf"] = ((Xp @ self.Xf.T).toarray().astype(np.float32), self.cfg.k_tfidf)
        if "knn_minilm" in self.cfg.bases and M is not None and self.Mf is not None:
            sims["knn_minilm"] = (_l2(M) @ self.Mf.T, self.cfg.k_minilm)
        for name, (S, k) in sims.items():
            if tidx is not None:  # within the task when it is given
                S = np.where(tidx[:, None] == self.tidx_f[None, :], S, -np.inf).astype(np.float32)
            if name == "knn_tfidf" and "irt_knn" in self.cfg.bases:
                be["irt_knn"] = np.tile(_knn_residual(S, self.zq[:, None], k, self.cfg.m_knn), (1, P))
                bc["irt_knn"] = np.zeros((Xp.shape[0], P))
            if name in self.cfg.bases:
                be[name], bc[name] = _knn_residual(S, self.Re, k, self.cfg.m_knn, others=(self.Rc,))
        return rec_e, rec_c, be, bc, hard


def _centre(target, bases, names):
    """Subtract, per query, the mean over its observed pairs (target and every base): only differences
    between pairs of one query decide a route, so the blend is fit on those."""
    f = np.isfinite(target)
    n = f.sum(1, keepdims=True)
    keep = (n[:, 0] >= 2)
    t = np.where(f, target, 0.0)
    tc = np.where(f, target - t.sum(1, keepdims=True) / np.maximum(n, 1), np.nan)
    tc[~keep] = np.nan
    bc = {}
    for k in names:
        b = np.where(f, bases[k], 0.0)
        bc[k] = bases[k] - b.sum(1, keepdims=True) / np.maximum(n, 1)
    return tc, bc


def _nnls_blend(bases: dict, target, names, m=0.0):
    """Non-negative least squares of target (residuals, NaN = unobserved) on the stacked bases.

    Returns [J] shared weights, or with m > 0 [P, J] per-pair weights (n_p w_p + m w) / (n_p + m).
    """
    f = np.isfinite(target)
    P = target.shape[1]
    if not names or not f.any():
        return np.zeros(len(names)) if m <= 0 else np.zeros((P, len(names)))
    A = np.stack([bases[n][f] for n in names], 1)
    w, _ = nnls(A, target[f])
    if m <= 0:
        return w
    W = np.tile(w, (P, 1))
    for p in range(P):
        fp = f[:, p]
        if fp.sum() >= len(names) + 2:
            wp, _ = nnls(np.stack([bases[n][fp, p] for n in names], 1), target[fp, p])
            W[p] = (fp.sum() * wp + m * w) / (fp.sum() + m)
    return W


SCENARIOS = ((1.0, 0.0), (0.5, 0.5), (0.2, 0.8))


def _fit_gate(rec_e, de, rec_lc, dc, E, C, tidx, T, cfg):
    """[T] residual share per task, chosen on out-of-fold predictions by routing reward.

    For each gamma and scenario, every held-out query picks, among the pairs logged in its task, the
    argmax of w_e e_hat - w_c cn_hat (cn: per-task min-max of the logged costs); the reward gain over
    gamma = 0 is measured on the queries where both picks were logged; its mean over the three
    scenarios must exceed gate_z standard errors (else gamma = 0: the task record).
    """
    f = np.isfinite(E)
    Ez, Cz = np.where(f, E, 0.0), np.where(f, C, 0.0)
    lo = np.zeros(T); span = np.ones(T)
    for t in range(T):
        v = C[tidx == t][f[tidx == t]]
        if v.size and v.max() > v.min():
            lo[t], span[t] = v.min(), v.max() - v.min()
    CN = (Cz - lo[tidx][:, None]) / span[tidx][:, None]
    rows = np.arange(len(E))

    # candidates: every pair logged in the query's task (as at routing time), not only the pairs
    # logged for this query; a pick whose outcome was not logged is not scored (with logs that keep
    # random pairs, scoring the queries where both policies' picks were logged is unbiased)
    cand = np.zeros((T, E.shape[1]), bool)
    for t in range(T):
        cand[t] = f[tidx == t].any(0)
    cmask = cand[tidx]

    def picks(g):
        eh = rec_e + g * de
        cnh = (np.exp(rec_lc + g * dc) - lo[tidx][:, None]) / span[tidx][:, None]
        out = []
        for we, wc in SCENARIOS:
            s = np.where(cmask, we * eh - wc * cnh, -np.inf)
            out.append(s.argmax(1))
        return out

    k0 = picks(0.0)
    gains = {}
    for g in cfg.gate_grid:
        if g <= 0:
            continue
        per = []
        for (we, wc), a, b in zip(SCENARIOS, picks(g), k0):
            seen = f[rows, a] & f[rows, b]  # both picks logged: the paired difference is observable
            per.append(((we * Ez[rows, a] - wc * CN[rows, a]) - (we * Ez[rows, b] - wc * CN[rows, b]), seen))
        gains[g] = per
    gate = np.zeros(T)
    for t in range(T):
        best, bestv = 0.0, 0.0
        for g, per in gains.items():
            ms, vs = [], []
            for d, seen in per:
                q = seen & (tidx == t)
                if q.sum() < 10:
                    break
                ms.append(d[q].mean()); vs.append(d[q].var(ddof=1) / q.sum())
            if len(ms) < len(SCENARIOS):
                continue
            m, se = float(np.mean(ms)), float(np.sqrt(np.sum(vs))) / len(SCENARIOS)
            if m > cfg.gate_z * se and m > bestv:
                best, bestv = g, m
        gate[t] = best
    return gate


# ------------------------------------------------------------------------------------------- router
class StackRouter:
    def __init__(self, config: StackConfig | None = None, seed: int = 0):
        self.config = config
        self.seed = seed

    # -- array interface (what the research harness calls) -------------------------------------
    def fit_arrays(self, texts, tasks, E, C, M=None):
        """texts [Q], tasks [Q], E/C [Q, P] (NaN = not logged), M [Q, d] MiniLM vectors or None."""
        cfg = self.config or StackConfig()
        texts = np.asarray(texts, dtype=object)
        self.task_names_ = sorted(set(tasks), key=str)
        tidx = np.array([self.task_names_.index(t) for t in tasks])
        T = len(self.task_names_)
        rng = np.random.default_rng(self.seed)
        # fold id per training query, stratified per task: folds > 1 = cross-fitting (out-of-fold base
        # predictions for every query), else one held-out share `holdout`
        K = max(int(cfg.folds), 1)
        fold = np.full(len(texts), -1)
        for t in range(T):
            ids = rng.permutation(np.flatnonzero(tidx == t))
            if K > 1:
                fold[ids] = np.arange(len(ids)) % K
            else:
                nh = int(round(cfg.holdout * len(ids)))
                if len(ids) - nh >= 2:
                    fold[ids[:nh]] = 0
        oof = {mode: None for mode in ("task", "notask")}
        for k in range(K):
            A, B = fold != k, fold == k
            if not B.any():
                continue
            bases = _Bases(cfg, texts[A], tidx[A], T, E[A], C[A], None if M is None else M[A])
            for mode in oof:
                rec_e, rec_c, be, bc, _ = bases.predict(texts[B], tidx[B] if mode == "task" else None,
                                                        None if M is None else M[B])
                if oof[mode] is None:
                    names = sorted(be)
                    P = E.shape[1]
                    oof[mode] = (names, np.full((len(texts), P), np.nan), np.full((len(texts), P), np.nan),
                                 {n: np.zeros((len(texts), P)) for n in names},
                                 {n: np.zeros((len(texts), P)) for n in names}, np.zeros((len(texts), P)),
                                 np.zeros((len(texts), P)))
                names, RE, RC, BE, BCc, REC, RECC = oof[mode]
                REC[B] = rec_e
                RECC[B] = rec_c
                RE[B] = E[B] - rec_e
                RC[B] = np.log(np.maximum(C[B], EPS)) - rec_c
                for n in names:
                    BE[n][B] = be[n]; BCc[n][B] = bc[n]
        self.weights_ = {}
        self.calib_ = {}
        self.gate_ = {}
        for mode, (names, RE, RC, BE, BCc, REC, RECC) in oof.items():
            used = fold >= 0
            RE, RC, REC, RECC = RE[used], RC[used], REC[used], RECC[used]
            BE = {n: v[used] for n, v in BE.items()}; BCc = {n: v[used] for n, v in BCc.items()}
            if cfg.centre:
                REc, BEc = _centre(RE, BE, names)
                we = _nnls_blend(BEc, REc, names, cfg.blend_m)
            else:
                we = _nnls_blend(BE, RE, names, cfg.blend_m)
            wc = _nnls_blend(BCc, RC, names, cfg.blend_m)
            self.weights_[mode] = (names, we, wc)
            if cfg.gate:
                W, Wc = np.atleast_2d(we), np.atleast_2d(wc)
                de = sum(W[:, j][None, :] * BE[n] for j, n in enumerate(names)) if names else 0 * REC
                dc = sum(Wc[:, j][None, :] * BCc[n] for j, n in enumerate(names)) if names else 0 * RECC
                self.gate_[mode] = _fit_gate(REC, de, RECC, dc, E[used], C[used], tidx[used], T, cfg)
            self.calib_[mode] = None
            if cfg.calibrate:  # pooled isotonic map of the blended out-of-fold effect onto the outcomes
                from sklearn.isotonic import IsotonicRegression
                W = np.atleast_2d(we)
                eh = REC + sum(W[:, j][None, :] * BE[n] for j, n in enumerate(names))
                f = np.isfinite(RE)
                self.calib_[mode] = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                    eh[f], (RE + REC)[f])
        self.bases_ = _Bases(cfg, texts, tidx, T, E, C, M) if cfg.refit else bases
        return self

    def predict_arrays(self, texts, tasks=None, M=None):
        if not hasattr(self, "bases_"):
            raise RuntimeError("This StackRouter is not fitted yet; call fit(...) first.")
        texts = np.asarray(texts, dtype=object)
        tidx = None
        if tasks is not None:
            tidx = np.array([self.task_names_.index(t) if t in self.task_names_ else -1 for t in tasks])
        mode = "task" if tasks is not None else "notask"
        rec_e, rec_c, be, bc, hard = self.bases_.predict(texts, tidx, M)
        names, we, wc = self.weights_[mode]
        we, wc = np.atleast_2d(we), np.atleast_2d(wc)  # [1 or P, J]
        de = sum(we[:, j][None, :] * be[n] for j, n in enumerate(names)) if names else 0 * rec_e
        dc = sum(wc[:, j][None, :] * bc[n] for j, n in enumerate(names)) if names else 0 * rec_c
        gate = getattr(self, "gate_", {}).get(mode)
        if gate is not None:  # per task (the given one, or the classifier's): how much residual to keep
            g = gate[hard][:, None]
            de, dc = g * de, g * dc
        e = rec_e + de
        lc = rec_c + dc
        self.last_task_ = np.array(self.task_names_, dtype=object)[hard]  # the task each query was read as
        cal = getattr(self, "calib_", {}).get(mode)
        if cal is not None:  # the tiny slope keeps the within-query order where the map is flat
            e = cal.predict(e.ravel()).reshape(e.shape) + 1e-3 * e
        return np.clip(e, 0.0, 1.0), np.exp(lc)

    # -- DataFrame interface (canonical logs) ----------------------------------------------------
    def fit(self, logs, embed=None):
        """logs: canonical table (query_id, query, task, model, agent, effect, cost). embed: texts -> [Q, d]."""
        import pandas as pd
        df = logs.copy()
        if "task" not in df:
            df["task"] = "default"
        if "agent" not in df:
            df["agent"] = "direct"
        g = df.groupby(["query_id", "model", "agent"], as_index=False).agg(
            query=("query", "first"), task=("task", "first"), effect=("effect", "mean"), cost=("cost", "mean"))
        qids = np.sort(g.query_id.unique())
        self.pairs_ = sorted(set(zip(g.model, g.agent)))
        qi = pd.Index(qids).get_indexer(g.query_id)
        pi = pd.Index([f"{m}\x1f{a}" for m, a in self.pairs_]).get_indexer(g.model + "\x1f" + g.agent)
        E = np.full((len(qids), len(self.pairs_)), np.nan); C = E.copy()
        E[qi, pi] = g.effect.to_numpy(); C[qi, pi] = g.cost.to_numpy()
        first = g.drop_duplicates("query_id").set_index("query_id").loc[qids]
        texts = first["query"].to_numpy(object)
        self.embed_ = embed
        M = None if embed is None else np.asarray(embed(list(texts)))
        return self.fit_arrays(texts, first["task"].to_numpy(object), E, C, M)

    def predict(self, queries, tasks=None):
        """-> effect [Q, P], cost [Q, P], pairs (the P (model, agent) columns)."""
        M = None if self.embed_ is None else np.asarray(self.embed_(list(queries)))
        e, c = self.predict_arrays(list(queries), tasks, M)
        return e, c, self.pairs_
