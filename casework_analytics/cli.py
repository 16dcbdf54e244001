"""The ``casework-analytics`` command line.

Commands
--------
``validate SOURCE``            load and validate; print counts and problems.
``summary SOURCE``             write one table per analysis into a folder.
``compare SOURCE``             compare groups: funnels, case-mix models, Cox models, trends.
``report SOURCE``              build the HTML cohort dashboard.
``pseudonymise SOURCE OUT``    write a pseudonymised copy of a source.
``keygen KEY_FILE``            write a new pseudonymisation key.
``generate OUT_DIR``           write a synthetic cohort.
``template OUT.xlsx``          write the blank workbook caseworkers fill in.

Every argument is checked before any work starts; a bad one exits with
code 2 and one line that says what was wrong and what would be right, and
nothing is written. Outputs are written whole or not at all (see
:mod:`casework_analytics.outputs`).

Exit codes
----------
0
    Done.
1
    Done, but rows of the source were rejected (``validate``, ``summary``,
    ``report``): the outputs leave them out; ``validate --problems-out``
    lists them.
2
    The source or an argument is unusable; nothing was written.
3
    An internal error (a bug): a short message, and a file with the details
    to send to the developers. ``CASEWORK_DEBUG=1`` shows the traceback
    instead.
130
    Interrupted (Ctrl-C); nothing half-written is left in place.
141
    The output pipe was closed (e.g. ``validate ... | head``).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import traceback
from pathlib import Path

from .errors import CaseworkError

__all__ = [
    "main",
]

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE, EXIT_BUG = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_PIPE = 130, 141
DEFAULT_THRESHOLD = 11
MIN_THRESHOLD = 3
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
COMPARE_METRICS = ("planned_completion", "retention", "sustained_abstinence", "not_relapsed")
COMPARE_OUTCOMES = ("dropout", "first_positive", "sustained", "relapse", "unplanned_exit")
#: Tables of ``summary`` with one row per case (or per case and week); ``--tables group``
#: leaves them out (the same list as :data:`casework_analytics.summary.PER_CASE_TABLES`).
PER_CASE_TABLES = ("stage_progress", "contacts", "recovery", "weekly_status")


def _escape(text: str) -> str:
    """Control characters (terminal escape codes) written visibly, e.g. ``\\x1b``."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def say(text: str = "", *, err: bool = False) -> None:
    """Print a line for the person at the terminal, with control characters escaped."""
    print(_escape(text), file=sys.stderr if err else sys.stdout, flush=err)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: what was wrong, and where the help is."""

    def error(self, message: str):
        say(f"{self.prog}: {message} (see {self.prog} --help)", err=True)
        raise SystemExit(EXIT_UNUSABLE)


def _positive_int(name: str, low: int = 1):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, but {value!r} was given"
            ) from None
        if number < low:
            raise argparse.ArgumentTypeError(
                f"{name} must be at least {low}, but {number} was given"
            )
        return number

    return parse


def _add_as_of(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        required=True,
        help="End of observation, YYYY-MM-DD (never taken from the clock)",
    )


def _add_stage_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage-model", default=None, help="skidmore (default), generalist or bnn_outpatient"
    )


def _exit_rules_file(text: str) -> Path:
    """An ``--exit-rules`` file, read and checked before any work starts."""
    from .closures import read_exit_rules
    from .errors import CaseworkError

    try:
        read_exit_rules(text)
    except CaseworkError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def _add_exit_rules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exit-rules",
        type=_exit_rules_file,
        default=None,
        metavar="FILE.csv",
        help="More closure-reason rules (columns code, pattern), tried before the shipped ones",
    )


def _add_threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=_positive_int("--threshold", MIN_THRESHOLD),
        default=DEFAULT_THRESHOLD,
        help=f"Smallest count shown when publishing ({DEFAULT_THRESHOLD}: counts 1-10 hidden; "
        f"at least {MIN_THRESHOLD})",
    )


def _add_definitions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--missing-as",
        choices=["positive", "ignore"],
        default="positive",
        help="How a missed or unrecorded monitoring screen counts (default positive)",
    )
    parser.add_argument(
        "--sustained-weeks",
        type=_positive_int("--sustained-weeks"),
        default=4,
        help="Negative weeks in a row for sustained abstinence (4)",
    )
    parser.add_argument(
        "--dropout-missed",
        type=_positive_int("--dropout-missed"),
        default=2,
        help="Consecutive missed visits that make a dropout (2)",
    )
    parser.add_argument(
        "--dropout-gap-days",
        type=_positive_int("--dropout-gap-days"),
        default=21,
        help="Days without an attended visit, while due, that make a dropout (21)",
    )
    parser.add_argument(
        "--monitoring-days",
        type=_positive_int("--monitoring-days"),
        default=None,
        help="Planned length of monitoring from intake, when the source has no "
        "monitoring_end_date (e.g. 182)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="casework-analytics",
        description="Validated loading and outcome analytics for casework with people "
        "recovering from drug dependency.",
        epilog="Exit codes: 0 done; 1 done, but rows were rejected; 2 unusable source or "
        "argument (nothing written); 3 internal error (a bug report file is written).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="Load and validate a source; print problems.")
    validate.add_argument(
        "source",
        help="Directory of CSV/Parquet files, .xlsx workbook, or "
        "database URL such as sqlite:///cohort.db",
    )
    _add_stage_model(validate)
    _add_exit_rules(validate)
    validate.add_argument(
        "--lang", choices=["en", "id"], default="en", help="Language of messages (en, id)"
    )
    validate.add_argument(
        "--problems-out", type=Path, default=None, help="Write the full problem report (CSV)"
    )
    validate.add_argument(
        "--show",
        type=_positive_int("--show", 0),
        default=50,
        help="How many problems to print (50)",
    )
    validate.set_defaults(func=_validate)

    summary = commands.add_parser("summary", help="Write one table per analysis.")
    summary.add_argument("source")
    _add_as_of(summary)
    summary.add_argument(
        "--by", nargs="+", default=None, help="Group by these case or placement columns"
    )
    summary.add_argument("--out", type=Path, required=True, help="Folder for the tables")
    summary.add_argument("--format", choices=["csv", "parquet"], default="csv")
    summary.add_argument(
        "--tables",
        nargs="+",
        default=["all"],
        metavar="NAME",
        help="Which tables to write: all (default); group for the group-level tables "
        "only, leaving out the per-case and per-case-week ones ("
        + ", ".join(PER_CASE_TABLES)
        + "); or table names",
    )
    _add_stage_model(summary)
    _add_exit_rules(summary)
    summary.add_argument(
        "--lang", choices=["en", "id"], default="en", help="Language of messages (en, id)"
    )
    summary.add_argument(
        "--missed-threshold",
        type=float,
        default=0.25,
        help="Missed-session rate above which a case counts as high (0.25)",
    )
    _add_definitions(summary)
    summary.add_argument(
        "--publish",
        action="store_true",
        help="Apply the publishing rules: fold small groups, suppress small counts, "
        "withhold per-client tables",
    )
    _add_threshold(summary)
    summary.set_defaults(func=_summary)

    compare = commands.add_parser(
        "compare", help="Compare sites, placements or terms: funnels, Cox models, trends."
    )
    compare.add_argument("source")
    _add_as_of(compare)
    compare.add_argument("--by", required=True, help="The column whose groups are compared")
    compare.add_argument("--out", type=Path, required=True, help="Folder for the tables")
    compare.add_argument("--format", choices=["csv", "parquet"], default="csv")
    compare.add_argument(
        "--metric",
        nargs="+",
        choices=list(COMPARE_METRICS),
        default=list(COMPARE_METRICS),
        help="Binary metrics to compare (all four by default)",
    )
    compare.add_argument(
        "--adjust",
        nargs="*",
        default=None,
        metavar="COL",
        help="Case-mix adjustment: alone for the default covariates (age band, sex, "
        "substance, ASSIST risk, referral source), or name the covariates",
    )
    compare.add_argument(
        "--outcome",
        nargs="+",
        choices=list(COMPARE_OUTCOMES),
        default=["unplanned_exit", "dropout", "relapse"],
        help="Time-to-event outcomes of the Cox models",
    )
    _add_stage_model(compare)
    _add_exit_rules(compare)
    _add_definitions(compare)
    compare.add_argument(
        "--publish",
        action="store_true",
        help="Apply the publishing rules: fold small groups, hide small counts (funnel and "
        "trend tables audited together), withhold the model tables",
    )
    _add_threshold(compare)
    compare.set_defaults(func=_compare)

    report = commands.add_parser("report", help="Build the HTML cohort dashboard.")
    report.add_argument("source")
    _add_as_of(report)
    report.add_argument("--out", type=Path, required=True, help="HTML file to write")
    report.add_argument("--by", default=None, help="Group column, e.g. site")
    report.add_argument("--lang", choices=["en", "id"], default="en")
    report.add_argument(
        "--internal",
        action="store_true",
        help="Turn the publishing rules off (supervisor's own use; marked internal)",
    )
    _add_threshold(report)
    _add_exit_rules(report)
    report.set_defaults(func=_report)

    pseudo = commands.add_parser("pseudonymise", help="Write a pseudonymised copy of a source.")
    pseudo.add_argument("source")
    pseudo.add_argument("out_dir", type=Path)
    pseudo.add_argument(
        "--key-file", type=Path, required=True, help="The secret key (keep it outside the data)"
    )
    pseudo.add_argument(
        "--keep-text", action="store_true", help="Keep free text and original closure reasons"
    )
    pseudo.add_argument(
        "--keep-column",
        action="append",
        default=[],
        metavar="NAME",
        help="Also copy this column that is not part of the data contract (repeatable)",
    )
    pseudo.add_argument("--format", choices=["csv", "parquet", "xlsx"], default="csv")
    pseudo.add_argument("--overwrite", action="store_true", help="Clear a non-empty OUT_DIR first")
    pseudo.set_defaults(func=_pseudonymise)

    keygen = commands.add_parser("keygen", help="Write a new random pseudonymisation key.")
    keygen.add_argument("key_file", type=Path)
    keygen.set_defaults(func=_keygen)

    generate = commands.add_parser("generate", help="Write a synthetic cohort.")
    generate.add_argument("out_dir", type=Path)
    generate.add_argument(
        "--placements", type=_positive_int("--placements"), default=36, help="Placements (36)"
    )
    generate.add_argument("--seed", type=_positive_int("--seed", 0), default=0)
    generate.add_argument("--format", choices=["csv", "parquet", "xlsx"], default="csv")
    generate.add_argument(
        "--messy",
        action="store_true",
        help="Indonesian headers, dd/mm/yyyy dates, ';' and planted bad rows",
    )
    generate.add_argument(
        "--overwrite", action="store_true", help="Replace a folder that already holds files"
    )
    generate.set_defaults(func=_generate)

    template = commands.add_parser(
        "template", help="Write the blank workbook caseworkers fill in (.xlsx)."
    )
    template.add_argument("out", type=Path, help="The workbook to write, ending in .xlsx")
    template.add_argument(
        "--lang",
        choices=["id", "en"],
        default="id",
        help="Language of the sheets, headers, messages and drop-down lists (id)",
    )
    template.add_argument("--overwrite", action="store_true", help="Replace an existing file")
    template.set_defaults(func=_template)
    return parser


def _say_renamed(cohort, by) -> None:
    from .grouping import renamed_groups

    for note in renamed_groups(cohort, by):
        say(note)


def _loaded(args):
    """Load the source named by ``args``, print its counts, and return the cohort."""
    from .cohort import load

    cohort = load(
        args.source,
        stage_model=getattr(args, "stage_model", None),
        exit_rules=getattr(args, "exit_rules", None),
    )
    say(cohort.summary(_lang(args)))
    return cohort


def _lang(args) -> str:
    return getattr(args, "lang", None) or "en"


def _text(args, key: str, **values) -> str:
    """The catalogue's line ``key`` in the command's language."""
    from .labels import text

    return text(key, _lang(args), **values)


def _reason(args, reason: str) -> str:
    """A publication's reason for withholding a table, in the command's language."""
    from .publish import WITHHELD_REASONS

    codes = {text: code for code, text in WITHHELD_REASONS.items()}
    return _text(args, f"withheld_{codes[reason]}") if reason in codes else reason


def _say(args, key: str, **values) -> None:
    say(_text(args, key, **values))


def _validate(args) -> int:
    from .outputs import check_output_file, file_starts_with, write_file_atomically
    from .problems import PROBLEM_COLUMNS, format_problems, in_language

    if args.problems_out is not None:
        header = ",".join(PROBLEM_COLUMNS)
        check_output_file(
            args.problems_out,
            suffixes=(".csv",),
            earlier=lambda path: file_starts_with(path, header),
        )
    cohort = _loaded(args)
    problems = in_language(cohort.problems, _lang(args))
    if len(problems):
        say()
        say(format_problems(problems, limit=args.show, lang=_lang(args)))
    if args.problems_out is not None:
        from .outputs import neutralise

        write_file_atomically(
            args.problems_out,
            lambda path: neutralise(problems).to_csv(path, index=False),
        )
        _say(args, "cli_problems_written", path=args.problems_out)
    return EXIT_REJECTED if cohort.has_errors else EXIT_OK


def _folded(cohort, args, withheld: str):
    """The groups of ``args.by`` with small ones folded into Other, said on the terminal."""
    from .privacy import fold_small_groups

    by, folded = fold_small_groups(cohort, args.by, threshold=args.threshold)
    _say(
        args,
        "cli_publishing",
        folded=len(folded),
        threshold=args.threshold,
        largest=args.threshold - 1,
        withheld=withheld,
    )
    return by


def _write_tables(args, manifest: dict, tables) -> None:
    """Write ``(name, table or reason)`` pairs into ``args.out`` as one output folder;
    a reason is recorded in the manifest as withheld."""
    from .outputs import output_folder
    from .progress import Progress

    steps = Progress(None, "write")
    with output_folder(args.out, manifest) as folder:
        for name, table in tables:
            if isinstance(table, str):
                manifest["withheld"][name] = table
                _say(args, "cli_skipped", name=name, reason=_reason(args, table))
                continue
            with steps.step(name, len(table)):
                path = folder.write_table(name, table, format=args.format)
            _say(args, "cli_wrote", name=f"{name}.{args.format}", rows=f"{len(table):,}")
            if args.format == "csv" and len(table) > 1_000_000:
                say(f"  note: {path.name} has over a million rows; --format parquet reads faster")


def _table_names(args) -> list[str] | None:
    """The tables ``--tables`` asks for (``None``: all), refused before any work if unknown."""
    from .summary import TABLE_NAMES

    asked = list(dict.fromkeys(args.tables))
    if asked == ["all"]:
        return None
    if asked == ["group"]:
        return [n for n in TABLE_NAMES if n not in PER_CASE_TABLES]
    unknown = [n for n in asked if n not in TABLE_NAMES]
    if unknown:
        raise CaseworkError(
            f"--tables: {', '.join(unknown)} is not a table of summary; give all, group, or "
            f"names among {', '.join(TABLE_NAMES)}."
        )
    grouped = [n for n in asked if n in ("exit_type_test", "logrank")]
    if grouped and not args.by:
        raise CaseworkError(
            f"--tables: {', '.join(grouped)} compares groups; give --by, or leave it out."
        )
    return asked


def _summary(args) -> int:
    from .grouping import as_as_of, check_as_of
    from .outputs import check_output_folder
    from .summary import Summary

    as_of = as_as_of(args.as_of)
    definition = _definition(args)
    names = _table_names(args)
    check_output_folder(args.out)
    cohort = _loaded(args)
    check_as_of(cohort, as_of)
    _say_renamed(cohort, args.by)
    by = args.by
    if args.publish:
        by = _folded(cohort, args, _text(args, "cli_per_client_withheld"))
    run = Summary(cohort, as_of, by, definition=definition, missed_threshold=args.missed_threshold)
    if names is not None:
        names = [n for n in run.names if n in names]
    tables = run.tables(names, parts=True)
    publication = None
    if args.publish:
        from .publish import publish

        _say(args, "cli_auditing")
        publication = publish(run, threshold=args.threshold, names=names)
        tables = publication.items()
    manifest = {
        "command": "summary",
        "source": cohort.source,
        "as_of": str(as_of.date()),
        "parameters": {
            "by": args.by,
            "stage_model": cohort.stage_model.name,
            "missed_threshold": args.missed_threshold,
            "format": args.format,
            "tables": args.tables,
            **definition.as_dict(),
        },
        "published": bool(args.publish),
        "threshold": args.threshold if args.publish else None,
        "withheld": {},
        "disclosure": publication.summary() if publication is not None else None,
    }
    _write_tables(args, manifest, tables)
    _say(args, "cli_tables_written", path=args.out)
    if cohort.has_errors:
        _say(args, "cli_rejected_hint")
    return EXIT_REJECTED if cohort.has_errors else EXIT_OK


def _definition(args):
    from .timelines import RecoveryDefinition

    return RecoveryDefinition(
        missing_as=args.missing_as,
        sustained_weeks=args.sustained_weeks,
        dropout_missed=args.dropout_missed,
        dropout_gap_days=args.dropout_gap_days,
        monitoring_days=args.monitoring_days,
    )


#: Why ``compare --publish`` leaves the model tables out.
MODELS_WITHHELD = (
    "withheld when publishing: a group's hazard or odds ratio and its interval "
    "reveal roughly how many events the group had, however few"
)


def _compare(args) -> int:
    import pandas as pd

    from .evaluation import compare_groups, hazard_ratios, term_trend
    from .grouping import as_as_of, case_groups, check_as_of
    from .outputs import check_output_folder
    from .summary import Summary

    as_of = as_as_of(args.as_of)
    definition = _definition(args)
    check_output_folder(args.out)
    cohort = _loaded(args)
    check_as_of(cohort, as_of)
    case_groups(cohort, args.by)
    _say_renamed(cohort, args.by)
    by, term_groups = args.by, None
    if args.publish:
        from .privacy import fold_small_groups

        by = _folded(cohort, args, "model tables withheld")
    run = Summary(cohort, as_of, by, definition=definition)
    adjust = None if args.adjust is None else (args.adjust or "default")
    tables: list[tuple[str, object]] = []
    say("Comparing groups (funnel limits, case-mix model) ...")
    funnel, models = compare_groups(cohort, as_of, by, metrics=args.metric, adjust=adjust, run=run)
    funnel = funnel.assign(missing_as=definition.missing_as)
    tables.append(("funnel", funnel))
    if adjust is not None:
        tables.append(("case_mix_model", models))
    cox, checks = [], []
    for outcome in args.outcome if not args.publish else []:  # a few outcomes
        say(f"Cox model of {outcome} ...")
        try:
            model, check = hazard_ratios(cohort, as_of, outcome=outcome, by=args.by, run=run)
        except CaseworkError as exc:
            say(f"  skipped {outcome}: {exc}")
            continue
        cox.append(model)
        checks.append(check)
    if cox:
        tables.append(("cox", pd.concat(cox, ignore_index=True)))
        tables.append(("proportional_hazards", pd.concat(checks, ignore_index=True)))
    if "term" in cohort.placements and cohort.placements["term"].notna().any():
        if args.publish:
            term_groups, _ = fold_small_groups(cohort, "term", threshold=args.threshold)
        trend = pd.concat(
            [term_trend(cohort, as_of, m, run=run) for m in args.metric],
            ignore_index=True,
        )
        tables.append(("trend", trend.assign(missing_as=definition.missing_as)))
    withheld: dict[str, str] = {}
    publication = None
    if args.publish:
        from .publish import RULES, publish

        for name in ("case_mix_model", "cox", "proportional_hazards"):
            if name == "case_mix_model" and adjust is None:
                continue
            if name != "case_mix_model" and not args.outcome:
                continue
            withheld[name] = MODELS_WITHHELD
        rules = {"funnel": "comparison", "trend": "trend"}
        extra = {name: (RULES[rules[name]], t) for name, t in tables if name in rules}
        groupings = {}
        if "trend" in extra:
            groupings["term"] = (term_groups, ["term"])
        say("Auditing what would be published (linear programming) ...")
        publication = publish(
            run, threshold=args.threshold, names=[], extra=extra, groupings=groupings
        )
        tables = list(publication.items())
    manifest = {
        "command": "compare",
        "source": cohort.source,
        "as_of": str(as_of.date()),
        "parameters": {
            "by": args.by,
            "metrics": args.metric,
            "adjust": adjust,
            "outcomes": args.outcome,
            "format": args.format,
            **definition.as_dict(),
        },
        "published": bool(args.publish),
        "threshold": args.threshold if args.publish else None,
        "withheld": withheld,
        "disclosure": publication.summary() if publication is not None else None,
    }
    _write_tables(args, manifest, tables)
    for name, reason in withheld.items():
        say(f"  {name}: {reason}")
    published = dict(tables).get("funnel")
    if isinstance(published, pd.DataFrame) and len(published):
        column = run.cols[0]
        flagged = published[published["flag"].isin(["above", "below"])]
        for row in flagged.itertuples(index=False):
            kind = "adjusted" if row.adjusted else "unadjusted"
            group = getattr(row, column)
            say(f"  {group}: {row.flag} the 99.8% limits on {row.metric} ({kind})")
    say(f"Tables written to {args.out}")
    return EXIT_REJECTED if cohort.has_errors else EXIT_OK


def _report(args) -> int:
    from .grouping import as_as_of
    from .outputs import check_output_file, file_starts_with
    from .report import GENERATOR, build_report

    as_of = as_as_of(args.as_of)
    check_output_file(
        args.out,
        suffixes=(".html", ".htm"),
        earlier=lambda path: file_starts_with(path, GENERATOR, within=1024),
    )
    loaded = {}
    # The notebook's kernel loads the source, once, and makes the checks this command
    # makes before any work (at a million cases a second load here took 20 s and 2 GiB).
    build_report(
        args.source,
        as_of,
        args.out,
        by=args.by,
        lang=args.lang,
        publish=not args.internal,
        threshold=args.threshold,
        progress=say,
        exit_rules=args.exit_rules,
        on_load=loaded.update,
    )
    return EXIT_REJECTED if loaded["has_errors"] else EXIT_OK


def _pseudonymise(args) -> int:
    from .privacy import pseudonymise

    where, dropped = pseudonymise(
        args.source,
        args.out_dir,
        args.key_file,
        keep_text=args.keep_text,
        keep_columns=args.keep_column,
        format=args.format,
        overwrite=args.overwrite,
    )
    for table, columns in dropped.items():
        say(f"  {table}: left out {', '.join(columns)} (not part of the data contract)")
    say(f"Pseudonymised copy written to {where}")
    return EXIT_OK


def _keygen(args) -> int:
    from .privacy import make_key

    say(
        f"New key written to {make_key(args.key_file)}; keep it outside the data and "
        "never share it with the outputs."
    )
    return EXIT_OK


def _generate(args) -> int:
    from . import synthetic
    from .outputs import check_output_folder, write_source

    check_output_folder(args.out_dir, overwrite=args.overwrite)
    tables = synthetic.generate(args.placements, seed=args.seed)
    if args.messy:
        tables, _ = synthetic.messy(tables, seed=args.seed)
    where = write_source(
        tables,
        args.out_dir,
        format=args.format,
        sep=";" if args.messy else ",",
        bom=args.messy,
        overwrite=args.overwrite,
        manifest={
            "command": "generate",
            "parameters": {"placements": args.placements, "seed": args.seed, "messy": args.messy},
        },
    )
    sizes = ", ".join(f"{len(frame):,} {name}" for name, frame in tables.items())
    say(f"Wrote {sizes} to {where}")
    return EXIT_OK


def _template(args) -> int:
    from .outputs import check_output_file
    from .template import write_template

    path = check_output_file(args.out, suffixes=(".xlsx",))
    if path.exists() and not args.overwrite:
        raise CaseworkError(
            f"{path} already exists; give a new file name, or --overwrite to replace it."
        )
    write_template(path, lang=args.lang)
    say(
        f"Template written to {path}. Fill it in, then check it with: "
        f"casework-analytics validate {path}"
    )
    return EXIT_OK


def _bug_report(exc: BaseException) -> Path:
    """Write the details of an internal error to a file the user can send."""
    from . import __version__

    argv = " ".join(re.sub(r"://[^@/\s]*@", "://***@", a) for a in sys.argv)
    handle, name = tempfile.mkstemp(prefix="casework-analytics-error-", suffix=".txt")
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        f.write(
            f"casework-analytics {__version__}, Python {platform.python_version()}, "
            f"{platform.platform()}\ncommand: {argv}\n\n"
        )
        f.write("".join(traceback.format_exception(exc)))
    return Path(name)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    from . import __version__

    try:
        args = _parser().parse_args(argv)
    except SystemExit as stop:  # usage errors (printed by argparse) and --help
        return stop.code if isinstance(stop.code, int) else EXIT_UNUSABLE
    try:
        return args.func(args)
    except CaseworkError as exc:
        say(f"casework-analytics: {exc}", err=True)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        say("casework-analytics: interrupted; nothing half-written was left in place", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except Exception as exc:
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        path = _bug_report(exc)
        say(
            f"casework-analytics {__version__}: internal error ({exc.__class__.__name__}), a "
            f"bug rather than a problem with your data or options. Details are in {path}; "
            "please send that file to the developers (check it first: it may quote values "
            "from your data).",
            err=True,
        )
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
