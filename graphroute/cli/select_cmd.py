"""`graphroute select`: choose a model (and agent) for a query with a saved or the shipped router.

(The module is not called ``select`` so that it can never shadow the standard library's.)
"""

from __future__ import annotations

from graphroute.cli.options import non_negative_int, positive_int, weights

NAME = "select"
HELP = "choose a model (and agent) for a query"
DESCRIPTION = "Choose the (model, agent) pair that best serves the weights for a query."
TOP = 5  # ranked alternatives printed unless --top says otherwise


def add_arguments(p) -> None:
    from graphroute.selection import COST_UNITS, DEFAULT_WEIGHTS, FALLBACKS

    shown = ",".join(f"{k}={v:g}" for k, v in DEFAULT_WEIGHTS.items())
    p.add_argument("query", help="the query text")
    p.add_argument("--router", help="a saved router directory (default: the router shipped with graphroute)")
    p.add_argument("--task", help="the query's task (default: inferred from similar past queries)")
    p.add_argument("--weights", type=weights, default=None,
                   help=f"objective weights, e.g. 'effect=1,cost=0.5' or a scenario name (names: effect, cost, "
                        f"latency; default: the library's, {shown})")
    p.add_argument("--cost-unit", choices=list(COST_UNITS), default=None,
                   help=f"cost term of the objective: min-max normalised per task or dollars (default: the "
                        f"library's, {COST_UNITS[0]})")
    p.add_argument("--budget", type=float, help="maximum predicted cost per call, in USD")
    p.add_argument("--max-latency", type=float, help="maximum predicted latency per call, in seconds")
    p.add_argument("--min-effect", type=float, help="minimum predicted effect (quality in [0, 1])")
    p.add_argument("--allow-model", action="append", dest="allowed_models", metavar="MODEL",
                   help="only consider this model (repeatable)")
    p.add_argument("--allow-agent", action="append", dest="allowed_agents", metavar="AGENT",
                   help="only consider this agent (repeatable)")
    p.add_argument("--forbid-model", action="append", dest="forbidden_models", metavar="MODEL",
                   help="never choose this model (repeatable)")
    p.add_argument("--fallback", choices=[f for f in FALLBACKS if f is not None],
                   help="when nothing meets the constraints, choose this way instead of failing")
    p.add_argument("--top", type=positive_int, default=TOP,
                   help=f"how many ranked alternatives to print (default {TOP})")
    p.add_argument("--evidence", type=non_negative_int, default=0, metavar="K",
                   help="also show the K nearest past queries behind the choice (default: none)")
    p.add_argument("--json", action="store_true", help="print the selection as JSON")


def load_router(path: str | None):
    """A saved router, or the shipped default when ``path`` is None."""
    import graphroute as gr

    return gr.default_router() if path is None else gr.load(path)


def run(args) -> int:
    import json

    router = load_router(args.router)
    objective = {k: getattr(args, k) for k in ("weights", "cost_unit", "budget", "max_latency", "min_effect",
                                               "allowed_models", "allowed_agents", "forbidden_models", "fallback")}
    sel = router.select(args.query, task=args.task, evidence=args.evidence,
                        **{k: v for k, v in objective.items() if v is not None})
    ev = sel.evidence if args.evidence else None
    if args.json:
        out = sel.to_dict()
        if ev is not None:
            out["evidence"] = ev.to_dict(orient="records")
        print(json.dumps(out, indent=2, default=float))
        return 0
    print(f"model:  {sel.model}\nagent:  {sel.agent}\ntask:   {sel.task}")
    print(f"predicted effect {sel.effect:.3f}, cost ${sel.cost:.6f}" +
          (f", latency {sel.latency_s:.2f} s" if sel.latency_s is not None else "") + f"; score {sel.score:.3f}"
          + ("  (fallback: no candidate met the constraints)" if sel.fallback else ""))
    cols = [c for c in ("model", "agent", "effect", "cost", "latency_s", "score", "feasible") if c in sel.alternatives]
    print("\nranked alternatives:")
    print(sel.alternatives[cols].head(args.top).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if ev is not None:
        print("\nnearest past queries:")
        print(ev.to_string(index=False, max_colwidth=60, float_format=lambda v: f"{v:.3g}"))
    return 0
