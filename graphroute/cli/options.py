"""argparse value types and help-text helpers shared by the subcommands (standard library only)."""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "non_negative_int", "port", "weights", "library_default", "names"]


def _integer_at_least(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = lowest - 1
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be an integer >= {lowest}; got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    return _integer_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0 (argparse type)."""
    return _integer_at_least(text, 0)


def port(text: str) -> int:
    """A TCP port number (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is an integer in [1, 65535]; got {text!r}")
    return value


def weights(text: str) -> dict[str, float]:
    """'effect=1,cost=0.5' or a scenario name, checked by the library's one parser (argparse type)."""
    from graphroute.errors import ConfigError
    from graphroute.selection import parse_weights

    try:
        return parse_weights(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def library_default(value) -> str:
    """The help-text tail naming the library's default, read from the code rather than restated."""
    if isinstance(value, tuple | list):
        value = ",".join(str(v) for v in value)
    return f"(default: the library's, {value})"


def names(values) -> str:
    """Registry names for a help text: 'a, b or c'."""
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
