"""The blank workbook caseworkers fill in (`casework-analytics template`).

The template's promise: filled in as it asks (drop-down forms, real dates,
ya/tidak), it loads back with no problem at all. These tests fill it through
openpyxl the way a caseworker fills it in Excel, and read everything back
with the public loader (`casework_analytics.load`) only, so what counts as
accepted is always the loader's decision, never the template's.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import column_index_from_string, get_column_letter

from casework_analytics import CaseworkError, load, synthetic
from casework_analytics.cli import main
from casework_analytics.closures import exit_taxonomy
from casework_analytics.schemas import TABLES
from casework_analytics.sources import TABLE_NAMES
from casework_analytics.template import build_template, write_template
from casework_analytics.vocabulary import VOCABULARIES

REPO = Path(__file__).resolve().parents[1]
LANGS = ("id", "en")
#: What a caseworker sees: sheet names in order (the last one hidden).
SHEET_NAMES = {
    "id": ["Petunjuk", "Penempatan", "Kasus", "Tahapan", "Sesi", "Kunjungan", "Contoh", "Daftar"],
    "en": [
        "Instructions",
        "placements",
        "cases",
        "stages",
        "sessions",
        "visits",
        "Example",
        "Lists",
    ],
}
TABLE_SHEETS = {
    lang: dict(zip(TABLE_NAMES, names[1:6], strict=True)) for lang, names in SHEET_NAMES.items()
}
#: The contract's ranges for number columns, as docs/data-contract.md states them.
NUMBER_RANGES = {
    "age_at_intake": (10, 100),
    "duration_min": (0, 1440),
    "self_report_use_days": (0, 7),
}
DATE_COLUMNS = {
    (t, c) for t, spec in TABLES.items() for c, k in spec.columns.items() if k == "date"
}
#: Columns that must offer a drop-down: every controlled value, stage and yes/no,
#: plus the closure reason (suggested reasons; free text stays allowed).
LIST_COLUMNS = {
    (t, c)
    for t, spec in TABLES.items()
    for c, k in spec.columns.items()
    if k.startswith("vocab:") or k in ("stage", "bool")
} | {("cases", "closure_reason")}
FIRST_DAY = dt.date(2024, 3, 25)


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("templates")
    return {lang: write_template(folder / f"template-{lang}.xlsx", lang=lang) for lang in LANGS}


def _headers(sheet, row: int = 1) -> list[str]:
    values = [cell.value for cell in sheet[row]]
    while values and values[-1] is None:
        values.pop()
    return values


def _validations(sheet) -> dict[str, object]:
    """The data validation of each column, by column letter (one per column)."""
    found = {}
    for validation in sheet.data_validations.dataValidation:
        for cells in validation.sqref.ranges:
            letter = get_column_letter(cells.min_col)
            assert letter not in found, f"{sheet.title} column {letter} has two validations"
            found[letter] = validation
    return found


def _list_forms(book, formula: str) -> list[str]:
    """The forms a list validation offers: an inline list or a range on another sheet."""
    if formula.startswith('"'):
        return formula.strip('"').split(",")
    match = re.fullmatch(r"'?(.+?)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", formula)
    assert match, formula
    sheet, col, first, col2, last = match.groups()
    assert col == col2, formula
    cells = book[sheet][f"{col}{first}:{col}{last}"]
    return [row[0].value for row in cells]


def _offered(book, lang: str) -> dict[tuple[str, str], list[str]]:
    """The drop-down forms of every list-validated column, by (table, column)."""
    offered = {}
    for table in TABLE_NAMES:
        sheet = book[TABLE_SHEETS[lang][table]]
        columns = list(TABLES[table].columns)
        for letter, validation in _validations(sheet).items():
            if validation.type == "list":
                column = columns[column_index_from_string(letter) - 1]
                offered[(table, column)] = _list_forms(book, validation.formula1)
    return offered


def _base_tables() -> dict[str, pd.DataFrame]:
    """One placement, one case, one stage: canonical headers, valid values."""
    return {
        "placements": pd.DataFrame(
            [["P1", "BNNK Tebing Tinggi", "CW1", "2024-03-18", "2024-06-03"]],
            columns=["placement_id", "site", "caseworker_id", "start_date", "end_date"],
        ),
        "cases": pd.DataFrame(
            [["C0", "P1", "K0", FIRST_DAY.isoformat()]],
            columns=["case_id", "placement_id", "client_id", "intake_date"],
        ),
        "stages": pd.DataFrame(
            [["C0", "engagement", FIRST_DAY.isoformat()]],
            columns=["case_id", "stage", "started_on"],
        ),
    }


def _load_forms(table: str, column: str, forms: list[str]):
    """Load each form in its column, one row each, and return the loaded column."""
    tables = _base_tables()
    n = len(forms)
    days = [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(n)]
    if table == "cases":
        frame = pd.DataFrame(
            {
                "case_id": [f"C{i + 1}" for i in range(n)],
                "placement_id": "P1",
                "client_id": [f"K{i + 1}" for i in range(n)],
                "intake_date": FIRST_DAY.isoformat(),
                column: forms,
            }
        )
        if column == "closure_reason":
            frame["closed_date"] = "2024-06-03"
        tables["cases"] = pd.concat([tables["cases"], frame], ignore_index=True)
        loaded = load(tables)
        loaded_column = "exit_reason" if column == "closure_reason" else column
        return loaded, loaded.cases[loaded_column].iloc[1:].tolist()
    if table == "stages":  # the same start day for all: no stage-order warning
        tables["stages"] = pd.DataFrame({"case_id": "C0", "stage": forms, "started_on": days[0]})
    elif table == "sessions":
        tables["sessions"] = pd.DataFrame(
            {"case_id": "C0", "session_date": days, "status": "held", column: forms}
        )
    else:
        tables["visits"] = pd.DataFrame(
            {"case_id": "C0", "visit_date": days, "attended": "yes", column: forms}
        )
    loaded = load(tables)
    return loaded, loaded.table(table)[column].tolist()


def _canonical_values(table: str, column: str) -> set:
    """Every value the column can hold, from the contract (not from the template)."""
    if (table, column) == ("cases", "closure_reason"):
        return set(exit_taxonomy()["code"]) - {"unclassified"}
    kind = TABLES[table].columns[column]
    if kind == "bool":
        return {True, False}
    if kind == "stage":
        return {"engagement", "assessment", "intervention", "termination"}
    return set(VOCABULARIES[kind.split(":", 1)[1]])


def _form_of(book, lang: str) -> dict[tuple[str, str], dict]:
    """canonical value -> drop-down form, per column, as the loader reads the forms."""
    mapping = {}
    for key, forms in _offered(book, lang).items():
        _, values = _load_forms(*key, forms)
        mapping[key] = dict(zip(values, forms, strict=True))
    return mapping


# --- the workbook's structure ------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_sheets_in_order_lists_hidden_example_and_instructions_never_loaded(templates, lang):
    book = openpyxl.load_workbook(templates[lang])
    assert book.sheetnames == SHEET_NAMES[lang]
    assert book.worksheets[0].title == SHEET_NAMES[lang][0]
    assert [s.sheet_state for s in book.worksheets] == ["visible"] * 7 + ["hidden"]
    example = book[SHEET_NAMES[lang][6]]
    assert example.max_row > 40  # the example case is really there ...
    cohort = load(templates[lang])  # ... and a blank template loads no row of it
    assert cohort.counts["read"].tolist() == [0, 0, 0, 0, 0]
    assert cohort.problems.empty


@pytest.mark.parametrize(
    ("lang", "sheet", "expected"),
    [
        ("id", "Kasus", ["ID Kasus", "ID Penempatan", "ID Klien", "Tanggal Masuk"]),
        ("id", "Kunjungan", ["ID Kasus", "Tanggal Kunjungan", "Hadir"]),
        ("en", "cases", ["Case ID", "Placement ID", "Client ID", "Intake date"]),
        ("en", "visits", ["Case ID", "Visit date", "Attended"]),
    ],
)
def test_headers_are_in_the_language_chosen(templates, lang, sheet, expected):
    book = openpyxl.load_workbook(templates[lang])
    assert _headers(book[sheet])[: len(expected)] == expected


@pytest.mark.parametrize("lang", LANGS)
def test_every_header_loads_to_its_column(templates, lang):
    """A row holding each header's own text: the loader reports it (a header is not
    a date) with the raw values under the canonical names, each under its column."""
    book = openpyxl.load_workbook(templates[lang])
    for table in TABLE_NAMES:
        sheet = TABLE_SHEETS[lang][table]
        headers = _headers(book[sheet])
        assert len(headers) == len(set(headers)) == len(TABLES[table].columns), table
        sources = {name: frame for name, frame in _base_tables().items() if name != table}
        sources[sheet] = pd.DataFrame([headers], columns=headers, dtype=object)
        cohort = load(sources)
        assert not (cohort.problems["rule"] == "unknown_column").any(), table
        (rejected,) = cohort.rejected[table].to_dict("records")
        assert [rejected[column] for column in TABLES[table].columns] == headers, table


@pytest.mark.parametrize("lang", LANGS)
def test_drop_downs_are_present_on_every_controlled_column(templates, lang):
    book = openpyxl.load_workbook(templates[lang])
    offered = _offered(book, lang)
    assert set(offered) == LIST_COLUMNS
    for table in TABLE_NAMES:
        sheet = book[TABLE_SHEETS[lang][table]]
        for letter, validation in _validations(sheet).items():
            (cells,) = validation.sqref.ranges
            assert cells.min_row == 2 and cells.max_row >= 1001, (table, letter)
            if validation.type == "list":
                assert len(validation.formula1) <= 255
                assert validation.showDropDown in (None, False)  # True would hide the arrow


def test_drop_down_forms_show_the_language_chosen(templates):
    indonesian = _offered(openpyxl.load_workbook(templates["id"]), "id")
    english = _offered(openpyxl.load_workbook(templates["en"]), "en")
    assert indonesian[("visits", "attended")] == ["ya", "tidak"]
    assert english[("visits", "attended")] == ["yes", "no"]
    assert indonesian[("stages", "stage")] == [
        "Engagement (relasi dan kontrak)",
        "Asesmen",
        "Intervensi",
        "Terminasi",
    ]
    assert english[("stages", "stage")][1:] == ["Assessment", "Intervention", "Termination"]
    assert {"terlaksana", "klien tidak hadir"} <= set(indonesian[("sessions", "status")])
    assert {"perempuan", "laki-laki"} <= set(indonesian[("cases", "sex")])
    assert {"sabu", "ganja"} <= set(indonesian[("cases", "primary_substance")])
    assert "negatif" in indonesian[("visits", "test_result")]


@pytest.mark.parametrize("lang", LANGS)
def test_every_drop_down_form_is_accepted_by_the_loader(templates, lang):
    """Each form loads, without a problem, to a distinct value; together they cover
    every value the contract allows in that column."""
    book = openpyxl.load_workbook(templates[lang])
    for (table, column), forms in _offered(book, lang).items():
        cohort, values = _load_forms(table, column, forms)
        assert cohort.problems.empty, (table, column, cohort.problems.to_dict("records"))
        assert len(set(values)) == len(forms), (table, column, values)
        assert set(values) == _canonical_values(table, column), (table, column)


@pytest.mark.parametrize("lang", LANGS)
def test_dates_numbers_prompts_and_frozen_header(templates, lang):
    book = openpyxl.load_workbook(templates[lang])
    for table in TABLE_NAMES:
        sheet = book[TABLE_SHEETS[lang][table]]
        assert sheet.freeze_panes == "A2"
        validations = _validations(sheet)
        columns = list(TABLES[table].columns)
        assert len(validations) == len(columns)  # every column has its input message
        for position, column in enumerate(columns, start=1):
            letter = get_column_letter(position)
            validation = validations[letter]
            assert validation.showInputMessage and validation.prompt, (table, column)
            assert len(validation.prompt) <= 255 and len(validation.promptTitle) <= 32
            assert len(validation.error or "") <= 225 and len(validation.errorTitle or "") <= 32
            width = sheet.column_dimensions[letter].width
            assert len(_headers(sheet)[position - 1]) < width <= 60, (table, column)
            if (table, column) in DATE_COLUMNS:
                assert sheet.column_dimensions[letter].number_format == "DD/MM/YYYY"
                assert validation.type == "date" and validation.showErrorMessage
                first = dt.date(1899, 12, 30) + dt.timedelta(days=int(validation.formula1))
                assert first <= dt.date(2020, 1, 1)
            if column in NUMBER_RANGES:
                low, high = NUMBER_RANGES[column]
                assert validation.type == "decimal" and validation.operator == "between"
                assert (float(validation.formula1), float(validation.formula2)) == (low, high)
            if TABLES[table].columns[column] == "id":
                # Text, so Excel never turns an ID such as 2024-1 into a date.
                assert sheet.column_dimensions[letter].number_format == "@"


@pytest.mark.parametrize("lang", LANGS)
def test_instructions_list_every_column_in_both_languages(templates, lang):
    book = openpyxl.load_workbook(templates[lang])
    sheet = book[SHEET_NAMES[lang][0]]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    text = " ".join(str(v) for row in rows for v in row if v is not None)
    assert "casework-analytics validate" in text
    titles = {"id": "Nama sistem", "en": "System name"}[lang]
    start = next(i for i, row in enumerate(rows) if titles in row)
    header = rows[start]
    listed = [dict(zip(header, row, strict=True)) for row in rows[start + 1 :] if row[2]]
    pairs = {(entry[header[0]], entry[titles]) for entry in listed}
    assert pairs == {(TABLE_SHEETS[lang][t], c) for t in TABLE_NAMES for c in TABLES[t].columns}
    assert len(listed) == len(pairs)
    by_column = {(e[header[0]], e[titles]): list(e.values()) for e in listed}
    sex = by_column[(TABLE_SHEETS[lang]["cases"], "sex")]
    assert any("perempuan" in str(v) for v in sex) and any("female" in str(v) for v in sex)
    age = by_column[(TABLE_SHEETS[lang]["cases"], "age_at_intake")]
    assert any("10" in str(v) and "100" in str(v) for v in age)
    intake = by_column[(TABLE_SHEETS[lang]["cases"], "intake_date")]
    assert "25/03/2024" in intake  # examples are written as they should be typed


def test_packaged_example_is_the_documented_one():
    packaged = REPO / "casework_analytics" / "data" / "example"
    for name in TABLE_NAMES:
        assert filecmp.cmp(
            packaged / f"{name}.csv", REPO / "data" / "example" / f"{name}.csv", shallow=False
        ), name


@pytest.mark.parametrize("lang", LANGS)
def test_example_sheet_holds_the_documented_case_as_it_should_be_filled_in(templates, lang):
    """Moved into the table sheets, the example loads to data/example exactly."""
    book = openpyxl.load_workbook(templates[lang])
    example = book[SHEET_NAMES[lang][6]]
    rows = [[c.value for c in row] for row in example.iter_rows()]
    found = {}
    for table in TABLE_NAMES:
        headers = _headers(book[TABLE_SHEETS[lang][table]])
        start = next(i for i, row in enumerate(rows) if row[: len(headers)] == headers)
        records = []
        for row in rows[start + 1 :]:
            if all(v is None for v in row):
                break
            records.append(row[: len(headers)])
        found[TABLE_SHEETS[lang][table]] = pd.DataFrame(records, columns=headers, dtype=object)
    cohort = load(found)
    assert cohort.problems.empty, cohort.problems.to_dict("records")
    documented = load(REPO / "data" / "example")
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(cohort.table(name), documented.table(name))


# --- the round trip ----------------------------------------------------------------


def _fill(path: Path, out: Path, lang: str, tables: dict[str, pd.DataFrame]) -> None:
    """Fill the template as a caseworker would: forms from the drop-downs, real dates
    (in the column's format, as Excel applies it), numbers as numbers, text as text."""
    book = openpyxl.load_workbook(path)
    form_of = _form_of(book, lang)
    for table, frame in tables.items():
        sheet = book[TABLE_SHEETS[lang][table]]
        columns = list(TABLES[table].columns)
        for r, record in enumerate(frame[columns].itertuples(index=False), start=2):
            for position, (column, value) in enumerate(zip(columns, record, strict=True), 1):
                if pd.isna(value):
                    continue
                cell = sheet.cell(r, position)
                if (table, column) in form_of and (table, column) != ("cases", "closure_reason"):
                    cell.value = form_of[(table, column)][value]
                elif isinstance(value, pd.Timestamp):
                    cell.value = value.date()
                    cell.number_format = sheet.column_dimensions[cell.column_letter].number_format
                elif isinstance(value, float):
                    cell.value = value
                else:
                    cell.value = str(value)
                    cell.data_type = "s"
    book.save(out)


@pytest.mark.parametrize("lang", LANGS)
def test_filled_template_loads_like_the_tables_it_was_filled_with(templates, lang, tmp_path):
    """The only difference between the generated tables and the filled workbook is
    the loader's documented normalisation (aliases to canonical values, day-first
    and Excel dates to dates, ya/tidak to booleans), which both go through."""
    tables = synthetic.generate(6, seed=1)
    filled = tmp_path / f"filled-{lang}.xlsx"
    _fill(templates[lang], filled, lang, tables)
    cohort = load(filled)
    assert cohort.problems.empty, cohort.problems.head(10).to_dict("records")
    direct = load(tables)
    assert cohort.counts.equals(direct.counts)
    assert cohort.counts["read"].tolist() == [len(tables[t]) for t in TABLE_NAMES]
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(cohort.table(name), direct.table(name))


def test_unknown_language_and_row_count_are_refused():
    with pytest.raises(CaseworkError, match="`lang`.*'fr'"):
        build_template("fr")
    with pytest.raises(CaseworkError, match="`rows`"):
        build_template("id", rows=0)


# --- LibreOffice -------------------------------------------------------------------

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="module")
def converted(templates, tmp_path_factory):
    """Both templates converted by LibreOffice to PDF and back to xlsx."""
    if SOFFICE is None:
        pytest.skip(
            "LibreOffice is not installed (apt-get install libreoffice-calc-nogui; .ci/run does)"
        )
    work = tmp_path_factory.mktemp("libreoffice")
    profile = f"-env:UserInstallation={(work / 'profile').as_uri()}"
    out = {}
    for target in ("pdf", "xlsx"):
        result = subprocess.run(
            [SOFFICE, profile, "--headless", "--convert-to", target, "--outdir", str(work / target)]
            + [str(templates[lang]) for lang in LANGS],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "HOME": str(work)},
        )
        assert result.returncode == 0, result.stderr
        out[target] = {
            lang: work / target / templates[lang].with_suffix(f".{target}").name for lang in LANGS
        }
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_libreoffice_prints_the_template(converted, lang):
    pdf = converted["pdf"][lang]
    assert pdf.stat().st_size > 1000
    assert pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("lang", LANGS)
def test_libreoffice_keeps_the_drop_downs(converted, templates, lang):
    again = openpyxl.load_workbook(converted["xlsx"][lang])
    original = openpyxl.load_workbook(templates[lang])
    for table in TABLE_NAMES:
        name = TABLE_SHEETS[lang][table]
        before, after = _validations(original[name]), _validations(again[name])
        assert set(after) == set(before), name
        assert {k for k, v in after.items() if v.type == "list"} == {
            k for k, v in before.items() if v.type == "list"
        }
    assert _offered(again, lang) == _offered(original, lang)
    assert load(converted["xlsx"][lang]).problems.empty


# --- the command line --------------------------------------------------------------


def test_cli_writes_refuses_to_overwrite_and_checks_the_suffix(tmp_path, capsys):
    path = tmp_path / "templat.xlsx"
    assert main(["template", str(path), "--lang", "id"]) == 0
    assert openpyxl.load_workbook(path).sheetnames[0] == "Petunjuk"
    assert "casework-analytics validate" in capsys.readouterr().out
    written = path.read_bytes()
    assert main(["template", str(path), "--lang", "en"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert path.read_bytes() == written
    assert main(["template", str(path), "--lang", "en", "--overwrite"]) == 0
    assert openpyxl.load_workbook(path).sheetnames[0] == "Instructions"
    wrong = tmp_path / "templat.csv"
    assert main(["template", str(wrong)]) == 2
    assert "xlsx" in capsys.readouterr().err
    assert not wrong.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templat.xlsx"]  # nothing partial


def test_cli_default_language_is_indonesian(tmp_path):
    assert main(["template", str(tmp_path / "t.xlsx")]) == 0
    assert openpyxl.load_workbook(tmp_path / "t.xlsx").sheetnames[1] == "Penempatan"
