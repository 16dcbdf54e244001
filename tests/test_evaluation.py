"""Program evaluation on the cohort: metrics per case, funnel comparisons,
Cox models and trends, against counts made with plain pandas and the
generator's planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy import AS_OF as TOY_AS_OF
from toy import toy_tables

from casework_analytics import CaseworkError, load, synthetic
from casework_analytics.evaluation import (
    METRICS,
    case_metrics,
    compare_groups,
    hazard_ratios,
    outcome_times,
    term_trend,
)
from casework_analytics.recovery import recovery_headline

AS_OF = "2025-04-15"


@pytest.fixture(scope="module")
def sample():
    return load("data/sample")


def test_metrics_have_the_headline_denominators(sample):
    m = case_metrics(sample, AS_OF)
    h = recovery_headline(sample, AS_OF).set_index("metric")
    for metric in ("retention", "sustained_abstinence", "not_relapsed"):
        values = m[metric].dropna()
        assert len(values) == h.loc[metric, "denominator"], metric
        assert values.sum() == h.loc[metric, "numerator"], metric
    # Planned completion, counted with plain pandas from the CSV and the taxonomy.
    cases = pd.read_csv("data/sample/cases.csv", parse_dates=["closed_date"])
    closed = cases["closed_date"] <= AS_OF
    assert m["planned_completion"].notna().sum() == closed.sum()


def test_the_planted_outlier_and_no_other_is_flagged(sample):
    # synthetic.generate makes the last site (BNNK Sibolga) a true outlier: its cases
    # are much less likely to progress through the stages, so fewer complete.
    funnel, models = compare_groups(
        sample, AS_OF, "site", metrics=["planned_completion"], adjust="default"
    )
    for adjusted in (False, True):
        rows = funnel[funnel["adjusted"] == adjusted]
        flagged = rows.loc[rows["flag"] != "within", ["site", "flag"]].values.tolist()
        assert flagged == [["BNNK Sibolga", "below"]], adjusted
    assert set(models["metric"]) == {"planned_completion"} and models["n_dropped"].eq(0).all()


def test_unadjusted_counts_by_hand(sample):
    funnel, _ = compare_groups(sample, AS_OF, "site", metrics=["planned_completion"])
    cases = pd.read_csv("data/sample/cases.csv", parse_dates=["closed_date"])
    placements = pd.read_csv("data/sample/placements.csv")
    closed = cases[cases["closed_date"] <= AS_OF].merge(placements, on="placement_id")
    from casework_analytics.closures import classify_exit_reasons, exit_taxonomy

    kind = exit_taxonomy().set_index("code")["exit_type"]
    closed["planned"] = classify_exit_reasons(closed["closure_reason"]).map(kind) == "planned"
    by_hand = closed.groupby("site").agg(n=("planned", "size"), observed=("planned", "sum"))
    got = funnel.set_index("site")[["n", "observed"]]
    pd.testing.assert_frame_equal(
        got.sort_index(), by_hand.sort_index(), check_dtype=False, check_index_type=False
    )
    assert funnel["target"].iloc[0] == pytest.approx(by_hand["observed"].sum() / by_hand["n"].sum())


def test_cox_model_on_site_and_case_mix(sample):
    model, check = hazard_ratios(sample, AS_OF, outcome="unplanned_exit", by="site")
    assert {"site", "assist_risk"} <= set(model["covariate"])
    assert (model["hazard_ratio"] > 0).all() and check["term"].iloc[-1] == "GLOBAL"
    n_cases = len(pd.read_csv("data/sample/cases.csv"))
    assert model["n"].iloc[0] == n_cases  # every case, censored unless it ended unplanned
    with pytest.raises(CaseworkError, match="`outcome` must be one of"):
        hazard_ratios(sample, AS_OF, outcome="death")


def test_unplanned_exit_times_by_hand():
    toy = load(toy_tables())
    t = outcome_times(toy, TOY_AS_OF).set_index("case_id")
    # A: intake 1 Mar, closed 1 May for a scheduling conflict (unplanned): 61 days, event.
    # C: completed on 30 Apr (planned): censored at 51 days. B: open, censored at
    # as_of 30 Jun: 117 days. D: transferred (administrative) after 5 days: censored.
    assert t.loc["A", ["unplanned_exit_time", "unplanned_exit_observed"]].tolist() == [61, True]
    assert t.loc["C", ["unplanned_exit_time", "unplanned_exit_observed"]].tolist() == [51, False]
    assert t.loc["B", ["unplanned_exit_time", "unplanned_exit_observed"]].tolist() == [117, False]
    assert t.loc["D", ["unplanned_exit_time", "unplanned_exit_observed"]].tolist() == [5, False]


def test_trend_over_terms_by_hand(sample):
    trend = term_trend(sample, AS_OF, "planned_completion")
    cases = pd.read_csv("data/sample/cases.csv", parse_dates=["closed_date"])
    placements = pd.read_csv("data/sample/placements.csv")
    closed = cases[cases["closed_date"] <= AS_OF].merge(placements, on="placement_id")
    assert trend["n"].tolist() == closed.groupby("term").size().tolist()
    assert trend["term"].tolist() == sorted(placements["term"].unique())
    assert trend["trend_p_value"].nunique() == 1 and 0 <= trend["trend_p_value"].iloc[0] <= 1


def test_metrics_are_checked(sample):
    with pytest.raises(CaseworkError, match="`metrics` must be among"):
        compare_groups(sample, AS_OF, "site", metrics=["happiness"])
    with pytest.raises(CaseworkError, match="`by` is required"):
        compare_groups(sample, AS_OF, None)
    assert set(METRICS) <= set(case_metrics(sample, AS_OF).columns)


def test_a_site_that_differs_only_in_case_mix_is_flagged_only_unadjusted():
    # In the generator high ASSIST risk lowers the chance of progressing, the same at
    # every site (no planted outlier here). Keeping every high-risk case at BNNK Medan
    # but only one in ten elsewhere gives Medan a worse case mix and nothing else.
    tables = synthetic.generate(480, seed=5, outlier=False)
    cases, placements = tables["cases"], tables["placements"]
    site = cases["placement_id"].map(placements.set_index("placement_id")["site"])
    rng = np.random.default_rng(1)
    high = cases["assist_risk"] == "high"
    keep = (site == "BNNK Medan") | ~high | (rng.random(len(cases)) < 0.1)
    keep &= (site != "BNNK Medan") | high | (rng.random(len(cases)) < 0.2)
    kept = set(cases.loc[keep, "case_id"])
    tables = {
        name: frame[frame["case_id"].isin(kept)] if "case_id" in frame else frame
        for name, frame in tables.items()
    }
    cohort = load(tables)
    funnel, _ = compare_groups(
        cohort, AS_OF, "site", metrics=["planned_completion"], adjust=["assist_risk"]
    )
    plain = funnel[~funnel["adjusted"]].set_index("site")["flag"]
    adjusted = funnel[funnel["adjusted"]].set_index("site")["flag"]
    assert plain[plain != "within"].to_dict() == {"BNNK Medan": "below"}
    assert (adjusted == "within").all()
