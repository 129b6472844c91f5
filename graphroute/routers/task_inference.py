"""Task inference: the task of a query that arrives without one, read from its text.

A router that predicts from task records needs each query's task; a new query usually comes without
one. The graph can guess it from the query's nearest neighbours (the task they vote for, weighted by
similarity), but the nearest neighbours in a sentence-embedding space answer "what is this about",
not "which benchmark's format is this": on LLMRouter's 14 tasks the vote names the right one for
78 % of test queries. ``TaskClassifier`` reads the text the way a format is told apart: TF-IDF of
word uni- and bigrams and of character 2- to 4-grams (within words) of the raw text, task prefixes
included, beside the query's embedding, into a linear SVM (scikit-learn's ``LinearSVC``).

Whether it is used is decided by the data: at fit, a trial classifier is trained on 80 % of the
training queries (a seeded split, stratified per task; at most ``TRIAL_MAX`` of them) and scored on the
rest against the neighbour vote from the same queries; the classifier is kept (fitted on every query,
or on a seeded sample of ``FIT_BUDGET`` query x task rows) only when the trial names the right task
more often. Where it is kept, a query without a task gets the classifier's task, except where its
neighbours vote for a task the classifier never saw (one added after fit, with ``add_task`` and
``observe``): the vote knows that task, the classifier cannot.

Prediction reads the stored arrays with scikit-learn's vectoriser rebuilt from the vocabularies and
idf (no torch); the classifier is fitted once, in ``Router.fit``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphroute.data.text import TfidfRows, tfidf_vectorizer

__all__ = ["TaskClassifier", "HOLDOUT"]

HOLDOUT = 0.2  # share of each task's queries held out to score the classifier against the vote
TRIAL_MAX = 3000  # the trial classifier learns from at most this many of the other queries (a large log's
# trial would cost as much as the final fit; a classifier on fewer queries that beats the vote is a
# conservative test of the one on all of them)
MAX_FEATURES = 4096  # vocabulary of each of the two TF-IDF blocks (words, characters)
FIT_BUDGET = 400_000  # the final fit learns from at most this many query x task rows (one-vs-rest costs
# both; RouteLLM MMLU's 57 subjects x 11k queries: 36 s on one CPU thread, 7k queries: 9 s, accuracy -0.015)
C = 1.0  # LinearSVC's inverse regularisation (scikit-learn's default)
MIN_HELD_OUT = 10  # fewer held-out queries: too few to judge, the vote stays
READ_CHARS: int | None = 1000  # characters of each text the classifier reads (None: all); 500, 1000, 2000
# and all named held-out tasks equally often on five datasets, and 1000 halves the time on long prompts
F32 = np.float32
ANALYZERS = (("word", (1, 2)), ("char_wb", (2, 4)))


def _features(blocks: list, x: np.ndarray):
    """[Q, V_word + V_char + D] sparse rows: the TF-IDF blocks and the embedding."""
    import scipy.sparse as sp

    return sp.hstack([*blocks, sp.csr_matrix(np.asarray(x, dtype=F32))], format="csr")


def _fit_svm(feats, y: np.ndarray, seed: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():  # a few iterations short of liblinear's tolerance still classifies
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LinearSVC(C=C, random_state=seed, max_iter=5000).fit(feats, y)


def _at_most(rows: np.ndarray, n: int, seed: int, stream: int) -> np.ndarray:
    """``rows``, or a seeded sample of ``n`` of them (in order) when there are more."""
    if len(rows) <= n:
        return rows
    return np.sort(np.random.default_rng([seed, stream]).choice(rows, size=n, replace=False))


def _read(texts: list[str]) -> list[str]:
    """What the classifier reads of each text: its first READ_CHARS characters (a prompt's template, where the
    task shows, comes first; n-grams of a long few-shot prompt's rest cost time and add little)."""
    return texts if READ_CHARS is None else [t[:READ_CHARS] for t in texts]


def _holdout(task: np.ndarray, seed: int) -> np.ndarray:
    """[Q] bool: HOLDOUT of each task's queries (at least one of a task with two or more), seeded."""
    rng = np.random.default_rng([seed, 7])
    held = np.zeros(len(task), dtype=bool)
    for t in np.unique(task):
        rows = np.flatnonzero(task == t)
        n = int(round(HOLDOUT * len(rows)))
        if len(rows) >= 2:
            held[rng.choice(rows, size=max(n, 1), replace=False)] = True
    return held


@dataclass
class TaskClassifier:
    """A linear classifier of a query's task from its raw text and its embedding (see the module docstring)."""

    tasks: list[str]  # the classes, in coef's row order
    vocabularies: list[list[str]]  # per TF-IDF block
    idfs: list[np.ndarray]
    coef: np.ndarray  # [T, F] (for two tasks: [1, F], as scikit-learn's binary decision function)
    intercept: np.ndarray  # [T] or [1]
    accuracy: float  # held-out share named right by the classifier ...
    vote_accuracy: float  # ... and by the neighbour vote, on the same queries
    _vecs: Any = field(default=None, repr=False, compare=False)  # the vectorisers, rebuilt on first predict

    @classmethod
    def fit(cls, texts: list[str], x: np.ndarray, task: np.ndarray, task_names: list[str], vote, seed: int = 0
            ) -> tuple[TaskClassifier | None, dict]:
        """(classifier or None, report) from the training queries' raw ``texts``, embeddings ``x`` [Q, D] and
        task indices ``task`` [Q]. ``vote(x_held, ref_rows) -> [H]`` task indices the neighbour vote gives
        held-out queries from the reference queries ``ref_rows``. None where the vote is as good, where
        the log has one task or too few queries to judge; the report says which and why."""
        task = np.asarray(task, dtype=np.int64)
        if len(np.unique(task)) < 2:
            return None, {"method": "the only task", "reason": "one task in the logs"}
        held = _holdout(task, seed)
        if held.sum() < MIN_HELD_OUT or (~held).sum() < 2 or len(np.unique(task[~held])) < 2:
            return None, {"method": "neighbour vote", "reason": f"{int(held.sum())} queries to judge a classifier on"}
        vecs, blocks = [], []
        for analyzer, ngrams in ANALYZERS:
            vecs.append(tfidf_vectorizer(MAX_FEATURES, analyzer=analyzer, ngram_range=ngrams))
            try:
                blocks.append(vecs[-1].fit_transform(_read(texts)))
            except ValueError:  # no n-gram in two or more texts: nothing for a classifier to read
                return None, {"method": "neighbour vote", "reason": "no word or character n-gram shared by queries"}
        feats = _features(blocks, x)
        learn = _at_most(np.flatnonzero(~held), TRIAL_MAX, seed, 8)
        trial = _fit_svm(feats[learn], task[learn], seed)
        rows = np.flatnonzero(held)
        acc = float((trial.predict(feats[rows]) == task[rows]).mean())
        vote_acc = float((np.asarray(vote(x[rows], learn)) == task[rows]).mean())
        report = {"accuracy": acc, "vote_accuracy": vote_acc, "held_out": int(len(rows))}
        if acc <= vote_acc:
            return None, {"method": "neighbour vote", **report}
        final_rows = _at_most(np.arange(len(task)), max(TRIAL_MAX, FIT_BUDGET // len(np.unique(task))), seed, 9)
        final = _fit_svm(feats[final_rows], task[final_rows], seed)
        clf = cls(tasks=[task_names[int(c)] for c in final.classes_],
                  vocabularies=[v.get_feature_names_out().tolist() for v in vecs],
                  idfs=[np.asarray(v.idf_, dtype=F32) for v in vecs],
                  coef=np.asarray(final.coef_, dtype=F32), intercept=np.asarray(final.intercept_, dtype=F32),
                  accuracy=acc, vote_accuracy=vote_acc)
        return clf, {"method": "text classifier", **report}

    def predict(self, texts: list[str], x: np.ndarray) -> list[str]:
        """The task of each raw text (with its embedding ``x`` [Q, D])."""
        if not texts:
            return []
        if self._vecs is None:  # two threads may both build them: same value, no harm
            self._vecs = [TfidfRows(tfidf_vectorizer(MAX_FEATURES, analyzer=a, ngram_range=n, vocabulary=voc, idf=idf))
                          for (a, n), voc, idf in zip(ANALYZERS, self.vocabularies, self.idfs)]
        # the linear scores block by block (each TF-IDF block's columns of coef, then the embedding's): the
        # same sum as _features(...) @ coef.T without stacking the blocks
        n_text = sum(rows.n_features for rows in self._vecs)
        if np.ndim(x) != 2 or np.shape(x)[1] != self.coef.shape[1] - n_text:
            raise ValueError(f"The task classifier reads {self.coef.shape[1] - n_text}-d query embeddings; got an "
                             f"array of shape {np.shape(x)}. Embed the queries with the router's embedder.")
        scores = np.asarray(x, dtype=F32) @ self.coef[:, n_text:].T
        start = 0
        for rows in self._vecs:
            scores = scores + rows(_read(texts)) @ self.coef[:, start:start + rows.n_features].T
            start += rows.n_features
        scores = np.asarray(scores, dtype=np.float64) + self.intercept
        if len(self.tasks) == 2:  # one decision function: > 0 is the second class
            best = (scores[:, 0] > 0).astype(np.int64)
        else:
            best = scores.argmax(1)
        return [self.tasks[int(i)] for i in best]

    # ---- files (Router.save / graphroute.load) ----------------------------------------------------
    def to_parts(self, half: bool = False) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able meta, named arrays); ``half``: the weights as float16."""
        meta = {"tasks": self.tasks, "vocabularies": self.vocabularies, "accuracy": self.accuracy,
                "vote_accuracy": self.vote_accuracy}
        arrays = {"coef": self.coef.astype(np.float16 if half else F32), "intercept": self.intercept}
        arrays.update({f"idf_{i}": idf for i, idf in enumerate(self.idfs)})
        return meta, {k: np.ascontiguousarray(v) for k, v in arrays.items()}

    @classmethod
    def from_parts(cls, meta: dict, arrays: dict[str, np.ndarray]) -> TaskClassifier:
        """The inverse of ``to_parts``; raises ValueError when the parts disagree in shape."""
        vocs = [list(v) for v in meta["vocabularies"]]
        if len(vocs) != len(ANALYZERS):
            raise ValueError(f"task classifier: {len(vocs)} vocabularies, not {len(ANALYZERS)}")
        idfs = [np.asarray(arrays[f"idf_{i}"], dtype=F32) for i in range(len(vocs))]
        coef, icpt = np.asarray(arrays["coef"], dtype=F32), np.asarray(arrays["intercept"], dtype=F32)
        n_rows = 1 if len(meta["tasks"]) == 2 else len(meta["tasks"])
        n_text = sum(len(v) for v in vocs)
        if any(len(i) != len(v) for i, v in zip(idfs, vocs)) or coef.ndim != 2 or coef.shape[0] != n_rows \
                or coef.shape[1] <= n_text or icpt.shape != (n_rows,):
            raise ValueError(f"task classifier: weights of shape {coef.shape} / {icpt.shape} do not fit "
                             f"{len(meta['tasks'])} tasks and {n_text} n-grams")
        return cls(tasks=list(meta["tasks"]), vocabularies=vocs, idfs=idfs, coef=coef, intercept=icpt,
                   accuracy=float(meta["accuracy"]), vote_accuracy=float(meta["vote_accuracy"]))
