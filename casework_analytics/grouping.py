"""The ``by=`` convention shared by every cohort analysis.

``by`` names one or more columns of the cases table or of the placements
table (joined on ``placement_id``): ``by="site"``, ``by=["site", "term"]``,
``by="placement_id"``, ``by="caseworker_id"``. ``None`` means the whole
cohort. Group columns are returned as text, first, in the order given; a
missing group value becomes ``"(missing)"`` so that no case drops out of a
grouped result. With ``overall=True`` the grouped result is followed by the
whole-cohort rows, whose group columns read ``"All"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

from .errors import CaseworkError

OVERALL = "All"
MISSING_GROUP = "(missing)"


def as_as_of(as_of) -> pd.Timestamp:
    """Validate the explicit end-of-observation date."""
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
    except (TypeError, ValueError):
        raise CaseworkError(
            f"The value for `as_of` must be a date such as '2025-04-15', but {as_of!r} was passed."
        ) from None
    if pd.isna(stamp):
        raise CaseworkError(f"The value for `as_of` must be a date, but {as_of!r} was passed.")
    return stamp.normalize()


def group_columns(by) -> list[str]:
    """``by`` as a list of column names."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    if isinstance(by, Sequence):
        return list(by)
    raise CaseworkError(f"The value for `by` must be a column name or a list of them; got {by!r}.")


def case_groups(cohort, by) -> tuple[pd.DataFrame, list[str]]:
    """``case_id`` and the group columns for every case, as text.

    Raises
    ------
    CaseworkError
        If a ``by`` column is neither a case nor a placement column.
    """
    cols = group_columns(by)
    attributes = cohort.case_attributes()
    unknown = [c for c in cols if c not in attributes.columns]
    if unknown:
        raise CaseworkError(
            f"The value for `by` must name columns of cases or placements "
            f"{sorted(attributes.columns)}, but {unknown} was passed."
        )
    groups = attributes[["case_id"]].copy()
    for column in cols:
        groups[column] = attributes[column].astype("string").fillna(MISSING_GROUP)
    overrides = getattr(cohort, "group_overrides", None)
    if overrides is not None and cols and set(cols) <= set(overrides.columns):
        replaced = overrides.set_index("case_id")[cols].reindex(groups["case_id"])
        for column in cols:
            groups[column] = replaced[column].astype("string").to_numpy()
    return groups, cols


def group_key(frame: pd.DataFrame, cols: list[str], sep: str = " / ") -> pd.Series:
    """One text label per row joining the values of ``cols`` (``""`` without columns)."""
    if not cols:
        return pd.Series("", index=frame.index, dtype=object)
    key = frame[cols[0]].astype(str)
    for column in cols[1:]:
        key = key + sep + frame[column].astype(str)
    return key


def attach_groups(frame: pd.DataFrame, groups: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Add the group columns to a per-case ``frame`` (replacing same-named columns)."""
    return frame.drop(columns=[c for c in cols if c in frame.columns]).merge(groups, on="case_id")


def with_overall(
    per_case: pd.DataFrame,
    cols: list[str],
    summarise: Callable[[pd.DataFrame, list[str]], pd.DataFrame],
    overall: bool = True,
) -> pd.DataFrame:
    """Apply ``summarise(frame, group_cols)`` per group and, if asked, to the whole cohort.

    ``summarise`` must use grouped operations on the given columns; for the
    overall rows it is called with a constant group column per ``by`` column.
    """
    if not cols:
        return summarise(per_case.assign(_all=OVERALL), ["_all"]).drop(columns="_all")
    grouped = summarise(per_case, cols)
    if not overall:
        return grouped.reset_index(drop=True)
    whole = summarise(per_case.assign(**{c: OVERALL for c in cols}), cols)
    return pd.concat([grouped, whole], ignore_index=True)
