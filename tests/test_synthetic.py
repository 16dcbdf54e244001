"""The generator: deterministic, realistic defaults, and what it must contain."""

from __future__ import annotations

import pandas as pd

from casework_analytics import load, synthetic


def test_same_seed_same_cohort_other_seed_other_cohort(generated):
    again = synthetic.generate(seed=0)
    for name in generated:
        pd.testing.assert_frame_equal(generated[name], again[name])
    other = synthetic.generate(seed=1)
    assert not generated["visits"].equals(other["visits"])


def test_defaults_are_a_realistic_program(generated):
    placements, cases = generated["placements"], generated["cases"]
    assert len(placements) >= 30
    assert placements["site"].nunique() >= 6
    assert placements["term"].nunique() >= 3
    assert 150 <= len(cases) <= 300


def test_contains_attrition_missed_sessions_and_closure_reasons(generated):
    stages = generated["stages"]
    per_stage = stages.groupby("stage")["case_id"].nunique()
    assert per_stage["engagement"] > per_stage["assessment"] > per_stage["termination"]
    status = generated["sessions"]["status"].value_counts()
    assert status["missed_client"] > 0 and status["missed_worker"] > 0
    assert generated["sessions"]["missed_reason"].str.contains("jadwal tidak cocok").any()
    reasons = generated["cases"]["closure_reason"].dropna()
    for text in (
        "jadwal tidak cocok",
        "masa PKL berakhir sebelum tujuan tercapai",
        "ditahan polisi",
        "meninggal dunia",
    ):
        assert (reasons == text).any(), text
    assert generated["cases"]["closed_date"].isna().any()  # some still open


def test_monitoring_has_lapses_relapses_and_missed_visits(generated):
    visits = generated["visits"].sort_values(["case_id", "visit_date"])
    assert (~visits["attended"]).any()
    neg = (visits["test_result"] == "negative").astype(int)
    # A positive after four straight negatives exists (a relapse under the default k=4).
    run = neg.groupby((neg == 0).cumsum()).cumsum()
    previous_run = run.groupby(visits["case_id"]).shift(1)
    relapse = (visits["test_result"] == "positive") & (previous_run >= 4)
    assert relapse.any()


def test_generated_cohort_is_valid(generated):
    cohort = load(generated)
    assert not cohort.has_errors
    assert (cohort.problems["severity"] == "error").sum() == 0


def test_bundled_sample_is_the_default_generator_output():
    sample = load("data/sample")
    fresh = load(synthetic.generate(seed=0))
    for name in ("cases", "visits"):
        pd.testing.assert_frame_equal(sample.table(name), fresh.table(name))


def test_bundled_example_is_the_documented_case():
    cohort = load("data/example")
    placement = cohort.placements.iloc[0]
    assert placement["site"] == "BNNK Tebing Tinggi"
    assert (placement["start_date"], placement["end_date"]) == (
        pd.Timestamp("2024-03-18"),
        pd.Timestamp("2024-06-03"),
    )
    assert cohort.cases["client_id"].tolist() == ["RO"]
    assert cohort.stages["stage"].tolist() == [
        "engagement",
        "assessment",
        "intervention",
        "termination",
    ]
    assert (cohort.sessions["status"] == "missed_client").sum() == 4
    assert len(cohort.problems) == 0
