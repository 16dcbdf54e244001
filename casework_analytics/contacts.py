"""Casework contacts (sessions): attendance per case, and whether missed
sessions go with unplanned endings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .closures import case_exits
from .grouping import DateLike, GroupBy, as_as_of, attach_groups, case_groups, with_overall
from .intervals import risk_ratio
from .keys import positions, take

__all__ = [
    "SESSION_STATUSES",
    "session_summary",
    "association_flags",
    "missed_sessions_and_unplanned_exit",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .summary import Summary

SESSION_STATUSES = ("held", "missed_client", "missed_worker", "cancelled", "rescheduled")


def session_summary(cohort: Cohort, as_of: DateLike, *, run: Summary | None = None) -> pd.DataFrame:
    """Sessions per case up to ``as_of``.

    Definition
    ----------
    Sessions dated on or before ``as_of`` of cases with intake on or before
    it. ``missed_rate`` = (missed_client + missed_worker) / (held +
    missed_client + missed_worker): cancelled and rescheduled sessions are
    neither held nor missed and are left out of the denominator; NA when
    the denominator is 0. ``longest_gap_days`` is the longest interval
    between consecutive held sessions (NA with fewer than two).

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).

    Returns
    -------
    DataFrame
        ``case_id, scheduled, held, missed_client, missed_worker,
        cancelled, rescheduled, missed_rate, longest_gap_days``; cases
        without sessions have zero counts.

    Raises
    ------
    MissingTableError
        If the source had no sessions table.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort and ``as_of``, whose case exits are reused.
    """
    as_of = as_as_of(as_of)
    sessions = cohort.require("sessions", "The session summary")
    exits = case_exits(cohort, as_of) if run is None else run.exits
    n, k = len(exits), len(SESSION_STATUSES)
    row = positions(sessions["case_id"], exits["case_id"])
    status = positions(sessions["status"], pd.Index(SESSION_STATUSES))
    date = sessions["session_date"].to_numpy(dtype="datetime64[ns]")
    kept = (date <= as_of.to_datetime64()) & (row >= 0) & (status >= 0)
    row, status, date = row[kept], status[kept], date[kept]
    counts = np.bincount(row * k + status, minlength=n * k).reshape(n, k).astype("int64")
    # Longest interval between consecutive held sessions, per case.
    held = status == SESSION_STATUSES.index("held")
    h_row, h_day = row[held], date[held].astype("datetime64[D]").astype(np.int64)
    order = np.lexsort((h_day, h_row))
    h_row, h_day = h_row[order], h_day[order]
    same = h_row[1:] == h_row[:-1]
    longest = pd.Series(np.diff(h_day)[same]).groupby(h_row[1:][same]).max()
    out = pd.DataFrame({"case_id": exits["case_id"].reset_index(drop=True)})
    out["scheduled"] = counts.sum(axis=1)
    for j, name in enumerate(SESSION_STATUSES):
        out[name] = counts[:, j]
    missed = out["missed_client"] + out["missed_worker"]
    base = missed + out["held"]
    out["missed_rate"] = (missed / base.where(base > 0)).astype("Float64")
    longest = longest.reindex(np.arange(n)).to_numpy(dtype="float64")
    out["longest_gap_days"] = pd.array(longest, dtype="Float64").astype("Int64")
    return out


def association_flags(
    cohort: Cohort,
    as_of: DateLike,
    *,
    threshold: float = 0.25,
    summary: pd.DataFrame | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Per case, the cell of the missed-session × unplanned-exit table it falls in.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation.
    threshold : float
        Missed-session rate above which a case is in the high group.
    summary : DataFrame, optional
        :func:`session_summary` of the same ``as_of``, to reuse.
    run : Summary, optional
        A run of the same cohort and ``as_of``, whose case exits and session
        summary are reused.

    Returns
    -------
    DataFrame
        ``case_id``, ``n_high``, ``unplanned_high``, ``n_low``,
        ``unplanned_low`` (bool), for every case observed by ``as_of``; all
        False for cases open at ``as_of`` or without a held or missed
        session (they are not in the table).
    """
    if summary is None:
        summary = session_summary(cohort, as_of) if run is None else run.contacts
    exits = case_exits(cohort, as_of) if run is None else run.exits
    rate = take(summary["missed_rate"], positions(exits["case_id"], summary["case_id"]))
    counted = exits["closed"].to_numpy(dtype=bool) & rate.notna().to_numpy()
    high = (rate > threshold).fillna(False).to_numpy(dtype=bool)
    unplanned = (exits["exit_type"] == "unplanned").fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "case_id": exits["case_id"].to_numpy(),
            "n_high": counted & high,
            "unplanned_high": counted & high & unplanned,
            "n_low": counted & ~high,
            "unplanned_low": counted & ~high & unplanned,
        }
    )


def missed_sessions_and_unplanned_exit(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    threshold: float = 0.25,
    overall: bool = True,
    confidence: float = 0.95,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Risk ratio of unplanned exit for cases with a high missed-session rate.

    Definition
    ----------
    Cases closed on or before ``as_of`` with at least one held or missed
    session (open cases are left out: their exit is not known). Exposure:
    ``missed_rate > threshold`` (default 0.25, i.e. more than one in four
    scheduled contacts missed by either side). Outcome: an exit of type
    ``unplanned`` (dropout, scheduling conflict, moved, incarcerated, ...).
    ``risk_ratio`` = risk in the high group / risk in the low group (the
    crude estimate: 0 or infinite when one risk is 0), with a Katz log
    interval; when an unplanned count is 0 the interval adds 0.5 to every
    cell and ``corrected`` is True (see
    :func:`casework_analytics.intervals.risk_ratio`).

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    threshold : float
        Missed-session rate above which a case is in the high group (0.25).
    overall : bool
        Follow the groups with the whole-cohort rows (``All``).
    confidence : float
        Coverage of the intervals (0.95).

    Returns
    -------
    DataFrame
        Group columns, ``threshold``, ``n_high``, ``unplanned_high``,
        ``risk_high``, ``n_low``, ``unplanned_low``, ``risk_low``,
        ``risk_ratio``, ``ci_low``, ``ci_high``, ``corrected``.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose case exits,
        session summary and groups are reused.
    """
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    flags = association_flags(cohort, as_of, threshold=threshold, run=run)
    frame = attach_groups(flags, groups, cols)

    def summarise(data, keys):
        return (
            data.groupby(keys)
            .agg(
                n_high=("n_high", "sum"),
                unplanned_high=("unplanned_high", "sum"),
                n_low=("n_low", "sum"),
                unplanned_low=("unplanned_low", "sum"),
            )
            .reset_index()
        )

    out = with_overall(frame, cols, summarise, overall)
    out.insert(len(cols), "threshold", threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["risk_high"] = out["unplanned_high"] / out["n_high"].where(out["n_high"] > 0)
        out["risk_low"] = out["unplanned_low"] / out["n_low"].where(out["n_low"] > 0)
    out["risk_ratio"], out["ci_low"], out["ci_high"], out["corrected"] = risk_ratio(
        out["unplanned_high"], out["n_high"], out["unplanned_low"], out["n_low"], confidence
    )
    return out[
        [
            *cols,
            "threshold",
            "n_high",
            "unplanned_high",
            "risk_high",
            "n_low",
            "unplanned_low",
            "risk_low",
            "risk_ratio",
            "ci_low",
            "ci_high",
            "corrected",
        ]
    ]
