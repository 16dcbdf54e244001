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
    reason code, unless ``keep_text=True``. Only columns of the data
    contract are written (an allow-list): every other column, such as a
    national ID, a name or a private note, is left out and named, unless the
    user keeps it by name (never one that looks like a direct identifier).
    Row counts and every analysis result are unchanged.

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
import os
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
from .vocabulary import normalise_header

TOKEN_LENGTH = 16
MIN_KEY_BYTES = 32
DEFAULT_THRESHOLD = 11
MIN_THRESHOLD = 3
HIDDEN = "*"
OTHER_GROUP = "Other"
PSEUDONYMISED = ("client_id", "caseworker_id", "supervisor_id")
FREE_TEXT = ("closure_note", "note", "missed_reason")
IDENTIFIER_PATTERNS = (
    r"nama|name|surname|alias|initial|inisial",
    r"(^|_)(nik|ktp|no_ktp|national_id|passport|paspor|kk|no_kk|nisn|bpjs|no_bpjs)($|_)",
    r"nomor_induk|kependudukan|identitas|identity",
    r"(^|_)(phone|telepon|telp|tel|hp|no_hp|handphone|mobile|whatsapp|wa)($|_)",
    r"(^|_)(address|alamat|domisili|street|jalan|rt_rw)($|_)",
    r"(birth|lahir|dob|ttl)",
    r"(^|_)(email|e_mail|surel)($|_)",
)


def make_key(path) -> Path:
    """Write a new random 256-bit key (hex) to ``path``, readable by its owner only.

    The file is created with ``O_CREAT | O_EXCL`` and mode 0600 in one step,
    so it is never readable by others, not even for a moment, and an
    existing key is never overwritten. Missing parent folders are created
    (mode 0700).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CaseworkError(f"{path} already exists; a key is never overwritten.") from None
    except OSError as exc:
        raise CaseworkError(f"The key file {path} cannot be created: {exc.strerror}.") from None
    with os.fdopen(handle, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def check_threshold(threshold) -> int:
    """The disclosure threshold, refused unless it is a whole number of at least 3."""
    whole = isinstance(threshold, int | np.integer) and not isinstance(threshold, bool)
    if not whole or threshold < MIN_THRESHOLD:
        raise CaseworkError(
            f"The disclosure threshold must be a whole number of at least {MIN_THRESHOLD} "
            f"(default {DEFAULT_THRESHOLD}: counts 1-10 hidden), but {threshold!r} was passed."
        )
    return int(threshold)


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
    tables: dict[str, pd.DataFrame],
    key: bytes,
    *,
    keep_text: bool = False,
    keep_columns: tuple[str, ...] | list[str] = (),
) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
    """Pseudonymise raw tables (canonical or aliased headers) with ``key``.

    Only columns of the data contract are kept (an allow-list): any other
    column is left out and named, unless it is listed in ``keep_columns``.
    ``client_id``, ``caseworker_id`` and ``supervisor_id`` become tokens,
    and free text is dropped unless ``keep_text``.

    Returns
    -------
    tables : dict of DataFrame
        With canonical headers.
    dropped : dict of list
        Per table, the columns left out (as the source wrote them).

    Raises
    ------
    CaseworkError
        If a column in ``keep_columns`` looks like a direct identifier
        (name, ID number, phone, address, birth date, e-mail): those are
        never copied.
    """
    refused = identifier_columns([normalise_header(c) for c in keep_columns])
    if refused:
        raise CaseworkError(
            f"--keep-column {refused} looks like a direct identifier (a name, ID number, phone, "
            "address, birth date or e-mail); such columns are never copied."
        )
    keep = {normalise_header(c) for c in keep_columns}
    out, dropped = {}, {}
    for name, frame in tables.items():
        frame = canonical_headers(frame, TABLES[name])
        allowed = set(TABLES[name].columns) | keep
        if not keep_text:
            allowed -= set(FREE_TEXT)
        extra = [c for c in frame.columns if c not in allowed]
        unknown = [c for c in extra if c not in FREE_TEXT]
        if unknown:
            dropped[name] = unknown
        frame = frame.drop(columns=extra).copy()
        for column in PSEUDONYMISED:
            if column in frame:
                frame[column] = pseudonym(frame[column], key)
        if not keep_text and "closure_reason" in frame:
            frame["closure_reason"] = classify_exit_reasons(to_text(frame["closure_reason"]))
        out[name] = frame
    return out, dropped


def pseudonymise(
    source,
    out_dir,
    key_file,
    *,
    keep_text: bool = False,
    keep_columns: tuple[str, ...] | list[str] = (),
    format: str = "csv",
    overwrite: bool = False,
) -> tuple[Path, dict[str, list[str]]]:
    """Write a pseudonymised copy of ``source`` to ``out_dir``.

    Parameters
    ----------
    source : str or path
        Any source :func:`casework_analytics.load` accepts.
    out_dir : path
        Where to write the copy (CSV or Parquet files, or ``cohort.xlsx``),
        with a ``manifest.json``. It must be new or empty (``overwrite``
        clears it), and neither inside the source nor holding it.
    key_file : path
        File holding the secret key (at least 32 bytes); see :func:`make_key`.
    keep_text : bool
        Keep free-text fields and the original closure reasons (default:
        drop them, and keep only the reason code).
    keep_columns : list of str
        Columns outside the data contract to copy as they are.
    format : {"csv", "parquet", "xlsx"}
    overwrite : bool
        Clear a non-empty ``out_dir`` first.

    Returns
    -------
    where : Path
        What :func:`casework_analytics.load` should be given to read the copy.
    dropped : dict of list
        Per table, the columns left out.
    """
    from .outputs import write_source
    from .sources import read_source

    out_dir = Path(out_dir)
    if isinstance(source, str | Path) and Path(source).exists():
        inside = Path(source).resolve()
        target = out_dir.resolve()
        if target == inside or inside in target.parents or target in inside.parents:
            raise CaseworkError(
                f"The output folder {out_dir} is the source, inside it, or holds it; give a "
                "separate folder so the originals are never overwritten."
            )
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise CaseworkError(
            f"{out_dir} is not empty; give an empty or new folder, or --overwrite to clear it."
        )
    key = read_key(key_file)
    raw = read_source(source)
    tables, dropped = pseudonymise_tables(
        {n: f.reset_index(drop=True) for n, f in raw.tables.items()},
        key,
        keep_text=keep_text,
        keep_columns=keep_columns,
    )
    manifest = {
        "command": "pseudonymise",
        "source": raw.description,
        "parameters": {
            "keep_text": keep_text,
            "keep_columns": list(keep_columns),
            "format": format,
        },
        "dropped_columns": dropped,
        "published": False,
    }
    where = write_source(tables, out_dir, format=format, overwrite=True, manifest=manifest)
    return where, dropped


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
    """Group labels in which groups of ``by`` with fewer than ``threshold``
    distinct clients are merged into one ``Other`` group.

    Parameters
    ----------
    cohort : Cohort
    by : str or list of str
        The grouping (see :mod:`casework_analytics.grouping`).
    threshold : int
        Smallest number of clients a group shown on its own may have.

    Returns
    -------
    groups : DataFrame or None
        ``case_id`` and the group columns, ``Other`` for folded groups: pass
        it as ``by=`` to any analysis. ``None`` without a grouping.
    folded : DataFrame
        The groups folded, with their client counts, for a note (the counts
        themselves are not for publication).
    """
    from .grouping import case_groups

    groups, cols = case_groups(cohort, by)
    if not cols:
        return None, pd.DataFrame(columns=["group", "clients"])
    clients = cohort.cases.set_index("case_id")["client_id"].reindex(groups["case_id"]).to_numpy()
    key = group_key(groups, cols)
    n_clients = pd.Series(clients).groupby(key.to_numpy()).nunique()
    small = n_clients[n_clients < threshold]
    folded_mask = key.isin(small.index).to_numpy()
    relabelled = groups.copy()
    for column in cols:
        relabelled.loc[folded_mask, column] = OTHER_GROUP
    return relabelled, pd.DataFrame({"group": small.index, "clients": small.to_numpy()})
