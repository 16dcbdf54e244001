"""Every validation rule, triggered by one bad row appended to the tiny cohort.

Row numbers are CSV lines: the header is line 1, so in ``TINY`` the cases
are lines 2-4 and an appended case is line 5; appended stages start at
line 9, sessions and visits at line 5.
"""

from __future__ import annotations

import pandas as pd
import pytest

from casework_analytics import load
from casework_analytics.problems import format_problems

CASES = [
    # (table, extra lines, rule, severity, row, case_id)
    ("placements", "P3,BNNK Binjai,CW3,2024-06-03,2024-03-18,", "date_order", "error", 4, None),
    ("placements", "P1,BNNK Binjai,CW3,2024-03-18,2024-06-03,", "duplicate_key", "error", 4, None),
    ("placements", "P3,,CW3,2024-03-18,2024-06-03,", "missing_value", "error", 4, None),
    ("cases", "D,P9,K4,2024-04-01,,,", "foreign_key", "error", 5, "D"),
    ("cases", "A,P1,K4,2024-04-01,,,", "duplicate_key", "error", 5, "A"),
    ("cases", "D,P1,K4,03/25/2024,,,", "unparseable_date", "error", 5, "D"),
    ("cases", "D,P1,K4,2024-04-01,,2024-03-01,", "date_order", "error", 5, "D"),
    ("cases", "D,P1,K4,2024-04-01,alien,,", "invalid_value", "warning", 5, "D"),
    ("cases", "D,P1,K4,2025-01-01,,,", "intake_outside_placement", "warning", 5, "D"),
    ("stages", "B,wawancara,2024-04-01,", "unknown_stage", "error", 9, "B"),
    ("stages", "B,asesmen,2024-03-01,", "before_intake", "error", 9, "B"),
    ("stages", "B,kontrak,2024-04-02,", "repeated_stage", "error", 9, "B"),
    ("stages", "A,intervensi,2024-04-01,", "stage_order", "warning", 3, "A"),
    ("stages", "B,asesmen,2024-04-02,2024-04-01", "date_order", "error", 9, "B"),
    ("stages", "Z,asesmen,2024-04-02,", "foreign_key", "error", 9, "Z"),
    ("sessions", "B,2024-04-05,sort of", "invalid_value", "error", 5, "B"),
    ("sessions", "B,2024-03-01,held", "before_intake", "warning", 5, "B"),
    ("sessions", "A,25/03/2024,terlaksana", "duplicate_session", "error", 5, "A"),
    ("visits", "C,2024-04-01,ya,negative", "duplicate_visit", "error", 5, "C"),
    ("visits", "C,2024-03-01,ya,negative", "before_intake", "error", 5, "C"),
    ("visits", "C,2024-04-08,maybe,negative", "invalid_value", "error", 5, "C"),
    ("visits", "C,2024-04-08,tidak,positive", "result_without_attendance", "warning", 5, "C"),
    ("visits", "C,2024-04-08,ya,purple", "invalid_value", "warning", 5, "C"),
]


@pytest.mark.parametrize(("table", "line", "rule", "severity", "row", "case_id"), CASES)
def test_rule_reports_rule_row_and_case(with_rows, table, line, rule, severity, row, case_id):
    cohort = load(with_rows(**{table: line}))
    hit = cohort.problems.query("table == @table and rule == @rule")
    assert len(hit) == 1, cohort.problems
    assert hit["severity"].iloc[0] == severity
    assert hit["row"].iloc[0] == row
    if case_id is None:
        assert hit["case_id"].isna().iloc[0]
    else:
        assert hit["case_id"].iloc[0] == case_id
    counts = cohort.counts.set_index("table").loc[table]
    assert counts["read"] == counts["accepted"] + counts["rejected"]
    assert counts["rejected"] == (1 if severity == "error" else 0)
    if severity == "error":
        rejected = cohort.rejected[table]
        assert rejected["row"].tolist() == [row]
        assert hit["message"].iloc[0] in rejected["reasons"].iloc[0]


def test_rejected_placement_orphans_its_cases_and_their_rows(with_rows):
    # P2 appears twice with a broken date on its first row: the first row is
    # rejected for the date, so P2's case C and C's stages and visits are orphans.
    source = with_rows(placements="P4,BNNK Binjai,CW4,2024-03-18,2024-06-03,")
    path = source / "placements.csv"
    path.write_text(
        path.read_text().replace("P2,BNNK Medan,CW2,2024-03-18", "P2,BNNK Medan,CW2,18-3-24")
    )
    cohort = load(source)
    orphans = cohort.problems.query("rule == 'orphan'")
    assert set(zip(orphans["table"], orphans["case_id"], strict=True)) == {
        ("cases", "C"),
        ("stages", "C"),
        ("visits", "C"),
    }
    assert cohort.counts.set_index("table")["rejected"].to_dict() == {
        "placements": 1,
        "cases": 1,
        "stages": 4,
        "sessions": 0,
        "visits": 1,
    }


def test_invalid_optional_value_is_cleared_and_row_kept(with_rows):
    cohort = load(with_rows(cases="D,P1,K4,2024-04-01,alien,,"))
    row = cohort.cases.set_index("case_id").loc["D"]
    assert pd.isna(row["sex"])
    warning = cohort.problems.query("rule == 'invalid_value'").iloc[0]
    assert warning["value"] == "alien"


def test_unknown_columns_are_kept_and_warned(tiny_dir):
    path = tiny_dir / "cases.csv"
    lines = path.read_text().splitlines()
    lines = [lines[0] + ",hobby"] + [line + ",chess" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    cohort = load(tiny_dir)
    assert cohort.cases["hobby"].tolist() == ["chess"] * 3
    assert cohort.problems.query("rule == 'unknown_column'")["column"].tolist() == ["hobby"]


def test_custom_stage_model_is_used_for_validation(tiny_dir):
    path = tiny_dir / "stages.csv"
    path.write_text(
        "case_id,stage,started_on\nA,Intake,2024-03-25\nA,rencana,2024-04-01\nB,close,2024-03-28\n"
    )
    from casework_analytics import StageModel

    model = StageModel.from_stages(["intake", "plan"], aliases={"rencana": "plan"})
    cohort = load(tiny_dir, stage_model=model)
    assert cohort.stages["stage"].tolist() == ["intake", "plan"]
    assert cohort.problems.query("rule == 'unknown_stage'")["value"].tolist() == ["close"]


def test_out_of_range_optional_values_are_cleared_with_a_warning(tiny_dir):
    path = tiny_dir / "cases.csv"
    lines = path.read_text().splitlines()
    ages = ["", "5", "40", "130"]
    path.write_text(
        "\n".join(
            f"{line},{age}" if i else f"{line},age_at_intake"
            for i, (line, age) in enumerate(zip(lines, ages, strict=True))
        )
        + "\n"
    )
    cohort = load(tiny_dir)
    hits = cohort.problems.query("rule == 'out_of_range'")
    assert hits[["row", "case_id", "value", "severity"]].values.tolist() == [
        [2, "A", "5.0", "warning"],
        [4, "C", "130.0", "warning"],
    ]
    assert cohort.cases["age_at_intake"].isna().tolist() == [True, False, True]
    assert not cohort.has_errors


def test_messages_name_values_not_placeholders(with_rows):
    cohort = load(with_rows(cases="D,P1,K{4},2024-04-01,alien,2024-03-01,"))
    messages = cohort.problems["message"]
    assert not messages.str.contains("{value}", regex=False).any()
    order = cohort.problems.query("rule == 'date_order'")["message"].iloc[0]
    assert order == "closed_date 2024-03-01 is before intake_date 2024-04-01."
    invalid = cohort.problems.query("rule == 'invalid_value'")["message"].iloc[0]
    assert "one of female / perempuan, male / laki-laki, unknown / tidak diketahui." in invalid


def test_duplicate_session_keeps_the_first_copy_only(with_rows):
    cohort = load(with_rows(sessions="A,2024-04-01,missed_client\nA,2024-04-01,held"))
    hit = cohort.problems.query("rule == 'duplicate_session'")
    assert hit["row"].tolist() == [5]  # a copy of row 3; row 6 differs in status
    assert "repeats row 3" in hit["message"].iloc[0]
    assert len(cohort.sessions) == 4


def test_terminal_escapes_are_printed_escaped_and_kept_raw(with_rows):
    cohort = load(with_rows(cases="D\x1b[2J,P1,K4,2024-04-01,\x1b[31mred\x1b[0m,,"))
    hit = cohort.problems.query("rule == 'invalid_value'").iloc[0]
    assert hit["value"] == "\x1b[31mred\x1b[0m"
    printed = format_problems(cohort.problems)
    assert "\x1b" not in printed
    assert "(case D\\x1b[2J)" in printed and "'\\x1b[31mred\\x1b[0m'" in printed


def test_very_long_values_are_cut_short_when_printed(with_rows):
    cohort = load(with_rows(cases="D,P1,K4,2024-04-01," + "x" * 100_000 + ",,"))
    hit = cohort.problems.query("rule == 'invalid_value'").iloc[0]
    assert len(hit["value"]) == 100_000
    printed = format_problems(cohort.problems)
    assert max(len(line) for line in printed.splitlines()) < 600
    assert "characters; see the problem table) [invalid_value]" in printed
