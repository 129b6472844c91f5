"""Text evidence (graphroute.routers.text_evidence): opens where a query's words predict which model
wins, stays shut where they do not, and travels with the router (save / load, growth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.cli import main
from graphroute.embed import Embedder, HashEmbedder
from graphroute.errors import ConfigError
from graphroute.eval.metrics import reward
from graphroute.routers.text_evidence import TextEvidence, form_features

FAST = dict(embedder="hash", epochs=30, patience=30, hidden=16, cache_dir=False, seed=0)
TOPICS = ["algebra", "poetry"]
FILLER = ["please", "answer", "this", "question", "carefully", "now", "briefly", "today"]


def logs(n: int, seed: int, signal: bool) -> pd.DataFrame:
    """One task, two models at the same price. With ``signal``, model "m-alg" solves algebra questions and
    "m-poe" poetry ones (each 85 % vs 15 %); without, both solve 50 % of anything, at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n):
        topic = TOPICS[q % 2]
        words = " ".join(rng.choice(FILLER, size=4))
        text = f"{topic} {words} item {seed}-{q}"
        for model, good in (("m-alg", "algebra"), ("m-poe", "poetry")):
            p = (0.85 if topic == good else 0.15) if signal else 0.5
            rows.append({"query_id": f"{seed}-{q}", "query": text, "task": "mixed", "model": model,
                         "effect": float(rng.random() < p), "cost": 0.001})
    return pd.DataFrame(rows)


def perf_first(router, test: pd.DataFrame) -> float:
    first = test.drop_duplicates("query_id")
    picks = router.select_many(first["query"].tolist(), tasks=first["task"].tolist(), weights="performance_first")
    return reward(test, picks.assign(query_id=first["query_id"].to_numpy())[["query_id", "model", "agent"]],
                  "performance_first")


@pytest.fixture(scope="module")
def signal_router():
    return gr.Router(**FAST).fit(logs(240, 0, signal=True))


def test_the_gate_opens_where_words_predict_the_winner(signal_router):
    test = logs(120, 1, signal=True)
    graph_only = gr.Router(**FAST, text_evidence=False).fit(logs(240, 0, signal=True))
    assert signal_router.text_evidence_ is not None
    gates = signal_router.text_evidence_.summary()
    assert list(gates) == ["mixed"] and gates["mixed"] > 0
    # the text picks the right specialist for most queries; the graph alone (hash embeddings of mostly
    # filler words) cannot tell the topics apart as well
    ours, base = perf_first(signal_router, test), perf_first(graph_only, test)
    assert ours > 0.75
    assert ours > base + 0.05


def test_the_gate_stays_shut_without_signal():
    train = logs(240, 0, signal=False)
    r = gr.Router(**FAST).fit(train)
    assert r.text_evidence_ is None
    off = gr.Router(**FAST, text_evidence=False).fit(train)
    qs = logs(20, 1, signal=False).drop_duplicates("query_id")["query"].tolist()
    pd.testing.assert_frame_equal(r.predict(qs), off.predict(qs), check_exact=True)


def test_same_seed_same_evidence():
    a = gr.Router(**FAST).fit(logs(240, 0, signal=True)).text_evidence_
    b = gr.Router(**FAST).fit(logs(240, 0, signal=True)).text_evidence_
    (ta,), (tb,) = a.tasks.values(), b.tasks.values()
    np.testing.assert_array_equal(ta.weights, tb.weights)
    np.testing.assert_array_equal(ta.bases.ridge, tb.bases.ridge)


def test_the_evidence_fitted_beside_training_is_that_of_the_trained_graph(signal_router):
    # fit runs the text parts in a worker thread while the networks train, on the graph as it was before
    # training: fitted again on the published graph, they must come out the same (training changes no
    # outcome, text or embedding they read, and they read nothing of the networks)
    from graphroute.routers.gnn import text

    r = signal_router
    ev, clf, report = text.fit_text_parts(r.graph_, r.prefixes_, True, r.k_neighbors, r.knn_temperature, r.seed)
    (a,), (b,) = ev.tasks.values(), r.text_evidence_.tasks.values()
    assert a.gamma == b.gamma and a.pairs == b.pairs
    for name in ("ridge", "form", "emb", "rec", "resid"):
        np.testing.assert_array_equal(getattr(a.bases, name), getattr(b.bases, name))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert clf is None and r.task_classifier_ is None and report == r.task_inference_


def test_an_error_in_the_text_parts_reaches_the_caller(monkeypatch):
    from graphroute.routers.gnn import text

    def broken(*args, **kwargs):
        raise RuntimeError("text parts failed")

    monkeypatch.setattr(text, "fit_text_parts", broken)
    r = gr.Router(**FAST)
    with pytest.raises(RuntimeError, match="text parts failed"):
        r.fit(logs(60, 0, signal=True))
    assert not hasattr(r, "text_evidence_") and not hasattr(r, "candidates_")  # nothing was published


def test_evidence_survives_save_and_load(signal_router, tmp_path):
    path = signal_router.save(tmp_path / "r")
    assert (path / "text_evidence.safetensors").is_file()
    loaded = gr.load(path)
    qs = logs(30, 2, signal=True).drop_duplicates("query_id")["query"].tolist()
    pd.testing.assert_frame_equal(loaded.predict(qs, tasks="mixed"), signal_router.predict(qs, tasks="mixed"),
                                  check_exact=True)


def test_a_damaged_evidence_file_is_refused(signal_router, tmp_path, edit_saved_config):
    path = signal_router.save(tmp_path / "r")

    def drop_a_word(cfg):
        cfg["text_evidence"][0]["vocabulary"] = cfg["text_evidence"][0]["vocabulary"][:-1]

    edit_saved_config(path, drop_a_word)
    with pytest.raises(gr.RouterFileError, match="text evidence 'mixed': idf has shape"):
        gr.load(path)


def test_a_model_added_later_keeps_the_graph_prediction():
    r = gr.Router(**FAST).fit(logs(240, 0, signal=True))
    r.add_model("m-new", description="a new general model", price_in=1.0, price_out=1.0)
    q = ["algebra please answer item new-1"]
    with_ev = r.predict(q, tasks="mixed").set_index("model")["effect"]
    ev, r.text_evidence_ = r.text_evidence_, None
    without = r.predict(q, tasks="mixed").set_index("model")["effect"]
    r.text_evidence_ = ev
    assert with_ev["m-new"] == without["m-new"]  # no evidence for it: the graph's prediction
    assert with_ev["m-alg"] != without["m-alg"]  # the specialists are read from the text
    assert with_ev["m-alg"] > with_ev["m-poe"]


def test_task_free_queries_use_the_inferred_task(signal_router):
    qs = ["poetry please now item x-1", "algebra carefully item x-2"]
    p = signal_router.predict(qs).pivot(index="query_index", columns="model", values="effect")
    assert p.loc[0, "m-poe"] > p.loc[0, "m-alg"] and p.loc[1, "m-alg"] > p.loc[1, "m-poe"]


def test_text_evidence_must_be_a_bool():
    with pytest.raises(ConfigError, match="text_evidence must be True or False; got 'yes'"):
        gr.Router(**FAST, text_evidence="yes").fit(logs(40, 0, signal=True))


def test_form_features_read_the_form():
    f = form_features(["What is x if x^2 = 4?\nA) 3\nB) 2", "def f():\n    return 1", "plain words"])
    assert f.shape == (3, 6)
    assert f[0, 4] == pytest.approx(0.2)  # two options
    assert f[1, 2] == 1.0 and f[2, 2] == 0.0  # code
    assert f[0, 3] == 1.0  # maths sign


def test_too_few_queries_give_no_evidence():
    d = logs(20, 0, signal=True)
    first = d.drop_duplicates("query_id")
    e = d.pivot(index="query_id", columns="model", values="effect").loc[first["query_id"]].to_numpy()
    texts = first["query"].tolist()
    ev = TextEvidence.fit(texts, np.zeros(len(texts), dtype=np.int64), ["mixed"], e, np.full(e.shape, 0.001),
                          [("m-alg", "direct"), ("m-poe", "direct")], seed=0)
    assert not ev


def test_a_half_precision_save_keeps_the_evidence(signal_router, tmp_path):
    loaded = gr.load(signal_router.save(tmp_path / "r", half=True))
    (ev,) = loaded.text_evidence_.tasks.values()
    assert ev.bases.ridge.dtype == np.float32 and ev.bases.resid.dtype == np.float32
    qs = logs(30, 2, signal=True).drop_duplicates("query_id")["query"].tolist()
    a, b = loaded.predict(qs, tasks="mixed"), signal_router.predict(qs, tasks="mixed")
    np.testing.assert_allclose(a["effect"], b["effect"], atol=2e-3)
    assert (a.groupby("query_index")["effect"].idxmax() == b.groupby("query_index")["effect"].idxmax()).all()


def test_routing_with_evidence_imports_no_torch(signal_router, tmp_path, route_without_torch):
    path = signal_router.save(tmp_path / "r")
    route_without_torch(f"import graphroute as gr; r = gr.load({str(path)!r}); "
                        "s = r.select('algebra now please item z-1', task='mixed'); assert s.model == 'm-alg', s.model")


def test_info_lists_where_the_evidence_is_used(signal_router, tmp_path, capsys):
    import json

    path = signal_router.save(tmp_path / "r")
    assert main(["info", "--router", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text_evidence"] == signal_router.text_evidence_.summary()


def test_logs_without_words_fit_without_evidence():
    rng = np.random.default_rng(0)
    rows = [{"query_id": f"q{q}", "query": f"{q} + {q % 7}", "task": "sums", "model": m,
             "effect": float(rng.random() < 0.5), "cost": 0.001} for q in range(60) for m in ("a", "b")]
    r = gr.Router(**FAST).fit(pd.DataFrame(rows))  # TF-IDF keeps no term of two letters here
    assert r.text_evidence_ is None
    assert len(r.predict(["3 + 4"])) == 2


def test_a_removed_model_takes_its_evidence_along():
    r = gr.Router(**FAST).fit(logs(240, 0, signal=True))
    q = ["algebra please answer item new-2"]
    r.remove_model("m-poe")  # the task keeps one pair: no evidence left
    assert r.text_evidence_ is None
    r.add_model("m-poe", description="back again", price_in=1.0, price_out=1.0)
    graph_only = r.predict(q, tasks="mixed")
    r2 = gr.Router(**FAST).fit(logs(240, 0, signal=True))
    r2.remove_model("m-poe")
    r2.text_evidence_ = None
    r2.add_model("m-poe", description="back again", price_in=1.0, price_out=1.0)
    pd.testing.assert_frame_equal(graph_only, r2.predict(q, tasks="mixed"))


def test_without_slices_every_array_of_the_pair():
    three = pd.concat([logs(240, 0, signal=True),
                       logs(240, 0, signal=False).query("model == 'm-alg'").assign(model="m-mid")])
    r = gr.Router(**FAST).fit(three)
    assert r.text_evidence_ is not None
    before = {t: ev.delta(["algebra item k"]) for t, ev in r.text_evidence_.tasks.items()}
    r.remove_model("m-mid")
    (task, ev), = r.text_evidence_.tasks.items()
    assert [p[0] for p in ev.pairs] == ["m-alg", "m-poe"]
    b = ev.bases
    assert b.rec.shape[1] == b.ridge.shape[1] == b.resid.shape[2] == b.form_b.shape[1] == 2
    assert b.emb.shape[1] == b.emb_b.shape[1] == 2 and b.emb.shape[2] == b.emb_mu.size > 0
    kept = [j for j, p in enumerate(gr.Router(**FAST).fit(three).text_evidence_.tasks[task].pairs) if p[0] != "m-mid"]
    np.testing.assert_allclose(ev.delta(["algebra item k"]), before[task][:, :, kept])
    x = r._embed(["algebra item k"])
    full = gr.Router(**FAST).fit(three).text_evidence_.tasks[task]
    np.testing.assert_allclose(ev.delta(["algebra item k"], x), full.delta(["algebra item k"], x)[:, :, kept],
                               atol=1e-6)


def _meaning_only(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(texts, embeddings, effect, cost): texts of filler words only; the first embedding coordinate (±1
    plus noise) says which of two equally priced models solves the query (85 % vs 15 %)."""
    rng = np.random.default_rng(seed)
    side = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    emb = rng.normal(0.0, 0.3, size=(n, 8))
    emb[:, 0] += side
    p = np.where(side[:, None] > 0, [0.85, 0.15], [0.15, 0.85])
    e = (rng.random((n, 2)) < p).astype(float)
    texts = [" ".join(rng.choice(FILLER, size=5)) + f" item {seed}-{q}" for q in range(n)]
    return texts, emb, e, np.full(e.shape, 0.001)


def test_the_embedding_base_reads_what_the_words_do_not():
    texts, emb, e, c = _meaning_only(240, 0)
    args = (texts, np.zeros(len(texts), dtype=np.int64), ["mixed"], e, c, [("m-a", "direct"), ("m-b", "direct")])
    from graphroute.routers.text_evidence import TIE_SHARE

    words = TextEvidence.fit(*args, seed=0)  # the words carry nothing: shut, or at most the small share
    assert not words or max(words.summary().values()) <= TIE_SHARE
    ev = TextEvidence.fit(*args, seed=0, emb=emb)
    assert list(ev.summary()) == ["mixed"] and ev.summary()["mixed"] > TIE_SHARE
    t2, emb2, e2, _ = _meaning_only(100, 1)
    (task,) = ev.tasks.values()
    d = task.delta(t2, emb2)[0]  # [Q, 2] effect shifts
    truth = np.where(emb2[:, 0] > 0, 0, 1)
    assert (d.argmax(1) == truth).mean() > 0.9
    np.testing.assert_array_equal(task.delta(t2)[0], task.delta(t2, np.tile(task.bases.emb_mu, (len(t2), 1)))[0])
    with pytest.raises(ValueError, match=r"shape \(100, 7\), not \(100, 8\).*router's own embedder"):
        task.delta(t2, emb2[:, :7])
    with pytest.raises(ValueError, match=r"emb has shape \(239, 8\), not \(240, D\)"):
        TextEvidence.fit(*args, seed=0, emb=emb[:-1])


def test_evidence_saved_before_the_embedding_base_still_loads():
    texts, emb, e, c = _meaning_only(240, 0)
    base = TextEvidence.fit(texts, np.zeros(len(texts), dtype=np.int64), ["mixed"], e, c,
                            [("m-a", "direct"), ("m-b", "direct")], seed=0, emb=emb)
    meta, arrays = base.to_parts()
    old = {k: (v[:, :-1] if k.endswith(".weights") else v) for k, v in arrays.items()
           if k.split(".", 1)[1] not in ("emb_mu", "emb", "emb_b")}
    loaded = TextEvidence.from_parts(meta, old)
    (task,) = loaded.tasks.values()
    assert task.weights.shape == (2, 4) and (task.weights[:, 3] == 0).all() and task.bases.emb_mu.size == 0
    (orig,) = base.tasks.values()
    w = orig.weights.copy()
    w[:, 3] = 0.0
    from graphroute.routers.text_evidence import _blended

    want = orig.gamma * _blended(w, orig.bases.predict(texts[:20], emb[:20]))
    np.testing.assert_allclose(task.delta(texts[:20], emb[:20]), want, atol=1e-5)
    bad = dict(arrays, **{"0.emb": arrays["0.emb"][:, :, :-1]})
    with pytest.raises(ValueError, match="emb has shape"):
        TextEvidence.from_parts(meta, bad)


class _MarkerEmbedder(Embedder):
    """Reads a one-letter marker ("a" / "b", invisible to TF-IDF's two-letter tokens) into the first
    coordinate, the other words as hashed noise: the query's meaning is in its embedding only."""

    name, dim, cacheable = "marker-test", 16, False

    def encode(self, texts):
        noise = HashEmbedder(dim=self.dim - 1).encode(texts) * 0.5
        side = np.array([1.0 if t.endswith(" a") else -1.0 for t in texts], dtype=np.float32)
        x = np.concatenate([side[:, None], noise], 1)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def marker_logs(n: int, seed: int) -> pd.DataFrame:
    """Two equally priced models; "m-a" solves the queries marked "a" (85 % vs 15 %), "m-b" the others."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n):
        mark = "ab"[q % 2]
        text = " ".join(rng.choice(FILLER, size=5)) + f" item {seed}-{q} {mark}"
        for model in ("m-a", "m-b"):
            p = 0.85 if model[-1] == mark else 0.15
            rows.append({"query_id": f"{seed}-{q}", "query": text, "task": "mixed", "model": model,
                         "effect": float(rng.random() < p), "cost": 0.001})
    return pd.DataFrame(rows)


def test_the_router_hands_its_embeddings_to_the_evidence():
    from graphroute.embed import EMBEDDERS, register_embedder

    register_embedder("marker-test", _MarkerEmbedder, overwrite=True)
    try:
        r = gr.Router(**{**FAST, "embedder": "marker-test"}).fit(marker_logs(240, 0))
        assert r.text_evidence_ is not None and list(r.text_evidence_.summary()) == ["mixed"]
        (ev,) = r.text_evidence_.tasks.values()
        assert ev.bases.emb_mu.shape == (16,) and ev.weights[0, 3] > 0  # the embedding base carries the effect
        test = marker_logs(60, 1).drop_duplicates("query_id")
        x = r._embed(test["query"].tolist())
        d = ev.delta(test["query"].tolist(), x)[0]  # [Q, 2] effect shifts, pairs in ev.pairs' order
        want = np.array([[p[0] for p in ev.pairs].index("m-" + t[-1]) for t in test["query"]])
        assert (d.argmax(1) == want).mean() > 0.9
        picks = r.select_many(test["query"].tolist(), tasks="mixed", weights="performance_first")
        assert (picks["model"].to_numpy() == ("m-" + test["query"].str[-1]).to_numpy()).mean() > 0.9
    finally:
        EMBEDDERS.pop("marker-test", None)


def _ordering_case(seed: int, scale: float, noise: float, q: int = 600):
    """Out-of-fold inputs of the gate for one task of two pairs, a free one and one at cost 1. The costly
    pair gains g ~ U(-0.3, 0.7) in success rate, query by query (0.2 on average, the record's gap); the
    residual predicted for it is ``scale`` (g - 0.2) plus N(0, ``noise``)."""
    rng = np.random.default_rng(seed)
    g = rng.uniform(-0.3, 0.7, q)
    e = (rng.random((q, 2)) < np.stack([np.full(q, 0.5), 0.5 + g], 1)).astype(float)
    c = np.tile([0.0, 1.0], (q, 1))
    rec = np.zeros((2, q, 2))
    rec[0], rec[1] = [0.5, 0.7], np.log(np.array([0.0, 1.0]) + 1e-6)
    delta = np.zeros((2, q, 2))
    delta[0, :, 1] = scale * (g - 0.2) + noise * rng.normal(size=q)
    return rec, delta, e, c


def test_a_small_share_orders_queries_where_the_full_ones_lose(monkeypatch):
    from graphroute.routers import text_evidence as te

    # the residual orders the queries, but at half or full weight its noise moves clear choices: those
    # shares fail, and the small one, which moves only near-ties, is kept on every draw
    cases = [_ordering_case(s, 1.0, 0.5) for s in range(5)]
    assert [te._gate(*a) for a in cases] == [te.TIE_SHARE] * 5
    monkeypatch.setattr(te, "TIE_SHARE", 0.0)
    assert [te._gate(*a) for a in cases] == [0.0] * 5  # the two-share gate alone stays shut
    monkeypatch.undo()
    assert [te._gate(*_ordering_case(s, 1.0, 0.0)) for s in range(3)] == [1.0] * 3  # a clean residual: all of it


def test_noise_seldom_opens_the_small_share():
    from graphroute.routers import text_evidence as te

    opened = [te._gate(*_ordering_case(s, 0.0, 0.3)) for s in range(20)]
    assert set(opened) <= {0.0, te.TIE_SHARE} and opened.count(te.TIE_SHARE) <= 4  # one-sided 1 SE: ~16 %
