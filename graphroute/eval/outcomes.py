"""Outcome tables as dense arrays, and the input checks every metric shares.

An outcome table has one row per (query_id, model, agent) with the true ``effect`` and ``cost``;
``_Outcomes.build`` checks it (errors name the row, the column and the fix) and lays it out as
queries × candidates. Predictions and choices are aligned with it here, so each metric is a few
lines of array arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphroute.data.logs import DEFAULT_AGENT, DEFAULT_TASK
from graphroute.errors import ConfigError, LogsError
from graphroute.selection import best_index, normalize_cost

def _require_columns(frame: pd.DataFrame, required: Sequence[str], what: str, hint: str,
                     error: type[Exception] = ConfigError) -> None:
    """`error` (LogsError for outcome tables, ConfigError for arguments) unless `frame` has `required`."""
    if not isinstance(frame, pd.DataFrame):
        raise error(f"{what} must be a pandas DataFrame; got {type(frame).__name__}. {hint}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise error(f"{what} lacks the column(s) {missing}; it has {list(frame.columns)}. {hint}")


def _with_defaults(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A new frame with `columns` plus 'agent' (default "direct") and 'task' (default "default")."""
    out = frame.loc[:, [c for c in columns if c in frame.columns]].copy()
    if "agent" not in out.columns:
        out["agent"] = DEFAULT_AGENT
    if "task" in columns and "task" not in out.columns:
        out["task"] = DEFAULT_TASK
    return out


def _check_numbers(frame: pd.DataFrame, column: str, what: str, minimum: float | None = None) -> np.ndarray:
    """The column as float64, or an error naming the first row that is not a finite number >= minimum."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if minimum is not None:
        bad |= values < minimum
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = frame.iloc[i]
        rule = "a finite number" + (f" >= {minimum:g}" if minimum is not None else "")
        raise LogsError(
            f"The {column!r} column of {what} must hold {rule}; row {frame.index[i]!r} "
            f"(query_id={row['query_id']!r}, model={row['model']!r}, agent={row['agent']!r}) has "
            f"{frame[column].iloc[i]!r}. Fix or drop that row before evaluating ({int(bad.sum())} such row(s)).")
    return values


def _pair(candidate: str | tuple[str, str]) -> tuple[str, str]:
    """(model, agent) from a model name (agent "direct") or a (model, agent) pair."""
    if isinstance(candidate, str):
        return candidate, DEFAULT_AGENT
    if isinstance(candidate, tuple | list) and len(candidate) == 2:
        return str(candidate[0]), str(candidate[1])
    raise ConfigError(f"A candidate must be a model name or a (model, agent) pair; got {candidate!r}.")


def _show(items: Sequence, limit: int = 5) -> str:
    items = list(items)
    head = ", ".join(repr(x) for x in items[:limit])
    return f"[{head}{', ...' if len(items) > limit else ''}] ({len(items)} in all)"


def _pair_index(frame: pd.DataFrame) -> pd.MultiIndex:
    """(model, agent) of each row as a MultiIndex of str, for vectorised lookups."""
    return pd.MultiIndex.from_arrays([frame["model"].astype(str).to_numpy(dtype=object),
                                      frame["agent"].astype(str).to_numpy(dtype=object)])


def _minmax_per_task(cost: np.ndarray, task: np.ndarray) -> np.ndarray:
    """``selection.normalize_cost`` of each row [N] with its task's (min, max) over these rows (0 where all equal)."""
    g = pd.Series(cost).groupby(task)
    return normalize_cost(cost, g.transform("min").to_numpy(), g.transform("max").to_numpy())


@dataclass(frozen=True)
class _Outcomes:
    """An outcome table as dense arrays: queries × candidates, NaN where a pair was not logged."""

    queries: np.ndarray  # [Q] query ids, sorted
    tasks: np.ndarray  # [Q] task of each query
    cands: list[tuple[str, str]]  # [K] (model, agent), sorted by name: the tie-break order
    effect: np.ndarray  # [Q, K]
    cost: np.ndarray  # [Q, K] raw cost (USD or the declared unit)
    cost_norm: np.ndarray  # [Q, K] cost min–max normalised per task over the table's rows (metrics may rescale)
    present: np.ndarray  # [Q, K] bool: the pair was logged for the query

    @classmethod
    def build(cls, table: pd.DataFrame) -> _Outcomes:
        hint = ("An outcome table has one row per (query_id, model, agent) with columns query_id, model, "
                "effect, cost (task and agent optional), e.g. from graphroute.read_logs.")
        _require_columns(table, ["query_id", "model", "effect", "cost"], "The outcome table", hint, LogsError)
        df = _with_defaults(table, ["query_id", "task", "model", "agent", "effect", "cost"])
        if df.empty:
            raise LogsError("The outcome table is empty; evaluate on at least one logged (query, model) outcome.")
        for col in ("query_id", "task", "model", "agent"):
            if df[col].isna().any():
                i = int(np.flatnonzero(df[col].isna().to_numpy())[0])
                raise LogsError(f"The {col!r} column of the outcome table is empty at row {df.index[i]!r}; every row "
                                f"needs a {col}. Fill it in or drop the row.")
        effect = _check_numbers(df, "effect", "the outcome table")
        cost = _check_numbers(df, "cost", "the outcome table", minimum=0.0)
        dup = df.duplicated(["query_id", "model", "agent"], keep=False)
        if dup.any():
            row = df[dup].iloc[0]
            raise LogsError(
                f"The outcome table has {int(dup.sum())} rows sharing a (query_id, model, agent), e.g. "
                f"(query_id={row['query_id']!r}, model={row['model']!r}, agent={row['agent']!r}); metrics need one "
                "outcome per pair. Average repeated runs first (graphroute.aggregate_runs).")
        n_tasks = df.groupby("query_id", sort=False)["task"].nunique()
        if (n_tasks > 1).any():
            raise LogsError(f"Query ids {_show(n_tasks.index[n_tasks > 1])} carry more than one task; a query "
                            "belongs to one task. Give repeated texts distinct query ids or fix the task labels.")
        qi, queries = pd.factorize(df["query_id"], sort=True)
        ki, uniques = pd.factorize(_pair_index(df), sort=True)
        cands = [(str(m), str(a)) for m, a in uniques]
        norm = _minmax_per_task(cost, df["task"].to_numpy())
        shape = (len(queries), len(cands))
        e, c, cn = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
        e[qi, ki], c[qi, ki], cn[qi, ki] = effect, cost, norm
        present = np.zeros(shape, dtype=bool)
        present[qi, ki] = True
        tasks = np.empty(len(queries), dtype=object)
        tasks[qi] = df["task"].to_numpy()
        return cls(np.asarray(queries, dtype=object), tasks, cands, e, c, cn, present)

    def query_index(self, ids: pd.Series | np.ndarray, what: str) -> np.ndarray:
        """Row index of each query id; an error lists the ids the table does not hold."""
        idx = pd.Index(self.queries).get_indexer(pd.Index(ids))
        if (idx < 0).any():
            unknown = pd.unique(np.asarray(ids, dtype=object)[idx < 0])
            raise LogsError(f"{what} names query ids the outcome table does not hold: {_show(unknown)}. "
                            "Evaluate on a table that covers every query you route.")
        return idx

    def cand_index(self, candidate: str | tuple[str, str]) -> int:
        pair = _pair(candidate)
        try:
            return self.cands.index(pair)
        except ValueError:
            raise ConfigError(f"Unknown (model, agent) {pair!r}; the outcome table holds {self.cands}.") from None

    def cand_positions(self, frame: pd.DataFrame) -> np.ndarray:
        """Column of each row's (model, agent) [N]; -1 where the table never logged that pair."""
        return pd.MultiIndex.from_tuples(self.cands).get_indexer(_pair_index(frame))


def _choice_index(out: _Outcomes, choices: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(query row, candidate column) of each choice, after checking the choices are usable."""
    hint = "Choices have one row per query with columns query_id, model and optionally agent (default 'direct')."
    _require_columns(choices, ["query_id", "model"], "The choices frame", hint)
    ch = _with_defaults(choices, ["query_id", "model", "agent"])
    if ch.empty:
        raise ConfigError("The choices frame is empty; give one (model, agent) per query to evaluate.")
    dup = ch["query_id"].duplicated(keep=False)
    if dup.any():
        raise ConfigError(f"The choices frame has several rows for query ids {_show(pd.unique(ch['query_id'][dup]))}; "
                          "a policy makes one choice per query.")
    qi = out.query_index(ch["query_id"], "The choices frame")
    ki = out.cand_positions(ch)
    ok = ki >= 0
    ok[ok] = out.present[qi[ok], ki[ok]]
    if not ok.all():
        bad = ch[~ok]
        shown = [(q, m, a) for q, m, a in zip(bad["query_id"], bad["model"], bad["agent"])]
        raise LogsError(f"{len(bad)} chosen (query_id, model, agent) have no logged outcome in the table: "
                        f"{_show(shown, 3)}. A choice can only be scored where its outcome was logged; restrict the "
                        "choices to logged pairs (the table's candidates are "
                        f"{_show(out.cands, 12)}).")
    return qi, ki


def _argmax(score: np.ndarray, cost: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row, the masked column with the highest score, then the lowest cost, then the lowest index.

    score, cost, mask: [Q, K]; columns are in name order, so the last tie-break is by name.
    """
    if not mask.any(axis=1).all():
        raise LogsError("A query has no candidate to choose from; every query needs at least one logged outcome.")
    return best_index(score, cost, mask)


def _choices_frame(out: _Outcomes, rows: np.ndarray, k: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "query_id": out.queries[rows],
        "model": [out.cands[j][0] for j in k],
        "agent": [out.cands[j][1] for j in k],
    })


def _predicted(out: _Outcomes, predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted effect, cost and mask [Q, K] aligned with the table; mask = predicted and logged."""
    hint = ("Predictions have one row per (query_id, model, agent) with predicted effect and cost "
            "(router.predict's output renamed to the canonical names).")
    _require_columns(predictions, ["query_id", "model", "effect", "cost"], "The predictions frame", hint)
    df = _with_defaults(predictions, ["query_id", "model", "agent", "effect", "cost"])
    df = df[df["query_id"].isin(out.queries)]  # predictions for queries outside the table cannot be scored
    e_hat = _check_numbers(df, "effect", "the predictions")
    c_hat = _check_numbers(df, "cost", "the predictions")
    dup = df.duplicated(["query_id", "model", "agent"], keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise ConfigError(f"The predictions have {int(dup.sum())} rows sharing a (query_id, model, agent), e.g. "
                          f"({row['query_id']!r}, {row['model']!r}, {row['agent']!r}); give one prediction per pair.")
    qi = out.query_index(df["query_id"], "The predictions")
    ki = out.cand_positions(df)
    keep = ki >= 0  # a candidate never logged in the table cannot be scored either
    shape = out.present.shape
    e, c = np.zeros(shape), np.zeros(shape)
    mask = np.zeros(shape, dtype=bool)
    e[qi[keep], ki[keep]], c[qi[keep], ki[keep]] = e_hat[keep], c_hat[keep]
    mask[qi[keep], ki[keep]] = True
    mask &= out.present
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ConfigError(f"The predictions give no logged candidate for query ids {_show(out.queries[empty])}; "
                          "predict every candidate for every query of the table.")
    return e, c, mask


def quality_cost(table: pd.DataFrame, choices: pd.DataFrame) -> tuple[float, float]:
    """(mean cost, mean effect) of the choices, cost in the table's raw unit (dollars)."""
    out = _Outcomes.build(table)
    qi, ki = _choice_index(out, choices)
    return float(np.mean(out.cost[qi, ki])), float(np.mean(out.effect[qi, ki]))


def single_choices(table: pd.DataFrame, model: str, agent: str = DEFAULT_AGENT) -> pd.DataFrame:
    """The policy that sends every query of the table to one (model, agent).

    The pair must be logged for every query; otherwise its score would be taken on a different
    set of queries than everyone else's, so this raises LogsError naming the missing queries.
    """
    out = _Outcomes.build(table)
    k = out.cand_index((model, agent))
    missing = ~out.present[:, k]
    if missing.any():
        raise LogsError(f"({model!r}, {agent!r}) has no logged outcome for query ids {_show(out.queries[missing])}; "
                        "a single-model baseline needs every query. Restrict the table to the queries it covers.")
    return _choices_frame(out, np.arange(len(out.queries)), np.full(len(out.queries), k))
