"""Cases that need a supervisor's attention now.

A case needs attention at ``as_of`` when it is *active* (its casework is
open, or the client is still due for monitoring and has not dropped out)
and at least one of these holds:

``missed_sessions``
    Two or more sessions missed (by the client or the caseworker) in the
    last 4 weeks: dated from ``as_of`` − 27 days to ``as_of``.
``recent_positive``
    A positive screen in the last 2 weeks (``as_of`` − 13 days to
    ``as_of``).
``no_contact``
    No contact (a held session or an attended visit) for more than 21 days:
    the last one, or intake if there was none, is before ``as_of`` − 21
    days.

Every threshold is a parameter of :func:`needs_attention`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .closures import case_exits
from .grouping import DateLike, as_as_of
from .timelines import recovery_outcomes

__all__ = [
    "REASONS",
    "needs_attention",
]

if TYPE_CHECKING:
    from .cohort import Cohort

REASONS = ("missed_sessions", "recent_positive", "no_contact")


def needs_attention(
    cohort: Cohort,
    as_of: DateLike,
    *,
    missed_sessions: int = 2,
    missed_window_days: int = 28,
    positive_window_days: int = 14,
    silence_days: int = 21,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Active cases and whether each needs attention, with the reasons.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        The day the supervisor looks (explicit).
    missed_sessions : int
        Missed sessions within ``missed_window_days`` that call for attention (2).
    missed_window_days, positive_window_days, silence_days : int
        The windows of the three rules (28, 14 and 21 days).
    outcomes : DataFrame, optional
        :func:`~casework_analytics.timelines.recovery_outcomes` of the same
        ``as_of``, to reuse.

    Returns
    -------
    DataFrame
        One row per active case: ``case_id``, ``placement_id``,
        ``missed_recently`` (missed sessions in the window),
        ``last_positive`` (date of the last positive screen in the window, or
        NaT), ``last_contact`` (date, or NaT), ``days_since_contact`` (from
        the last contact or, with none, from intake), the three rule flags
        of :data:`REASONS` (bool), ``needs_attention`` (any of them) and
        ``reasons`` (the rule names that hold, joined by ``", "``). Sorted
        with the cases needing attention first.
    """
    as_of = as_as_of(as_of)
    exits = case_exits(cohort, as_of)
    active = ~exits["closed"].to_numpy(dtype=bool)
    if cohort.visits is not None:
        outcomes = recovery_outcomes(cohort, as_of) if outcomes is None else outcomes
        due = outcomes.set_index("case_id").reindex(exits["case_id"])
        still_due = (
            due["monitored"].fillna(False).to_numpy(dtype=bool)
            & ~due["monitoring_ended"].fillna(True).to_numpy(dtype=bool)
            & ~due["dropped_out"].fillna(False).to_numpy(dtype=bool)
        )
        active |= still_due
    frame = exits.loc[active, ["case_id", "placement_id", "intake_date"]].reset_index(drop=True)
    contacts = []
    missed = pd.Series(0, index=frame["case_id"], dtype="int64")
    if cohort.sessions is not None:
        sessions = cohort.sessions[cohort.sessions["session_date"] <= as_of]
        window = sessions["session_date"] > as_of - pd.Timedelta(days=missed_window_days)
        is_missed = sessions["status"].isin(["missed_client", "missed_worker"])
        counted = sessions[window & is_missed].groupby("case_id").size()
        missed = counted.reindex(frame["case_id"]).fillna(0).astype("int64")
        held = sessions[sessions["status"] == "held"]
        contacts.append(held[["case_id"]].assign(date=held["session_date"]))
    last_positive = pd.Series(pd.NaT, index=frame["case_id"], dtype="datetime64[ns]")
    if cohort.visits is not None:
        visits = cohort.visits[cohort.visits["visit_date"] <= as_of]
        attended = visits["attended"].fillna(False).astype(bool)
        contacts.append(visits.loc[attended, ["case_id"]].assign(date=visits["visit_date"]))
        recent = visits["visit_date"] > as_of - pd.Timedelta(days=positive_window_days)
        positive = visits[attended & recent & (visits["test_result"] == "positive")]
        last_positive = positive.groupby("case_id")["visit_date"].max().reindex(frame["case_id"])
    if contacts:
        every = pd.concat(contacts)
        last_contact = every.groupby("case_id")["date"].max().reindex(frame["case_id"])
    else:
        last_contact = pd.Series(pd.NaT, index=frame["case_id"], dtype="datetime64[ns]")
    since = last_contact.fillna(pd.Series(frame["intake_date"].to_numpy(), index=frame["case_id"]))
    days = (as_of - since).dt.days.to_numpy()
    out = frame[["case_id", "placement_id"]].assign(
        missed_recently=missed.to_numpy(),
        last_positive=last_positive.to_numpy(),
        last_contact=last_contact.to_numpy(),
        days_since_contact=days.astype("int64"),
    )
    out["missed_sessions"] = out["missed_recently"] >= missed_sessions
    out["recent_positive"] = out["last_positive"].notna()
    out["no_contact"] = out["days_since_contact"] > silence_days
    flags = out[list(REASONS)].to_numpy(dtype=bool)
    out["needs_attention"] = flags.any(axis=1)
    joined = pd.Series("", index=out.index, dtype="string")
    for j, name in enumerate(REASONS):  # three rules
        joined = joined + np.where(flags[:, j], name + ", ", "")
    out["reasons"] = joined.str.removesuffix(", ")
    return out.sort_values(
        ["needs_attention", "case_id"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
