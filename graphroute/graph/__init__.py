"""The routing graph: its vocabulary (``schema``), the numpy tables a router serves from (``arrays``),
the neighbour index (``index``), and the torch state training works on (``state``, imported on use).
"""

from graphroute.graph.arrays import GraphArrays, PairTablesNP
from graphroute.graph.index import IVF_MIN_KEYS, SEARCH_MODES, IVFIndex, nearest, top_k, top_k_neighbors
from graphroute.graph.schema import EDGE_DIMS, EDGE_TYPES, NODE_TYPES, PAIR_FEATURES, model_numeric

__all__ = ["GraphArrays", "PairTablesNP", "GraphState", "PairTables", "PAIR_FEATURES", "EDGE_TYPES", "EDGE_DIMS",
           "NODE_TYPES", "model_numeric", "IVF_MIN_KEYS", "SEARCH_MODES", "IVFIndex", "nearest", "top_k",
           "top_k_neighbors"]


def __getattr__(name: str):
    if name in ("GraphState", "PairTables"):  # torch and torch_geometric: only where a graph is trained or grown
        from graphroute.graph import state

        return getattr(state, name)
    raise AttributeError(f"module 'graphroute.graph' has no attribute {name!r}")
