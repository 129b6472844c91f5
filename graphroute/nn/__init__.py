"""The neural network: a heterogeneous GNN encoder and a (query, model, agent) pair decoder.

``NetConfig`` (``nn.config``) imports no torch; the modules (``nn.modules``: EdgeSAGE, HeteroEncoder,
PairDecoder, RouterNet) import torch and torch_geometric, on first use of these names.
"""

from graphroute.nn.config import NetConfig

__all__ = ["NetConfig", "EdgeSAGE", "HeteroEncoder", "PairDecoder", "RouterNet"]


def __getattr__(name: str):
    if name in ("EdgeSAGE", "HeteroEncoder", "PairDecoder", "RouterNet"):
        from graphroute.nn import modules

        return getattr(modules, name)
    raise AttributeError(f"module 'graphroute.nn' has no attribute {name!r}")
