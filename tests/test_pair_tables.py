"""The per-(task, pair) records the decoder starts from, for pairs with few or no runs."""

from __future__ import annotations

import math

import numpy as np
import torch

from graphroute.graph.state import GraphState, model_numeric

PRICES = [1.0, 4.0, 2.0, 0.25]  # $ per 1M tokens; models 0 and 1 run everywhere, 2 on a few task-0 queries, 3 never
TASK_TOKENS = [1_000, 10_000]  # task 1's prompts are ten times longer: ten times the cost for every model
SKILL = [0.6, 0.9, 0.8, 0.5]
EASE = [0.0, -0.3]  # task 1 is harder for everyone


def state() -> GraphState:
    n_per, d = 20, 8
    n = 2 * n_per
    task = torch.tensor([0] * n_per + [1] * n_per)
    runs = [(q, m) for q in range(n) for m in (0, 1)] + [(q, 2) for q in range(4)]
    q_idx = torch.tensor([q for q, _ in runs])
    m_idx = torch.tensor([m for _, m in runs])
    cost = torch.tensor([TASK_TOKENS[int(task[q])] * PRICES[m] / 1e6 for q, m in runs])
    effect = torch.tensor([SKILL[m] + EASE[int(task[q])] for q, m in runs])
    g = torch.Generator().manual_seed(0)
    st = GraphState(
        query_ids=[f"q{i}" for i in range(n)], query_texts=[f"query {i}" for i in range(n)], query_task=task,
        query_x=torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1),
        task_names=["short", "long"], task_x=torch.randn(2, d, generator=g),
        model_names=[f"m{i}" for i in range(4)], model_x=torch.randn(4, d, generator=g),
        model_num=torch.tensor([model_numeric(p, p, None) for p in PRICES], dtype=torch.float32),
        agent_names=["none"], agent_x=torch.randn(1, d, generator=g),
        out_query=q_idx, out_model=m_idx, out_agent=torch.zeros_like(m_idx), out_effect=effect, out_cost=cost,
        out_latency=torch.full((len(runs),), math.nan))
    st.fit_scales()
    return st


def test_sparse_pair_gets_each_tasks_level_from_the_other_pairs():
    st = state()
    tb = st.pair_tables(st.outcome_matrix(torch.ones(st.out_query.shape[0], dtype=torch.bool)))
    cost = st.cost_from_z(tb.task_cz)  # [T, P] dollars
    # model 2 ran 4 short queries only; on the long task its cost follows the task (10x), not its own mean
    true_long = TASK_TOKENS[1] * PRICES[2] / 1e6
    assert abs(float(cost[1, 2]) / true_long - 1) < 0.35
    assert float(cost[1, 2]) > 5 * float(cost[0, 2])
    # and its effect on the long task carries the task's difficulty
    assert float(tb.task_eff[1, 2]) < float(tb.task_eff[0, 2]) - 0.1
    # pairs with 20 runs per task keep (nearly) their own records
    for m in (0, 1):
        for t in (0, 1):
            assert abs(float(cost[t, m]) / (TASK_TOKENS[t] * PRICES[m] / 1e6) - 1) < 0.05
            assert abs(float(tb.task_eff[t, m]) - (SKILL[m] + EASE[t])) < 0.05


def test_model_without_runs_is_priced_from_its_card():
    st = state()
    tb = st.pair_tables(st.outcome_matrix(torch.ones(st.out_query.shape[0], dtype=torch.bool)))
    cost = st.cost_from_z(tb.task_cz)
    # model 3 never ran: its price (a quarter of model 0's) places it below every other model on both tasks
    for t in (0, 1):
        assert float(cost[t, 3]) < float(cost[t, 0]) < float(cost[t, 2]) < float(cost[t, 1])
    # without a price it gets the task's average level
    st.model_num[3] = torch.tensor(model_numeric(None, None, None))
    tb = st.pair_tables(st.outcome_matrix(torch.ones(st.out_query.shape[0], dtype=torch.bool)))
    cost = st.cost_from_z(tb.task_cz)
    assert float(cost[1, 0]) < float(cost[1, 3]) < float(cost[1, 1])


def test_numpy_tables_and_features_match_the_torch_ones():
    """The serving path (graph.arrays, numpy) computes what training's torch code computes."""
    from graphroute.graph.arrays import GraphArrays, neighbor_weights
    from graphroute.graph.index import top_k
    from graphroute.routers.gnn.training import neighbor_weights as torch_weights

    st = state()
    st.refresh_neighbors(8)
    arr = st.to_arrays()
    tb = st.pair_tables(st.outcome_matrix(torch.ones(st.out_query.shape[0], dtype=torch.bool)))
    tn = arr.pair_tables()
    for name in ("eff", "cz", "has", "pair_eff", "task_eff", "task_cz"):
        torch.testing.assert_close(torch.from_numpy(getattr(tn, name)), getattr(tb, name), atol=1e-6, rtol=1e-5)
    x = st.query_x[:5].numpy() + 0.01
    nbr, sim = top_k(x, arr.query_x, 5)
    w = neighbor_weights(sim, 0.05)
    torch.testing.assert_close(torch.from_numpy(w), torch_weights(torch.from_numpy(sim), 0.05), atol=1e-6, rtol=1e-5)
    t_idx = np.array([0, 1, 0, 1, 1])
    got = GraphArrays.pair_features(tn, nbr, w, t_idx)
    want = st.pair_features(torch.from_numpy(nbr), torch.from_numpy(w), torch.from_numpy(t_idx), None, tables=tb)
    assert got.shape == tuple(want.shape) and got.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(got), want, atol=1e-6, rtol=1e-5)
    # and the graph survives the round trip to numpy and back
    back = type(st).from_arrays(arr)
    assert all(torch.equal(getattr(back, n), getattr(st, n)) for n in ("query_x", "out_query", "nbr_idx"))
