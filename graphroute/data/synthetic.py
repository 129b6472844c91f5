"""A seeded generator of logged runs with the structure real routing data has.

The core test suite and the scale benchmarks run on it, so it must carry the signal a router
learns from, not noise:

* **tasks** each own a vocabulary; a query is a sentence drawn mostly from its task's words,
  so text embeddings separate tasks and neighbouring queries share outcomes;
* **models** have a general strength that grows with their price, plus a specialist bonus on one
  task, so the best model differs per task and the priciest is not always worth it;
* **queries** have a difficulty that lowers every model's success probability;
* **agents** (strategies) help on some tasks and multiply the tokens, hence the cost and latency;
* cost = tokens_in × price_in + tokens_out × price_out (USD per 1M tokens), latency from tokens.

``effect`` is a 0/1 outcome (``binary=True``, as RouterBench logs it) or the success
probability itself. Everything is vectorised, so 6M runs take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from graphroute.data.logs import DEFAULT_AGENT
from graphroute.errors import ConfigError

__all__ = ["SyntheticData", "make_synthetic"]

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "ro", "di", "fe", "gu", "ha")
_COMMON = ("the", "a", "of", "what", "is", "how", "to", "and", "in", "for", "which", "why")


@dataclass
class SyntheticData:
    """Generated logs with the cards a user would pass to ``Router.fit``.

    ``skill`` is the true success logit offset per (model, task); ``difficulty`` per query id.
    """

    logs: pd.DataFrame
    models: list[dict]
    agents: list[dict]
    tasks: list[dict]
    skill: pd.DataFrame = field(repr=False)
    difficulty: pd.Series = field(repr=False)


def _words(rng: np.random.Generator, n: int) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        k = rng.integers(2, 4)
        out.add("".join(rng.choice(_SYLLABLES, size=k)))
    return sorted(out)


def _check_sizes(density: float, **sizes: int) -> None:
    for name, v in sizes.items():
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name}={v!r} must be an integer >= 1.")
    if not 0 < density <= 1:
        raise ConfigError(f"density={density!r} must lie in (0, 1]: it is the share of runs logged.")


def _models(rng: np.random.Generator, n_models: int, n_tasks: int):
    """Models: price grows with strength; each has a specialist task. (strength, price_in, price_out,
    specialty [M], skill [M, T], speed [M] output tokens per second)."""
    strength = np.sort(rng.normal(0.0, 1.0, n_models)) if n_models > 1 else np.zeros(1)
    price_in = np.round(0.1 * np.exp(1.2 * (strength - strength.min())), 4)  # USD / 1M tokens
    price_out = np.round(price_in * rng.choice([2.0, 3.0, 4.0], n_models), 4)
    specialty = rng.integers(0, n_tasks, n_models)
    skill = np.repeat(strength[:, None], n_tasks, axis=1)  # (models, tasks)
    skill[np.arange(n_models), specialty] += 1.5
    speed = rng.uniform(40, 120, n_models)  # output tokens per second
    return strength, price_in, price_out, specialty, skill, speed


def _agents(rng: np.random.Generator, n_agents: int, n_tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """Agents after the first help on some tasks and multiply tokens: (gain [A, T], token multiplier [A])."""
    agent_gain = np.zeros((n_agents, n_tasks))
    token_mult = np.ones(n_agents)
    for a in range(1, n_agents):
        agent_gain[a] = np.where(rng.random(n_tasks) < 0.5, 1.0, -0.3)
        token_mult[a] = float(rng.choice([2.0, 4.0, 8.0]))
    return agent_gain, token_mult


def _agent_cards(names: list[str], token_mult: np.ndarray, gain: np.ndarray, task_names: list[str]) -> list[dict]:
    return [{"name": names[a],
             "description": "answer directly" if a == 0 else
             f"a strategy using {token_mult[a]:g}x the tokens, helping on "
             f"{', '.join(t for t, g in zip(task_names, gain[a]) if g > 0) or 'no task'}"}
            for a in range(len(names))]


def make_synthetic(n_queries: int = 60, n_models: int = 3, n_agents: int = 1, n_tasks: int = 3,
                   density: float = 1.0, seed: int = 0, *, binary: bool = True,
                   words_per_task: int = 24, query_words: int = 10) -> SyntheticData:
    """Generate ``n_queries × n_models × n_agents`` runs (a ``density`` share of them logged).

    Parameters
    ----------
    n_queries, n_models, n_agents, n_tasks : sizes (each >= 1).
    density : share of (query, model, agent) runs that are logged, in (0, 1]; every query keeps
        at least one run, so sparse logs stay usable.
    seed : the same seed gives the same frame, bit for bit.
    binary : 0/1 effect (True) or the success probability (False).
    """
    _check_sizes(n_queries=n_queries, n_models=n_models, n_agents=n_agents, n_tasks=n_tasks, density=density)
    rng = np.random.default_rng(seed)

    # tasks: a vocabulary each, plus a shared pool of common words
    vocab = _words(rng, words_per_task * n_tasks)
    rng.shuffle(vocab)
    task_vocab = np.array(vocab).reshape(n_tasks, words_per_task)
    task_names = [f"task_{i}" for i in range(n_tasks)]

    strength, price_in, price_out, specialty, skill, speed = _models(rng, n_models, n_tasks)
    model_names = [f"model_{i}" for i in range(n_models)]
    agent_gain, token_mult = _agents(rng, n_agents, n_tasks)
    agent_names = [DEFAULT_AGENT] + [f"agent_{i}" for i in range(1, n_agents)]  # the plain call first

    # queries: a task, a difficulty, a sentence
    q_task = rng.integers(0, n_tasks, n_queries)
    difficulty = rng.normal(0.0, 1.0, n_queries)
    own = task_vocab[q_task[:, None], rng.integers(0, words_per_task, (n_queries, query_words))]
    common = np.array(_COMMON)[rng.integers(0, len(_COMMON), (n_queries, 3))]
    idx = np.arange(n_queries)
    texts = [" ".join([*common[i], *own[i]]) + f" #{i}" for i in idx]
    qids = [f"syn{seed}_{i:06d}" for i in idx]
    q_len = np.array([len(t.split()) for t in texts], dtype=float)

    # every (query, model, agent) triple, then a density share of them
    Q, M, A = np.meshgrid(idx, np.arange(n_models), np.arange(n_agents), indexing="ij")
    Q, M, A = Q.ravel(), M.ravel(), A.ravel()
    if density < 1:
        keep = rng.random(len(Q)) < density
        first = rng.integers(0, n_models * n_agents, n_queries)  # each query keeps at least one run
        keep[idx * n_models * n_agents + first] = True
        Q, M, A = Q[keep], M[keep], A[keep]
    T = q_task[Q]
    logit = 1.2 * skill[M, T] + agent_gain[A, T] - 1.3 * difficulty[Q] + 0.3
    p = 1.0 / (1.0 + np.exp(-logit))
    effect = (rng.random(len(p)) < p).astype(float) if binary else p
    tokens_in = np.round(q_len[Q] * 1.3 * token_mult[A] + 20)
    tokens_out = np.round(rng.uniform(30, 200, len(Q)) * token_mult[A])
    cost = (tokens_in * price_in[M] + tokens_out * price_out[M]) / 1e6
    latency = 0.2 + tokens_out / speed[M]

    logs = pd.DataFrame({
        "query_id": np.array(qids, dtype=object)[Q],
        "query": np.array(texts, dtype=object)[Q],
        "task": np.array(task_names, dtype=object)[T],
        "model": np.array(model_names, dtype=object)[M],
        "agent": np.array(agent_names, dtype=object)[A],
        "effect": effect,
        "cost": cost,
        "latency_s": latency,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
    })
    models = [{"name": model_names[m],
               "description": f"synthetic model {m}: general strength {strength[m]:+.2f}, "
                              f"strongest on {task_names[specialty[m]]}",
               "price_in": float(price_in[m]), "price_out": float(price_out[m])} for m in range(n_models)]
    return SyntheticData(logs=logs, models=models, agents=_agent_cards(agent_names, token_mult, agent_gain, task_names),
                         tasks=[{"name": t, "description": f"questions about {' '.join(task_vocab[i][:4])}"}
                                for i, t in enumerate(task_names)],
                         skill=pd.DataFrame(skill, index=model_names, columns=task_names),
                         difficulty=pd.Series(difficulty, index=qids))
