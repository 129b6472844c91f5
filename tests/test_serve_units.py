"""graphroute.serve without a server: the store, snapshots, keys, upstreams.toml, batched ranking, folding."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading

import numpy as np
import pytest

import graphroute as gr

pytest.importorskip("fastapi")

from graphroute.serve.auth import KeyRing, bearer  # noqa: E402
from graphroute.serve.config import ServeConfig  # noqa: E402
from graphroute.serve.learner import Learner, fold, replay  # noqa: E402
from graphroute.serve.ranking import objective_kwargs, rank_batch  # noqa: E402
from graphroute.serve.snapshots import SnapshotDir  # noqa: E402
from graphroute.serve.store import SCHEMA_VERSION, Decision, Outcome, Store, new_decision_id  # noqa: E402
from graphroute.serve.upstreams import read_upstreams  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return gr.make_synthetic(n_queries=60, n_models=3, seed=0)


@pytest.fixture(scope="module")
def router(data):
    return gr.Router(embedder="minilm-static", epochs=20, seed=0).fit(data.logs, models=data.models)


def _decision(query="q", model="model_0") -> Decision:
    return Decision(id=new_decision_id(), source="route", query=query, task="task_0", model=model, agent="direct",
                    effect=0.5, cost=0.001, latency_s=None, score=0.4, fallback=False, objective={}, generation=0)


# ---------------------------------------------------------------- store
def test_store_is_wal_versioned_and_round_trips(tmp_path):
    s = Store(tmp_path / "o.sqlite")
    assert s.con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    d = _decision("what is 2+2")
    s.add_decisions([d])
    ids = s.add_outcomes([Outcome(query=d.query, model="model_0", agent="direct", effect=1.0, cost=0.002,
                                  decision_id=d.id), Outcome(query="other", model="model_1", agent="direct",
                                                            effect=0.0, cost=0.1)])
    assert ids == sorted(ids) and len(set(ids)) == 2
    got = s.decision(d.id)
    assert got["predicted"]["effect"] == 0.5 and got["model"] == "model_0"
    assert [o["effect"] for o in got["outcomes"]] == [1.0]
    assert s.decision("dec_unknown") is None
    assert [r[0] for r in s.outcomes_after(ids[0])] == [ids[1]]
    assert s.last_outcome()[0] == ids[1]
    logs = s.export_logs()
    assert list(logs["effect"]) == [1.0, 0.0] and logs["decision_id"].iloc[0] == d.id
    # a second process's view: a reopened store sees the committed rows
    assert Store(tmp_path / "o.sqlite").count_outcomes() == 2


def test_store_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "o.sqlite"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(gr.ConfigError, match="newer than this graphroute"):
        Store(path)


def test_decision_ids_are_unguessable():
    ids = {new_decision_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 32 for i in ids)


def test_outcome_ids_increase_across_concurrent_writers(tmp_path):
    path = tmp_path / "o.sqlite"
    Store(path).close()
    got: list[int] = []

    def write():
        s = Store(path, durability="normal")
        for _ in range(50):
            got.extend(s.add_outcomes([Outcome(query="q", model="m", agent="a", effect=0.5, cost=0.0)]))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = Store(path).outcomes_after(0)
    assert len(rows) == 200 and [r[0] for r in rows] == sorted(got)


def test_a_version_1_store_gains_op_results(tmp_path):
    db = tmp_path / "v1.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE model_ops (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, "
                "op TEXT NOT NULL, name TEXT NOT NULL, card TEXT NOT NULL)")
    con.execute("INSERT INTO model_ops (created_at, op, name, card) VALUES (0, 'add', 'old', '{}')")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    s = Store(db)
    assert s.con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert s.op_result(1) is None  # taken by a learner that kept no result: unknown, not 'applied'
    op = s.add_model_op("add", "m", {})
    s.record_op_results([(1, "applied", ""), (op, "skipped", "already has a model named 'm'")])
    assert s.op_result(1) == ("applied", "") and s.op_result(op) == ("skipped", "already has a model named 'm'")


def test_apply_model_ops_reports_what_it_skipped(router, tmp_path):
    from graphroute.serve.learner import apply_model_ops

    r = gr.load(router.save(tmp_path / "r"))
    got = apply_model_ops(r, [(1, "add", "twin", {"description": "x"}), (2, "add", "twin", {"description": "y"}),
                              (3, "remove", "nobody", {})])
    assert [g[:2] for g in got] == [(1, "applied"), (2, "skipped"), (3, "skipped")]
    assert "twin" in got[1][2] and "nobody" in got[2][2]


# ---------------------------------------------------------------- snapshots
def test_snapshots_publish_atomically_and_prune(tmp_path, router):
    snaps = SnapshotDir(tmp_path / "snaps", keep=2)
    assert snaps.current() is None
    for wm in (0, 5, 9):
        p = snaps.publish(router, wm, 0)
    assert p.generation == 2 and p.outcome_watermark == 9
    assert snaps.current() == p
    assert sorted(x.name for x in (tmp_path / "snaps").glob("gen-*")) == ["gen-000001", "gen-000002"]
    assert not list((tmp_path / "snaps").glob(".CURRENT.tmp*"))
    loaded = snaps.load(p)
    assert loaded.candidates_.equals(router.candidates_)


def test_snapshots_refuse_another_base_router(tmp_path, router):
    from graphroute.serve.snapshots import router_digest

    a, b = router.save(tmp_path / "a"), gr.Router(embedder="hash", epochs=2, seed=1).fit(
        gr.make_synthetic(n_queries=30, seed=1).logs).save(tmp_path / "b")
    snaps = SnapshotDir(tmp_path / "snaps")
    snaps.check_base(router_digest(a), str(a))  # nothing published yet: any router may start
    snaps.publish(router, 0, 0, base=router_digest(a))
    snaps.check_base(router_digest(a), str(a))  # the same router: a restart goes on
    with pytest.raises(gr.ConfigError, match=r"started from another router .* Fix: pass the --router"):
        snaps.check_base(router_digest(b), str(b))
    # a pointer written before bases were kept (no "base") lets the router it names go on
    pointer = json.loads((tmp_path / "snaps" / "CURRENT").read_text())
    pointer.pop("base")
    (tmp_path / "snaps" / "CURRENT").write_text(json.dumps(pointer))
    snaps.check_base(router_digest(b), str(b))


# ---------------------------------------------------------------- keys
def test_keys_plain_and_hashed(tmp_path, monkeypatch):
    plain, hashed = "k" * 20, "another-key-0123456789"
    f = tmp_path / "keys"
    f.write_text(f"# comment\nsha256:{hashlib.sha256(hashed.encode()).hexdigest()}\n")
    monkeypatch.setenv("GRAPHROUTE_API_KEY", plain)
    ring = KeyRing.from_sources("GRAPHROUTE_API_KEY", f)
    assert ring.check(plain) and ring.check(hashed)
    assert not ring.check("k" * 19) and not ring.check(None) and not ring.check("")
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None


@pytest.mark.parametrize("line, match", [("short", "at least 16"), ("sha256:abc", "64 hex digits")])
def test_bad_keys_say_what_to_do(tmp_path, monkeypatch, line, match):
    monkeypatch.delenv("GRAPHROUTE_API_KEY", raising=False)
    f = tmp_path / "keys"
    f.write_text(line + "\n")
    with pytest.raises(gr.ConfigError, match=match):
        KeyRing.from_sources("GRAPHROUTE_API_KEY", f)


def test_write_endpoints_refuse_to_start_without_a_key(tmp_path, monkeypatch):
    from graphroute.serve.server import serve

    monkeypatch.delenv("GRAPHROUTE_API_KEY", raising=False)
    with pytest.raises(gr.ConfigError, match="--insecure") as exc:
        serve(ServeConfig(db=str(tmp_path / "o.sqlite")))
    assert "GRAPHROUTE_API_KEY" in str(exc.value) and not (tmp_path / "o.sqlite").exists()  # nothing started


# ---------------------------------------------------------------- upstreams.toml
def test_upstreams_parse_and_never_show_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("UP_KEY", "sk-secret-value")
    f = tmp_path / "up.toml"
    f.write_text('[upstreams."model_0"]\nbase_url = "http://127.0.0.1:9/v1/"\nmodel = "m0"\napi_key_env = "UP_KEY"\n'
                 'timeout_s = 3\nprice_in = 1.0\nprice_out = 2.0\n')
    ups = read_upstreams(f)
    u = ups["model_0"]
    assert (u.base_url, u.model, u.timeout_s, u.api_key) == ("http://127.0.0.1:9/v1", "m0", 3.0, "sk-secret-value")
    assert "sk-secret" not in repr(u)
    assert u.cost(1000, 500) == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)


@pytest.mark.parametrize("text, match", [
    ('[upstreams."m"]\nbase_url = "ftp://x"\n', "must be an http"),
    ('[upstreams."m"]\nbase_url = "http://x"\ntimeout = 3\n', "unknown key"),
    ('[upstreams."m"]\nbase_url = "http://x"\napi_key_env = "NOT_SET_ANYWHERE_42"\n', "is not set"),
    ('[upstreams."m"]\nbase_url = "http://x"\ntimeout_s = -1\n', ">= 0"),
    ('[upstreams."m"]\nbase_url = "http://x"\ntimeout_s = 0\n', "must be > 0 seconds"),
    ('upstreams = 3\n', "must hold"),
    ('[upstreams\n', "not valid TOML"),
])
def test_bad_upstreams_name_the_rule(tmp_path, text, match):
    f = tmp_path / "up.toml"
    f.write_text(text)
    with pytest.raises(gr.ConfigError, match=match):
        read_upstreams(f)


# ---------------------------------------------------------------- batched ranking = Router.select
@pytest.mark.parametrize("objective", [
    {}, {"weights": {"effect": 1.0, "cost": 2.0}}, {"weights": {"effect": 1.0}, "cost_unit": "usd"},
    {"budget": 1e-4}, {"allowed_models": ["model_1", "model_2"]}, {"forbidden_models": ["model_2"]},
    {"min_effect": 0.3, "weights": {"effect": 0.2, "cost": 1.0}},
])
def test_rank_batch_matches_router_select(router, data, objective):
    queries = list(data.logs["query"].unique()[:12]) + ["a query never seen before about nothing"]
    ranked = rank_batch(router, queries, [None] * len(queries), objective)
    for q, text in enumerate(queries):
        best = int(ranked.order[q, 0])
        if not ranked.feasible[q, best]:
            with pytest.raises(gr.InfeasibleError):
                router.select(text, **objective_kwargs(objective))
            continue
        sel = router.select(text, **objective_kwargs(objective))
        alts = ranked.alternatives(q)
        assert (alts[0]["model"], alts[0]["agent"]) == (sel.model, sel.agent)
        assert alts[0]["score"] == pytest.approx(sel.score, abs=1e-5)  # predict and select round float32 apart
        assert [a["model"] for a in alts] == list(sel.alternatives["model"])
        np.testing.assert_allclose([a["score"] for a in alts], sel.alternatives["score"], atol=1e-5)
        assert [a["feasible"] for a in alts] == list(sel.alternatives["feasible"])
        assert ranked.task[q] == sel.task


# ---------------------------------------------------------------- folding: exactly once across a crash
def test_learner_replays_from_the_watermark_exactly_once(tmp_path, router, data):
    cfg = ServeConfig(db=str(tmp_path / "o.sqlite"), snapshots=str(tmp_path / "snaps"))
    store = Store(cfg.db)
    snaps = SnapshotDir(cfg.snapshot_dir())
    snaps.publish(router, 0, 0)
    texts = [f"probe {w} {v} question" for w, v in zip(("alpha", "beta", "gamma"), ("one", "two", "three"))]
    before = router.predict(texts)
    store.add_outcomes([Outcome(query=t, model="model_0", agent="direct", effect=1.0, cost=0.0001) for t in texts])
    learner = Learner(cfg)
    r, p = learner.bootstrap()
    wm = replay(store, r, after=p.outcome_watermark)
    snaps.publish(r, wm, 0)
    # a second learner start (after a crash) replays nothing more: the snapshot holds the watermark
    r2, p2 = Learner(cfg).bootstrap()
    assert p2.outcome_watermark == wm == 3
    assert replay(store, r2, after=p2.outcome_watermark) == wm
    after = r2.predict(texts)
    moved = after.loc[after["model"] == "model_0", "effect"].to_numpy() - \
        before.loc[before["model"] == "model_0", "effect"].to_numpy()
    assert (moved > 0).all()
    for t in texts:  # each outcome is one edge of the graph, not two
        ev = r2.select(t, evidence=3).evidence
        assert len(ev[(ev["query"] == t) & (ev["model"] == "model_0")]) == 1


def test_fold_skips_removed_models_and_infers_tasks(router):
    r = gr.load(_save(router))
    n = fold(r, [(1, "some new question text", None, "model_0", "direct", 1.0, 0.001, None),
                 (2, "another one", "task_1", "gone_model", "direct", 1.0, 0.001, None)])
    assert n == 1
    ev = r.select("some new question text", evidence=1).evidence
    assert ev["query"].iloc[0] == "some new question text" and ev["task"].iloc[0] in {"task_0", "task_1", "task_2"}


def _save(router):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "r"
    router.save(path)
    return path


def test_observe_replays_the_store_and_exports_logs(tmp_path, router):
    import argparse

    from graphroute.serve.cli import run_observe

    base = _save(router)
    store = Store(tmp_path / "o.sqlite")
    store.add_outcomes([Outcome(query="replayed question one", model="model_1", agent="direct", effect=1.0,
                                cost=0.002, task="task_0")])
    args = argparse.Namespace(db=str(tmp_path / "o.sqlite"), router=str(base), out=str(tmp_path / "grown"),
                              export=str(tmp_path / "logs.csv"), after=0)
    assert run_observe(args) == 0
    ev = gr.load(tmp_path / "grown").select("replayed question one", evidence=1).evidence
    assert (ev["query"].iloc[0], ev["model"].iloc[0], ev["effect"].iloc[0]) == ("replayed question one", "model_1", 1.0)
    logs = gr.read_logs(tmp_path / "logs.csv")
    assert len(logs) == 1 and logs["model"].iloc[0] == "model_1"


def test_observe_refuses_a_missing_store_and_an_unknown_export_format(tmp_path):
    import argparse

    from graphroute.serve.cli import run_observe

    missing = tmp_path / "typo.sqlite"
    args = argparse.Namespace(db=str(missing), router=None, out=None, export=str(tmp_path / "x.csv"), after=0)
    with pytest.raises(gr.ConfigError, match="does not exist"):
        run_observe(args)
    assert not missing.exists()  # no empty store left behind
    Store(tmp_path / "o.sqlite").close()
    args = argparse.Namespace(db=str(tmp_path / "o.sqlite"), router=None, out=None, export=str(tmp_path / "x.json"),
                              after=0)
    with pytest.raises(gr.ConfigError, match=r"\.csv, \.jsonl, \.parquet"):
        run_observe(args)


def test_the_balanced_objective_is_the_library_default():
    # serve/config.py spells it out (importing selection there would pull pandas into `graphroute serve --help`)
    from graphroute.selection import parse_weights
    from graphroute.serve.config import OBJECTIVES

    assert parse_weights(OBJECTIVES["balanced"]) == gr.DEFAULT_WEIGHTS
