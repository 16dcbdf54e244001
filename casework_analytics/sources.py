"""Reading the raw tables of a source: CSV or Parquet directory, Excel
workbook, SQL database, or a dict of DataFrames.

Reading does no interpretation beyond finding the tables: values are
returned as the source holds them (CSV values as text, SQL dates as text).
Each raw frame's index is the 1-based row number a person would see in the
source: for CSV files the line on which the record starts (the header is
line 1), for Excel the sheet's row; for Parquet, SQL and in-memory frames
the first record is row 1. Headers are kept as written, repeats included,
so that :func:`casework_analytics.parsing.canonical_headers` can refuse
them.

What is wrong in single rows or cells (rows with the wrong number of
fields, undecodable bytes, date cells out of range) is returned in
:attr:`RawSource.problems`, never raised; :class:`SourceError` is only for
a source that cannot be used at all.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .delimited import blank_rows, clean_cells, problem_frame, read_delimited
from .errors import SourceError
from .schemas import OPTIONAL_TABLES, REQUIRED_TABLES
from .vocabulary import normalise_header

__all__ = [
    "SourceLike",
    "TABLE_NAMES",
    "TABLE_ALIASES",
    "RawSource",
    "read_csv_table",
    "SQL_CHUNK_ROWS",
    "read_source",
]

if TYPE_CHECKING:
    from .progress import Progress

#: What :func:`casework_analytics.load` reads: a directory, a workbook or a
#: database URL (text or path), or a mapping ``{table: DataFrame}``.
SourceLike = str | os.PathLike | Mapping[str, pd.DataFrame]

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
    frame = frame[~blank_rows(frame)]
    frame.index = frame.index + first_row
    frame.index.name = "row"
    return frame


def _add_table(found: dict, table: str, name, where: str) -> None:
    if table in found:
        raise SourceError(
            f"{where} holds two {table} tables ({found[table]!r} and {name!r}); keep one."
        )
    found[table] = name


def read_csv_table(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one CSV (or tab-separated text) file as text, with its read problems.

    See :mod:`casework_analytics.delimited`: UTF-8, UTF-16 and UTF-32 with a
    byte-order mark, Windows-1252 only for files wholly in it; `,` `;` tab
    or `|` delimiters; rows numbered by the line where they start.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    frame : DataFrame
        The file's rows as text, blank rows dropped, indexed by line number.
    problems : DataFrame
        What was wrong in single rows or cells
        (:data:`~casework_analytics.delimited.READ_PROBLEM_COLUMNS`).
    """
    frame, problems = read_delimited(path)
    return frame.dropna(how="all"), problems


def _read_parquet(file: Path) -> pd.DataFrame:
    """A Parquet file as pandas columns, by their Parquet types; dates at any year.

    The pandas metadata a file may carry is not used to convert columns (it
    can disagree with the stored types); only the index columns it names
    are left out, as :func:`pandas.read_parquet` would do.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
        meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
        index = [c for c in meta.get("index_columns", []) if isinstance(c, str)]
        table = table.drop_columns([c for c in index if c in table.column_names])
        # date32/date64 would become datetime.date objects, which stop at year
        # 9999: millisecond timestamps hold any date a file can carry.
        fields = [
            field.with_type(pa.timestamp("ms")) if pa.types.is_date(field.type) else field
            for field in table.schema
        ]
        table = table.cast(pa.schema(fields))
        strings = pd.StringDtype("pyarrow")
        frame = table.to_pandas(
            types_mapper={pa.string(): strings, pa.large_string(): strings}.get,
            ignore_metadata=True,
        )
    except Exception as exc:  # pyarrow raises many types for corrupt files
        raise SourceError(f"{file} is not a readable Parquet file: {exc}") from None
    return _number_rows(frame.reset_index(drop=True), first_row=1)


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
            tables[table] = _read_parquet(file)
        else:
            tables[table], problems[table] = read_csv_table(file)
    return RawSource(str(path), tables, problems)


_EXCEL_DATE_WARNING = re.compile(
    r"Cell ([A-Z]+)(\d+) is marked as a date but the serial value (\S+) is outside the limits"
)


def _column_position(letters: str) -> int:
    position = 0
    for letter in letters:
        position = position * 26 + ord(letter) - ord("A") + 1
    return position - 1


def _read_sheet(book, sheet) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One sheet: the first non-empty row is the header; rows numbered as in Excel.

    Headers are taken as written (pandas would rename a repeated one). A
    cell formatted as a date whose serial Excel cannot show is reported
    (openpyxl only warns and reads it as an error cell).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cells = book.parse(sheet, header=None, dtype=object, keep_default_na=False, na_values=[""])
    cells.index = cells.index + 1
    filled = cells.notna().any(axis=1)
    if not filled.any():
        raise SourceError(f"The sheet {sheet!r} is empty: it has no header row.")
    header_row = filled.idxmax()
    header = ["" if pd.isna(v) else str(v) for v in cells.loc[header_row]]
    frame = cells.loc[header_row + 1 :].set_axis(header, axis=1).dropna(how="all")
    frame.index.name = "row"
    found = []
    for warning in caught:
        match = _EXCEL_DATE_WARNING.search(str(warning.message))
        if not match:
            continue
        letters, row, serial = match.group(1), int(match.group(2)), match.group(3)
        position = _column_position(letters)
        if row <= header_row or position >= len(header):
            continue
        found.append(
            (
                "date_out_of_range",
                pd.NA,
                position,
                row,
                serial,
                f"{header[position] or letters} holds the date serial {serial}, which no "
                "calendar date matches in Excel.",
            )
        )
    return frame, problem_frame(found)


def _read_excel(path: Path) -> RawSource:
    try:
        book = pd.ExcelFile(path)
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise SourceError(f"{path} is not a readable Excel workbook: {exc}") from None
    with book:
        names: dict[str, str] = {}
        for sheet in book.sheet_names:
            table = _table_name(str(sheet))
            if table is not None:
                _add_table(names, table, sheet, str(path))
        tables, problems = {}, {}
        for table, sheet in names.items():
            try:
                tables[table], problems[table] = _read_sheet(book, sheet)
            except SourceError:
                raise
            except Exception as exc:
                raise SourceError(f"The sheet {sheet!r} of {path} is not readable: {exc}") from None
    return RawSource(str(path), tables, problems)


def _sqlite_path(url) -> Path:
    """The file of a ``sqlite:///`` URL, which must exist: reading never creates one."""
    database = url.database
    if not database or database == ":memory:":
        raise SourceError(
            f"The URL {url} names no SQLite database file; give one, such as sqlite:///cohort.db."
        )
    path = Path(database)
    if database.startswith("file:") or not path.is_file():
        raise SourceError(
            f"The SQLite database {database} does not exist (or is not a file); reading a "
            "source never creates one."
        )
    return path


def _select(table, connection):
    """SELECT every column as the driver returns it, dates and times as text.

    No SQLAlchemy type processing happens (a DATE column holding a value
    that is not a date would stop the read), and date and time columns are
    cast to text in the database (a driver converting them could fail on
    'infinity' or years past 9999). Parsing then reports bad values per row.
    """
    import sqlalchemy as sa

    columns = sa.inspect(connection).get_columns(table)
    selected = []
    for column in columns:
        name = column["name"]
        kind = column.get("type")
        raw = sa.column(name)
        if isinstance(kind, sa.Date | sa.DateTime | sa.Time | sa.Interval):
            selected.append(sa.cast(raw, sa.Text).label(name))
        else:
            selected.append(raw)
    if not selected:
        return None, []
    return sa.select(*selected).select_from(sa.table(table)), [c["name"] for c in columns]


#: Rows fetched from a database at a time.
SQL_CHUNK_ROWS = 100_000


def _sql_frame(connection, table, chunk_rows: int | None = None, step=None) -> pd.DataFrame:
    """The table's rows, fetched ``chunk_rows`` at a time (a server-side cursor where
    the driver has one), so that no driver holds the whole table as Python rows."""
    statement, names = _select(table, connection)
    if statement is None:
        return pd.DataFrame()
    result = connection.execution_options(stream_results=True).execute(statement)
    parts = []
    for rows in result.partitions(chunk_rows or SQL_CHUNK_ROWS):
        parts.append(pd.DataFrame([tuple(r) for r in rows], columns=names, dtype=object))
        if step is not None:
            step.rows = (step.rows or 0) + len(rows)
    if not parts:
        return pd.DataFrame(columns=names, dtype=object)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _sql_tables(engine, shown: str, lenient: bool, progress=None) -> tuple[dict, dict]:
    import sqlalchemy as sa

    from .progress import quiet

    progress = progress or quiet()
    tables, problems = {}, {}
    with engine.connect() as connection:
        found: dict[str, str] = {}
        for name in sa.inspect(connection).get_table_names():
            table = _table_name(name)
            if table is not None:
                _add_table(found, table, name, shown)
        for table, name in found.items():
            with progress.step(f"read {table}") as step:
                frame = _number_rows(_sql_frame(connection, name, step=step), first_row=1)
                if lenient:
                    frame, bad = clean_cells(frame)
                    if len(bad):
                        problems[table] = bad
                tables[table] = frame.infer_objects()
    return tables, problems


def _read_sql(url: str, progress=None) -> RawSource:
    import sqlite3

    import sqlalchemy as sa

    shown = re.sub(r"://[^@/]*@", "://***@", url)
    try:
        parsed = sa.engine.make_url(url)
    except Exception as exc:  # ArgumentError for a malformed URL
        raise SourceError(f"{shown} is not a database URL SQLAlchemy understands: {exc}") from None

    def make_engine(lenient: bool):
        if parsed.get_backend_name() != "sqlite":
            return sa.create_engine(url)
        uri = _sqlite_path(parsed).resolve().as_uri() + "?mode=ro"

        def connect():  # read-only: nothing is created or changed
            connection = sqlite3.connect(uri, uri=True)
            if lenient:
                connection.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
            return connection

        return sa.create_engine("sqlite://", creator=connect)

    engine = None
    try:
        for lenient in (False, True):
            engine = make_engine(lenient)
            try:
                tables, problems = _sql_tables(engine, shown, lenient, progress)
                break
            except sa.exc.OperationalError as exc:
                # SQLite text that is not UTF-8: read again, keeping the bad bytes to report.
                if lenient or "decode" not in str(exc):
                    raise
            finally:
                engine.dispose()
    except SourceError:
        raise
    except Exception as exc:  # drivers raise their own exception types
        raise SourceError(
            f"Could not read the database {shown}: {exc.__class__.__name__}: "
            f"{(str(exc).splitlines() or [''])[0]}"
        ) from None
    return RawSource(shown, tables, problems)


def read_source(source: SourceLike, *, progress: Progress | None = None) -> RawSource:
    """Find and read the raw tables of ``source``.

    Parameters
    ----------
    source : str, pathlib.Path or mapping of DataFrames
        A directory of ``<table>.csv`` or ``<table>.parquet`` files, an Excel
        workbook (``.xlsx``) with one sheet per table, a SQLAlchemy URL such
        as ``sqlite:///cohort.db``, or a mapping ``{table: DataFrame}``.
        Indonesian table names (``penempatan``, ``kasus``, ``tahapan``,
        ``sesi``, ``kunjungan``) are accepted.
    progress : Progress, optional
        Where a database table's read is shown (rows fetched so far, in
        chunks of :data:`SQL_CHUNK_ROWS`); see :mod:`casework_analytics.progress`.

    Returns
    -------
    RawSource
        The raw tables (as read, not yet parsed) and their read problems.

    Raises
    ------
    SourceError
        If the source does not exist, cannot be read, or lacks a required
        table (placements, cases, stages).
    """
    if isinstance(source, Mapping):
        tables, names = {}, {}
        for name, frame in source.items():
            table = _table_name(str(name))
            if table is None:
                raise SourceError(f"Unknown table {name!r}; expected one of {list(TABLE_NAMES)}.")
            if not isinstance(frame, pd.DataFrame):
                raise SourceError(
                    f"The {name!r} table must be a pandas DataFrame, not {type(frame).__name__}."
                )
            _add_table(names, table, name, "The mapping")
            tables[table] = _number_rows(frame.reset_index(drop=True), first_row=1)
        raw = RawSource("in-memory tables", tables)
    elif isinstance(source, str) and _URL.match(source):
        raw = _read_sql(source, progress)
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
