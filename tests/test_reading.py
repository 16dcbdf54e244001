"""Messy and broken sources: every bad row is reported on its own, with the row
number a person sees, and nothing is silently mis-read.

Row numbers are CSV lines (header = line 1) or Excel rows; for the tiny
cohort of ``conftest.TINY`` the cases are lines 2-4 and an appended case is
line 5.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from io import StringIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from conftest import TINY, write_tables

from casework_analytics import SourceError, load
from casework_analytics.sources import TABLE_NAMES


def _frames() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(StringIO(text), dtype=str) for name, text in TINY.items()}


def _one(cohort, rule, table="cases"):
    hit = cohort.problems.query("table == @table and rule == @rule")
    assert len(hit) == 1, cohort.problems
    return hit.iloc[0]


def _reconciles(cohort):
    counts = cohort.counts
    assert (counts["read"] == counts["accepted"] + counts["rejected"]).all()
    for row in counts.itertuples():
        assert len(cohort.rejected[row.table]) == row.rejected


# ---------------------------------------------------------------- headers


def test_repeated_csv_header_is_unusable_and_names_both_copies(tiny_dir):
    path = tiny_dir / "cases.csv"
    path.write_text(TINY["cases"].replace("closure_reason\n", "closed_date\n", 1))
    with pytest.raises(SourceError) as info:
        load(tiny_dir)
    message = str(info.value)
    assert "'closed_date' (column 6) and 'closed_date' (column 7)" in message
    assert "cases table" in message


def test_repeated_excel_header_is_unusable(tmp_path):
    frames = _frames()
    path = tmp_path / "cohort.xlsx"
    with pd.ExcelWriter(path) as writer:
        for name, frame in frames.items():
            if name == "cases":
                frame = frame.rename(columns={"closure_reason": "Closed Date"})
            frame.to_excel(writer, sheet_name=name, index=False)
    with pytest.raises(SourceError, match=r"'closed_date' \(column 6\) and 'Closed Date'"):
        load(path)


def test_two_sheets_for_one_table_are_unusable(tmp_path):
    path = tmp_path / "cohort.xlsx"
    with pd.ExcelWriter(path) as writer:
        for name, frame in _frames().items():
            frame.to_excel(writer, sheet_name=name, index=False)
        _frames()["cases"].to_excel(writer, sheet_name="kasus", index=False)
    with pytest.raises(SourceError, match="two cases tables"):
        load(path)


def test_excel_rows_keep_sheet_numbers_and_text_like_na(tmp_path):
    """A leading blank row moves the header to row 2; 'NA' is a client's initials."""
    path = tmp_path / "cohort.xlsx"
    with pd.ExcelWriter(path) as writer:
        for name, frame in _frames().items():
            if name == "cases":
                frame.loc[1, "client_id"] = "NA"
                frame.loc[2, "intake_date"] = "kemarin"
            frame.to_excel(
                writer, sheet_name=name, index=False, startrow=1 if name == "cases" else 0
            )
    cohort = load(path)
    assert cohort.cases["client_id"].tolist() == ["K1", "NA"]
    assert _one(cohort, "unparseable_date")["row"] == 5  # header on row 2, C on row 5


# ---------------------------------------------------------------- fields per row


def test_short_and_long_rows_are_rejected_one_by_one(with_rows):
    source = with_rows(
        cases="D,P1,K4,2024-04-01\n"
        "E,P1,K5,2024-04-02,male,,x,extra\n"
        "F,P2,K6,2024-04-03,,2024-05-01,tujuan tercapai"
    )
    cohort = load(source)
    hits = cohort.problems.query("rule == 'field_count'")
    assert hits[["row", "case_id", "severity"]].values.tolist() == [
        [5, "D", "error"],
        [6, "E", "error"],
    ]
    assert "4 fields but the header has 7" in hits["message"].iloc[0]
    assert "8 fields but the header has 7" in hits["message"].iloc[1]
    # A malformed row gets one problem: its values are misplaced.
    assert len(cohort.problems.query("row in [5, 6] and table == 'cases'")) == 2
    accepted = cohort.cases.set_index("case_id")
    assert list(accepted.index) == ["A", "B", "C", "F"]
    assert accepted.loc["F", "closed_date"] == pd.Timestamp("2024-05-01")
    assert cohort.rejected["cases"]["row"].tolist() == [5, 6]
    _reconciles(cohort)


def test_rows_may_leave_out_columns_without_a_header(tiny_dir):
    (tiny_dir / "sessions.csv").write_text(
        "case_id,session_date,status,,\nA,2024-03-25,held\nB,2024-03-28,held,,\n"
    )
    cohort = load(tiny_dir)
    assert len(cohort.sessions) == 2
    assert not cohort.problems["rule"].isin(["field_count"]).any()


# ---------------------------------------------------------------- line numbers


def test_multi_line_values_do_not_shift_later_row_numbers(tiny_dir):
    text = TINY["cases"].replace("jadwal tidak cocok", '"jadwal\ntidak\ncocok"')
    (tiny_dir / "cases.csv").write_text(text + "D,P9,K4,2024-04-01,,,\n")
    cohort = load(tiny_dir)
    # A spans lines 2-4, B is line 5, C line 6, D line 7.
    assert _one(cohort, "foreign_key")["row"] == 7
    assert cohort.cases.loc[0, "closure_reason"] == "jadwal\ntidak\ncocok"


def test_crlf_quoted_header_and_blank_lines(tiny_dir):
    lines = TINY["cases"].splitlines()
    quoted = ",".join(f'"{h}"' for h in lines[0].split(","))
    text = "\r\n".join([quoted, lines[1], "", lines[2], lines[3], "D,P9,K4,2024-04-01,,,"])
    (tiny_dir / "cases.csv").write_bytes((text + "\r\n").encode())
    cohort = load(tiny_dir)
    assert _one(cohort, "foreign_key")["row"] == 6
    assert cohort.counts.set_index("table").loc["cases", "read"] == 4


# ---------------------------------------------------------------- encodings


def test_one_cp1252_byte_in_a_utf8_file_is_one_row_problem(tiny_dir):
    path = tiny_dir / "cases.csv"
    text = TINY["cases"].replace("K1", "Kési").replace("jadwal tidak cocok", "jadwal tidak cocok ✓")
    bad = "D,P1,K4,2024-04-01,male,,café tutup\n".encode("cp1252")
    path.write_bytes(text.encode("utf-8") + bad)
    cohort = load(tiny_dir)
    assert cohort.cases["client_id"].tolist()[:1] == ["Kési"]
    hit = _one(cohort, "encoding_error")
    assert (hit["row"], hit["case_id"], hit["column"]) == (5, "D", "closure_reason")
    assert hit["value"] == "caf\\xe9 tutup" and hit["severity"] == "warning"
    assert cohort.cases.set_index("case_id").loc["D", "closure_reason"] == "caf\ufffd tutup"
    assert not cohort.problems["rule"].eq("encoding_fallback").any()
    _reconciles(cohort)


def test_undecodable_bytes_in_a_required_column_reject_the_row(tiny_dir):
    path = tiny_dir / "cases.csv"
    bad = "D,P1,José,2024-04-01,,,\n".encode("cp1252")
    path.write_bytes(TINY["cases"].replace("K1", "Kési").encode("utf-8") + bad)
    cohort = load(tiny_dir)
    hit = _one(cohort, "encoding_error")
    assert (hit["row"], hit["severity"], hit["value"]) == (5, "error", "Jos\\xe9")
    assert cohort.rejected["cases"]["row"].tolist() == [5]


def test_a_file_wholly_in_cp1252_is_read_as_such_with_a_warning(tiny_dir):
    path = tiny_dir / "placements.csv"
    path.write_bytes(TINY["placements"].replace("Medan", "Médan").encode("cp1252"))
    cohort = load(tiny_dir)
    assert cohort.placements["site"].tolist() == ["BNNK Tebing Tinggi", "BNNK Médan"]
    hit = _one(cohort, "encoding_fallback", table="placements")
    assert hit["severity"] == "warning" and pd.isna(hit["row"])
    assert "Windows-1252" in hit["message"]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_unicode_text_export_is_read(tiny_dir, codec):
    """Excel's "Unicode text": UTF-16 with a byte-order mark, tab-separated."""
    (tiny_dir / "cases.csv").unlink()
    text = TINY["cases"].replace(",", "\t").replace("K1", "Kési").replace("\n", "\r\n")
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[codec]
    (tiny_dir / "kasus.txt").write_bytes(bom + text.encode(codec))
    cohort = load(tiny_dir)
    assert cohort.cases["client_id"].tolist() == ["Kési", "K2", "K3"]
    assert cohort.cases["closed_date"].notna().sum() == 2
    assert len(cohort.problems) == 0


# ---------------------------------------------------------------- dates out of range


def test_placeholder_dates_in_csv_are_row_problems(with_rows):
    source = with_rows(cases="D,P1,K4,2024-04-01,,9999-12-31,\nE,P1,K5,01/01/1600,,,")
    cohort = load(source)
    hits = cohort.problems.query("rule == 'date_out_of_range'")
    assert hits[["row", "column", "severity", "value"]].values.tolist() == [
        [5, "closed_date", "warning", "9999-12-31"],
        [6, "intake_date", "error", "01/01/1600"],
    ]
    assert "1677-09-22 to 2262-04-11" in hits["message"].iloc[0]
    cases = cohort.cases.set_index("case_id")
    assert pd.isna(cases.loc["D", "closed_date"])  # cleared: the case is open
    assert str(cohort.cases["closed_date"].dtype) == "datetime64[ns]"
    assert cohort.rejected["cases"]["row"].tolist() == [6]


def test_out_of_range_dates_in_excel_cells(tmp_path):
    import openpyxl

    path = tmp_path / "cohort.xlsx"
    with pd.ExcelWriter(path) as writer:
        for name, frame in _frames().items():
            frame.to_excel(writer, sheet_name=name, index=False)
    book = openpyxl.load_workbook(path)
    sheet = book["cases"]
    sheet["D3"] = dt.datetime(9999, 12, 31)  # B's intake
    sheet["F4"] = 10**10  # C's closure: a serial no date matches
    sheet["F4"].number_format = "yyyy-mm-dd"
    book.save(path)
    cohort = load(path)
    hits = cohort.problems.query("rule == 'date_out_of_range'")
    assert hits[["row", "case_id", "column", "severity"]].values.tolist() == [
        [3, "B", "intake_date", "error"],
        [4, "C", "closed_date", "warning"],
    ]
    assert str(cohort.cases["intake_date"].dtype) == "datetime64[ns]"
    _reconciles(cohort)


def test_out_of_range_dates_in_parquet_date32_and_timestamps(tmp_path):
    for name, frame in _frames().items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if name == "cases":
            intake = pa.array([dt.date(2024, 3, 25), dt.date(9999, 12, 31), dt.date(2024, 4, 1)])
            closed = pa.array(
                [dt.datetime(2024, 6, 3), None, dt.datetime(9999, 12, 31)], pa.timestamp("us")
            )
            table = table.set_column(3, "intake_date", intake)
            table = table.set_column(5, "closed_date", closed)
        if name == "stages":
            far = pa.array([-(10**8)] + [19_808] * 6, pa.date32())  # 19808 = 2024-03-26
            table = table.set_column(2, "started_on", far)
        pq.write_table(table, tmp_path / f"{name}.parquet")
    cohort = load(tmp_path)
    hits = cohort.problems.query("rule == 'date_out_of_range'")
    assert hits[["table", "row", "column", "severity"]].values.tolist() == [
        ["cases", 2, "intake_date", "error"],
        ["cases", 3, "closed_date", "warning"],
        ["stages", 1, "started_on", "error"],
    ]
    assert str(cohort.stages["started_on"].dtype) == "datetime64[ns]"
    _reconciles(cohort)


def test_out_of_range_dates_in_memory():
    frames = _frames()
    cases = frames["cases"].astype(object)
    cases.loc[2, "closed_date"] = dt.datetime(9999, 12, 31)
    frames["cases"] = cases
    cohort = load(frames)
    assert _one(cohort, "date_out_of_range")["row"] == 3


# ---------------------------------------------------------------- SQL


def _write_sqlite(path, frames, date_columns=()):
    with sqlite3.connect(path) as connection:
        for name, frame in frames.items():
            columns = ", ".join(
                f'"{c}" {"DATE" if (name, c) in date_columns else "TEXT"}' for c in frame.columns
            )
            connection.execute(f'CREATE TABLE "{name}" ({columns})')
            marks = ", ".join("?" for _ in frame.columns)
            rows = frame.astype(object).where(frame.notna(), None).values.tolist()
            connection.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)
    connection.close()


def test_sqlite_date_column_holding_text_is_one_row_problem(tmp_path):
    frames = _frames()
    frames["cases"].loc[1, "closed_date"] = "soon"
    frames["cases"].loc[2, "intake_date"] = "9999-12-31"
    db = tmp_path / "cohort.db"
    _write_sqlite(db, frames, {("cases", "intake_date"), ("cases", "closed_date")})
    cohort = load(f"sqlite:///{db}")
    assert _one(cohort, "unparseable_date")[["row", "case_id"]].tolist() == [2, "B"]
    assert _one(cohort, "date_out_of_range")[["row", "case_id"]].tolist() == [3, "C"]
    _reconciles(cohort)


def test_sqlite_is_never_created_or_changed(tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(SourceError, match="does not exist"):
        load(f"sqlite:///{missing}")
    assert not missing.exists()
    db = tmp_path / "cohort.db"
    _write_sqlite(db, _frames())
    before = (sorted(os.listdir(tmp_path)), db.stat().st_mtime_ns, db.read_bytes())
    load(f"sqlite:///{db}")
    assert (sorted(os.listdir(tmp_path)), db.stat().st_mtime_ns, db.read_bytes()) == before
    with pytest.raises(SourceError, match="names no SQLite database file"):
        load("sqlite://")


def test_sqlite_text_that_is_not_utf8_is_reported(tmp_path):
    db = tmp_path / "cohort.db"
    _write_sqlite(db, _frames())
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE cases SET closure_reason = CAST(X'636166E9' AS TEXT) WHERE case_id = 'C'"
        )
    connection.close()
    cohort = load(f"sqlite:///{db}")
    hit = _one(cohort, "encoding_error")
    assert (hit["row"], hit["value"], hit["severity"]) == (3, "caf\\xe9", "warning")


@pytest.mark.skipif(
    not os.environ.get("CASEWORK_TEST_POSTGRES_URL"),
    reason="no PostgreSQL server: set CASEWORK_TEST_POSTGRES_URL (.ci/run starts one)",
)
def test_postgresql_dates_the_driver_cannot_convert(tmp_path):
    url = os.environ["CASEWORK_TEST_POSTGRES_URL"]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for name, frame in _frames().items():
            frame.to_sql(name, connection, index=False, if_exists="replace")
        connection.exec_driver_sql(
            "ALTER TABLE cases ALTER COLUMN intake_date TYPE date USING intake_date::date, "
            "ALTER COLUMN closed_date TYPE timestamptz USING closed_date::timestamptz"
        )
        connection.exec_driver_sql("UPDATE cases SET closed_date = 'infinity' WHERE case_id = 'B'")
        connection.exec_driver_sql(
            "UPDATE cases SET intake_date = '12345-01-01' WHERE case_id = 'C'"
        )
    engine.dispose()
    cohort = load(url)
    problems = cohort.problems.query("table == 'cases'").set_index("case_id")
    assert problems.loc["B", "rule"] == "unparseable_date"
    assert problems.loc["C", "rule"] == "date_out_of_range"
    assert cohort.cases.set_index("case_id").loc["A", "closed_date"] == pd.Timestamp("2024-06-03")


# ---------------------------------------------------------------- in memory


def test_in_memory_table_that_is_not_a_frame_is_unusable():
    frames = dict(_frames(), visits="visits.csv")
    with pytest.raises(SourceError, match="must be a pandas DataFrame"):
        load(frames)


def test_broken_text_in_memory_is_reported_not_raised():
    frames = _frames()
    frames["cases"] = frames["cases"].astype(object)
    frames["cases"].loc[0, "closure_reason"] = b"caf\xe9".decode("utf-8", "surrogateescape")
    cohort = load(frames)
    hit = _one(cohort, "encoding_error")
    assert (hit["row"], hit["value"]) == (1, "caf\\xe9")


def test_bytes_cells_are_read_as_utf8_or_reported(tmp_path):
    frames = _frames()
    frames["cases"] = frames["cases"].astype(object)
    frames["cases"].loc[1, "client_id"] = b"K\xe9"
    frames["cases"].loc[2, "closure_reason"] = b"tujuan tercapai"
    db = tmp_path / "cohort.db"
    _write_sqlite(db, frames)
    for source in (frames, f"sqlite:///{db}"):
        cohort = load(source)
        hit = _one(cohort, "encoding_error")
        assert (hit["row"], hit["value"], hit["severity"]) == (2, "K\\xe9", "error")
        assert cohort.cases["closure_reason"].tolist() == ["jadwal tidak cocok", "tujuan tercapai"]


def test_every_source_kind_counts_every_record(tmp_path):
    """The records written are the records read, in every format."""
    frames = _frames()
    write_tables(tmp_path / "csv", TINY)
    for source in (tmp_path / "csv", frames):
        cohort = load(source)
        assert cohort.counts.set_index("table")["read"].to_dict() == {
            name: len(frames[name]) for name in TABLE_NAMES
        }


def test_cells_that_are_not_single_values_are_reported():
    """Lists, dicts, complex numbers and other objects are no text, number or date."""
    frames = _frames()
    cases = frames["cases"]

    def column(name, row, value):
        cells = cases.get(name, pd.Series(None, index=cases.index, dtype=object))
        cells = cells.to_numpy(dtype=object, copy=True)
        cells[row] = value
        return pd.Series(cells, index=cases.index, dtype=object)

    frames["cases"] = cases.assign(
        case_id=column("case_id", 1, uuid.UUID(int=1)),
        client_id=column("client_id", 0, ["K", 1]),
        occupation=column("occupation", 1, {"job": "petani"}),
        age_at_intake=column("age_at_intake", 2, complex(30, 1)),
    )
    cohort = load(frames)
    _reconciles(cohort)
    problems = cohort.problems.query("rule == 'invalid_value'").set_index("column")
    assert problems.loc["client_id", ["row", "severity", "value"]].tolist() == [
        1,
        "error",
        "['K', 1]",
    ]
    assert "holds a list" in problems.loc["client_id", "message"]
    assert problems.loc["occupation", "severity"] == "warning"
    assert "a mapping" in problems.loc["occupation", "message"]
    assert "a complex number" in problems.loc["age_at_intake", "message"]
    cases = cohort.cases.set_index("client_id")
    assert pd.isna(cases.loc["K2", "occupation"]) and pd.isna(cases.loc["K3", "age_at_intake"])
    assert "A" in cohort.rejected["cases"]["case_id"].tolist()
    assert str(uuid.UUID(int=1)) in cohort.cases["case_id"].tolist()  # a uuid is text


def test_typed_columns_of_a_frame_are_read_or_reported():
    """Decimal NaN is missing; a complex column is reported, a binary one read as UTF-8."""
    from decimal import Decimal

    frames = _frames()
    cases = frames["cases"]
    frames["cases"] = cases.assign(
        age_at_intake=pd.Series([Decimal("sNaN"), Decimal("31"), Decimal("NaN")], dtype=object),
        closure_note=pd.array([b"ok", b"\xff", None], dtype=pd.ArrowDtype(pa.binary())),
        occupation=pd.Series([complex(1, 2)] * 3),
    )
    cohort = load(frames)
    _reconciles(cohort)
    read = cohort.cases.set_index("case_id")
    assert read["age_at_intake"].isna().tolist() == [True, False, True]
    assert read.loc["A", "closure_note"] == "ok"
    assert _one(cohort, "encoding_error")["row"] == 2
    assert read["occupation"].isna().all()
    assert len(cohort.problems.query("column == 'occupation'")) == 3


def test_arrow_date_columns_of_a_frame_are_read_at_any_year():
    frames = _frames()
    jakarta = pd.ArrowDtype(pa.timestamp("us", tz="Asia/Jakarta"))
    frames["cases"] = frames["cases"].assign(
        closed_date=pd.array(
            [dt.date(2024, 6, 3), dt.date(9999, 12, 31), None], dtype=pd.ArrowDtype(pa.date32())
        ),
        intake_date=pd.array(
            [dt.datetime(2024, 3, 25, 23, 30), dt.datetime(2024, 3, 28), dt.datetime(2024, 4, 1)],
            dtype=pd.ArrowDtype(pa.timestamp("us")),
        ).astype(jakarta),
    )
    cohort = load(frames)
    _reconciles(cohort)
    assert _one(cohort, "date_out_of_range")["row"] == 2
    read = cohort.cases.set_index("case_id")
    assert read.loc["A", "closed_date"] == pd.Timestamp("2024-06-03")
    days = ("2024-03-26", "2024-03-28", "2024-04-01")  # the local day in Jakarta
    assert read["intake_date"].tolist() == [pd.Timestamp(d) for d in days]
