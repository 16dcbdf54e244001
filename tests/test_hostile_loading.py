"""Hostile input: whatever a broken export holds, ``load`` reports it row by row.

Each example takes a small valid cohort (``synthetic.generate(4, seed=s,
mean_cases=3)``), corrupts random cells of every table with the values of
``strategies.hostile_values`` (dates out of range or malformed, NaN and inf,
huge and negative numbers, empty and white-space strings, control
characters, very long strings, spreadsheet formulas, odd Unicode), copies
rows, and for CSV also drops or adds fields, plants bytes that are not
UTF-8 and writes the file in UTF-8, UTF-8 with BOM, UTF-16 or
Windows-1252. It then writes the tables in one source format and loads
them. ``load`` must return a Cohort in which, for every table:

- read = accepted + rejected, and read = the data records written (blank
  records, whose every value is empty, are not records);
- the rejected rows are exactly the rows with an error, each with reasons;
- every problem names a row that was written (or no row), and CSV rows are
  numbered by the line on which the record starts;
- printing the problems lets no control character through.

The corruptions never touch headers or table names, so any exception,
``SourceError`` included, means a row-level problem sank the whole source
and fails the test; broken headers are checked separately.

The number of examples per source format is ``CASEWORK_FUZZ_EXAMPLES``
(default 6, a few seconds each format), so ``make fuzz`` can run thousands.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import sqlite3

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from strategies import hostile_cohort, small_cohort

from casework_analytics import SourceError, load
from casework_analytics.problems import format_problems, in_language
from casework_analytics.sources import TABLE_NAMES

EXAMPLES = int(os.environ.get("CASEWORK_FUZZ_EXAMPLES", "6"))
FORMATS = ["csv", "parquet", "xlsx", "sqlite", "memory"]
HOSTILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_BAD = "\ue000\ue001\ue002"  # marks a cell whose bytes are spoiled after encoding
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e]")


# ------------------------------------------------------------------ corrupting


def _rows(frame: pd.DataFrame) -> list[list]:
    values = frame.astype(object).where(frame.notna(), None)
    return [list(row) for row in values.itertuples(index=False, name=None)]


def corrupt(seed: int, edits) -> tuple[dict, dict, dict]:
    """Tables as lists of rows of Python values, with the edits applied.

    Returns ``(headers, rows, csv_edits)``; ``csv_edits[table]`` lists
    ``(kind, row, column, value)`` for the CSV-only corruptions.
    """
    base = small_cohort(seed)
    headers = {name: list(frame.columns) for name, frame in base.items()}
    rows = {name: _rows(frame) for name, frame in base.items()}
    csv_edits: dict[str, list] = {name: [] for name in rows}
    for kind, table, row, column, value in edits:
        table_rows = rows[table]
        i = row % len(table_rows)
        j = column % len(headers[table])
        if kind == "cell":
            table_rows[i][j] = value
        elif kind == "copy":
            table_rows.append(list(table_rows[i]))
        else:
            csv_edits[table].append((kind, i, j, value))
    return headers, rows, csv_edits


def _day(value) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def _blank(values, empty) -> bool:
    return all(empty(v) for v in values)


def _is_missing(value) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    return isinstance(value, np.datetime64) and bool(np.isnat(value))


# ------------------------------------------------------------------ writers
# Each returns the source to load and, per table, the row numbers of the
# data records written (what a person would see), blank records left out.


def write_csv(path, headers, rows, csv_edits, style):
    sep, newline, encoding, dayfirst, yes = style
    path.mkdir()
    expected = {}
    for name, header in headers.items():
        records = [[_csv_text(v, dayfirst, yes) for v in row] for row in rows[name]]
        for kind, i, j, value in csv_edits[name]:
            if kind == "missing_field":
                records[i] = records[i][:-1]
            elif kind == "extra_field":
                records[i] = [*records[i], _csv_text(value, dayfirst, yes)]
            elif kind == "bad_bytes" and j < len(records[i]):
                records[i][j] = records[i][j] + _BAD
        lines = [csv_line(header, sep, newline)]
        line = 1 + len(_LINE_BREAK.findall(lines[0]))
        starts = []
        for record in records:
            lines.append(csv_line(record, sep, newline))
            if not _blank(record, lambda f: not f.lstrip(" ")):
                starts.append(line)
            line += len(_LINE_BREAK.findall(lines[-1]))
        text = "".join(lines)
        if encoding in ("utf-8", "utf-8-sig"):
            data = text.encode(encoding)
            for spoiled in (b"\xff", b"\xe9", b"\xc3(", b"\xed\xa0\x80"):
                data = data.replace(_BAD.encode(), spoiled, 1)
            data = data.replace(_BAD.encode(), b"\x81")
        else:
            data = text.replace(_BAD, "").encode(encoding, errors="replace")
        (path / f"{name}.csv").write_bytes(data)
        expected[name] = starts
    return path, expected


def csv_line(fields, sep: str, newline: str, quote_all: bool = False) -> str:
    """One CSV record: fields holding the delimiter, a quote, CR or LF are quoted.

    (The csv module's writer leaves a lone CR unquoted when the line ends in
    LF, which a reader rightly takes for a line break.)
    """
    special = re.compile(f'[{re.escape(sep)}"\r\n]')
    quoted = [
        '"' + f.replace('"', '""') + '"' if quote_all or special.search(f) else f for f in fields
    ]
    return sep.join(quoted) + newline


def _csv_text(value, dayfirst: bool, yes: tuple[str, str]) -> str:
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return yes[0] if value else yes[1]
    if isinstance(value, dt.date):
        return f"{value.day:02d}/{value.month:02d}/{value.year:04d}" if dayfirst else _day(value)
    return str(value)


def _arrow_column(values, dates_as: str) -> pa.Array:
    present = [v for v in values if not _is_missing(v)]
    if present and all(isinstance(v, dt.date) for v in present):
        if dates_as == "date32":
            return pa.array(
                [None if _is_missing(v) else _to_date(v) for v in values], type=pa.date32()
            )
        return pa.array(
            [None if _is_missing(v) else _to_datetime(v) for v in values], type=pa.timestamp("us")
        )
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return pa.array([None if _is_missing(v) else bool(v) for v in values], type=pa.bool_())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if _is_missing(v) else float(v) for v in values], type=pa.float64())
    return pa.array(
        [None if _is_missing(v) else _csv_text(v, False, ("true", "false")) for v in values],
        type=pa.string(),
    )


def _to_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _to_datetime(value) -> dt.datetime:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def write_parquet(path, headers, rows, dates_as):
    path.mkdir()
    expected = {}
    for name, header in headers.items():
        columns = list(zip(*rows[name], strict=True))
        arrays = [_arrow_column(list(c), dates_as) for c in columns]
        pq.write_table(pa.Table.from_arrays(arrays, names=header), path / f"{name}.parquet")
        expected[name] = [i + 1 for i, r in enumerate(rows[name]) if not _blank(r, _is_missing)]
    return path, expected


def _excel_value(value):
    if _is_missing(value):
        return None
    if not isinstance(value, str | bool | int | float | dt.date):  # what a cell can hold
        value = str(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # a workbook holds local times, without a zone
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, dt.date) and value.year < 1900:  # before Excel's calendar
        return _day(value)
    return value


def write_xlsx(path, headers, rows):
    path.mkdir()
    book = openpyxl.Workbook()
    book.remove(book.active)
    expected = {}
    for name, header in headers.items():
        sheet = book.create_sheet(name)
        for j, title in enumerate(header, start=1):
            sheet.cell(row=1, column=j, value=title)
        expected[name] = []
        for i, row in enumerate(rows[name], start=2):
            values = [_excel_value(v) for v in row]
            for j, value in enumerate(values, start=1):
                cell = sheet.cell(row=i, column=j, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text, even when it looks like a formula
            if not _blank(values, lambda v: v is None or v == ""):
                expected[name].append(i)
    book.save(path / "cohort.xlsx")
    return path / "cohort.xlsx", expected


def _sql_value(value):
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, str | bytes | bool | int | float | dt.date):  # what SQLite holds
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return str(value)
    if isinstance(value, dt.date):
        return _day(value)
    return value


def write_sqlite(path, headers, rows, base):
    path.mkdir()
    db = path / "cohort.db"
    expected = {}
    with sqlite3.connect(db) as connection:
        for name, header in headers.items():
            kinds = base[name].dtypes
            declared = [
                "DATE"
                if pd.api.types.is_datetime64_any_dtype(kinds[c])
                else "REAL"
                if pd.api.types.is_float_dtype(kinds[c])
                else "TEXT"
                for c in header
            ]
            columns = ", ".join(f'"{c}" {t}' for c, t in zip(header, declared, strict=True))
            connection.execute(f'CREATE TABLE "{name}" ({columns})')
            marks = ", ".join("?" for _ in header)
            values = [[_sql_value(v) for v in row] for row in rows[name]]
            connection.executemany(f'INSERT INTO "{name}" VALUES ({marks})', values)
            expected[name] = [i + 1 for i, r in enumerate(values) if not _blank(r, _is_missing)]
    connection.close()
    return f"sqlite:///{db}", expected


def write_memory(headers, rows):
    tables = {
        name: pd.DataFrame(rows[name], columns=header, dtype=object)
        for name, header in headers.items()
    }
    expected = {
        name: [i + 1 for i, r in enumerate(rows[name]) if not _blank(r, _is_missing)]
        for name in headers
    }
    return tables, expected


# ------------------------------------------------------------------ the property


def check_cohort(cohort, expected: dict[str, list[int]]) -> None:
    problems = cohort.problems
    errors = problems[problems["severity"] == "error"]
    counts = cohort.counts.set_index("table")
    assert set(counts.index) == set(TABLE_NAMES)
    for name in TABLE_NAMES:
        read, accepted, rejected = counts.loc[name, ["read", "accepted", "rejected"]]
        assert read == accepted + rejected, (name, counts)
        assert read == len(expected[name]), (name, read, len(expected[name]))
        assert len(cohort.table(name)) == accepted
        rejected_rows = set(cohort.rejected[name]["row"])
        table_errors = errors[errors["table"] == name]
        assert rejected_rows == set(table_errors["row"].dropna()), name
        assert cohort.rejected[name]["reasons"].str.len().gt(0).all()
        rows = problems.loc[problems["table"] == name, "row"].dropna()
        assert set(rows) <= set(expected[name]), (name, set(rows) - set(expected[name]))
        accepted_frame = cohort.table(name)
        for column in accepted_frame.columns:
            if column.endswith(("_date", "_on")):
                assert str(accepted_frame[column].dtype) == "datetime64[ns]", column
    assert problems["message"].notna().all() and problems["rule"].notna().all()
    assert not _UNSAFE.search(format_problems(problems, limit=None))
    # Every message has an Indonesian wording, whatever the input.
    translated = in_language(problems, "id")
    assert len(translated) == len(problems) and translated["message"].notna().all()
    assert not _UNSAFE.search(format_problems(translated, limit=None, lang="id"))


STYLES = st.tuples(
    st.sampled_from([",", ";", "\t", "|"]),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    st.booleans(),
    st.sampled_from([("ya", "tidak"), ("true", "false"), ("1", "0")]),
)


@pytest.mark.parametrize("source_format", FORMATS)
@HOSTILE
@given(
    cohort=hostile_cohort(),
    style=STYLES,
    dates_as=st.sampled_from(["date32", "timestamp"]),
)
def test_hostile_input_is_reported_row_by_row(
    tmp_path_factory, source_format, cohort, style, dates_as
):
    seed, edits = cohort
    headers, rows, csv_edits = corrupt(seed, edits)
    path = tmp_path_factory.mktemp(source_format)
    if source_format == "csv":
        source, expected = write_csv(path / "cohort", headers, rows, csv_edits, style)
    elif source_format == "parquet":
        source, expected = write_parquet(path / "cohort", headers, rows, dates_as)
    elif source_format == "xlsx":
        source, expected = write_xlsx(path / "cohort", headers, rows)
    elif source_format == "sqlite":
        source, expected = write_sqlite(path / "cohort", headers, rows, small_cohort(seed))
    else:
        source, expected = write_memory(headers, rows)
    check_cohort(load(source), expected)


@pytest.mark.parametrize("source_format", ["csv", "xlsx", "memory"])
def test_broken_headers_make_the_source_unusable_with_a_message(tmp_path, source_format):
    headers, rows, csv_edits = corrupt(0, [])
    headers["cases"] = ["tanggal_tutup" if c == "closure_reason" else c for c in headers["cases"]]
    if source_format == "csv":
        style = (",", "\n", "utf-8", False, ("ya", "tidak"))
        source, _ = write_csv(tmp_path / "cohort", headers, rows, csv_edits, style)
    elif source_format == "xlsx":
        source, _ = write_xlsx(tmp_path / "cohort", headers, rows)
    else:
        source, _ = write_memory(headers, rows)
    with pytest.raises(SourceError, match=r"'closed_date' \(column 11\) and 'tanggal_tutup'"):
        load(source)


# ------------------------------------------------------------------ fast and slow CSV paths

_CELL_TEXT = st.text(alphabet=st.sampled_from(list("ab é,;\t|\"'\n\r\x00\x1b🙂")), max_size=6)


@settings(max_examples=max(EXAMPLES * 5, 30), deadline=None)
@given(
    header=st.lists(st.sampled_from("abcde"), min_size=2, max_size=4, unique=True),
    cells=st.lists(st.lists(_CELL_TEXT, min_size=4, max_size=4), max_size=8),
    sep=st.sampled_from([",", ";", "\t", "|"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    quote_all=st.booleans(),
)
def test_fast_and_slow_csv_paths_read_the_same(header, cells, sep, newline, quote_all):
    """pandas' parser with the byte scan, and the csv module record by record, agree."""
    from casework_analytics.delimited import _read_fast, _read_slow

    text = csv_line(header, sep, newline, quote_all) + "".join(
        csv_line(row[: len(header)], sep, newline, quote_all) for row in cells
    )
    fast = _read_fast(text.encode("utf-8"))
    slow, problems = _read_slow(text, "UTF-8", "test.csv")
    assert len(problems) == 0
    lone_cr = text.count("\r") != text.count("\r\n")
    nul_on_pandas_2 = "\x00" in text and int(pd.__version__.split(".")[0]) < 3
    if not lone_cr and not nul_on_pandas_2:
        assert fast is not None, text
    if fast is not None:
        frame = fast[0].dropna(how="all")
        pd.testing.assert_frame_equal(frame, slow.dropna(how="all"))
