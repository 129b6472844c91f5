"""Process lifetime shared by the serving processes (workers and the learner)."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]


def exit_with_parent(name: str) -> None:
    """Exit this process when its supervisor dies (kill -9), instead of serving or folding on alone:
    a watcher thread polls the parent pid every 0.5 s."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name=f"graphroute-{name}-parent-watch", daemon=True).start()
