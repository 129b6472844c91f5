"""Running real server processes on 127.0.0.1 for tests and benchmarks (started and stopped by pid).

Each process is started in its own session, so it and every child (learner, workers) form one
process group: ``stop`` ends the group, ``kill9`` is a `kill -9` of the whole server.
"""

from __future__ import annotations

import os
import signal
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["free_port", "Proc", "start_server", "start_fake_upstream"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A process group listening on ``port``; its output goes to ``log``."""

    def __init__(self, cmd: list[str], port: int, log: Path, env: dict | None = None) -> None:
        self.port, self.log, self.cmd = port, Path(log), cmd
        self._out = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/health", timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd[:4]} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.cmd[:4]} was not ready within {timeout} s:\n{self.tail()}")

    def tail(self, n: int = 4000) -> str:
        self._out.flush()
        return self.log.read_bytes()[-n:].decode("utf-8", "replace")

    def kill9(self) -> None:
        """SIGKILL the whole group (the server, its learner and workers), with no chance to clean up."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._wait_port_free()

    def stop(self, timeout: float = 15.0, graceful: bool = True) -> None:
        """SIGTERM the group and wait (``graceful``), then SIGKILL whatever is left."""
        if self.proc.poll() is None and graceful:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        try:  # children left in the group (a learner mid-save)
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()

    def _wait_port_free(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)


def start_server(args: list[str], log: Path, env: dict | None = None, port: int | None = None,
                 timeout: float = 120.0) -> Proc:
    """``graphroute serve --port P <args>`` (the README's command: the console script beside this Python),
    waited for until /health answers."""
    port = port or free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    p = Proc([_console_script(), "serve", "--port", str(port), *args], port, log, env)
    p.wait_ready(timeout=timeout)
    return p


def _console_script() -> str:
    """The ``graphroute`` entry point installed with this interpreter (its venv's bin)."""
    exe = shutil.which("graphroute", path=str(Path(sys.executable).parent)) or shutil.which("graphroute")
    if exe is None:
        raise FileNotFoundError("The `graphroute` command is not installed beside this Python; install the package "
                                "(pip install -e '.[test]') so the tests run `graphroute serve` as the README does.")
    return exe


class _Upstream(Proc):
    def stop(self, timeout: float = 15.0, graceful: bool = False) -> None:  # nothing to save; a slow call may sleep
        super().stop(timeout, graceful)


def start_fake_upstream(log: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    p = _Upstream([sys.executable, "-m", "graphroute.serve.fake_upstream", "--port", str(port)], port, log)
    p.wait_ready("/docs", timeout=60)
    return p
