"""Tables and plots of evaluation results: Markdown tables of mean ± std over seeds, the Pareto plot.

Pure presentation: nothing here fits or scores a router. ``BenchResult`` (``bench``) and the
new-models protocol (``newnodes``) format their numbers with these functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from graphroute.selection import SCENARIOS

__all__ = ["markdown_table", "mean_std", "json_default", "new_models_markdown", "pareto_plot", "rank_summary",
           "summary_markdown"]

CEILINGS = ("oracle",)  # not competitors: a ceiling fitted on the test outcomes


def markdown_table(t: pd.DataFrame, first: str) -> str:
    """``t`` as a Markdown table whose first column (headed ``first``) is the index."""
    head = f"| {first} | " + " | ".join(t.columns) + " |"
    sep = "| --- " * (len(t.columns) + 1) + "|"
    return "\n".join([head, sep] + ["| " + r + " | " + " | ".join(str(v) for v in row) + " |" for r, row in t.iterrows()])


def mean_std(s: pd.Series) -> str:
    """'mean ± std' over seeds (population std), 'n/a' when no value, a count when only some reached one."""
    s = pd.to_numeric(s, errors="coerce")
    if s.isna().all():
        return "n/a"
    if s.isna().any():
        return f"{s.mean():.3f} ± {s.std(ddof=0):.3f} ({int(s.notna().sum())}/{len(s)} reached)"
    return f"{s.mean():.3f} ± {s.std(ddof=0):.3f}"


def json_default(o):
    """``json.dumps`` default for numpy scalars and NaN (as null)."""
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def new_models_markdown(res: pd.DataFrame, scenarios: Sequence[str] | None = None) -> str:
    """Mean ± std over seeds per setting of the new-models protocol: rewards, share of the retrained
    router's reward, how often a held-out model is chosen, seconds to add (all held-out models) or to fit."""
    scenarios = list(SCENARIOS) if scenarios is None else list(scenarios)
    order = ["dropped"] + sorted([s for s in res["setting"].unique() if s.startswith("k=")],
                                 key=lambda s: int(s[2:])) + ["retrained"]
    cols = ([f"reward_{s}" for s in scenarios] + [f"share_{s}" for s in scenarios]
            + [f"held_share_{s}" for s in scenarios] + ["add_s", "fit_s"])
    out = {}
    for setting in order:
        g = res[res["setting"] == setting]
        out[setting] = {c: (f"{g[c].astype(float).mean():.2f}" if c in ("add_s", "fit_s")
                            else f"{g[c].astype(float).mean():.3f} ± {g[c].astype(float).std(ddof=0):.3f}")
                        for c in cols}
    return markdown_table(pd.DataFrame(out).T[cols], "setting")


def pareto_plot(dataset: str, sweeps: pd.DataFrame, singles: pd.DataFrame, seed: int, path: str | Path) -> Path:
    """Quality vs cost on one seed's test split: each router's λ sweep and the single models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    sw = sweeps[sweeps["seed"] == seed]
    for name, g in sw.groupby("router", sort=False):
        g = g.sort_values("cost")
        style = dict(marker="*", markersize=12, linestyle="none") if name == "oracle" else dict(marker=".")
        ax.plot(g["cost"], g["effect"], label=name, linewidth=2.2 if name == "graphroute" else 1.0, **style)
    sg = singles[singles["seed"] == seed]
    ax.scatter(sg["cost"], sg["effect"], c="k", marker="x", zorder=5, label="single models")
    for _, r in sg.iterrows():
        ax.annotate(str(r["model"])[-18:], (r["cost"], r["effect"]), fontsize=6, alpha=0.7,
                    xytext=(3, -3), textcoords="offset points")
    ax.set_xscale("symlog", linthresh=max(float(sg["cost"].min()), 1e-9))
    ax.set_xlabel("mean cost per query (USD, symlog)")
    ax.set_ylabel("mean effect (quality)")
    ax.set_title(f"{dataset}: quality vs cost on the test split (seed {seed})")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _rank_row(rows: pd.DataFrame, router: str, scenario: str) -> dict:
    """``router``'s rank among the non-ceiling routers by mean reward at one scenario, its mean gap closed,
    and the best other router (name and gap)."""
    col, gap = f"reward_{scenario}", f"gap_{scenario}"
    means = rows.groupby("router", sort=False)[[col, gap]].mean(numeric_only=True)
    means = means.drop(index=[c for c in CEILINGS if c in means.index]).dropna(subset=[col])
    if router not in means.index:
        return {f"rank_{scenario}": "n/a", f"gap_{scenario}": "n/a", f"best_other_{scenario}": "n/a"}
    mine = means.loc[router, col]
    others = means.drop(index=router)
    rank = 1 + int((others[col] > mine + 1e-12).sum())  # ties share the better rank
    out = {f"rank_{scenario}": f"{rank}/{len(means)}", f"gap_{scenario}": _num(means.loc[router, gap])}
    if len(others):
        best = others[col].idxmax()
        out[f"best_other_{scenario}"] = f"{best} ({_num(others.loc[best, gap])})"
    else:
        out[f"best_other_{scenario}"] = "n/a"
    return out


def _num(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.3f}"


def rank_summary(runs: Sequence[tuple[str, str, pd.DataFrame]], router: str = "graphroute",
                 scenarios: Sequence[str] | None = None) -> pd.DataFrame:
    """Across bench runs: ``router``'s rank per (dataset, protocol) × scenario.

    ``runs`` holds (dataset, protocol label, per-seed rows with ``router``, ``reward_<scenario>`` and
    ``gap_<scenario>``). Rank 1 is the highest mean reward over seeds among all routers but the
    oracle (ties share a rank), shown as ``rank/n``; ``gap_<scenario>`` is ``router``'s mean gap
    closed, (router − best single) / (oracle − best single); ``best_other_<scenario>`` names the
    best other router with its gap. One row per run, sorted by dataset then protocol.
    """
    scenarios = list(SCENARIOS) if scenarios is None else list(scenarios)
    out = []
    for dataset, protocol, rows in runs:
        rec: dict = {"dataset": dataset, "protocol": protocol, "seeds": int(rows["seed"].nunique())}
        for scen in scenarios:
            rec.update(_rank_row(rows, router, scen))
        out.append(rec)
    cols = ["dataset", "protocol", "seeds"] + [f"{k}_{s}" for s in scenarios for k in ("rank", "gap", "best_other")]
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(out)[cols].sort_values(["dataset", "protocol"], kind="mergesort").reset_index(drop=True)


def summary_markdown(summary: pd.DataFrame, router: str = "graphroute") -> str:
    """``rank_summary`` as Markdown, with a line that says how to read it."""
    note = (f"{router}'s rank among the routers (oracle excluded; 1 = highest mean reward), its gap closed "
            "(router − best single) / (oracle − best single), and the best other router (its gap), per scenario.")
    return note + "\n\n" + markdown_table(summary.set_index(["dataset"]), "dataset")
