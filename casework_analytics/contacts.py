"""Casework contacts (sessions): attendance per case, and whether missed
sessions go with unplanned endings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .closures import case_exits
from .grouping import DateLike, GroupBy, as_as_of, attach_groups, case_groups, with_overall
from .intervals import risk_ratio

if TYPE_CHECKING:
    from .cohort import Cohort

SESSION_STATUSES = ("held", "missed_client", "missed_worker", "cancelled", "rescheduled")


def session_summary(cohort: Cohort, as_of: DateLike) -> pd.DataFrame:
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
    """
    as_of = as_as_of(as_of)
    sessions = cohort.require("sessions", "The session summary")
    exits = case_exits(cohort, as_of)
    sessions = sessions[
        (sessions["session_date"] <= as_of) & sessions["case_id"].isin(exits["case_id"])
    ]
    counts = sessions.groupby(["case_id", "status"]).size().unstack("status")
    counts = counts.reindex(index=exits["case_id"], columns=list(SESSION_STATUSES), fill_value=0)
    counts = counts.fillna(0).astype("int64")
    held = sessions[sessions["status"] == "held"].sort_values(["case_id", "session_date"])
    gaps = held.groupby("case_id")["session_date"].diff().dt.days
    longest = gaps.groupby(held["case_id"]).max()
    out = counts.reset_index()
    out.columns.name = None
    out.insert(1, "scheduled", counts.sum(axis=1).to_numpy())
    missed = out["missed_client"] + out["missed_worker"]
    base = missed + out["held"]
    out["missed_rate"] = (missed / base.where(base > 0)).astype("Float64")
    out["longest_gap_days"] = longest.reindex(out["case_id"]).to_numpy()
    out["longest_gap_days"] = out["longest_gap_days"].astype("Float64").astype("Int64")
    return out


def association_flags(
    cohort: Cohort,
    as_of: DateLike,
    *,
    threshold: float = 0.25,
    summary: pd.DataFrame | None = None,
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

    Returns
    -------
    DataFrame
        ``case_id``, ``n_high``, ``unplanned_high``, ``n_low``,
        ``unplanned_low`` (bool), for every case observed by ``as_of``; all
        False for cases open at ``as_of`` or without a held or missed
        session (they are not in the table).
    """
    summary = session_summary(cohort, as_of) if summary is None else summary
    exits = case_exits(cohort, as_of)
    frame = exits[["case_id", "closed", "exit_type"]].merge(
        summary[["case_id", "missed_rate"]], on="case_id", how="left"
    )
    counted = frame["closed"].to_numpy(dtype=bool) & frame["missed_rate"].notna().to_numpy()
    high = (frame["missed_rate"] > threshold).fillna(False).to_numpy(dtype=bool)
    unplanned = (frame["exit_type"] == "unplanned").fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "case_id": frame["case_id"].to_numpy(),
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
    """
    groups, cols = case_groups(cohort, by)
    flags = association_flags(cohort, as_of, threshold=threshold)
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
