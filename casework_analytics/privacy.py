"""Privacy of what leaves the evaluator's machine.

Two tools, following ``domain.md``:

Pseudonymisation (:func:`pseudonymise`, :func:`pseudonymise_tables`)
    Every ``client_id``, ``caseworker_id`` and ``supervisor_id`` is replaced
    by a keyed hash, HMAC-SHA256 with a secret key kept outside the data,
    written as the first :data:`TOKEN_LENGTH` hex digits (64 bits) after a
    ``p_`` prefix. The same key always gives the same token, so exports made
    at different times still link; without the key a token cannot be
    reversed by hashing guessed IDs, as a plain hash could. The key is never
    written into the output. Free text (``closure_note``, ``note``,
    ``missed_reason``) is dropped and ``closure_reason`` is replaced by its
    reason code, unless ``keep_text=True``. Columns that look like direct
    identifiers (names, national ID numbers, phone numbers, addresses,
    birth dates, e-mail) are refused. Row counts and every analysis result
    are unchanged.

Disclosure control (:func:`suppress`, :func:`suppress_long`, :func:`fold_small_groups`)
    Counts from 1 to ``threshold - 1`` are hidden (default threshold 11, so
    1-10 are hidden and 0 is shown: the US CMS rule), with complementary
    suppression so that no hidden count can be recovered from a row or
    column total or from the other cells; shares, rates and intervals
    computed from a hidden count are hidden too. Hidden cells show
    :data:`HIDDEN`. Groups with fewer clients than the threshold (a
    single-client placement identifies its client) are folded into one
    ``Other`` group before anything is computed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from .closures import classify_exit_reasons
from .errors import CaseworkError
from .grouping import group_key
from .parsing import canonical_headers, to_text
from .schemas import TABLES

TOKEN_LENGTH = 16
MIN_KEY_BYTES = 32
DEFAULT_THRESHOLD = 11
HIDDEN = "*"
OTHER_GROUP = "Other"
PSEUDONYMISED = ("client_id", "caseworker_id", "supervisor_id")
FREE_TEXT = ("closure_note", "note", "missed_reason")
IDENTIFIER_PATTERNS = (
    r"(^|_)(nama|name|full_?name|surname|alias)($|_)",
    r"(^|_)(nik|ktp|no_ktp|national_id|passport|paspor|kk|no_kk|nisn)($|_)",
    r"(^|_)(phone|telepon|telp|tel|hp|no_hp|handphone|mobile|whatsapp|wa)($|_)",
    r"(^|_)(address|alamat|domisili|street|jalan|rt_rw)($|_)",
    r"(birth|lahir|dob|ttl)",
    r"(^|_)(email|e_mail|surel)($|_)",
)


def make_key(path) -> Path:
    """Write a new random 256-bit key (hex) to ``path``; refuse to overwrite one."""
    path = Path(path)
    if path.exists():
        raise CaseworkError(f"{path} already exists; a key is never overwritten.")
    path.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    path.chmod(0o600)
    return path


def read_key(path) -> bytes:
    """Read a pseudonymisation key: at least 32 bytes (e.g. 64 hex digits)."""
    if path is None:
        raise CaseworkError(
            "A key file is required (--key-file); make one with "
            "`casework-analytics keygen KEY_FILE` and keep it outside the data."
        )
    path = Path(path)
    if not path.is_file():
        raise CaseworkError(
            f"The key file {path} does not exist; make one with "
            "`casework-analytics keygen KEY_FILE`."
        )
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise CaseworkError(
            f"The key in {path} is {len(key)} bytes long; at least "
            f"{MIN_KEY_BYTES} are needed so tokens cannot be guessed."
        )
    return key


def pseudonym(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 tokens ``p_`` + 16 hex digits for each distinct value; NA stays NA."""
    text = to_text(values)
    codes, uniques = pd.factorize(text)
    tokens = np.array(
        [
            "p_" + hmac.new(key, str(u).encode("utf-8"), hashlib.sha256).hexdigest()[:TOKEN_LENGTH]
            for u in uniques
        ]
        + [pd.NA],
        dtype=object,
    )  # one hash per distinct ID
    return pd.Series(tokens[codes], index=values.index, dtype="string")


def identifier_columns(columns) -> list[str]:
    """The columns whose names look like direct identifiers."""
    return [
        c
        for c in columns
        if any(re.search(p, str(c)) for p in IDENTIFIER_PATTERNS) and c not in PSEUDONYMISED
    ]


def pseudonymise_tables(
    tables: dict[str, pd.DataFrame], key: bytes, *, keep_text: bool = False
) -> dict[str, pd.DataFrame]:
    """Pseudonymise raw tables (canonical or aliased headers) with ``key``.

    Returns the tables with canonical headers, identifier columns replaced
    by tokens, and free text dropped (unless ``keep_text``). Raises
    :class:`CaseworkError` naming any column that looks like a direct
    identifier.
    """
    out = {}
    for name, frame in tables.items():
        frame = canonical_headers(frame, TABLES[name])
        refused = identifier_columns(frame.columns)
        if refused:
            raise CaseworkError(
                f"The {name} table has column(s) {refused} that look like direct identifiers "
                "(names, ID numbers, phone numbers, addresses, birth dates). Remove them from "
                "the source before pseudonymising; they are never copied."
            )
        frame = frame.copy()
        for column in PSEUDONYMISED:
            if column in frame:
                frame[column] = pseudonym(frame[column], key)
        if not keep_text:
            frame = frame.drop(columns=[c for c in FREE_TEXT if c in frame])
            if "closure_reason" in frame:
                frame["closure_reason"] = classify_exit_reasons(to_text(frame["closure_reason"]))
        out[name] = frame
    return out


def pseudonymise(
    source, out_dir, key_file, *, keep_text: bool = False, format: str = "csv"
) -> Path:
    """Write a pseudonymised copy of ``source`` to ``out_dir``.

    Parameters
    ----------
    source : str or path
        Any source :func:`casework_analytics.load` accepts.
    out_dir : path
        Where to write the copy (CSV or Parquet files, or ``cohort.xlsx``).
    key_file : path
        File holding the secret key (at least 32 bytes); see :func:`make_key`.
    keep_text : bool
        Keep free-text fields and the original closure reasons (default:
        drop them, and keep only the reason code).

    Returns
    -------
    Path
        What :func:`casework_analytics.load` should be given to read the copy.
    """
    from .sources import read_source
    from .synthetic import write

    key = read_key(key_file)
    raw = read_source(source)
    tables = pseudonymise_tables(
        {n: f.reset_index(drop=True) for n, f in raw.tables.items()}, key, keep_text=keep_text
    )
    return write(tables, out_dir, format=format)


# ---------------------------------------------------------------- disclosure control


def protect(counts, lines, threshold: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """Cells to hide among ``counts``, given the additive ``lines`` between them.

    Parameters
    ----------
    counts : 1-D array-like
        Every published count (NaN for cells that are not counts).
    lines : list of sequences of int
        Each line lists the positions of cells bound by one published sum
        (the parts and their total, e.g. a row of a table with its row
        total): knowing all but one of them gives the last.
    threshold : int
        Counts 1 to ``threshold - 1`` are hidden (primary suppression).

    Returns
    -------
    ndarray of bool

    Notes
    -----
    Complementary suppression: while a line has exactly one hidden cell
    (recoverable by subtraction), the smallest visible non-zero count of
    that line (a zero when there is none) is hidden too. Each pass hides at
    least one more cell, so the loop ends.
    """
    values = np.asarray(counts, dtype=float)
    hidden = (values >= 1) & (values < threshold)
    lines = [np.asarray(line, dtype=int) for line in lines if len(line) > 1]
    changed = True
    while changed:
        changed = False
        for line in lines:  # lines of a small published table, not cases
            inside = hidden[line]
            if inside.sum() != 1:
                continue
            visible = line[~inside & ~np.isnan(values[line])]
            if not len(visible):
                continue
            positive = visible[values[visible] > 0]
            pool = positive if len(positive) else visible
            hidden[pool[np.argmin(values[pool])]] = True
            changed = True
    return hidden


def suppression_mask(
    counts, threshold: int = DEFAULT_THRESHOLD, *, margins: bool = True
) -> np.ndarray:
    """Which cells of a 2-D count table (with its margins) to hide.

    With ``margins=True`` the row totals, column totals and grand total are
    published too: they are appended as the last column and row of the
    returned mask. Every row with its total and every column with its total
    is an additive line for :func:`protect`.
    """
    table = np.asarray(counts, dtype=float)
    if table.ndim == 1:
        table = table[None, :]
    if margins:
        table = np.column_stack([table, table.sum(axis=1)])
        table = np.vstack([table, table.sum(axis=0)])
    n_rows, n_cols = table.shape
    index = np.arange(table.size).reshape(table.shape)
    lines = [index[i, :] for i in range(n_rows)] + [index[:, j] for j in range(n_cols)]
    return protect(table.ravel(), lines, threshold).reshape(table.shape)


def suppress(
    table: pd.DataFrame,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    margins: bool = True,
    marker: str = HIDDEN,
) -> pd.DataFrame:
    """Small-cell suppression of a wide count table, with margins.

    Parameters
    ----------
    table : DataFrame
        Counts: one row per group, one column per category (all numeric).
    threshold : int
        Counts 1 to ``threshold - 1`` are hidden (default 11: 1-10 hidden,
        0 shown).
    margins : bool
        Add and publish a ``Total`` column and row (suppressed as needed).

    Returns
    -------
    DataFrame
        Object dtype; hidden cells hold ``marker`` (``"*"``).

    Examples
    --------
    >>> t = pd.DataFrame({"planned": [30, 4], "unplanned": [25, 20]}, index=["A", "B"])
    >>> suppress(t)
          planned unplanned Total
    A           *         *    55
    B           *         *    24
    Total      34        45    79
    """
    if not all(pd.api.types.is_numeric_dtype(t) for t in table.dtypes):
        raise CaseworkError("`suppress` needs a table of counts (numeric columns only).")
    hidden = suppression_mask(table.to_numpy(), threshold, margins=margins)
    full = table.copy()
    if margins:
        full["Total"] = full.sum(axis=1)
        full.loc["Total"] = full.sum(axis=0)
    return full.astype(object).mask(hidden, marker)


def publish_long(
    table: pd.DataFrame,
    *,
    counts: list[str],
    derived: dict[str, list[str]] | None = None,
    group_cols: list[str] = (),
    lines: list[list[tuple[int, str]]] | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    marker: str = HIDDEN,
) -> pd.DataFrame:
    """Suppress a tidy result table before it is published.

    Parameters
    ----------
    table : DataFrame
        A result of this package (group columns first, ``All`` rows for the
        whole cohort).
    counts : list of str
        The count columns.
    derived : dict
        Each derived column (share, interval, rate, quantile) and the counts
        it is computed from: it is hidden wherever one of them is.
    group_cols : list of str
        The group columns. For every count column, the rows that differ only
        in their group (the groups and ``All``) form an additive line.
    lines : list, optional
        More additive lines, as lists of ``(row position, count column)``.

    Returns
    -------
    DataFrame
        A copy with hidden values replaced by ``marker``.
    """
    work = table.reset_index(drop=True)
    derived = derived or {}
    cells = [(r, c) for c in counts for r in range(len(work))]
    position = {cell: k for k, cell in enumerate(cells)}
    values = (
        np.concatenate(
            [pd.to_numeric(work[c], errors="coerce").astype("float64").to_numpy() for c in counts]
        )
        if counts
        else np.array([])
    )
    all_lines = list(lines or [])
    group_cols = list(group_cols)
    keys = [
        c
        for c in work.columns
        if c not in group_cols
        and c not in counts
        and c not in derived
        and not pd.api.types.is_float_dtype(work[c])
    ]
    if group_cols and len(work):
        key = group_key(work, keys, sep="|")
        for rows in key.groupby(key).groups.values():
            for c in counts:
                all_lines.append([(r, c) for r in rows])
    hidden = protect(values, [[position[x] for x in line] for line in all_lines], threshold)
    out = work.astype({c: object for c in [*counts, *derived]})
    hidden_at = {
        c: np.array([hidden[position[(r, c)]] for r in range(len(work))], dtype=bool)
        for c in counts
    }
    for c in counts:
        out.loc[hidden_at[c], c] = marker
    for column, sources in derived.items():
        mask = np.zeros(len(work), dtype=bool)
        for source in sources:
            mask |= hidden_at[source]
        out.loc[mask, column] = marker
    return out


def fold_small_groups(cohort, by, *, threshold: int = DEFAULT_THRESHOLD):
    """A view of ``cohort`` in which groups of ``by`` with fewer than
    ``threshold`` distinct clients are merged into one ``Other`` group.

    Returns
    -------
    cohort : Cohort
        Same records; its ``by`` groups are relabelled for every analysis.
    folded : DataFrame
        The groups folded, with their client counts, for a note (the counts
        themselves are not for publication).
    """
    import dataclasses

    from .grouping import case_groups

    groups, cols = case_groups(cohort, by)
    if not cols:
        return cohort, pd.DataFrame(columns=["group", "clients"])
    clients = cohort.cases.set_index("case_id")["client_id"].reindex(groups["case_id"]).to_numpy()
    key = group_key(groups, cols)
    n_clients = pd.Series(clients).groupby(key.to_numpy()).nunique()
    small = n_clients[n_clients < threshold]
    relabel = groups.copy()
    folded_mask = key.isin(small.index).to_numpy()
    for column in cols:
        relabel.loc[folded_mask, column] = OTHER_GROUP
    view = dataclasses.replace(cohort, group_overrides=relabel)
    return view, pd.DataFrame({"group": small.index, "clients": small.to_numpy()})
