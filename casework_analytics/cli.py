"""The ``casework-analytics`` command line.

Commands
--------
``validate SOURCE``      load and validate, print counts and problems.
``generate OUT_DIR``     write a synthetic cohort.
``summary SOURCE``       write one CSV per analysis.
``report SOURCE``        build the HTML cohort dashboard.

Exit codes: 0 no errors; 1 rows were rejected; 2 the source or the
arguments are unusable. Failures print one line, never a traceback (set
``CASEWORK_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

from .errors import CaseworkError
from .privacy import DEFAULT_THRESHOLD

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE = 0, 1, 2


def _add_as_of(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", required=True, help="End of observation, YYYY-MM-DD (never taken from the clock)"
    )


def _add_threshold(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=int,
        default=DEFAULT_THRESHOLD,
        help="Smallest count shown when publishing (11: counts 1-10 hidden)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="casework-analytics",
        description="Validated loading and outcome analytics for casework with people "
        "recovering from drug dependency.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="Load and validate a source; print problems.")
    validate.add_argument(
        "source",
        help="Directory of CSV/Parquet files, .xlsx workbook, or "
        "database URL such as sqlite:///cohort.db",
    )
    validate.add_argument(
        "--stage-model", default=None, help="skidmore (default), generalist or bnn_outpatient"
    )
    validate.add_argument(
        "--problems-out",
        type=Path,
        default=None,
        help="Write the full problem report to this CSV file",
    )
    validate.add_argument(
        "--show", type=int, default=50, help="How many problems to print (default 50)"
    )
    validate.set_defaults(func=_validate)

    summary = commands.add_parser("summary", help="Write one CSV per analysis.")
    summary.add_argument("source")
    _add_as_of(summary)
    summary.add_argument(
        "--by",
        nargs="+",
        default=None,
        help="Group by these case or placement columns, e.g. site term",
    )
    summary.add_argument("--out", type=Path, required=True, help="Directory for the CSV files")
    summary.add_argument("--stage-model", default=None)
    summary.add_argument(
        "--missed-threshold",
        type=float,
        default=0.25,
        help="Missed-session rate above which a case counts as high (0.25)",
    )
    summary.add_argument(
        "--missing-as",
        choices=["positive", "ignore"],
        default="positive",
        help="How a missed monitoring visit counts (default positive)",
    )
    summary.add_argument(
        "--sustained-weeks",
        type=int,
        default=4,
        help="Negative weeks in a row for sustained abstinence (4)",
    )
    summary.add_argument(
        "--dropout-missed",
        type=int,
        default=2,
        help="Consecutive missed visits that make a dropout (2)",
    )
    summary.add_argument(
        "--dropout-gap-days",
        type=int,
        default=21,
        help="Days without an attended visit, while due, that make a dropout (21)",
    )
    summary.add_argument(
        "--monitoring-days",
        type=int,
        default=None,
        help="Planned length of monitoring from intake, when the source has no "
        "monitoring_end_date (e.g. 182)",
    )
    summary.add_argument(
        "--publish",
        action="store_true",
        help="Apply publishing rules: fold small groups, suppress small "
        "counts, withhold per-client tables",
    )
    _add_threshold(summary)
    summary.set_defaults(func=_summary)

    report = commands.add_parser("report", help="Build the HTML cohort dashboard.")
    report.add_argument("source")
    _add_as_of(report)
    report.add_argument("--out", type=Path, required=True, help="HTML file to write")
    report.add_argument("--by", default=None, help="Group column, e.g. site")
    report.add_argument("--lang", choices=["en", "id"], default="en")
    report.add_argument(
        "--internal",
        action="store_true",
        help="Turn publishing rules off (supervisor's own use; marked internal)",
    )
    _add_threshold(report)
    report.set_defaults(func=_report)

    pseudo = commands.add_parser("pseudonymise", help="Write a pseudonymised copy of a source.")
    pseudo.add_argument("source")
    pseudo.add_argument("out_dir", type=Path)
    pseudo.add_argument(
        "--key-file",
        type=Path,
        required=True,
        help="File with the secret key (keep it outside the data)",
    )
    pseudo.add_argument(
        "--keep-text",
        action="store_true",
        help="Keep free-text fields and original closure reasons",
    )
    pseudo.add_argument("--format", choices=["csv", "parquet", "xlsx"], default="csv")
    pseudo.set_defaults(func=_pseudonymise)

    keygen = commands.add_parser("keygen", help="Write a new random pseudonymisation key.")
    keygen.add_argument("key_file", type=Path)
    keygen.set_defaults(func=_keygen)

    generate = commands.add_parser("generate", help="Write a synthetic cohort.")
    generate.add_argument("out_dir", type=Path)
    generate.add_argument("--placements", type=int, default=36)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--format", choices=["csv", "parquet", "xlsx"], default="csv")
    generate.add_argument(
        "--messy",
        action="store_true",
        help="Indonesian headers, dd/mm/yyyy dates, ';' and planted bad rows",
    )
    generate.set_defaults(func=_generate)
    return parser


def _validate(args) -> int:
    from .cohort import load
    from .problems import format_problems

    cohort = load(args.source, stage_model=args.stage_model)
    print(cohort.summary())
    if len(cohort.problems):
        print()
        print(format_problems(cohort.problems, limit=args.show))
    if args.problems_out is not None:
        args.problems_out.parent.mkdir(parents=True, exist_ok=True)
        cohort.problems.to_csv(args.problems_out, index=False)
        print(f"Problem report written to {args.problems_out}")
    return EXIT_REJECTED if cohort.has_errors else EXIT_OK


def _summary(args) -> int:
    from .cohort import load
    from .grouping import as_as_of
    from .summary import recovery_tables, stage_and_exit_tables
    from .timelines import RecoveryDefinition

    as_of = as_as_of(args.as_of)
    definition = RecoveryDefinition(
        missing_as=args.missing_as,
        sustained_weeks=args.sustained_weeks,
        dropout_missed=args.dropout_missed,
        dropout_gap_days=args.dropout_gap_days,
        monitoring_days=args.monitoring_days,
    )
    cohort = load(args.source, stage_model=args.stage_model)
    print(cohort.summary())
    args.out.mkdir(parents=True, exist_ok=True)
    view = cohort
    if args.publish:
        from .privacy import fold_small_groups

        view, folded = fold_small_groups(cohort, args.by, threshold=args.threshold)
        print(
            f"Publishing: {len(folded)} group(s) with fewer than {args.threshold} clients "
            "folded into 'Other'; counts 1 to "
            f"{args.threshold - 1} hidden as '*'; per-client tables withheld."
        )
    tables = itertools.chain(
        stage_and_exit_tables(view, as_of, args.by, missed_threshold=args.missed_threshold),
        recovery_tables(view, as_of, args.by, definition=definition),
    )
    if args.publish:
        from .publish import publish_tables

        tables = publish_tables(tables, args.by, threshold=args.threshold)
    for name, table in tables:
        if isinstance(table, str):
            print(f"  skipped {name}.csv: {table}")
            continue
        path = args.out / f"{name}.csv"
        table.to_csv(path, index=False, date_format="%Y-%m-%d")
        print(f"  wrote {path} ({len(table)} rows)")
    if cohort.has_errors:
        print("Some rows were rejected; run `casework-analytics validate` for the full report.")
    return EXIT_REJECTED if cohort.has_errors else EXIT_OK


def _report(args) -> int:
    from .cohort import load
    from .grouping import as_as_of, case_groups
    from .report import build_report

    as_of = as_as_of(args.as_of)
    cohort = load(args.source)  # fail early, with a clear message, on an unusable source
    case_groups(cohort, args.by)
    print(cohort.summary())
    build_report(
        args.source,
        as_of,
        args.out,
        by=args.by,
        lang=args.lang,
        publish=not args.internal,
        threshold=args.threshold,
    )
    return EXIT_REJECTED if cohort.has_errors else EXIT_OK


def _pseudonymise(args) -> int:
    from .privacy import pseudonymise

    where = pseudonymise(
        args.source, args.out_dir, args.key_file, keep_text=args.keep_text, format=args.format
    )
    print(f"Pseudonymised copy written to {where}")
    return EXIT_OK


def _keygen(args) -> int:
    from .privacy import make_key

    print(
        f"New key written to {make_key(args.key_file)}; keep it outside the data and "
        "never share it with the outputs."
    )
    return EXIT_OK


def _generate(args) -> int:
    from . import synthetic

    tables = synthetic.generate(args.placements, seed=args.seed)
    if args.messy:
        tables, _ = synthetic.messy(tables, seed=args.seed)
        where = synthetic.write(tables, args.out_dir, format=args.format, sep=";", bom=True)
    else:
        where = synthetic.write(tables, args.out_dir, format=args.format)
    sizes = ", ".join(f"{len(frame)} {name}" for name, frame in tables.items())
    print(f"Wrote {sizes} to {where}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except CaseworkError as exc:
        print(f"casework-analytics: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("casework-analytics: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        print(
            f"casework-analytics: unexpected {exc.__class__.__name__}: {exc} "
            "(set CASEWORK_DEBUG=1 for details and please report it)",
            file=sys.stderr,
        )
        return EXIT_UNUSABLE


if __name__ == "__main__":
    sys.exit(main())
