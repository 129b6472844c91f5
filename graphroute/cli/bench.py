"""`graphroute bench`: every router side by side on the same seeded splits (or the new-models protocol)."""

from __future__ import annotations

from graphroute.cli.options import library_default, names, positive_int

NAME = "bench"
HELP = "evaluate routers side by side (rewards, AIQ, cost to match)"
DESCRIPTION = ("Run every router on the same seeded per-task splits and report the three GraphRouter scenarios' "
               "rewards, AIQ and the cost to match the best single model; writes a table (Markdown), JSON and a "
               "Pareto plot.")
PROTOCOLS = ("standard", "new-models")
OUT = "bench_out"  # where the table, JSON and plot go unless --out says otherwise
# torch CPU threads: the bench fits many small models, and on a machine with other work more threads
# spin-wait on each other (one thread was up to 100x faster on the 2-core machine)
THREADS = 1


def add_dataset_argument(p) -> None:
    """--dataset, shared with `graphroute tune`: a registered dataset name or a logs file."""
    from graphroute.data.datasets import DATASETS
    from graphroute.eval.bench import DEFAULT_DATASET

    p.add_argument("--dataset", default=None,
                   help=f"a dataset, {names(DATASETS)}, or a logs file {library_default(DEFAULT_DATASET)}")


def add_arguments(p) -> None:
    from graphroute.embed import DEFAULT_EMBEDDER, EMBEDDERS
    from graphroute.eval.bench import ROUTERS
    from graphroute.eval.newnodes import DEFAULT_HOLDOUT, DEFAULT_SHOTS
    from graphroute.eval.splits import DEFAULT_SEEDS, SPLIT_FRACTIONS

    add_dataset_argument(p)
    p.add_argument("--routers", default=None, help=f"comma-separated router names from {', '.join(ROUTERS)} "
                                                   "(default: all)")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help=f"number of seeds, each its own {SPLIT_FRACTIONS} split {library_default(DEFAULT_SEEDS)}")
    p.add_argument("--embedder", default=None,
                   help=f"text embedder for every router: {names(EMBEDDERS)} {library_default(DEFAULT_EMBEDDER)}")
    p.add_argument("--param", action="append", default=[], metavar="ROUTER.NAME=VALUE",
                   help="override a router parameter, e.g. graphroute.epochs=100 (repeatable; value parsed as JSON)")
    p.add_argument("--out", default=OUT, help=f"directory for table.md, results.json and pareto.png (default {OUT})")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--protocol", choices=PROTOCOLS, default=PROTOCOLS[0],
                   help="standard: every router side by side (default). new-models: hold models out of training, "
                        "add them with add_model and k logged runs, compare with retraining (graphroute Router only)")
    p.add_argument("--shots", default=None,
                   help=f"new-models: logged runs per added model, comma-separated {library_default(DEFAULT_SHOTS)}")
    p.add_argument("--holdout", type=positive_int, default=None,
                   help=f"new-models: models held out per seed {library_default(DEFAULT_HOLDOUT)}")
    p.add_argument("--observed", type=positive_int, default=None, metavar="K",
                   help="production-shaped logs: each training query keeps only K random (model, agent) outcomes "
                        "(seeded by the split); test queries stay fully logged for scoring (default: all outcomes)")
    p.add_argument("--no-task", action="store_true",
                   help="route every test query without its task label (routers infer what they need)")
    p.add_argument("--summary", default=None, metavar="DIR",
                   help="run nothing: rank graphroute across the saved results.json files under DIR (per dataset x "
                        "protocol x scenario) and write DIR/summary.md")
    p.add_argument("--threads", type=positive_int, default=THREADS,
                   help=f"torch CPU threads (default {THREADS}: on a machine with other work more threads "
                        "spin-wait on each other)")


def parse_params(items: list[str]) -> dict:
    """--param ROUTER.NAME=VALUE items as {router: {name: value}} (values parsed as JSON when they parse)."""
    import json

    from graphroute.errors import ConfigError

    out: dict[str, dict] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--param must look like ROUTER.NAME=VALUE (e.g. graphroute.epochs=100); got {item!r}.")
        key, val = item.split("=", 1)
        router, pname = key.split(".", 1)
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            v = val
        out.setdefault(router, {})[pname] = v
    return out


def given(args, **names_to_keys) -> dict:
    """The keyword arguments whose flags were given (the library's defaults stand for the rest)."""
    return {key: getattr(args, flag) for flag, key in names_to_keys.items() if getattr(args, flag) is not None}


def run(args) -> int:
    from pathlib import Path

    import torch

    from graphroute.eval.bench import DEFAULT_DATASET, run_bench

    if args.summary is not None:
        return _run_summary(args.summary)
    torch.set_num_threads(args.threads)
    if args.protocol == "new-models":
        if args.observed is not None or args.no_task:
            from graphroute.errors import ConfigError

            raise ConfigError("--observed and --no-task apply to the standard protocol; got --protocol new-models. "
                              "Fix: drop them, or drop --protocol new-models.")
        return _run_new_models(args)
    kwargs = given(args, seeds="seeds", embedder="embedder", observed="observed")
    if args.routers is not None:
        kwargs["routers"] = [r.strip() for r in args.routers.split(",") if r.strip()]
    res = run_bench(args.dataset or DEFAULT_DATASET, router_params=parse_params(args.param),
                    task_labels=not args.no_task, progress=not args.quiet, **kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = res.to_markdown()
    (out / "table.md").write_text(md + "\n")
    res.to_json(out / "results.json")
    res.plot(out / "pareto.png")
    print(md)
    print(f"\nwrote {out / 'table.md'}, {out / 'results.json'}, {out / 'pareto.png'} ({res.meta['wall_s']:.0f} s)")
    return 0


def _run_summary(root: str) -> int:
    from pathlib import Path

    from graphroute.eval.bench import load_results, summarize_results
    from graphroute.eval.report import summary_markdown

    md = summary_markdown(summarize_results(load_results(root)))
    print(md)
    if Path(root).is_dir():
        (Path(root) / "summary.md").write_text(md + "\n")
        print(f"\nwrote {Path(root) / 'summary.md'}")
    return 0


def _run_new_models(args) -> int:
    from pathlib import Path

    from graphroute.errors import ConfigError
    from graphroute.eval.bench import DEFAULT_DATASET, load_bench_data
    from graphroute.eval.newnodes import run_new_models
    from graphroute.eval.report import new_models_markdown

    kwargs = given(args, seeds="seeds", embedder="embedder", holdout="n_holdout")
    if args.shots is not None:
        try:
            kwargs["shots"] = [int(k) for k in args.shots.split(",") if k.strip()]
        except ValueError as e:
            raise ConfigError(f"--shots must be comma-separated integers such as 0,10,50; got {args.shots!r}.") from e
    _, logs, cards = load_bench_data(args.dataset or DEFAULT_DATASET)
    res = run_new_models(logs, cards, router_params=parse_params(args.param).get("graphroute"),
                         progress=not args.quiet, **kwargs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = new_models_markdown(res)
    (out / "new_models.md").write_text(md + "\n")
    res.to_json(out / "new_models.json", orient="records", indent=2)
    print(md)
    print(f"\nwrote {out / 'new_models.md'}, {out / 'new_models.json'}")
    return 0
