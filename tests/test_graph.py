"""The routing graph (graphroute.graph): built from logs, viewed as HeteroData, cut to a subgraph,
read as pair statistics, converted to the numpy arrays a router serves from.

The graph is built the public way (``Router.fit`` on generated logs, hash embedder) and read back
through ``router.state_`` / ``router.graph_``; the shapes named in graph.state's docstring (N known
queries, E outcome edges, T tasks, M models, A agents, P = M·A pairs, Q targets, K neighbours) are
what is checked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import graphroute as gr
from graphroute.graph import EDGE_DIMS, EDGE_TYPES, NODE_TYPES, PAIR_FEATURES, GraphState, model_numeric
from graphroute.graph.schema import SKIP_COST, SKIP_EFFECT

N_QUERIES, N_MODELS, N_AGENTS, N_TASKS = 40, 3, 2, 2


@pytest.fixture(scope="module")
def fitted():
    syn = gr.make_synthetic(n_queries=N_QUERIES, n_models=N_MODELS, n_agents=N_AGENTS, n_tasks=N_TASKS,
                            density=0.7, seed=5)
    router = gr.Router(embedder="hash", hidden=8, epochs=2, seed=0, progress=False, cache_dir=False)
    router.fit(syn.logs, models=syn.models, agents=syn.agents, tasks=syn.tasks)
    return {"logs": syn.logs, "models": syn.models, "router": router}


@pytest.fixture
def state(fitted) -> GraphState:
    return GraphState.from_arrays(fitted["router"].graph_)  # a private copy each test may change


def _all(n: int) -> torch.Tensor:
    return torch.ones(n, dtype=torch.bool)


# ------------------------------------------------------------------------------------ schema
def test_every_edge_type_has_its_reverse_and_known_node_types():
    assert set(NODE_TYPES) == {"query", "task", "model", "agent"}
    for src, rel, dst in EDGE_TYPES:
        assert {src, dst} <= set(NODE_TYPES)
        if src != dst:
            reverse = [e for e in EDGE_TYPES if e[0] == dst and e[2] == src]
            assert len(reverse) == 1 and EDGE_DIMS.get(reverse[0], 0) == EDGE_DIMS.get((src, rel, dst), 0)
    assert set(EDGE_DIMS) <= set(EDGE_TYPES)
    assert PAIR_FEATURES[SKIP_EFFECT] == "task_effect" and PAIR_FEATURES[SKIP_COST] == "task_cost_z"


def test_model_numeric_reads_prices_and_size():
    assert model_numeric(None, None, None) == [0.0, 0.0, 0.0, 0.0]
    assert model_numeric(1.0, None, 7.0) == pytest.approx([math.log(2), math.log(2), 1.0, math.log(8)])
    assert model_numeric(None, 3.0, None)[:3] == pytest.approx([math.log(4), math.log(4), 1.0])


# ------------------------------------------------------------------------------------ building
def test_built_graph_holds_every_logged_query_and_outcome(fitted, state):
    logs = fitted["logs"]
    n, e = state.n_queries, state.out_query.shape[0]
    t, m, a = len(state.task_names), len(state.model_names), len(state.agent_names)
    assert n == logs["query_id"].nunique() == N_QUERIES
    assert (t, m, a) == (N_TASKS, N_MODELS, N_AGENTS)
    assert sorted(state.model_names) == sorted(c["name"] for c in fitted["models"])
    assert e == len(logs.groupby(["query_id", "model", "agent"]))  # repeated runs are one edge
    d = state.query_x.shape[1]
    assert state.query_x.shape == (n, d) and state.task_x.shape == (t, d)
    assert state.model_x.shape == (m, d) and state.agent_x.shape == (a, d) and state.model_num.shape == (m, 4)
    for col in (state.out_query, state.out_model, state.out_agent, state.out_effect, state.out_cost):
        assert col.shape == (e,)
    assert int(state.out_query.max()) < n and int(state.out_model.max()) < m and int(state.out_agent.max()) < a
    assert bool(((state.out_effect >= 0) & (state.out_effect <= 1)).all()) and bool((state.out_cost >= 0).all())
    assert len(state.pairs) == m * a and state.pairs[0] == (0, 0)

    # the neighbour lists: K0 per query, never the query itself, most similar first
    k0 = state.nbr_idx.shape[1]
    assert state.nbr_sim.shape == (n, k0) and k0 > 0
    assert not bool((state.nbr_idx == torch.arange(n)[:, None]).any())
    finite = torch.where(torch.isfinite(state.nbr_sim), state.nbr_sim, torch.full_like(state.nbr_sim, -9.0))
    assert bool((finite[:, :-1] >= finite[:, 1:] - 1e-6).all())


def test_outcome_edges_carry_the_logged_means(fitted, state):
    logs = fitted["logs"]
    means = logs.groupby(["query_id", "model", "agent"])["effect"].mean()
    for i in range(0, state.out_query.shape[0], 7):
        key = (state.query_ids[int(state.out_query[i])], state.model_names[int(state.out_model[i])],
               state.agent_names[int(state.out_agent[i])])
        assert float(state.out_effect[i]) == pytest.approx(means[key], abs=1e-6)


def test_arrays_and_state_convert_both_ways_unchanged(fitted):
    arrays = fitted["router"].graph_
    back = GraphState.from_arrays(arrays).to_arrays()
    for name in GraphState.TENSORS:
        np.testing.assert_array_equal(np.asarray(getattr(back, name)), np.asarray(getattr(arrays, name)))
    for name in GraphState.LISTS + GraphState.SCALARS:
        assert getattr(back, name) == getattr(arrays, name)


# ------------------------------------------------------------------------------------ HeteroData
def test_hetero_data_has_every_edge_type_with_its_attribute_width(state):
    data = state.hetero_data(_all(state.n_queries), _all(state.out_query.shape[0]), k=4)
    data.validate()
    node_types, edge_types = data.metadata()
    assert set(node_types) == set(NODE_TYPES) and set(edge_types) == set(EDGE_TYPES)
    assert data["model"].x.shape == (len(state.model_names), state.model_x.shape[1] + 4)  # text + card numbers
    for et in EDGE_TYPES:
        store = data[et]
        if EDGE_DIMS.get(et):
            assert store.edge_attr.shape == (store.edge_index.shape[1], EDGE_DIMS[et])
    ran = data["query", "ran", "model"]
    assert ran.edge_index.shape[1] == state.out_query.shape[0]
    assert data["query", "near", "query"].edge_index.shape[1] <= 4 * state.n_queries


def test_hetero_data_keeps_targets_without_edges_of_their_own(state):
    """A query outside the context (a training target) has no outcome or neighbour edges, as at inference."""
    n = state.n_queries
    context = torch.arange(n) % 3 != 0
    visible = _all(state.out_query.shape[0])
    visible[::5] = False
    data = state.hetero_data(context, visible, k=4)
    data.validate()
    ran = data["query", "ran", "model"].edge_index
    assert bool(context[ran[0]].all())
    assert ran.shape[1] == int((visible & context[state.out_query]).sum())
    near = data["query", "near", "query"].edge_index
    assert bool(context[near[0]].all() and context[near[1]].all())
    assert bool(context[data["query", "in", "task"].edge_index[0]].all())


def test_restrict_keeps_the_first_k_allowed_neighbours_in_order():
    idx = torch.tensor([[3, 1, 4, 0, 2]])
    sim = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])
    allowed = torch.tensor([True, False, True, True, True])
    got_idx, got_sim = GraphState.restrict(idx, sim, allowed, k=3)
    assert got_idx.tolist() == [[3, 4, 0]] and got_sim[0].tolist() == pytest.approx([0.9, 0.7, 0.6])
    few_idx, few_sim = GraphState.restrict(idx, sim, torch.tensor([False, False, True, False, False]), k=3)
    assert few_idx[0, 0] == 2 and not bool(torch.isfinite(few_sim[0, 1:]).any())  # padded: no neighbour


# ------------------------------------------------------------------------------------ subgraph
def test_subgraph_is_the_graph_induced_by_the_chosen_queries(state):
    idx = torch.tensor([5, 0, 17, 30, 12, 8, 21])
    sub, edges = state.subgraph(idx)
    assert sub.n_queries == len(idx) and sub.query_ids == [state.query_ids[i] for i in idx.tolist()]
    torch.testing.assert_close(sub.query_x, state.query_x[idx])
    assert sub.model_names == state.model_names and sub.agent_names == state.agent_names
    assert edges.shape == sub.out_query.shape
    assert set(edges.tolist()) == set(torch.isin(state.out_query, idx).nonzero().flatten().tolist())
    # every edge keeps its outcome and points at the same query, renumbered
    assert [sub.query_ids[q] for q in sub.out_query.tolist()] == [state.query_ids[q]
                                                                   for q in state.out_query[edges].tolist()]
    torch.testing.assert_close(sub.out_effect, state.out_effect[edges])
    # neighbour lists only name queries inside, padded with -inf
    valid = torch.isfinite(sub.nbr_sim)
    assert sub.nbr_idx.shape == (len(idx), state.nbr_idx.shape[1])
    for row in range(len(idx)):
        inside = [j for j in state.nbr_idx[idx[row]].tolist() if j in set(idx.tolist())]
        assert [idx[j].item() for j in sub.nbr_idx[row][valid[row]].tolist()] == inside
    assert (sub.cost_loc, sub.cost_scale) == (state.cost_loc, state.cost_scale)


def test_edges_by_query_lists_each_querys_edges(state):
    order, offsets = state.edges_by_query()
    assert offsets.shape == (state.n_queries + 1,) and int(offsets[-1]) == state.out_query.shape[0]
    for q in (0, 7, state.n_queries - 1):
        assert order[offsets[q]:offsets[q + 1]].tolist() == (state.out_query == q).nonzero().flatten().tolist()


# ------------------------------------------------------------------------------------ pair features
def test_pair_features_shape_and_the_task_record_column(state):
    e = state.out_query.shape[0]
    q, k = 6, 4
    n_p = len(state.pairs)
    nbr_idx = state.nbr_idx[:q, :k]
    nbr_w = torch.full((q, k), 1.0 / k)
    task_idx = state.query_task[:q]
    feats = state.pair_features(nbr_idx, nbr_w, task_idx, _all(e))
    assert feats.shape == (q, n_p, len(PAIR_FEATURES)) and bool(torch.isfinite(feats).all())
    tables = state.pair_tables(state.outcome_matrix(_all(e)))
    torch.testing.assert_close(state.pair_features(nbr_idx, nbr_w, task_idx, None, tables=tables), feats)
    torch.testing.assert_close(feats[..., SKIP_EFFECT], tables.task_eff[task_idx])
    torch.testing.assert_close(feats[..., SKIP_COST], tables.task_cz[task_idx])
    # no neighbour at all: the neighbour estimate falls back to the task record
    lonely = state.pair_features(nbr_idx, torch.zeros(q, k), task_idx, None, tables=tables)
    knn = PAIR_FEATURES.index("knn_effect")
    torch.testing.assert_close(lonely[..., knn], lonely[..., SKIP_EFFECT])
    assert float(lonely[..., PAIR_FEATURES.index("knn_mass")].abs().max()) == 0.0


def test_pair_features_see_only_the_visible_edges(state):
    e = state.out_query.shape[0]
    hidden = state.out_model == 0  # hide every run of model 0
    task_idx = state.query_task[:3]
    nbr_idx, nbr_w = state.nbr_idx[:3, :4], torch.full((3, 4), 0.25)
    feats = state.pair_features(nbr_idx, nbr_w, task_idx, ~hidden)
    count = PAIR_FEATURES.index("log_pair_count")
    model0 = [p for p, (m, _) in enumerate(state.pairs) if m == 0]
    assert float(feats[:, model0, count].abs().max()) == 0.0
    assert float(feats[:, :, count].max()) > 0.0
    assert not torch.equal(feats, state.pair_features(nbr_idx, nbr_w, task_idx, _all(e)))


# ------------------------------------------------------------------------------------ growth
def test_added_queries_and_outcomes_extend_the_tables(state):
    n, e, d = state.n_queries, state.out_query.shape[0], state.query_x.shape[1]
    new = state.add_queries(["new_a", "new_b"], ["a", "b"], torch.tensor([0, 1]), torch.randn(2, d))
    assert new.tolist() == [n, n + 1] and state.n_queries == n + 2 and state.query_x.shape == (n + 2, d)
    state.add_outcomes(new, torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([1.0, 0.0]),
                       torch.tensor([0.01, 0.02]), torch.tensor([math.nan, math.nan]))
    assert state.out_query.shape == (e + 2,) and state.out_query[-2:].tolist() == [n, n + 1]
    order, offsets = state.edges_by_query()
    assert order[offsets[n]:offsets[n + 1]].tolist() == [e]


def test_record_shrink_is_decided_by_the_data():
    """The records' prior weight: large where (task, pair) cells differ only by noise, the floor where the
    cells really differ, and the floor when no cell has two runs."""
    from graphroute.graph.arrays import record_shrink
    from graphroute.graph.schema import MAX_SHRINK, SHRINK

    rng = np.random.default_rng(0)
    n = np.full((4, 6), 40.0)
    prior = np.full((4, 6), 0.5)

    def cells(true):  # 0/1 runs of each cell with success rate `true`
        runs = rng.random((4, 6, 40)) < true[..., None]
        return runs.sum(-1).astype(float), runs.sum(-1).astype(float)  # sum == sum of squares for 0/1

    s, sq = cells(prior)
    noise_only = record_shrink(n, s, sq, prior)
    true = np.clip(prior + rng.choice([-0.4, 0.4], size=prior.shape), 0, 1)
    s, sq = cells(true)
    real = record_shrink(n, s, sq, prior)
    assert noise_only > 100 and noise_only <= MAX_SHRINK
    assert real == SHRINK
    assert record_shrink(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)), prior[:2, :2]) == SHRINK


def test_two_way_prior_adds_skill_on_the_logit_scale():
    """Near a task's ceiling a stronger pair is only a little better; on a hard task the same skill is worth
    much more. The prior carries skill measured on one task to another through the logit, and gives a task
    without runs the overall level and a pair without runs the task's."""
    from graphroute.graph.arrays import two_way_prior
    from graphroute.graph.schema import SHRINK

    level, skill = np.array([3.0, -1.0, 0.0]), np.array([0.0, 2.0, 0.5, 0.0])  # logits: easy, hard, no runs
    true = 1 / (1 + np.exp(-(level[:, None] + skill[None])))
    n = np.full((3, 4), 400.0)
    n[2] = 0.0  # task 2 never ran
    n[:, 3] = 0.0  # pair 3 never ran
    n[1, 1] = 0.0  # the strong pair never ran the hard task
    s = n * true
    prior = two_way_prior(n, s, float(s.sum() / n.sum()))
    assert prior.shape == (3, 4)
    # the strong pair's 0.04 edge on the easy task becomes ~0.4 on the hard one, where it has no runs (near
    # a ceiling runs say little about skill, so the pseudo-runs hold it back a little: 0.65 for a true 0.73)
    assert true[0, 1] - true[0, 0] < 0.05
    assert abs(prior[1, 1] - true[1, 1]) < 0.1 and prior[1, 1] - prior[1, 0] > 0.35
    assert prior[1, 0] < prior[1, 3] < prior[1, 2] < prior[1, 1]  # a pair without runs: the task's typical level
    # a task without runs: the overall level, each pair's skill added (no runs on either side: the overall mean)
    base = float(s.sum() / n.sum())
    assert abs(prior[2, 3] - base) < 1e-9 and prior[2, 0] < prior[2, 2] < prior[2, 1]
    # the optimum of the penalised likelihood: every level's and skill's gradient is zero (pair 3 and task 2 have
    # no runs, so their logits are the level and the skill alone: b_3 = 0, a_2 = logit(base))
    logit = np.log(prior / (1 - prior))
    a = logit[:, 3]
    b = logit[0] - a[0]
    lam, b0 = SHRINK * 0.25, np.log(base / (1 - base))
    resid = s - n * prior
    assert np.abs(resid.sum(1) - lam * (a - b0)).max() < 1e-6
    assert np.abs(resid.sum(0) - lam * b).max() < 1e-6


def test_cross_fit_weight_trusts_cells_that_differ_beyond_noise():
    """The records' prior weight, chosen by how well one half of the queries predicts the other: large where
    the cells differ from the two-way prior only by noise, small where they really differ; SHRINK when no
    cell has runs in both halves."""
    from graphroute.graph.arrays import cross_fit_weight
    from graphroute.graph.schema import SHRINK

    rng = np.random.default_rng(1)
    level, skill = rng.normal(0, 1, 3), rng.normal(0, 1, 20)
    additive = 1 / (1 + np.exp(-(level[:, None] + skill[None])))

    def halves(true, runs):
        out = []
        for _ in range(2):
            n = np.full(true.shape, float(runs))
            out.append((n, rng.binomial(runs, true).astype(float)))
        return out

    noise_only = cross_fit_weight([halves(additive, 10)])
    interacting = np.clip(additive + rng.choice([-0.3, 0.3], size=additive.shape), 0.02, 0.98)
    real = cross_fit_weight([halves(interacting, 200), halves(interacting, 200)])
    assert noise_only > 100 and real < 10
    none = (np.zeros((3, 20)), np.zeros((3, 20)))
    assert cross_fit_weight([[halves(additive, 10)[0], none]]) == SHRINK


def test_task_halves_split_every_task_evenly():
    """The cross-fitting halves take every other query of each task, however the tasks interleave: logs that
    alternate two tasks must not put each task wholly in one half."""
    from graphroute.graph.arrays import task_halves

    alternating = np.array([0, 1] * 6)
    odd = task_halves(alternating)
    for t in (0, 1):
        assert odd[alternating == t].sum() == 3
    assert task_halves(np.array([2, 2, 2, 0])).tolist() == [False, True, False, False]
    assert task_halves(alternating, bit=1)[alternating == 0].tolist() == [False, False, True, True, False, False]
