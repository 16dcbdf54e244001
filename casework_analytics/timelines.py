"""Per-case recovery timelines from monitoring visits (usually weekly urine
screens): the weekly status table and each client's outcomes.

Every definition below is a field of :class:`RecoveryDefinition`; cohort
summaries built on these timelines are in :mod:`casework_analytics.recovery`.

Definitions
-----------
Time origin
    Intake (case opening). Days are counted from the intake day (day 0).
End of observation
    ``as_of``, always an explicit date. Visits after it are ignored; cases
    with intake after it are left out.
Events fall on real days
    Every event happens on the day of the screen or visit that shows it.
    Weeks group screens for counting runs; they never move an event to
    another day.
Weeks
    Week ``k`` of a case covers days ``7k`` to ``7k + 6`` (week 0 starts on
    the intake day). Weeks run from intake to the week that holds ``as_of``.
Weekly status
    From the week's visits: ``positive`` if any attended screen was
    positive; else ``negative`` if any was negative; else ``no_result`` if a
    visit was attended without a valid result (invalid, not done, not
    recorded); else ``missed`` if a recorded visit was not attended; else
    ``unrecorded`` if the week lies inside a loss-to-follow-up gap (below)
    while the client was due for monitoring; else ``not_scheduled``. A
    result on a visit marked not attended is ignored (the loader warns).
    The week's ``day`` is the day of the screen that gives its status: the
    first positive screen, the first negative screen, the first attended
    visit, the first missed visit, or for an unrecorded week the day the
    visit was due (the last attended visit plus whole schedule intervals).
Counted outcome (``missing_as``)
    ``"positive"`` (default, the conservative convention): a missed,
    unrecorded or no-result week counts as positive. ``"ignore"``: such a
    week counts neither way and is skipped. Not-scheduled weeks are skipped
    under both.
Sustained abstinence
    A run of at least ``sustained_weeks`` (default 4) consecutive counted
    negative weeks (skipped weeks do not break a run). It is reached on the
    day of the negative screen that completes the run.
Lapse and relapse
    A counted positive week before sustained abstinence is a lapse. A
    relapse is the first counted positive week after sustained abstinence
    was reached; it happens on that week's day. Someone who never reached
    sustained abstinence cannot relapse.
Due for monitoring
    From intake until the first of ``as_of``, ``monitoring_end_date`` (the
    planned end, when the source records it), the closure date of a case
    whose exit reason ends monitoring (died, incarcerated, moved,
    transferred: ``ends_monitoring`` in the exit taxonomy; an explicit
    ``monitoring_end_date`` overrides it), and intake + ``monitoring_days``
    when that planned length is set.
Dropout (loss to follow-up), whichever rule fires first
    * ``dropout_missed`` (default 2, after Cook et al. 2017) consecutive
      missed recorded visits (not weeks): the dropout day is the day of the
      first missed visit of the first such streak;
    * a gap of more than ``dropout_gap_days`` (default 21) with no attended
      visit while the client is due, between two attended visits or from
      the last attended visit to the end of the due period: the dropout day
      is the last attended visit plus ``schedule_interval_days`` (7) plus
      one. Many agencies record only the visits that happened; this rule
      sees their dropouts too.
    A client who comes back after a dropout stays a dropout (the first one
    counts); ``returned`` and ``return_day`` say when they came back.
    Dropout never depends on ``missing_as``.
Retention
    ``retention_days`` is the day of the last attended visit before any
    dropout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from .closures import case_exits, observed_cases
from .errors import CaseworkError
from .grouping import DateLike, as_as_of
from .keys import positions, take
from .memory import release_unused

__all__ = [
    "WEEK_STATUSES",
    "MISSING_AS",
    "STATUS_AT_AS_OF",
    "RECOVERY_EVENTS",
    "RecoveryDefinition",
    "resolve_definition",
    "Timelines",
    "GRID_CHUNK_ROWS",
    "recovery_timelines",
    "weekly_status",
    "recovery_outcomes",
]

if TYPE_CHECKING:
    from .cohort import Cohort

WEEK_STATUSES = ("negative", "positive", "missed", "no_result", "unrecorded", "not_scheduled")
MISSING_AS = ("positive", "ignore")
STATUS_AT_AS_OF = ("dropped_out", "relapsed", "abstinent", "never_abstinent", "not_monitored")
#: Recovery events with a time and a censoring flag in :func:`recovery_outcomes`.
RECOVERY_EVENTS = ("dropout", "first_positive", "sustained", "relapse")
_NEG, _POS, _MISSED, _NO_RESULT, _UNRECORDED, _NOT_SCHEDULED = range(6)
# Kinds of visit in a week's order of priority: positive, negative, attended
# without a result, missed; and the week status each gives.
_STATUS_OF_KIND = np.array([_POS, _NEG, _NO_RESULT, _MISSED], dtype=np.int8)
_MISSED_KIND = 3


@dataclass(frozen=True)
class RecoveryDefinition:
    """The choices that define every recovery metric, in one frozen object.

    Parameters
    ----------
    missing_as : {"positive", "ignore"}
        How a missed, unrecorded or no-result week counts (default
        ``"positive"``, the conservative convention).
    sustained_weeks : int
        Consecutive counted negative weeks that make sustained abstinence
        (default 4; studies use up to 8).
    dropout_missed : int
        Consecutive missed recorded visits that make a dropout (default 2,
        Cook et al. 2017).
    dropout_gap_days : int
        Days without an attended visit, while due for monitoring, that make
        a dropout (default 21); at least ``schedule_interval_days``.
    schedule_interval_days : int
        Days between scheduled visits (default 7, weekly screens).
    monitoring_days : int, optional
        Planned length of monitoring from intake (e.g. 182 for BNN's six
        months); ``None`` (default) when the plan is not known, so a client
        is due until ``monitoring_end_date`` or ``as_of``.
    retention_days : int
        Horizon of retention (default 90, NIDA's threshold of meaningful
        benefit).
    relapse_horizon_days : int
        Horizon of ``not_relapsed_km``, in days after sustained abstinence
        was reached (default 90).

    Examples
    --------
    >>> RecoveryDefinition(sustained_weeks=8).sustained_weeks
    8
    >>> RecoveryDefinition(missing_as="zero")
    Traceback (most recent call last):
    ...
    casework_analytics.errors.CaseworkError: The value for `missing_as` must be one of \
['positive', 'ignore'], but 'zero' was passed.
    """

    missing_as: str = "positive"
    sustained_weeks: int = 4
    dropout_missed: int = 2
    dropout_gap_days: int = 21
    schedule_interval_days: int = 7
    monitoring_days: int | None = None
    retention_days: int = 90
    relapse_horizon_days: int = 90

    def __post_init__(self) -> None:
        if self.missing_as not in MISSING_AS:
            raise CaseworkError(
                f"The value for `missing_as` must be one of {list(MISSING_AS)}, but "
                f"{self.missing_as!r} was passed."
            )
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "missing_as" or (item.name == "monitoring_days" and value is None):
                continue
            whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
            if not whole or not 1 <= value <= 36_500:
                raise CaseworkError(
                    f"`{item.name}` must be a whole number from 1 to 36500, but {value!r} "
                    "was passed."
                )
        if self.dropout_gap_days < self.schedule_interval_days:
            raise CaseworkError(
                f"`dropout_gap_days` ({self.dropout_gap_days}) must be at least "
                f"`schedule_interval_days` ({self.schedule_interval_days}): a shorter gap "
                "would make every client a dropout between two scheduled visits, dated "
                "after the gap that caused it."
            )

    def replace(self, **changes: Any) -> RecoveryDefinition:
        """A copy with some fields changed (checked again).

        Parameters
        ----------
        **changes
            New values of fields, by name.

        Returns
        -------
        RecoveryDefinition
        """
        return replace(self, **changes)

    def as_dict(self) -> dict:
        """The fields as a plain dict (for manifests and reports).

        Returns
        -------
        dict
            Field name to value.
        """
        return {item.name: getattr(self, item.name) for item in fields(self)}


def resolve_definition(definition: RecoveryDefinition | None) -> RecoveryDefinition:
    """``definition`` or the default one; anything else is refused clearly.

    Parameters
    ----------
    definition : RecoveryDefinition or None

    Returns
    -------
    RecoveryDefinition
    """
    if definition is None:
        return RecoveryDefinition()
    if not isinstance(definition, RecoveryDefinition):
        raise CaseworkError(
            "The value for `definition` must be a RecoveryDefinition (or None for the "
            f"defaults), but {type(definition).__name__} was passed."
        )
    return definition


def _first_per_case(keys: np.ndarray, values: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """``values`` at the first row per case where ``mask`` holds (rows sorted by case)."""
    out = np.full(n, np.nan)
    hit_keys = keys[mask]
    first = np.flatnonzero(_starts(hit_keys))
    out[hit_keys[first]] = np.asarray(values)[mask][first]
    return out


def _last_per_case(
    keys: np.ndarray, values: np.ndarray, mask: np.ndarray | None, n: int
) -> np.ndarray:
    """``values`` at the last row per case where ``mask`` holds (every row if
    ``mask`` is None; rows sorted by case)."""
    out = np.full(n, np.nan)
    hit_keys = keys if mask is None else keys[mask]
    last = np.flatnonzero(np.r_[_starts(hit_keys)[1:], True]) if len(hit_keys) else []
    hit_values = np.asarray(values) if mask is None else np.asarray(values)[mask]
    out[hit_keys[last]] = hit_values[last]
    return out


def _starts(keys: np.ndarray) -> np.ndarray:
    """True on the first row of each case (rows sorted by case)."""
    return np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)


def _max_per_case(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Largest value per case (0 for cases without rows; rows sorted by case)."""
    out = np.zeros(n, dtype=np.int64)
    if len(keys):
        first = np.flatnonzero(_starts(keys))
        out[keys[first]] = np.maximum.reduceat(values, first)
    return out


def _runs(keys: np.ndarray, is_neg: np.ndarray) -> np.ndarray:
    """Length of the run of consecutive True values ending at each row, per case."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    # 32-bit positions where they fit: a national grid has tens of millions of rows.
    position = np.arange(len(keys), dtype=np.int32 if len(keys) < 2**31 else np.int64)
    start = _starts(keys)
    last_reset = np.where(~is_neg | start, position, 0)
    np.maximum.accumulate(last_reset, out=last_reset)
    # A run starting at the first row of a case includes that row.
    last_reset -= is_neg[last_reset] & start[last_reset]
    position -= last_reset
    del last_reset
    position[~is_neg] = 0
    return position


class Timelines(NamedTuple):
    """The weekly grid and per-case outcomes of one cohort, one ``as_of`` and one definition."""

    weekly: pd.DataFrame
    outcomes: pd.DataFrame


#: Rows of the weekly grid built into one frame at a time when it is written in parts.
GRID_CHUNK_ROWS = 1 << 20
_DAY_NS = np.timedelta64(1, "D") // np.timedelta64(1, "ns")
_WEEK_NS = 7 * _DAY_NS


@dataclass
class _Grid:
    """Arrays of the weekly grid (rows sorted by case, then week).

    ``case`` is the row of each week's case in ``case_id``; the other arrays
    are as small as their values allow (the grid of a national cohort has
    tens of millions of rows). :meth:`frame` builds the table of
    :func:`weekly_status`, whole or a slice of rows at a time.
    """

    case_id: pd.Series
    intake: np.ndarray
    case: np.ndarray
    week: np.ndarray
    day: np.ndarray
    last_day: np.ndarray
    n_visits: np.ndarray
    status: np.ndarray
    counted: np.ndarray

    def __len__(self) -> int:
        return len(self.case)

    def frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows ``start`` to ``stop`` of the weekly table (all of them by default)."""
        rows = slice(start, stop)
        case, week = self.case[rows], self.week[rows].astype("int64")
        return pd.DataFrame(
            {
                "case_id": take(self.case_id, case),
                "week": week,
                "week_start": self._week_starts(case, week),
                "day": self.day[rows].astype("int64"),
                "n_visits": self.n_visits[rows].astype("int64"),
                "status": pd.Categorical.from_codes(
                    self.status[rows], categories=list(WEEK_STATUSES)
                ),
                "counted": pd.Categorical.from_codes(
                    self.counted[rows], categories=["negative", "positive"]
                ),
            },
            copy=False,  # every column is a new array: no second copy into one block
        )

    def _week_starts(self, case: np.ndarray, week: np.ndarray) -> np.ndarray:
        """Intake + ``week`` weeks, as datetimes (in nanosecond integers: NumPy's
        week-to-nanosecond conversion is several times slower)."""
        starts = week * _WEEK_NS
        intake = self.intake.view("int64")
        for start in range(0, len(starts), GRID_CHUNK_ROWS):  # no full-size temporary
            part = slice(start, start + GRID_CHUNK_ROWS)
            starts[part] += intake[case[part]]
        return starts.view("datetime64[ns]")

    def chunks(self, rows: int = GRID_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The weekly table in consecutive parts of ``rows`` rows."""
        for start in range(0, max(len(self), 1), rows):
            yield self.frame(start, start + rows)

    def recounted(self, missing_as: str) -> _Grid:
        """The same grid with ``counted`` under another missing-visit convention."""
        return replace(self, counted=_counted(self.status, missing_as))


def _counted(status: np.ndarray, missing_as: str) -> np.ndarray:
    """Counted outcome per week: 0 negative, 1 positive, -1 skipped (see the module)."""
    by_status = np.full(len(WEEK_STATUSES), -1, dtype=np.int8)  # looked up: no temporaries
    by_status[[_NEG, _POS]] = [0, 1]
    if missing_as == "positive":
        by_status[[_MISSED, _NO_RESULT, _UNRECORDED]] = 1
    return by_status[status]


def _due_until(as_of: pd.Timestamp, cases: pd.DataFrame, exits, d: RecoveryDefinition):
    """Per case: the last day (since intake) the client is due for monitoring,
    whether monitoring has ended by ``as_of``, and whether it ended as planned."""
    intake = cases["intake_date"]
    day = np.timedelta64(1, "D")
    as_of_day = ((as_of - intake) / day).to_numpy(dtype=float)
    explicit = ((cases["monitoring_end_date"] - intake) / day).to_numpy(dtype=float)
    ends = exits["ends_monitoring"].fillna(False).to_numpy(dtype=bool)
    closure = np.where(ends, ((exits["closed_date"] - intake) / day).to_numpy(dtype=float), np.nan)
    plan = np.full(len(cases), np.inf if d.monitoring_days is None else d.monitoring_days)
    planned = np.where(np.isnan(explicit), plan, explicit)
    end = np.where(np.isnan(explicit), np.fmin(np.nan_to_num(closure, nan=np.inf), plan), explicit)
    return np.minimum(as_of_day, end), end <= as_of_day, planned <= np.minimum(as_of_day, end)


def _missed_streaks(v_case: np.ndarray, v_day: np.ndarray, missed: np.ndarray, dropout_missed, n):
    """Per case, the day of the first missed visit of its first run of
    ``dropout_missed`` consecutive missed visits (NaN if none)."""
    out = np.full(n, np.nan)
    hit = np.flatnonzero(_runs(v_case, missed) == dropout_missed)  # the run's last visit
    hit_case = v_case[hit]
    first = np.flatnonzero(_starts(hit_case))
    out[hit_case[first]] = v_day[hit[first] - (dropout_missed - 1)]
    return out


def _timeline(cohort, as_of, definition: RecoveryDefinition | None, exits=None):
    release_unused()  # what earlier steps freed, before the largest peak of a run
    d = resolve_definition(definition)
    as_of = as_as_of(as_of)
    visits = cohort.require("visits", "The recovery timeline")
    cases = observed_cases(cohort, as_of)
    exits = case_exits(cohort, as_of) if exits is None else exits
    n = len(cases)
    due_until, monitoring_ended, planned_end = _due_until(as_of, cases, exits, d)
    intake = cases["intake_date"].to_numpy(dtype="datetime64[ns]")

    # Visits of observed cases up to as_of, sorted by case and day (arrays only:
    # the visits table is never copied).
    v_case = positions(visits["case_id"], cases["case_id"])
    date = visits["visit_date"].to_numpy(dtype="datetime64[ns]")
    kept = np.flatnonzero((date <= as_of.to_datetime64()) & (v_case >= 0))
    v_case = v_case[kept].astype(np.int32)
    v_day = date.view(np.int64)[kept]  # in nanoseconds, in place: no temporaries
    v_day -= intake.view(np.int64)[v_case]
    v_day //= _DAY_NS
    v_day = v_day.astype(np.int32)
    del date
    if len(v_day):  # one int64 key (case, then day); most sources come sorted already
        key = v_case.astype(np.int64) * (int(v_day.max()) - int(v_day.min()) + 1) + v_day
        if (key[1:] < key[:-1]).any():
            order = np.argsort(key, kind="stable")
            v_case, v_day, kept = v_case[order], v_day[order], kept[order]
        del key
    attended = visits["attended"].fillna(False).to_numpy(dtype=bool)[kept]
    result = positions(visits["test_result"], pd.Index(["positive", "negative"]))[kept]
    del kept
    positive = attended & (result == 0)
    negative = attended & (result == 1)
    del result
    missed = ~attended

    # Dropout by missed visits: streaks of consecutive missed visits per case.
    by_missed = _missed_streaks(v_case, v_day, missed, d.dropout_missed, n)

    # Dropout by gaps: attended visits more than dropout_gap_days apart while due.
    # A gap runs to the next attended visit of the case (open after its last),
    # cut at the day monitoring is no longer due.
    a_case, a_day = v_case[attended], v_day[attended]
    last_of_case = np.r_[_starts(a_case)[1:], True][: len(a_case)]
    to_next = np.r_[np.diff(a_day), 0][: len(a_day)].astype(np.int32, copy=False)
    to_next[last_of_case] = np.iinfo(np.int32).max
    long_gap = to_next > d.dropout_gap_days
    del to_next
    long_gap &= a_day < (due_until - d.dropout_gap_days)[a_case]
    by_gap = _first_per_case(a_case, a_day, long_gap, n) + (d.schedule_interval_days + 1)
    dropout_day = np.fmin(by_missed, by_gap)
    dropout_rule = np.where(
        np.isnan(dropout_day), None, np.where(by_missed == dropout_day, "missed_visits", "gap")
    )
    before_drop = a_day < np.nan_to_num(dropout_day, nan=np.inf)[a_case]
    retention = _last_per_case(a_case, a_day, before_drop, n)
    return_day = _first_per_case(a_case, a_day, ~before_drop, n)

    # The weekly grid.
    n_weeks = ((as_of - cases["intake_date"]).dt.days // 7 + 1).to_numpy()
    offsets = np.r_[0, np.cumsum(n_weeks)[:-1]] if n else np.zeros(0, dtype=np.int64)
    # (Dates span under 600 years, so weeks fit 16 bits; duplicate visits are
    # rejected, so a week holds at most 7.)
    case = np.repeat(np.arange(n, dtype=np.int32), n_weeks)
    row_type = np.int32 if n_weeks.sum() < 2**31 else np.int64  # rows of the grid
    offsets = offsets.astype(row_type)
    # Week numbers restart at 0 with each case: a running sum of ones that steps
    # back at each case's first row, in 16 bits throughout.
    week = np.ones(int(n_weeks.sum()), dtype=np.int16)
    if n:
        week[offsets[1:]] = 1 - n_weeks[:-1]
        week[0] = 0
        np.cumsum(week, dtype=np.int16, out=week)
    status = np.full(len(week), _NOT_SCHEDULED, dtype=np.int8)
    day = week.astype(np.int32)
    day *= 7
    last_day = day.copy()  # of the last screen of the week's status
    n_visits = np.zeros(len(week), dtype=np.int16)
    row = (v_day // 7).astype(row_type)
    row += offsets[v_case]
    starts = np.flatnonzero(_starts(row))  # the first visit of each visited week
    rows = row[starts]
    del row
    if len(rows):
        # A week's status is the first kind found in it, in this order of priority,
        # seen first (and last) on the day of its smallest (largest) weekday. One
        # minimum per week of kind * 8 + weekday gives both (all in 8 bits).
        kind = np.full(len(v_day), _MISSED_KIND, dtype=np.int8)
        kind[attended], kind[negative], kind[positive] = 2, 1, 0
        weekday = (v_day % 7).astype(np.int8)
        first = np.minimum.reduceat(kind * 8 + weekday, starts)
        last = np.minimum.reduceat(kind * 8 + (6 - weekday), starts)
        del kind, weekday
        status[rows] = _STATUS_OF_KIND[first // 8]
        week_day = day[rows]
        day[rows] = week_day + first % 8
        last_day[rows] = week_day + (6 - last % 8)
        n_visits[rows] = np.diff(np.r_[starts, len(v_day)])
        del first, last, week_day
    del positive, negative, missed, starts, rows
    # Weeks inside a long gap with no visit recorded: due, but nothing happened.
    if long_gap.any():
        g_row = np.flatnonzero(long_gap)
        g_case, g_start = a_case[g_row], a_day[g_row]
        following = a_day[np.minimum(g_row + 1, len(a_day) - 1)].astype(float)
        following[last_of_case[g_row]] = np.inf
        g_last = np.fmin(following - 1, due_until[g_case])
        count = np.floor((g_last - g_start) / d.schedule_interval_days).astype(np.int64)
        step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + 1
        due_day = np.repeat(g_start, count) + step * d.schedule_interval_days
        due_case = np.repeat(g_case, count)
        due_row = offsets[due_case] + (due_day // 7).astype(np.int64)
        empty = status[due_row] == _NOT_SCHEDULED
        due_row, due_day = due_row[empty], due_day[empty]
        # The first due week of each row (due rows come sorted: by case, then day).
        first = np.flatnonzero(_starts(due_row))  # (none if every due week holds a visit)
        status[due_row[first]] = _UNRECORDED
        day[due_row[first]] = last_day[due_row[first]] = due_day[first].astype(np.int32)
    counted = _counted(status, d.missing_as)
    grid = _Grid(cases["case_id"], intake, case, week, day, last_day, n_visits, status, counted)
    visit_summary = {
        "v_case": v_case,
        "v_day": v_day,
        "attended": attended,
        "dropout_day": dropout_day,
        "dropout_rule": dropout_rule,
        "retention": retention,
        "return_day": return_day,
        "monitoring_ended": monitoring_ended,
        "planned_end": planned_end,
    }
    return d, cases, grid, visit_summary


def _int(values) -> pd.arrays.IntegerArray:
    """Whole days as nullable integers (NaN -> NA)."""
    return pd.array(np.asarray(values, dtype="float64"), dtype="Float64").astype("Int64")


def _outcomes(d: RecoveryDefinition, cases: pd.DataFrame, grid: _Grid, visits: dict):
    n = len(cases)
    key, status = grid.case, grid.status
    k = len(WEEK_STATUSES)
    combined = key * np.int32(k)
    combined += status
    counts = np.bincount(combined, minlength=n * k).reshape(n, k)
    del combined
    v_case = visits["v_case"]
    scheduled = np.bincount(v_case, minlength=n)
    attended = np.bincount(v_case[visits["attended"]], minlength=n)
    last_visit = _last_per_case(v_case, visits["v_day"], None, n)

    # Runs of negatives over the counted weeks.
    has_count = grid.counted >= 0
    c_key, c_day, c_week = key[has_count], grid.day[has_count], grid.week[has_count]
    is_neg = grid.counted[has_count] == 0
    run = _runs(c_key, is_neg)
    longest = _max_per_case(c_key, run, n)
    reached = run == d.sustained_weeks
    sustained_day = _first_per_case(c_key, c_day, reached, n)
    sustained_week = _first_per_case(c_key, c_week, reached, n)
    after = (
        c_week > np.nan_to_num(sustained_week, nan=np.iinfo(np.int32).max).astype(np.int32)[c_key]
    )
    relapse_day = _first_per_case(c_key, c_day, ~is_neg & after, n)
    first_neg = _first_per_case(c_key, c_day, is_neg, n)
    first_pos = _first_per_case(c_key, c_day, ~is_neg, n)
    lapses = np.bincount(c_key[~is_neg & ~after], minlength=n)
    last_counted = _last_per_case(c_key, grid.last_day[has_count], None, n)

    dropout_day = visits["dropout_day"]
    monitored = scheduled > 0
    dropped, relapsed = ~np.isnan(dropout_day), ~np.isnan(relapse_day)
    sustained = ~np.isnan(sustained_day)
    state = np.select(  # codes of STATUS_AT_AS_OF
        [~monitored, dropped, relapsed, sustained], [4, 0, 1, 2], 3
    ).astype(np.int8)
    out = pd.DataFrame(
        {
            "case_id": cases["case_id"],
            "monitored": monitored,
            "follow_up_days": np.nan_to_num(last_visit).astype("int64"),
            "visits_scheduled": scheduled.astype("int64"),
            "visits_attended": attended.astype("int64"),
            "weeks_negative": counts[:, _NEG],
            "weeks_positive": counts[:, _POS],
            "weeks_missed": counts[:, _MISSED],
            "weeks_no_result": counts[:, _NO_RESULT],
            "weeks_unrecorded": counts[:, _UNRECORDED],
            "first_negative_day": _int(first_neg),
            "first_positive_day": _int(first_pos),
            "longest_negative_run": longest,
            "sustained": sustained,
            "sustained_day": _int(sustained_day),
            "n_lapses": lapses.astype("int64"),
            "relapsed": relapsed,
            "relapse_day": _int(relapse_day),
            "dropped_out": dropped,
            "dropout_day": _int(dropout_day),
            "dropout_rule": pd.array(visits["dropout_rule"], dtype="string"),
            "returned": ~np.isnan(visits["return_day"]),
            "return_day": _int(visits["return_day"]),
            "retention_days": _int(visits["retention"]),
            "monitoring_ended": visits["monitoring_ended"] & monitored,
            "monitoring_completed": visits["planned_end"] & monitored & ~dropped,
            "status": pd.Categorical.from_codes(state, categories=list(STATUS_AT_AS_OF)),
        }
    )
    # Each event: (event day, censoring day, time origin); times are days from the origin.
    zero = np.zeros(n)
    events = {
        "dropout": (dropout_day, last_visit, zero),
        "first_positive": (first_pos, last_counted, zero),
        "sustained": (sustained_day, last_counted, zero),
        "relapse": (relapse_day, last_counted, sustained_day),
    }
    for name, (event_day, censor_day, origin) in events.items():
        time = np.where(np.isnan(event_day), censor_day, event_day) - origin
        out[f"{name}_time"] = _int(np.where(monitored, time, np.nan))
        unknown = ~(monitored & ~np.isnan(time))
        out[f"{name}_observed"] = pd.arrays.BooleanArray(~np.isnan(event_day), unknown)
    return out


def recovery_timelines(
    cohort: Cohort, as_of: DateLike, *, definition: RecoveryDefinition | None = None
) -> Timelines:
    """The weekly grid and the per-case outcomes, computed together once.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    definition : RecoveryDefinition, optional
        The definitions in force (defaults when omitted).

    Returns
    -------
    Timelines
        A named pair ``(weekly, outcomes)``: the tables of
        :func:`weekly_status` and :func:`recovery_outcomes`.

    Raises
    ------
    MissingTableError
        If the source had no visits table.
    """
    d, cases, grid, visits = _timeline(cohort, as_of, definition)
    return Timelines(grid.frame(), _outcomes(d, cases, grid, visits))


def weekly_status(
    cohort: Cohort, as_of: DateLike, *, definition: RecoveryDefinition | None = None
) -> pd.DataFrame:
    """One row per case per week from intake to ``as_of``.

    Definitions are in the module docstring. Time origin: intake. End of
    observation: ``as_of`` (visits after it are ignored; cases with intake
    after it are left out).

    Parameters
    ----------
    cohort : Cohort
    as_of : date
    definition : RecoveryDefinition, optional
        ``missing_as`` sets ``counted``; the gap rule sets ``unrecorded``.

    Returns
    -------
    DataFrame
        ``case_id``, ``week`` (0 = the intake week), ``week_start`` (date),
        ``day`` (days since intake of the screen that gives the status; the
        week's first day for a not-scheduled week), ``n_visits`` (recorded
        visits in the week), ``status`` (categorical: negative, positive,
        missed, no_result, unrecorded, not_scheduled), ``counted``
        (``"negative"``, ``"positive"`` or missing, after ``missing_as``).

    Raises
    ------
    MissingTableError
        If the source had no visits table.
    """
    _, _, grid, _ = _timeline(cohort, as_of, definition)
    return grid.frame()


def recovery_outcomes(
    cohort: Cohort, as_of: DateLike, *, definition: RecoveryDefinition | None = None
) -> pd.DataFrame:
    """One row per case: monitoring, abstinence, relapse and dropout by ``as_of``.

    Definitions are in the module docstring. Time origin: intake. End of
    observation: ``as_of``. Days are whole days since intake.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    definition : RecoveryDefinition, optional
        The definitions in force (defaults when omitted).

    Returns
    -------
    DataFrame
        ``case_id``; ``monitored`` (at least one visit recorded by as_of);
        ``follow_up_days`` (intake to the last recorded visit; 0 if none);
        ``visits_scheduled``, ``visits_attended`` (recorded visits);
        ``weeks_negative``, ``weeks_positive``, ``weeks_missed``,
        ``weeks_no_result``, ``weeks_unrecorded`` (weekly statuses);
        ``first_negative_day``, ``first_positive_day`` (counted outcomes);
        ``longest_negative_run`` (weeks); ``sustained``, ``sustained_day``;
        ``n_lapses`` (counted positive weeks before sustained abstinence, or
        all of them if never reached); ``relapsed``, ``relapse_day``;
        ``dropped_out``, ``dropout_day``, ``dropout_rule``
        (``missed_visits`` or ``gap``); ``returned``, ``return_day`` (first
        attended visit after the dropout); ``retention_days``;
        ``monitoring_ended`` (the due period ended by as_of, as planned or by
        a closure that ends monitoring); ``monitoring_completed`` (it ended
        as planned, by ``monitoring_end_date`` or ``monitoring_days``, with
        no dropout); ``status``
        (the first that applies: not_monitored, dropped_out, relapsed,
        abstinent, never_abstinent); and for each event ``e`` in dropout,
        first_positive, sustained, relapse: ``<e>_time`` (days) and
        ``<e>_observed`` (bool).

    Notes
    -----
    Time origins and censoring (``<e>_observed`` False):

    * dropout: from intake; censored at the last recorded visit.
    * first_positive, sustained: from intake; censored on the day of the
      last screen of the last counted week (the last negative screen of a
      negative week; under ``missing_as="ignore"`` trailing missed weeks
      are not observation time).
    * relapse: from the day sustained abstinence was reached, only for
      clients who reached it (missing for the others: they cannot
      relapse); censored as first_positive.

    Clients never monitored have missing times and are left out of every
    survival estimate.

    Examples
    --------
    >>> import casework_analytics as ca
    >>> example = ca.load("data/example")
    >>> o = recovery_outcomes(example, "2024-10-31").iloc[0]
    >>> o["status"], int(o["sustained_day"]), bool(o["dropped_out"])
    ('relapsed', 35, False)
    """
    d, cases, grid, visits = _timeline(cohort, as_of, definition)
    return _outcomes(d, cases, grid, visits)
