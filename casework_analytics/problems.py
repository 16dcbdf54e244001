"""The problem report: one tidy table of every problem in every table.

Columns
-------
rule : str
    Stable name of the rule that found the problem (see
    ``docs/data-contract.md`` for the list).
severity : {"error", "warning"}
    An error rejects the row; a warning keeps it.
table : str
    Table the row belongs to.
column : str or NA
    Column holding the offending value (NA for whole-row problems).
row : Int64
    1-based row number in the source file or sheet (CSV and Excel: the
    header is row 1, the first record row 2). NA for table-level problems.
case_id : str or NA
    The row's case, when it has one.
value : str or NA
    The offending value, as text.
message : str
    A sentence a supervisor understands.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import pandas as pd

__all__ = [
    "PROBLEM_COLUMNS",
    "ProblemLog",
    "empty_problems",
    "printable",
    "LONGEST_LINE",
    "format_problems",
    "MESSAGES_ID",
    "in_language",
]

PROBLEM_COLUMNS = ["rule", "severity", "table", "column", "row", "case_id", "value", "message"]


class ProblemLog:
    """Collects problems while a source is loaded; :meth:`frame` returns the report."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def mark(self) -> int:
        """A point to :meth:`rollback` to.

        Returns
        -------
        int
        """
        return len(self._parts)

    def rollback(self, mark: int) -> None:
        """Forget every problem recorded since :meth:`mark` returned ``mark``.

        Parameters
        ----------
        mark : int
            As :meth:`mark` returned it.
        """
        del self._parts[mark:]

    def keep_only(self, table: str, rows: Iterable[int], rules: Iterable[str]) -> None:
        """Forget problems of ``rows`` of ``table`` except those of ``rules``.

        For rows rejected as a whole while reading (a CSV row with the wrong
        number of fields): their values are misplaced, so what later rules
        say about them would only be noise.

        Parameters
        ----------
        table : str
        rows : iterable of int
            Source row numbers.
        rules : iterable of str
            The rules whose problems are kept.
        """
        rows, rules = list(rows), list(rules)
        if not rows:
            return
        self._parts = [
            part[~((part["table"] == table) & part["row"].isin(rows) & ~part["rule"].isin(rules))]
            for part in self._parts
        ]

    def add(
        self,
        rule: str,
        severity: str,
        table: str,
        column: str | None,
        row: int | None,
        case_id: str | None,
        value: object,
        message: str,
    ) -> None:
        """Record one problem; ``message`` is taken as it is (no ``{value}`` template).

        Parameters
        ----------
        rule, severity, table, column, row, case_id, value, message
            The columns of the report (see the module docstring); ``None`` for
            missing.
        """
        self.add_many(rule, severity, table, column, [row], [case_id], [value], [message])

    def add_rows(
        self,
        rule: str,
        severity: str,
        table: str,
        frame: pd.DataFrame,
        column: str | None,
        rows: Iterable[int],
        message: str | Sequence[str],
        values: Iterable[object] | None = None,
    ) -> None:
        """Record one problem per source row ``rows`` of ``frame`` (indexed by row number).

        The case_id comes from ``frame`` when it has one; the value is
        ``frame[column]`` (dates as ``yyyy-mm-dd``) unless ``values`` is given.
        ``message`` is as in :meth:`add_many`.

        Parameters
        ----------
        rule, severity, table, column
            As in :meth:`add`.
        frame : DataFrame
            The table, indexed by source row number.
        rows : iterable of int
            Labels of ``frame``.
        message : str or sequence of str
        values : iterable, optional
            The offending values, aligned with ``rows``.
        """
        rows = pd.Index(rows)
        if len(rows) == 0:
            return
        case_ids = frame.loc[rows, "case_id"] if "case_id" in frame else None
        if values is None:
            values = frame.loc[rows, column]
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.dt.strftime("%Y-%m-%d")
        self.add_many(
            rule,
            severity,
            table,
            column,
            rows,
            case_ids,
            pd.Series(values).astype("string"),
            message,
        )

    def add_many(
        self,
        rule: str,
        severity: str,
        table: str,
        column: str | None,
        rows: Iterable[int | None],
        case_ids: Iterable[str | None] | None,
        values: Iterable[object] | None,
        message: str | Sequence[str],
    ) -> None:
        """Record one problem per row.

        ``message`` is a template string, in which the first ``{value}`` is
        replaced by each row's value, or a sequence of finished messages
        aligned with ``rows`` (taken as they are: braces in them are text).

        Parameters
        ----------
        rule, severity, table, column
            As in :meth:`add`.
        rows, case_ids, values : iterable
            One per problem (``case_ids`` and ``values`` may be ``None``: all missing).
        message : str or sequence of str
        """
        rows = pd.array(list(rows), dtype="Int64")
        n = len(rows)
        if n == 0:
            return
        values = pd.Series(
            list(values) if values is not None else [pd.NA] * n, dtype="string"
        ).reset_index(drop=True)
        if isinstance(message, str):
            if "{value}" in message:
                head, tail = message.split("{value}", 1)
                messages = head + values.fillna("") + tail
            else:
                messages = pd.Series([message] * n, dtype="string")
        else:
            messages = pd.Series(list(message), dtype="string")
        self._parts.append(
            pd.DataFrame(
                {
                    "rule": rule,
                    "severity": severity,
                    "table": table,
                    "column": pd.Series([column] * n, dtype="string"),
                    "row": rows,
                    "case_id": pd.Series(
                        list(case_ids) if case_ids is not None else [pd.NA] * n, dtype="string"
                    ),
                    "value": values,
                    "message": messages.reset_index(drop=True),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        """All problems as one table, ordered by table, row and rule.

        Returns
        -------
        DataFrame
            Columns :data:`PROBLEM_COLUMNS`.
        """
        if not self._parts:
            return empty_problems()
        frame = pd.concat(self._parts, ignore_index=True)
        for column in ("rule", "severity", "table", "column", "case_id", "value", "message"):
            frame[column] = frame[column].astype("string")
        order = {"placements": 0, "cases": 1, "stages": 2, "sessions": 3, "visits": 4}
        frame = frame.assign(_t=frame["table"].map(order)).sort_values(
            ["_t", "row", "severity", "rule"], kind="stable", na_position="first"
        )
        return frame.drop(columns="_t").reset_index(drop=True)


def empty_problems() -> pd.DataFrame:
    """A problem report with no rows and the documented columns.

    Returns
    -------
    DataFrame
        Columns :data:`PROBLEM_COLUMNS`, typed.
    """
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in PROBLEM_COLUMNS})
    frame["row"] = frame["row"].astype("Int64")
    return frame


_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def printable(text: object) -> str:
    """``text`` safe to print on a terminal: control characters shown escaped.

    Terminal escape codes (``\\x1b[...``), other C0 and C1 controls, line
    and paragraph separators and bidirectional overrides become ``\\xNN``
    or ``\\uNNNN``, so a value can neither rewrite the screen nor hide or
    reorder what is printed around it.

    Parameters
    ----------
    text : object
        Made text with ``str``.

    Returns
    -------
    str
    """

    def escaped(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escaped, str(text))


#: Longest message :func:`format_problems` prints in full (a value can be a whole
#: document pasted into a cell).
LONGEST_LINE = 500


def _shortened(text: str) -> str:
    if len(text) <= LONGEST_LINE:
        return text
    return f"{text[: LONGEST_LINE - 60]}... ({len(text):,} characters; see the problem table)"


def _grouped_orphans(problems: pd.DataFrame, words: dict) -> pd.DataFrame:
    """One line for the rows left out with one rejected parent (same table, same
    message): its ``row`` becomes the text ``"rows 4, 5, 9 (3 rows)"``."""
    orphan = (problems["rule"] == "orphan").to_numpy()
    if orphan.sum() < 2:
        return problems
    keys = problems["table"].astype(str) + "\0" + problems["message"].astype(str)
    alone = pd.Series(range(len(problems)), index=problems.index).astype(str)
    keys = keys.where(orphan, alone)
    first = ~keys.duplicated()
    rows = problems["row"].astype("Int64").astype("string").groupby(keys, sort=False)
    counts = rows.size()
    listed = rows.agg(lambda r: ", ".join(r.dropna().head(5)))
    out = problems[first.to_numpy()].astype({"row": object})
    n = counts.reindex(keys[first]).to_numpy()
    text = listed.reindex(keys[first]).to_numpy()
    many = n > 1
    out.loc[many, "row"] = [
        f"{words['rows']} {t}{', ...' if k > 5 else ''} ({k} {words['rows']})"
        for t, k in zip(text[many], n[many], strict=True)
    ]
    return out


def format_problems(problems: pd.DataFrame, limit: int | None = 50, lang: str = "en") -> str:
    """Problems as readable lines: ``table row N (case X): message [rule]``.

    The rows left out with one rejected parent are one line. Values from
    the source are printed with control characters escaped (see
    :func:`printable`) and messages over :data:`LONGEST_LINE` characters
    cut short; the problem table itself keeps them raw.

    Parameters
    ----------
    problems : DataFrame
        ``cohort.problems`` (translate it first with :func:`in_language`).
    limit : int or None
        Lines shown at most (None: all).
    lang : {"en", "id"}
        Language of the words around the messages.

    Returns
    -------
    str
    """
    words = _WORDS[lang]
    lines = []
    problems = _grouped_orphans(problems, words)
    shown = problems if limit is None else problems.head(limit)
    for p in shown.itertuples(index=False):
        where = f"{p.table}" + (f" {p.row}" if isinstance(p.row, str) else "")
        if pd.notna(p.row) and not isinstance(p.row, str):
            where += f" {words['row']} {p.row}"
        if pd.notna(p.case_id):
            where += f" ({words['case']} {printable(_shortened(p.case_id))})"
        message = printable(_shortened(p.message))
        lines.append(f"{words[p.severity]:10} {where}: {message} [{p.rule}]")
    if limit is not None and len(problems) > limit:
        lines.append(words["more"].format(n=len(problems) - limit))
    return "\n".join(lines)


_WORDS = {
    "en": {
        "error": "ERROR",
        "warning": "WARNING",
        "row": "row",
        "rows": "rows",
        "case": "case",
        "more": "... and {n} more; write them all with --problems-out.",
    },
    "id": {
        "error": "GALAT",
        "warning": "PERINGATAN",
        "row": "baris",
        "rows": "baris",
        "case": "kasus",
        "more": "... dan {n} lagi; tulis semuanya dengan --problems-out.",
    },
}


#: Indonesian wording of each rule's problem, with ``{column}``, ``{value}``,
#: ``{table}`` and the details read off the English message (:func:`in_language`).
MESSAGES_ID = {
    "unparseable_date": "{column} '{value}' bukan tanggal berbentuk yyyy-mm-dd atau dd/mm/yyyy.",
    "date_out_of_range": (
        "{column} '{value}' di luar rentang tanggal yang dapat disimpan; kosongkan tanggal "
        "daripada memakai pengganti seperti 9999-12-31."
    ),
    "invalid_value": "{column} '{value}' tidak diterima.",
    "missing_value": "Kolom wajib {column} kosong.",
    "out_of_range": "{column} '{value}' di luar rentang yang diizinkan.",
    "unknown_stage": "Tahap '{value}' tidak dikenal.",
    "duplicate_key": "{column} {value} sudah ada di baris sebelumnya; baris ini ditolak.",
    "date_order": "{first} {first_date} lebih awal dari {then} {then_date}.",
    "foreign_key": "{column} {value} tidak ada di tabel induknya.",
    "orphan": (
        "{column} {value} milik baris yang ditolak (lihat masalah baris itu); "
        "baris ini ikut ditolak."
    ),
    "before_intake": "{column} {value} lebih awal dari tanggal masuk kasus ({intake}).",
    "repeated_stage": (
        "Tahap {value} dicatat lagi untuk kasus yang sama; mulai yang kemudian ditolak."
    ),
    "duplicate_visit": "Kunjungan kedua untuk kasus yang sama pada tanggal {value}; ditolak.",
    "duplicate_session": "Baris sesi ini sama persis dengan baris sebelumnya; salinannya ditolak.",
    "stage_order": "Tahap {value} dimulai sebelum tahap yang lebih awal dalam model dimulai.",
    "intake_outside_placement": "Tanggal masuk {value} jauh di luar masa penempatan.",
    "result_without_attendance": (
        "Kunjungan ditandai tidak hadir tetapi memiliki hasil tes ({value})."
    ),
    "unknown_column": (
        "Kolom '{header}' bukan bagian dari tabel {table}; disimpan sebagai teks tetapi "
        "tidak dipakai analisis."
    ),
    "unclassified_reason": (
        "Alasan penutupan '{value}' tidak cocok dengan aturan mana pun dan dihitung sebagai "
        "tidak terklasifikasi. Jika alasan ini dikenal, tambahkan aturan "
        "(--exit-rules FILE.csv)."
    ),
    "field_count": (
        "Baris ini punya jumlah kolom yang berbeda dari judulnya; seluruh baris ditolak."
    ),
    "encoding_error": "{column} berisi byte yang bukan teks yang sah: '{value}'.",
    "encoding_fallback": "Berkas dibaca sebagai Windows-1252, bukan UTF-8; periksa huruf khusus.",
}

#: Details taken from an English message to fill the Indonesian one.
_DETAILS = {
    "date_order": (
        r"^(?P<first_x>\w+) (?P<first_date_x>\S+) is before "
        r"(?P<then_x>\w+) (?P<then_date_x>\S+)\.$"
    ),
    "before_intake": r"is before the case's intake on (?P<intake>\S+)\.$",
    "unknown_column": r"^Column '(?P<header>.*)' is not part",
}
_ADDED_ID = (
    (r"did you mean (?P<x>[^?]+)\?", " Maksud Anda {x}?"),
    (
        r"(?:it must be|is not) (?:one of|a stage of the model:) (?P<x>.+?)\.(?: |$)",
        " Nilai yang diterima: {x}.",
    ),
    (r"write it day-first: (?P<x>[^.]+)\.", " Tampaknya bulan ditulis lebih dulu; tulis {x}."),
    (r"The value was cleared; the row is kept\.", " Nilainya dikosongkan; baris tetap dipakai."),
)


def in_language(problems: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """The problem table with its messages in ``lang``.

    ``rule`` stays the stable English code; in Indonesian, ``message`` is
    the rule's Indonesian wording (:data:`MESSAGES_ID`, with the accepted
    values and any "did you mean" carried over) and ``message_en`` keeps
    the English original. A rule without an Indonesian wording keeps its
    English message.

    Parameters
    ----------
    problems : DataFrame
        ``cohort.problems``.
    lang : {"en", "id"}

    Returns
    -------
    DataFrame
    """
    from .labels import LANGUAGES

    if lang not in LANGUAGES:
        from .errors import CaseworkError

        raise CaseworkError(
            f"The value for `lang` must be one of {list(LANGUAGES)}, but {lang!r} was passed."
        )
    if lang == "en" or problems.empty:
        return problems
    out = problems.copy()
    out["message_en"] = out["message"]
    distinct = out[["rule", "table", "column", "value", "message"]].drop_duplicates()
    translated = {}
    for row in distinct.itertuples(index=False):  # one per distinct message
        template = MESSAGES_ID.get(row.rule)
        if template is None:
            translated[row[1:]] = row.message
            continue
        fields = {
            "column": row.column if isinstance(row.column, str) else "",
            "value": row.value if isinstance(row.value, str) else "",
            "table": row.table,
        }
        found = re.search(_DETAILS.get(row.rule, "$^"), str(row.message))
        if found:
            fields.update({k.removesuffix("_x"): v for k, v in found.groupdict().items()})
        try:
            text = template.format(**fields)
        except KeyError:
            text = str(row.message)
        for pattern, added in _ADDED_ID if row.rule != "orphan" else ():
            match = re.search(pattern, str(row.message))
            if match:
                text += added.format(x=match.groupdict().get("x", ""))
        translated[row[1:]] = text
    keys = zip(out["table"], out["column"], out["value"], out["message"], strict=True)
    out["message"] = [translated.get(key, key[-1]) for key in keys]
    return out
