"""``"minilm-static"``: a static (model2vec-format) distillation of MiniLM, shipped inside graphroute.

One vector per word piece, summed and normalised: thousands to tens of thousands of texts/s on a
CPU with ``tokenizers``, ``safetensors``, numpy and scipy only (no torch, no model2vec).
"""

from __future__ import annotations

import importlib.resources
import json
import threading
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from graphroute.data.text import valid_unicode as _valid_unicode
from graphroute.embed.base import Embedder, check_texts
from graphroute.errors import EmbedderError

__all__ = ["StaticEmbedder", "static_model_path", "STATIC_DEFAULT_NAME"]

STATIC_DEFAULT_NAME = "minilm-static"  # the shipped model's registry name and folder
STATIC_MAX_TOKENS = 512  # model2vec's default; the static model has no context window of its own


def static_model_path() -> Path:
    """Directory of the static MiniLM distillation shipped inside graphroute."""
    path = Path(str(importlib.resources.files("graphroute") / "embedders" / STATIC_DEFAULT_NAME))
    if not (path / "model.safetensors").is_file():
        raise EmbedderError(f"The shipped static embedder is missing from {path}. Rebuild it with "
                            "`python data/build_static_embedder.py`, or reinstall graphroute.")
    return path


class _StaticModel:
    """The arrays of a model2vec-format directory, dequantised to float32 once."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        try:
            config = json.loads((path / "config.json").read_text())
            arrays = load_file(str(path / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception as exc:  # noqa: BLE001 (safetensors and tokenizers raise their own types)
            raise EmbedderError(f"{path} is not a readable static (model2vec) embedder: {type(exc).__name__}: {exc}. "
                                "It needs config.json, model.safetensors and tokenizer.json; rebuild it with "
                                "data/build_static_embedder.py.") from None
        if "embeddings" not in arrays:
            raise EmbedderError(f"{path}/model.safetensors has no 'embeddings' tensor (found {sorted(arrays)}); "
                                "it is not a model2vec model.")
        table = arrays["embeddings"].astype(np.float32)  # [rows, D]
        unk = getattr(tokenizer.model, "unk_token", None)
        self.unk_id: int | None = tokenizer.token_to_id(unk) if unk else None
        vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        if "mapping" in arrays:  # vocabulary quantisation: token id -> row
            table = table[arrays["mapping"].astype(np.int64)]
        if "weights" in arrays:  # per-token scale (SIF weight and/or int8 scale), indexed by token id
            table *= arrays["weights"].astype(np.float32)[:, None]
        if table.shape[0] != vocab_size:
            raise EmbedderError(f"{path}: {table.shape[0]} vectors for a tokenizer of {vocab_size} tokens; "
                                "the files come from different builds. Rebuild the model.")
        fallback = table[self.unk_id].copy() if self.unk_id is not None else np.ones(table.shape[1], np.float32)
        if self.unk_id is not None:
            table[self.unk_id] = 0.0  # unknown pieces add nothing to a text (model2vec drops them)
        self.table = np.ascontiguousarray(table)  # [vocab, D] float32, one row per token id
        self.dim = int(table.shape[1])
        self.config = config
        self.max_tokens = int(config.get("max_length") or STATIC_MAX_TOKENS)
        lengths = [len(t) for t in tokenizer.get_vocab()]
        self.max_chars = self.max_tokens * int(np.median(lengths))  # cut huge texts before tokenising
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer = tokenizer  # settings fixed from here on, so concurrent calls are safe
        if not np.any(fallback):
            fallback = np.ones(self.dim, np.float32)
        self.fallback = fallback / np.linalg.norm(fallback)  # [D] for texts with no known token


_STATIC_MODELS: dict[str, _StaticModel] = {}
_STATIC_LOCK = threading.Lock()


class StaticEmbedder(Embedder):
    """Mean of per-token vectors from a static model in model2vec's format (default: the shipped one).

    The shipped model is all-MiniLM-L6-v2 distilled by ``data/build_static_embedder.py``: each word
    piece embedded alone by MiniLM, reduced with PCA and down-weighted by Zipf frequency. Lookup needs
    only ``tokenizers``, ``safetensors``, numpy and scipy (not model2vec itself, nor torch); it gives
    model2vec's ``StaticModel.encode`` vectors. A text with no known token gets the vector of the
    unknown token. Texts are cut at the model's ``max_length``
    tokens (512 unless its config says otherwise), as model2vec does.
    """

    cacheable = False  # faster than a cache lookup

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._model: _StaticModel | None = None

    def _loaded(self) -> _StaticModel:
        if self._model is None:
            path = static_model_path() if self.path is None else self.path
            if not path.is_dir():
                raise EmbedderError(f"Static embedder directory {path} does not exist; pass the folder that holds "
                                    "config.json, model.safetensors and tokenizer.json.")
            key = str(path.resolve())
            with _STATIC_LOCK:
                if key not in _STATIC_MODELS:
                    _STATIC_MODELS[key] = _StaticModel(path)
                self._model = _STATIC_MODELS[key]
        return self._model

    @property
    def name(self) -> str:  # type: ignore[override]
        if self.path is None:
            return STATIC_DEFAULT_NAME
        return "static:" + self.version[:16]  # another model, another name: never share cache keys

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self._loaded().dim

    @property
    def version(self) -> str:  # type: ignore[override]
        cfg = self._loaded().config
        return str(cfg.get("graphroute", {}).get("fingerprint") or cfg.get("fingerprint") or "")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts, "StaticEmbedder")
        m = self._loaded()
        if not texts:
            return np.zeros((0, m.dim), np.float32)
        from scipy.sparse import csr_matrix

        cut = [_valid_unicode(t[: m.max_chars]) for t in texts]
        if len(cut) == 1:  # one query: skip the batch machinery
            ids = [m.tokenizer.encode(cut[0], add_special_tokens=False).ids]
        else:
            encode = getattr(m.tokenizer, "encode_batch_fast", m.tokenizer.encode_batch)
            ids = [e.ids for e in encode(cut, add_special_tokens=False)]
        offsets = np.zeros(len(ids) + 1, np.int64)  # [N + 1] CSR row pointers
        np.cumsum([len(r) for r in ids], out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(ids), np.int64, int(offsets[-1]))  # [T] token ids
        counts = csr_matrix((np.ones(len(flat), np.float32), flat, offsets), shape=(len(ids), len(m.table)))
        out = np.asarray(counts @ m.table, dtype=np.float32)  # [N, D] sums; the norm below makes them means
        norms = np.linalg.norm(out, axis=1)  # [N]
        empty = norms < 1e-9  # no known token (empty text, only unknown characters)
        out[~empty] /= norms[~empty, None]
        out[empty] = m.fallback
        return out
