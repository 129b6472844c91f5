"""Suite-wide settings: offline, and torch on one passive CPU thread.

The suite fits many tiny models. On a small machine shared with other work, torch's OpenMP
threads busy-wait on each other and a fit can take ten times longer (benchmarks/perf_results.md),
so the tests run single-threaded. Notebooks, the app and the browser test start their own
processes, which inherit these environment variables.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

torch.set_num_threads(1)
