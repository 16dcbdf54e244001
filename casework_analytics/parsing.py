"""Turning raw source values into typed columns, reporting what cannot be read.

Parsing never drops a row. A value that cannot be read becomes missing and
is reported as a problem (see :mod:`casework_analytics.problems`); the row's
fate (accepted or rejected) is decided later, in one place.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .errors import SourceError
from .problems import ProblemLog
from .schemas import TableSpec
from .stage_models import StageModel
from .vocabulary import column_aliases, normalise_header, normalise_label, value_aliases

_ISO = r"(\d{4}-\d{1,2}-\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DAY_FIRST = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}"
DATE_DTYPE = "datetime64[ns]"


def to_text(values: pd.Series) -> pd.Series:
    """Trimmed nullable text; whole floats (Excel IDs such as ``101.0``) lose ``.0``."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse ISO (``2024-03-18``) and day-first (``18/03/2024``) dates.

    Day-first is the only slash form accepted: ``03/18/2024`` is not a date
    (there is no 18th month), so month-first is never guessed. Times are
    dropped. Excel and database date values are taken as they are.

    Returns
    -------
    dates : Series of datetime64[ns]
    unreadable : Series of bool
        True where a value was present but is not a valid date.
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        dates = values.dt.tz_localize(None) if values.dt.tz is not None else values
        return dates.dt.normalize().astype(DATE_DTYPE), pd.Series(False, index=values.index)
    out = pd.Series(pd.NaT, index=values.index, dtype=DATE_DTYPE)
    if values.dtype == object:
        native = values.map(lambda v: isinstance(v, dt.date))
        if native.any():
            out[native] = pd.to_datetime(values[native].astype(object)).dt.normalize()
            values = values.mask(native)
    text = to_text(values)
    iso = text.str.extract(f"^{_ISO}$", expand=False)
    has_iso = iso.notna()
    out[has_iso] = pd.to_datetime(iso[has_iso], format="%Y-%m-%d", errors="coerce")
    day_first = text.str.fullmatch(_DAY_FIRST).fillna(False).astype(bool)
    normalised = text[day_first].str.replace(r"[.\-]", "/", regex=True)
    out[day_first] = pd.to_datetime(normalised, format="%d/%m/%Y", errors="coerce")
    return out, text.notna() & out.isna()


def parse_booleans(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse ya/tidak, yes/no, true/false, 1/0 (any case) into nullable booleans."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    text = normalise_label(to_text(values).str.replace(r"\.0$", "", regex=True))
    mapped = text.map(value_aliases()["boolean"]).map({"true": True, "false": False})
    parsed = mapped.astype("boolean")
    return parsed, text.notna() & parsed.isna()


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse decimal numbers; a comma decimal separator (``12,5``) is accepted."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64"), pd.Series(False, index=values.index)
    text = to_text(values).str.replace(",", ".", regex=False)
    parsed = pd.to_numeric(text, errors="coerce").astype("float64")
    return parsed, text.notna() & parsed.isna()


def parse_vocabulary(values: pd.Series, field: str) -> pd.Series:
    """Map aliases to controlled values; unknown values are kept for the schema to report."""
    text = to_text(values)
    codes, uniques = pd.factorize(text)
    distinct = pd.Series(uniques, dtype="string")
    mapped = normalise_label(distinct).map(value_aliases()[field]).astype("string")
    mapped = np.append(mapped.fillna(distinct).to_numpy(dtype=object, na_value=pd.NA), pd.NA)
    return pd.Series(mapped[codes], index=values.index, dtype="string")


def canonical_headers(raw: pd.DataFrame, spec: TableSpec, extra_aliases=None) -> pd.DataFrame:
    """Rename raw headers to canonical columns, raising if the table is unusable."""
    aliases = {**column_aliases().get(spec.name, {}), **(extra_aliases or {})}
    renamed = {}
    for header in raw.columns:
        key = normalise_header(header)
        renamed[header] = aliases.get(key, key)
    counts = pd.Series(list(renamed.values())).value_counts()
    clashes = counts[counts > 1].index.tolist()
    if clashes:
        sources = {c: [h for h, r in renamed.items() if r == c] for c in clashes}
        raise SourceError(
            f"In the {spec.name} table, several headers mean the same column: {sources}. "
            "Keep one of each."
        )
    frame = raw.rename(columns=renamed)
    missing = [c for c in spec.required if c not in frame.columns]
    if missing:
        raise SourceError(
            f"The {spec.name} table lacks required column(s) {missing}; its headers are "
            f"{list(raw.columns)}. See docs/data-contract.md for the accepted names."
        )
    return frame


def parse_table(
    raw: pd.DataFrame,
    spec: TableSpec,
    stage_model: StageModel,
    log: ProblemLog,
    extra_aliases: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Parse one raw table into typed columns, logging unreadable values.

    The returned frame keeps the raw frame's index (source row numbers), has
    every column of the contract (absent optional columns are all missing),
    and keeps unknown extra columns as text after them.
    """
    frame = canonical_headers(raw, spec, extra_aliases)
    case_ids = to_text(frame["case_id"]) if "case_id" in frame else None
    for column in frame.columns:
        if column not in spec.columns:
            log.add(
                "unknown_column",
                "warning",
                spec.name,
                column,
                None,
                None,
                None,
                f"Column '{column}' is not part of the {spec.name} table; it was kept as text "
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
            out[column] = to_text(values)
            continue
        if kind == "date":
            parsed, bad = parse_dates(values)
            rule, what = "unparseable_date", "is not a date in yyyy-mm-dd or dd/mm/yyyy form"
        elif kind == "bool":
            parsed, bad = parse_booleans(values)
            rule, what = "invalid_value", "is not one of ya/tidak, yes/no, true/false, 1/0"
        elif kind == "number":
            parsed, bad = parse_numbers(values)
            rule, what = "invalid_value", "is not a number"
        elif kind == "stage":
            parsed, bad = stage_model.canonical(values), pd.Series(False, index=frame.index)
            parsed = parsed.fillna(to_text(values))
        else:
            parsed, bad = parse_vocabulary(values, kind.split(":", 1)[1]), None
        if bad is not None and bad.any():
            rows = bad[bad].index
            log.add_many(
                rule,
                severity,
                spec.name,
                column,
                rows,
                case_ids.loc[rows] if case_ids is not None else None,
                to_text(values.loc[rows]),
                f"{column} " + "'{value}' " + what + ".",
            )
        out[column] = parsed
    extras = {c: to_text(frame[c]) for c in frame.columns if c not in spec.columns}
    return pd.DataFrame({**out, **extras}, index=frame.index)


def _empty(kind: str, index: pd.Index) -> pd.Series:
    if kind == "date":
        return pd.Series(pd.NaT, index=index, dtype=DATE_DTYPE)
    if kind == "number":
        return pd.Series(np.nan, index=index, dtype="float64")
    if kind == "bool":
        return pd.Series(pd.NA, index=index, dtype="boolean")
    return pd.Series(pd.NA, index=index, dtype="string")
