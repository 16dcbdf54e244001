"""Every command against bad arguments, bad places to write and hostile data
(issue 11): a clear one-line message and exit code 2 with nothing written, or
a result; never an internal error (exit 3) or a traceback.

Exit codes (README): 0 done; 1 done but rows were rejected; 2 unusable source
or argument (nothing written); 3 internal error (a bug report is written).
"""

from __future__ import annotations

import html
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import hostile_values, small_cohort
from test_reconcile import _corrupt

from casework_analytics import load, synthetic
from casework_analytics.cli import main
from casework_analytics.labels import catalogue
from casework_analytics.sources import TABLE_NAMES

AS_OF = "2025-04-15"
CONSOLE = Path(sys.executable).parent / "casework-analytics"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A small valid cohort (6 placements) as a CSV folder."""
    return synthetic.write(
        synthetic.generate(6, seed=7), tmp_path_factory.mktemp("commands") / "src"
    )


def snapshot(*roots: Path) -> dict[Path, int]:
    """Every path under ``roots`` with its modification time."""
    return {p: p.stat().st_mtime_ns for root in roots for p in Path(root).rglob("*")}


def run(capsys, *argv) -> tuple[int, str, str]:
    """``main(argv)``, with what it printed; no traceback, never "unexpected"."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    for text in (out, err):
        assert "Traceback" not in text and "unexpected" not in text.lower(), text
    return code, out, err


def refused(capsys, *argv, says: str, watch: tuple[Path, ...] = ()) -> str:
    """Run a command that must stop with exit code 2, one line on stderr
    containing ``says``, nothing written under ``watch``, and no work done
    (the source is not even loaded). Returns the message."""
    before = snapshot(*watch)
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    message = err.strip()
    assert message and "\n" not in message, err
    assert says.lower() in message.lower(), message
    assert snapshot(*watch) == before
    assert "[1/" not in out  # the report notebook never started
    return message


def test_as_of_before_every_intake_is_refused(source, tmp_path, capsys):
    for command, out in (("summary", "out"), ("compare", "cmp"), ("report", "r.html")):
        extra = ["--by", "site"] if command == "compare" else []
        refused(
            capsys,
            command,
            source,
            "--as-of",
            "2000-01-01",
            *extra,
            "--out",
            tmp_path / out,
            says="before every intake",
            watch=(tmp_path, source),
        )
    assert not any(tmp_path.iterdir())


def test_far_future_as_of_is_a_clear_error_not_a_crash(source, tmp_path, capsys):
    for command in ("summary", "compare"):
        refused(
            capsys,
            command,
            source,
            "--as-of",
            "9999-01-01",
            "--by",
            "site",
            "--out",
            tmp_path / command,
            says="from 1678 to 2261",
            watch=(tmp_path,),
        )
    # The latest end of observation pandas can hold is analysed, not crashed.
    code, _, _ = run(capsys, "summary", source, "--as-of", "2261-12-31", "--out", tmp_path / "s")
    assert code == 0
    assert (tmp_path / "s" / "recovery.csv").exists()


def test_grouping_by_a_per_case_column_is_refused_with_the_reason(source, tmp_path, capsys):
    for command, out in (("summary", "out"), ("compare", "cmp"), ("report", "r.html")):
        message = refused(
            capsys,
            command,
            source,
            "--as-of",
            AS_OF,
            "--by",
            "case_id",
            "--out",
            tmp_path / out,
            says="singles out cases",
            watch=(tmp_path,),
        )
        assert "site" in message  # and what to group by instead
    assert not any(tmp_path.iterdir())


def test_report_without_visits_says_what_it_skipped(tmp_path, capfd):
    tables = synthetic.generate(4, seed=5, mean_cases=4)
    del tables["visits"]
    source = synthetic.write(tables, tmp_path / "src")
    out = tmp_path / "report.html"
    assert main(["report", str(source), "--as-of", AS_OF, "--out", str(out)]) == 0
    printed = "".join(capfd.readouterr())
    assert "Traceback" not in printed and "unexpected" not in printed.lower()
    assert html.escape(catalogue("en")["no_visits"]) in out.read_text(encoding="utf-8")


def test_published_report_on_a_small_cohort_and_no_tcp_warning(tmp_path, capfd):
    source = synthetic.write(synthetic.generate(6, seed=4), tmp_path / "src")
    out = tmp_path / "report.html"
    code = main(["report", str(source), "--as-of", AS_OF, "--by", "site", "--out", str(out)])
    printed = "".join(capfd.readouterr())  # the kernel's own stderr too
    assert code == 0
    assert "Traceback" not in printed and "unexpected" not in printed.lower()
    assert "over TCP" not in printed
    page = out.read_text(encoding="utf-8")
    assert "published" in page.lower() and "Traceback" not in page
    # This cohort's funnel limits of 90-day retention rest on a hidden pool total
    # (this session's run, seen on the page): a note stands in for the chart, whose
    # limits cannot be drawn. Its relapse curve keeps no day: a note, not an empty frame.
    en = catalogue("en")
    text = html.unescape(page)
    assert en["limits_hidden"].format(metrics=en["retention"]) in text
    assert en["none_outside"] not in text  # no limits drawn, so no verdict on them
    assert en["no_curve"].format(what=en["relapse"], largest=10) in text
    assert f'alt="{html.escape(en["relapse"])}' not in page
    # The page is known as an earlier report: --out may replace it (here the run
    # then stops at the missing source, before any work).
    code = main(["report", "sqlite:///missing.db", "--as-of", AS_OF, "--out", str(out)])
    assert code == 2 and "does not exist" in capfd.readouterr().err
    assert out.read_text(encoding="utf-8") == page


def _unwritable(tmp_path: Path) -> list[Path]:
    """Folders nothing can be written under: /proc (even for root) and, unless
    running as root, a read-only folder."""
    places = [Path("/proc")] if Path("/proc").is_dir() else []
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        places.append(locked)
    return places


def test_output_folders_that_cannot_be_written_are_refused_first(source, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    bad = [
        (a_file, "is a file"),
        (a_file / "out", "is a file"),
        *((place / "casework" / "out", "cannot be written") for place in _unwritable(tmp_path)),
    ]
    for out, says in bad:
        for command in ("summary", "compare"):
            message = refused(
                capsys,
                command,
                source,
                "--as-of",
                AS_OF,
                "--by",
                "site",
                "--out",
                out,
                says=says,
                watch=(tmp_path,),
            )
            assert str(out.parent.parent) in message  # where the problem is
    assert a_file.read_text() == "mine"


def test_report_out_that_cannot_be_written_is_refused_before_the_notebook(source, tmp_path, capsys):
    page = tmp_path / "theirs.html"
    page.write_text("<html>someone else's page</html>")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    bad = [
        (tmp_path, "is a folder"),
        (page, "not an earlier output"),
        (a_file / "report.html", "is a file"),
        (tmp_path / "report.txt", "should end in .html"),
        *((place / "casework" / "r.html", "cannot be written") for place in _unwritable(tmp_path)),
    ]
    for out, says in bad:
        refused(
            capsys, "report", source, "--as-of", AS_OF, "--out", out, says=says, watch=(tmp_path,)
        )
    assert page.read_text() == "<html>someone else's page</html>"


def test_problems_out_never_overwrites_what_this_tool_did_not_write(tmp_path, capsys):
    source = synthetic.write(synthetic.generate(3, seed=2), tmp_path / "src")
    cases = source / "cases.csv"
    original = cases.read_bytes()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    bad = [
        (cases, "not an earlier output"),  # the source itself
        (tmp_path, "is a folder"),
        (a_file, "should end in .csv"),
        (a_file / "problems.csv", "is a file"),
        *((place / "casework" / "p.csv", "cannot be written") for place in _unwritable(tmp_path)),
    ]
    for out, says in bad:
        message = refused(
            capsys, "validate", source, "--problems-out", out, says=says, watch=(tmp_path,)
        )
        assert "Source:" not in message
    assert cases.read_bytes() == original
    # An earlier problem report is replaced.
    report = tmp_path / "problems.csv"
    assert run(capsys, "validate", source, "--problems-out", report)[0] == 0
    assert run(capsys, "validate", source, "--problems-out", report)[0] == 0


def test_numbers_of_weeks_and_visits_must_be_positive(source, tmp_path, capsys):
    for option, value in (("--sustained-weeks", "0"), ("--dropout-missed", "-1")):
        for command in ("summary", "compare"):
            refused(
                capsys,
                command,
                source,
                "--as-of",
                AS_OF,
                "--by",
                "site",
                option,
                value,
                "--out",
                tmp_path / "out",
                says=f"{option} must be at least 1",
                watch=(tmp_path,),
            )
    assert not any(tmp_path.iterdir())


def test_generate_needs_a_whole_seed_of_at_least_0(tmp_path, capsys):
    refused(
        capsys,
        "generate",
        tmp_path / "g",
        "--seed",
        "-1",
        says="--seed must be at least 0",
        watch=(tmp_path,),
    )
    assert not any(tmp_path.iterdir())


def test_generate_into_a_folder_holding_data_needs_overwrite(tmp_path, capsys):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "cases.csv").write_text("case_id\nA\n")
    earlier = tmp_path / "earlier"
    assert run(capsys, "generate", earlier, "--placements", "2")[0] == 0
    for folder, says in ((theirs, "did not write"), (earlier, "holds a data source")):
        refused(
            capsys,
            "generate",
            folder,
            "--placements",
            "1",
            says=says,
            watch=(tmp_path,),
        )
        assert run(capsys, "generate", folder, "--placements", "1", "--overwrite")[0] == 0
        assert len(pd.read_csv(folder / "placements.csv")) == 1
    # An analysis never replaces a source either.
    refused(
        capsys,
        "summary",
        earlier,
        "--as-of",
        AS_OF,
        "--out",
        earlier,
        says="holds a data source",
        watch=(tmp_path,),
    )


def test_keygen_creates_a_missing_folder(tmp_path, capsys):
    key = tmp_path / "keys" / "deeper" / "project.key"
    code, out, _ = run(capsys, "keygen", key)
    assert code == 0 and str(key) in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    refused(capsys, "keygen", key, says="never overwritten", watch=(tmp_path,))


def test_sqlite_source_that_does_not_exist_is_never_created(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url in (f"sqlite:///{tmp_path / 'missing.db'}", "sqlite:///missing.db"):
        refused(capsys, "validate", url, says="does not exist", watch=(tmp_path,))
        refused(
            capsys,
            "summary",
            url,
            "--as-of",
            AS_OF,
            "--out",
            tmp_path / "out",
            says="does not exist",
            watch=(tmp_path,),
        )
    assert not any(tmp_path.iterdir())


def test_sites_named_all_and_other_are_renamed_and_the_output_says_so(tmp_path, capsys):
    tables = synthetic.generate(6, seed=2)
    tables["placements"].loc[0, "site"] = "All"
    tables["placements"].loc[1, "site"] = "Other"
    source = synthetic.write(tables, tmp_path / "src")
    for command in ("summary", "compare"):
        code, out, _ = run(
            capsys, command, source, "--as-of", AS_OF, "--by", "site", "--out", tmp_path / command
        )
        assert code == 0
        assert "the site named 'All' is shown as 'All [site]'" in out
        assert "the site named 'Other' is shown as 'Other [site]'" in out
    stays = pd.read_csv(tmp_path / "summary" / "length_of_stay.csv").set_index("site")
    assert {"All [site]", "Other [site]", "All"} <= set(stays.index)
    assert stays.index.is_unique
    cases = tables["cases"].merge(tables["placements"], on="placement_id")
    assert stays.loc["All", "n_cases"] == len(cases)  # the whole cohort
    assert stays.loc["All [site]", "n_cases"] == (cases["site"] == "All").sum()
    funnel = pd.read_csv(tmp_path / "compare" / "funnel.csv")
    assert "All [site]" in set(funnel["site"]) and "Other [site]" in set(funnel["site"])


def test_control_characters_in_the_data_are_printed_escaped(tmp_path, capsys):
    tables = synthetic.generate(3, seed=2)
    cases = tables["cases"].astype({"closure_reason": object})
    cases.loc[0, "closure_reason"] = "\x1b[31mred\x1b[0m \x1b]0;owned\x07"
    tables["cases"] = cases
    source = synthetic.write(tables, tmp_path / "src")
    code, out, err = run(capsys, "validate", source)
    assert code in (0, 1)
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b[31mred" in out


def test_date_order_messages_name_both_dates(tmp_path, capsys):
    tables = synthetic.generate(3, seed=2)
    tables["cases"].loc[0, "closed_date"] = pd.Timestamp("2000-01-02")
    stages = tables["stages"]
    done = stages.index[stages["completed_on"].notna()][0]
    stages.loc[done, "completed_on"] = pd.Timestamp("2000-01-03")
    tables["placements"].loc[0, "end_date"] = pd.Timestamp("2000-01-04")
    source = synthetic.write(tables, tmp_path / "src")
    problems = tmp_path / "problems.csv"
    code, out, _ = run(capsys, "validate", source, "--problems-out", problems)
    assert code == 1
    order = pd.read_csv(problems).query("rule == 'date_order'")
    assert set(order["table"]) == {"placements", "cases", "stages"}
    for message in order["message"]:
        assert "{" not in message and "}" not in message, message
    assert "{value}" not in out
    assert "closed_date 2000-01-02 is before intake_date" in out


# ------------------------------------------------------------------ hostile data


def _checked(code: int, out: str, err: str) -> None:
    assert code in (0, 1, 2), (code, out, err)
    if code == 2:
        assert err.strip() and "\n" not in err.strip(), err


REPORTS: list[int] = []  # how many examples have run `report` (a few: ~10 s each)


def test_published_summary_when_every_table_of_counts_is_withheld(tmp_path, capsys):
    # Found by the test below: ten clients left in four small sites, every table
    # of counts withheld, and the audit failed with "No objects to concatenate".
    edits = [
        ("placements", 313, 14, "cell", "9999-12-31"),
        ("cases", 155, 15, "cell", "9999-12-31"),
        ("placements", 5074, 19, "duplicate", "2024-03-18T25:99"),
        ("stages", 7561, 18, "cell", "12345-06-07"),
        ("cases", 3507, 3, "cell", "-2+3"),
    ]
    source = synthetic.write(_corrupt(small_cohort(1), edits), tmp_path / "src")
    out = tmp_path / "published"
    code, printed, _ = run(
        capsys, "summary", source, "--as-of", AS_OF, "--by", "site", "--publish", "--out", out
    )
    assert code == 1
    assert "withheld" in printed and (out / "manifest.json").exists()


@settings(
    max_examples=8,  # about 10 s each; two of them also build a report
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 30),
    edits=st.lists(
        st.tuples(
            st.sampled_from(TABLE_NAMES),
            st.integers(0, 10_000),
            st.integers(0, 20),
            st.sampled_from(["cell", "cell", "cell", "duplicate", "drop_parent"]),
            hostile_values,
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_every_command_survives_hostile_cells(tmp_path_factory, capfd, seed, edits):
    tables = _corrupt(small_cohort(seed), edits)
    work = tmp_path_factory.mktemp("hostile")
    source = synthetic.write(tables, work / "src")

    cohort = load(source)
    for row in cohort.counts.itertuples():
        assert row.read == row.accepted + row.rejected, row

    def command(*argv) -> int:
        code = main([str(a) for a in argv])
        out, err = capfd.readouterr()
        for text in (out, err):
            assert "Traceback" not in text and "unexpected" not in text.lower(), text
        _checked(code, out, err)
        return code

    code = command("validate", source)
    assert code == (1 if cohort.has_errors else 0)
    as_of = ("--as-of", AS_OF)
    command("summary", source, *as_of, "--out", work / "summary")
    command("summary", source, *as_of, "--by", "site", "--publish", "--out", work / "published")
    command("compare", source, *as_of, "--by", "site", "--out", work / "compare")
    if len(REPORTS) < 2:
        REPORTS.append(seed)
        command("report", source, *as_of, "--by", "site", "--out", work / "report.html")
    shutil.rmtree(work, ignore_errors=True)


@pytest.mark.skipif(not CONSOLE.exists(), reason="the console script is not installed")
def test_validate_piped_into_head_stops_quietly(tmp_path):
    tables = synthetic.generate(12, seed=1)
    tables["visits"]["visit_date"] = "kemarin"  # one problem line per visit: > 64 KB
    source = synthetic.write(tables, tmp_path / "src")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    pipeline = f'"{CONSOLE}" validate "{source}" --show 100000 | head -1'
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.stdout.startswith("Source:")
    assert result.stderr == ""
    assert result.returncode == 141  # the pipe was closed (cli module docstring)


def test_a_source_holding_odd_objects_is_written_and_read(tmp_path):
    # Found by the hostile command test in a clean CI run: a bytes cell made the CSV
    # writer's formula guard crash before anything was written.
    tables = synthetic.generate(3, seed=0)
    placements = tables["placements"].astype(object)
    placements.iloc[0, 0] = b"\xff\xfe\x00"
    placements.iloc[1, 1] = "=HYPERLINK(1)"
    tables["placements"] = placements
    source = synthetic.write(tables, tmp_path / "odd")
    written = (source / "placements.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)" in written
    assert main(["validate", str(source)]) in (0, 1)
