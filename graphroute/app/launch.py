"""`graphroute app`: the `streamlit run` command that serves the explorer, and running it.

Streamlit runs ``script/graphroute_explorer.py``, a file alone in its folder, so the folder that
Streamlit puts on ``sys.path`` holds nothing importable; ``-P`` keeps the working directory off
``sys.path`` too. The explorer itself is imported as the package ``graphroute.app``, from wherever
graphroute is installed (editable or a wheel). Nothing heavy is imported here: this module runs
before Streamlit takes the process over.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["SCRIPT", "app_command", "run_app"]

SCRIPT = Path(__file__).resolve().parent / "script" / "graphroute_explorer.py"


def app_command(router: str | None = None, port: int | None = None) -> list[str]:
    """The command line that serves the explorer with ``router`` (a saved router directory; None:
    the shipped one) on ``port`` (None: Streamlit's, 8501)."""
    python = [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]  # -P: no cwd on sys.path
    cmd = [*python, "-m", "streamlit", "run", str(SCRIPT), "--browser.gatherUsageStats", "false"]
    if port is not None:
        cmd += ["--server.port", str(port)]
    if router:
        cmd += ["--", "--router", str(Path(router).resolve())]
    return cmd


def run_app(router: str | None = None, port: int | None = None) -> int:
    """Serve the explorer: Streamlit replaces this process (on POSIX), so Ctrl-C and signals reach it."""
    from graphroute.errors import GraphRouteError, RouterFileError

    if router and not Path(router).is_dir():
        raise RouterFileError(f"No saved router at {router!r} (not a directory). Save one with router.save(path) or "
                              "`graphroute train --out DIR`, or leave --router out for the shipped router.")
    if not SCRIPT.is_file():
        raise GraphRouteError(f"The explorer's launcher {SCRIPT} is missing from this install of graphroute; "
                              "reinstall it (pip install --force-reinstall graphroute).")
    cmd = app_command(router, port)
    if os.name != "posix":
        import subprocess

        return subprocess.call(cmd)
    os.execv(cmd[0], cmd)
    return 0  # reached only when os.execv is replaced (tests)
