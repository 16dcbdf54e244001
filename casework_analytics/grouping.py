"""The ``by=`` convention shared by every cohort analysis.

``by`` names one or more columns of the cases table or of the placements
table (joined on ``placement_id``): ``by="site"``, ``by=["site", "term"]``,
``by="placement_id"``, ``by="caseworker_id"``; or it is a frame of group
labels per case (``case_id`` plus group columns), as
:func:`casework_analytics.privacy.fold_small_groups` makes. ``None`` means
the whole cohort. Group columns are returned as text, first, in the order
given; a missing group value becomes ``"(missing)"`` so that no case drops
out of a grouped result. With ``overall=True`` the grouped result is
followed by the whole-cohort rows, whose group columns read ``"All"``; a
real group named ``All`` (or ``Other``, the label of folded small groups)
is renamed ``"All [site]"`` so it can never be mistaken for ours. Columns
that single out cases (``case_id``, ``client_id``, dates, free text, age)
are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from .errors import CaseworkError
from .keys import positions, take

__all__ = [
    "DateLike",
    "GroupBy",
    "OVERALL",
    "MISSING_GROUP",
    "as_as_of",
    "group_columns",
    "PER_CASE_COLUMNS",
    "RESERVED_LABELS",
    "case_groups",
    "group_key",
    "attach_groups",
    "with_overall",
    "check_as_of",
    "renamed_groups",
]

if TYPE_CHECKING:
    from .cohort import Cohort

OVERALL = "All"
MISSING_GROUP = "(missing)"

#: A date as the analyses accept it (``as_of``, cut-offs): ``"2025-04-15"``,
#: a :class:`datetime.date` or a :class:`pandas.Timestamp`.
DateLike = str | dt.date | pd.Timestamp
#: The ``by=`` argument: a column name, a list of them, a frame of group labels
#: per case (``case_id`` plus group columns) or ``None`` for the whole cohort.
GroupBy = str | Sequence[str] | pd.DataFrame | None


def as_as_of(as_of: DateLike) -> pd.Timestamp:
    """Validate the explicit end-of-observation date.

    Parameters
    ----------
    as_of : str, date or Timestamp
        End of observation; text must be written ``YYYY-MM-DD``.

    Returns
    -------
    Timestamp
        The date at midnight, in nanoseconds.
    """
    if as_of is None:
        raise CaseworkError(
            "`as_of` (the end of observation) is required; pass a date such as '2025-04-15'. "
            "It is never taken from today's clock."
        )
    if isinstance(as_of, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", as_of.strip()):
        raise CaseworkError(
            f"The value for `as_of` must be a date written YYYY-MM-DD, but {as_of!r} was passed."
        )
    try:
        stamp = pd.Timestamp(as_of)
    except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise CaseworkError(
            f"The value for `as_of` must be a date such as '2025-04-15', but {as_of!r} was passed."
        ) from None
    if pd.isna(stamp):
        raise CaseworkError(f"The value for `as_of` must be a date, but {as_of!r} was passed.")
    try:
        return stamp.as_unit("ns").normalize()
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise CaseworkError(
            f"The value for `as_of` must be a date from 1678 to 2261, but {as_of!r} was passed."
        ) from None


def group_columns(by: GroupBy) -> list[str]:
    """``by`` as a list of column names.

    Parameters
    ----------
    by : str, list of str, DataFrame or None
        As in :func:`case_groups`.

    Returns
    -------
    list of str
        The group columns (without ``case_id`` for a frame); empty for ``None``.
    """
    if by is None:
        return []
    if isinstance(by, pd.DataFrame):
        return [c for c in by.columns if c != "case_id"]
    if isinstance(by, str):
        return [by]
    if isinstance(by, Sequence):
        return list(by)
    raise CaseworkError(f"The value for `by` must be a column name or a list of them; got {by!r}.")


#: Columns that single out cases or people: grouping by them makes one group per case.
PER_CASE_COLUMNS = (
    "case_id",
    "client_id",
    "intake_date",
    "closed_date",
    "monitoring_end_date",
    "closure_reason",
    "closure_note",
    "age_at_intake",
)
#: Labels this package writes itself; a real group with such a name is renamed.
RESERVED_LABELS = (OVERALL, "Other")


def case_groups(cohort: Cohort, by: GroupBy) -> tuple[pd.DataFrame, list[str]]:
    """``case_id`` and the group columns for every case, as text.

    Parameters
    ----------
    cohort : Cohort
    by : str, list of str, DataFrame or None
        Column names of cases or placements, or a frame of ready-made group
        labels with a ``case_id`` column and one column per grouping (as
        :func:`casework_analytics.privacy.fold_small_groups` returns).

    Returns
    -------
    groups : DataFrame
        ``case_id`` and the group columns, one row per case of the cohort.
        A missing value is ``"(missing)"``; a real group named ``All`` or
        ``Other`` (labels this package writes itself) becomes
        ``"All [site]"`` or ``"Other [site]"``.
    cols : list of str

    Raises
    ------
    CaseworkError
        If a ``by`` column is neither a case nor a placement column, or is a
        column that singles out cases (``case_id``, ``client_id``, dates,
        free text, age): grouping by it would make one group per case.
    """
    if isinstance(by, pd.DataFrame):
        cols = [c for c in by.columns if c != "case_id"]
        if "case_id" not in by.columns or not cols:
            raise CaseworkError(
                "A frame passed as `by` needs a case_id column and at least one group column; "
                f"it has {list(by.columns)}."
            )
        where = positions(cohort.cases["case_id"], by["case_id"])
        groups = cohort.cases[["case_id"]].copy()
        for column in cols:
            values = take(by[column], where).astype("string")
            groups[column] = values.fillna(MISSING_GROUP).to_numpy()
        return groups, cols
    cols = group_columns(by)
    attributes = cohort.case_attributes()
    per_case = [c for c in cols if c in PER_CASE_COLUMNS]
    if per_case:
        allowed = sorted(c for c in attributes.columns if c not in PER_CASE_COLUMNS)
        raise CaseworkError(
            f"The value for `by` cannot be {per_case}: such a column singles out cases, so "
            f"every group would hold one case. Group by one of {allowed}."
        )
    unknown = [c for c in cols if c not in attributes.columns]
    if unknown:
        raise CaseworkError(
            f"The value for `by` must name columns of cases or placements "
            f"{sorted(attributes.columns)}, but {unknown} was passed."
        )
    groups = attributes[["case_id"]].copy()
    for column in cols:
        values = attributes[column].astype("string").fillna(MISSING_GROUP)
        reserved = values.isin(RESERVED_LABELS)
        groups[column] = values.mask(reserved, values + f" [{column}]")
    return groups, cols


def group_key(frame: pd.DataFrame, cols: list[str], sep: str = " / ") -> pd.Series:
    """One text label per row joining the values of ``cols`` (``""`` without columns).

    Parameters
    ----------
    frame : DataFrame
    cols : list of str
        Group columns of ``frame``.
    sep : str
        Put between the values of two columns.

    Returns
    -------
    Series
        The labels, on the index of ``frame``.
    """
    if not cols:
        return pd.Series("", index=frame.index, dtype=object)
    key = frame[cols[0]].astype(str)
    for column in cols[1:]:
        key = key + sep + frame[column].astype(str)
    return key


def attach_groups(frame: pd.DataFrame, groups: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Add the group columns to a per-case ``frame`` (replacing same-named columns).

    As an inner merge on ``case_id``: rows of cases without a group are left
    out, the order of ``frame`` is kept, and the index is a new range.

    Parameters
    ----------
    frame : DataFrame
        One row per case, with ``case_id``.
    groups, cols
        As :func:`case_groups` returns them.

    Returns
    -------
    DataFrame
        ``frame`` with the group columns, for the cases found in ``groups``.
    """
    where = positions(frame["case_id"], groups["case_id"])
    out = frame.drop(columns=[c for c in cols if c in frame.columns])
    found = where >= 0
    if not found.all():
        out, where = out[found], where[found]
    out = out.reset_index(drop=True)
    for column in cols:
        out[column] = groups[column].array.take(where)
    return out


def with_overall(
    per_case: pd.DataFrame,
    cols: list[str],
    summarise: Callable[[pd.DataFrame, list[str]], pd.DataFrame],
    overall: bool = True,
) -> pd.DataFrame:
    """Apply ``summarise(frame, group_cols)`` per group and, if asked, to the whole cohort.

    ``summarise`` must use grouped operations on the given columns; for the
    overall rows it is called with a constant group column per ``by`` column.

    Parameters
    ----------
    per_case : DataFrame
        One row per case, with the group columns attached.
    cols : list of str
        Group columns; none means the whole cohort only.
    summarise : callable
        ``summarise(frame, group_cols)`` returning one row per group.
    overall : bool
        Follow the grouped rows with the whole-cohort rows (group columns
        ``"All"``).

    Returns
    -------
    DataFrame
        The grouped rows, then the whole-cohort rows if asked.
    """
    if not cols:
        return summarise(per_case.assign(_all=OVERALL), ["_all"]).drop(columns="_all")
    grouped = summarise(per_case, cols)
    if not overall:
        return grouped.reset_index(drop=True)
    whole = summarise(per_case.assign(**{c: OVERALL for c in cols}), cols)
    return pd.concat([grouped, whole], ignore_index=True)


def check_as_of(cohort: Cohort, as_of: DateLike) -> None:
    """Refuse an end of observation before every intake, and a cohort with no case.

    Either way there is nothing to analyse; the commands and the report check
    this before any work.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation.

    Raises
    ------
    CaseworkError
        If ``as_of`` is before every intake (the message names the first
        intake), or if the cohort has no accepted case.
    """
    as_of = as_as_of(as_of)
    if not len(cohort.cases):
        raise CaseworkError("The source has no accepted case; see `casework-analytics validate`.")
    first = cohort.cases["intake_date"].min()
    if first > as_of:
        raise CaseworkError(
            f"--as-of {as_of.date()} is before every intake (the first is {first.date()}); "
            "give a later end of observation."
        )


def renamed_groups(cohort: Cohort, by: GroupBy) -> list[str]:
    """A note for each real group renamed because its name is a label this tool writes.

    Parameters
    ----------
    cohort : Cohort
    by : str, list of str or None
        The grouping columns (a frame of ready-made labels has none to rename).

    Returns
    -------
    list of str
        One sentence per renamed group, e.g. "Note: the site named 'All' is
        shown as 'All [site]': 'All' is this tool's label for the whole
        cohort." (see :func:`case_groups`).
    """
    if by is None or isinstance(by, pd.DataFrame):
        return []
    attributes = cohort.case_attributes()
    notes = []
    for column in group_columns(by):
        if column not in attributes:
            continue  # refused with its own message
        values = attributes[column].astype("string")
        for label in sorted(values[values.isin(RESERVED_LABELS)].unique()):
            meaning = "the whole cohort" if label == OVERALL else "small groups folded together"
            notes.append(
                f"Note: the {column} named '{label}' is shown as '{label} [{column}]': "
                f"'{label}' is this tool's label for {meaning}."
            )
    return notes
