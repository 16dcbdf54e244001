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

Small groups (:func:`fold_small_groups`)
    Groups with fewer clients than the threshold (a single-client
    placement identifies its client) are folded into one ``Other`` group
    before anything is computed for publication. Counts are then hidden by
    :mod:`casework_analytics.publish`, which audits everything published
    together; hidden cells show :data:`HIDDEN`. The threshold (default 11,
    so counts 1-10 are hidden and 0 is shown: the US CMS rule) is checked
    by :func:`check_threshold`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .closures import classify_exit_reasons
from .errors import CaseworkError
from .grouping import group_key
from .parsing import canonical_headers, to_text
from .schemas import TABLES
from .vocabulary import normalise_header

__all__ = [
    "TOKEN_LENGTH",
    "MIN_KEY_BYTES",
    "DEFAULT_THRESHOLD",
    "MIN_THRESHOLD",
    "HIDDEN",
    "OTHER_GROUP",
    "PSEUDONYMISED",
    "FREE_TEXT",
    "IDENTIFIER_PATTERNS",
    "make_key",
    "check_threshold",
    "read_key",
    "pseudonym",
    "identifier_columns",
    "pseudonymise_tables",
    "pseudonymise",
    "fold_small_groups",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .grouping import GroupBy
    from .sources import SourceLike

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


def make_key(path: str | os.PathLike) -> Path:
    """Write a new random 256-bit key (hex) to ``path``, readable by its owner only.

    The file is created with ``O_CREAT | O_EXCL`` and mode 0600 in one step,
    so it is never readable by others, not even for a moment, and an
    existing key is never overwritten. Missing parent folders are created
    (mode 0700).

    Parameters
    ----------
    path : str or path
        The key file; it must not exist.

    Returns
    -------
    pathlib.Path
        ``path``.
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


def check_threshold(threshold: int) -> int:
    """The disclosure threshold, refused unless it is a whole number of at least 3.

    Parameters
    ----------
    threshold : int

    Returns
    -------
    int
    """
    whole = isinstance(threshold, int | np.integer) and not isinstance(threshold, bool)
    if not whole or threshold < MIN_THRESHOLD:
        raise CaseworkError(
            f"The disclosure threshold must be a whole number of at least {MIN_THRESHOLD} "
            f"(default {DEFAULT_THRESHOLD}: counts 1-10 hidden), but {threshold!r} was passed."
        )
    return int(threshold)


def read_key(path: str | os.PathLike | None) -> bytes:
    """Read a pseudonymisation key: at least 32 bytes (e.g. 64 hex digits).

    Parameters
    ----------
    path : str or path
        The key file (``None`` is refused with a message on how to make one).

    Returns
    -------
    bytes
        The key, surrounding white space removed.
    """
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
    """HMAC-SHA256 tokens ``p_`` + 16 hex digits for each distinct value; NA stays NA.

    Parameters
    ----------
    values : Series
        Identifiers.
    key : bytes
        The secret key (:func:`read_key`).

    Returns
    -------
    Series of string
        On the index of ``values``.
    """
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


def identifier_columns(columns: Iterable[str]) -> list[str]:
    """The columns whose names look like direct identifiers.

    Parameters
    ----------
    columns : iterable of str

    Returns
    -------
    list of str
        Those of ``columns`` that match :data:`IDENTIFIER_PATTERNS` and are not
        pseudonymised.
    """
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

    Parameters
    ----------
    tables : dict of DataFrame
        Raw tables by canonical name.
    key : bytes
        The secret key (:func:`read_key`).
    keep_text, keep_columns
        As in :func:`pseudonymise`.

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
    source: SourceLike,
    out_dir: str | os.PathLike,
    key_file: str | os.PathLike,
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


# ---------------------------------------------------------------- small groups


def fold_small_groups(
    cohort: Cohort, by: GroupBy, *, threshold: int = DEFAULT_THRESHOLD
) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """Group labels in which groups of ``by`` with fewer than ``threshold``
    distinct clients are merged into one ``Other`` group.

    If those groups together still have fewer than ``threshold`` clients, the
    smallest of the other groups are folded in too, one at a time, until
    ``Other`` has at least ``threshold`` clients (or every group is in it):
    a small ``Other`` would be hidden in every table, and take a partner
    group down with it each time.

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
    folded_names = list(n_clients.index[n_clients < threshold])
    # An Other smaller than the threshold would be hidden everywhere, and each of its
    # hidden cells would take a partner: fold the next smallest groups in until it is not.
    larger = n_clients[n_clients >= threshold].sort_values(kind="stable")
    for name in larger.index:  # a handful of groups
        folded = pd.Series(clients[key.isin(folded_names).to_numpy()]).nunique()
        if not folded or folded >= threshold:
            break
        folded_names.append(name)
    small = n_clients[folded_names]
    folded_mask = key.isin(small.index).to_numpy()
    relabelled = groups.copy()
    for column in cols:
        relabelled.loc[folded_mask, column] = OTHER_GROUP
    return relabelled, pd.DataFrame({"group": small.index, "clients": small.to_numpy()})
