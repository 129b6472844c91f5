"""The `graphroute` command line: train, select, info, app, bench, tune.

Each subcommand is a module here with ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; ``COMMANDS`` lists them (to add one, import its module below and list it).
The modules import nothing heavy at import time, and a subcommand's flags are only declared when
that subcommand is parsed (its help texts read the registries and library defaults, which may
import the library), so ``graphroute --help`` costs the standard library and these small modules.
Errors of graphroute print their message (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

from graphroute.cli import app, bench, info, select_cmd, serve, train, tune

__all__ = ["COMMANDS", "main", "build_parser"]

# subcommand modules (or objects of that shape), in the order help lists them
COMMANDS = (train, select_cmd, info, app, bench, tune, serve.SERVE, serve.OBSERVE)


class _Version(argparse.Action):
    """--version, reading the version only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from graphroute.version import __version__

        parser.exit(message=f"{parser.prog} {__version__}\n")


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the subcommands in ``commands`` (None: all) get their flags declared."""
    wanted = None if commands is None else set(commands)
    parser = argparse.ArgumentParser(
        prog="graphroute",
        description="Route LLM queries to the best (model, agent) pair, learned from logged runs.")
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMANDS:
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        if wanted is None or mod.NAME in wanted:
            mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from graphroute.errors import GraphRouteError

    argv = list(sys.argv[1:] if argv is None else argv)
    names = {mod.NAME for mod in COMMANDS}
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser([command] if command in names else [])
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except GraphRouteError as exc:
        print(f"graphroute: error: {exc}", file=sys.stderr)
        return 2
