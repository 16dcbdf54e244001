"""National cohorts (issue 14): results unchanged, outputs fit for their size,
progress on long steps, chunked database reads, and cohorts split into parts."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from casework_analytics import load, progress, sources, synthetic
from casework_analytics.cli import PER_CASE_TABLES, main
from casework_analytics.outputs import TableParts, output_folder
from casework_analytics.summary import PER_CASE_TABLES as SUMMARY_PER_CASE
from casework_analytics.summary import Summary

EXPECTED = Path(__file__).parent / "data" / "expected_summary"
AS_OF = "2025-04-15"


def test_summary_outputs_are_the_stored_expected_files(tmp_path):
    # The expected files were written by the summary command before the work of
    # issue 14 (a cohort of 38 cases); every table must come out the same: every
    # cell as written, except that a number computed in floating point may differ
    # in its last digits (1e-12 relative) with the numerical libraries' version
    # (numpy 2.4 changed the log-rank chi-square in its 15th digit).
    source = synthetic.write(synthetic.generate(6, seed=2), tmp_path / "src")
    out = tmp_path / "out"
    assert main(["summary", str(source), "--as-of", AS_OF, "--by", "site", "--out", str(out)]) == 0
    expected = sorted(p.name for p in EXPECTED.glob("*.csv"))
    assert sorted(p.name for p in out.glob("*.csv")) == expected
    for name in expected:
        if (out / name).read_bytes() == (EXPECTED / name).read_bytes():
            continue
        got, want = (
            pd.read_csv(f, dtype=str, keep_default_na=False) for f in (out / name, EXPECTED / name)
        )
        assert list(got.columns) == list(want.columns) and len(got) == len(want), name
        for column in want.columns:
            differ = got[column] != want[column]
            if differ.any():
                assert want.loc[differ, column].str.contains(r"[.eE]").all(), (name, column)
                np.testing.assert_allclose(
                    got.loc[differ, column].astype(float),
                    want.loc[differ, column].astype(float),
                    rtol=1e-12,
                    err_msg=f"{name}.{column}",
                )


def test_tables_group_leaves_out_the_per_case_tables(tmp_path, capsys):
    source = synthetic.write(synthetic.generate(6, seed=2), tmp_path / "src")
    out = tmp_path / "out"
    argv = ["summary", str(source), "--as-of", AS_OF, "--by", "site", "--out", str(out)]
    assert main([*argv, "--tables", "group", "--format", "parquet"]) == 0
    written = {p.stem for p in out.glob("*.parquet")}
    assert written and not written & set(PER_CASE_TABLES)
    assert main([*argv, "--tables", "recovery", "exits"]) == 0
    assert {p.stem for p in out.glob("*.csv")} == {"recovery", "exits"}
    capsys.readouterr()
    assert main([*argv, "--tables", "funnel"]) == 2
    assert "funnel is not a table" in capsys.readouterr().err
    assert PER_CASE_TABLES == SUMMARY_PER_CASE


def test_weekly_status_written_in_parts_reads_back_as_the_whole(generated, tmp_path):
    run = Summary(load(generated), AS_OF, "site")
    whole = run.table("weekly_status")
    parts = run.weekly_parts(rows=1000)
    assert len(parts) == len(whole) and len(list(parts)) > 1
    with output_folder(tmp_path / "out", {"command": "summary"}) as folder:
        folder.write_table("weekly", parts, format="parquet")
        folder.write_table("weekly", parts, format="csv")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "weekly.parquet"), whole)
    assert len(pd.read_csv(tmp_path / "out" / "weekly.csv")) == len(whole)
    assert isinstance(parts, TableParts)


def test_a_long_step_shows_its_name_rows_and_time(monkeypatch, capsys):
    monkeypatch.setattr(progress, "MIN_SECONDS", 0.05)
    steps = progress.Progress(True, "load")
    with steps.step("visits", 1_500):
        time.sleep(0.2)
    with steps.step("cases", 10):
        pass
    err = capsys.readouterr().err
    assert "load visits: 1,500 rows" in err and " s" in err
    assert "cases" not in err
    assert not progress.Progress(False).enabled


def test_database_tables_are_read_in_chunks(generated, tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "SQL_CHUNK_ROWS", 50)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    for name, frame in generated.items():
        frame.to_sql(name, engine, index=False)
    engine.dispose()
    chunked = load(f"sqlite:///{tmp_path / 'c.db'}")
    whole = load(generated)
    for name in sources.TABLE_NAMES:
        pd.testing.assert_frame_equal(chunked.table(name), whole.table(name))


def _part(tables: dict[str, pd.DataFrame], term: str) -> dict[str, pd.DataFrame]:
    """The tables of one term: its placements, their cases and the cases' rows."""
    placements = tables["placements"][tables["placements"]["term"] == term]
    cases = tables["cases"][tables["cases"]["placement_id"].isin(placements["placement_id"])]
    part = {"placements": placements, "cases": cases}
    for name in ("stages", "sessions", "visits"):
        part[name] = tables[name][tables[name]["case_id"].isin(cases["case_id"])]
    return part


#: The additive columns of the group-level tables (counts: numerators and denominators).
ADDITIVE = {
    "stage_funnel": (["stage"], ["n_cases", "reached", "completed", "in_stage"]),
    "exits": (["level", "category"], ["n", "n_exits", "n_open"]),
    "exit_stage": (["exit_reason", "stage_at_exit"], ["n"]),
    "association": ([], ["n_high", "unplanned_high", "n_low", "unplanned_low"]),
    "length_of_stay": ([], ["n_cases", "n_closed", "n_open", "n_under_90_days"]),
}


@pytest.mark.parametrize("name", list(ADDITIVE))
def test_summaries_of_parts_concatenate_to_the_whole_cohort(name):
    tables = synthetic.generate(30, seed=4)
    by = ["term", "site"]
    whole = Summary(load(tables), AS_OF, by).table(name)
    terms = sorted(tables["placements"]["term"].unique())
    parts = [Summary(load(_part(tables, t)), AS_OF, by).table(name) for t in terms]
    keys, counts = ADDITIVE[name]

    def groups(frame):  # the per-group rows, in one order
        rows = frame[(frame[by] != "All").all(axis=1)]
        return rows.sort_values([*by, *keys]).reset_index(drop=True)[[*by, *keys, *counts]]

    # Each group lies in one part: the parts' group rows are the whole cohort's.
    together = pd.concat([groups(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(groups(together), groups(whole), check_dtype=False)

    # The whole cohort's rows (All) are the sums of the parts' All rows.
    def overall(frame):
        rows = frame[(frame[by] == "All").all(axis=1)]
        return rows.groupby(keys)[counts].sum() if keys else rows[counts].sum()

    if keys:
        summed = pd.concat([overall(p) for p in parts]).groupby(level=keys).sum()
        summed = summed.reindex(overall(whole).index, fill_value=0)
        pd.testing.assert_frame_equal(summed, overall(whole), check_dtype=False)
    else:
        summed = sum(overall(p) for p in parts)
        pd.testing.assert_series_equal(summed, overall(whole), check_dtype=False)
