"""EdgeSAGE computes mean(ReLU(W·[x_src, e] + b)) + root(x_dst), however it is evaluated."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graphroute.nn import EdgeSAGE


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
