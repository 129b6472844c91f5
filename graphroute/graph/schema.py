"""The graph's vocabulary, in one place: node types, edge types and their attributes, the pair statistics
the decoder reads, and the numbers a model card contributes. Pure Python: no torch, no numpy.
"""

from __future__ import annotations

import math

__all__ = ["NODE_TYPES", "EDGE_TYPES", "EDGE_DIMS", "PAIR_FEATURES", "SKIP_EFFECT", "SKIP_COST", "SHRINK", "MAX_SHRINK",
           "MODEL_NUM_DIM", "model_numeric"]

NODE_TYPES = ("query", "task", "model", "agent")

# (source, relation, destination); every relation has its reverse so messages flow both ways
EDGE_TYPES: list[tuple[str, str, str]] = [
    ("query", "in", "task"), ("task", "rev_in", "query"),
    ("query", "near", "query"),
    ("query", "ran", "model"), ("model", "rev_ran", "query"),
    ("query", "used", "agent"), ("agent", "rev_used", "query"),
    ("model", "with", "agent"), ("agent", "rev_with", "model"),
]
# width of each edge type's attributes (absent: none)
EDGE_DIMS: dict[tuple[str, str, str], int] = {
    ("query", "near", "query"): 1,  # cosine similarity
    ("query", "ran", "model"): 2, ("model", "rev_ran", "query"): 2,  # effect, cost_z
    ("query", "used", "agent"): 2, ("agent", "rev_used", "query"): 2,
    ("model", "with", "agent"): 3, ("agent", "rev_with", "model"): 3,  # mean effect, mean cost_z, log count
}

# statistics of each (target query, candidate pair), in this order (graph.state / graph.arrays compute them)
PAIR_FEATURES = (
    "knn_effect", "knn_mass", "knn_cost_z", "task_effect", "task_cost_z", "pair_effect",
    "log_pair_count", "log_task_count",
)
# the decoder predicts a correction to the pair's record on the task: these two are its skip connection
SKIP_EFFECT = PAIR_FEATURES.index("task_effect")
SKIP_COST = PAIR_FEATURES.index("task_cost_z")

SHRINK = 5.0  # prior weight (in runs) pulling a sparse task/pair mean toward the broader mean
MAX_SHRINK = 1e4  # the most runs' weight the data may give the two-way prior of a (task, pair) effect record
MODEL_NUM_DIM = 4  # length of model_numeric()


def model_numeric(price_in: float | None, price_out: float | None, params_b: float | None) -> list[float]:
    """Card numbers a model node starts from: log prices, whether a price is known, log size."""
    has_price = price_in is not None or price_out is not None
    pin = price_in if price_in is not None else (price_out or 0.0)
    pout = price_out if price_out is not None else pin
    return [math.log1p(pin), math.log1p(pout), float(has_price),
            math.log1p(params_b) if params_b is not None else 0.0]
