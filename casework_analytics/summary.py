"""All cohort analyses at once, as the named tables the ``summary`` command writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd

from .contacts import missed_sessions_and_unplanned_exit, session_summary
from .errors import MissingTableError
from .exits import exit_cumulative_incidence, exit_reasons, exit_stage, exit_type_association
from .grouping import as_as_of, attach_groups, case_groups, group_columns
from .length_of_stay import length_of_stay, length_of_stay_summary
from .recovery import (
    RECOVERY_EVENTS,
    recovery_headline,
    recovery_logrank,
    recovery_outcomes,
    recovery_sensitivity,
    recovery_survival,
    weekly_status,
)
from .stages import stage_funnel, stage_progress
from .survival import survival_summary


def _per_case(frame: pd.DataFrame, cohort, by) -> pd.DataFrame:
    groups, cols = case_groups(cohort, by)
    out = attach_groups(frame, groups, cols)
    return out[[*cols, *[c for c in out.columns if c not in cols]]]


def stage_and_exit_tables(
    cohort, as_of, by=None, *, missed_threshold: float = 0.25
) -> Iterator[tuple[str, pd.DataFrame | str]]:
    """Yield ``(name, table)`` for every stage, exit and contact analysis.

    A table that cannot be made (for instance contacts without a sessions
    table) is yielded as ``(name, reason)`` with a message instead of a
    frame, so the caller can say so and go on. Group columns come first in
    every table. Names are those of the CSV files (see README).
    """
    as_of = as_as_of(as_of)
    progress = stage_progress(cohort, as_of)
    los = length_of_stay(cohort, as_of)[
        ["case_id", "last_contact", "los_days", "los_code", "days_observed"]
    ]
    tables: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("stage_progress", lambda: _per_case(progress.merge(los, on="case_id"), cohort, by)),
        ("stage_funnel", lambda: stage_funnel(cohort, as_of, by)),
        ("exits", lambda: exit_reasons(cohort, as_of, by)),
        ("exit_stage", lambda: exit_stage(cohort, as_of, by)),
        ("length_of_stay", lambda: length_of_stay_summary(cohort, as_of, by)),
        ("contacts", lambda: _per_case(session_summary(cohort, as_of), cohort, by)),
        (
            "association",
            lambda: missed_sessions_and_unplanned_exit(
                cohort, as_of, by, threshold=missed_threshold
            ),
        ),
    ]
    if group_columns(by):
        tables.append(("exit_type_test", lambda: exit_type_association(cohort, as_of, by)))
    for name, make in tables:
        try:
            yield name, make()
        except MissingTableError as exc:
            yield name, str(exc)


def recovery_tables(
    cohort,
    as_of,
    by=None,
    *,
    missing_as: str = "positive",
    sustained_weeks: int = 4,
    dropout_missed: int = 2,
) -> Iterator[tuple[str, pd.DataFrame | str]]:
    """Yield ``(name, table)`` for every recovery and survival analysis.

    Like :func:`stage_and_exit_tables`; without a visits table each
    recovery table is yielded as ``(name, reason)``. The exits'
    cumulative incidence needs no visits.
    """
    as_of = as_as_of(as_of)
    definitions = {
        "missing_as": missing_as,
        "sustained_weeks": sustained_weeks,
        "dropout_missed": dropout_missed,
    }
    _, cols = case_groups(cohort, by)
    names = [
        "recovery",
        "weekly_status",
        "survival",
        "survival_summary",
        "recovery_headline",
        "recovery_sensitivity",
    ] + (["logrank"] if cols else [])
    try:
        weekly = weekly_status(cohort, as_of, missing_as=missing_as)
    except MissingTableError as exc:
        for name in names:
            yield name, str(exc)
        weekly = None
    if weekly is not None:
        outcomes = recovery_outcomes(cohort, as_of, weekly=weekly, **definitions)
        other = "ignore" if missing_as == "positive" else "positive"
        both = {
            missing_as: outcomes,
            other: recovery_outcomes(cohort, as_of, **{**definitions, "missing_as": other}),
        }
        yield "recovery", _per_case(outcomes, cohort, by)
        yield "weekly_status", _per_case(weekly, cohort, by)
        yield "survival", recovery_survival(cohort, as_of, by, outcomes=outcomes)
        groups, _ = case_groups(cohort, by)
        long = []
        for event in RECOVERY_EVENTS:  # three events
            part = survival_summary(
                attach_groups(outcomes, groups, cols),
                duration=f"{event}_time",
                event=f"{event}_observed",
                by=cols or None,
            )
            part.insert(len(cols), "outcome", event)
            long.append(part)
        yield "survival_summary", pd.concat(long, ignore_index=True)
        yield (
            "recovery_headline",
            recovery_headline(cohort, as_of, by, outcomes=outcomes, **definitions),
        )
        yield (
            "recovery_sensitivity",
            recovery_sensitivity(
                cohort,
                as_of,
                by,
                sustained_weeks=sustained_weeks,
                dropout_missed=dropout_missed,
                outcomes=both,
            ),
        )
        if cols:
            yield "logrank", recovery_logrank(cohort, as_of, by, outcomes=outcomes)
    yield "cumulative_incidence", exit_cumulative_incidence(cohort, as_of, by)
