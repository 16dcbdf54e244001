"""Stage progression and the funnel, against numbers worked out by hand on
the toy cohort (tests/toy.py), with intervals checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint
from strategies import cohort_and_as_of
from toy import AS_OF, toy_tables

from casework_analytics import CaseworkError, load, synthetic
from casework_analytics.stages import furthest_stage, stage_funnel, stage_progress


@pytest.fixture(scope="module")
def toy():
    return load(toy_tables())


def test_stage_progress_by_hand(toy):
    p = stage_progress(toy, AS_OF).set_index("case_id")
    # A: engagement 1-10 Mar (9 days); assessment from 10 Mar, never completed,
    # case closed 1 May -> 52 days in assessment so far.
    assert p.loc["A", "furthest_stage"] == "assessment"
    assert (p.loc["A", "days_in_engagement"], p.loc["A", "days_to_assessment"]) == (9, 9)
    assert p.loc["A", "days_in_assessment"] == 52
    assert not p.loc["A", "termination_planned"]  # scheduling conflict is unplanned
    # B skipped assessment; engagement lasted until intervention started (15 days);
    # open, so intervention runs to as_of: 20 Mar -> 30 Jun = 102 days.
    assert p.loc["B", "skipped_stages"] == "assessment" and p.loc["B", "n_skipped"] == 1
    assert (p.loc["B", "days_in_engagement"], p.loc["B", "days_in_intervention"]) == (15, 102)
    assert pd.isna(p.loc["B", "termination_planned"]) and p.loc["B", "status"] == "open"
    # C went through all four stages.
    assert [p.loc["C", f"days_to_{s}"] for s in toy.stage_model.stages] == [0, 5, 15, 41]
    assert [p.loc["C", f"days_in_{s}"] for s in toy.stage_model.stages] == [5, 10, 26, 10]
    assert p.loc["C", "termination_planned"]
    # D: engagement from 15 Mar until closure on 20 Mar.
    assert p.loc["D", "days_in_engagement"] == 5


def test_cases_after_as_of_and_stages_after_it_are_ignored(toy):
    p = stage_progress(toy, AS_OF).set_index("case_id")
    # E's intake (25 Jun) is before as_of but its only stage starts 15 Jul.
    assert p.loc["E", "furthest_position"] == 0 and pd.isna(p.loc["E", "furthest_stage"])
    early = stage_progress(toy, "2024-03-12").set_index("case_id")
    assert "E" not in early.index and "D" not in early.index
    assert early.loc["C", "furthest_stage"] == "engagement"
    assert early.loc["A", "status"] == "open"


def test_funnel_by_hand(toy):
    f = stage_funnel(toy, "2024-06-24")  # before E's intake: cases A-D
    assert f["n_cases"].tolist() == [4, 4, 4, 4]
    assert f["reached"].tolist() == [4, 3, 2, 1]
    assert f["completed"].tolist() == [3, 2, 1, 1]
    assert f["in_stage"].tolist() == [0, 0, 1, 0]
    np.testing.assert_allclose(f["conversion"], [1, 3 / 4, 2 / 3, 1 / 2])
    low, high = proportion_confint(f["reached"], f["n_cases"], method="wilson")
    np.testing.assert_allclose(f["share_ci_low"], low)
    np.testing.assert_allclose(f["share_ci_high"], high)
    low, high = proportion_confint([2], [3], method="wilson")
    assert f.loc[2, "conversion_ci_low"] == pytest.approx(low[0])


def test_funnel_by_group_with_overall(toy):
    f = stage_funnel(toy, "2024-06-24", by="site")
    s1 = f[f["site"] == "S1"]
    s2 = f[f["site"] == "S2"]
    assert s1["reached"].tolist() == [2, 2, 1, 0]
    assert s2["reached"].tolist() == [2, 1, 1, 1]
    assert f[f["site"] == "All"]["reached"].tolist() == [4, 3, 2, 1]
    assert list(f.columns[:2]) == ["site", "stage"]


def test_funnel_shares_and_conversions_by_hand(toy):
    # Cases A-D (before E's intake). S1 (A, B): reached 2, 2, 1, 0; S2 (C, D): 2, 1, 1, 1.
    f = stage_funnel(toy, "2024-06-24", by="site").set_index(["site", "stage"])
    stages = list(toy.stage_model.stages)
    # Share reached = reached / n_cases: All 4, 3, 2, 1 of 4.
    assert f.loc["All", "share_reached"].tolist() == [1, 3 / 4, 2 / 4, 1 / 4]
    assert f.loc["S1", "share_reached"].tolist() == [1, 1, 1 / 2, 0]
    # Conversion = reached / reached at the previous stage (n_cases first): S1 2/2, 2/2,
    # 1/2, 0/1; S2 2/2, 1/2, 1/1, 1/1 (a previous stage of one case is a share too).
    assert f.loc["S1", "conversion"].tolist() == [1, 1, 1 / 2, 0]
    assert f.loc["S2", "conversion"].tolist() == [1, 1 / 2, 1, 1]
    # A group of one case is a share too: as of 12 March S2 holds only C (D's intake is
    # 15 March), which reached engagement (10 March): 1 of 1.
    one = stage_funnel(toy, "2024-03-12", by="site").set_index(["site", "stage"])
    assert one.loc[("S2", "engagement"), ["n_cases", "share_reached"]].tolist() == [1, 1.0]
    # Wilson limits at another confidence level: against statsmodels at alpha 0.1.
    f90 = stage_funnel(toy, "2024-06-24", by="site", confidence=0.90)
    f90 = f90.set_index(["site", "stage"]).loc["S2"].loc[stages]
    low, high = proportion_confint([2, 1, 1, 1], [2, 2, 2, 2], alpha=0.10, method="wilson")
    np.testing.assert_allclose(f90["share_ci_low"], low)
    np.testing.assert_allclose(f90["share_ci_high"], high)
    low, high = proportion_confint([2, 1, 1, 1], [2, 2, 1, 1], alpha=0.10, method="wilson")
    np.testing.assert_allclose(f90["conversion_ci_low"], low)
    np.testing.assert_allclose(f90["conversion_ci_high"], high)


def test_stage_progress_counts_per_case_by_hand(toy):
    p = stage_progress(toy, AS_OF).set_index("case_id")
    assert p.columns[:12].tolist() == [
        "placement_id",
        "intake_date",
        "status",
        "closed_date",
        "exit_reason",
        "furthest_stage",
        "furthest_position",
        "stages_started",
        "stages_completed",
        "skipped_stages",
        "n_skipped",
        "termination_planned",
    ]
    cases = ["A", "B", "C", "D", "E"]
    # From toy.py: A started engagement and assessment and completed engagement; B
    # started engagement and intervention (skipping assessment), completed none; C did
    # all four; D started engagement only; E's only start (15 July) is after as_of.
    assert p.loc[cases, "stages_started"].tolist() == [2, 2, 4, 1, 0]
    assert p.loc[cases, "stages_completed"].tolist() == [1, 0, 4, 0, 0]
    assert p.loc[cases, "n_skipped"].tolist() == [0, 1, 0, 0, 0]
    assert p.loc[cases, "furthest_position"].tolist() == [2, 3, 4, 1, 0]
    assert p.loc[cases, "status"].tolist() == ["closed", "open", "closed", "closed", "open"]
    assert p["skipped_stages"].isna().tolist() == [True, False, True, True, True]
    assert p.loc[cases, "placement_id"].tolist() == ["P1", "P1", "P2", "P2", "P1"]
    assert p.loc["D", "exit_reason"] == "transferred"
    assert str(p.loc["C", "closed_date"].date()) == "2024-04-30"
    assert str(p.loc["E", "intake_date"].date()) == "2024-06-25"
    assert p.loc[cases, "started_engagement"].tolist() == [True, True, True, True, False]
    assert p.loc[cases, "started_intervention"].tolist() == [False, True, True, False, False]
    assert p.loc[cases, "completed_engagement"].tolist() == [True, False, True, False, False]


def test_two_skipped_stages_and_a_next_stage_started_the_same_day():
    # F (P1, intake 1 Apr) goes from engagement straight to termination on 10 Apr:
    # assessment and intervention skipped. G (P1, intake 1 Apr) starts engagement and
    # assessment on the same day and completes neither: its time in engagement runs to
    # the next start, 0 days, not to as_of (90 days).
    tables = toy_tables()
    tables["cases"] = pd.concat(
        [
            tables["cases"],
            pd.DataFrame(
                {
                    "case_id": ["F", "G"],
                    "placement_id": "P1",
                    "client_id": ["K6", "K7"],
                    "intake_date": "2024-04-01",
                }
            ),
        ],
        ignore_index=True,
    )
    tables["stages"] = pd.concat(
        [
            tables["stages"],
            pd.DataFrame(
                {
                    "case_id": ["F", "F", "G", "G"],
                    "stage": ["engagement", "termination", "engagement", "assessment"],
                    "started_on": ["2024-04-01", "2024-04-10", "2024-04-01", "2024-04-01"],
                }
            ),
        ],
        ignore_index=True,
    )
    p = stage_progress(load(tables), AS_OF).set_index("case_id")
    assert p.loc["F", "skipped_stages"] == "assessment|intervention"
    assert p.loc["F", "n_skipped"] == 2 and p.loc["F", "days_in_engagement"] == 9
    assert p.loc["G", "days_in_engagement"] == 0
    assert p.loc["G", "days_in_assessment"] == 90  # 1 Apr to 30 Jun, still open


def test_a_start_or_completion_on_as_of_counts():
    # As of 15 March: C's assessment starts and its engagement is completed that day,
    # and D's intake and engagement start are that day too.
    p = stage_progress(load(toy_tables()), "2024-03-15").set_index("case_id")
    assert p.loc["C", "furthest_stage"] == "assessment"
    assert p.loc["C", "completed_engagement"]
    assert p.loc["D", "furthest_stage"] == "engagement"


def test_furthest_stage_by_each_cases_own_cutoff(toy):
    # Per-case cutoffs (as the stage at exit uses closure dates): A 1 May (assessment,
    # position 2), C 20 April, the day its termination started (4), D 20 March
    # (engagement, 1); B 1 March, before its first stage: no row.
    cutoff = pd.Series(
        pd.to_datetime(["2024-05-01", "2024-04-20", "2024-03-20", "2024-03-01"]),
        index=["A", "C", "D", "B"],
    )
    f = furthest_stage(toy, cutoff).set_index("case_id")
    assert sorted(f.index) == ["A", "C", "D"]
    assert f.loc[["A", "C", "D"], "furthest_stage"].tolist() == [
        "assessment",
        "termination",
        "engagement",
    ]
    assert f.loc[["A", "C", "D"], "furthest_position"].tolist() == [2, 4, 1]
    # One date for all: as of 12 March, A is in assessment (from 10 Mar), B and C in
    # engagement; D (intake 15 Mar) has no stage yet.
    f = furthest_stage(toy, pd.Timestamp("2024-03-12")).set_index("case_id")
    assert f["furthest_stage"].sort_index().to_dict() == {
        "A": "assessment",
        "B": "engagement",
        "C": "engagement",
    }


def test_user_defined_stage_model_is_followed(toy):
    tables = toy_tables()
    tables["stages"]["stage"] = tables["stages"]["stage"].replace(
        {
            "engagement": "intake",
            "assessment": "plan",
            "intervention": "plan",
            "termination": "close",
        }
    )
    tables["stages"] = tables["stages"].drop_duplicates(["case_id", "stage"])
    cohort = load(tables, stage_model=["intake", "plan", "close"])
    f = stage_funnel(cohort, "2024-06-24")
    assert f["stage"].tolist() == ["intake", "plan", "close"]
    assert f["reached"].tolist() == [4, 3, 1]


def test_bad_arguments_are_clear(toy):
    with pytest.raises(CaseworkError, match="`as_of`.*required"):
        stage_funnel(toy, None)
    with pytest.raises(CaseworkError, match="YYYY-MM-DD"):
        stage_funnel(toy, "03/04/2024")
    with pytest.raises(CaseworkError, match="`by` must name columns"):
        stage_funnel(toy, AS_OF, by="planet")


@settings(max_examples=15, deadline=None)
@given(cohort_and_as_of())
def test_funnel_never_increases_and_counts_reconcile(drawn):
    cohort, as_of = drawn
    f = stage_funnel(cohort, as_of, by="site")
    for _, group in f.groupby("site"):
        assert (np.diff(group["reached"]) <= 0).all()
        assert (group["completed"] <= group["reached"]).all()
        assert (group["in_stage"] <= group["reached"]).all()
    parts = f[f["site"] != "All"].groupby("stage")["reached"].sum()
    whole = f[f["site"] == "All"].set_index("stage")["reached"]
    pd.testing.assert_series_equal(parts.sort_index(), whole.sort_index(), check_names=False)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_changes_nothing(seed):
    tables = synthetic.generate(5, seed=seed, mean_cases=4)
    rng = np.random.default_rng(seed)
    shuffled = {n: f.iloc[rng.permutation(len(f))] for n, f in tables.items()}
    a = stage_funnel(load(tables), "2025-01-01", by="term")
    b = stage_funnel(load(shuffled), "2025-01-01", by="term")
    pd.testing.assert_frame_equal(a, b)
