"""The `graphroute` command line: train, select, info, app (and more as subcommands register here).

Each subcommand is a function ``cmd_NAME(args) -> int`` plus an ``add_NAME(subparsers)`` that
declares its flags; ``main`` wires them. Errors of graphroute print their message (no traceback)
and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main", "build_parser"]


def _weights(text: str) -> dict[str, float]:
    """Parse 'effect=1,cost=0.5' into a dict (argparse type)."""
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"weights look like 'effect=1,cost=0.5'; got {text!r}")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"weight {k.strip()!r} must be a number; got {v!r}") from None
    return out


def _load_router(path: str | None):
    import graphroute as gr

    return gr.default_router() if path is None else gr.load(path)


# ---------------------------------------------------------------- train
def add_train(sub) -> None:
    p = sub.add_parser("train", help="fit a router on a logs file and save it",
                       description="Fit a graphroute Router on logged runs and save it to a directory.")
    p.add_argument("logs", help="logged runs: .csv, .parquet, .jsonl or .json in the canonical schema "
                                "(query, model, effect, cost; optional query_id, task, agent, latency_s, tokens_*); "
                                "use --format routerbench for RouterBench's wide parquet")
    p.add_argument("--out", required=True, help="directory to save the router to (replaced atomically)")
    p.add_argument("--format", choices=["auto", "routerbench", "llmrouter"], default="auto",
                   help="input format: auto (by file suffix, canonical columns), routerbench (wide: one score and one "
                        "'|total_cost' column per model), llmrouter (a DC-router JSON directory)")
    p.add_argument("--models", help="model cards: JSON or CSV with name, description, price_in, price_out")
    p.add_argument("--agents", help="agent cards: JSON or CSV with name, description")
    p.add_argument("--tasks", help="task cards: JSON or CSV with name, description")
    p.add_argument("--embedder", default="minilm", help="text embedder: minilm (default), minilm-static or hash")
    p.add_argument("--epochs", type=int, default=None, help="maximum training epochs (default: the Router's)")
    p.add_argument("--ensemble", type=int, default=None, help="number of ensemble members (default: the Router's)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same router")
    p.add_argument("--drop-invalid", action="store_true",
                   help="drop rows that break the schema (and report how many) instead of stopping at the first")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    import time

    import graphroute as gr

    if args.format == "routerbench":
        logs = gr.read_routerbench(args.logs)
    elif args.format == "llmrouter":
        logs = gr.read_llmrouter(args.logs, split="train")
    else:
        logs = gr.read_logs(args.logs, drop_invalid=args.drop_invalid)
    params = {"embedder": args.embedder, "seed": args.seed, "progress": True}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if args.ensemble is not None:
        params["n_ensemble"] = args.ensemble
    t0 = time.perf_counter()
    router = gr.Router(**params).fit(logs, models=args.models, agents=args.agents, tasks=args.tasks)
    path = router.save(args.out)
    print(f"trained on {len(logs)} runs ({logs['query_id'].nunique()} queries, {logs['model'].nunique()} models, "
          f"{logs['agent'].nunique()} agents) in {time.perf_counter() - t0:.1f} s; saved to {path}")
    return 0


# ---------------------------------------------------------------- select
def add_select(sub) -> None:
    p = sub.add_parser("select", help="choose a model (and agent) for a query",
                       description="Choose the (model, agent) pair that best serves the weights for a query.")
    p.add_argument("query", help="the query text")
    p.add_argument("--router", help="a saved router directory (default: the router shipped with graphroute)")
    p.add_argument("--task", help="the query's task (default: inferred from similar past queries)")
    p.add_argument("--weights", type=_weights, default=None,
                   help="objective weights, e.g. 'effect=1,cost=0.5' (names: effect, cost, latency)")
    p.add_argument("--cost-unit", choices=["normalized", "usd"], default="normalized",
                   help="cost term of the objective: min-max normalised per task (default) or dollars")
    p.add_argument("--budget", type=float, help="maximum predicted cost per call, in USD")
    p.add_argument("--max-latency", type=float, help="maximum predicted latency per call, in seconds")
    p.add_argument("--min-effect", type=float, help="minimum predicted effect (quality in [0, 1])")
    p.add_argument("--allow-model", action="append", dest="allowed_models", metavar="MODEL",
                   help="only consider this model (repeatable)")
    p.add_argument("--allow-agent", action="append", dest="allowed_agents", metavar="AGENT",
                   help="only consider this agent (repeatable)")
    p.add_argument("--forbid-model", action="append", dest="forbidden_models", metavar="MODEL",
                   help="never choose this model (repeatable)")
    p.add_argument("--fallback", choices=["cheapest", "best_effect"],
                   help="when nothing meets the constraints, choose this way instead of failing")
    p.add_argument("--top", type=int, default=5, help="how many ranked alternatives to print (default 5)")
    p.add_argument("--json", action="store_true", help="print the selection as JSON")
    p.set_defaults(func=cmd_select)


def cmd_select(args) -> int:
    router = _load_router(args.router)
    sel = router.select(args.query, task=args.task, weights=args.weights, cost_unit=args.cost_unit,
                        budget=args.budget, max_latency=args.max_latency, min_effect=args.min_effect,
                        allowed_models=args.allowed_models, allowed_agents=args.allowed_agents,
                        forbidden_models=args.forbidden_models, fallback=args.fallback, evidence=3)
    if args.json:
        print(json.dumps(sel.to_dict(), indent=2, default=float))
        return 0
    print(f"model:  {sel.model}\nagent:  {sel.agent}\ntask:   {sel.task}")
    print(f"predicted effect {sel.effect:.3f}, cost ${sel.cost:.6f}" +
          (f", latency {sel.latency_s:.2f} s" if sel.latency_s is not None else "") + f"; score {sel.score:.3f}"
          + ("  (fallback: no candidate met the constraints)" if sel.fallback else ""))
    cols = [c for c in ("model", "agent", "effect", "cost", "latency_s", "score", "feasible") if c in sel.alternatives]
    print("\nranked alternatives:")
    print(sel.alternatives[cols].head(args.top).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


# ---------------------------------------------------------------- info
def add_info(sub) -> None:
    p = sub.add_parser("info", help="describe a saved router",
                       description="Describe a router: its nodes, training data and parameters.")
    p.add_argument("--router", help="a saved router directory (default: the router shipped with graphroute)")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=cmd_info)


def cmd_info(args) -> int:
    import graphroute as gr
    from graphroute.routers.default import default_router_path

    router = _load_router(args.router)
    st = router.state_
    info = {
        "graphroute": gr.__version__,
        "router": args.router or str(default_router_path()),
        "queries": st.n_queries, "outcomes": int(st.out_query.shape[0]),
        "tasks": st.task_names, "models": st.model_names, "agents": st.agent_names,
        "embedder": router._embedder().name, "ensemble_members": len(router.nets_),
        "predicts_latency": router.has_latency,
        "params": {k: v for k, v in router.get_params().items() if k not in ("cache_dir",)},
    }
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        for k, v in info.items():
            print(f"{k:17s} {v}")
    return 0


# ---------------------------------------------------------------- app
def _port(text: str) -> int:
    """A TCP port number (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is an integer in [1, 65535]; got {text!r}")
    return port


def add_app(sub) -> None:
    p = sub.add_parser("app", help="open the explorer, a Streamlit app, in the browser",
                       description="Start the graphroute explorer (Streamlit): route a query and see every "
                                   "candidate, move the weights and budget, compare the router with single models "
                                   "on held-out logs, view the graph, add a model without retraining.")
    p.add_argument("--router", help="a saved router directory (default: the router shipped with graphroute)")
    p.add_argument("--port", type=_port, help="port to serve on (default: Streamlit's, 8501)")
    p.set_defaults(func=cmd_app)


def cmd_app(args) -> int:
    from graphroute.app.launch import run_app  # the streamlit command is built there

    return run_app(router=args.router, port=args.port)


COMMANDS = [add_train, add_select, add_info, add_app]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphroute",
        description="Route LLM queries to the best (model, agent) pair, learned from logged runs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    for extra in _extra_commands():
        extra(sub)
    return parser


def _version() -> str:
    from graphroute import __version__

    return __version__


def _extra_commands():
    """Subcommands defined in other modules (bench, tune), when those modules exist."""
    import importlib

    for module, name in (("graphroute.eval.bench", "add_bench"), ("graphroute.eval.tune", "add_tune")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        yield getattr(mod, name)


def main(argv: list[str] | None = None) -> int:
    from graphroute.errors import GraphRouteError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except GraphRouteError as exc:
        print(f"graphroute: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
