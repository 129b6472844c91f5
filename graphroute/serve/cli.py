"""Command-line flags of `graphroute serve` and `graphroute observe`, shared by the graphroute CLI
and ``python -m graphroute.serve``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import graphroute as gr

from .config import ServeConfig

__all__ = ["add_serve_arguments", "config_from_args", "add_observe_arguments", "run_observe", "main"]

_D = ServeConfig()


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--router", default=None, help="saved router directory (default: the shipped default router)")
    p.add_argument("--upstreams", default=None, help="upstreams.toml: one [upstreams.\"<model>\"] table per proxied "
                                                     "model (base_url, model, api_key_env, timeout_s, prices)")
    p.add_argument("--db", default=_D.db, help=f"the outcome store, a SQLite file (default: ./{_D.db})")
    p.add_argument("--snapshots", default=None, help="where published routers go (default: <db>.snapshots)")
    p.add_argument("--host", default=_D.host, help=f"address to listen on (default {_D.host}; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=_D.port, help=f"port (default {_D.port})")
    p.add_argument("--workers", type=int, default=_D.workers, help="serving processes sharing the port (default 1)")
    p.add_argument("--keys", dest="keys_file", default=None,
                   help="file of write keys, one per line, plain or sha256:<hex> (plus $GRAPHROUTE_API_KEY)")
    p.add_argument("--read-keys", dest="read_keys_file", default=None,
                   help="file of keys required for read endpoints too (plus $GRAPHROUTE_READ_KEY); default: open")
    p.add_argument("--insecure", action="store_true", help="allow feedback and admin without any key (local only)")
    p.add_argument("--cors", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
                   help="allow browser calls from this origin (repeatable); CORS is off by default")
    p.add_argument("--max-body-bytes", type=int, default=_D.max_body_bytes, help="larger bodies get 413")
    p.add_argument("--max-query-chars", type=int, default=_D.max_query_chars, help="longer queries get 422")
    p.add_argument("--max-batch", type=int, default=_D.max_batch, help="queries per batch call and micro-batch")
    p.add_argument("--batch-wait-ms", type=float, default=_D.batch_wait_ms,
                   help="longest wait of a micro-batch for requests already arriving (default 2 ms)")
    p.add_argument("--durability", choices=["full", "normal"], default=_D.durability,
                   help="full: each feedback commit is fsynced (survives power loss); "
                        "normal: survives a killed process")
    p.add_argument("--publish-every", type=int, default=_D.publish_every,
                   help="the learner publishes a snapshot after this many new outcomes ...")
    p.add_argument("--publish-interval", dest="publish_interval_s", type=float, default=_D.publish_interval_s,
                   help="... or this many seconds after the first unpublished one")
    p.add_argument("--publish-min-gap", dest="publish_min_gap_s", type=float, default=_D.publish_min_gap_s,
                   help="... but at most one snapshot per this many seconds (workers reload each one)")
    p.add_argument("--poll", dest="poll_s", type=float, default=_D.poll_s,
                   help="seconds between looks for new outcomes (learner) and new snapshots (workers)")
    p.add_argument("--max-fallbacks", type=int, default=_D.max_fallbacks,
                   help="further upstreams the proxy tries when the chosen one fails")
    p.add_argument("--log-level", default=_D.log_level, choices=["critical", "error", "warning", "info", "debug"])


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    fields = ServeConfig.__dataclass_fields__
    return ServeConfig(**{k: v for k, v in vars(args).items() if k in fields})


def add_observe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, help="the outcome store written by `graphroute serve`")
    p.add_argument("--router", default=None, help="router to fold the outcomes into (default: the shipped one)")
    p.add_argument("--out", default=None, help="save the grown router here")
    p.add_argument("--export", default=None, help="also write every outcome as canonical logs (.csv, .jsonl or "
                                                  ".parquet) for the next `graphroute train`")
    p.add_argument("--after", type=int, default=0, help="replay only outcomes with a larger id (default: all)")


EXPORT_FORMATS = (".csv", ".jsonl", ".parquet")


def run_observe(args: argparse.Namespace) -> int:
    """Replay the store into a fresh router (and/or export it as logs)."""
    from .learner import base_router, replay
    from .store import Store

    if not Path(args.db).is_file():
        raise gr.ConfigError(f"--db {args.db!r} does not exist; pass the outcome store that `graphroute serve` "
                             "wrote (its --db).")
    fmt = Path(args.export).suffix.lower() if args.export else None
    if fmt is not None and fmt not in EXPORT_FORMATS:
        raise gr.ConfigError(f"--export {args.export!r}: the file must end in one of {', '.join(EXPORT_FORMATS)} "
                             "(the canonical log formats `graphroute train` reads).")
    with contextlib.closing(Store(args.db, durability="normal")) as store:
        if args.export:
            logs = store.export_logs()
            if fmt == ".parquet":
                logs.to_parquet(args.export, index=False)
            elif fmt == ".jsonl":
                logs.to_json(args.export, orient="records", lines=True)
            else:
                logs.to_csv(args.export, index=False)
            print(f"wrote {len(logs)} outcomes to {args.export}")
        if args.out:
            router = base_router(args.router)
            last = replay(store, router, after=args.after)
            router.save(args.out)
            print(json.dumps({"folded_up_to_outcome_id": last, "saved": args.out}))
        elif not args.export:
            print("nothing to do: pass --out DIR to save the grown router and/or --export FILE", file=sys.stderr)
            return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m graphroute.serve [serve flags]`` (the same as `graphroute serve`)."""
    import graphroute as gr

    from .server import serve

    p = argparse.ArgumentParser(prog="python -m graphroute.serve", description="Run the graphroute routing service.")
    add_serve_arguments(p)
    args = p.parse_args(argv)
    try:
        return serve(config_from_args(args))
    except gr.GraphRouteError as exc:
        print(f"graphroute serve: {exc}", file=sys.stderr)
        return 2
