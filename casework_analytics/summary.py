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
    recovery_headline,
    recovery_logrank,
    recovery_sensitivity,
    recovery_survival,
)
from .stages import stage_funnel, stage_progress
from .survival import survival_summary
from .timelines import (
    RECOVERY_EVENTS,
    RecoveryDefinition,
    recovery_outcomes,
    recovery_timelines,
    resolve_definition,
)


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
    cohort, as_of, by=None, *, definition: RecoveryDefinition | None = None
) -> Iterator[tuple[str, pd.DataFrame | str]]:
    """Yield ``(name, table)`` for every recovery and survival analysis.

    Like :func:`stage_and_exit_tables`; without a visits table each
    recovery table is yielded as ``(name, reason)``. The exits'
    cumulative incidence needs no visits.
    """
    as_of = as_as_of(as_of)
    d = resolve_definition(definition)
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
        weekly, outcomes = recovery_timelines(cohort, as_of, definition=d)
    except MissingTableError as exc:
        for name in names:
            yield name, str(exc)
        outcomes = None
    if outcomes is not None:
        other = "ignore" if d.missing_as == "positive" else "positive"
        both = {
            d.missing_as: outcomes,
            other: recovery_outcomes(cohort, as_of, definition=d.replace(missing_as=other)),
        }
        yield "recovery", _per_case(outcomes, cohort, by)
        yield "weekly_status", _per_case(weekly, cohort, by)
        yield "survival", recovery_survival(cohort, as_of, by, outcomes=outcomes)
        groups, _ = case_groups(cohort, by)
        long = []
        for event in RECOVERY_EVENTS:  # four events
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
            recovery_headline(cohort, as_of, by, definition=d, outcomes=outcomes),
        )
        yield (
            "recovery_sensitivity",
            recovery_sensitivity(cohort, as_of, by, definition=d, outcomes=both),
        )
        if cols:
            yield "logrank", recovery_logrank(cohort, as_of, by, outcomes=outcomes)
    yield "cumulative_incidence", exit_cumulative_incidence(cohort, as_of, by)
