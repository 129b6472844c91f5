"""The supervisor of `graphroute serve`: checks the settings, starts the learner, runs the workers.

    supervisor ──► learner (python -m graphroute.serve.learner; restarted if it dies)
        └────────► uvicorn with N workers (graphroute.serve.app:create_app), sharing one port

Everything that can be wrong with the settings (keys, upstreams.toml, the router path, the store)
is found here, before any process starts, and reported as a ConfigError naming the fix.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from .app import load_keys
from .config import ENV_CONFIG, ServeConfig
from .snapshots import SnapshotDir, router_digest
from .store import Store
from .upstreams import read_upstreams

__all__ = ["serve", "LearnerProcess"]

log = logging.getLogger("graphroute.serve")


class LearnerProcess:
    """Runs the learner as a child process and restarts it (with a pause) whenever it exits."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._spawn()
        threading.Thread(target=self._watch, name="graphroute-learner-watch", daemon=True).start()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "graphroute.serve.learner"], env=self.env)

    def _watch(self) -> None:
        while not self._stop.is_set():
            code = self.proc.wait()
            if self._stop.is_set():
                return
            log.error("the learner exited with status %s; restarting it in 2 s", code)
            time.sleep(2.0)
            if not self._stop.is_set():
                self._spawn()

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def serve(config: ServeConfig) -> int:
    """Run the service in the foreground until interrupted; the exit status."""
    import uvicorn

    config.checked()
    load_keys(config)  # refuses to start open write endpoints without --insecure
    read_upstreams(config.upstreams)  # a bad upstreams.toml stops us here, not in every worker
    Store(config.db, durability=config.durability).close()  # creates or checks the schema once
    SnapshotDir(config.snapshot_dir()).check_base(router_digest(config.router), config.router)  # same router as before
    env = dict(os.environ)
    env[ENV_CONFIG] = config.to_env()
    prom_dir = None
    if config.workers > 1:
        prom_dir = tempfile.mkdtemp(prefix="graphroute-prometheus-")
        env["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
    os.environ.update({k: v for k, v in env.items() if k in (ENV_CONFIG, "PROMETHEUS_MULTIPROC_DIR")})
    learner = LearnerProcess(env)
    learner.start()
    try:
        uvicorn.run("graphroute.serve.app:create_app", factory=True, host=config.host, port=config.port,
                    workers=config.workers, log_level=config.log_level, server_header=False, proxy_headers=False,
                    timeout_keep_alive=30, access_log=False)
    finally:
        learner.stop()
        if prom_dir:
            shutil.rmtree(prom_dir, ignore_errors=True)
    return 0
