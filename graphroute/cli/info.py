"""`graphroute info`: describe a saved router (or the shipped one)."""

from __future__ import annotations

NAME = "info"
HELP = "describe a saved router"
DESCRIPTION = "Describe a router: its nodes, training data and parameters."


def add_arguments(p) -> None:
    p.add_argument("--router", help="a saved router directory (default: the router shipped with graphroute)")
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args) -> int:
    import json

    import graphroute as gr
    from graphroute.cli.select_cmd import load_router
    from graphroute.routers.default import default_router_path

    router = load_router(args.router)
    st = router.graph_  # the numpy graph: no torch import
    info = {
        "graphroute": gr.__version__,
        "router": args.router or str(default_router_path()),
        "queries": st.n_queries, "outcomes": int(st.out_query.shape[0]),
        "tasks": st.task_names, "models": st.model_names, "agents": st.agent_names,
        "embedder": router._embedder().name, "ensemble_members": router.n_members_,
        "predicts_latency": router.has_latency,
        # {task: residual share} where the query's words correct the graph (the gate opened out of fold)
        "text_evidence": router.text_evidence_.summary() if getattr(router, "text_evidence_", None) else {},
        # how a query without a task gets one: the text classifier (held-out accuracy vs the vote) or the vote
        "task_inference": getattr(router, "task_inference_", None) or {"method": "neighbour vote"},
        "params": {k: v for k, v in router.get_params().items() if k not in ("cache_dir",)},
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        for k, v in info.items():
            print(f"{k:17s} {v}")
    return 0
