"""The validated cohort and :func:`load`, the single entry point for data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .closures import classify_exit_reasons, negated_completion, read_exit_rules
from .delimited import clean_cells, needs_cleaning
from .errors import CaseworkError, MissingTableError, ValidationError
from .keys import Codes, positions, take
from .memory import release_unused
from .parsing import canonical_headers, parse_table
from .problems import ProblemLog, format_problems
from .progress import Progress
from .schemas import OPTIONAL_TABLES, TABLES
from .sources import TABLE_NAMES, SourceLike, read_source
from .stage_models import StageModel, get_stage_model
from .validation import (
    apply_schema,
    check_date_order,
    check_duplicate_sessions,
    check_duplicate_visits,
    check_intake_in_placement,
    check_not_before_intake,
    check_references,
    check_repeated_stages,
    check_results_without_attendance,
    check_stage_order,
    check_unique_key,
    rejected_rows,
)
from .vocabulary import VOCABULARIES

__all__ = [
    "Cohort",
    "load",
]


@dataclass
class Cohort:
    """Validated casework records of one source.

    Attributes
    ----------
    placements, cases, stages : DataFrame
        Accepted rows, with every column of the data contract (optional
        columns absent from the source are all missing). Controlled columns
        (the vocabularies, such as ``test_result``, and the stages) are
        categoricals whose categories are the accepted values in their
        documented order (the stage model's order for stages); IDs and free
        text are text, dates ``datetime64[ns]``.
    sessions, visits : DataFrame or None
        Accepted rows, or ``None`` when the source had no such table; use
        :meth:`require` in analyses that need them.
    stage_model : StageModel
        The stage model the stages were read with.
    problems : DataFrame
        One tidy problem report for all tables (see
        :mod:`casework_analytics.problems` for its columns).
    rejected : dict of DataFrame
        Rejected rows per table: the source values as text (under the
        canonical column names), the source ``row`` number and ``reasons``
        (every error message, joined by ``"; "``).
    counts : DataFrame
        ``table, read, accepted, rejected`` per table; read = accepted +
        rejected always holds.
    source : str
        Description of where the data came from.
    """

    placements: pd.DataFrame
    cases: pd.DataFrame
    stages: pd.DataFrame
    sessions: pd.DataFrame | None
    visits: pd.DataFrame | None
    stage_model: StageModel
    problems: pd.DataFrame
    rejected: dict[str, pd.DataFrame]
    counts: pd.DataFrame
    source: str = ""
    _tables: tuple[str, ...] = field(default=TABLE_NAMES, repr=False)

    def table(self, name: str) -> pd.DataFrame | None:
        """The accepted rows of table ``name``.

        Parameters
        ----------
        name : str
            One of ``placements``, ``cases``, ``stages``, ``sessions``, ``visits``.

        Returns
        -------
        DataFrame or None
            None if the source had no such table.
        """
        if name not in TABLE_NAMES:
            raise CaseworkError(
                f"The value for `name` must be one of {list(TABLE_NAMES)}, but {name!r} was passed."
            )
        return getattr(self, name)

    def require(self, name: str, analysis: str = "This analysis") -> pd.DataFrame:
        """Return table ``name`` or raise a clear error if the source had none.

        Parameters
        ----------
        name : str
            As in :meth:`table`.
        analysis : str
            What needs the table, named in the error.

        Returns
        -------
        DataFrame
        """
        frame = self.table(name)
        if frame is None:
            raise MissingTableError(
                f"{analysis} needs the {name} table, but the source {self.source} has none. "
                f"Add a {name} sheet or file (see docs/data-contract.md)."
            )
        return frame

    @property
    def has_errors(self) -> bool:
        """True if any row was rejected."""
        return bool((self.counts["rejected"] > 0).any())

    def case_attributes(self) -> pd.DataFrame:
        """Cases joined with their placement's columns (site, term, caseworker, ...).

        This is the frame every ``by=`` grouping is looked up in.

        Returns
        -------
        DataFrame
            One row per case: its columns, then its placement's other columns.
        """
        placement_cols = [c for c in self.placements.columns if c not in self.cases.columns]
        where = positions(self.cases["placement_id"], self.placements["placement_id"])
        attributes = {c: take(self.placements[c], where) for c in placement_cols}
        return self.cases.reset_index(drop=True).assign(**attributes)

    def summary(self, lang: str = "en") -> str:
        """Rows read, accepted and rejected per table, as text in ``lang`` ("en" or "id").

        Parameters
        ----------
        lang : {"en", "id"}
            Language of the text.

        Returns
        -------
        str
            One line per table, then the totals of errors and warnings.
        """
        from .labels import text

        table, read, accepted, rejected = text("cli_counts", lang).split()
        lines = [
            text("cli_source", lang, source=self.source, model=self.stage_model.name),
            f"{table:<11}{read:>8}{accepted:>10}{rejected:>10}",
        ]
        for r in self.counts.itertuples(index=False):
            lines.append(f"{r.table:<11}{r.read:>8}{r.accepted:>10}{r.rejected:>10}")
        n_err = int((self.problems["severity"] == "error").sum())
        n_warn = int((self.problems["severity"] == "warning").sum())
        lines.append(text("cli_totals", lang, errors=n_err, warnings=n_warn))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Cohort\n{self.summary()}\n>"

    def _repr_html_(self) -> str:
        n_err = int((self.problems["severity"] == "error").sum())
        n_warn = int((self.problems["severity"] == "warning").sum())
        return (
            f"<p><b>Cohort</b> from {self.source} (stage model {self.stage_model.name}): "
            f"{n_err} error(s), {n_warn} warning(s).</p>" + self.counts.to_html(index=False)
        )


def load(
    source: SourceLike,
    *,
    stage_model: str | StageModel | list[str] | None = None,
    errors: str = "report",
    intake_tolerance_days: int = 30,
    column_aliases: dict[str, dict[str, str]] | None = None,
    exit_rules: pd.DataFrame | str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Cohort:
    """Load, parse and validate a casework source into a :class:`Cohort`.

    Parameters
    ----------
    source : str, pathlib.Path or mapping of DataFrames
        A directory of CSV or Parquet files named after the tables, an Excel
        workbook with one sheet per table, a SQLAlchemy URL
        (``sqlite:///cohort.db``, ``postgresql+psycopg://...``), or a mapping
        ``{table: DataFrame}``. ``sessions`` and ``visits`` may be absent.
    stage_model : str, StageModel or list of str, optional
        ``"skidmore"`` (default), ``"generalist"``, ``"bnn_outpatient"``, a
        :class:`StageModel`, or an ordered list of stage names.
    errors : {"report", "raise"}
        ``"report"`` (default) rejects bad rows into ``cohort.rejected`` and
        lists them in ``cohort.problems``; ``"raise"`` raises one
        :class:`ValidationError` listing every problem if any row is rejected.
    intake_tolerance_days : int
        An intake more than this many days outside the placement period is
        a warning (default 30).
    column_aliases : dict, optional
        Extra header aliases per table, e.g.
        ``{"cases": {"tgl_daftar": "intake_date"}}``.
    exit_rules : DataFrame or path, optional
        Extra closure-reason rules (columns ``code, pattern``), tried before
        the shipped ones, or a CSV file of them
        (:func:`~casework_analytics.closures.read_exit_rules`); see
        :mod:`casework_analytics.exits`.
    progress : bool, optional
        Show a line for each step that takes over a second (name, rows,
        time); by default only on a terminal or in Jupyter (see
        :mod:`casework_analytics.progress`).

    Returns
    -------
    Cohort

    Raises
    ------
    SourceError
        The source is missing, unreadable, or lacks a required table or column.
    ValidationError
        With ``errors="raise"``, if any row was rejected.

    Notes
    -----
    The cases table gains ``exit_reason``, the taxonomy code of
    ``closure_reason`` (missing while the case is open). A closure reason
    that no rule recognises, or a closed case without a reason, becomes
    ``unclassified`` and is reported as a warning; the original text stays
    in ``closure_reason``.

    Every row read is either accepted or rejected with its reasons: for each
    table ``read == accepted + rejected`` (see ``cohort.counts``). Rows of
    child tables that point to a rejected row are rejected with rule
    ``orphan``. The rules are listed in :mod:`casework_analytics.validation`.
    """
    if errors not in ("report", "raise"):
        raise CaseworkError(
            f"The value for `errors` must be one of ['report', 'raise'], but {errors!r} was passed."
        )
    model = get_stage_model(stage_model)
    steps = Progress(progress, "load")
    with steps.step("read") as step:
        raw = read_source(source, progress=steps)
        step.rows = sum(len(t) for t in raw.tables.values())
    log = ProblemLog()
    parsed: dict[str, pd.DataFrame] = {}
    for name in list(raw.tables):
        with steps.step(f"parse {name}", len(raw.tables[name])):
            table = _parse_raw(raw, name, model, log, (column_aliases or {}).get(name))
            parsed[name] = apply_schema(table, name, model, log)
    with steps.step("check keys and dates", sum(len(t) for t in parsed.values())):
        _check_tables(parsed, model, intake_tolerance_days, log)
    if exit_rules is not None and not isinstance(exit_rules, pd.DataFrame):
        exit_rules = read_exit_rules(exit_rules)
    with steps.step("classify closure reasons", len(parsed["cases"])):
        parsed["cases"] = _classify_closures(parsed["cases"], exit_rules, log)
    with steps.step("accept and reject rows", sum(len(t) for t in parsed.values())):
        cohort = _assemble(raw, parsed, model, log, column_aliases)
    if errors == "raise" and cohort.has_errors:
        problems = cohort.problems
        raise ValidationError(
            f"{int((problems['severity'] == 'error').sum())} problem(s) rejected rows in "
            f"{raw.description}:\n" + format_problems(problems, limit=None),
            problems,
        )
    return cohort


def _check_tables(parsed: dict, model: StageModel, intake_tolerance_days: int, log) -> None:
    """The rules across rows and tables (keys, date order, references, duplicates)."""

    placements, cases = parsed["placements"], parsed["cases"]
    check_unique_key(placements, "placements", "placement_id", log)
    check_unique_key(cases, "cases", "case_id", log)
    check_date_order(placements, "placements", "start_date", "end_date", log)
    check_date_order(cases, "cases", "intake_date", "closed_date", log)
    check_date_order(cases, "cases", "intake_date", "monitoring_end_date", log)
    check_date_order(parsed["stages"], "stages", "started_on", "completed_on", log)

    bad_placements = rejected_rows(log, "placements")
    good_placements = placements.drop(index=bad_placements)
    check_references(
        cases,
        "cases",
        "placement_id",
        good_placements["placement_id"],
        placements.loc[bad_placements, "placement_id"],
        log,
        _causes(log, placements, "placements", "placement_id", bad_placements),
    )
    check_intake_in_placement(cases, good_placements, intake_tolerance_days, log)

    bad_cases = rejected_rows(log, "cases")
    good_cases = cases.drop(index=bad_cases)
    # Each table's case keys are factorized once, and the cases' keys hashed once,
    # for every check below (15 million visit keys at national scale).
    accepted_ids = pd.Index(good_cases["case_id"].dropna())
    rejected_ids = pd.Index(cases.loc[bad_cases, "case_id"].dropna())
    causes = _causes(log, cases, "cases", "case_id", bad_cases)
    dated = {"stages": "started_on", "visits": "visit_date", "sessions": "session_date"}
    for name in ("stages", *OPTIONAL_TABLES):
        if name not in parsed:
            continue
        table, codes = parsed[name], Codes(parsed[name]["case_id"])
        check_references(
            table, name, "case_id", accepted_ids, rejected_ids, log, causes, codes=codes
        )
        severity = "warning" if name == "sessions" else "error"
        check_not_before_intake(table, name, dated[name], good_cases, severity, log, codes=codes)
        if name == "stages":
            check_repeated_stages(table, model, log, codes=codes)
        elif name == "visits":
            check_duplicate_visits(table, log, codes=codes)
            check_results_without_attendance(table, log)
        else:
            check_duplicate_sessions(table, log, codes=codes)


def _assemble(raw, parsed: dict, model: StageModel, log, column_aliases) -> Cohort:
    """The cohort: accepted rows, rejected rows with their reasons, and the counts."""
    for name, found in raw.problems.items():
        whole = found[found["position"].isna() & found["row"].notna()]
        whole = whole[whole["severity"] == "error"]
        log.keep_only(name, whole["row"].astype("int64"), set(whole["rule"]))
    problems = log.frame()
    accepted: dict[str, pd.DataFrame | None] = {}
    rejected: dict[str, pd.DataFrame] = {}
    count_rows = []
    errors_only = problems[problems["severity"] == "error"]
    for name in TABLE_NAMES:
        if name not in parsed:
            accepted[name] = None
            continue
        bad = rejected_rows(log, name) if len(errors_only) else pd.Index([], name="row")
        # Each table is released as soon as its accepted rows are taken: at national
        # scale the raw and parsed tables together are the peak of a run's memory.
        table = parsed.pop(name)
        n_read = len(table)
        good = table.drop(index=bad) if len(bad) else table
        del table
        if name == "stages":
            check_stage_order(good, model, log)
        accepted[name] = _with_categories(good.reset_index(drop=True), TABLES[name], model)
        del good
        reasons = errors_only[errors_only["table"] == name].groupby("row")["message"].agg("; ".join)
        raw_table = raw.tables.pop(name)
        raw_bad = _canonical(raw_table.loc[bad], name, (column_aliases or {}).get(name))
        del raw_table
        raw_bad = raw_bad.astype("string")
        rejected[name] = raw_bad.assign(reasons=reasons.reindex(bad).to_numpy()).reset_index()
        count_rows.append((name, n_read, len(accepted[name]), len(bad)))

    problems = log.frame()
    cohort = Cohort(
        placements=accepted["placements"],
        cases=accepted["cases"],
        stages=accepted["stages"],
        sessions=accepted["sessions"],
        visits=accepted["visits"],
        stage_model=model,
        problems=problems,
        rejected=rejected,
        counts=pd.DataFrame(count_rows, columns=["table", "read", "accepted", "rejected"]),
        source=raw.description,
    )
    release_unused()  # the raw and parsed tables' memory (0.7 GiB at a million cases)
    return cohort


def _with_categories(frame: pd.DataFrame, spec, model: StageModel) -> pd.DataFrame:
    """Controlled columns (vocabularies and stages) as categoricals, in their
    documented order: a byte per value instead of a string (15M visit results
    take 220 MB as text). A column holding a value outside its vocabulary,
    which validation should have cleared, stays text."""
    for column, kind in spec.columns.items():
        if column not in frame.columns or not (kind == "stage" or kind.startswith("vocab:")):
            continue
        categories = model.stages if kind == "stage" else VOCABULARIES[kind.split(":", 1)[1]]
        codes = positions(frame[column], pd.Index(categories))
        if (codes < 0).sum() == frame[column].isna().sum():
            frame[column] = pd.Categorical.from_codes(codes.astype(np.int8), categories)
    return frame


def _parse_raw(raw, name: str, model: StageModel, log: ProblemLog, extra) -> pd.DataFrame:
    """Parse one raw table, with what its reader found.

    A table with cells that are not single values (lists, dicts, complex
    numbers), bytes (SQLite BLOBs) or a Decimal NaN is first cleaned by
    :func:`~casework_analytics.delimited.clean_cells`, which reports every
    cell it changes. Text holding undecodable bytes (lone surrogates:
    strings built from broken bytes in Python, for example) cannot become
    pandas text, and is only found when parsing fails on it: such a table is
    cleaned and parsed again.
    """
    found = raw.problems.get(name)
    if not needs_cleaning(raw.tables[name]) and not _has_surrogates(raw.tables[name]):
        mark = log.mark()
        try:
            return parse_table(raw.tables[name], TABLES[name], model, log, extra, found)
        except UnicodeError:  # encoding surrogates, or decoding bytes cells
            log.rollback(mark)
    frame, bad = clean_cells(raw.tables[name])
    raw.tables[name] = frame
    found = bad if found is None else pd.concat([found, bad], ignore_index=True)
    raw.problems[name] = found
    return parse_table(frame, TABLES[name], model, log, extra, found)


def _has_surrogates(frame: pd.DataFrame) -> bool:
    """Whether an object column holds text with undecodable bytes (lone surrogates).

    Arrow text (pandas 3) refuses such strings, which :func:`_parse_raw` catches;
    pandas 2.2 keeps text as Python strings by default, which take them silently.
    """
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype != object:
            continue
        column = column[column.notna()]  # a free-text column is mostly empty
        if pd.api.types.infer_dtype(column, skipna=True) != "string":
            column = column[column.map(lambda value: isinstance(value, str))]
        if len(column) and column.str.contains("[\ud800-\udfff]", regex=True).any():
            return True
    return False


def _canonical(frame: pd.DataFrame, name: str, extra) -> pd.DataFrame:
    """The raw frame with canonical column names (values untouched)."""
    return canonical_headers(frame, TABLES[name], extra).rename(columns=str)


def _causes(log, frame, table: str, key: str, rows) -> pd.Series:
    """Why each rejected row of ``table`` was rejected, by its key: the row's
    error messages, joined (the first row of a key written twice)."""
    problems = log.frame()
    errors = problems[(problems["table"] == table) & (problems["severity"] == "error")]
    errors = errors[errors["row"].isin(list(rows))]
    joined = errors.groupby("row")["message"].agg("; ".join).str.rstrip(".")
    keys = frame.loc[joined.index.astype("int64"), key].astype("string").to_numpy()
    causes = pd.Series(joined.to_numpy(), index=keys, dtype="string")
    return causes[~causes.index.duplicated()]


def _classify_closures(cases: pd.DataFrame, exit_rules, log: ProblemLog) -> pd.DataFrame:
    codes = classify_exit_reasons(cases["closure_reason"], exit_rules)
    closed_without = cases["closed_date"].notna() & cases["closure_reason"].isna()
    codes = codes.mask(closed_without, "unclassified")
    unmatched = (codes == "unclassified").fillna(False).astype(bool) & ~closed_without
    quoted = "Closure reason '" + cases["closure_reason"].fillna("") + "'"
    messages = pd.Series(
        quoted + " matches no rule; it is counted as unclassified. If it names a known "
        "reason, add a rule (--exit-rules FILE.csv, or exit_rules= in Python).",
        dtype="string",
    )
    messages = messages.mask(
        negated_completion(cases["closure_reason"]),
        quoted + " says the casework was not completed but names no other reason; it is "
        "counted as unclassified, never as completed. If it names a known reason, add a "
        "rule (--exit-rules FILE.csv, or exit_rules= in Python).",
    ).mask(
        closed_without,
        "The case is closed but has no closure reason; it is counted as unclassified.",
    )
    rows = cases.index[unmatched | closed_without]
    log.add_rows(
        "unclassified_reason",
        "warning",
        "cases",
        cases,
        "closure_reason",
        rows,
        messages.loc[rows].tolist(),
    )
    return cases.assign(exit_reason=codes)
