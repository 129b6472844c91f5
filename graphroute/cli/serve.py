"""`graphroute serve` (the routing service and OpenAI-compatible proxy) and `graphroute observe` (replay
its outcome store into a router, or export it as logs). The flags live in graphroute.serve.cli, shared
with ``python -m graphroute.serve``; nothing is imported until a command is parsed."""

from __future__ import annotations

from types import SimpleNamespace


def add_serve(p) -> None:
    from graphroute.serve.cli import add_serve_arguments

    add_serve_arguments(p)


def cmd_serve(args) -> int:
    from graphroute.serve import serve
    from graphroute.serve.cli import config_from_args

    return serve(config_from_args(args))


def add_observe(p) -> None:
    from graphroute.serve.cli import add_observe_arguments

    add_observe_arguments(p)


def cmd_observe(args) -> int:
    from graphroute.serve.cli import run_observe

    return run_observe(args)


# the registry's shape (NAME, HELP, DESCRIPTION, add_arguments, run), one per subcommand
SERVE = SimpleNamespace(
    NAME="serve", HELP="run the routing service and OpenAI-compatible proxy (needs graphroute[serve])",
    DESCRIPTION="Serve /v1/route, /v1/feedback and an OpenAI-compatible /v1/chat/completions proxy that routes each "
                "request, learns from the outcomes it is told and survives crashes. See docs/serving.md.",
    add_arguments=add_serve, run=cmd_serve)
OBSERVE = SimpleNamespace(
    NAME="observe", HELP="fold the outcomes stored by `graphroute serve` into a router, or export them as logs",
    DESCRIPTION="Replay the outcome store of `graphroute serve` into a router (observe, no retraining) and save it, "
                "and/or export every outcome as canonical logs for the next `graphroute train`.",
    add_arguments=add_observe, run=cmd_observe)
