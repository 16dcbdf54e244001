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
from .keys import positions, take
from .length_of_stay import length_of_stay, length_of_stay_summary
from .outputs import TableParts
from .progress import Progress
from .recovery import (
    recovery_headline,
    recovery_logrank,
    recovery_sensitivity,
    recovery_survival,
)
from .stages import stage_funnel, stage_progress
from .survival import survival_summary
from .timelines import (
    GRID_CHUNK_ROWS,
    MISSING_AS,
    RECOVERY_EVENTS,
    RecoveryDefinition,
    Timelines,
    _outcomes,
    _timeline,
    resolve_definition,
)

__all__ = [
    "PER_CASE_TABLES",
    "RECOVERY_TABLES",
    "TABLE_NAMES",
    "Summary",
]

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
#: Every table ``summary`` can write, in the order it writes them.
TABLE_NAMES = (
    "stage_progress",
    "stage_funnel",
    "exits",
    "exit_stage",
    "length_of_stay",
    "contacts",
    "association",
    "exit_type_test",
    *RECOVERY_TABLES,
    "cumulative_incidence",
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
    progress : bool, optional
        Show a line for each table of :meth:`tables` that takes over a
        second (see :mod:`casework_analytics.progress`).

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
        progress: bool | None = None,
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
        self.steps = Progress(progress, "summary")
        self.groups, self.cols = case_groups(cohort, by)
        self.by = self.groups if self.cols else None
        self._made: dict[str, pd.DataFrame] = {}

    @property
    def names(self) -> list[str]:
        """The names of every table of the run, in the order they are written."""
        return [n for n in TABLE_NAMES if self.cols or n not in ("exit_type_test", "logrank")]

    @cached_property
    def grouping(self) -> tuple[pd.DataFrame, list[str]]:
        """:func:`~casework_analytics.grouping.case_groups` of the run's ``by``, as the
        grouped analyses look it up (its labels are plain text)."""
        return case_groups(self.cohort, self.by)

    # Per-case tables shared by several analyses.
    @cached_property
    def exits(self) -> pd.DataFrame:
        """:func:`~casework_analytics.closures.case_exits` of the run."""
        return case_exits(self.cohort, self.as_of)

    @cached_property
    def progress(self) -> pd.DataFrame:
        """:func:`~casework_analytics.stages.stage_progress` of the run."""
        return stage_progress(self.cohort, self.as_of, run=self)

    @cached_property
    def stays(self) -> pd.DataFrame:
        """:func:`~casework_analytics.length_of_stay.length_of_stay` of the run."""
        return length_of_stay(self.cohort, self.as_of, run=self)

    @cached_property
    def contacts(self) -> pd.DataFrame:
        """:func:`~casework_analytics.contacts.session_summary` (needs sessions)."""
        return session_summary(self.cohort, self.as_of, run=self)

    @cached_property
    def _timeline(self):
        """The weekly grid and visit summaries under the run's definition (needs visits)."""
        return _timeline(self.cohort, self.as_of, self.definition, exits=self.exits)

    @cached_property
    def outcomes(self) -> pd.DataFrame:
        """:func:`~casework_analytics.timelines.recovery_outcomes` under the run's definition."""
        d, cases, grid, visits = self._timeline
        return _outcomes(d, cases, grid, visits)

    @property
    def weekly(self) -> pd.DataFrame:
        """:func:`~casework_analytics.timelines.weekly_status` of the run (built anew
        at each use: tens of millions of rows for a national cohort)."""
        return self._timeline[2].frame()

    @cached_property
    def timelines(self) -> Timelines:
        """Weekly grid and outcomes under the run's definition (needs visits)."""
        return Timelines(self.weekly, self.outcomes)

    @cached_property
    def outcomes_by_convention(self) -> dict[str, pd.DataFrame]:
        """Recovery outcomes under both missing-visit conventions.

        Only the counted outcome of a week depends on the convention, so the
        other convention's outcomes are computed from the same weekly grid.
        """
        own = self.definition.missing_as
        other = next(m for m in MISSING_AS if m != own)
        d, cases, grid, visits = self._timeline
        return {
            own: self.outcomes,
            other: _outcomes(d.replace(missing_as=other), cases, grid.recounted(other), visits),
        }

    def drop_weekly_grid(self) -> None:
        """Free the weekly grid, keeping the outcomes made from it.

        The grid is the largest intermediate of a run (tens of millions of
        case-weeks at a national cohort). Once the outcomes under both
        missing-visit conventions are made, only a per-week table needs it;
        one asked for later is built again from the cohort.
        """
        if "_timeline" in self.__dict__:
            self.outcomes_by_convention  # noqa: B018 (made from the grid, first)
            self.__dict__.pop("_timeline")
            self.__dict__.pop("timelines", None)

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

        A group-level table is made once per run and each call returns a copy
        of it; a per-case table (:data:`PER_CASE_TABLES`) is made at each call.

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
            "stage_progress": self._stage_progress,
            "stage_funnel": lambda: stage_funnel(self.cohort, self.as_of, self.by, run=self),
            "exits": lambda: exit_reasons(self.cohort, self.as_of, self.by, run=self),
            "exit_stage": lambda: exit_stage(self.cohort, self.as_of, self.by, run=self),
            "length_of_stay": lambda: length_of_stay_summary(
                self.cohort, self.as_of, self.by, run=self
            ),
            "contacts": lambda: self.per_case(self.contacts),
            "association": lambda: missed_sessions_and_unplanned_exit(
                self.cohort, self.as_of, self.by, threshold=self.missed_threshold, run=self
            ),
            "exit_type_test": lambda: exit_type_association(
                self.cohort, self.as_of, self.by, run=self
            ),
            "recovery": lambda: self.per_case(self.outcomes),
            "weekly_status": lambda: self.weekly_parts(rows=None).frame(),
            "survival": lambda: recovery_survival(
                self.cohort, self.as_of, self.by, outcomes=self.outcomes, run=self
            ),
            "survival_summary": self._survival_summary,
            "recovery_headline": lambda: recovery_headline(
                self.cohort,
                self.as_of,
                self.by,
                definition=self.definition,
                outcomes=self.outcomes,
                run=self,
            ),
            "recovery_sensitivity": lambda: recovery_sensitivity(
                self.cohort,
                self.as_of,
                self.by,
                definition=self.definition,
                outcomes=self.outcomes_by_convention,
                run=self,
            ),
            "logrank": lambda: recovery_logrank(
                self.cohort, self.as_of, self.by, outcomes=self.outcomes, run=self
            ),
            "cumulative_incidence": lambda: exit_cumulative_incidence(
                self.cohort, self.as_of, self.by, run=self
            ),
        }
        if name not in builders:
            raise CaseworkError(
                f"The value for `name` must be one of {list(builders)}, but {name!r} was passed."
            )
        if name in ("exit_type_test", "logrank") and not self.cols:
            raise CaseworkError(f"The {name} table compares groups: give a grouping (`by`).")
        if name in PER_CASE_TABLES:  # millions of rows: made at each use, never kept
            return builders[name]()
        if name not in self._made:
            self._made[name] = builders[name]()
        return self._made[name].copy()

    def weekly_parts(self, rows: int | None = GRID_CHUNK_ROWS) -> TableParts:
        """The ``weekly_status`` table in parts of ``rows`` rows (``None``: one part).

        The weekly grid of a national cohort has tens of millions of rows;
        written part by part, it is never whole in memory.

        Parameters
        ----------
        rows : int or None
            Rows per part.

        Returns
        -------
        TableParts
        """
        grid = self._timeline[2]
        where = positions(grid.case_id, self.groups["case_id"])  # per case, its group row
        rows = rows or max(len(grid), 1)

        def parts():
            for start in range(0, max(len(grid), 1), rows):
                part = grid.frame(start, start + rows)
                found = where[grid.case[start : start + rows]]
                if (found < 0).any():  # as an inner merge: weeks of cases without a group
                    part, found = part[found >= 0].reset_index(drop=True), found[found >= 0]
                part = part.drop(columns=[c for c in self.cols if c in part.columns])
                for i, column in enumerate(self.cols):  # inserted first: nothing is copied
                    part.insert(i, column, take(self.groups[column], found).array)
                yield part

        return TableParts(parts, int((where[grid.case] >= 0).sum()))

    def _stage_progress(self) -> pd.DataFrame:
        stays = self.stays[["case_id", "last_contact", "los_days", "los_code", "days_observed"]]
        where = positions(self.progress["case_id"], stays["case_id"])
        found = where >= 0  # as an inner merge: every case has both
        progress = self.progress[found].reset_index(drop=True)
        extra = {c: stays[c].array.take(where[found]) for c in stays.columns if c != "case_id"}
        return self.per_case(progress.assign(**extra))

    def _survival_summary(self) -> pd.DataFrame:
        frame = attach_groups(self.outcomes, self.groups, self.cols)
        parts = []
        for event in RECOVERY_EVENTS:  # four events
            part = survival_summary(
                frame, duration=f"{event}_time", event=f"{event}_observed", by=self.cols or None
            )
            part.insert(len(self.cols), "outcome", event)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)

    def tables(
        self, names: Iterable[str] | None = None, *, parts: bool = False
    ) -> Iterator[tuple[str, pd.DataFrame | TableParts | str]]:
        """Yield ``(name, table)``; a table that cannot be made comes as ``(name, reason)``.

        Without a sessions or visits table, the analyses that need it are
        yielded with the reason instead of a frame, so the caller can say so
        and go on. With ``parts=True``, ``weekly_status`` comes as
        :class:`~casework_analytics.outputs.TableParts`, to be written part by
        part.

        Parameters
        ----------
        names : iterable of str, optional
            The tables to make, in order; default :attr:`names`.
        parts : bool
            Yield ``weekly_status`` in parts (see above).

        Yields
        ------
        name : str
        table : DataFrame, TableParts or str
            The table, or why it cannot be made.
        """
        for name in names or self.names:
            try:
                with self.steps.step(name) as step:
                    if parts and name == "weekly_status":
                        table = self.weekly_parts()
                    else:
                        table = self.table(name)
                    step.rows = len(table)
            except MissingTableError as exc:
                yield name, str(exc)
            else:
                yield name, table
