"""The network (graphroute.nn): EdgeSAGE computes mean(ReLU(W·[x_src, e] + b)) + root(x_dst), however it is
evaluated; RouterNet goes from a graph to [Q, P, targets]; the decoder corrects the task record; seeds repeat."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphroute.graph import EDGE_DIMS, EDGE_TYPES, GraphState, model_numeric
from graphroute.graph.schema import SKIP_COST, SKIP_EFFECT
from graphroute.nn import EdgeSAGE, NetConfig, PairDecoder, RouterNet


def reference(conv: EdgeSAGE, xs, xd, ei, ea):
    """The layer written out edge by edge: concatenate, transform, average per destination."""
    m = xs[ei[0]] if ea is None else torch.cat([xs[ei[0]], ea], dim=1)
    m = F.relu(conv.msg(m))
    total = torch.zeros(xd.shape[0], m.shape[1]).index_add_(0, ei[1], m)
    deg = torch.bincount(ei[1], minlength=xd.shape[0]).clamp_min(1)
    return total / deg[:, None] + conv.root(xd)


@pytest.mark.parametrize("edge_dim", [0, 3])
def test_matches_the_edgewise_definition_with_and_without_autograd(edge_dim):
    torch.manual_seed(edge_dim)
    conv = EdgeSAGE(16, 8, 12, edge_dim)
    xs, xd = torch.randn(50, 16, requires_grad=True), torch.randn(30, 8)
    ei = torch.stack([torch.randint(0, 50, (400,)), torch.randint(0, 29, (400,))])  # node 29 gets no edge
    ea = torch.randn(400, edge_dim) if edge_dim else None
    ref = reference(conv, xs, xd, ei, ea)
    got = conv((xs, xd), ei, ea)
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got[29], conv.root(xd)[29])  # no incoming edge: the root transform alone
    g_ref = torch.autograd.grad(ref.square().sum(), [xs, conv.msg.weight])
    g_got = torch.autograd.grad(got.square().sum(), [xs, conv.msg.weight])
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    with torch.no_grad():  # inference on a large graph sums messages chunk by chunk: same values
        conv.CHUNK_EDGES = 64
        chunked = conv((xs, xd), ei, ea)
    torch.testing.assert_close(chunked, ref.detach(), atol=1e-6, rtol=1e-5)


# ------------------------------------------------------------------------------------ RouterNet and the decoder
D, H = 12, 16  # text width and hidden width of the tiny networks below


def tiny_state(seed: int = 0) -> GraphState:
    """12 queries on 2 tasks, 3 models × 2 agents, every pair run on every query, random 12-d text vectors."""
    g = torch.Generator().manual_seed(seed)
    n, m, a = 12, 3, 2
    q, mm, aa = torch.meshgrid(torch.arange(n), torch.arange(m), torch.arange(a), indexing="ij")
    q, mm, aa = q.flatten(), mm.flatten(), aa.flatten()
    state = GraphState(
        query_ids=[f"q{i}" for i in range(n)], query_texts=[f"query {i}" for i in range(n)],
        query_task=torch.arange(n) % 2, query_x=F.normalize(torch.randn(n, D, generator=g), dim=1),
        task_names=["t0", "t1"], task_x=torch.randn(2, D, generator=g),
        model_names=["m0", "m1", "m2"], model_x=torch.randn(m, D, generator=g),
        model_num=torch.tensor([model_numeric(p, 2 * p, None) for p in (0.1, 1.0, 10.0)]),
        agent_names=["direct", "cot"], agent_x=torch.randn(a, D, generator=g),
        out_query=q, out_model=mm, out_agent=aa, out_effect=torch.rand(q.shape[0], generator=g),
        out_cost=(mm.float() + 1) * 1e-4 * (1 + aa.float()), out_latency=torch.full((q.shape[0],), math.nan))
    state.fit_scales()
    state.refresh_neighbors(4)
    return state


def forward(net: RouterNet, state: GraphState, targets: torch.Tensor) -> torch.Tensor:
    """Predict ``targets`` (query indices) from a graph of the other queries: [Q, P, n_targets]."""
    context = torch.ones(state.n_queries, dtype=torch.bool)
    context[targets] = False
    data = state.hetero_data(context, torch.ones(state.out_query.shape[0], dtype=torch.bool), k=3)
    h = net.encode((data.x_dict, data.edge_index_dict, data.edge_attr_dict))
    nbr, sim = GraphState.restrict(state.nbr_idx[targets], state.nbr_sim[targets], context, 3)
    w = torch.softmax(torch.where(torch.isfinite(sim), sim, torch.full_like(sim, -1e9)), dim=1)
    z = net.read_queries(h, state.query_x[targets], nbr, w, state.query_task[targets])
    pairs = torch.tensor(state.pairs)
    feats = state.pair_features(nbr, w, state.query_task[targets], context[state.out_query])
    return net.decode(h, z, pairs[:, 0], pairs[:, 1], feats)


def test_router_net_shapes_from_graph_to_predictions():
    state = tiny_state()
    cfg = NetConfig(text_dim=D, hidden=H, layers=2)
    torch.manual_seed(0)
    net = RouterNet(cfg, EDGE_TYPES, EDGE_DIMS).eval()
    data = state.hetero_data(torch.ones(state.n_queries, dtype=torch.bool),
                             torch.ones(state.out_query.shape[0], dtype=torch.bool), k=3)
    h = net.encode((data.x_dict, data.edge_index_dict, data.edge_attr_dict))
    sizes = {"query": 12, "task": 2, "model": 3, "agent": 2}
    assert {nt: tuple(x.shape) for nt, x in h.items()} == {nt: (n, H) for nt, n in sizes.items()}
    out = forward(net, state, torch.tensor([0, 5, 7]))
    assert out.shape == (3, 6, cfg.n_targets) and bool(torch.isfinite(out).all())


def test_param_shapes_match_the_built_network():
    for cfg in (NetConfig(text_dim=D, hidden=H), NetConfig(text_dim=D, hidden=8, layers=3, n_targets=3)):
        net = RouterNet(cfg, EDGE_TYPES, EDGE_DIMS)
        assert cfg.param_shapes(EDGE_TYPES, EDGE_DIMS) == {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_decoder_predicts_a_correction_to_the_task_record():
    """With its last layer zeroed the decoder returns exactly the task record (effect logit, cost_z); the
    other pair statistics then change nothing."""
    cfg = NetConfig(text_dim=D, hidden=H, dropout=0.0)
    torch.manual_seed(1)
    dec = PairDecoder(cfg).eval()
    torch.nn.init.zeros_(dec.mlp[-1].weight)
    torch.nn.init.zeros_(dec.mlp[-1].bias)
    q, p = 4, 6
    feats = torch.rand(q, p, cfg.pair_dim) * 0.9 + 0.05
    z_q, h_m, h_a = torch.randn(q, H), torch.randn(p, H), torch.randn(p, H)
    out = dec(z_q, h_m, h_a, feats)
    assert out.shape == (q, p, cfg.n_targets)
    torch.testing.assert_close(out[..., 0], torch.logit(feats[..., SKIP_EFFECT]))
    torch.testing.assert_close(out[..., 1], feats[..., SKIP_COST])
    others = feats.clone()
    keep = [SKIP_EFFECT, SKIP_COST]
    others[..., [i for i in range(cfg.pair_dim) if i not in keep]] = 0.5
    torch.testing.assert_close(dec(z_q, h_m, h_a, others), out)
    # a task record at 0 or 1 is clamped before the logit: finite, never ±inf
    edge = feats.clone()
    edge[..., SKIP_EFFECT] = torch.tensor([0.0, 1.0]).repeat(q, p // 2)
    assert bool(torch.isfinite(dec(z_q, h_m, h_a, edge)).all())


def test_the_same_seed_builds_and_predicts_the_same():
    state, targets = tiny_state(), torch.tensor([1, 2, 9])
    cfg = NetConfig(text_dim=D, hidden=H)
    outs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        outs.append(forward(RouterNet(cfg, EDGE_TYPES, EDGE_DIMS).eval(), state, targets))
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    torch.manual_seed(3)
    net = RouterNet(cfg, EDGE_TYPES, EDGE_DIMS)
    with torch.no_grad():
        assert torch.equal(forward(net.eval(), state, targets), forward(net.eval(), state, targets))  # eval: no dropout
