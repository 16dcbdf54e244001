"""Recovery headlines, sensitivity, survival curves and log-rank tests.

Headline numbers are worked out by hand on the cohort of ``monitoring.py``
(end of observation 31 May 2024). The survival outcomes are checked on a
public follow-up dataset converted into the data contract: R's ``lung``
data (North Central Cancer Treatment Group; 228 patients, days to death),
as shipped with lifelines (``lifelines/datasets/lung.csv``, commit
ad023a0), copied to ``tests/data/lung.csv``. Each patient becomes a case
with weekly negative screens and a final screen on the day of the event
(positive) or of censoring (negative), so the time to first positive is the
published survival time. Reference values were computed outside this
package, in a separate environment with lifelines 0.30.3 and
scikit-survival 0.28.0 (and R 4.2.2 with survival 3.5.3: see the log-rank
tests)::

    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test
    from sksurv.compare import compare_survival
    lung = pd.read_csv("tests/data/lung.csv")
    KaplanMeierFitter().fit(lung["time"], lung["status"]).survival_function_
    sub = lung.dropna(subset=["ph.ecog"])
    multivariate_logrank_test(sub["time"], sub["ph.ecog"], sub["status"]).test_statistic
    # 21.962131682474777 on 3 df (lifelines); 21.962131682474265 (scikit-survival)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from monitoring import AS_OF, hand_cohort
from statsmodels.stats.proportion import proportion_confint

from casework_analytics import CaseworkError, load
from casework_analytics.recovery import (
    HEADLINE_METRICS,
    recovery_headline,
    recovery_logrank,
    recovery_sensitivity,
    recovery_survival,
    retention_by_intake_month,
)
from casework_analytics.timelines import RecoveryDefinition, recovery_outcomes

LUNG = pd.read_csv(Path(__file__).parent / "data" / "lung.csv")
#: lifelines KaplanMeierFitter survival of the lung data at these days.
LUNG_KM = {
    5: 0.9956140350877193,
    11: 0.9824561403508766,
    53: 0.9429824561403503,
    107: 0.850699509484481,
    180: 0.7216706534097623,
    285: 0.553073380810907,
    371: 0.39664957447667715,
    524: 0.26319030204884347,
    765: 0.08810474412391821,
    883: 0.050345568070810406,
}
LUNG_LOGRANK = 21.962131682474777  # lifelines multivariate_logrank_test, 3 df


@pytest.fixture(scope="module")
def cohort():
    return hand_cohort()


def test_headline_by_hand(cohort):
    h = recovery_headline(cohort, AS_OF).set_index("metric")
    assert h.index.tolist() == list(HEADLINE_METRICS)
    # Eligible for 90-day retention: intake by 2 March, so every case but H8 (8).
    # Retained: attended on or after day 90 with no dropout before it (H1 day 149,
    # H2 day 90, H5 day 145). H10 died on day 60: monitoring ended, not retained.
    assert h.loc["retention", ["numerator", "denominator", "horizon_days"]].tolist() == [3, 8, 90]
    low, high = proportion_confint(3, 8, method="wilson")
    assert h.loc["retention", ["ci_low", "ci_high"]].tolist() == pytest.approx([low, high])
    # KM of dropout over the 8 monitored cases: H6 at day 0 (8 at risk), H8 censored
    # at 8, H3 at day 14 (6 at risk), H4 at day 30 (5 at risk), the rest censored later:
    # S(90) = 7/8 * 5/6 * 4/5 = 7/12.
    assert h.loc["retention_km", "estimate"] == pytest.approx(7 / 12)
    assert h.loc["retention_km", "denominator"] == 8
    # Sustained abstinence: H1, H2, H3, H4, H10 of the 8 monitored.
    assert h.loc["sustained_abstinence", ["numerator", "denominator"]].tolist() == [5, 8]
    # Not relapsed is a share of those 5: H1 (day 31) and H4 (day 29) relapsed.
    assert h.loc["not_relapsed", ["numerator", "denominator"]].tolist() == [3, 5]
    # Relapse times from sustained abstinence: H4 7 (event), H1 8 (event), H10 35,
    # H2 66, H3 105 (censored): S(90) = 4/5 * 3/4 = 0.6.
    assert h.loc["not_relapsed_km", "estimate"] == pytest.approx(0.6)
    assert h.loc["not_relapsed_km", ["denominator", "horizon_days"]].tolist() == [5, 90]
    assert pd.isna(h.loc["not_relapsed_km", "numerator"])


def test_not_relapsed_uses_a_fixed_window(cohort):
    # Sustained abstinence reached on day 23 (H1), 24 (H2), 42 (H3), 22 (H4), 21 (H10);
    # relapse 8 days after it for H1 (day 31) and 7 days after for H4 (day 29).
    # A 120-day window needs sustained abstinence by day 151 - 120 = 31: H3 is left out
    # (not yet followed long enough), H1 and H4 relapsed within it: 2 of 4.
    h = recovery_headline(
        cohort, AS_OF, definition=RecoveryDefinition(relapse_horizon_days=120)
    ).set_index("metric")
    assert h.loc["not_relapsed", ["numerator", "denominator", "horizon_days"]].tolist() == [
        2,
        4,
        120,
    ]
    # A 7-day window: all five are followed long enough; only H4 relapsed within 7 days.
    h = recovery_headline(
        cohort, AS_OF, definition=RecoveryDefinition(relapse_horizon_days=7)
    ).set_index("metric")
    assert h.loc["not_relapsed", ["numerator", "denominator"]].tolist() == [4, 5]


def test_grouped_headline_by_hand(cohort):
    # P1 holds H1-H4, P2 holds H5-H8 and H10 (site S1 and S2). S1: all four reached
    # sustained abstinence, H1 and H4 relapsed.
    h = recovery_headline(cohort, AS_OF, by="site").set_index(["site", "metric"])
    assert h.loc[("S1", "not_relapsed"), ["numerator", "denominator"]].tolist() == [2, 4]
    assert h.loc[("S2", "not_relapsed"), ["numerator", "denominator"]].tolist() == [1, 1]
    assert h.loc[("S2", "sustained_abstinence"), ["numerator", "denominator"]].tolist() == [1, 4]
    assert h.loc[("S1", "retention"), ["numerator", "denominator"]].tolist() == [2, 4]
    assert h.loc[("All", "not_relapsed"), ["numerator", "denominator"]].tolist() == [3, 5]
    # S2 dropout: H6 at day 0 of 4 monitored (H5, H6, H8, H10): S(90) = 3/4.
    assert h.loc[("S2", "retention_km"), "estimate"] == pytest.approx(3 / 4)
    # S2's only sustained client (H10) is censored at day 35 < 90: not estimable.
    assert pd.isna(h.loc[("S2", "not_relapsed_km"), "estimate"])
    assert h.index.get_level_values("site")[-1] == "All"


def test_grouped_headline_estimates_whole_cohort_km_rows_and_confidence(cohort):
    h = recovery_headline(cohort, AS_OF, by="site").set_index(["site", "metric"])
    # S2's one relapse-eligible client (H10) did not relapse: 1 of 1 is an estimate.
    assert h.loc[("S2", "not_relapsed"), "estimate"] == 1.0
    # The whole cohort's Kaplan-Meier rows in a grouped table are those of the
    # ungrouped one (test_headline_by_hand): S(90) of dropout 7/12, of relapse 0.6.
    assert h.loc[("All", "retention_km"), "estimate"] == pytest.approx(7 / 12)
    assert h.loc[("All", "not_relapsed_km"), "estimate"] == pytest.approx(0.6)
    assert (h["missing_as"] == "positive").all()
    # Wilson limits at 90%: S1 retention 2 of 4, against statsmodels.
    h90 = recovery_headline(cohort, AS_OF, by="site", confidence=0.90)
    h90 = h90.set_index(["site", "metric"])
    low, high = proportion_confint(2, 4, alpha=0.10, method="wilson")
    assert h90.loc[("S1", "retention"), ["ci_low", "ci_high"]].tolist() == pytest.approx(
        [low, high]
    )


def test_headline_boundaries_count_on_the_day():
    # Two more clients at P1 (site S1), end of observation 31 May (monitoring.py):
    # H11: intake 2 March, exactly 90 days before 31 May: eligible for retention. Weekly
    #   negative screens on days 0..84 and on day 90 (31 May): its last attended visit
    #   is on day 90 itself: retained. Sustained on day 21 (fourth negative week); 21 +
    #   90 > 90 days followed: not yet eligible for the not-relapsed window.
    # H12: intake 1 January; positive screens on days 5, 12, 19, 26, 33 (weeks 0-4),
    #   negative ones on days 40, 47, ..., 145: sustained on day 61 (week 8, the fourth
    #   negative week); 61 + 90 = 151 = the days followed: eligible on the last day,
    #   and not relapsed.
    extra = pd.DataFrame(
        {
            "case_id": ["H11", "H12"],
            "placement_id": "P1",
            "client_id": ["K11", "K12"],
            "intake_date": ["2024-03-02", "2024-01-01"],
        }
    )
    visits = [("H11", "2024-03-02", d, "negative") for d in [*range(0, 85, 7), 90]]
    visits += [("H12", "2024-01-01", d, "positive") for d in range(5, 34, 7)]
    visits += [("H12", "2024-01-01", d, "negative") for d in range(40, 146, 7)]
    h = recovery_headline(hand_cohort(extra, visits), AS_OF).set_index("metric")
    # Retention: the 8 eligible of test_headline_by_hand and both: 10; retained H1, H2,
    # H5, H11 (on day 90) and H12 (day 145): 5. Sustained: 5 of 8 monitored plus both:
    # 7 of 10. Not relapsed: 3 of 5 plus H12: 4 of 6.
    assert h.loc["retention", ["numerator", "denominator"]].tolist() == [5, 10]
    assert h.loc["sustained_abstinence", ["numerator", "denominator"]].tolist() == [7, 10]
    assert h.loc["not_relapsed", ["numerator", "denominator"]].tolist() == [4, 6]


def test_sensitivity_to_missing_visits(cohort):
    s = recovery_sensitivity(cohort, AS_OF).set_index("metric")
    # Ignoring missed and unrecorded weeks, H4 no longer relapses: 3/5 -> 4/5.
    assert s.loc["not_relapsed", ["estimate_positive", "estimate_ignore"]].tolist() == (
        pytest.approx([3 / 5, 4 / 5])
    )
    assert s.loc["not_relapsed", "difference"] == pytest.approx(0.2)
    assert s.loc["retention", "difference"] == 0 and s.loc["retention_km", "difference"] == 0


def test_survival_curves_have_the_four_outcomes(cohort):
    km = recovery_survival(cohort, AS_OF)
    assert sorted(km["outcome"].unique()) == ["dropout", "first_positive", "relapse", "sustained"]
    relapse = km[km["outcome"] == "relapse"]
    # Five clients reached sustained abstinence; relapse times run from that day.
    assert relapse["at_risk"].iloc[0] == 5 and relapse["time_days"].tolist() == [7, 8, 35, 66, 105]


def _lung_source(data):
    """The lung data as casework: weekly negative screens, a final screen on the day."""
    data = data.reset_index(drop=True)
    n = len(data)
    ids = [f"L{i:03d}" for i in range(n)]
    intake = pd.Timestamp("2023-01-02") + pd.to_timedelta(np.arange(n) % 5, unit="D")
    weeks = (data["time"].to_numpy() - 1) // 7 + 1  # weekly screens strictly before the event
    case = np.repeat(np.arange(n), weeks)
    step = np.arange(weeks.sum()) - np.repeat(np.cumsum(weeks) - weeks, weeks)
    weekly = pd.DataFrame({"case": case, "day": 7 * step, "result": "negative"})
    final = pd.DataFrame(
        {
            "case": np.arange(n),
            "day": data["time"].to_numpy(),
            "result": np.where(data["status"] == 1, "positive", "negative"),
        }
    )
    visits = pd.concat([weekly, final], ignore_index=True)
    groups = data["ph.ecog"].astype("Int64").astype("string").fillna("unknown")
    return {
        "placements": pd.DataFrame(
            {
                "placement_id": [f"E{g}" for g in sorted(groups.unique())],
                "site": [f"ECOG {g}" for g in sorted(groups.unique())],
                "caseworker_id": "W",
                "start_date": "2023-01-01",
                "end_date": "2023-03-31",
            }
        ),
        "cases": pd.DataFrame(
            {
                "case_id": ids,
                "placement_id": "E" + groups,
                "client_id": ids,
                "intake_date": intake.strftime("%Y-%m-%d"),
                "monitoring_end_date": (
                    intake + pd.to_timedelta(data["time"].to_numpy(), unit="D")
                ).strftime("%Y-%m-%d"),
            }
        ),
        "stages": pd.DataFrame({"case_id": ids, "stage": "engagement", "started_on": intake}),
        "visits": pd.DataFrame(
            {
                "case_id": np.asarray(ids)[visits["case"]],
                "visit_date": (
                    intake[visits["case"]] + pd.to_timedelta(visits["day"].to_numpy(), unit="D")
                ).strftime("%Y-%m-%d"),
                "attended": True,
                "test_result": visits["result"],
            }
        ),
    }


@pytest.fixture(scope="module")
def lung():
    cohort = load(_lung_source(LUNG))
    assert not cohort.has_errors and cohort.counts["accepted"].sum() > 10_000
    return cohort


def test_public_dataset_time_to_first_positive_matches_lifelines(lung):
    km = recovery_survival(lung, "2026-01-01")
    first = km[km["outcome"] == "first_positive"].set_index("time_days")
    assert first["at_risk"].iloc[0] == 228 and first["events"].sum() == 165
    for day, value in LUNG_KM.items():
        assert first.loc[day, "survival"] == pytest.approx(value, abs=1e-6)


def test_public_dataset_logrank_matches_r_lifelines_and_scikit_survival():
    # Four ECOG groups. R 4.2.2, survival 3.5.3, on this very file (status 0/1):
    #   > lung2 <- read.csv("tests/data/lung.csv")
    #   > fit <- survdiff(Surv(time, status) ~ ph.ecog, data = lung2)
    #   n=227, 1 observation deleted due to missingness.
    #               N Observed        Expected        (O-E)^2/E         (O-E)^2/V
    #   ph.ecog=0  63       37 54.152697018923  5.4330630092192  8.21194401832231
    #   ph.ecog=1 113       82 83.527564575082  0.0279363290779  0.05729906727945
    #   ph.ecog=2  50       44 26.147353065330 12.1892645032806 14.64910216684177
    #   ph.ecog=3   1        1  0.172385340665  3.9733426386729  4.00399552865228
    #    Chisq= 22  on 3 degrees of freedom, p= 6.6425353558e-05
    #   > fit$chisq; pchisq(fit$chisq, 3, lower.tail = FALSE)
    #   21.962131682476006  6.6425353558001711e-05
    # The one patient without ph.ecog is left out, as R does.
    cohort = load(_lung_source(LUNG.dropna(subset=["ph.ecog"])))
    r = recovery_logrank(cohort, "2026-01-01", "site").set_index("outcome")
    assert r.loc["first_positive", "chisq"] == pytest.approx(21.962131682476006, abs=1e-9)
    assert r.loc["first_positive", "chisq"] == pytest.approx(LUNG_LOGRANK, abs=1e-9)
    assert r.loc["first_positive", "df"] == 3 and r.loc["first_positive", "n"] == 227
    assert r.loc["first_positive", "events"] == 164 and r.loc["first_positive", "n_groups"] == 4
    assert r.loc["first_positive", "p_value"] == pytest.approx(6.6425353558001711e-05, rel=1e-9)


def _three_site_cohort():
    """Seven clients at three sites, intake Monday 1 January 2024, one screen a week
    (days 0, 7, 14, ...), every visit attended, monitoring planned to end on the day of
    the last screen (so no gap ever opens a dropout):

    a1 (site A)  N N P            a2 (A)  N N N N P
    b1 (B)       N P              b2 (B)  N N N N         b3 (B)  N N N N P
    c1 (C)       N N N N N N      c2 (C)  N N P
    """
    n, p = "negative", "positive"
    plan = {
        "a1": ("A", [n, n, p]),
        "a2": ("A", [n, n, n, n, p]),
        "b1": ("B", [n, p]),
        "b2": ("B", [n, n, n, n]),
        "b3": ("B", [n, n, n, n, p]),
        "c1": ("C", [n] * 6),
        "c2": ("C", [n, n, p]),
    }
    day = [f"2024-01-{1 + 7 * k:02d}" for k in range(5)] + ["2024-02-05"]
    cases = pd.DataFrame(
        {
            "case_id": list(plan),
            "placement_id": ["P" + site for site, _ in plan.values()],
            "client_id": ["K" + case for case in plan],
            "intake_date": "2024-01-01",
            "monitoring_end_date": [day[len(screens) - 1] for _, screens in plan.values()],
        }
    )
    visits = pd.DataFrame(
        [
            (case, day[k], True, result)
            for case, (_, screens) in plan.items()
            for k, result in enumerate(screens)
        ],
        columns=["case_id", "visit_date", "attended", "test_result"],
    )
    placements = pd.DataFrame(
        {
            "placement_id": ["PA", "PB", "PC"],
            "site": ["A", "B", "C"],
            "caseworker_id": "W",
            "start_date": "2024-01-01",
            "end_date": "2024-06-30",
        }
    )
    stages = pd.DataFrame(
        {"case_id": list(plan), "stage": "engagement", "started_on": "2024-01-01"}
    )
    cohort = load({"placements": placements, "cases": cases, "stages": stages, "visits": visits})
    assert not cohort.has_errors, cohort.problems
    return cohort


def test_logrank_on_three_sites_by_hand_and_r():
    r = recovery_logrank(_three_site_cohort(), "2024-03-31", "site").set_index("outcome")
    assert r.index.tolist() == ["dropout", "first_positive", "sustained", "relapse"]
    assert (r["group"] == "site").all() and (r["n_groups"] == 3).all()
    # First positive, from intake: a1 14, a2 28, b1 7, c2 14, b3 28 (events); b2 censored
    # on its last screen, day 21, and c1 on day 35. Worked by hand in
    # tests/test_survival.py::test_logrank_three_groups_by_hand_and_r (the same times):
    # chisq = 55180/109747 on 2 df. R 4.2.2, survival 3.5.3:
    #   > survdiff(Surv(time, status) ~ site, data = data.frame(
    #   +   time = c(14, 28, 7, 21, 28, 35, 14), status = c(1, 1, 1, 0, 1, 0, 1),
    #   +   site = c("A", "A", "B", "B", "B", "C", "C")))
    #    Chisq= 0.5  on 2 degrees of freedom, p= 0.7777140296
    #   (fit$chisq = 0.50279278704657082, p = 0.7777140296463062)
    first = r.loc["first_positive"]
    assert (first["n"], first["events"], first["df"]) == (7, 5, 2)
    assert first["chisq"] == pytest.approx(55180 / 109747, abs=1e-12)
    assert first["p_value"] == pytest.approx(0.7777140296463062, rel=1e-11)
    # Relapse, from the day sustained abstinence was reached (the fourth negative
    # week: day 21 for a2, b2, b3 and c1; the others never reached it and are left
    # out): a2 and b3 relapse 7 days later; b2 is censored at 0 (its last screen is the
    # day it was reached), c1 at 35 - 21 = 14. One event time, day 7: at risk a2, b3, c1
    # (one per site), n = 3, d = 2. E = 2/3 each; O - E = (1/3, 1/3, -2/3);
    # w = 2 * 1 / (9 * 2) = 1/9, V_gg = 1/9 * 1 * 2 = 2/9, V_gh = -1/9. With A and B:
    # V^-1 = 27 * [[2/9, 1/9], [1/9, 2/9]] = [[6, 3], [3, 6]], chisq = (1/9) * (6 + 3 +
    # 3 + 6) = 2 on 2 df, p = exp(-1). R 4.2.2, survival 3.5.3:
    #   > survdiff(Surv(time, status) ~ site, data = data.frame(time = c(7, 0, 7, 14),
    #   +   status = c(1, 0, 1, 0), site = c("A", "B", "B", "C")))
    #          N Observed       Expected      (O-E)^2/E (O-E)^2/V
    #   site=A 1        1 0.666666666667 0.166666666667       0.5
    #   site=B 2        1 0.666666666667 0.166666666667       0.5
    #   site=C 1        0 0.666666666667 0.666666666667       2.0
    #    Chisq= 2  on 2 degrees of freedom, p= 0.3678794412
    relapse = r.loc["relapse"]
    assert (relapse["n"], relapse["events"], relapse["df"]) == (4, 2, 2)
    assert relapse["chisq"] == pytest.approx(2.0, abs=1e-12)
    assert relapse["p_value"] == pytest.approx(np.exp(-1), rel=1e-11)
    # Sustained abstinence: one event time, day 21, and all four at risk then (a2, b2,
    # b3, c1) reach it: d = n, so w = 0 and there is no variance: nothing to test.
    # (R stops here: survdiff on these times fails with "Lapack routine dgesv: system
    # is exactly singular".) Dropout: nobody drops out (no missed visit, no gap).
    for outcome, events in (("sustained", 4), ("dropout", 0)):
        row = r.loc[outcome]
        assert (row["n"], row["events"], row["df"]) == (7, events, 0), outcome
        assert pd.isna(row["chisq"]) and pd.isna(row["p_value"]), outcome


def test_logrank_follows_the_definition_and_needs_groups():
    # With 8 negative weeks needed, nobody of the three-site cohort reaches sustained
    # abstinence (c1's 6 negative weeks are the longest run): 7 followed, no event; and
    # so no one can relapse (n 0). First positive does not depend on it: as before.
    cohort = _three_site_cohort()
    r = recovery_logrank(
        cohort, "2024-03-31", "site", definition=RecoveryDefinition(sustained_weeks=8)
    ).set_index("outcome")
    assert (r.loc["sustained", "n"], r.loc["sustained", "events"]) == (7, 0)
    assert (r.loc["relapse", "n"], r.loc["relapse", "events"]) == (0, 0)
    assert r.loc["first_positive", "chisq"] == pytest.approx(55180 / 109747, abs=1e-12)
    with pytest.raises(CaseworkError, match="`by` is required: name the column"):
        recovery_logrank(cohort, "2024-03-31", None)


def test_definition_object_flows_through(cohort):
    d = RecoveryDefinition(sustained_weeks=8)
    h = recovery_headline(cohort, AS_OF, definition=d).set_index("metric")
    # Eight negative weeks in a row: H1 (weeks 5-21), H2 (0-12), H3 (3-21), H10 (0-8);
    # not H4 (weeks 0-3 only).
    assert h.loc["sustained_abstinence", ["numerator", "denominator"]].tolist() == [4, 8]
    o = recovery_outcomes(cohort, AS_OF, definition=d).set_index("case_id")
    assert o.loc["H1", "sustained_day"] == 86  # week 12: 37 + 7 * 7 = 86


def test_retention_by_intake_month_by_hand(cohort):
    t = retention_by_intake_month(cohort, AS_OF, weeks=26)
    wide = t.pivot(index="intake_month", columns="week", values="share")
    n = t.drop_duplicates("intake_month").set_index("intake_month")["n"]
    # January: the 7 monitored clients (H7 never came). Last attended visit before
    # any dropout: H1 149, H2 90, H3 7 (dropout at the missed visits of days 14, 17),
    # H4 22, H5 145, H10 56; H6 never attended. May: H8 alone, last attended day 8.
    assert n.to_dict() == {"2024-01": 7, "2024-05": 1}
    jan = wide.loc["2024-01"]
    assert jan[[0, 1, 2, 4, 12, 13, 21]].tolist() == pytest.approx(
        [6 / 7, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7]
    )
    # 1 Jan to 31 May is 151 days, 21 whole weeks: weeks 22 to 25 are not yet known.
    assert jan[list(range(22, 26))].isna().all()
    # 20 to 31 May is 11 days: weeks 0 and 1 only.
    may = wide.loc["2024-05"]
    assert may[[0, 1]].tolist() == [1.0, 1.0] and may[list(range(2, 26))].isna().all()
