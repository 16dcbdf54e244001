"""Length of stay, following the SAMHSA TEDS-D definition.

TEDS-D measures length of stay (LOS) from the admission date to the earlier
of the last contact and the discharge date, in days, and reports it as a
code: 1-30 for exact days, then bands 31-45, 46-60, 61-90, 91-120, 121-180,
181-365 and more than 365 days (codes 31-37). LOS is skewed, so the median
is the summary to report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .closures import case_exits
from .grouping import DateLike, GroupBy, as_as_of, attach_groups, case_groups, with_overall
from .keys import positions

__all__ = [
    "TEDS_LOS_BANDS",
    "teds_los_code",
    "length_of_stay",
    "length_of_stay_summary",
]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .cohort import Cohort
    from .summary import Summary

#: Upper day limit of each TEDS-D LOS band code 31-37.
TEDS_LOS_BANDS = {31: 45, 32: 60, 33: 90, 34: 120, 35: 180, 36: 365, 37: np.inf}


def teds_los_code(days: ArrayLike) -> np.ndarray:
    """TEDS-D LOS code of a length of stay in days.

    Days 1-30 are their own code; a same-day discharge (0 days) is coded 1,
    the shortest code TEDS-D has. 31-45 → 31, 46-60 → 32, 61-90 → 33,
    91-120 → 34, 121-180 → 35, 181-365 → 36, over 365 → 37. NaN stays NaN.

    Parameters
    ----------
    days : array-like
        Lengths of stay in days; missing values are NaN.

    Returns
    -------
    ndarray of float
        The codes, NaN where ``days`` is missing.

    Examples
    --------
    >>> teds_los_code([0, 30, 31, 45, 46, 90, 366]).tolist()
    [1.0, 30.0, 31.0, 31.0, 32.0, 33.0, 37.0]
    """
    d = np.asarray(days, dtype=float)
    edges = np.array([30, 45, 60, 90, 120, 180, 365])
    banded = 30 + np.searchsorted(edges, d, side="left")
    code = np.where(d <= 30, np.maximum(d, 1), banded).astype(float)
    return np.where(np.isnan(d), np.nan, code)


def _last_contacts(cohort, exits: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Latest held session or attended visit between intake and ``as_of``, per row of
    ``exits`` (``datetime64[ns]``, NaT for none)."""
    intake = exits["intake_date"].to_numpy(dtype="datetime64[ns]")
    last = np.full(len(exits), np.iinfo(np.int64).min)  # NaT
    contacts = []
    if cohort.sessions is not None:
        held = (cohort.sessions["status"] == "held").fillna(False).to_numpy(dtype=bool)
        contacts.append((cohort.sessions, "session_date", held))
    if cohort.visits is not None:
        seen = cohort.visits["attended"].fillna(False).to_numpy(dtype=bool)
        contacts.append((cohort.visits, "visit_date", seen))
    for table, column, kept in contacts:
        date = table[column].to_numpy(dtype="datetime64[ns]")
        kept = kept & (date <= as_of.to_datetime64())
        row = positions(table["case_id"], exits["case_id"])
        row, date = row[kept], date[kept]
        # A contact dated before intake (a data error the loader warns about) never counts.
        counted = (row >= 0) & (date >= intake[np.maximum(row, 0)])
        np.maximum.at(last, row[counted], date[counted].view(np.int64))
    return last.view("datetime64[ns]")


def length_of_stay(cohort: Cohort, as_of: DateLike, *, run: Summary | None = None) -> pd.DataFrame:
    """Length of stay per case, TEDS-D style.

    Definition
    ----------
    Time origin: intake (admission). End: for cases closed on or before
    ``as_of``, the earlier of the closure (discharge) date and the last
    contact, where a contact is a held session or an attended monitoring
    visit from intake to ``as_of`` (one dated before intake, which the loader
    reports, never counts); with no contact recorded, the closure date.
    Cases still open at ``as_of`` have no LOS (it is censored); their time
    so far is ``days_observed`` = ``as_of`` − intake. Without sessions or
    visits tables the closure date is used.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).

    Returns
    -------
    DataFrame
        ``case_id, intake_date, closed, closed_date, last_contact,
        los_days`` (Int64, NA if open), ``los_code`` (TEDS-D code, Int64),
        ``days_observed``.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort and ``as_of``, whose case exits are reused.
    """
    as_of = as_as_of(as_of)
    exits = case_exits(cohort, as_of) if run is None else run.exits
    last = _last_contacts(cohort, exits, as_of)
    closed_date = exits["closed_date"].to_numpy()
    end = np.where(np.isnat(last), closed_date, np.minimum(last, closed_date))
    end = np.where(np.isnat(closed_date), np.datetime64("NaT"), end)
    days = (end - exits["intake_date"].to_numpy()) / np.timedelta64(1, "D")
    return pd.DataFrame(
        {
            "case_id": exits["case_id"],
            "intake_date": exits["intake_date"],
            "closed": exits["closed"],
            "closed_date": exits["closed_date"],
            "last_contact": pd.Series(last, dtype="datetime64[ns]"),
            "los_days": pd.array(days, dtype="Float64").astype("Int64"),
            "los_code": pd.array(teds_los_code(days), dtype="Float64").astype("Int64"),
            "days_observed": ((as_of - exits["intake_date"]).dt.days).astype("int64"),
        }
    )


def length_of_stay_summary(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    overall: bool = True,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Median and IQR of TEDS-D length of stay per group.

    Definition
    ----------
    As :func:`length_of_stay`. Denominator: cases closed on or before
    ``as_of``; open cases are counted in ``n_open`` and left out of the
    quantiles (their LOS is not known yet). Quantiles use linear
    interpolation (pandas' default).

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    overall : bool
        Follow the groups with the whole-cohort rows (``All``).

    Returns
    -------
    DataFrame
        Group columns, ``n_cases``, ``n_closed``, ``n_open``,
        ``median_days``, ``q1_days``, ``q3_days``, ``mean_days``,
        ``n_under_90_days`` (closed within 90 days: the DATOS early-dropout
        threshold).

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose lengths of stay
        and groups are reused.
    """
    los = length_of_stay(cohort, as_of) if run is None else run.stays
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    frame = attach_groups(los, groups, cols)
    frame["los"] = frame["los_days"].astype("float64")

    def summarise(data, keys):
        grouped = data.groupby(keys)
        out = grouped.agg(
            n_cases=("case_id", "size"),
            n_closed=("closed", "sum"),
            median_days=("los", "median"),
            mean_days=("los", "mean"),
        )
        out["q1_days"] = grouped["los"].quantile(0.25)
        out["q3_days"] = grouped["los"].quantile(0.75)
        out["n_under_90_days"] = (data["los"] < 90).groupby([data[k] for k in keys]).sum()
        out["n_open"] = out["n_cases"] - out["n_closed"]
        return out.reset_index()

    out = with_overall(frame, cols, summarise, overall)
    return out[
        [
            *cols,
            "n_cases",
            "n_closed",
            "n_open",
            "median_days",
            "q1_days",
            "q3_days",
            "mean_days",
            "n_under_90_days",
        ]
    ]
