"""`graphroute train`: fit a Router on a logs file and save it."""

from __future__ import annotations

from graphroute.cli.options import library_default, names, positive_int

NAME = "train"
HELP = "fit a router on a logs file and save it"
DESCRIPTION = "Fit a graphroute Router on logged runs and save it to a directory."
FORMATS = {  # --format value -> how the file is read
    "auto": "by file suffix, canonical columns",
    "routerbench": "wide: one score and one '|total_cost' column per model",
    "llmrouter": "a DC-router JSON directory",
}


def add_arguments(p) -> None:
    from graphroute.embed import DEFAULT_EMBEDDER, EMBEDDERS
    from graphroute.routers.gnn import Router

    defaults = Router().get_params()
    p.add_argument("logs", help="logged runs: .csv, .parquet, .jsonl or .json in the canonical schema "
                                "(query, model, effect, cost; optional query_id, task, agent, latency_s, tokens_*); "
                                "use --format routerbench for RouterBench's wide parquet")
    p.add_argument("--out", required=True, help="directory to save the router to (replaced atomically)")
    p.add_argument("--format", choices=list(FORMATS), default="auto",
                   help="input format: " + "; ".join(f"{k} ({v})" for k, v in FORMATS.items()))
    p.add_argument("--models", help="model cards: JSON or CSV with name, description, price_in, price_out")
    p.add_argument("--agents", help="agent cards: JSON or CSV with name, description")
    p.add_argument("--tasks", help="task cards: JSON or CSV with name, description")
    p.add_argument("--embedder", default=None,
                   help=f"text embedder: {names(EMBEDDERS)} {library_default(DEFAULT_EMBEDDER)}")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"maximum training epochs {library_default(defaults['epochs'])}")
    p.add_argument("--ensemble", type=positive_int, default=None,
                   help=f"number of ensemble members {library_default(defaults['n_ensemble'])}")
    p.add_argument("--seed", type=int, default=None,
                   help=f"random seed; the same seed gives the same router {library_default(defaults['seed'])}")
    p.add_argument("--drop-invalid", action="store_true",
                   help="drop rows that break the schema (and report how many) instead of stopping at the first")


def run(args) -> int:
    import time

    import graphroute as gr

    if args.format == "routerbench":
        logs = gr.read_routerbench(args.logs)
    elif args.format == "llmrouter":
        logs = gr.read_llmrouter(args.logs, split="train")
    else:
        logs = gr.read_logs(args.logs, drop_invalid=args.drop_invalid)
    given = {"embedder": args.embedder, "seed": args.seed, "epochs": args.epochs, "n_ensemble": args.ensemble}
    params = {"progress": True, **{k: v for k, v in given.items() if v is not None}}
    t0 = time.perf_counter()
    router = gr.Router(**params).fit(logs, models=args.models, agents=args.agents, tasks=args.tasks)
    path = router.save(args.out)
    print(f"trained on {len(logs)} runs ({logs['query_id'].nunique()} queries, {logs['model'].nunique()} models, "
          f"{logs['agent'].nunique()} agents) in {time.perf_counter() - t0:.1f} s; saved to {path}")
    return 0
