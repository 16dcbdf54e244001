"""Reading the raw tables of a source: CSV or Parquet directory, Excel
workbook, SQL database, or a dict of DataFrames.

Reading does no interpretation beyond finding the tables: values are
returned as the source holds them. Each raw frame's index is the 1-based
row number a person would see in the source: for CSV files and Excel
sheets the header is row 1, so the first record is row 2; for Parquet, SQL
and in-memory frames the first record is row 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .delimited import read_delimited
from .errors import SourceError
from .schemas import OPTIONAL_TABLES, REQUIRED_TABLES
from .vocabulary import normalise_header

TABLE_NAMES = REQUIRED_TABLES + OPTIONAL_TABLES

#: Indonesian (and singular) names accepted for files, sheets and SQL tables.
TABLE_ALIASES = {
    "placement": "placements",
    "penempatan": "placements",
    "pkl": "placements",
    "case": "cases",
    "kasus": "cases",
    "klien": "cases",
    "stage": "stages",
    "tahap": "stages",
    "tahapan": "stages",
    "session": "sessions",
    "sesi": "sessions",
    "pertemuan": "sessions",
    "visit": "visits",
    "kunjungan": "visits",
    "pemantauan": "visits",
    "monitoring": "visits",
}

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+]*://")


@dataclass
class RawSource:
    """Raw tables of one source, keyed by canonical table name.

    ``problems`` holds, per table, what the reader found wrong in single
    rows or cells (columns :data:`~casework_analytics.delimited.READ_PROBLEM_COLUMNS`):
    rows with the wrong number of fields, undecodable bytes, workbook dates
    out of range. They are reported with the other problems by
    :func:`casework_analytics.load`.
    """

    description: str
    tables: dict[str, pd.DataFrame]
    problems: dict[str, pd.DataFrame] = field(default_factory=dict)


def _table_name(name: str) -> str | None:
    key = normalise_header(name)
    if key in TABLE_NAMES:
        return key
    return TABLE_ALIASES.get(key)


def _number_rows(frame: pd.DataFrame, first_row: int) -> pd.DataFrame:
    frame = frame.dropna(how="all")
    frame.index = frame.index + first_row
    frame.index.name = "row"
    return frame


def read_csv_table(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one CSV (or tab-separated text) file as text, with its read problems.

    See :mod:`casework_analytics.delimited`: UTF-8, UTF-16 and UTF-32 with a
    byte-order mark, Windows-1252 only for files wholly in it; `,` `;` tab
    or `|` delimiters; rows numbered by the line where they start.
    """
    frame, problems = read_delimited(path)
    return frame.dropna(how="all"), problems


def _read_directory(path: Path) -> RawSource:
    found: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        if file.suffix.lower() not in (".csv", ".parquet", ".txt", ".tsv"):
            continue
        table = _table_name(file.stem)
        if table is None:
            continue
        if table in found:
            raise SourceError(
                f"{path} holds two files for the {table} table ({found[table].name} and "
                f"{file.name}); keep one."
            )
        found[table] = file
    tables, problems = {}, {}
    for table, file in found.items():
        if file.suffix.lower() == ".parquet":
            try:
                frame = pd.read_parquet(file)
            except Exception as exc:  # pyarrow raises many types for corrupt files
                raise SourceError(f"{file} is not a readable Parquet file: {exc}") from None
            tables[table] = _number_rows(frame.reset_index(drop=True), first_row=1)
        else:
            tables[table], problems[table] = read_csv_table(file)
    return RawSource(str(path), tables, problems)


def _read_excel(path: Path) -> RawSource:
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object)
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise SourceError(f"{path} is not a readable Excel workbook: {exc}") from None
    tables = {}
    for sheet, frame in sheets.items():
        table = _table_name(str(sheet))
        if table is not None:
            tables[table] = _number_rows(frame, first_row=2)
    return RawSource(str(path), tables)


def _read_sql(url: str) -> RawSource:
    import sqlalchemy as sa

    shown = re.sub(r"://[^@/]*@", "://***@", url)
    try:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            names = sa.inspect(connection).get_table_names()
            tables = {}
            for name in names:
                table = _table_name(name)
                if table is not None:
                    frame = pd.read_sql_table(name, connection)
                    tables[table] = _number_rows(frame, first_row=1)
    except SourceError:
        raise
    except Exception as exc:  # drivers raise their own exception types
        raise SourceError(
            f"Could not read the database {shown}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    finally:
        if "engine" in locals():
            engine.dispose()
    return RawSource(shown, tables)


def read_source(source) -> RawSource:
    """Find and read the raw tables of ``source``.

    Parameters
    ----------
    source : str, pathlib.Path or mapping of DataFrames
        A directory of ``<table>.csv`` or ``<table>.parquet`` files, an Excel
        workbook (``.xlsx``) with one sheet per table, a SQLAlchemy URL such
        as ``sqlite:///cohort.db``, or a mapping ``{table: DataFrame}``.
        Indonesian table names (``penempatan``, ``kasus``, ``tahapan``,
        ``sesi``, ``kunjungan``) are accepted.

    Raises
    ------
    SourceError
        If the source does not exist, cannot be read, or lacks a required
        table (placements, cases, stages).
    """
    if isinstance(source, Mapping):
        tables = {}
        for name, frame in source.items():
            table = _table_name(str(name))
            if table is None:
                raise SourceError(f"Unknown table {name!r}; expected one of {list(TABLE_NAMES)}.")
            tables[table] = _number_rows(frame.reset_index(drop=True), first_row=1)
        raw = RawSource("in-memory tables", tables)
    elif isinstance(source, str) and _URL.match(source):
        raw = _read_sql(source)
    else:
        path = Path(source)
        if not path.exists():
            raise SourceError(f"The source {path} does not exist.")
        if path.is_dir():
            raw = _read_directory(path)
        elif path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            raw = _read_excel(path)
        else:
            raise SourceError(
                f"The source {path} is neither a directory of CSV/Parquet files, an Excel "
                "workbook, nor a database URL such as sqlite:///cohort.db."
            )
    missing = [t for t in REQUIRED_TABLES if t not in raw.tables]
    if missing:
        raise SourceError(
            f"The source {raw.description} has no {', '.join(missing)} table"
            f"{'s' if len(missing) > 1 else ''}; found: {sorted(raw.tables) or 'none'}."
        )
    return raw
