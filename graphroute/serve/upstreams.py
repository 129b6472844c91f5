"""`upstreams.toml`: where each routable model is answered (an OpenAI-compatible endpoint).

One table per model, named as in the router's catalog::

    [upstreams."gpt-4-1106-preview"]
    base_url = "http://127.0.0.1:9001/v1"   # any OpenAI-compatible endpoint
    model = "gpt-4-1106-preview"             # the name that endpoint expects (default: the table name)
    api_key_env = "OPENAI_API_KEY"           # read at start; never logged or echoed
    timeout_s = 30                           # per request (connect, each read, write)
    price_in = 10.0                          # USD per 1M prompt tokens (optional: recorded cost)
    price_out = 30.0                         # USD per 1M completion tokens

Models without a table are still routable through /v1/route, but the proxy routes only among
models that have one.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import graphroute as gr

__all__ = ["Upstream", "read_upstreams"]

_KEYS = {"base_url", "model", "api_key_env", "timeout_s", "price_in", "price_out"}


@dataclass(frozen=True)
class Upstream:
    """One model's endpoint. ``api_key`` is excluded from repr so it never reaches a log line."""

    name: str  # the model's name in the router
    base_url: str
    model: str  # the name the endpoint expects
    timeout_s: float = 30.0
    price_in: float | None = None
    price_out: float | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False, compare=False)

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        """USD of one call from its token counts, when the prices are known."""
        if self.price_in is None or self.price_out is None or tokens_in is None or tokens_out is None:
            return None
        return (tokens_in * self.price_in + tokens_out * self.price_out) / 1e6


def _number(name: str, key: str, value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise gr.ConfigError(f"{where}: upstreams.{name!r}.{key} must be a finite number >= 0; got {value!r}. "
                             f"Fix it, e.g. {key} = 30.")
    return float(value)


def _timeout(name: str, value, where: str) -> float:
    """timeout_s must be > 0: a zero timeout would fail every call (it is never silently replaced)."""
    seconds = _number(name, "timeout_s", value, where)
    if seconds <= 0:
        raise gr.ConfigError(f"{where}: upstreams.{name!r}.timeout_s must be > 0 seconds; got {value!r}. "
                             "Fix it, e.g. timeout_s = 30.")
    return seconds


def _one(name: str, table, where: str) -> Upstream:
    if not isinstance(table, dict):
        raise gr.ConfigError(f"{where}: upstreams.{name!r} must be a table ([upstreams.\"{name}\"]); got "
                             f"{type(table).__name__}.")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise gr.ConfigError(f"{where}: upstreams.{name!r} has unknown key(s) {unknown}; valid keys are "
                             f"{sorted(_KEYS)}.")
    url = table.get("base_url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise gr.ConfigError(f"{where}: upstreams.{name!r}.base_url must be an http(s) URL such as "
                             f"'http://127.0.0.1:9001/v1'; got {url!r}.")
    env = table.get("api_key_env")
    if env is not None and not (isinstance(env, str) and env):
        raise gr.ConfigError(f"{where}: upstreams.{name!r}.api_key_env must name an environment variable; got {env!r}.")
    if env is not None and env not in os.environ:
        raise gr.ConfigError(f"{where}: upstreams.{name!r} reads its API key from ${env}, which is not set. Export it "
                             "before starting, or remove api_key_env for an endpoint that needs no key.")
    prices = {k: _number(name, k, table[k], where) for k in ("price_in", "price_out") if k in table}
    return Upstream(name=name, base_url=url.rstrip("/"), model=str(table.get("model", name)),
                    timeout_s=_timeout(name, table.get("timeout_s", 30.0), where),
                    api_key_env=env, api_key=os.environ.get(env) if env else None, **prices)


def read_upstreams(path: str | Path | None) -> dict[str, Upstream]:
    """Parse ``upstreams.toml``; None gives no upstreams (routing only, the proxy answers 503)."""
    if path is None:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise gr.ConfigError("Reading upstreams.toml needs Python 3.11+ (tomllib) or "
                                 "`pip install tomli`.") from None
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise gr.ConfigError(f"The upstreams file {str(path)!r} cannot be read ({exc.strerror}). Pass --upstreams "
                             "with a TOML file of [upstreams.\"<model>\"] tables.") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise gr.ConfigError(f"{path} is not valid TOML ({exc}). Fix the syntax.") from None
    tables = data.get("upstreams")
    unknown = sorted(set(data) - {"upstreams"})
    if not isinstance(tables, dict) or unknown:
        raise gr.ConfigError(f"{path} must hold [upstreams.\"<model>\"] tables only (found top-level keys "
                             f"{sorted(data)}). See docs/serving.md for the format.")
    return {name: _one(name, t, str(path)) for name, t in tables.items()}
