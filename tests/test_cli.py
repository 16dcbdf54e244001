"""The command line: output, exit codes, and no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from casework_analytics.cli import main


def test_validate_clean_source_exits_0(capsys):
    assert main(["validate", "data/example"]) == 0
    out = capsys.readouterr().out
    assert "visits" in out and "28" in out and "0 error(s)" in out


def test_validate_rejected_rows_exits_1_and_writes_report(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "m"), "--placements", "4", "--messy"]) == 0
    report = tmp_path / "problems.csv"
    assert main(["validate", str(tmp_path / "m"), "--problems-out", str(report)]) == 1
    assert "unparseable_date" in capsys.readouterr().out
    assert report.read_text().startswith("rule,severity,table,column,row,case_id,value,message")


def test_unusable_source_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "casework_analytics.cli", "validate", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr


def test_generate_formats(tmp_path):
    for fmt in ("csv", "parquet", "xlsx"):
        assert main(["generate", str(tmp_path / fmt), "--placements", "2", "--format", fmt]) == 0
        assert (
            main(["validate", str(tmp_path / fmt / ("cohort.xlsx" if fmt == "xlsx" else ""))]) == 0
        )


def test_summary_writes_every_table_with_group_columns_first(tmp_path, capsys):
    out = tmp_path / "summary"
    code = main(
        [
            "summary",
            "data/sample",
            "--as-of",
            "2025-04-15",
            "--by",
            "site",
            "term",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    for name in (
        "stage_progress",
        "stage_funnel",
        "exits",
        "exit_stage",
        "length_of_stay",
        "contacts",
        "association",
        "exit_type_test",
    ):
        header = (out / f"{name}.csv").read_text().splitlines()[0].split(",")
        if name not in ("exit_type_test", "logrank"):
            assert header[:2] == ["site", "term"], name
    assert "wrote" in capsys.readouterr().out


def test_summary_needs_an_iso_as_of(tmp_path, capsys):
    code = main(["summary", "data/sample", "--as-of", "03/04/2025", "--out", str(tmp_path)])
    assert code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_summary_without_sessions_says_what_it_skipped(tmp_path, capsys):
    import shutil

    shutil.copytree("data/example", tmp_path / "src")
    (tmp_path / "src" / "sessions.csv").unlink()
    assert (
        main(
            [
                "summary",
                str(tmp_path / "src"),
                "--as-of",
                "2024-10-31",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "skipped contacts" in capsys.readouterr().out
    assert (tmp_path / "out" / "exits.csv").exists()


def test_summary_definitions_change_the_recovery_tables(tmp_path):
    import pandas as pd

    args = ["summary", "data/example", "--as-of", "2024-10-31", "--out"]
    assert main([*args, str(tmp_path / "a")]) == 0
    assert (
        main([*args, str(tmp_path / "b"), "--missing-as", "ignore", "--sustained-weeks", "8"]) == 0
    )
    a = pd.read_csv(tmp_path / "a" / "recovery.csv").iloc[0]
    b = pd.read_csv(tmp_path / "b" / "recovery.csv").iloc[0]
    # The missed week 9 counts as positive by default: a relapse on day 63.
    assert a["relapsed"] and a["relapse_day"] == 63
    # Ignoring it, eight negatives in a row run from week 2 to week 10 (day 70).
    assert not b["relapsed"] and b["sustained_day"] == 70
    survival = pd.read_csv(tmp_path / "a" / "survival.csv")
    assert list(survival.columns[:9]) == [
        "outcome",
        "time_days",
        "at_risk",
        "events",
        "censored",
        "survival",
        "se",
        "ci_low",
        "ci_high",
    ]


def test_summary_by_site_with_a_one_client_site(tmp_path, capsys):
    # A site with one client used to stop `summary --by site` with "unexpected
    # LinAlgError" after 10 of 12 files; the log-rank test now never fails.
    from casework_analytics import synthetic

    tables = synthetic.generate(6, seed=3, mean_cases=4)
    lone = tables["placements"].iloc[[0]].assign(placement_id="PX", site="Lone site")
    case = tables["cases"].iloc[[0]].assign(case_id="CX", placement_id="PX", client_id="KX")
    tables["placements"] = pd.concat([tables["placements"], lone], ignore_index=True)
    tables["cases"] = pd.concat([tables["cases"], case], ignore_index=True)
    for name in ("stages", "sessions", "visits"):
        first = tables[name][tables[name]["case_id"] == tables["cases"]["case_id"].iloc[0]]
        tables[name] = pd.concat([tables[name], first.assign(case_id="CX")], ignore_index=True)
    source = synthetic.write(tables, tmp_path / "src")
    for extra in ([], ["--publish"]):
        out = tmp_path / f"out{len(extra)}"
        args = ["summary", str(source), "--as-of", "2025-04-15", "--by", "site", "--out", str(out)]
        assert main(args + extra) == 0
        if extra:  # 25 cases, every site folded into Other: every count of the test hidden
            assert not (out / "logrank.csv").exists()
            continue
        logrank = pd.read_csv(out / "logrank.csv")
        assert len(logrank) == 4 and logrank["df"].notna().all()
    printed = capsys.readouterr()
    assert "unexpected" not in printed.err
    assert "skipped logrank: every count in it would be hidden at this size" in printed.out


def test_compare_writes_funnel_model_cox_and_trend(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "data/sample", "--as-of", "2025-04-15", "--by", "site", "--adjust"]
    assert main([*args, "--out", str(out), "--outcome", "relapse"]) == 0
    printed = capsys.readouterr().out
    assert "BNNK Sibolga: below the 99.8% limits on planned_completion (unadjusted)" in printed
    funnel = pd.read_csv(out / "funnel.csv")
    assert set(funnel["metric"]) == {
        "planned_completion",
        "retention",
        "sustained_abstinence",
        "not_relapsed",
    }
    assert set(funnel["adjusted"]) == {True, False}
    for name in ("case_mix_model", "cox", "proportional_hazards", "trend", "manifest"):
        assert any(p.stem == name for p in out.iterdir()), name
    # argparse: --by is required
    assert main(["compare", "data/sample", "--as-of", "2025-04-15", "--out", str(out)]) == 2


def _with_reason(tmp_path, reason: str):
    """data/example with the first closed case's reason replaced."""
    import shutil

    import pandas as pd

    source = tmp_path / "src"
    shutil.copytree("data/example", source)
    cases = pd.read_csv(source / "cases.csv", dtype=str, keep_default_na=False)
    closed = cases.index[cases["closed_date"] != ""][0]
    cases.loc[closed, "closure_reason"] = reason
    cases.to_csv(source / "cases.csv", index=False)
    return source, cases.loc[closed, "case_id"]


def test_exit_rules_file_classifies_what_the_shipped_rules_do_not(tmp_path, capsys):
    source, case = _with_reason(tmp_path, "klien berangkat jadi TKI ke Malaysia")
    assert main(["validate", str(source)]) == 0  # a warning, not an error
    unclassified = capsys.readouterr().out
    assert "--exit-rules FILE.csv" in unclassified  # the warning names the option
    rules = tmp_path / "rules.csv"
    rules.write_text("code,pattern\nmoved,jadi tki\n", encoding="utf-8")
    import pandas as pd

    def reasons(*extra):
        out = tmp_path / f"out{len(extra)}"
        args = ["summary", str(source), "--as-of", "2024-10-31", "--out", str(out), *extra]
        assert main(args) == 0
        exits = pd.read_csv(out / "exits.csv")
        return exits[exits["level"] == "reason"].set_index("category")["n"]

    before = reasons()
    after = reasons("--exit-rules", str(rules))
    assert before.get("unclassified", 0) == 1 and after.get("unclassified", 0) == 0
    assert after["moved"] == before.get("moved", 0) + 1


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("code,pattern\nlocked_up,ditahan\n", "unknown codes ['locked_up']"),
        ("code,pattern\nincarcerated,(ditahan\n", "not a valid regular expression"),
        ("kode,pola\nincarcerated,ditahan\n", "missing columns ['code', 'pattern']"),
    ],
)
def test_a_bad_exit_rules_file_is_refused_before_anything_is_written(
    tmp_path, capsys, content, says
):
    rules = tmp_path / "rules.csv"
    rules.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "summary",
            "data/example",
            "--as-of",
            "2024-10-31",
            "--out",
            str(out),
            "--exit-rules",
            str(rules),
        ]
    )
    assert code == 2
    assert says in capsys.readouterr().err
    assert not out.exists()
    assert main(["validate", "data/example", "--exit-rules", str(tmp_path / "none.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_validate_and_summary_speak_indonesian(tmp_path, capsys):
    import re

    import pandas as pd

    import casework_analytics.validation as validation
    from casework_analytics.problems import MESSAGES_ID

    # Every rule the validation docs list has its Indonesian wording.
    rules = re.findall(r"^``(\w+)`` \(", validation.__doc__, re.M)
    assert len(rules) >= 20 and set(rules) <= set(MESSAGES_ID)
    source, _ = _with_reason(tmp_path, "klien berangkat jadi TKI ke Malaysia")
    visits = pd.read_csv(source / "visits.csv", dtype=str, keep_default_na=False)
    visits.loc[0, "test_result"] = "negatf"
    visits.to_csv(source / "visits.csv", index=False)
    report = tmp_path / "masalah.csv"
    main(["validate", str(source), "--lang", "id", "--problems-out", str(report)])
    out = capsys.readouterr().out
    assert "tabel        dibaca  diterima   ditolak" in out
    assert "0 galat, 2 peringatan." in out
    assert "Maksud Anda negative / negatif?" in out
    problems = pd.read_csv(report).set_index("rule")
    # The rule stays the stable English code; the message is Indonesian, the English kept.
    assert set(problems.index) == {"invalid_value", "unclassified_reason"}
    assert problems.loc["unclassified_reason", "message"].startswith("Alasan penutupan")
    assert problems.loc["unclassified_reason", "message_en"].startswith("Closure reason")
    main(
        [
            "summary",
            str(source),
            "--as-of",
            "2024-10-31",
            "--lang",
            "id",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert "Tabel ditulis ke" in out and "menulis exits.csv" in out
