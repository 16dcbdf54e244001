"""Survival statistics against R's survival package (aml data), statsmodels,
and invariants.

Reference values (R 4.x, survival package):

    > fit <- survfit(Surv(time, status) ~ x, data = aml)       # conf.type = "log"
    > summary(fit)$table[, c("median", "0.95LCL", "0.95UCL")]
                    median 0.95LCL 0.95UCL
    x=Maintained        31      18      NA
    x=Nonmaintained     23       8      NA
    > summary(fit)   # x=Maintained
     time n.risk n.event survival std.err lower 95% CI upper 95% CI
        9     11       1    0.909  0.0867       0.7541        1.000
       13     10       1    0.818  0.1163       0.6192        1.000
       18      8       1    0.716  0.1397       0.4884        1.000
       23      7       1    0.614  0.1526       0.3769        0.999
       31      5       1    0.491  0.1642       0.2549        0.946
       34      4       1    0.368  0.1627       0.1549        0.875
       48      2       1    0.184  0.1535       0.0359        0.944
    > survfit(Surv(time, status) ~ 1, data = aml)    # median 27, LCL 18, UCL 45
    > survdiff(Surv(time, status) ~ x, data = aml)   # Chisq= 3.4 on 1 df, p= 0.07

The log-rank tests quote R 4.2.2 (Debian r-base-core 4.2.2) with survival
3.5.3 (r-cran-survival), run for them with each call shown beside its output;
some also quote lifelines 0.30.3 and scikit-survival 0.28.0, run in a separate
environment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.duration.survfunc import CumIncidenceRight, SurvfuncRight

from casework_analytics import CaseworkError
from casework_analytics.survival import (
    cumulative_incidence,
    kaplan_meier,
    logrank_test,
    survival_summary,
)

AML = pd.DataFrame(
    {
        "time": [
            9,
            13,
            13,
            18,
            23,
            28,
            31,
            34,
            45,
            48,
            161,
            5,
            5,
            8,
            8,
            12,
            16,
            23,
            27,
            30,
            33,
            43,
            45,
        ],
        "status": [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1],
        "x": ["Maintained"] * 11 + ["Nonmaintained"] * 12,
    }
)


def test_km_matches_r_survfit_for_aml():
    km = kaplan_meier(AML, duration="time", event="status", by="x", conf_type="log")
    m = km[(km["x"] == "Maintained") & (km["events"] > 0)]
    assert m["time_days"].tolist() == [9, 13, 18, 23, 31, 34, 48]
    assert m["at_risk"].tolist() == [11, 10, 8, 7, 5, 4, 2]
    np.testing.assert_allclose(
        m["survival"], [0.909, 0.818, 0.716, 0.614, 0.491, 0.368, 0.184], atol=5e-4
    )
    np.testing.assert_allclose(
        m["se"], [0.0867, 0.1163, 0.1397, 0.1526, 0.1642, 0.1627, 0.1535], atol=5e-5
    )
    np.testing.assert_allclose(
        m["ci_low"], [0.7541, 0.6192, 0.4884, 0.3769, 0.2549, 0.1549, 0.0359], atol=5e-5
    )
    np.testing.assert_allclose(m["ci_high"], [1, 1, 1, 0.999, 0.946, 0.875, 0.944], atol=5e-4)


def test_km_matches_statsmodels_and_counts_censoring():
    km = kaplan_meier(AML, duration="time", event="status", by="x")
    for group, rows in AML.groupby("x"):
        ref = SurvfuncRight(rows["time"], rows["status"])
        mine = km[(km["x"] == group) & (km["events"] > 0)]
        np.testing.assert_allclose(mine["survival"], ref.surv_prob)
        np.testing.assert_allclose(mine["se"], ref.surv_prob_se)
    whole = km[km["x"] == "All"]
    assert whole["events"].sum() == 18 and whole["censored"].sum() == 5
    assert whole["at_risk"].iloc[0] == 23


def test_median_and_interval_match_r():
    s = survival_summary(AML, duration="time", event="status", by="x", conf_type="log")
    s = s.set_index("x")
    assert s.loc["Maintained", ["median_days", "median_ci_low"]].tolist() == [31, 18]
    assert pd.isna(s.loc["Maintained", "median_ci_high"])
    assert s.loc["Nonmaintained", ["median_days", "median_ci_low"]].tolist() == [23, 8]
    assert s.loc["All", ["median_days", "median_ci_low", "median_ci_high"]].tolist() == [27, 18, 45]


def test_rmst_by_hand():
    # Maintained, tau = 48: 9*1 + 4*10/11 + 5*(10/11)(9/10) + 5*0.7159 + 8*0.6136
    # + 3*0.4909 + 14*0.3682 = 31.843 days.
    s = survival_summary(AML, duration="time", event="status", by="x", horizon=48)
    m = s.set_index("x").loc["Maintained"]
    expected = (
        9
        + 4 * 10 / 11
        + 5 * 9 / 11
        + 5 * (9 / 11) * (7 / 8)
        + 8 * (9 / 11) * (7 / 8) * (6 / 7)
        + 3 * (9 / 11) * (7 / 8) * (6 / 7) * (4 / 5)
        + 14 * (9 / 11) * (7 / 8) * (6 / 7) * (4 / 5) * (3 / 4)
    )
    assert m["rmst_days"] == pytest.approx(expected)
    assert m["rmst_ci_low"] < m["rmst_days"] < m["rmst_ci_high"]
    assert not m["horizon_beyond_followup"]
    assert s.set_index("x").loc["Nonmaintained", "horizon_beyond_followup"]


def test_logrank_matches_r_survdiff_for_aml():
    # R 4.2.2, survival 3.5.3, run for this test (print with digits = 12; the chi-square
    # and p-value printed with format(..., digits = 17)):
    #   > fit <- survdiff(Surv(time, status) ~ x, data = aml)
    #                    N Observed        Expected      (O-E)^2/E      (O-E)^2/V
    #   x=Maintained    11        7 10.689335992301 1.273343832946 3.396388698978
    #   x=Nonmaintained 12       11  7.310664007699 1.861828152648 3.396388698978
    #    Chisq= 3.4  on 1 degrees of freedom, p= 0.065339322041
    #   > fit$chisq; pchisq(fit$chisq, 1, lower.tail = FALSE)
    #   3.3963886989776011  0.065339322040505132
    # Also: lifelines multivariate_logrank_test 3.3963886989776024, p 0.0653393220405049;
    # scikit-survival compare_survival 3.396388698977602.
    r = logrank_test(AML, duration="time", event="status", group="x").iloc[0]
    assert r["chisq"] == pytest.approx(3.3963886989776011, abs=1e-12)
    assert r["p_value"] == pytest.approx(0.065339322040505132, rel=1e-11)
    assert r["df"] == 1 and r["n_groups"] == 2 and r["n"] == 23 and r["events"] == 18


def test_logrank_with_a_degenerate_group_matches_r():
    # aml plus a third group of seven early censorings, whose expected count is 0
    # (the case of survival's tests/difftest.R). R 4.2.2, survival 3.5.3:
    #   > aml3 <- rbind(aml, data.frame(time = c(1, 2, 2, 3, 3, 3, 4), status = 0,
    #   +                               x = "Dummy"))
    #   > fit <- survdiff(Surv(time, status) ~ x, data = aml3)
    #                    N Observed        Expected      (O-E)^2/E      (O-E)^2/V
    #   x=Maintained    11        7 10.689335992301 1.273343832946 3.396388698978
    #   x=Nonmaintained 12       11  7.310664007699 1.861828152648 3.396388698978
    #   x=Dummy          7        0  0.000000000000            NaN            NaN
    #    Chisq= 3.4  on 1 degrees of freedom, p= 0.065339322041
    #   > fit$chisq   # 3.3963886989776011
    # The same chi-square as aml, on 1 df: the dummy group adds no degree of
    # freedom. (lifelines reports 2 df here; scikit-survival raises LinAlgError.)
    dummy = pd.DataFrame({"time": [1, 2, 2, 3, 3, 3, 4], "status": 0, "x": "Dummy"})
    aml3 = pd.concat([AML, dummy], ignore_index=True)
    r = logrank_test(aml3, duration="time", event="status", group="x").iloc[0]
    assert r["chisq"] == pytest.approx(3.3963886989776011, abs=1e-12)
    assert r["df"] == 1 and r["n_groups"] == 3 and r["n"] == 30
    assert r["p_value"] == pytest.approx(0.065339322040505132, rel=1e-11)


def test_logrank_three_groups_matches_r():
    # R 4.2.2, survival 3.5.3:
    #   > aml$g <- rep(c("a", "b", "c"), 8)[1:23]
    #   > fit <- survdiff(Surv(time, status) ~ g, data = aml)
    #       N Observed       Expected        (O-E)^2/E        (O-E)^2/V
    #   g=a 8        8 6.171735662148 0.54159002783620 0.85057837179899
    #   g=b 8        6 7.264657446246 0.22015607317769 0.38036484996091
    #   g=c 7        4 4.563606891605 0.06960562901447 0.09810591125061
    #    Chisq= 0.9  on 2 degrees of freedom, p= 0.65165970861
    #   > fit$chisq; pchisq(fit$chisq, 2, lower.tail = FALSE)
    #   0.85646554523598306  0.65165970860648115
    # lifelines multivariate_logrank_test agrees: 0.8564655452359831, p 0.6516597086064811.
    data = AML.assign(g=np.tile(["a", "b", "c"], 8)[:23])
    r = logrank_test(data, duration="time", event="status", group="g").iloc[0]
    assert r["df"] == 2 and r["n_groups"] == 3
    assert r["chisq"] == pytest.approx(0.85646554523598306, abs=1e-12)
    assert r["p_value"] == pytest.approx(0.65165970860648115, rel=1e-11)


#: Seven clients in three groups, small enough to work the log-rank test by hand.
TINY_LOGRANK = pd.DataFrame(
    {
        "t": [14, 28, 7, 21, 28, 35, 14],
        "e": [1, 1, 1, 0, 1, 0, 1],
        "g": ["A", "A", "B", "B", "B", "C", "C"],
    }
)


def test_logrank_three_groups_by_hand_and_r():
    # By hand. Event times 7, 14 and 28 (21 and 35 are censorings):
    #   day  at risk (A, B, C)  n  d   w = d (n - d) / (n^2 (n - 1))
    #    7      2, 3, 2         7  1   1 * 6 / (49 * 6) = 1/49
    #   14      2, 2, 2         6  2   2 * 4 / (36 * 5) = 2/45
    #   28      1, 1, 1         3  2   2 * 1 / (9 * 2)  = 1/9
    # Observed: A 2 (days 14, 28), B 2 (7, 28), C 1 (14).
    # Expected E_g = sum d n_g / n: A = 2/7 + 4/6 + 2/3 = 34/21, B = 3/7 + 4/6 + 2/3
    # = 37/21, C = 34/21 (they add up to the 5 events). O - E: A 8/21, B 5/21.
    # V_gh = sum w n_g (n [g = h] - n_h):
    #   V_AA = 1/49 * 2 * 5 + 2/45 * 2 * 4 + 1/9 * 1 * 2 = 1724/2205
    #   V_BB = 1/49 * 3 * 4 + 2/45 * 2 * 4 + 1/9 * 1 * 2 = 1814/2205
    #   V_AB = -(1/49 * 2 * 3 + 2/45 * 2 * 2 + 1/9 * 1 * 1) = -907/2205
    # With the groups A and B (the third is determined by them):
    #   chisq = (u_A^2 V_BB - 2 u_A u_B V_AB + u_B^2 V_AA) / (V_AA V_BB - V_AB^2)
    #         = 55180/109747 = 0.50279278704657..., on 2 df: p = exp(-chisq / 2).
    # R 4.2.2, survival 3.5.3:
    #   > tiny <- data.frame(time = c(14, 28, 7, 21, 28, 35, 14),
    #   +                    status = c(1, 1, 1, 0, 1, 0, 1),
    #   +                    site = c("A", "A", "B", "B", "B", "C", "C"))
    #   > fit <- survdiff(Surv(time, status) ~ site, data = tiny)
    #          N Observed      Expected       (O-E)^2/E       (O-E)^2/V
    #   site=A 2        2 1.61904761905 0.0896358543417 0.1856148491879
    #   site=B 3        2 1.76190476190 0.0321750321750 0.0689084895259
    #   site=C 2        1 1.61904761905 0.2366946778711 0.4901392111369
    #    Chisq= 0.5  on 2 degrees of freedom, p= 0.7777140296
    #   > fit$chisq; pchisq(fit$chisq, 2, lower.tail = FALSE)
    #   0.50279278704657082  0.7777140296463062
    #   > fit$var * 2205
    #   [1,] 1724 -907 -817
    #   [2,] -907 1814 -907
    #   [3,] -817 -907 1724
    r = logrank_test(TINY_LOGRANK, duration="t", event="e", group="g").iloc[0]
    assert r["chisq"] == pytest.approx(55180 / 109747, abs=1e-12)
    assert r["chisq"] == pytest.approx(0.50279278704657082, abs=1e-12)
    assert r["p_value"] == pytest.approx(np.exp(-55180 / 109747 / 2), rel=1e-11)
    assert r["p_value"] == pytest.approx(0.7777140296463062, rel=1e-11)
    assert (r["df"], r["n"], r["events"], r["n_groups"]) == (2, 7, 5, 3)
    # The order of the rows and the names of the groups change nothing.
    shuffled = TINY_LOGRANK.iloc[::-1].replace({"g": {"A": "z", "C": "a"}})
    again = logrank_test(shuffled, duration="t", event="e", group="g").iloc[0]
    assert again["chisq"] == pytest.approx(55180 / 109747, abs=1e-12)


def test_logrank_never_fails_on_tiny_groups():
    # Group a: one client censored before the first event, so nobody of a is at risk at
    # any event time (R's "expected 0"): no variance, no degree of freedom. b, c and d
    # are at risk at the events on days 5, 6, 8 and 9: 3 groups, 2 df.
    data = pd.DataFrame(
        {"t": [1, 5, 6, 7, 8, 9, 20], "e": [0, 1, 1, 0, 1, 1, 1], "g": list("abbbccd")}
    )
    r = logrank_test(data, duration="t", event="e", group="g").iloc[0]
    assert r["df"] == 2 and r["n_groups"] == 4 and np.isfinite(r["chisq"])
    without_a = logrank_test(data[data["g"] != "a"], duration="t", event="e", group="g")
    assert r["chisq"] == pytest.approx(without_a["chisq"].iloc[0])
    # One group, or every event at one time with everyone at risk: nothing to test.
    alone = logrank_test(data.assign(g="x"), duration="t", event="e", group="g").iloc[0]
    assert pd.isna(alone["chisq"]) and alone["df"] == 0
    tied = pd.DataFrame({"t": [5, 5, 5], "e": [1, 1, 1], "g": list("xyz")})
    r = logrank_test(tied, duration="t", event="e", group="g").iloc[0]
    assert pd.isna(r["chisq"]) and r["df"] == 0


def test_median_follows_r_at_exactly_one_half():
    # R quantile.survfit: times 1, 2, 3, 4, all events -> S = .75, .5, .25, 0; S is
    # exactly 0.5 from day 2 to day 3, so the median is the midpoint, 2.5.
    four = pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 1, 1]})
    s = survival_summary(four, duration="t", event="e").iloc[0]
    assert s["median_days"] == 2.5
    # Events on days 14 and 21, censorings on 30 and 40: S(21) = 3/4 * 2/3, which
    # floating point stores as 0.5000000000000001; with R's tolerance the curve is
    # at 0.5 from day 21 to the end of follow-up (40): median (21 + 40) / 2 = 30.5.
    flat = pd.DataFrame({"t": [14, 21, 30, 40], "e": [1, 1, 0, 0]})
    assert survival_summary(flat, duration="t", event="e").iloc[0]["median_days"] == 30.5
    km = kaplan_meier(flat, duration="t", event="e")
    assert abs(km["survival"].iloc[1] - 0.5) < 1e-12


def test_rmst_horizon_before_the_first_time_and_default_for_groups():
    # Before a group's first time S = 1, so RMST up to tau = tau exactly.
    s = survival_summary(AML, duration="time", event="status", by="x", horizon=4)
    assert s["rmst_days"].tolist() == [4.0, 4.0, 4.0] and s["rmst_se"].tolist() == [0, 0, 0]
    # Default tau with groups: the smaller of the groups' largest times (survRM2),
    # Maintained 161, Nonmaintained 45 -> 45.
    s = survival_summary(AML, duration="time", event="status", by="x")
    assert s["horizon_days"].unique().tolist() == [45.0]
    assert not s["horizon_beyond_followup"].any()


def test_survival_at_a_horizon():
    from casework_analytics.survival import survival_at

    km = kaplan_meier(AML, duration="time", event="status", by="x", overall=False)
    at = survival_at(km, 20, group="x").set_index("x")
    # Maintained: S(18) = 9/11 * 7/8 (events 9, 13, 18; one censored at 13).
    assert at.loc["Maintained", "survival"] == pytest.approx(9 / 11 * 7 / 8)
    assert at.loc["Maintained", "at_risk"] == 7
    assert at.loc[:, "survival"].notna().all()
    # Past Maintained's last time (161, censored with S > 0) the survival is not
    # known; Nonmaintained's curve reached 0 at its last time (45), so it stays 0.
    late = survival_at(km, 200, group="x").set_index("x")
    assert pd.isna(late.loc["Maintained", "survival"])
    assert late.loc["Nonmaintained", "survival"] == 0
    assert survival_at(km, 1, group="x")["survival"].tolist() == [1.0, 1.0]


#: R 4.2.2, survival 3.5.3, the package's default interval (log-log), 95%:
#:   > s <- summary(survfit(Surv(time, status) ~ x, data = aml, conf.type = "log-log"))
#:   > data.frame(s$strata, s$time, s$n.risk, s$surv, s$lower, s$upper)
#: (the row at 45 has surv 0 and lower, upper NA).
AML_LOGLOG = {
    ("Maintained", 9): (11, 0.9090909090909091, 0.50808020576992974, 0.986673822667823),
    ("Maintained", 13): (10, 0.8181818181818181, 0.44742861468218142, 0.951162228582492),
    ("Maintained", 18): (8, 0.7159090909090908, 0.35019038590793838, 0.899023974191053),
    ("Maintained", 23): (7, 0.6136363636363635, 0.26575204000128611, 0.835299243250221),
    ("Maintained", 31): (5, 0.4909090909090909, 0.16733090977685081, 0.753399790370811),
    ("Maintained", 34): (4, 0.3681818181818182, 0.09282957493698518, 0.657040832398164),
    ("Maintained", 48): (2, 0.1840909090909091, 0.01173848012318960, 0.525014842726641),
    ("Nonmaintained", 5): (12, 0.8333333333333334, 0.48171494219537886, 0.955509365728065),
    ("Nonmaintained", 8): (10, 0.6666666666666667, 0.33701893254140197, 0.859711799084440),
    ("Nonmaintained", 12): (8, 0.5833333333333334, 0.27013892408549733, 0.800940192333387),
    ("Nonmaintained", 23): (6, 0.4861111111111112, 0.19187661961872829, 0.729671569779485),
    ("Nonmaintained", 27): (5, 0.3888888888888890, 0.12627201219539366, 0.649817408289315),
    ("Nonmaintained", 30): (4, 0.2916666666666667, 0.07240160890777184, 0.560886052671409),
    ("Nonmaintained", 33): (3, 0.1944444444444445, 0.03119864293121194, 0.461429476238114),
    ("Nonmaintained", 43): (2, 0.0972222222222222, 0.00574630569586383, 0.348903861110750),
}


def test_km_log_log_intervals_match_r():
    km = kaplan_meier(AML, duration="time", event="status", by="x", overall=False)
    events = km[km["events"] > 0].set_index(["x", "time_days"])
    for (group, day), (at_risk, survival, low, high) in AML_LOGLOG.items():
        row = events.loc[(group, day)]
        assert row["at_risk"] == at_risk, (group, day)
        assert row[["survival", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [survival, low, high], rel=1e-9
        ), (group, day)
    # S = 0 (Nonmaintained, day 45): no log-log interval, as R's NA.
    assert events.loc[("Nonmaintained", 45), "survival"] == 0
    assert events.loc[("Nonmaintained", 45), ["ci_low", "ci_high"]].isna().all()
    # At 90%, R: survfit(..., conf.type = "log-log", conf.int = 0.90):
    #   x=Maintained  9  0.610157457096859  0.981780712557400
    #   x=Maintained 13  0.525523549839500  0.939327339190272
    #   x=Maintained 18  0.417704095476987  0.879904440048019
    km90 = kaplan_meier(AML, duration="time", event="status", by="x", confidence=0.90)
    m = km90[(km90["x"] == "Maintained") & (km90["events"] > 0)].iloc[:3]
    np.testing.assert_allclose(
        m[["ci_low", "ci_high"]].to_numpy(),
        [
            [0.610157457096859, 0.981780712557400],
            [0.525523549839500, 0.939327339190272],
            [0.417704095476987, 0.879904440048019],
        ],
        rtol=1e-9,
    )


def test_km_interval_before_the_first_event_both_transforms():
    # A censoring before the first event: times 1 (censored), 2, 3 (events), 4
    # (censored). R 4.2.2, survival 3.5.3:
    #   > d <- data.frame(t = c(1, 2, 3, 4), e = c(0, 1, 1, 0))
    #   > summary(survfit(Surv(t, e) ~ 1, data = d, conf.type = ct), censored = TRUE)
    #   ct = "log":      1 4 1.0000000 1.00000000 1    (time n.risk surv lower upper)
    #                    2 3 0.6666667 0.29950713 1
    #                    3 2 0.3333333 0.06727839 1
    #   ct = "log-log":  1 4 1.0000000 NA NA
    #                    2 3 0.6666667 0.054073427 0.9452064
    #                    3 2 0.3333333 0.008961628 0.7741487
    # At S = 1 (no event yet) the Greenwood variance is 0: the package gives the
    # interval 1 to 1 under both transforms (R leaves it NA under log-log).
    data = pd.DataFrame({"t": [1, 2, 3, 4], "e": [0, 1, 1, 0]})
    expected = {
        "log": [[1, 1], [0.29950713, 1], [0.06727839, 1]],
        "log-log": [[1, 1], [0.054073427, 0.9452064], [0.008961628, 0.7741487]],
    }
    for conf_type, limits in expected.items():
        km = kaplan_meier(data, duration="t", event="e", conf_type=conf_type)
        assert km["survival"].tolist()[:3] == pytest.approx([1, 2 / 3, 1 / 3])
        np.testing.assert_allclose(km[["ci_low", "ci_high"]].to_numpy()[:3], limits, rtol=1e-6)


def test_survival_quantile_defaults_to_the_median_of_the_survival_column():
    # R: summary(survfit(Surv(time, status) ~ x, data = aml))$table[, "median"]:
    # Maintained 31, Nonmaintained 23 (the header of this file).
    from casework_analytics.survival import survival_quantile

    km = kaplan_meier(AML, duration="time", event="status", by="x", overall=False)
    assert survival_quantile(km, group="x").to_dict() == {"Maintained": 31, "Nonmaintained": 23}


def test_survival_at_an_event_day_matches_r_summary_times():
    # R 4.2.2, survival 3.5.3:
    #   > summary(survfit(Surv(time, status) ~ x, data = aml, conf.type = "log-log"),
    #   +         times = c(13, 34, 48))
    # gives at each time the number at risk then and the survival after that day's
    # events (the values of AML_LOGLOG at 13, 34 and 48 for Maintained, and for
    # Nonmaintained 7 at risk at 13 with S(12), 2 at risk at 34 with S(33)).
    from casework_analytics.survival import survival_at

    km = kaplan_meier(AML, duration="time", event="status", by="x", overall=False)
    for day, group, at_risk, event_day in (
        (13, "Maintained", 10, 13),
        (34, "Maintained", 4, 34),
        (48, "Maintained", 2, 48),
        (13, "Nonmaintained", 7, 12),
        (34, "Nonmaintained", 2, 33),
    ):
        at = survival_at(km, day, group="x").set_index("x").loc[group]
        _, survival, low, high = AML_LOGLOG[(group, event_day)]
        assert at["horizon_days"] == day and at["at_risk"] == at_risk, (day, group)
        assert at[["survival", "ci_low", "ci_high"]].tolist() == pytest.approx(
            [survival, low, high], rel=1e-9
        ), (day, group)
    # Ungrouped: the same numbers for one curve.
    one = kaplan_meier(AML[AML["x"] == "Maintained"], duration="time", event="status")
    at = survival_at(one, 13).iloc[0]
    assert (at["survival"], at["at_risk"]) == (pytest.approx(0.8181818181818181), 10)
    # Nonmaintained's curve reached 0 at 45: at 48 it stays 0, with nobody at risk.
    late = survival_at(km, 48, group="x").set_index("x").loc["Nonmaintained"]
    assert (late["survival"], late["at_risk"]) == (0, 0)
    # Maintained's last time is 161 (censored, S > 0): at 161 itself it is known.
    assert survival_at(km, 161, group="x").set_index("x").loc["Maintained", "survival"] > 0


def test_survival_at_after_a_curve_reached_zero_has_no_interval_of_one():
    from casework_analytics.survival import survival_at

    km = kaplan_meier(AML, duration="time", event="status", by="x", overall=False)
    late = survival_at(km, 48, group="x").set_index("x").loc["Nonmaintained"]
    assert late["survival"] == 0
    # R: summary(survfit(Surv(time, status) ~ x, aml), times = 48) gives NA limits.
    assert pd.isna(late["ci_low"]) and pd.isna(late["ci_high"])


def test_logrank_row_names_its_groups_and_refuses_none():
    two = logrank_test(AML.assign(y="k"), duration="time", event="status", group=["x", "y"])
    assert two.columns.tolist() == ["group", "chisq", "df", "p_value", "n", "events", "n_groups"]
    assert two["group"].iloc[0] == "x, y"
    assert two["chisq"].iloc[0] == pytest.approx(3.3963886989776011, abs=1e-12)
    nothing = logrank_test(AML.assign(x="one"), duration="time", event="status", group="x")
    assert pd.isna(nothing["p_value"].iloc[0]) and nothing["events"].iloc[0] == 18
    with pytest.raises(CaseworkError, match="`group` is required: name the column"):
        logrank_test(AML, duration="time", event="status", group=None)


def test_cumulative_incidence_matches_statsmodels_and_sums_to_one():
    rng = np.random.default_rng(7)
    time = rng.integers(1, 60, 80).astype(float)
    code = rng.choice([0, 1, 2, 3], 80)
    cause = pd.Series(
        np.array([None, "planned", "unplanned", "administrative"], dtype=object)[code]
    )
    data = pd.DataFrame({"t": time, "cause": cause})
    ci = cumulative_incidence(data, duration="t", cause="cause")
    ref = CumIncidenceRight(time, code)
    for j, name in enumerate(["planned", "unplanned", "administrative"]):
        mine = ci[ci["cause"] == name].set_index("time_days")["cumulative_incidence"]
        np.testing.assert_allclose(mine.reindex(ref.times), ref.cinc[j], atol=1e-12)
    total = ci.groupby("time_days")["cumulative_incidence"].sum()
    km = kaplan_meier(data.assign(e=data["cause"].notna()), duration="t", event="e")
    np.testing.assert_allclose(total.to_numpy() + km["survival"].to_numpy(), 1.0)


def test_bad_input_is_clear():
    with pytest.raises(CaseworkError, match="`conf_type` must be one of"):
        kaplan_meier(AML, duration="time", event="status", conf_type="arcsine")
    with pytest.raises(CaseworkError, match="not in the data"):
        kaplan_meier(AML, duration="days", event="status")
    with pytest.raises(CaseworkError, match="negative durations"):
        kaplan_meier(AML.assign(time=-AML["time"]), duration="time", event="status")


survival_data = st.lists(
    st.tuples(st.integers(0, 100), st.booleans(), st.sampled_from(["a", "b"])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(survival_data, st.integers(1, 50), st.randoms(use_true_random=False))
def test_km_invariants(rows, shift, rnd):
    data = pd.DataFrame(rows, columns=["t", "e", "g"])
    km = kaplan_meier(data, duration="t", event="e", by="g")
    for _, curve in km.groupby("g"):
        s = curve["survival"].to_numpy()
        assert ((s >= 0) & (s <= 1)).all() and (np.diff(s) <= 1e-12).all()
        assert curve["events"].sum() + curve["censored"].sum() == curve["at_risk"].iloc[0]
    shuffled = data.sample(frac=1, random_state=rnd.randrange(2**32))
    pd.testing.assert_frame_equal(km, kaplan_meier(shuffled, duration="t", event="e", by="g"))
    moved = kaplan_meier(data.assign(t=data["t"] + shift), duration="t", event="e", by="g")
    np.testing.assert_allclose(moved["time_days"] - shift, km["time_days"])
    np.testing.assert_allclose(moved["survival"], km["survival"])


def test_at_risk_table_counts_by_hand():
    from casework_analytics.survival import at_risk_table

    km = kaplan_meier(AML, duration="time", event="status", by="x", overall=False)
    table = at_risk_table(km, [0, 20, 50], group="x").set_index(["x", "time_days"])
    # Maintained: 11 at day 0; at day 20, times >= 20 are 23, 28, 31, 34, 45, 48, 161 -> 7,
    # after events at 9, 13, 18 and one censoring at 13; at day 50 only 161 remains.
    m = table.loc["Maintained"]
    assert m["at_risk"].tolist() == [11, 7, 1]
    assert m["events_before"].tolist() == [0, 3, 7]
    assert m["censored_before"].tolist() == [0, 1, 3]
    assert table.loc[("Nonmaintained", 50.0), "at_risk"] == 0


def test_summary_counts_excluded_rows_per_group():
    # By hand: group a has 3 rows, one without a duration; group b has 4
    # rows, two without an event flag. All: 3 excluded of 7.
    data = pd.DataFrame(
        {
            "g": ["a", "a", "a", "b", "b", "b", "b"],
            "days": [5.0, np.nan, 9.0, 2.0, 4.0, 6.0, 8.0],
            "event": [True, True, False, True, None, None, False],
        }
    )
    table = survival_summary(data, duration="days", event="event", by="g").set_index("g")
    assert table.loc[["a", "b", "All"], "n_excluded"].tolist() == [1, 2, 3]
    assert table.loc[["a", "b", "All"], "n"].tolist() == [2, 2, 4]
