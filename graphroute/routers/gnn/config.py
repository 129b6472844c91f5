"""`RouterConfig`: the GNN router's hyperparameters, validated once.

``Router.__init__`` only stores its flat keyword arguments (scikit-learn's rule, so that ``get_params``,
``set_params`` and ``clone`` work); ``fit`` builds a ``RouterConfig`` from them, and every rule about a
parameter's value lives here, each error naming the value, the rule and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from graphroute.embed import DEFAULT_EMBEDDER
from graphroute.errors import ConfigError
from graphroute.graph.index import SEARCH_MODES

__all__ = ["RouterConfig"]


@dataclass(frozen=True)
class RouterConfig:
    """Every default of ``Router`` lives here (``Router.__init__``'s signature reads them)."""

    embedder: Any = DEFAULT_EMBEDDER  # text embedder name ("minilm", "minilm-static", "hash") or an Embedder
    hidden: int = 64  # node representation width
    layers: int = 2  # message-passing rounds; 2 reaches model -> query -> model
    k_neighbors: int = 10  # query-query neighbours per query
    knn_temperature: float = 0.05  # softmax temperature of neighbour weights (lower trusts the nearest more)
    epochs: int = 300  # upper bound; early stopping usually ends sooner
    lr: float = 3e-3
    weight_decay: float = 1e-5
    dropout: float = 0.1
    patience: int = 40  # epochs without validation improvement before stopping
    target_fraction: float = 0.3  # share of training queries predicted (held out of the graph) per epoch
    fewshot_fraction: float = 0.2  # share of models/agents shown through few edges per epoch
    fewshot_max: int = 50  # ... through at most this many
    validation_fraction: float = 0.1  # share of queries per task kept for early stopping
    # above this, each epoch trains on a sampled subgraph of about this many edges: one epoch is one
    # optimisation step, so a step on the whole of a large log buys little over a step on a sample
    # and costs its full size (mmlu-pro, 310k training edges, one CPU thread: 0.52 s per epoch and a
    # 148 s fit at 100k, 1.10 s and 245 s at 250k, same routing quality; benchmarks/fit_time_results.md)
    max_epoch_edges: int | None = 100_000
    n_ensemble: int = 1  # members trained from different seeds and averaged
    strip_boilerplate: bool = True  # learn and strip per-task shared prompt prefixes before embedding
    text_evidence: bool = True  # per task, add TF-IDF / query-form residuals where out-of-fold routing gains
    neighbor_search: str = "auto"  # "exact", "ivf" or "auto" (ivf from index.IVF_MIN_KEYS queries)
    cache_dir: Any = None  # embedding cache: None = graphroute.embed.default_cache_dir(), False = none
    seed: int = 0  # every random choice derives from it
    progress: bool | None = None  # progress bar: None = for long fits, on a terminal or in a notebook

    INTS = {"hidden": 1, "layers": 1, "k_neighbors": 1, "epochs": 1, "patience": 1, "n_ensemble": 1,
            "fewshot_max": 0}
    FRACTIONS = {"target_fraction": (0.0, 1.0), "fewshot_fraction": (0.0, 1.0), "validation_fraction": (0.0, 0.9),
                 "dropout": (0.0, 0.9)}

    @classmethod
    def from_params(cls, params: dict) -> RouterConfig:
        """Validate flat ``Router`` parameters (``router.get_params()``); raises ConfigError on the first bad one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"Unknown Router parameter(s) {unknown}; valid parameters are {sorted(known)}.")
        cfg = cls(**params)
        cfg._check()
        return cfg

    def _check(self) -> None:
        for name, lo in self.INTS.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"Router parameter {name} must be an integer >= {lo}; got {v!r}. "
                                  f"Fix: pass e.g. {name}={getattr(RouterConfig, name)}.")
        for name, (lo, hi) in self.FRACTIONS.items():
            v = getattr(self, name)
            open_ends = name == "target_fraction"
            if (not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi
                    or (open_ends and v in (lo, hi))):
                rule = f"a number in ({lo}, {hi})" if open_ends else f"a number in [{lo}, {hi}]"
                raise ConfigError(f"Router parameter {name} must be {rule}; got {v!r}. "
                                  f"Fix: pass e.g. {name}={getattr(RouterConfig, name)}.")
        for name in ("lr", "knn_temperature"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0 or not math.isfinite(v):
                raise ConfigError(f"Router parameter {name} must be a finite number > 0; got {v!r}. "
                                  f"Fix: pass e.g. {name}={getattr(RouterConfig, name)}.")
        m = self.max_epoch_edges
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 1):
            raise ConfigError(f"Router parameter max_epoch_edges must be an integer >= 1 or None; got {m!r}. "
                              "Fix: pass e.g. max_epoch_edges=100_000, or None to always train on the whole graph.")
        if self.neighbor_search not in SEARCH_MODES:
            raise ConfigError(f"Router parameter neighbor_search must be one of {', '.join(SEARCH_MODES)}; got "
                              f"{self.neighbor_search!r}. Fix: pass 'auto' (the default), 'exact' or 'ivf'.")
        if not isinstance(self.text_evidence, bool):
            raise ConfigError(f"Router parameter text_evidence must be True or False; got {self.text_evidence!r}. "
                              "Fix: pass text_evidence=True (the default) or False to route on the graph alone.")
        wd = self.weight_decay
        if not isinstance(wd, int | float) or isinstance(wd, bool) or not wd >= 0 or not math.isfinite(wd):
            raise ConfigError(f"Router parameter weight_decay must be a finite number >= 0; got {wd!r}. "
                              "Fix: pass e.g. weight_decay=1e-5 (0 for none).")

    @property
    def k0(self) -> int:
        """Neighbours kept per known query: more than ``k_neighbors``, so that a context subset still has k."""
        return max(3 * self.k_neighbors, self.k_neighbors + 20)
