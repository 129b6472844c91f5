"""What the GNN router reads from a query's words beside the graph: text evidence and the task.

Both are fitted once in ``Router.fit``, from the graph's queries and outcomes alone (neither reads the
networks), in a worker thread while the networks train (``fit_text_parts``); both are optional: a
router without them (``text_evidence=False``, one task, or a gate / check that did not pass) routes
on the graph alone. ``text_evidence`` is ``graphroute.routers.text_evidence.TextEvidence``;
``task classifier`` is ``graphroute.routers.task_inference.TaskClassifier``. Prediction needs numpy
and scikit-learn only.
"""

from __future__ import annotations

import numpy as np

from graphroute.data.text import strip_prefixes
from graphroute.graph.arrays import GraphArrays, neighbor_weights
from graphroute.graph.index import top_k

__all__ = ["fit_text_parts", "fit_text_evidence", "with_text_evidence", "fit_task_classifier", "text_tasks"]


def fit_text_parts(g: GraphArrays, prefixes: list[str], evidence: bool, k: int, temperature: float, seed: int):
    """(text evidence or None, task classifier or None, its report) of graph ``g``: what ``Router.fit`` runs
    beside training (``evidence``: whether to fit the text evidence at all)."""
    ev = fit_text_evidence(g, prefixes, seed) if evidence else None
    return (ev, *fit_task_classifier(g, k, temperature, seed))


def fit_text_evidence(g: GraphArrays, prefixes: list[str], seed: int):
    """``TextEvidence`` of graph ``g`` (None where no task's gate opens); ``prefixes``: the boilerplate
    ``strip_prefixes`` removes from each text first."""
    from graphroute.routers.text_evidence import TextEvidence

    eff, cz, cnt = g.outcome_matrix()
    logged = cnt > 0
    pairs = [(g.model_names[m], g.agent_names[a]) for m, a in zip(*(v.tolist() for v in g.pair_nodes()))]
    texts = [strip_prefixes(t, prefixes) for t in g.query_texts]
    ev = TextEvidence.fit(texts, g.query_task, g.task_names, np.where(logged, eff, np.nan),
                          np.where(logged, g.cost_from_z(cz), np.nan), pairs, seed, cost_eps=g.cost_eps,
                          emb=g.query_x)
    return ev if ev else None


def with_text_evidence(router, live, queries: list[str], x: np.ndarray, t_idx: np.ndarray, effect: np.ndarray,
                       cz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(effect, cost_z) [Q, P] with the text evidence of each query's task added (unchanged without any)."""
    ev = getattr(router, "text_evidence_", None)
    if ev is None:
        return effect, cz
    g = live.graph
    effect = np.array(effect, dtype=np.float32)
    shift = np.zeros(effect.shape, dtype=np.float64)
    ev.apply([strip_prefixes(q, router.prefixes_) for q in queries], [g.task_names[i] for i in t_idx.tolist()],
             list(zip(live.cand_model.tolist(), live.cand_agent.tolist())), effect, shift, emb=x)
    return effect, (cz + shift / g.cost_scale).astype(np.float32)


def fit_task_classifier(g: GraphArrays, k: int, temperature: float, seed: int):
    """(``TaskClassifier`` or None, report) for graph ``g``: kept only where it names the held-out queries'
    tasks more often than the vote of their ``k`` nearest neighbours at softmax ``temperature``
    (``task_inference``)."""
    from graphroute.routers.task_inference import TaskClassifier

    def vote(x_held: np.ndarray, ref: np.ndarray) -> np.ndarray:
        nbr, sim = top_k(x_held, g.query_x[ref], k)
        return g.task_votes(ref[nbr], neighbor_weights(sim, temperature))

    return TaskClassifier.fit(list(g.query_texts), g.query_x, g.query_task, list(g.task_names), vote, seed)


def text_tasks(router, live, queries: list[str], x: np.ndarray, tasks: list[str | None]
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """(guess [Q], known [T]) for ``serving.task_index``: the classifier's task index of each query given
    without a task (-1 for the others) and which of the graph's tasks the classifier can name; None
    when the router has no classifier or every query came with its task."""
    clf = getattr(router, "task_classifier_", None)
    rows = [i for i, t in enumerate(tasks) if t is None]
    if clf is None or not rows:
        return None
    index = {n: i for i, n in enumerate(live.graph.task_names)}
    guess = np.full(len(tasks), -1, dtype=np.int64)
    for i, name in zip(rows, clf.predict([queries[i] for i in rows], x[rows])):
        guess[i] = index.get(name, -1)
    known = np.zeros(len(index), dtype=bool)
    known[[index[n] for n in clf.tasks if n in index]] = True
    return guess, known
