"""Logged runs: the one canonical table, its validation, and the generic file reader.

One row per logged run (DESIGN.md)::

    query_id  str    stable id of the query (a hash of the text when absent)
    query     str    the query text, non-empty
    task      str    optional, "default"
    model     str    model name
    agent     str    optional, "direct"
    effect    float  quality in [0, 1]
    cost      float  >= 0, USD (or a declared unit)
    latency_s, tokens_in, tokens_out   optional floats >= 0

Validation returns a *copy* (the caller's frame is never touched) and raises a
:class:`~graphroute.errors.LogsError` that names the row, the column, the value and the fix.
Rows are dropped only when the caller asks (``drop_invalid=True``), and then counted.
Format-specific readers (RouterBench, LLMRouter, RouteLLM, ...) live in :mod:`graphroute.data.loaders`.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from graphroute.errors import LogsError
from graphroute.data.text import valid_unicode

__all__ = [
    "REQUIRED", "OPTIONAL_NUMERIC", "CANONICAL", "DEFAULT_TASK", "DEFAULT_AGENT",
    "validate_logs", "aggregate_runs", "read_logs", "query_hash",
]

DEFAULT_TASK = "default"
DEFAULT_AGENT = "direct"
REQUIRED = ("query", "model", "effect", "cost")
OPTIONAL_NUMERIC = ("latency_s", "tokens_in", "tokens_out")
CANONICAL = ("query_id", "query", "task", "model", "agent", "effect", "cost") + OPTIONAL_NUMERIC
_STRING_COLUMNS = ("query_id", "query", "task", "model", "agent")
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "json"}
_MAX_LISTED = 5


def query_hash(text: str) -> str:
    """A stable query id from its text: ``"q"`` + the first 12 hex digits of its SHA-1."""
    return "q" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _closest(name: str, choices: Iterable[str]) -> str:
    by_lower = {c.lower(): c for c in choices}  # compare case-blind, but name the column as the user spelled it
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" Did you mean {by_lower[match[0]]!r}? Rename it to {name!r}." if match else ""


def _rows_text(df: pd.DataFrame, mask: np.ndarray, column: str) -> str:
    """'row 3 (value 1.7), row 9 (value nan) and 4 more' for the first offending rows."""
    idx = np.flatnonzero(mask)
    parts = [f"row {df.index[i]!r} ({column}={df[column].iloc[i]!r})" for i in idx[:_MAX_LISTED]]
    more = f" and {len(idx) - _MAX_LISTED} more" if len(idx) > _MAX_LISTED else ""
    return ", ".join(parts) + more


def validate_logs(logs: pd.DataFrame, *, drop_invalid: bool = False) -> pd.DataFrame:
    """Check ``logs`` against the canonical schema and return a clean copy.

    Parameters
    ----------
    logs : DataFrame
        One row per logged run. Extra columns are kept; the input is never modified.
    drop_invalid : bool
        ``False`` (default): the first broken rule raises :class:`LogsError`. ``True``: rows that
        break a per-row rule (empty query, effect outside [0, 1], negative cost, ...) are dropped
        and counted in a warning; a missing column still raises, since no row could be kept.

    Returns
    -------
    DataFrame with at least the columns ``query_id, query, task, model, agent, effect, cost``,
    string columns as ``str``, numeric ones as ``float64``, and a fresh ``RangeIndex``.
    """
    df = _with_required_columns(logs)
    rows = _RowProblems(df)
    _check_text_columns(df, rows)
    _fill_query_ids(df)
    _check_numeric_columns(df, rows)
    _check_one_text_and_task_per_id(df, rows)
    if rows.problems:
        if not drop_invalid:
            raise LogsError("invalid logs: " + " | ".join(rows.problems) +
                            " (or pass drop_invalid=True to drop these rows with a count)")
        n_bad = int(rows.bad.sum())
        if n_bad == len(df):
            raise LogsError(f"every one of the {len(df)} rows is invalid: " + " | ".join(rows.problems))
        warnings.warn(f"graphroute: dropped {n_bad} of {len(df)} invalid rows: " + " | ".join(rows.problems),
                      stacklevel=2)
        df = df[~rows.bad]
    front = [c for c in CANONICAL if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]].reset_index(drop=True)


def _with_required_columns(logs) -> pd.DataFrame:
    """A copy of ``logs`` with the required columns checked and task / agent defaulted; raises on frame-level faults."""
    if not isinstance(logs, pd.DataFrame):
        raise LogsError(f"logs must be a pandas DataFrame, got {type(logs).__name__}. "
                        "Fix: pass a DataFrame, or a path to graphroute.read_logs().")
    df = logs.copy()
    if len(df) == 0:
        raise LogsError("logs are empty (0 rows). Fix: pass at least one logged run "
                        f"with columns {list(REQUIRED)}.")
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise LogsError(f"logs have duplicate columns {dup}. Fix: rename or drop the duplicates.")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        hints = "".join(f" Column {c!r} is missing.{_closest(c, map(str, df.columns))}" for c in missing)
        raise LogsError(f"logs lack required columns {missing} (have {list(map(str, df.columns))}).{hints} "
                        "Fix: rename your columns to the canonical names (query, model, effect, cost).")
    if "task" not in df.columns:
        df["task"] = DEFAULT_TASK
    if "agent" not in df.columns:
        df["agent"] = DEFAULT_AGENT
    return df


class _RowProblems:
    """The rows that break a per-row rule (``bad``) and one message per broken rule, in check order."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.bad = np.zeros(len(df), dtype=bool)
        self.problems: list[str] = []

    def flag(self, mask: np.ndarray, column: str, rule: str, fix: str) -> None:
        if mask.any():
            self.problems.append(f"{int(mask.sum())} row(s) break the rule '{column} {rule}': "
                                 f"{_rows_text(self.df, mask, column)}. Fix: {fix}")
            self.bad[mask] = True


def _check_text_columns(df: pd.DataFrame, rows: _RowProblems) -> None:
    """query, model, task, agent: present and non-empty after stripping whitespace; stored as str."""
    for col in ("query", "model", "task", "agent"):
        s = df[col]
        null = s.isna().to_numpy()
        rows.flag(null, col, "is not missing", f"fill in {col} for these rows or drop them (drop_invalid=True).")
        if col == "query":  # str() of a number or a list of chat messages would route on garbage text
            not_text = (~null) & ~s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            rows.flag(not_text, col, "is text (str)", "put the query text in this column (if numbers are meant as "
                      "text, convert them with .astype(str)).")
        try:
            as_str = s.where(~s.isna(), "").astype(str)
        except UnicodeEncodeError:  # a lone surrogate: pandas' UTF-8 strings refuse it, so repair it to U+FFFD
            as_str = s.where(~s.isna(), "").map(lambda v: valid_unicode(v) if isinstance(v, str) else v).astype(str)
        empty = (~null) & (as_str.str.strip() == "").to_numpy()
        rows.flag(empty, col, "is not empty or whitespace", f"give every row a non-empty {col}.")
        df[col] = as_str


def _fill_query_ids(df: pd.DataFrame) -> None:
    """A missing or empty query_id is the hash of the text rather than an error: ids are derivable."""
    if "query_id" in df.columns:
        null = df["query_id"].isna().to_numpy()
        ids = df["query_id"].where(~df["query_id"].isna(), "").astype(str)
        df["query_id"] = np.where(null | (ids.str.strip() == "").to_numpy(),
                                  [query_hash(q) for q in df["query"]], ids)
    else:
        df["query_id"] = [query_hash(q) for q in df["query"]]


def _check_numeric_columns(df: pd.DataFrame, rows: _RowProblems) -> None:
    """effect in [0, 1], cost finite >= 0 (both required), optional numerics finite >= 0 or NaN; stored as float."""
    for col, lo, hi, fix in (("effect", 0.0, 1.0, "rescale effect to [0, 1] (e.g. score / max_score)."),
                             ("cost", 0.0, math.inf, "costs are USD (or one declared unit) and must be >= 0.")):
        num = pd.to_numeric(df[col], errors="coerce")
        not_num = (num.isna() & df[col].notna()).to_numpy()
        rows.flag(not_num, col, "is a number", f"convert {col} to float (it holds text).")
        v = num.to_numpy(dtype=float)
        nan = np.isnan(v) & ~not_num
        rows.flag(nan, col, "is not NaN", f"drop runs without a measured {col} or fill them in.")
        with np.errstate(invalid="ignore"):
            out = ~np.isnan(v) & ((v < lo) | (v > hi) | ~np.isfinite(v))
        rng = f"lies in [{lo:g}, {hi:g}]" if math.isfinite(hi) else f"is finite and >= {lo:g}"
        rows.flag(out, col, rng, fix)
        df[col] = v
    for col in OPTIONAL_NUMERIC:
        if col not in df.columns:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        not_num = (num.isna() & df[col].notna()).to_numpy()
        rows.flag(not_num, col, "is a number", f"convert {col} to float or drop the column.")
        v = num.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            out = ~np.isnan(v) & ((v < 0) | ~np.isfinite(v))
        rows.flag(out, col, "is finite and >= 0 (NaN means not logged)", f"fix the {col} values or drop the column.")
        df[col] = v


def _check_one_text_and_task_per_id(df: pd.DataFrame, rows: _RowProblems) -> None:
    """One query id must mean one text and one task (among the rows not already flagged)."""
    ok = df[~rows.bad]
    for col in ("query", "task"):
        n = ok.groupby("query_id", sort=False)[col].nunique()
        clash = n[n > 1]
        if len(clash):
            qid = clash.index[0]
            vals = ok.loc[ok["query_id"] == qid, col].unique()[:2].tolist()
            mask = df["query_id"].isin(clash.index).to_numpy() & ~rows.bad
            rows.problems.append(f"{len(clash)} query_id(s) have more than one {col}, e.g. {qid!r}: "
                                 f"{[v[:60] for v in vals]}. Rule: one query_id names one {col}. "
                                 "Fix: give different queries different ids (or omit query_id to hash the text).")
            rows.bad[mask] = True


def aggregate_runs(logs: pd.DataFrame) -> pd.DataFrame:
    """Average repeated runs of one (query_id, model, agent) into one row.

    Returns columns ``query_id, query, task, model, agent, effect, cost`` (+ logged optional
    numerics, averaged over their non-NaN values) and ``n_runs``; order follows first appearance.
    """
    keys = ["query_id", "model", "agent"]
    num = ["effect", "cost"] + [c for c in OPTIONAL_NUMERIC if c in logs.columns]
    g = logs.groupby(keys, sort=False)
    out = g[num].mean()
    out["n_runs"] = g.size()
    first = g[["query", "task"]].first()
    out = out.join(first).reset_index()
    return out[keys[:1] + ["query", "task"] + keys[1:] + num + ["n_runs"]]


def read_logs(source: str | Path | pd.DataFrame, format: str | None = None, *,
              columns: dict[str, str] | None = None, drop_invalid: bool = False) -> pd.DataFrame:
    """Read logged runs from a CSV / Parquet / JSONL / JSON file (or a DataFrame) and validate them.

    Parameters
    ----------
    source : path or DataFrame
    format : "csv", "parquet", "jsonl" or "json"; inferred from the suffix when ``None``.
    columns : optional renaming ``{your_name: canonical_name}`` applied before validation.
    drop_invalid : see :func:`validate_logs`.
    """
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        path = Path(source)
        if not path.exists():
            raise LogsError(f"logs file {str(path)!r} does not exist. Fix: check the path "
                            "(relative paths are read from the current directory).")
        fmt = format or _FORMATS.get(path.suffix.lower())
        if fmt is None and path.suffix.lower() == ".gz":
            fmt = _FORMATS.get(Path(path.stem).suffix.lower())
        if fmt not in set(_FORMATS.values()):
            raise LogsError(f"cannot tell the format of {str(path)!r} (format={format!r}). Rule: one of "
                            f"{sorted(set(_FORMATS.values()))}. Fix: use a known suffix or pass format=.")
        try:
            if fmt == "csv":
                df = pd.read_csv(path)
            elif fmt == "parquet":
                df = pd.read_parquet(path)
            elif fmt == "jsonl":
                df = pd.read_json(path, lines=True)
            else:
                df = pd.read_json(path)
        except (ValueError, OSError, pd.errors.ParserError) as e:
            raise LogsError(f"could not parse {str(path)!r} as {fmt}: {e}. Fix: check the file is valid "
                            f"{fmt} (or pass the right format=).") from e
    if columns:
        unknown = [k for k in columns if k not in df.columns]
        if unknown:
            raise LogsError(f"columns= renames {unknown}, which the logs do not have "
                            f"(have {list(map(str, df.columns))}). Fix: use the file's column names as keys.")
        df = df.rename(columns=columns)
    return validate_logs(df, drop_invalid=drop_invalid)
