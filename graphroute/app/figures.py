"""The explorer's two pictures (matplotlib): the Pareto sweep and the task–model–agent graph.

matplotlib and networkx are imported inside each function: only a page that draws pays for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

import graphroute as gr
from graphroute.app.compute import edge_stats, short_name

__all__ = ["pareto_figure", "graph_figure"]


def pareto_figure(result: dict, title: str = ""):
    """Matplotlib figure: the router's sweep (line) and single models (crosses), effect vs cost."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.6))
    ax = fig.subplots()
    sw = result["sweep"].sort_values("cost")
    ax.plot(sw["cost"], sw["effect"], marker=".", linewidth=2.0, label="router (λ sweep)")
    sg = result["singles"]
    ax.scatter(sg["cost"], sg["effect"], c="k", marker="x", zorder=5, label="single models")
    for _, r in sg.iterrows():
        ax.annotate(short_name(r["model"]), (r["cost"], r["effect"]), fontsize=6, alpha=0.75,
                    xytext=(3, -3), textcoords="offset points")
    costs = pd.concat([sw["cost"], sg["cost"]])
    positive = costs[costs > 0]
    if len(positive):
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    ax.set_xlabel("mean cost per query (USD, symlog)")
    ax.set_ylabel("mean effect (quality)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig



def graph_figure(router: gr.Router, color_by: str = "mean_effect", highlight: Sequence[str] = ()):
    """Task, model and agent nodes in three columns; a task–model or model–agent edge per pair with
    logged runs, its width growing with the runs and its colour the mean effect (or mean cost).
    Models in ``highlight`` (added in this session) are drawn in red."""
    import matplotlib
    import networkx as nx
    from matplotlib.figure import Figure

    if color_by not in ("mean_effect", "mean_cost"):
        raise gr.ConfigError(f"color_by must be 'mean_effect' or 'mean_cost'; got {color_by!r}.")
    state = router.graph_
    stats = edge_stats(router)
    # run-weighted sums, so that merging (task, model, agent) rows into an edge keeps true means
    stats = stats.assign(sum_effect=stats["runs"] * stats["mean_effect"], sum_cost=stats["runs"] * stats["mean_cost"])
    g = nx.Graph()
    kinds = (("task", state.task_names, 0), ("model", state.model_names, 1), ("agent", state.agent_names, 2))
    for kind, names, layer in kinds:
        for n in names:
            g.add_node((kind, n), layer=layer)
    for left, right in (("task", "model"), ("model", "agent")):
        agg = stats.groupby([left, right], sort=True)[["runs", "sum_effect", "sum_cost"]].sum()
        for (a, b), r in agg.iterrows():
            g.add_edge((left, a), (right, b), runs=float(r["runs"]), mean_effect=r["sum_effect"] / r["runs"],
                       mean_cost=r["sum_cost"] / r["runs"])
    pos = nx.multipartite_layout(g, subset_key="layer")
    fig = Figure(figsize=(8.5, max(4.0, 0.32 * len(state.model_names) + 1.5)))
    ax = fig.subplots()
    edges = list(g.edges(data=True))
    if edges:
        values = np.array([d[color_by] for _, _, d in edges], dtype=float)
        runs = np.array([d["runs"] for _, _, d in edges], dtype=float)
        cmap = matplotlib.colormaps["viridis" if color_by == "mean_effect" else "magma_r"]
        lo, hi = float(values.min()), float(values.max())
        norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1e-9)
        nx.draw_networkx_edges(g, pos, ax=ax, edgelist=[(u, v) for u, v, _ in edges],
                               width=0.5 + 2.5 * np.log1p(runs) / np.log1p(runs.max()),
                               edge_color=[cmap(norm(v)) for v in values], alpha=0.8)
        sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, shrink=0.7, label=color_by.replace("_", " "))
    colors = {"task": "#4c72b0", "model": "#55a868", "agent": "#8172b2"}
    hl = set(highlight)
    node_colors = ["#c44e52" if (k == "model" and n in hl) else colors[k] for k, n in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=160, node_color=node_colors)
    labels = {node: short_name(node[1]) for node in g.nodes}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=7,
                            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 0.6})
    ax.set_title("tasks  ·  models  ·  agents (edge width: logged runs)", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    return fig
