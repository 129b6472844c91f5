"""`graphroute app`: the explorer. The launch itself (the Streamlit command) lives in ``graphroute.app.launch``."""

from __future__ import annotations

from graphroute.cli.options import port

NAME = "app"
HELP = "open the explorer, a Streamlit app, in the browser"
DESCRIPTION = ("Start the graphroute explorer (Streamlit): route a query and see every candidate, move the weights "
               "and budget, compare the router with single models on held-out logs, view the graph, add a model "
               "without retraining.")


def add_arguments(p) -> None:
    p.add_argument("--router", help="a saved router directory (default: the router shipped with graphroute)")
    p.add_argument("--port", type=port, help="port to serve on (default: Streamlit's, 8501)")


def run(args) -> int:
    from graphroute.app.launch import run_app

    return run_app(router=args.router, port=args.port)
