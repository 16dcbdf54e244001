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
from casework_analytics.stages import stage_funnel, stage_progress


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
