"""Turning raw source values into typed columns, reporting what cannot be read.

Parsing never drops a row. A value that cannot be read becomes missing and
is reported as a problem (see :mod:`casework_analytics.problems`); the row's
fate (accepted or rejected) is decided later, in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable

import numpy as np
import pandas as pd

from .errors import SourceError
from .problems import ProblemLog
from .schemas import TableSpec
from .stage_models import StageModel
from .vocabulary import (
    column_aliases,
    map_labels,
    normalise_header,
    normalise_label,
    value_aliases,
)

__all__ = [
    "DATE_DTYPE",
    "FIRST_DATE",
    "LAST_DATE",
    "DATE_RANGE_TEXT",
    "to_text",
    "parse_dates",
    "parse_booleans",
    "parse_numbers",
    "parse_vocabulary",
    "canonical_names",
    "canonical_headers",
    "parse_table",
]

_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
_ISO = r"(?P<y>\d{4,})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _TIME
_DAY_FIRST = r"(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})"
DATE_DTYPE = "datetime64[ns]"

#: The dates a ``datetime64[ns]`` column can hold, as whole days.
FIRST_DATE = np.datetime64("1677-09-22", "D")
LAST_DATE = np.datetime64("2262-04-11", "D")
DATE_RANGE_TEXT = f"{FIRST_DATE} to {LAST_DATE}"

_MAX_EXACT_FLOAT = 2.0**53


def to_text(values: pd.Series) -> pd.Series:
    """Trimmed nullable text; whole floats (Excel IDs such as ``101.0``) lose ``.0``.

    Only finite whole floats below 2**53 (exact integers) lose the ``.0``;
    ``inf``, ``nan`` text and huge numbers keep their float form.

    Parameters
    ----------
    values : Series

    Returns
    -------
    Series of string
        Missing where a value is missing or blank.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(numbers) & (np.abs(numbers) < _MAX_EXACT_FLOAT)
            whole &= numbers == np.floor(np.where(whole, numbers, 0.0))
        text = values.astype("string")
        if whole.any():
            ints = pd.Series(numbers[whole].astype("int64"), index=values.index[whole])
            text[whole] = ints.astype("string")
    elif values.dtype == object and values.isna().all():  # an empty free-text column
        return pd.Series(pd.NA, index=values.index, dtype="string", name=values.name)
    else:
        text = values.astype("string")
    stripped = text.str.strip()
    if stripped.array.equals(text.array):  # nothing to trim: share the source's memory
        stripped = text
    blank = stripped == ""
    return stripped.mask(blank) if blank.any() else stripped


def _days_from_text(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days (``datetime64[D]``) of date texts (few distinct values, as a rule).

    Returns the days, where a text is not a date, and where it is a real
    date past year 9999 (which no ``datetime.date`` holds).
    """
    parts = text.str.extract(f"^{_ISO}$")
    day_first = text.str.extract(f"^{_DAY_FIRST}$")
    parts = parts.fillna(day_first)
    key = parts["y"] + "-" + parts["m"] + "-" + parts["d"]
    codes, triples = pd.factorize(key)
    days = np.full(len(triples) + 1, np.datetime64("NaT"), dtype="datetime64[D]")
    beyond = np.zeros(len(triples) + 1, dtype=bool)
    for i, triple in enumerate(triples):  # one per distinct calendar date
        year, month, day = (int(x) for x in triple.split("-"))
        try:
            if year > 9999:  # checked against a year with the same February
                leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
                dt.date(2000 if leap else 2001, month, day)
                beyond[i] = True
            else:
                days[i] = np.datetime64(dt.date(year, month, day), "D")
        except ValueError:  # 31 February, month 13, year 0
            pass
    found, beyond = days[codes], beyond[codes]
    return found, text.notna().to_numpy() & np.isnat(found) & ~beyond, beyond


def _day_of(value) -> np.datetime64 | None:
    """The calendar day of a native date value (Excel, Parquet, database), or None."""
    if value is pd.NaT:
        return np.datetime64("NaT", "D")
    if isinstance(value, dt.datetime):
        return np.datetime64(value.date(), "D")
    if isinstance(value, dt.date):
        return np.datetime64(value, "D")
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]")
    return None


def _arrow_days(values: pd.Series) -> np.ndarray:
    """Days (``datetime64[D]``) of an Arrow date or timestamp column, at any year.

    A timestamp with a time zone counts by its local day, as a naive one does.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(values.array)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        array = pc.local_timestamp(array)
    days = array.cast(pa.date32()).to_numpy(zero_copy_only=False)
    return days.astype("datetime64[D]")


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse ISO (``2024-03-18``) and day-first (``18/03/2024``) dates.

    Day-first is the only slash form accepted: ``03/18/2024`` is not a date
    (there is no 18th month), so month-first is never guessed. A time after
    an ISO date (with or without a UTC offset) is dropped. Excel, Parquet and
    database date values are taken as they are (their calendar day). Each
    distinct value is read once.

    Parameters
    ----------
    values : Series
        Text, or date values of a typed source.

    Returns
    -------
    dates : Series of datetime64[ns]
    unreadable : Series of bool
        True where a value was present but is not a valid date.
    out_of_range : Series of bool
        True where a value is a real date that ``datetime64[ns]`` cannot
        hold: before ``FIRST_DATE`` (1677-09-22) or after ``LAST_DATE``
        (2262-04-11), such as the placeholder ``9999-12-31``. Such dates are
        missing in ``dates``.
    """
    index = values.index
    if isinstance(values.dtype, pd.ArrowDtype) and pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        days = _arrow_days(values)
        unreadable = beyond = np.zeros(len(values), dtype=bool)
    elif pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        days = values.to_numpy().astype("datetime64[D]")
        unreadable = beyond = np.zeros(len(values), dtype=bool)
    else:
        try:
            codes, uniques = pd.factorize(values)
        except TypeError:  # unhashable cells (lists, dicts): read their text
            codes, uniques = pd.factorize(to_text(values))
        distinct = pd.Series(uniques, dtype=object)
        days_u = np.full(len(distinct) + 1, np.datetime64("NaT"), dtype="datetime64[D]")
        bad_u = np.zeros(len(distinct) + 1, dtype=bool)
        beyond_u = np.zeros(len(distinct) + 1, dtype=bool)
        native = distinct.map(lambda v: _day_of(v) is not None).to_numpy(dtype=bool)
        if native.any():
            days_u[: len(distinct)][native] = [_day_of(v) for v in distinct[native]]
        if (~native).any():
            text = to_text(distinct[~native].reset_index(drop=True))
            text_days, text_bad, text_beyond = _days_from_text(text)
            days_u[: len(distinct)][~native] = text_days
            bad_u[: len(distinct)][~native] = text_bad
            beyond_u[: len(distinct)][~native] = text_beyond
        days, unreadable, beyond = days_u[codes], bad_u[codes], beyond_u[codes]
    present = ~np.isnat(days)
    in_range = present & (days >= FIRST_DATE) & (days <= LAST_DATE)
    dates = np.where(in_range, days, np.datetime64("NaT", "D")).astype(DATE_DTYPE)
    return (
        pd.Series(dates, index=index, dtype=DATE_DTYPE),
        pd.Series(unreadable, index=index),
        pd.Series((present & ~in_range) | beyond, index=index),
    )


def parse_booleans(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse ya/tidak, yes/no, true/false, 1/0 (any case) into nullable booleans.

    Parameters
    ----------
    values : Series

    Returns
    -------
    parsed : Series of boolean
        Missing where a value is missing or unreadable.
    unreadable : Series of bool
        A value was given but is not a boolean.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    text = normalise_label(to_text(values).str.replace(r"\.0$", "", regex=True))
    mapped = text.map(value_aliases()["boolean"]).map({"true": True, "false": False})
    parsed = mapped.astype("boolean")
    return parsed, text.notna() & parsed.isna()


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse decimal numbers; a comma decimal separator (``12,5``) is accepted.

    Parameters
    ----------
    values : Series

    Returns
    -------
    parsed : Series of float64
        Missing where a value is missing or unreadable.
    unreadable : Series of bool
        A value was given but is not a number.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), pd.Series(False, index=values.index)
    text = to_text(values).str.replace(",", ".", regex=False)
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    return parsed, text.notna() & parsed.isna()


def parse_vocabulary(values: pd.Series, field: str) -> pd.Series:
    """Map aliases to controlled values (:func:`~casework_analytics.vocabulary.map_labels`);
    unknown values are kept for the schema to report.

    Parameters
    ----------
    values : Series
    field : str
        The controlled field (a key of
        :func:`~casework_analytics.vocabulary.value_aliases`).

    Returns
    -------
    Series
        The controlled values, and the unknown values as given.
    """
    text = to_text(values)
    codes, uniques = pd.factorize(text)
    distinct = pd.Series(uniques, dtype="string")
    mapped = map_labels(distinct, value_aliases()[field]).fillna(distinct)
    if mapped.array.equals(distinct.array):  # already the controlled values
        return text
    # Taken from the few distinct values by code: no Python string per row.
    mapped = mapped.array.take(codes, allow_fill=True)
    return pd.Series(mapped, index=values.index, dtype="string")


def canonical_names(
    headers: Iterable[Hashable], spec: TableSpec, extra_aliases: dict[str, str] | None = None
) -> list[str]:
    """The canonical column name of each header, in order.

    A header that is empty (or only punctuation) is named ``unnamed_<n>``
    after its 1-based position.

    Parameters
    ----------
    headers : iterable
        The headers as written.
    spec : TableSpec
        The table of the data contract.
    extra_aliases : dict, optional
        More aliases ``{normalised header: column}``, tried before the shipped ones.

    Returns
    -------
    list of str
    """
    aliases = {**column_aliases().get(spec.name, {}), **(extra_aliases or {})}
    names = []
    for position, header in enumerate(headers, start=1):
        key = normalise_header(header) or f"unnamed_{position}"
        names.append(aliases.get(key, key))
    return names


def canonical_headers(
    raw: pd.DataFrame, spec: TableSpec, extra_aliases: dict[str, str] | None = None
) -> pd.DataFrame:
    """Rename raw headers to canonical columns, raising if the table is unusable.

    Headers are compared by position, so a header written twice (which
    pandas would silently rename ``closed_date.1``) is caught like two
    aliases of one column.

    Parameters
    ----------
    raw : DataFrame
        The table as read.
    spec, extra_aliases
        As in :func:`canonical_names`.

    Returns
    -------
    DataFrame
        ``raw`` with canonical column names.
    """
    names = canonical_names(raw.columns, spec, extra_aliases)
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names):
        positions.setdefault(name, []).append(position)
    clashes = {name: found for name, found in positions.items() if len(found) > 1}
    if clashes:
        described = "; ".join(
            f"{name}: " + " and ".join(f"{str(raw.columns[i])!r} (column {i + 1})" for i in found)
            for name, found in clashes.items()
        )
        raise SourceError(
            f"In the {spec.name} table, several headers mean the same column ({described}). "
            "Keep one of each."
        )
    frame = raw.set_axis(names, axis=1)
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise SourceError(
            f"The {spec.name} table lacks required column(s) {missing}; its headers are "
            f"{[str(c) for c in raw.columns]}. See docs/data-contract.md for the accepted names."
        )
    return frame


def _consequence(rule: str, severity: str) -> str:
    """What happens to a value a reader flagged, once its column decided the severity."""
    if severity == "error":
        return " The row was rejected."
    if rule == "encoding_error":
        return " The bytes were replaced by U+FFFD; the row is kept."
    return " The value was cleared; the row is kept."


def _log_read_problems(read_problems, frame, spec, case_ids, log) -> dict:
    """Log problems a reader found (see :mod:`casework_analytics.sources`).

    A problem without a severity is an error in a required column and a
    warning elsewhere. Returns ``{column or None: rows}`` already reported,
    so that parsing does not report those cells again (``None``: whole rows
    rejected as malformed).
    """
    if read_problems is None or not len(read_problems):
        return {}
    problems = read_problems.reset_index(drop=True)
    columns = pd.Series(
        [frame.columns[int(p)] if pd.notna(p) else None for p in problems["position"]],
        dtype=object,
    )
    by_column = problems["severity"].isna()
    required = columns.isin(list(spec.required))
    severity = (
        problems["severity"].astype(object).mask(by_column, np.where(required, "error", "warning"))
    )
    suffix = [
        _consequence(rule, sev) if flexible else ""
        for rule, sev, flexible in zip(problems["rule"], severity, by_column, strict=True)
    ]
    messages = problems["message"].astype(str) + pd.Series(suffix, dtype=object)
    done: dict = {}
    keys = pd.DataFrame({"rule": problems["rule"], "severity": severity, "column": columns})
    for (rule, sev, column), group in keys.groupby(
        ["rule", "severity", "column"], dropna=False, sort=False
    ):
        column = None if pd.isna(column) else column
        rows = problems.loc[group.index, "row"]
        known = rows.notna().to_numpy()
        row_values = rows.astype("Int64")
        ids = None
        if case_ids is not None:
            ids = [case_ids.get(r) if k else pd.NA for r, k in zip(row_values, known, strict=True)]
        log.add_many(
            rule,
            sev,
            spec.name,
            column,
            row_values,
            ids,
            problems.loc[group.index, "value"],
            messages.loc[group.index].tolist(),
        )
        if sev == "error" or column is not None:
            done.setdefault(column, []).extend(row_values[known].astype("int64").tolist())
    return {column: pd.Index(rows) for column, rows in done.items()}


def _not_reported(bad: pd.Series, column: str, reported: dict) -> pd.Series:
    """``bad`` without the rows a reader already reported for ``column`` or as malformed."""
    skip = [reported[c] for c in (column, None) if c in reported]
    if not skip:
        return bad
    return bad & ~bad.index.isin(skip[0].append(skip[1:]))


def parse_table(
    raw: pd.DataFrame,
    spec: TableSpec,
    stage_model: StageModel,
    log: ProblemLog,
    extra_aliases: dict[str, str] | None = None,
    read_problems: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Parse one raw table into typed columns, logging unreadable values.

    The returned frame keeps the raw frame's index (source row numbers), has
    every column of the contract (absent optional columns are all missing),
    and keeps unknown extra columns as text after them.

    ``read_problems`` are what the reader found in the table (rows with the
    wrong number of fields, undecodable bytes, dates a workbook cannot
    hold; see :data:`casework_analytics.sources.READ_PROBLEM_COLUMNS`).
    They are logged first; a cell or a malformed row they name is not
    reported again by parsing.

    Parameters
    ----------
    raw : DataFrame
        The table as read (headers as written), indexed by source row.
    spec : TableSpec
        The table of the data contract.
    stage_model : StageModel
        Reads the stage names.
    log : ProblemLog
        Where unreadable values are recorded.
    extra_aliases : dict, optional
        As in :func:`canonical_names`.
    read_problems : DataFrame, optional
        What the reader found in the table.

    Returns
    -------
    DataFrame
    """
    frame = canonical_headers(raw, spec, extra_aliases)
    case_ids = to_text(frame["case_id"]) if "case_id" in frame else None
    reported = _log_read_problems(read_problems, frame, spec, case_ids, log)
    for column, written in zip(frame.columns, raw.columns, strict=True):
        if column not in spec.columns:
            header = " ".join(str(written).replace("\ufeff", "").split())
            log.add(
                "unknown_column",
                "warning",
                spec.name,
                column,
                None,
                None,
                None,
                f"Column '{header}' is not part of the {spec.name} table; it was kept as text "
                "but no analysis uses it.",
            )
    out = {}
    for column, kind in spec.columns.items():
        if column not in frame:
            out[column] = _empty(kind, frame.index)
            continue
        values = frame[column]
        severity = "error" if column in spec.required else "warning"
        if kind in ("id", "text"):
            out[column] = case_ids if column == "case_id" else to_text(values)
            continue
        checks = []
        kept = "" if column in spec.required else " The value was cleared; the row is kept."
        if kind == "date":
            parsed, bad, out_of_range = parse_dates(values)
            checks.append(
                ("unparseable_date", bad, "is not a date in yyyy-mm-dd or dd/mm/yyyy form.")
            )
            checks.append(
                (
                    "date_out_of_range",
                    out_of_range,
                    f"is outside the dates that can be held ({DATE_RANGE_TEXT}); leave a date "
                    "empty rather than use a placeholder such as 9999-12-31." + kept,
                )
            )
        elif kind == "bool":
            parsed, bad = parse_booleans(values)
            checks.append(
                ("invalid_value", bad, "is not one of ya/tidak, yes/no, true/false, 1/0.")
            )
        elif kind == "number":
            parsed, bad = parse_numbers(values)
            checks.append(("invalid_value", bad, "is not a number."))
        elif kind == "stage":
            parsed = stage_model.canonical(values).fillna(to_text(values))
        else:
            parsed = parse_vocabulary(values, kind.split(":", 1)[1])
        for rule, bad, what in checks:
            bad = _not_reported(bad, column, reported)
            if bad.any():
                rows = bad[bad].index
                written = to_text(values.loc[rows])
                message = f"{column} " + "'{value}' " + what
                if rule == "unparseable_date":
                    message = _month_first_hints(written, message)
                log.add_many(
                    rule,
                    severity,
                    spec.name,
                    column,
                    rows,
                    case_ids.loc[rows] if case_ids is not None else None,
                    written,
                    message,
                )
        out[column] = parsed
    extras = {c: to_text(frame[c]) for c in frame.columns if c not in spec.columns}
    # Every column is new or is the source's own (never changed in place): not copied.
    return pd.DataFrame({**out, **extras}, index=frame.index, copy=False)


_MONTH_FIRST = r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4})\s*$"


def _month_first_hints(written: pd.Series, message: str) -> list[str]:
    """``message`` per value, saying how to write a date that looks month-first
    (``04/15/2024``: 15 cannot be a month) day-first."""
    parts = written.str.extract(_MONTH_FIRST)
    first, second = (pd.to_numeric(parts[i], errors="coerce") for i in (0, 2))
    swapped = (first <= 12) & (second > 12) & (second <= 31)
    day_first = parts[2].str.zfill(2) + "/" + parts[0].str.zfill(2) + "/" + parts[3]
    hints = ("It looks month-first; write it day-first: " + day_first + ".").where(swapped, "")
    return [
        (message.replace("{value}", str(value), 1) + (" " + hint if hint else ""))
        for value, hint in zip(written.fillna(""), hints.fillna(""), strict=True)
    ]


def _empty(kind: str, index: pd.Index) -> pd.Series:
    if kind == "date":
        return pd.Series(pd.NaT, index=index, dtype=DATE_DTYPE)
    if kind == "number":
        return pd.Series(np.nan, index=index, dtype="float64")
    if kind == "bool":
        return pd.Series(pd.NA, index=index, dtype="boolean")
    return pd.Series(pd.NA, index=index, dtype="string")
