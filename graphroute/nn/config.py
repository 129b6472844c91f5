"""`NetConfig`: the network's shape, importable without torch (a router loads it to serve)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from graphroute.graph.schema import MODEL_NUM_DIM, NODE_TYPES, PAIR_FEATURES

__all__ = ["NetConfig"]


@dataclass
class NetConfig:
    text_dim: int = 384  # size of the text embedding every node starts from
    model_num_dim: int = MODEL_NUM_DIM  # numeric model-card features (log prices, has-price, log params)
    pair_dim: int = len(PAIR_FEATURES)  # hand-derived pair statistics fed to the decoder (graph.schema)
    hidden: int = 64  # width of every node representation
    layers: int = 2  # message-passing rounds; 2 reaches model -> query -> model
    dropout: float = 0.1
    n_targets: int = 2  # effect logit + standardised log cost (+1 when latency is logged)

    def param_shapes(self, edge_types: list[tuple[str, str, str]],
                     edge_dims: dict[tuple[str, str, str], int]) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every entry of ``RouterNet(self, edge_types, edge_dims).state_dict()``, without
        building it (a saved router's weights are checked against this; tests/test_nn.py pins it to torch's)."""
        h, d = self.hidden, self.text_dim
        out: dict[str, tuple[int, ...]] = {}
        for nt, width in (("query", d), ("task", d), ("model", d + self.model_num_dim), ("agent", d)):
            out[f"encoder.proj.{nt}.weight"], out[f"encoder.proj.{nt}.bias"] = (h, width), (h,)
        for layer in range(self.layers):
            for et in edge_types:
                key = f"encoder.convs.{layer}.convs.<{'___'.join(et)}>"  # HeteroConv's ModuleDict key
                out[f"{key}.msg.weight"], out[f"{key}.msg.bias"] = (h, h + edge_dims.get(et, 0)), (h,)
                out[f"{key}.root.weight"] = (h, h)
        for layer in range(self.layers):
            for nt in NODE_TYPES:
                out[f"encoder.norms.{layer}.{nt}.weight"], out[f"encoder.norms.{layer}.{nt}.bias"] = (h,), (h,)
        out["query_in.weight"], out["query_in.bias"] = (h, d), (h,)
        out["readout.0.weight"], out["readout.0.bias"] = (h, 3 * h), (h,)
        out["readout.2.weight"], out["readout.2.bias"] = (h,), (h,)
        for i, (o, n_in) in zip((0, 3, 5), ((2 * h, 4 * h + self.pair_dim), (h, 2 * h), (self.n_targets, h))):
            out[f"decoder.mlp.{i}.weight"], out[f"decoder.mlp.{i}.bias"] = (o, n_in), (o,)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        """From a saved config; a version-1 router also saved the unused ``edge_dim``, which is dropped."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
