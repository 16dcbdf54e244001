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

import pandas as pd

PROBLEM_COLUMNS = ["rule", "severity", "table", "column", "row", "case_id", "value", "message"]


class ProblemLog:
    """Collects problems while a source is loaded; :meth:`frame` returns the report."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def mark(self) -> int:
        """A point to :meth:`rollback` to."""
        return len(self._parts)

    def rollback(self, mark: int) -> None:
        """Forget every problem recorded since :meth:`mark` returned ``mark``."""
        del self._parts[mark:]

    def keep_only(self, table: str, rows, rules) -> None:
        """Forget problems of ``rows`` of ``table`` except those of ``rules``.

        For rows rejected as a whole while reading (a CSV row with the wrong
        number of fields): their values are misplaced, so what later rules
        say about them would only be noise.
        """
        rows, rules = list(rows), list(rules)
        if not rows:
            return
        self._parts = [
            part[~((part["table"] == table) & part["row"].isin(rows) & ~part["rule"].isin(rules))]
            for part in self._parts
        ]

    def add(self, rule, severity, table, column, row, case_id, value, message) -> None:
        """Record one problem; ``message`` is taken as it is (no ``{value}`` template)."""
        self.add_many(rule, severity, table, column, [row], [case_id], [value], [message])

    def add_rows(self, rule, severity, table, frame, column, rows, message, values=None) -> None:
        """Record one problem per source row ``rows`` of ``frame`` (indexed by row number).

        The case_id comes from ``frame`` when it has one; the value is
        ``frame[column]`` (dates as ``yyyy-mm-dd``) unless ``values`` is given.
        ``message`` is as in :meth:`add_many`.
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

    def add_many(self, rule, severity, table, column, rows, case_ids, values, message) -> None:
        """Record one problem per row.

        ``message`` is a template string, in which the first ``{value}`` is
        replaced by each row's value, or a sequence of finished messages
        aligned with ``rows`` (taken as they are: braces in them are text).
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
        """All problems as one table, ordered by table, row and rule."""
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
    """A problem report with no rows and the documented columns."""
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in PROBLEM_COLUMNS})
    frame["row"] = frame["row"].astype("Int64")
    return frame


_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def printable(text) -> str:
    """``text`` safe to print on a terminal: control characters shown escaped.

    Terminal escape codes (``\\x1b[...``), other C0 and C1 controls, line
    and paragraph separators and bidirectional overrides become ``\\xNN``
    or ``\\uNNNN``, so a value can neither rewrite the screen nor hide or
    reorder what is printed around it.
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


def _grouped_orphans(problems: pd.DataFrame) -> pd.DataFrame:
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
        f"rows {t}{', ...' if k > 5 else ''} ({k} rows)"
        for t, k in zip(text[many], n[many], strict=True)
    ]
    return out


def format_problems(problems: pd.DataFrame, limit: int | None = 50) -> str:
    """Problems as readable lines: ``table row N (case X): message [rule]``.

    Values from the source are printed with control characters escaped
    (see :func:`printable`) and messages over :data:`LONGEST_LINE`
    characters cut short; the problem table itself keeps them raw.
    """
    lines = []
    problems = _grouped_orphans(problems)
    shown = problems if limit is None else problems.head(limit)
    for p in shown.itertuples(index=False):
        where = f"{p.table}" + (f" {p.row}" if isinstance(p.row, str) else "")
        where += f" row {p.row}" if pd.notna(p.row) and not isinstance(p.row, str) else ""
        if pd.notna(p.case_id):
            where += f" (case {printable(_shortened(p.case_id))})"
        message = printable(_shortened(p.message))
        lines.append(f"{p.severity.upper():7} {where}: {message} [{p.rule}]")
    if limit is not None and len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more; write them all with --problems-out.")
    return "\n".join(lines)
