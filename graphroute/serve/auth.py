"""API keys: where they come from, how they are kept, how a request's key is checked.

Keys come from the ``GRAPHROUTE_API_KEY`` environment variable and/or a keys file (one key per line,
``#`` comments). Each key is given plain or as ``sha256:<64 hex digits>``; only the SHA-256 digests
are kept in memory, and a request's key is hashed and compared with ``hmac.compare_digest`` against
every configured digest (constant time per comparison, no early exit across keys).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path

import graphroute as gr

__all__ = ["KeyRing", "ENV_KEY", "ENV_READ_KEY"]

ENV_KEY = "GRAPHROUTE_API_KEY"  # key(s) for write endpoints (feedback, admin); comma-separated for several
ENV_READ_KEY = "GRAPHROUTE_READ_KEY"  # optional key(s) for read endpoints (route, proxy, decisions)
_HEX = re.compile(r"[0-9a-f]{64}")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _parse(entry: str, where: str) -> bytes:
    entry = entry.strip()
    if entry.startswith("sha256:"):
        hexpart = entry[len("sha256:"):].lower()
        if not _HEX.fullmatch(hexpart):
            raise gr.ConfigError(f"A key in {where} starts with 'sha256:' but is not followed by 64 hex digits "
                                 f"(got {len(hexpart)} characters). Give the SHA-256 of the key, e.g. "
                                 "`printf %s \"$KEY\" | sha256sum`, or the key itself.")
        return bytes.fromhex(hexpart)
    if len(entry) < 16:
        raise gr.ConfigError(f"A key in {where} is {len(entry)} characters long; keys must be at least 16 "
                             "characters. Generate one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.")
    return _digest(entry)


class KeyRing:
    """A set of key digests; empty means "no key configured"."""

    def __init__(self, digests: list[bytes] | None = None) -> None:
        self.digests = list(digests or [])

    @classmethod
    def from_sources(cls, env_var: str, keys_file: str | Path | None = None) -> KeyRing:
        digests = [_parse(k, f"${env_var}") for k in os.environ.get(env_var, "").split(",") if k.strip()]
        if keys_file is not None:
            path = Path(keys_file)
            try:
                lines = path.read_text().splitlines()
            except OSError as exc:
                raise gr.ConfigError(f"The keys file {str(path)!r} cannot be read ({exc.strerror}). Pass --keys with "
                                     "a file holding one key (or sha256:<hex>) per line.") from None
            for n, line in enumerate(lines, 1):
                line = line.split("#", 1)[0].strip()
                if line:
                    digests.append(_parse(line, f"{path}, line {n}"))
        return cls(digests)

    def __bool__(self) -> bool:
        return bool(self.digests)

    def check(self, presented: str | None) -> bool:
        """True when ``presented`` is one of the keys; every digest is compared (no early exit)."""
        if presented is None:
            return False
        d = _digest(presented)
        ok = False
        for known in self.digests:
            ok |= hmac.compare_digest(d, known)
        return ok


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
