"""The routing graph: node tables, outcome edges, neighbour lists (``state``) and the neighbour index (``index``)."""

from graphroute.graph.index import IVF_MIN_KEYS, SEARCH_MODES, build_index, carry_index, nearest, top_k_neighbors
from graphroute.graph.state import EDGE_DIMS, EDGE_TYPES, PAIR_FEATURES, GraphState, PairTables, model_numeric

__all__ = ["GraphState", "PairTables", "PAIR_FEATURES", "EDGE_TYPES", "EDGE_DIMS", "model_numeric", "IVF_MIN_KEYS",
           "SEARCH_MODES", "build_index", "carry_index", "nearest", "top_k_neighbors"]
