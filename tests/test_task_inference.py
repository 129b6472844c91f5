"""Task inference (graphroute.routers.task_inference): a query without a task gets the one its text's
format names, where that beats the neighbour vote on held-out queries; it travels with the router."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.cli import main
from graphroute.eval.metrics import reward
from graphroute.routers.task_inference import TaskClassifier

FAST = dict(embedder="hash", epochs=30, patience=30, hidden=16, cache_dir=False, seed=0, text_evidence=False)
TOPICS = ["rivers", "planets", "kings", "metals", "birds", "poems", "engines", "taxes"]
WORDS = ["what", "which", "name", "the", "largest", "oldest", "first", "known", "about", "tell", "me", "of"]
# the two tasks ask about the same topics with the same words; only their prompt template differs, which
# the router strips as boilerplate before embedding (so the embedding, and the neighbour vote, cannot see it)
FORMATS = {"choice": "Read the question below and pick the one right option; reply with its letter only.\n{body}",
           "open": "Read the question below and answer it in your own words, in one short paragraph.\n{body}"}
BEST = {"choice": "m-choice", "open": "m-open"}  # each task's specialist: 90 % against 10 %


def logs(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n):
        task = list(FORMATS)[q % 2]
        body = " ".join([*rng.choice(WORDS, size=6), *rng.choice(TOPICS, size=3)])
        text = FORMATS[task].format(body=body) + f" #{seed}-{q}"
        for model in BEST.values():
            p = 0.9 if model == BEST[task] else 0.1
            rows.append({"query_id": f"{seed}-{q}", "query": text, "task": task, "model": model,
                         "effect": float(rng.random() < p), "cost": 0.001})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def router():
    return gr.Router(**FAST).fit(logs(300, 0))


def test_the_classifier_is_kept_where_it_names_tasks_better_than_the_vote(router):
    rep = router.task_inference_
    assert router.task_classifier_ is not None and rep["method"] == "text classifier"
    assert rep["accuracy"] > rep["vote_accuracy"]
    assert rep["accuracy"] > 0.95
    test = logs(100, 1)
    first = test.drop_duplicates("query_id")
    inferred = router.predict(first["query"].tolist()).drop_duplicates("query_index")["task"].to_numpy()
    assert (inferred == first["task"].to_numpy()).mean() > 0.95


def test_the_classifier_fitted_beside_training_is_that_of_the_trained_graph(router):
    # fitted in a worker thread while the networks train; again on the published graph, the same classifier
    from graphroute.routers.gnn import text

    _, clf, report = text.fit_text_parts(router.graph_, router.prefixes_, False, router.k_neighbors,
                                         router.knn_temperature, router.seed)
    assert report == router.task_inference_ and clf.tasks == router.task_classifier_.tasks
    np.testing.assert_array_equal(clf.coef, router.task_classifier_.coef)
    np.testing.assert_array_equal(clf.intercept, router.task_classifier_.intercept)


def test_task_free_routing_matches_routing_with_labels(router):
    test = logs(100, 1)
    first = test.drop_duplicates("query_id")

    def perf(tasks):
        picks = router.select_many(first["query"].tolist(), tasks=tasks, weights="performance_first")
        return reward(test, picks.assign(query_id=first["query_id"].to_numpy())[["query_id", "model", "agent"]],
                      "performance_first")

    told, free = perf(first["task"].tolist()), perf(None)
    assert told > 0.8
    assert free >= told - 0.03
    router_vote = gr.Router(**FAST).fit(logs(300, 0))
    router_vote.task_classifier_ = None  # what the neighbour vote alone routes
    picks = router_vote.select_many(first["query"].tolist(), weights="performance_first")
    by_vote = reward(test, picks.assign(query_id=first["query_id"].to_numpy())[["query_id", "model", "agent"]],
                     "performance_first")
    assert free > by_vote + 0.05


def test_a_given_task_is_never_overridden(router):
    q = [FORMATS["choice"].format(body="which rivers are oldest") + " #x"]
    assert router.predict(q, tasks="open")["task"].unique().tolist() == ["open"]
    assert router.predict(q)["task"].unique().tolist() == ["choice"]


def test_one_task_or_few_queries_keep_the_vote():
    one = logs(60, 0).assign(task="only")
    r = gr.Router(**FAST).fit(one)
    assert r.task_classifier_ is None and r.task_inference_["method"] == "the only task"
    r = gr.Router(**FAST).fit(logs(30, 0))  # 6 held-out queries: too few to judge
    assert r.task_classifier_ is None and r.task_inference_["method"] == "neighbour vote"
    assert "6 queries" in r.task_inference_["reason"]


def test_same_seed_same_classifier(router):
    other = gr.Router(**FAST).fit(logs(300, 0)).task_classifier_
    np.testing.assert_array_equal(other.coef, router.task_classifier_.coef)
    assert other.vocabularies == router.task_classifier_.vocabularies


def test_the_classifier_survives_save_and_load(router, tmp_path):
    qs = logs(40, 2).drop_duplicates("query_id")["query"].tolist()
    path = router.save(tmp_path / "r")
    assert (path / "task_classifier.safetensors").is_file()
    loaded = gr.load(path)
    pd.testing.assert_frame_equal(loaded.predict(qs), router.predict(qs), check_exact=True)
    half = gr.load(router.save(tmp_path / "h", half=True))
    assert (half.predict(qs)["task"] == router.predict(qs)["task"]).all()
    assert main(["info", "--router", str(path), "--json"]) == 0


def test_info_says_how_tasks_are_inferred(router, tmp_path, capsys):
    path = router.save(tmp_path / "r")
    assert main(["info", "--router", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["task_inference"]
    assert info["method"] == "text classifier" and info == router.task_inference_


def test_a_damaged_classifier_file_is_refused(router, tmp_path, edit_saved_config):
    path = router.save(tmp_path / "r")
    edit_saved_config(path, lambda cfg: cfg["task_classifier"]["tasks"].append("extra"))
    with pytest.raises(gr.RouterFileError, match="task classifier: weights of shape"):
        gr.load(path)


def test_a_task_added_later_is_found_by_the_vote():
    r = gr.Router(**FAST).fit(logs(300, 0))
    r.add_task("haiku", description="write a haiku")
    text = "compose a haiku on autumn leaves falling softly"
    r.observe(pd.DataFrame([{"query_id": "h1", "query": text, "task": "haiku", "model": m, "effect": e,
                             "cost": 0.001} for m, e in (("m-choice", 0.2), ("m-open", 0.9))]))
    assert "haiku" not in r.task_classifier_.tasks
    assert r.predict([text])["task"].unique().tolist() == ["haiku"]  # its neighbours vote for the new task


def test_routing_with_the_classifier_imports_no_torch(router, tmp_path, route_without_torch):
    path = router.save(tmp_path / "r")
    q = FORMATS["open"].format(body="tell me about engines") + " #z"
    route_without_torch(f"import graphroute as gr; r = gr.load({str(path)!r}); s = r.select({q!r}); "
                        "assert s.task == 'open' and s.model == 'm-open', (s.task, s.model)")


def test_from_parts_round_trips_two_tasks(router):
    meta, arrays = router.task_classifier_.to_parts()
    back = TaskClassifier.from_parts(json.loads(json.dumps(meta)), arrays)
    texts = logs(10, 3).drop_duplicates("query_id")["query"].tolist()
    x = router._embed(texts)
    assert back.predict(texts, x) == router.task_classifier_.predict(texts, x)


def test_block_scores_equal_the_stacked_features_and_check_the_embedding_width(router):
    """predict() scores each TF-IDF block and the embedding separately: the same decision as the stacked
    feature rows the classifier was fitted on; an embedding of the wrong width is refused by name."""
    from graphroute.data.text import tfidf_vectorizer
    from graphroute.routers.task_inference import ANALYZERS, MAX_FEATURES, _features

    clf = router.task_classifier_
    texts = logs(40, 7)["query"].unique().tolist()
    x = router._embed(texts)
    vecs = [tfidf_vectorizer(MAX_FEATURES, analyzer=a, ngram_range=n, vocabulary=v, idf=i)
            for (a, n), v, i in zip(ANALYZERS, clf.vocabularies, clf.idfs)]
    stacked = np.asarray(_features([v.transform(texts) for v in vecs], x) @ clf.coef.T) + clf.intercept
    want = [clf.tasks[int(s > 0)] for s in stacked[:, 0]]  # two tasks: one decision function
    assert clf.predict(texts, x) == want and len(set(want)) == 2
    with pytest.raises(ValueError, match=rf"reads {x.shape[1]}-d query embeddings; got an array of shape"):
        clf.predict(texts, x[:, :-1])


def test_the_classifier_reads_the_start_of_a_long_text(router):
    """Only the first READ_CHARS characters count (a prompt's template comes first): what follows them does not
    move the decision, however much it looks like the other task."""
    from graphroute.routers.task_inference import READ_CHARS

    clf = router.task_classifier_
    head = FORMATS["choice"].format(body="which planets are the oldest known") + " " + "x" * READ_CHARS
    tail = " ".join([FORMATS["open"].format(body="tell me of the rivers")] * 20)
    x = router._embed([head])
    assert clf.predict([head], x) == clf.predict([head + tail], x) == ["choice"]
    assert clf.predict([tail], router._embed([tail])) == ["open"]
