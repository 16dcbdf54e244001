"""One analysis run: every named table of the ``summary`` command, from one
cohort, one end of observation, one grouping and one set of definitions.

:class:`Summary` computes the per-case tables that several analyses share
(closures, stage progress, length of stay, contacts, recovery timelines)
once, and builds each named table on demand. Publishing
(:mod:`casework_analytics.publish`) and the dashboard draw on the same run,
so a number means the same thing wherever it appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from .closures import case_exits
from .contacts import missed_sessions_and_unplanned_exit, session_summary
from .errors import CaseworkError, MissingTableError
from .exits import exit_cumulative_incidence, exit_reasons, exit_stage, exit_type_association
from .grouping import DateLike, GroupBy, as_as_of, attach_groups, case_groups
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
    MISSING_AS,
    RECOVERY_EVENTS,
    RecoveryDefinition,
    Timelines,
    recovery_outcomes,
    recovery_timelines,
    resolve_definition,
)

if TYPE_CHECKING:
    from .cohort import Cohort

#: Tables with one row per case (or per case and week).
PER_CASE_TABLES = ("stage_progress", "contacts", "recovery", "weekly_status")
#: Tables that need the visits table.
RECOVERY_TABLES = (
    "recovery",
    "weekly_status",
    "survival",
    "survival_summary",
    "recovery_headline",
    "recovery_sensitivity",
    "logrank",
)


class Summary:
    """Every analysis of one cohort at one end of observation.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        The grouping of every grouped table (see
        :mod:`casework_analytics.grouping`); a frame of labels, such as the
        folded groups of :func:`casework_analytics.privacy.fold_small_groups`,
        is used as it is.
    definition : RecoveryDefinition, optional
        The recovery definitions (defaults when omitted).
    missed_threshold : float
        Missed-session rate above which a case counts as high in
        ``association`` (0.25).

    Examples
    --------
    >>> import casework_analytics as ca
    >>> run = Summary(ca.load("data/sample"), "2025-04-15", "site")
    >>> run.table("stage_funnel").columns[:3].tolist()
    ['site', 'stage', 'stage_position']
    """

    def __init__(
        self,
        cohort: Cohort,
        as_of: DateLike,
        by: GroupBy = None,
        *,
        definition: RecoveryDefinition | None = None,
        missed_threshold: float = 0.25,
    ) -> None:
        if not 0 <= missed_threshold < 1:
            raise CaseworkError(
                f"`missed_threshold` must be a rate from 0 up to (not including) 1, but "
                f"{missed_threshold!r} was passed."
            )
        self.cohort = cohort
        self.as_of = as_as_of(as_of)
        self.definition = resolve_definition(definition)
        self.missed_threshold = missed_threshold
        self.groups, self.cols = case_groups(cohort, by)
        self.by = self.groups if self.cols else None

    @property
    def names(self) -> list[str]:
        """The names of every table of the run, in the order they are written."""
        names = [
            "stage_progress",
            "stage_funnel",
            "exits",
            "exit_stage",
            "length_of_stay",
            "contacts",
            "association",
            *(["exit_type_test"] if self.cols else []),
            *RECOVERY_TABLES,
            "cumulative_incidence",
        ]
        return [n for n in names if n != "logrank" or self.cols]

    # Per-case tables shared by several analyses.
    @cached_property
    def exits(self) -> pd.DataFrame:
        """:func:`~casework_analytics.closures.case_exits` of the run."""
        return case_exits(self.cohort, self.as_of)

    @cached_property
    def progress(self) -> pd.DataFrame:
        """:func:`~casework_analytics.stages.stage_progress` of the run."""
        return stage_progress(self.cohort, self.as_of)

    @cached_property
    def stays(self) -> pd.DataFrame:
        """:func:`~casework_analytics.length_of_stay.length_of_stay` of the run."""
        return length_of_stay(self.cohort, self.as_of)

    @cached_property
    def contacts(self) -> pd.DataFrame:
        """:func:`~casework_analytics.contacts.session_summary` (needs sessions)."""
        return session_summary(self.cohort, self.as_of)

    @cached_property
    def timelines(self) -> Timelines:
        """Weekly grid and outcomes under the run's definition (needs visits)."""
        return recovery_timelines(self.cohort, self.as_of, definition=self.definition)

    @cached_property
    def outcomes_by_convention(self) -> dict[str, pd.DataFrame]:
        """Recovery outcomes under both missing-visit conventions."""
        own = self.definition.missing_as
        other = next(m for m in MISSING_AS if m != own)
        return {
            own: self.timelines.outcomes,
            other: recovery_outcomes(
                self.cohort, self.as_of, definition=self.definition.replace(missing_as=other)
            ),
        }

    def per_case(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A per-case table with the run's group columns first.

        Parameters
        ----------
        frame : DataFrame
            One row per case (or per case and week), with ``case_id``.

        Returns
        -------
        DataFrame
            ``frame`` with the group columns of the run attached, first.
        """
        out = attach_groups(frame, self.groups, self.cols)
        return out[[*self.cols, *[c for c in out.columns if c not in self.cols]]]

    def table(self, name: str) -> pd.DataFrame:
        """The named table (a file of the ``summary`` command; see README).

        Parameters
        ----------
        name : str
            One of :attr:`names`.

        Returns
        -------
        DataFrame

        Raises
        ------
        MissingTableError
            If the table needs sessions or visits and the source has none.
        """
        builders = {
            "stage_progress": lambda: self.per_case(
                self.progress.merge(
                    self.stays[
                        ["case_id", "last_contact", "los_days", "los_code", "days_observed"]
                    ],
                    on="case_id",
                )
            ),
            "stage_funnel": lambda: stage_funnel(self.cohort, self.as_of, self.by),
            "exits": lambda: exit_reasons(self.cohort, self.as_of, self.by),
            "exit_stage": lambda: exit_stage(self.cohort, self.as_of, self.by),
            "length_of_stay": lambda: length_of_stay_summary(self.cohort, self.as_of, self.by),
            "contacts": lambda: self.per_case(self.contacts),
            "association": lambda: missed_sessions_and_unplanned_exit(
                self.cohort, self.as_of, self.by, threshold=self.missed_threshold
            ),
            "exit_type_test": lambda: exit_type_association(self.cohort, self.as_of, self.by),
            "recovery": lambda: self.per_case(self.timelines.outcomes),
            "weekly_status": lambda: self.per_case(self.timelines.weekly),
            "survival": lambda: recovery_survival(
                self.cohort, self.as_of, self.by, outcomes=self.timelines.outcomes
            ),
            "survival_summary": self._survival_summary,
            "recovery_headline": lambda: recovery_headline(
                self.cohort,
                self.as_of,
                self.by,
                definition=self.definition,
                outcomes=self.timelines.outcomes,
            ),
            "recovery_sensitivity": lambda: recovery_sensitivity(
                self.cohort,
                self.as_of,
                self.by,
                definition=self.definition,
                outcomes=self.outcomes_by_convention,
            ),
            "logrank": lambda: recovery_logrank(
                self.cohort, self.as_of, self.by, outcomes=self.timelines.outcomes
            ),
            "cumulative_incidence": lambda: exit_cumulative_incidence(
                self.cohort, self.as_of, self.by
            ),
        }
        if name not in builders:
            raise CaseworkError(
                f"The value for `name` must be one of {list(builders)}, but {name!r} was passed."
            )
        if name in ("exit_type_test", "logrank") and not self.cols:
            raise CaseworkError(f"The {name} table compares groups: give a grouping (`by`).")
        return builders[name]()

    def _survival_summary(self) -> pd.DataFrame:
        frame = attach_groups(self.timelines.outcomes, self.groups, self.cols)
        parts = []
        for event in RECOVERY_EVENTS:  # four events
            part = survival_summary(
                frame, duration=f"{event}_time", event=f"{event}_observed", by=self.cols or None
            )
            part.insert(len(self.cols), "outcome", event)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    def tables(
        self, names: Iterable[str] | None = None
    ) -> Iterator[tuple[str, pd.DataFrame | str]]:
        """Yield ``(name, table)``; a table that cannot be made comes as ``(name, reason)``.

        Without a sessions or visits table, the analyses that need it are
        yielded with the reason instead of a frame, so the caller can say so
        and go on.

        Parameters
        ----------
        names : iterable of str, optional
            The tables to make, in order; default :attr:`names`.

        Yields
        ------
        name : str
        table : DataFrame or str
            The table, or why it cannot be made.
        """
        for name in names or self.names:
            try:
                yield name, self.table(name)
            except MissingTableError as exc:
                yield name, str(exc)
