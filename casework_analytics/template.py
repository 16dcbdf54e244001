"""The blank workbook caseworkers fill in (``casework-analytics template``).

Students and agency staff keep their records in Excel. The template gives
them a workbook that :func:`casework_analytics.load` reads back without a
single problem when it is filled in as it asks, in Indonesian (``lang="id"``,
the default) or English (``lang="en"``).

Sheets, in order
----------------
``Petunjuk`` / ``Instructions``
    How to fill in and check the workbook, then the data dictionary: every
    table and column of the data contract, whether it is required, its kind,
    the accepted values in Indonesian and in English, a description and an
    example (see :func:`data_dictionary`).
``Penempatan, Kasus, Tahapan, Sesi, Kunjungan`` / ``placements, cases, stages, sessions, visits``
    One per table, named so the loader finds it, with only the header row.
    Every column carries an input message (its description); controlled
    values, stages and yes/no have drop-down lists; dates are formatted
    ``DD/MM/YYYY`` and must be dates between 2000 and 2099; numbers must lie
    in the contract's range; identifier and text columns are formatted as
    text, so Excel never turns ``2024-1`` or ``3-4`` into a date. The header
    row is frozen; required columns have dark headers.
``Contoh`` / ``Example``
    The documented BNNK Tebing Tinggi placement, written as the table sheets
    should be filled in. The loader reads sheets by table name only, so this
    sheet is never loaded.
``Daftar`` / ``Lists`` (hidden)
    The drop-down lists, referred to by range, so no list is limited by
    Excel's 255 characters for lists typed into a validation.

Where the wording lives
-----------------------
Headers, descriptions and examples: ``data/data_dictionary.csv``. Drop-down
forms: ``data/value_labels.csv`` (controlled values and yes/no), the stage
model's labels (``data/stage_models.csv``) and the exit-reason labels
(``data/exit_reasons.csv``, offered for the closure reason, which stays free
text). Every header is a column alias (``data/column_aliases.csv``) or the
canonical name itself, and every form is a value or stage alias, so what the
template shows the loader reads back; ``tests/test_template.py`` checks both.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .errors import CaseworkError
from .schemas import SCHEMAS, TABLES
from .sources import TABLE_NAMES
from .stage_models import get_stage_model
from .vocabulary import read_package_table

__all__ = [
    "LANGUAGES",
    "ROWS",
    "DATE_FORMAT",
    "TEXT_FORMAT",
    "SHEETS",
    "TEXT",
    "SUGGESTED",
    "list_key",
    "drop_down",
    "number_range",
    "data_dictionary",
    "validate_command",
    "build_template",
    "write_template",
    "example_tables",
]

if TYPE_CHECKING:
    from openpyxl import Workbook

LANGUAGES = ("id", "en")
#: Rows under the header that carry the drop-downs, date and number checks and messages.
ROWS = 10_000
#: Dates the date cells accept; catches typing slips such as 0224 for 2024.
FIRST_DATE, LAST_DATE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)
DATE_FORMAT = "DD/MM/YYYY"
TEXT_FORMAT = "@"
_EXCEL_ROWS = 1_048_576

SHEETS = {
    "id": {
        "instructions": "Petunjuk",
        "placements": "Penempatan",
        "cases": "Kasus",
        "stages": "Tahapan",
        "sessions": "Sesi",
        "visits": "Kunjungan",
        "example": "Contoh",
        "lists": "Daftar",
    },
    "en": {
        "instructions": "Instructions",
        "placements": "placements",
        "cases": "cases",
        "stages": "stages",
        "sessions": "sessions",
        "visits": "visits",
        "example": "Example",
        "lists": "Lists",
    },
}

TEXT = {
    "id": {
        "title": "Templat pencatatan kasus (casework-analytics)",
        "made_by": "Dibuat oleh casework-analytics {version}; model tahapan: {model}.",
        "steps": [
            "1. Isi satu lembar per tabel: Penempatan (satu baris per PKL), Kasus (satu baris "
            "per klien), Tahapan (satu baris per tahap yang dimulai), Sesi (satu baris per "
            "pertemuan yang dijadwalkan), Kunjungan (satu baris per kunjungan pemantauan).",
            "2. Jangan ubah nama lembar atau judul kolom di baris pertama. Judul biru tua wajib "
            "diisi, judul biru muda boleh kosong. Keterangan kolom muncul saat selnya dipilih.",
            "3. Kolom pilihan: klik sel, lalu pilih dari daftar (panah di kanan sel).",
            "4. Tanggal: ketik dd/mm/yyyy, mis. 18/03/2024. Jika Excel menolak tanggal yang "
            "benar, komputer Anda membaca bulan lebih dulu: ketik 2024-03-18.",
            "5. Tulis kode, bukan identitas: jangan tulis nama, NIK, nomor HP atau alamat. "
            "ID Kasus di Tahapan, Sesi dan Kunjungan harus sama persis dengan di lembar Kasus.",
            "6. Sesi dan Kunjungan boleh tidak dicatat: hapus lembarnya, karena lembar yang "
            "kosong dibaca sebagai 'tidak ada sesi' atau 'tidak ada kunjungan'.",
            "7. Lembar Contoh berisi satu kasus contoh (PKL di BNNK Tebing Tinggi); lembar itu "
            "tidak dibaca.",
            "8. Simpan sebagai .xlsx, lalu periksa: {validate}",
            "9. Perbaiki setiap masalah yang dilaporkan (nomor baris = nomor baris di Excel, "
            "nama kolom = kolom 'Nama sistem' di bawah) dan periksa lagi sampai tidak ada "
            "error. Daftar lengkap: tambahkan --problems-out masalah.csv.",
            "10. Sebelum data dikirim ke luar lembaga, samarkan ID: casework-analytics keygen "
            "kunci.key, lalu casework-analytics pseudonymise NAMA_FILE.xlsx FOLDER_BARU "
            "--key-file kunci.key (simpan kunci di luar data).",
        ],
        "file": "NAMA_FILE.xlsx",
        "required_label": "wajib diisi",
        "optional_label": "boleh kosong",
        "dictionary": "Kamus data",
        "columns": [
            "Lembar",
            "Judul kolom",
            "Nama sistem",
            "Wajib",
            "Jenis",
            "Nilai (Bahasa Indonesia)",
            "Nilai (English)",
            "Keterangan",
            "Contoh",
        ],
        "yes": "ya",
        "no": "tidak",
        "kinds": {
            "id": "kode",
            "text": "teks",
            "date": "tanggal",
            "bool": "ya/tidak",
            "number": "angka",
            "vocab": "pilihan",
            "stage": "tahap",
        },
        "free_text": "teks bebas",
        "or_free_text": "atau teks bebas",
        "date_values": "dd/mm/yyyy (mis. 18/03/2024) atau yyyy-mm-dd",
        "required": "Wajib.",
        "optional": "Boleh kosong.",
        "hint_date": "Ketik dd/mm/yyyy, mis. 18/03/2024.",
        "hint_list": "Pilih dari daftar.",
        "hint_suggest": "Pilih dari daftar atau tulis sendiri.",
        "hint_number": "Angka {range}.",
        "error_date_title": "Bukan tanggal",
        "error_date": "Ketik tanggal dd/mm/yyyy (mis. 18/03/2024), tahun 2000 sampai 2099. Jika "
        "Excel menolak tanggal yang benar, ketik 2024-03-18.",
        "error_list_title": "Bukan pilihan",
        "error_list": "Pilih salah satu nilai dari daftar (panah di kanan sel).",
        "error_number_title": "Angka tidak sesuai",
        "error_number": "Ketik angka {range}.",
        "range": "{low} sampai {high}",
        "at_least": "paling kecil {low}",
        "example_title": "Contoh: PKL di BNNK Tebing Tinggi (18/03/2024 - 03/06/2024), satu "
        "klien (RO)",
        "example_note": "Lembar ini hanya contoh dan tidak dibaca. Isi data Anda di lembar "
        "Penempatan, Kasus, Tahapan, Sesi dan Kunjungan.",
        "example_sheet": "Lembar {sheet}",
    },
    "en": {
        "title": "Casework recording template (casework-analytics)",
        "made_by": "Made by casework-analytics {version}; stage model: {model}.",
        "steps": [
            "1. Fill in one sheet per table: placements (one row per field placement), cases "
            "(one row per client), stages (one row per stage started), sessions (one row per "
            "scheduled meeting), visits (one row per scheduled monitoring visit).",
            "2. Do not rename the sheets or the column headers in row 1. Dark blue headers are "
            "required, light blue ones may stay empty. Each column's description shows when "
            "you select a cell.",
            "3. Columns with choices: click the cell and pick from the list (arrow at its right).",
            "4. Dates: type dd/mm/yyyy, e.g. 18/03/2024. If Excel refuses a correct date, your "
            "computer reads the month first: type 2024-03-18.",
            "5. Write codes, not identities: no names, national ID numbers, phone numbers or "
            "addresses anywhere. The Case ID in stages, sessions and visits must match the "
            "cases sheet exactly.",
            "6. Sessions and visits are optional: delete the sheet if you do not record them, "
            "since an empty sheet reads as 'no sessions' or 'no visits'.",
            "7. The Example sheet holds one example case (a placement at BNNK Tebing Tinggi); "
            "it is never read.",
            "8. Save as .xlsx, then check it: {validate}",
            "9. Fix every problem reported (the row number is Excel's row number, the column "
            "is the 'System name' below) and check again until there are no errors. For the "
            "full list add --problems-out problems.csv.",
            "10. Before data leave the agency, pseudonymise the IDs: casework-analytics keygen "
            "secret.key, then casework-analytics pseudonymise FILE.xlsx NEW_FOLDER --key-file "
            "secret.key (keep the key away from the data).",
        ],
        "file": "FILE.xlsx",
        "required_label": "required",
        "optional_label": "may stay empty",
        "dictionary": "Data dictionary",
        "columns": [
            "Sheet",
            "Column header",
            "System name",
            "Required",
            "Kind",
            "Values (Bahasa Indonesia)",
            "Values (English)",
            "Description",
            "Example",
        ],
        "yes": "yes",
        "no": "no",
        "kinds": {
            "id": "code",
            "text": "text",
            "date": "date",
            "bool": "yes/no",
            "number": "number",
            "vocab": "choice",
            "stage": "stage",
        },
        "free_text": "free text",
        "or_free_text": "or free text",
        "date_values": "dd/mm/yyyy (e.g. 18/03/2024) or yyyy-mm-dd",
        "required": "Required.",
        "optional": "Optional.",
        "hint_date": "Type dd/mm/yyyy, e.g. 18/03/2024.",
        "hint_list": "Pick from the list.",
        "hint_suggest": "Pick from the list or write your own.",
        "hint_number": "A number {range}.",
        "error_date_title": "Not a date",
        "error_date": "Type a date as dd/mm/yyyy (e.g. 18/03/2024), years 2000 to 2099. If "
        "Excel refuses a correct date, type 2024-03-18.",
        "error_list_title": "Not a choice",
        "error_list": "Pick one of the values in the list (arrow at the cell's right).",
        "error_number_title": "Number out of range",
        "error_number": "Type a number {range}.",
        "range": "from {low} to {high}",
        "at_least": "of at least {low}",
        "example_title": "Example: a placement at BNNK Tebing Tinggi (18/03/2024 - 03/06/2024), "
        "one client (RO)",
        "example_note": "This sheet is only an example and is never read. Enter your data in "
        "the placements, cases, stages, sessions and visits sheets.",
        "example_sheet": "Sheet {sheet}",
    },
}

_REQUIRED_FILL, _REQUIRED_FONT = "1F4E79", "FFFFFF"
_OPTIONAL_FILL, _OPTIONAL_FONT = "DDEBF7", "000000"
#: Columns whose drop-down only suggests: any other text is accepted too.
SUGGESTED = {("cases", "closure_reason"): "closure_reason"}


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise CaseworkError(
            f"The value for `lang` must be one of {list(LANGUAGES)}, but {lang!r} was passed."
        )


@cache
def _dictionary() -> pd.DataFrame:
    return read_package_table("data_dictionary.csv").set_index(["table", "column"])


@cache
def _value_labels() -> pd.DataFrame:
    return read_package_table("value_labels.csv")


def list_key(table: str, column: str) -> str | None:
    """The drop-down list a column uses (``sex``, ``boolean``, ``stage``, ...), or None.

    Parameters
    ----------
    table, column : str
        A column of the data contract.

    Returns
    -------
    str or None
    """
    kind = TABLES[table].columns[column]
    if kind.startswith("vocab:"):
        return kind.split(":", 1)[1]
    if kind == "bool":
        return "boolean"
    if kind == "stage":
        return "stage"
    return SUGGESTED.get((table, column))


def drop_down(key: str, lang: str = "id") -> list[tuple[str, str]]:
    """The ``(value, form)`` pairs of drop-down list ``key``, in display order.

    ``value`` is the canonical value (``"true"``/``"false"`` for yes/no, the
    stage code of the default stage model, the exit-reason code); ``form``
    is what the list shows in ``lang``.

    Parameters
    ----------
    key : str
        A list name, as :func:`list_key` returns it.
    lang : {"id", "en"}

    Returns
    -------
    list of (str, str)
    """
    _check_lang(lang)
    return list(_drop_down(key, lang))


@cache
def _drop_down(key: str, lang: str) -> tuple[tuple[str, str], ...]:
    if key == "stage":
        model = get_stage_model()
        return tuple((stage, model.label(stage, lang)) for stage in model.stages)
    if key == "closure_reason":
        from .closures import exit_taxonomy

        reasons = exit_taxonomy()
        reasons = reasons[reasons["code"] != "unclassified"]
        return tuple(zip(reasons["code"], reasons[f"label_{lang}"], strict=True))
    labels = _value_labels()
    rows = labels[labels["field"] == key]
    if rows.empty:
        raise CaseworkError(f"No drop-down list is called {key!r}.")
    return tuple(zip(rows["value"], rows[f"label_{lang}"], strict=True))


def _form(key: str, lang: str, value: str) -> str:
    return dict(_drop_down(key, lang))[value]


@cache
def number_range(table: str, column: str) -> tuple[float | None, float | None]:
    """The lowest and highest value the data contract accepts in a number column.

    Parameters
    ----------
    table, column : str
        A number column of the data contract.

    Returns
    -------
    low, high : float or None
        None where the contract sets no bound.
    """
    low = high = None
    for check in SCHEMAS[table].to_schema().columns[column].checks:
        low = check.statistics.get("min_value", low)
        high = check.statistics.get("max_value", high)
    return low, high


def _range_text(table: str, column: str, lang: str) -> str:
    low, high = number_range(table, column)
    if low is None:
        return ""
    if high is None:
        return TEXT[lang]["at_least"].format(low=_number(low))
    return TEXT[lang]["range"].format(low=_number(low), high=_number(high))


def _number(value) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def _kind(table: str, column: str) -> str:
    return TABLES[table].columns[column].split(":", 1)[0]


def _accepted(table: str, column: str, lang: str) -> str:
    """What the column accepts, said in ``lang``."""
    kind, text = _kind(table, column), TEXT[lang]
    key = list_key(table, column)
    if key is not None:
        forms = ", ".join(form for _, form in drop_down(key, lang))
        return f"{forms}, {text['or_free_text']}" if kind == "text" else forms
    if kind == "date":
        return text["date_values"]
    if kind == "number":
        return _range_text(table, column, lang)
    return text["free_text"] if kind == "text" else ""


def _display(value: str, table: str, column: str, lang: str) -> str:
    """A value of the data dictionary's ``example`` column as a caseworker would write it."""
    if value == "":
        return ""
    kind = _kind(table, column)
    if kind == "date":
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    key = list_key(table, column)
    if key is not None and kind != "text":
        return _form(key, lang, value)
    return value


def data_dictionary(lang: str = "id") -> pd.DataFrame:
    """Every column of the data contract as the template presents it.

    Parameters
    ----------
    lang : {"id", "en"}
        Language of the sheet names, headers, descriptions and examples.

    Returns
    -------
    DataFrame
        One row per table and column, in the order of the data contract:
        ``table, column`` (canonical names), ``sheet, header`` (in ``lang``),
        ``required`` (bool), ``kind`` (``id, text, date, bool, number,
        vocab, stage``), ``values_id, values_en`` (the accepted forms in
        Indonesian and English: the drop-down forms, the date forms or the
        number range; empty for identifiers), ``description, example`` (in
        ``lang``).
    """
    _check_lang(lang)
    words = _dictionary()
    rows = []
    for table in TABLE_NAMES:
        spec = TABLES[table]
        for column in spec.columns:
            entry = words.loc[(table, column)]
            rows.append(
                {
                    "table": table,
                    "column": column,
                    "sheet": SHEETS[lang][table],
                    "header": entry[f"header_{lang}"],
                    "required": column in spec.required,
                    "kind": _kind(table, column),
                    "values_id": _accepted(table, column, "id"),
                    "values_en": _accepted(table, column, "en"),
                    "description": entry[f"description_{lang}"],
                    "example": _display(entry["example"], table, column, lang),
                }
            )
    return pd.DataFrame(rows)


def validate_command(lang: str = "id") -> str:
    """The command that checks a filled template, as the instructions give it.

    Parameters
    ----------
    lang : {"id", "en"}

    Returns
    -------
    str
    """
    _check_lang(lang)
    return f"casework-analytics validate {TEXT[lang]['file']}"


def build_template(lang: str = "id", *, rows: int = ROWS) -> Workbook:
    """The template as an openpyxl ``Workbook`` (see the module docstring).

    Parameters
    ----------
    lang : {"id", "en"}
        Language of sheet names, headers, messages and drop-down forms.
        Stage drop-downs show the labels of the default stage model
        (``skidmore``).
    rows : int
        Rows under each header that carry the drop-downs, checks and
        messages (default 10,000). Formats apply to whole columns.

    Returns
    -------
    openpyxl.Workbook
    """
    from openpyxl import Workbook

    _check_lang(lang)
    if not isinstance(rows, int) or not 1 <= rows < _EXCEL_ROWS:
        raise CaseworkError(
            f"The value for `rows` must be a whole number from 1 to {_EXCEL_ROWS - 1}, but "
            f"{rows!r} was passed."
        )
    book = Workbook()
    book.active.title = SHEETS[lang]["instructions"]
    lists = _Lists(SHEETS[lang]["lists"], lang)
    for table in TABLE_NAMES:
        _table_sheet(book.create_sheet(SHEETS[lang][table]), table, lang, lists, rows)
    _example_sheet(book.create_sheet(SHEETS[lang]["example"]), lang)
    lists.write(book.create_sheet(SHEETS[lang]["lists"]))
    _instructions_sheet(book.active, lang)
    book.properties.creator = "casework-analytics"
    book.properties.title = TEXT[lang]["title"]
    return book


def write_template(path: str | os.PathLike, *, lang: str = "id", rows: int = ROWS) -> Path:
    """Write the template to ``path`` (``.xlsx``) in one step; an existing file is replaced.

    See :func:`build_template` for the parameters. The command line
    (``casework-analytics template``) refuses to replace a file unless
    ``--overwrite`` is given.

    Parameters
    ----------
    path : str or path
        The workbook to write.
    lang, rows
        As in :func:`build_template`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from .outputs import write_file_atomically

    book = build_template(lang, rows=rows)
    return write_file_atomically(path, book.save)


class _Lists:
    """The hidden sheet of drop-down lists: one column per list, used in that order."""

    def __init__(self, sheet: str, lang: str):
        from openpyxl.utils import get_column_letter, quote_sheetname

        self.keys: list[str] = []
        for table in TABLE_NAMES:
            for column in TABLES[table].columns:
                key = list_key(table, column)
                if key is not None and key not in self.keys:
                    self.keys.append(key)
        self.forms = {key: [f for _, f in drop_down(key, lang)] for key in self.keys}
        self.ranges = {}
        for position, key in enumerate(self.keys, start=1):
            letter = get_column_letter(position)
            last = len(self.forms[key]) + 1
            self.ranges[key] = f"{quote_sheetname(sheet)}!${letter}$2:${letter}${last}"

    def write(self, sheet) -> None:
        for position, key in enumerate(self.keys, start=1):
            sheet.cell(1, position, key)
            for row, form in enumerate(self.forms[key], start=2):
                _text_cell(sheet, row, position, form)
        sheet.sheet_state = "hidden"


def _text_cell(sheet, row: int, column: int, value: str):
    """A cell holding ``value`` as text, never as a formula whatever it starts with."""
    cell = sheet.cell(row, column)
    if value:
        cell.value = value
        cell.data_type = "s"
    return cell


def _style_header(cell, required: bool) -> None:
    from openpyxl.styles import Font, PatternFill

    fill, font = (_REQUIRED_FILL, _REQUIRED_FONT) if required else (_OPTIONAL_FILL, _OPTIONAL_FONT)
    cell.font = Font(bold=True, color=font)
    cell.fill = PatternFill("solid", fgColor=fill)


def _width(table: str, column: str, header: str, lists: _Lists) -> float:
    kind, key = _kind(table, column), list_key(table, column)
    longest = len(header)
    if key is not None:
        longest = max(longest, *(len(f) for f in lists.forms[key]))
    if kind == "date":
        longest = max(longest, 12)
    if kind == "text" and key is None:
        longest = max(longest, 30)
    return min(longest + 4, 50)


def _validation(table: str, column: str, lang: str, lists: _Lists, header: str):
    """The data validation of one column: its check and its input message."""
    from openpyxl.utils.datetime import to_excel
    from openpyxl.worksheet.datavalidation import DataValidation

    text, kind, key = TEXT[lang], _kind(table, column), list_key(table, column)
    required = column in TABLES[table].required
    hint = ""
    rule: dict = {}
    if key is not None and kind == "text":
        hint = text["hint_suggest"]
        rule = {"type": "list", "formula1": lists.ranges[key], "showErrorMessage": False}
    elif key is not None:
        hint = text["hint_list"]
        rule = {
            "type": "list",
            "formula1": lists.ranges[key],
            "errorTitle": text["error_list_title"],
            "error": text["error_list"],
        }
    elif kind == "date":
        hint = text["hint_date"]
        rule = {
            "type": "date",
            "operator": "between",
            "formula1": str(int(to_excel(FIRST_DATE))),
            "formula2": str(int(to_excel(LAST_DATE))),
            "errorTitle": text["error_date_title"],
            "error": text["error_date"],
        }
    elif kind == "number":
        low, high = number_range(table, column)
        if low is not None:
            span = _range_text(table, column, lang)
            hint = text["hint_number"].format(range=span)
            bounds = {"formula1": str(_number(low))}
            if high is None:
                bounds["operator"] = "greaterThanOrEqual"
            else:
                bounds.update(operator="between", formula2=str(_number(high)))
            rule = {
                "type": "decimal",
                **bounds,
                "errorTitle": text["error_number_title"],
                "error": text["error_number"].format(range=span),
            }
    rule.setdefault("showErrorMessage", "type" in rule)
    words = _dictionary().loc[(table, column)]
    prompt = " ".join(
        part
        for part in (
            text["required"] if required else text["optional"],
            words[f"description_{lang}"],
            hint,
        )
        if part
    )
    return DataValidation(
        allow_blank=True,
        showInputMessage=True,
        promptTitle=header,
        prompt=prompt,
        errorStyle="stop",
        **rule,
    )


def _table_sheet(sheet, table: str, lang: str, lists: _Lists, rows: int):
    from openpyxl.utils import get_column_letter

    words = _dictionary()
    spec = TABLES[table]
    for position, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(position)
        header = words.loc[(table, column), f"header_{lang}"]
        cell = _text_cell(sheet, 1, position, header)
        _style_header(cell, column in spec.required)
        dimension = sheet.column_dimensions[letter]
        dimension.width = _width(table, column, header, lists)
        kind = _kind(table, column)
        if kind == "date":
            dimension.number_format = DATE_FORMAT
        elif kind in ("id", "text", "vocab", "stage", "bool"):
            dimension.number_format = TEXT_FORMAT
        validation = _validation(table, column, lang, lists, header)
        validation.add(f"{letter}2:{letter}{rows + 1}")
        sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    sheet.print_title_rows = "1:1"
    _print_wide(sheet)


def example_tables() -> dict[str, pd.DataFrame]:
    """The documented BNNK Tebing Tinggi placement, loaded and validated.

    A copy of ``data/example`` ships in the package
    (``casework_analytics/data/example``), so the template can be written
    where the repository is not at hand.

    Returns
    -------
    dict of DataFrame
        The accepted rows of every table, by name, with the contract's columns.
    """
    from .cohort import load

    raw = {name: read_package_table(f"example/{name}.csv") for name in TABLE_NAMES}
    cohort = load(raw, errors="raise")
    return {name: cohort.table(name)[list(TABLES[name].columns)] for name in TABLE_NAMES}


def _cell_value(value, table: str, column: str, lang: str):
    """A typed value as the template wants it written: dates as dates, choices as forms."""
    if pd.isna(value):
        return None
    kind, key = _kind(table, column), list_key(table, column)
    if kind == "date":
        return pd.Timestamp(value).date()
    if kind == "bool":
        return _form("boolean", lang, str(bool(value)).lower())
    if kind in ("vocab", "stage"):
        return _form(key, lang, value)
    if kind == "number":
        return _number(value)
    return str(value)


def _example_sheet(sheet, lang: str) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    text, words = TEXT[lang], _dictionary()
    sheet.cell(1, 1, text["example_title"]).font = Font(bold=True, size=13)
    sheet.cell(2, 1, text["example_note"]).font = Font(italic=True)
    widths: dict[int, float] = {}
    row = 4
    for table, frame in example_tables().items():
        spec = TABLES[table]
        sheet.cell(row, 1, text["example_sheet"].format(sheet=SHEETS[lang][table])).font = Font(
            bold=True
        )
        row += 1
        for position, column in enumerate(spec.columns, start=1):
            header = words.loc[(table, column), f"header_{lang}"]
            _style_header(_text_cell(sheet, row, position, header), column in spec.required)
            widths[position] = max(widths.get(position, 0), len(header) + 2)
        for record in frame.itertuples(index=False):
            row += 1
            for position, (column, value) in enumerate(zip(spec.columns, record, strict=True), 1):
                shown = _cell_value(value, table, column, lang)
                if shown is None:
                    continue
                if isinstance(shown, str):
                    _text_cell(sheet, row, position, shown)
                    widths[position] = max(widths[position], min(len(shown) + 2, 40))
                else:
                    cell = sheet.cell(row, position, shown)
                    if isinstance(shown, dt.date):
                        cell.number_format = DATE_FORMAT
                        widths[position] = max(widths[position], 12)
        row += 2
    for position, width in widths.items():
        sheet.column_dimensions[get_column_letter(position)].width = width
    _print_wide(sheet)


#: Widths of the Instructions sheet's columns (the data dictionary's), in characters.
_DICTIONARY_WIDTHS = (13, 24, 21, 9, 10, 32, 32, 45, 26)
_LINE_HEIGHT = 15


def _lines(text: str, width: float) -> int:
    """Lines ``text`` takes when wrapped in a column ``width`` characters wide (about)."""
    return max(1, -(-len(text) // max(int(width) - 1, 1)))


def _instructions_sheet(sheet, lang: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from . import __version__

    text = TEXT[lang]
    wrap = Alignment(wrap_text=True, vertical="top")
    last = get_column_letter(len(_DICTIONARY_WIDTHS))
    sheet.cell(1, 1, text["title"]).font = Font(bold=True, size=14)
    sheet.cell(2, 1, text["made_by"].format(version=__version__, model=get_stage_model().name))
    row = 4
    for step in text["steps"]:
        line = step.format(validate=validate_command(lang))
        _text_cell(sheet, row, 1, line).alignment = wrap
        sheet.merge_cells(f"A{row}:{last}{row}")
        lines = _lines(line, sum(_DICTIONARY_WIDTHS) * 0.9)
        sheet.row_dimensions[row].height = _LINE_HEIGHT * lines
        row += 1
    row += 1
    _style_header(_text_cell(sheet, row, 1, text["required_label"]), required=True)
    _style_header(_text_cell(sheet, row, 2, text["optional_label"]), required=False)
    row += 2
    sheet.cell(row, 1, text["dictionary"]).font = Font(bold=True, size=12)
    row += 1
    header_fill = PatternFill("solid", fgColor="D9D9D9")
    for position, title in enumerate(text["columns"], start=1):
        cell = _text_cell(sheet, row, position, title)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = wrap
    sheet.row_dimensions[row].height = _LINE_HEIGHT * 2
    for entry in data_dictionary(lang).itertuples(index=False):
        row += 1
        values = [
            entry.sheet,
            entry.header,
            entry.column,
            text["yes"] if entry.required else text["no"],
            text["kinds"][entry.kind],
            entry.values_id,
            entry.values_en,
            entry.description,
            entry.example,
        ]
        for position, value in enumerate(values, start=1):
            _text_cell(sheet, row, position, value).alignment = wrap
        _style_header(sheet.cell(row, 2), entry.required)
        lines = max(
            _lines(value, width) for value, width in zip(values, _DICTIONARY_WIDTHS, strict=True)
        )
        sheet.row_dimensions[row].height = _LINE_HEIGHT * lines
    for position, width in enumerate(_DICTIONARY_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = width
    _print_wide(sheet)


def _print_wide(sheet) -> None:
    """Print (and export to PDF) landscape, every column on one page's width."""
    from openpyxl.worksheet.properties import PageSetupProperties

    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
