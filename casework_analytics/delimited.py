"""Reading delimited text files (CSV, TSV, Excel "Unicode text") without mis-reading them.

A file is read into a frame of text with one row per record, indexed by the
physical line on which the record starts (the header is line 1), plus a
table of the problems found while reading (see
:data:`READ_PROBLEM_COLUMNS`). Nothing is interpreted beyond that.

Encodings
---------
* A byte-order mark decides: UTF-8, UTF-16 little- or big-endian (what
  Excel's "Unicode text" export writes, tab-separated) or UTF-32.
* Without one the file is read as UTF-8. Bytes that are not valid UTF-8
  are reported per cell (rule ``encoding_error``): an error in a required
  column (the row is rejected), a warning elsewhere (the bytes become
  U+FFFD and the row is kept). The problem's value shows them as ``\\xNN``.
* Only a file that has bytes above 127 but not one valid UTF-8 multi-byte
  sequence is read as Windows-1252 as a whole, with a table-level warning
  (rule ``encoding_fallback``).

Records
-------
* The delimiter (``,`` ``;`` tab or ``|``) is the one the header line
  holds most of. Values may be quoted with ``"`` (``""`` inside quotes is
  a quote) and may then span lines.
* The header is the first record that is not blank. A header written twice
  is caught when headers are matched to columns.
* A row with more fields than the header, or fewer, is rejected with rule
  ``field_count`` (its values are kept, padded or cut to the header, in
  the rejected rows). Rows may leave out trailing columns whose header is
  empty.
* A record whose every field is empty is a blank line and is skipped.

Speed
-----
Clean files, the common case, are parsed by pandas' C parser; a vectorised
scan of the bytes (numpy, in chunks of a few MiB) finds the line on which
each record starts and how many fields it has. Python's ``csv`` module reads
the file record by record only when the file needs it: bytes that do not
decode, rows of the wrong length, lone carriage returns, leading blank
lines, or any disagreement between the scan and the parser.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import SourceError

__all__ = [
    "READ_PROBLEM_COLUMNS",
    "UNDECODABLE",
    "show_undecodable",
    "blank_rows",
    "needs_cleaning",
    "clean_cells",
    "problem_frame",
    "decode",
    "scan_records",
    "read_delimited",
]

#: Columns of the problem table every reader returns next to its frame.
#: ``position`` is the 0-based column (NA for a whole row or table), ``row``
#: the source row (NA for the whole table); ``severity`` NA means "error in
#: a required column, warning elsewhere", decided when headers are known.
READ_PROBLEM_COLUMNS = ["rule", "severity", "position", "row", "value", "message"]

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8", "UTF-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32"),
    (b"\xff\xfe", "utf-16-le", "UTF-16"),
    (b"\xfe\xff", "utf-16-be", "UTF-16"),
)
_VALID_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
#: Lone surrogates: what undecodable bytes become (U+DC00 + byte), or broken text from elsewhere.
UNDECODABLE = re.compile("[\ud800-\udfff]")
_ERRORS = "casework_analytics_escape"
_CHUNK = 1 << 22
_DELIMITERS = (",", ";", "\t", "|")


def _escape_bytes(exc: UnicodeDecodeError):
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC00 + b) for b in bad), exc.end


codecs.register_error(_ERRORS, _escape_bytes)


def show_undecodable(text: str) -> str:
    """``text`` with undecodable bytes (lone surrogates) shown as ``\\xNN``.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """

    def shown(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if code >= 0xDC00 else f"\\u{code:04x}"

    return UNDECODABLE.sub(shown, text)


#: What :func:`pandas.api.types.infer_dtype` calls an object column whose
#: values all become text as they are (``skipna``: missing values aside).
_PLAIN_KINDS = frozenset(
    {
        "string",
        "empty",
        "integer",
        "floating",
        "mixed-integer-float",
        "boolean",
        "datetime",
        "datetime64",
        "date",
        "time",
        "timedelta",
    }
)
#: Single values a cell may hold (as text they are what they say).
_SCALARS = (
    str,
    bool,
    int,
    float,
    np.bool_,
    np.integer,
    np.floating,
    dt.date,
    dt.time,
    dt.timedelta,
    np.datetime64,
    np.timedelta64,
    uuid.UUID,  # a PostgreSQL uuid column
)
_BYTES = (bytes, bytearray, memoryview)
_KEEP, _DECODE, _MISSING, _ODD = 0, 1, 2, 3
_SHOWN_LENGTH = 200


def _cell_kind(value) -> int:
    if value is None or value is pd.NA or value is pd.NaT or isinstance(value, _SCALARS):
        return _KEEP
    if isinstance(value, _BYTES):
        return _DECODE
    if isinstance(value, Decimal):  # a NaN (a signalling one cannot even be compared) is missing
        return _MISSING if value.is_nan() else _KEEP
    return _ODD


def _what(value) -> str:
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, set | frozenset):
        return "a set"
    if isinstance(value, np.ndarray):
        return "an array"
    if isinstance(value, complex | np.complexfloating):
        return "a complex number"
    return f"a {type(value).__name__} value"


def _shown(value) -> str:
    try:
        text = str(value)
    except Exception:  # an object whose str() fails
        text = f"<{type(value).__name__}>"
    if len(text) > _SHOWN_LENGTH:
        text = text[: _SHOWN_LENGTH - 1] + "\u2026"
    return show_undecodable(text)


def _cells_to_check(values: pd.Series, every_text: bool) -> np.ndarray | None:
    """The cells of a column as an object array, or None when it needs no look.

    Object columns of plain values need one only for their text (``every_text``:
    undecodable bytes hide in ordinary strings); bytes, complex numbers and
    odd objects always do.
    """
    dtype = values.dtype
    if pd.api.types.is_object_dtype(dtype):
        if not every_text and pd.api.types.infer_dtype(values, skipna=True) in _PLAIN_KINDS:
            return None
    elif isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        kind = dtype.pyarrow_dtype
        if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
            if not (every_text and (pa.types.is_string(kind) or pa.types.is_large_string(kind))):
                return None
    elif isinstance(dtype, pd.StringDtype):  # Python storage can hold surrogates
        if not (every_text and dtype.storage == "python"):
            return None
    elif dtype.kind != "c":
        return None
    return values.to_numpy(dtype=object, copy=True)


def blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every cell is missing (a Decimal NaN counts as missing).

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    ndarray of bool
        One value per row of ``frame``.
    """
    try:
        return frame.isna().all(axis=1).to_numpy(dtype=bool)
    except (TypeError, ArithmeticError):  # a cell pandas cannot test: a signalling Decimal NaN
        missing = frame.map(
            lambda v: _cell_kind(v) == _MISSING or (_cell_kind(v) == _KEEP and pd.isna(v))
        )
        return missing.all(axis=1).to_numpy(dtype=bool)


def needs_cleaning(frame: pd.DataFrame) -> bool:
    """Whether a column holds bytes, complex numbers or odd objects (lists, dicts, ...).

    Looks at column types (and, for object columns, what pandas infers),
    not cell by cell; text with undecodable bytes is not looked for.

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    bool
        True if :func:`clean_cells` should look at the cells.
    """
    return any(
        _cells_to_check(frame.iloc[:, position], every_text=False) is not None
        for position in range(frame.shape[1])
    )


def clean_cells(frame: pd.DataFrame, encoding: str = "UTF-8") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Make every cell a value that becomes text as it is, reporting each one changed.

    For the rare frames that need it (a CSV file with bad bytes, a database
    with broken text or BLOBs, a typed source or strings built in Python):
    the cells are looked at one by one.

    * Bytes cells are read as UTF-8.
    * Undecodable bytes (lone surrogates) are replaced by U+FFFD, and each
      cell reported (rule ``encoding_error``).
    * A cell holding no single value (a list, dict, set, array, complex
      number or any other object) is cleared and reported (rule
      ``invalid_value``).
    * A Decimal NaN is missing, like a float NaN.

    Parameters
    ----------
    frame : DataFrame
        The frame as read.
    encoding : str
        The encoding named in the messages about undecodable bytes.

    Returns
    -------
    frame : DataFrame
        A copy with clean cells (headers included).
    problems : DataFrame
        One problem per cell (columns :data:`READ_PROBLEM_COLUMNS`),
        severity decided later by the column.
    """
    headers = [UNDECODABLE.sub("\ufffd", h) if isinstance(h, str) else h for h in frame.columns]
    out = frame.set_axis(headers, axis=1)
    found = []
    for position in range(out.shape[1]):
        values = out.iloc[:, position]
        cells = _cells_to_check(values, every_text=True)
        if cells is None:
            continue
        header = str(headers[position])
        kinds = np.fromiter((_cell_kind(v) for v in cells), dtype=np.int8, count=len(cells))
        changed = kinds != _KEEP
        for i in np.flatnonzero(kinds == _ODD):
            value, shown = cells[i], _shown(cells[i])
            found.append(
                (
                    "invalid_value",
                    pd.NA,
                    position,
                    values.index[i],
                    shown,
                    f"{header} holds {_what(value)} ({shown}), not a single text, number or date.",
                )
            )
        cells[(kinds == _ODD) | (kinds == _MISSING)] = None
        decode = kinds == _DECODE
        if decode.any():  # a BLOB or bytes cell: its text, bad bytes kept to be reported
            cells[decode] = [bytes(v).decode("utf-8", _ERRORS) for v in cells[decode]]
        bad = np.fromiter(
            (isinstance(v, str) and UNDECODABLE.search(v) is not None for v in cells),
            dtype=bool,
            count=len(cells),
        )
        for i in np.flatnonzero(bad):
            shown = show_undecodable(cells[i])
            found.append(
                (
                    "encoding_error",
                    pd.NA,
                    position,
                    values.index[i],
                    shown,
                    f"{header} '{shown}' holds bytes that are not valid {encoding} text "
                    "(shown as \\xNN).",
                )
            )
            cells[i] = UNDECODABLE.sub("\ufffd", cells[i])
        if changed.any() or bad.any() or not pd.api.types.is_object_dtype(values.dtype):
            # Set as an object column: a Series would infer text and fail on surrogates.
            out = out.copy()
            out.isetitem(position, pd.Series(cells, index=values.index, dtype=object))
    return out, problem_frame(found)


def problem_frame(found: Iterable[tuple]) -> pd.DataFrame:
    """A read-problem table (:data:`READ_PROBLEM_COLUMNS`) from tuples.

    Parameters
    ----------
    found : iterable of tuple
        One tuple per problem, in the order of :data:`READ_PROBLEM_COLUMNS`.

    Returns
    -------
    DataFrame
        Columns :data:`READ_PROBLEM_COLUMNS`, typed (text, and ``Int64`` positions
        and rows).
    """
    frame = pd.DataFrame(list(found), columns=READ_PROBLEM_COLUMNS)
    return frame.astype(
        {
            "rule": "string",
            "severity": "string",
            "position": "Int64",
            "row": "Int64",
            "value": "string",
            "message": "string",
        }
    )


@dataclass
class _Decoded:
    text: str | None  # the decoded text, when it is needed (not for clean UTF-8)
    data: bytes | None  # clean UTF-8 bytes for the fast path, None when bytes are bad
    encoding: str  # for messages
    fallback: bool = False


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def decode(data: bytes) -> _Decoded:
    """Decide the encoding of a text file's bytes (see the module docstring).

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    _Decoded
        The text (or the clean UTF-8 bytes, when they can be parsed as they
        are), and the encoding used.
    """
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            if codec == "utf-8":
                break
            text = body.decode(codec, _ERRORS)
            clean = UNDECODABLE.search(text) is None
            return _Decoded(text, text.encode("utf-8") if clean else None, label)
    else:
        body = data
    if _is_utf8(body):
        return _Decoded(None, body, "UTF-8")
    if _VALID_MULTIBYTE.search(body) is None:
        text = body.decode("cp1252", _ERRORS)
        clean = UNDECODABLE.search(text) is None
        return _Decoded(text, text.encode("utf-8") if clean else None, "Windows-1252", True)
    return _Decoded(body.decode("utf-8", _ERRORS), None, "UTF-8")


def _sniff_delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in _DELIMITERS}
    return max(counts, key=counts.get) if max(counts.values()) > 0 else ","


def _expected_fields(header: list[str]) -> int:
    """Fields a row needs: the header's, less trailing columns without a header."""
    n = len(header)
    while n > 1 and not header[n - 1].strip():
        n -= 1
    return n


def scan_records(data: bytes, sep: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each record of CSV bytes starts and how many fields it has.

    Quotes are counted by parity: a newline or delimiter after an even
    number of ``"`` is outside quotes (``""`` inside a quoted value keeps
    the parity). Works on chunks so memory stays a few times the chunk.

    Parameters
    ----------
    data : bytes
        UTF-8 text.
    sep : str
        The delimiter.

    Returns
    -------
    start_line : ndarray of int64
        1-based physical line on which each record starts.
    fields : ndarray of int64
    blank : ndarray of bool
        The record is an empty line.
    stops : ndarray of int64
        Byte offset of the newline ending each record (or the end of the data).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    quoted = b'"' in data
    sep_byte = ord(sep)
    terms, term_lines, delims_at = [], [], []
    parity = 0
    lines_before = delims_before = 0
    for offset in range(0, len(buf), _CHUNK):
        chunk = buf[offset : offset + _CHUNK]
        newline = chunk == 10
        if quoted:
            inside = np.cumsum(chunk == 34, dtype=np.uint8)
            inside += np.uint8(parity)
            inside &= 1
            parity = int(inside[-1])
            outside = inside == 0
            term = np.flatnonzero(newline & outside)
            delims = np.flatnonzero((chunk == sep_byte) & outside)
            all_newlines = np.flatnonzero(newline)
            term_lines.append(np.searchsorted(all_newlines, term) + lines_before)
            lines_before += len(all_newlines)
        else:
            term = np.flatnonzero(newline)
            delims = np.flatnonzero(chunk == sep_byte)
            term_lines.append(np.arange(lines_before, lines_before + len(term)))
            lines_before += len(term)
        delims_at.append(np.searchsorted(delims, term) + delims_before)
        delims_before += len(delims)
        terms.append(term + offset)
    terms = np.concatenate(terms) if terms else np.zeros(0, dtype=np.int64)
    term_lines = np.concatenate(term_lines) if term_lines else np.zeros(0, dtype=np.int64)
    delims_at = np.concatenate(delims_at) if delims_at else np.zeros(0, dtype=np.int64)
    end = terms[-1] + 1 if len(terms) else 0
    if end < len(buf):  # a last record without a newline
        terms = np.append(terms, len(buf))
        term_lines = np.append(term_lines, lines_before)
        delims_at = np.append(delims_at, delims_before)
    starts = np.concatenate([[0], terms[:-1] + 1]).astype(np.int64)
    start_line = np.concatenate([[0], term_lines[:-1] + 1]).astype(np.int64) + 1
    fields = np.diff(np.concatenate([[0], delims_at])).astype(np.int64) + 1
    stops = terms.astype(np.int64)
    carriage = np.zeros(len(stops), dtype=bool)
    has_content = stops > starts
    carriage[has_content] = buf[stops[has_content] - 1] == 13
    blank = (stops - starts - carriage) == 0
    return start_line, fields, blank, stops


class _LongFields:
    """Let the csv module read fields of any length while the block runs."""

    def __enter__(self):
        self.limit = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)

    def __exit__(self, *exc):
        csv.field_size_limit(self.limit)


def _csv_reader(text: str, sep: str):
    return csv.reader(
        io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True, strict=False
    )


def _read_fast(data: bytes) -> tuple[pd.DataFrame, str] | None:
    """Clean UTF-8 bytes through pandas' C parser, or None when the slow path is needed."""
    if data.count(b"\r") != data.count(b"\r\n"):
        return None  # lone carriage returns end lines for the parser but not for the scan
    if b"\x00" in data and int(pd.__version__.split(".")[0]) < 3:
        return None  # pandas 2's C parser ends a field at a NUL byte, losing the rest
    first_newline = data.find(b"\n")
    first = data[: first_newline if first_newline >= 0 else len(data)].decode("utf-8")
    sep = _sniff_delimiter(first)
    start_line, fields, blank, stops = scan_records(data, sep)
    if not len(fields) or blank[0]:
        return None
    with _LongFields():
        records = list(_csv_reader(data[: stops[0]].decode("utf-8"), sep))
    if len(records) != 1 or len(records[0]) != fields[0]:
        return None
    header = records[0]
    n = len(header)
    body_fields = fields[1:][~blank[1:]]
    if len(body_fields) and (body_fields != n).any():
        return None
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=0,
            dtype="string",
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
            skip_blank_lines=False,
            encoding="utf-8",
            index_col=False,
            engine="c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    if frame.shape != (len(fields) - 1, n):
        return None
    frame = frame.set_axis(header, axis=1)
    frame.index = pd.Index(start_line[1:], name="row")
    return frame, sep


def _read_slow(text: str, encoding: str, path: Path):
    """Record by record with Python's csv module; exact for any text."""
    first = re.search(r"[^\r\n]*\S[^\r\n]*", text)
    sep = _sniff_delimiter(first.group() if first else "")
    reader = _csv_reader(text, sep)
    header: list[str] | None = None
    records: list[list[str]] = []
    starts: list[int] = []
    line = 0
    try:
        with _LongFields():
            for record in reader:
                start, line = line + 1, reader.line_num
                if not any(record):
                    continue
                if header is None:
                    header = record
                else:
                    records.append(record)
                    starts.append(start)
    except csv.Error as exc:
        raise SourceError(f"{path} is not a readable CSV file: {exc}.") from None
    if header is None:
        raise SourceError(f"{path} is empty: it has no header row.")
    n, least = len(header), _expected_fields(header)
    lengths = np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))
    wrong = np.flatnonzero((lengths > n) | (lengths < least))
    found = []
    for i in wrong:
        record = records[i]
        shown = show_undecodable(sep.join(record))
        found.append(
            (
                "field_count",
                "error",
                pd.NA,
                starts[i],
                shown,
                f"The row has {len(record)} field{'s' if len(record) != 1 else ''} but the "
                f"header has {n}; it was rejected (a delimiter inside an unquoted value, or a "
                "value left out?).",
            )
        )
    for i in np.flatnonzero(lengths != n):
        records[i] = (records[i] + [""] * n)[:n]
    frame = pd.DataFrame(records, columns=header, dtype=object)
    frame.index = pd.Index(starts, dtype="int64", name="row")
    frame = frame.mask(frame == "")
    problems = problem_frame(found)
    if UNDECODABLE.search(text) is not None:
        frame, bad = clean_cells(frame, encoding)
        problems = pd.concat([problems, bad], ignore_index=True)
    return frame.astype("string"), problems


def read_delimited(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one delimited text file as text (see the module docstring).

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    frame : DataFrame
        Text values (``string`` dtype, missing where a field is empty),
        headers as written, indexed by the line where each record starts.
    problems : DataFrame
        Columns :data:`READ_PROBLEM_COLUMNS`.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    decoded = decode(data)
    notes = []
    if decoded.fallback:
        notes.append(
            (
                "encoding_fallback",
                "warning",
                pd.NA,
                pd.NA,
                pd.NA,
                f"{path.name} is not UTF-8 (it has no valid UTF-8 multi-byte character); it was "
                "read as Windows-1252. Save it as UTF-8 to be sure accented names are right.",
            )
        )
    result = _read_fast(decoded.data) if decoded.data is not None else None
    if result is not None:
        frame, _ = result
        problems = problem_frame([])
    else:
        text = decoded.text if decoded.text is not None else decoded.data.decode("utf-8")
        if not text.strip():
            raise SourceError(f"{path} is empty: it has no header row.")
        frame, problems = _read_slow(text, decoded.encoding, path)
    if len(frame.columns) == 0 or all(not str(c).strip() for c in frame.columns):
        raise SourceError(f"{path} is empty: it has no header row.")
    if notes:
        problems = pd.concat([problem_frame(notes), problems], ignore_index=True)
    return frame, problems
