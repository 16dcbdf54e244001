"""Validation rules: the pandera schemas per table, then rules across rows
and tables.

Every rule logs problems into a :class:`~casework_analytics.problems.ProblemLog`;
none of them drops a row. Which rows are rejected is decided from the log by
:func:`rejected_rows`.

Rules (severity)
----------------
``unparseable_date`` (error if required, else warning)
    A date is not in ``yyyy-mm-dd`` or ``dd/mm/yyyy`` form, or does not exist.
``date_out_of_range`` (error if required, else warning and the value is cleared)
    A real date outside 1677-09-22 to 2262-04-11, the dates a
    ``datetime64[ns]`` column holds (``9999-12-31`` used for "no end", a
    year typed as ``0024``), or an Excel date serial no date matches.
``invalid_value`` (error if required, else warning and the value is cleared)
    A value is not in the controlled vocabulary, not a number, or not a yes/no.
``missing_value`` (error)
    A required column is empty.
``out_of_range`` (warning, value cleared)
    age_at_intake outside 10-100, self_report_use_days outside 0-7, ...
``unknown_stage`` (error; warning in sessions.stage)
    A stage label that is not in the stage model or its aliases.
``duplicate_key`` (error)
    A placement_id or case_id seen on an earlier row; the later row is rejected.
``date_order`` (error)
    end_date before start_date, closed_date before intake_date, completed_on
    before started_on.
``foreign_key`` (error)
    A row points to a placement or case that does not exist.
``orphan`` (error)
    A row points to a placement or case that exists but was rejected.
``before_intake`` (error for stages and visits, warning for sessions)
    A stage, visit or session dated before the case's intake.
``repeated_stage`` (error)
    A non-repeatable stage recorded again for the same case; the later start
    is rejected.
``duplicate_visit`` (error)
    A second visit row for the same case on the same date.
``duplicate_session`` (error)
    A session row identical in every column (as parsed) to an earlier one;
    the later copy is rejected.
``stage_order`` (warning)
    A stage started before an earlier stage of the model had started.
``intake_outside_placement`` (warning)
    Intake more than ``intake_tolerance_days`` before the placement's start or
    after its end.
``result_without_attendance`` (warning)
    A visit marked not attended that carries a positive or negative result.
``unknown_column`` (warning)
    A column that is not part of the contract (kept as text).
``unclassified_reason`` (warning)
    A closure reason no rule recognises, or a closed case without one.

Found while reading the source (see :mod:`casework_analytics.delimited`):

``field_count`` (error)
    A CSV row with more or fewer fields than the header; the whole row is
    rejected and its values are not checked further.
``encoding_error`` (error if required, else warning, the bad bytes replaced by U+FFFD)
    A value holding bytes that are not valid text in the file's encoding
    (UTF-8 unless the file says otherwise); the value shows them as ``\\xNN``.
``encoding_fallback`` (warning, whole table)
    A CSV file without one valid UTF-8 multi-byte character was read as
    Windows-1252.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .keys import Codes, positions, repeated, take
from .problems import ProblemLog
from .schemas import TABLES, schema_for
from .vocabulary import accepted_text, closest_value, forms_of, named_form, value_aliases

__all__ = [
    "is_in",
    "lookup",
    "apply_schema",
    "check_unique_key",
    "check_date_order",
    "check_references",
    "check_not_before_intake",
    "check_repeated_stages",
    "check_duplicate_visits",
    "check_duplicate_sessions",
    "check_stage_order",
    "check_intake_in_placement",
    "check_results_without_attendance",
    "rejected_rows",
]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .stage_models import StageModel

_CHECK_RULES = {
    "not_nullable": "missing_value",
    "isin": "invalid_value",
    "greater_than_or_equal_to": "out_of_range",
    "less_than_or_equal_to": "out_of_range",
    "in_range": "out_of_range",
}


def is_in(values: pd.Series, keys: ArrayLike) -> pd.Series:
    """``values.isin(keys)``, hashing each distinct value once (fast for text keys).

    Parameters
    ----------
    values : Series
    keys : array-like

    Returns
    -------
    Series of bool
        On the index of ``values``.
    """
    return pd.Series(positions(values, _key_index(keys)) >= 0, index=values.index)


def lookup(values: pd.Series, keys: pd.Series) -> pd.Series:
    """``values`` (indexed by a unique key) looked up for each of ``keys``, dtype kept.

    Parameters
    ----------
    values : Series
        Indexed by a unique key.
    keys : Series
        Keys to look up; a key not in the index gives a missing value.

    Returns
    -------
    Series
        On the index of ``keys``.
    """
    return take(values, positions(keys, values.index), index=keys.index)


def apply_schema(
    frame: pd.DataFrame, table: str, stages: StageModel | Sequence[str], log: ProblemLog
) -> pd.DataFrame:
    """Validate ``frame`` with the table's pandera schema (lazily) and log failures.

    Cells that the reader or parsing already reported are not reported
    again, nor is any cell of a row already rejected as a whole (for
    example ``field_count``). Failures in optional columns are warnings and
    the offending value is cleared (also where it was reported earlier), so
    the row is kept; failures in required columns are errors.

    ``stages`` is the stage model (or only its stage codes): a label it does
    not know is reported with the accepted stages in both languages and
    the closest one, if any is close.

    Parameters
    ----------
    frame : DataFrame
        A parsed table, indexed by source row number.
    table : str
        Its name.
    stages : StageModel or sequence of str
    log : ProblemLog
        Where the problems are recorded.

    Returns
    -------
    DataFrame
        ``frame`` with invalid optional values set to missing.
    """
    model = stages if hasattr(stages, "aliases") else None
    stages = model.stages if model is not None else tuple(stages)
    try:
        schema_for(table, stages).validate(frame, lazy=True)
        return frame
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases.reset_index(drop=True)
    raw_values = frame
    if failures["index"].isna().any():
        whole = failures[failures["index"].isna()]
        raise RuntimeError(f"Internal error: {table} failed schema-level checks:\n{whole}")
    failures = failures.assign(
        row=failures["index"].astype("int64"),
        check_name=failures["check"].astype(str).str.extract(r"^(\w+)", expand=False),
    )
    already = log.frame()
    already = already[already["table"] == table]
    seen = set(zip(already["row"].astype("Int64"), already["column"], strict=True))
    whole_rows = already.loc[
        already["column"].isna() & (already["severity"] == "error") & already["row"].notna(),
        "row",
    ]
    whole_rows = set(whole_rows.astype("int64"))
    new = np.array(
        [
            (r, c) not in seen and r not in whole_rows
            for r, c in zip(failures["row"], failures["column"], strict=True)
        ],
        dtype=bool,
    )
    spec = TABLES[table]
    for (column, check_name), group in failures.groupby(["column", "check_name"], sort=False):
        required = column in spec.required
        if not required:  # cleared even where a reader or parsing already reported the cell
            frame = frame.copy()
            frame.loc[group["row"].to_numpy(), column] = pd.NA
        group = group[new[group.index.to_numpy()]]
        rows = group["row"].to_numpy()
        if not len(rows):
            continue
        rule = _CHECK_RULES.get(check_name, check_name)
        kind = spec.columns.get(column, "")
        hints = None
        if kind == "stage":
            rule = "unknown_stage"
            if model is not None:
                forms = {st: (model.label(st, "en"), model.label(st, "id")) for st in stages}
                allowed = f"a stage of the model: {accepted_text(forms)}"
                hints = (model.aliases, forms)
            else:
                allowed = f"a stage of the model {list(stages)} (or an alias)"
        elif rule == "invalid_value" and kind.startswith("vocab:"):
            field = kind.split(":", 1)[1]
            forms = forms_of(field)
            allowed = f"one of {accepted_text(forms)}"
            hints = (value_aliases()[field], forms)
        elif rule == "invalid_value":
            allowed = f"one of {group['check'].iloc[0].split('(', 1)[1].removesuffix(')')}"
        elif rule == "out_of_range":
            allowed = f"within the allowed range ({group['check'].iloc[0]})"
        else:
            allowed = "present"
        if rule == "missing_value":
            message = f"Required column {column} is empty."
        else:
            message = f"{column} '{{value}}' is not {allowed}."
        severity = "error" if required else "warning"
        if not required:
            message += " The value was cleared; the row is kept."
        if hints is not None:
            message = _with_hints(raw_values.loc[rows, column], message, *hints)
        log.add_rows(rule, severity, table, raw_values, column, rows, message)
    return frame


def _with_hints(values: pd.Series, message: str, aliases: dict, forms: dict) -> list[str]:
    """``message`` for each value, with "did you mean" where an accepted value is close
    (worked out once per distinct value)."""
    distinct = values.astype("string").fillna("").unique()
    finished = {}
    for value in distinct:  # a handful of distinct unknown labels
        text = message.replace("{value}", str(value), 1)
        close = closest_value(str(value), aliases)
        if close is not None:
            hint = f" is not accepted (did you mean {named_form(close, forms)}?); it must be "
            text = text.replace(" is not ", hint, 1)
        finished[value] = text
    return [finished[v] for v in values.astype("string").fillna("")]


def check_unique_key(frame: pd.DataFrame, table: str, key: str, log: ProblemLog) -> None:
    """Log every row whose key was already used on an earlier row.

    Parameters
    ----------
    frame : DataFrame
        A parsed table, indexed by source row number.
    table : str
        Its name.
    key : str
        The key column.
    log : ProblemLog
        Where the problems are recorded.
    """
    dup = frame[key].notna() & frame.duplicated(key, keep="first")
    if not dup.any():
        return
    first_row = frame.reset_index().drop_duplicates(key).set_index(key)["row"]
    rows = frame.index[dup]
    keys = frame.loc[rows, key]
    log.add_rows(
        "duplicate_key",
        "error",
        table,
        frame,
        key,
        rows,
        [
            f"{key} {k} already appears on row {first_row[k]}; this later row was rejected."
            for k in keys
        ],
    )


def check_date_order(
    frame: pd.DataFrame, table: str, first: str, then: str, log: ProblemLog
) -> None:
    """Log rows where the ``then`` date falls before the ``first`` date.

    Parameters
    ----------
    frame : DataFrame
        A parsed table, indexed by source row number.
    table : str
        Its name.
    first, then : str
        Date columns; ``then`` must not be before ``first``.
    log : ProblemLog
        Where the problems are recorded.
    """
    bad = frame[then] < frame[first]
    rows = frame.index[bad.fillna(False).astype(bool)]
    if len(rows):
        messages = (
            then
            + " "
            + frame.loc[rows, then].dt.strftime("%Y-%m-%d")
            + " is before "
            + first
            + " "
            + frame.loc[rows, first].dt.strftime("%Y-%m-%d")
            + "."
        )
        log.add_rows("date_order", "error", table, frame, then, rows, messages.tolist())


def check_references(
    frame: pd.DataFrame,
    table: str,
    column: str,
    valid_keys: ArrayLike,
    rejected_keys: ArrayLike,
    log: ProblemLog,
    causes: Mapping[Hashable, str] | pd.Series | None = None,
    *,
    codes: Codes | None = None,
) -> None:
    """Log rows whose ``column`` does not point to an accepted row of the parent table.

    ``causes`` (rejected key → why its row was rejected) puts the parent's
    reason in each orphan's message, so that the rows left out with one
    rejected case read as one cause (see
    :func:`~casework_analytics.problems.format_problems`).

    Parameters
    ----------
    frame : DataFrame
        A parsed table, indexed by source row number.
    table : str
        Its name.
    column : str
        The column holding the parent's key (``placement_id`` or ``case_id``).
    valid_keys, rejected_keys : array-like
        Keys of the parent's accepted and rejected rows.
    log : ProblemLog
        Where the problems are recorded.
    causes : dict or Series, optional
    codes : Codes, optional
        ``frame[column]`` factorized, when the caller already has it (see
        :class:`~casework_analytics.keys.Codes`). Pass the keys as an Index
        to reuse its hash table across tables.
    """
    values = frame[column]
    codes = Codes(values) if codes is None else codes
    valid = codes.isin(_key_index(valid_keys))
    orphan = codes.isin(_key_index(rejected_keys)) & ~valid
    unknown = (codes.codes >= 0) & ~valid & ~orphan
    parent = "placement" if column == "placement_id" else "case"
    rows = frame.index[unknown]
    log.add_rows(
        "foreign_key",
        "error",
        table,
        frame,
        column,
        rows,
        f"{column} {{value}} does not exist in the {parent}s table.",
    )
    rows = frame.index[orphan]
    if not len(rows):
        return
    keys = values[rows].astype("string")
    why = keys.map(causes) if causes is not None else pd.Series(pd.NA, index=rows)
    why = (" (" + why.astype("string") + ")").fillna("")
    messages = (
        f"{column} "
        + keys
        + f" belongs to a {parent} that was rejected"
        + why
        + "; rejected with it."
    )
    log.add_rows("orphan", "error", table, frame, column, rows, messages.tolist())


def check_not_before_intake(
    frame: pd.DataFrame,
    table: str,
    date_column: str,
    cases: pd.DataFrame,
    severity: str,
    log: ProblemLog,
    *,
    codes: Codes | None = None,
) -> None:
    """Log rows dated before their case's intake.

    Parameters
    ----------
    frame : DataFrame
        A parsed table, indexed by source row number.
    table : str
        Its name.
    date_column : str
    cases : DataFrame
        The parsed cases table (``case_id``, ``intake_date``).
    severity : {"error", "warning"}
    log : ProblemLog
        Where the problems are recorded.
    codes : Codes, optional
        ``frame["case_id"]`` factorized, when the caller already has it.
    """
    codes = Codes(frame["case_id"]) if codes is None else codes
    at = codes.positions(cases["case_id"])
    intake = take(cases["intake_date"], at, index=frame.index)
    bad = (frame[date_column] < intake).fillna(False).astype(bool)
    rows = frame.index[bad]
    if len(rows):
        messages = (
            f"{date_column} "
            + frame.loc[rows, date_column].dt.strftime("%Y-%m-%d")
            + " is before the case's intake on "
            + intake[rows].dt.strftime("%Y-%m-%d")
            + "."
        )
        log.add_rows("before_intake", severity, table, frame, date_column, rows, messages.tolist())


def check_repeated_stages(
    stages: pd.DataFrame, model: StageModel, log: ProblemLog, *, codes: Codes | None = None
) -> None:
    """Log later starts of a non-repeatable stage for the same case.

    Of the rows of one case and stage, the earliest start is kept (a missing
    start counts as latest; equal starts keep the earlier row).

    Parameters
    ----------
    stages : DataFrame
        The parsed stages table.
    model : StageModel
        Says which stages may repeat.
    log : ProblemLog
        Where the problems are recorded.
    codes : Codes, optional
        ``stages["case_id"]`` factorized, when the caller already has it.
    """
    codes = Codes(stages["case_id"]) if codes is None else codes
    once = (~stages["stage"].isin(model.repeatable) & stages["stage"].notna()).to_numpy(bool)
    stage = Codes(stages["stage"])
    key = _pair(codes, stage)[once]
    started = stages["started_on"].to_numpy("datetime64[ns]").view(np.int64)[once]
    started = np.where(started == np.iinfo(np.int64).min, np.iinfo(np.int64).max, started)
    order = np.lexsort((started, key))
    rows = stages.index[np.flatnonzero(once)[order[repeated(key[order])]]]
    log.add_rows(
        "repeated_stage",
        "error",
        "stages",
        stages,
        "stage",
        rows,
        "Stage {value} is recorded more than once for this case; only the earliest start is kept.",
    )


def check_duplicate_visits(
    visits: pd.DataFrame, log: ProblemLog, *, codes: Codes | None = None
) -> None:
    """Log second and later visit rows (by source row) for the same case and date.

    Parameters
    ----------
    visits : DataFrame
        The parsed visits table.
    log : ProblemLog
        Where the problems are recorded.
    codes : Codes, optional
        ``visits["case_id"]`` factorized, when the caller already has it.
    """
    codes = Codes(visits["case_id"]) if codes is None else codes
    rows = visits.index[_repeated_by_row(visits, _pair(codes, Codes(visits["visit_date"])))]
    log.add_rows(
        "duplicate_visit",
        "error",
        "visits",
        visits,
        "visit_date",
        rows,
        "A visit on {value} is already recorded for this case; this duplicate was rejected.",
    )


def check_duplicate_sessions(
    sessions: pd.DataFrame, log: ProblemLog, *, codes: Codes | None = None
) -> None:
    """Log a session row that repeats an earlier row in every column.

    Values are compared as parsed, so ``held`` and ``terlaksana``, or
    ``2024-03-25`` and ``25/03/2024``, are the same. The first row is kept.

    Parameters
    ----------
    sessions : DataFrame
        The parsed sessions table.
    log : ProblemLog
        Where the problems are recorded.
    codes : Codes, optional
        ``sessions["case_id"]`` factorized, when the caller already has it.
    """
    codes = Codes(sessions["case_id"]) if codes is None else codes
    # Only rows sharing a case and a date can repeat each other in every column.
    same_day = repeated(_pair(codes, Codes(sessions["session_date"])), keep=False)
    sessions = sessions[same_day]
    dup = sessions.duplicated(keep="first")
    if not dup.any():
        return
    copies = sessions[sessions.duplicated(keep=False)]
    first_row = (
        copies.reset_index()
        .groupby(list(copies.columns), dropna=False, sort=False)["row"]
        .transform("first")
    )
    first_row.index = copies.index
    rows = sessions.index[dup.to_numpy()]
    log.add_rows(
        "duplicate_session",
        "error",
        "sessions",
        sessions,
        "session_date",
        rows,
        [
            f"This session repeats row {first} in every column (a copy?); the later copy "
            "was rejected. Two real sessions on one day need something that tells them "
            "apart, such as duration_min."
            for first in first_row.loc[rows]
        ],
    )


def check_stage_order(stages: pd.DataFrame, model: StageModel, log: ProblemLog) -> None:
    """Warn where a stage started before a stage that precedes it in the model.

    Parameters
    ----------
    stages : DataFrame
        The parsed stages table.
    model : StageModel
    log : ProblemLog
        Where the problems are recorded.
    """
    position = model.position(stages["stage"])
    ordered = stages.assign(_pos=position).sort_values(["case_id", "started_on", "_pos"])
    ordered = ordered[ordered["_pos"].notna()]
    running_max = ordered.groupby("case_id")["_pos"].cummax()
    highest_before = running_max.groupby(ordered["case_id"]).shift(1)
    bad = (ordered["_pos"] < highest_before).fillna(False).astype(bool)
    rows = ordered.index[bad]
    log.add_rows(
        "stage_order",
        "warning",
        "stages",
        stages,
        "stage",
        rows,
        "Stage {value} started after a later stage of the model had already started.",
    )


def check_intake_in_placement(
    cases: pd.DataFrame, placements: pd.DataFrame, tolerance_days: int, log: ProblemLog
) -> None:
    """Warn where intake falls far outside the placement's period.

    Parameters
    ----------
    cases, placements : DataFrame
        The parsed tables.
    tolerance_days : int
        Days outside the placement's period before an intake is reported.
    log : ProblemLog
        Where the problems are recorded.
    """
    period = placements.set_index("placement_id")
    start = lookup(period["start_date"], cases["placement_id"])
    end = lookup(period["end_date"], cases["placement_id"])
    slack = pd.Timedelta(days=tolerance_days)
    bad = (cases["intake_date"] < start - slack) | (cases["intake_date"] > end + slack)
    rows = cases.index[bad.fillna(False).astype(bool)]
    if len(rows):
        messages = (
            "Intake on "
            + cases.loc[rows, "intake_date"].dt.strftime("%Y-%m-%d")
            + " is more than "
            + str(tolerance_days)
            + " days outside placement "
            + cases.loc[rows, "placement_id"]
            + " ("
            + start[rows].dt.strftime("%Y-%m-%d")
            + " to "
            + end[rows].dt.strftime("%Y-%m-%d")
            + ")."
        )
        log.add_rows(
            "intake_outside_placement",
            "warning",
            "cases",
            cases,
            "intake_date",
            rows,
            messages.tolist(),
        )


def check_results_without_attendance(visits: pd.DataFrame, log: ProblemLog) -> None:
    """Warn where a visit not attended carries a test result.

    Parameters
    ----------
    visits : DataFrame
        The parsed visits table.
    log : ProblemLog
        Where the problems are recorded.
    """
    bad = (~visits["attended"]).fillna(False).astype(bool) & visits["test_result"].isin(
        ["negative", "positive"]
    )
    rows = visits.index[bad]
    log.add_rows(
        "result_without_attendance",
        "warning",
        "visits",
        visits,
        "test_result",
        rows,
        "The visit is marked not attended but has a {value} result; the result is ignored.",
    )


def _key_index(keys: ArrayLike) -> pd.Index:
    """``keys`` without missing values, as an Index to look up in. An Index
    passed in is used as it is, so that its hash table, built on the first
    look-up, serves every table."""
    return keys if isinstance(keys, pd.Index) else pd.Index(pd.Series(keys).dropna())


def _pair(first: Codes, second: Codes) -> np.ndarray:
    """One integer key per row for the pair of two factorized columns
    (missing values are equal to each other, as in ``duplicated``)."""
    return (first.codes + 1) * (len(second.uniques) + 1) + (second.codes + 1)


def _repeated_by_row(frame: pd.DataFrame, key: np.ndarray) -> np.ndarray:
    """Whether each row's ``key`` appeared on an earlier source row (the index)."""
    if frame.index.is_monotonic_increasing:
        return repeated(key)
    order = np.argsort(frame.index.to_numpy(), kind="stable")
    marked = np.empty(len(key), dtype=bool)
    marked[order] = repeated(key[order])
    return marked


def rejected_rows(log: ProblemLog, table: str) -> pd.Index:
    """Source rows of ``table`` that carry at least one error.

    Parameters
    ----------
    log : ProblemLog
    table : str

    Returns
    -------
    Index of int64
        Named ``row``.
    """
    problems = log.frame()
    hit = problems[(problems["table"] == table) & (problems["severity"] == "error")]
    return pd.Index(hit["row"].dropna().astype("int64").unique(), name="row")
