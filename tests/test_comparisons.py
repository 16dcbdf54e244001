"""Fair comparisons of groups against numbers worked out independently.

Sources of the reference values (each test says which it uses):

- Funnel limits, z-scores, φ and τ²: worked by hand from the formulas of
  Spiegelhalter (2005, Stat Med 24:1185, appendix) and Spiegelhalter (2005,
  Qual Saf Health Care 14:347); the arithmetic is in the comments.
- Cox regression on the Rossi recidivism data (``tests/data/rossi.csv``, see
  ``tests/data/README.md``): J. Fox, "Cox Proportional-Hazards Regression for
  Survival Data", appendix to An R and S-PLUS Companion to Applied Regression
  (2002), and J. Fox & S. Weisberg, the same appendix to An R Companion to
  Applied Regression, 2nd ed. (2011). R calls and output pasted below.
- Cochran–Armitage: Agresti, Categorical Data Analysis (2nd ed., 2002), the
  maternal alcohol consumption and infant malformation table (§3.4), worked
  by hand below.
- Indirect standardisation: a frame generated here with a known truth.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from casework_analytics import CaseworkError, plots
from casework_analytics.comparisons import (
    age_band,
    c_statistic,
    case_mix_model,
    cochran_armitage,
    cox_model,
    dispersion_test,
    funnel_limits,
    funnel_table,
    proportional_hazards_test,
    trend_table,
)
from casework_analytics.intervals import wilson_interval

ROSSI = pd.read_csv(Path(__file__).parent / "data" / "rossi.csv")


# --------------------------------------------------------------------------
# Funnel limits by hand
# --------------------------------------------------------------------------


def test_binomial_limits_by_hand_small_n():
    """n = 10, θ = 0.5. Binomial(10, 0.5) distribution function, in 1024ths:
    F(0) = 1, F(1) = 11, F(2) = 56, F(7) = 968, F(8) = 1013.

    95% lower, p = 0.025: r_p = 2 (F(1) = 0.010742 < p <= F(2) = 0.054688),
      α = (56 - 25.6) / 45 = 0.675556, limit (2 - 0.675556) / 10 = 0.132444.
    95% upper, p = 0.975: r_p = 8 (F(7) = 0.945313 < p <= F(8) = 0.989258),
      α = (1013 - 998.4) / 45 = 0.324444, limit (8 + 1 - 0.324444) / 10 = 0.867556
      (= 1 - the lower limit: the distribution is symmetric).
    99.8% lower, p = 0.001: r_p = 1 (F(0) = 0.000977 < p <= F(1)),
      α = (11 - 1.024) / 10 = 0.9976, limit (1 - 0.9976) / 10 = 0.00024.
    """
    limits = funnel_limits(0.5, [10]).iloc[0]
    assert limits["lower_95"] == pytest.approx((2 - (56 - 25.6) / 45) / 10, abs=1e-12)
    assert limits["lower_95"] == pytest.approx(0.132444, abs=1e-6)
    assert limits["upper_95"] == pytest.approx((9 - (1013 - 998.4) / 45) / 10, abs=1e-12)
    assert limits["upper_95"] == pytest.approx(0.867556, abs=1e-6)
    assert limits["lower_998"] == pytest.approx((1 - (11 - 1.024) / 10) / 10, abs=1e-12)
    assert limits["upper_998"] == pytest.approx(1 - 0.00024, abs=1e-9)


def _quantile_limit(target, n, p, upper):
    """The interpolation written out again from the definition, without ``ppf``."""
    counts = np.arange(n + 1)
    cdf = np.cumsum(stats.binom.pmf(counts, n, target))
    r = int(np.argmax(cdf >= p - 1e-15))
    previous = cdf[r - 1] if r > 0 else 0.0
    alpha = (cdf[r] - p) / (cdf[r] - previous)
    return (r + 1 - alpha) / n if upper else (r - alpha) / n


def test_binomial_limits_large_n_against_the_definition_and_the_normal():
    """n = 1000, θ = 0.3: the same interpolation by an explicit search of the
    distribution function; and within 1.5 cases of the normal approximation
    θ ± z sqrt(θ(1 - θ)/n). The gap is half a case of continuity (the
    interpolation spreads each count over a unit interval, outwards) plus the
    skewness of Binomial(1000, 0.3): the Cornish–Fisher term
    (z² - 1)/6 · γ · σ with γ = 0.4/14.49 and σ = 14.49 is 0.19 cases at 95%
    and 0.57 at 99.8%, so about 1.07 cases for the upper 99.8% limit."""
    limits = funnel_limits(0.3, [1000]).iloc[0]
    for level, name in [(0.95, "95"), (0.998, "998")]:
        low_p, high_p = (1 - level) / 2, (1 + level) / 2
        assert limits[f"lower_{name}"] == pytest.approx(
            _quantile_limit(0.3, 1000, low_p, upper=False), abs=1e-9
        )
        assert limits[f"upper_{name}"] == pytest.approx(
            _quantile_limit(0.3, 1000, high_p, upper=True), abs=1e-9
        )
        half = stats.norm.ppf(high_p) * np.sqrt(0.3 * 0.7 / 1000)
        assert abs(limits[f"lower_{name}"] - (0.3 - half)) < 1.5 / 1000
        assert abs(limits[f"upper_{name}"] - (0.3 + half)) < 1.5 / 1000


def test_poisson_ratio_limits_by_hand():
    """E = 5.5, target O/E = 1: Poisson(5.5), P(0) = e^-5.5 = 0.0040868,
    P(1) = 5.5 e^-5.5 = 0.0224772, F(1) = 0.0265640.
    95% lower, p = 0.025: r_p = 1, α = (0.0265640 - 0.025) / 0.0224772 = 0.069582,
    limit (1 - 0.069582) / 5.5 = 0.169167."""
    p0 = np.exp(-5.5)
    p1 = 5.5 * p0
    alpha = (p0 + p1 - 0.025) / p1
    limits = funnel_limits(1.0, [5.5], kind="ratio").iloc[0]
    assert limits["lower_95"] == pytest.approx((1 - alpha) / 5.5, abs=1e-12)
    assert limits["lower_95"] == pytest.approx(0.169167, abs=1e-6)
    # With a target of 2 the count is Poisson(11): the limit scales with the mean.
    doubled = funnel_limits(2.0, [5.5], kind="ratio").iloc[0]
    f = stats.poisson(11).cdf
    r = 5  # F(4) = 0.0151 < 0.025 <= F(5) = 0.0375
    assert f(4) < 0.025 <= f(5)
    assert doubled["lower_95"] == pytest.approx((r - (f(5) - 0.025) / (f(5) - f(4))) / 5.5)


def test_upper_limit_mirrors_the_lower_limit_of_the_other_outcome():
    """Recoding the outcome (completed -> not completed) mirrors the funnel:
    upper(θ) = 1 - lower(1 - θ), with Spiegelhalter's formula on the lower tail."""
    n = np.arange(1, 120)
    for target in (0.03, 0.2, 0.5, 0.77, 0.999):
        this = funnel_limits(target, n)
        other = funnel_limits(1 - target, n)
        for name in ("95", "998"):
            np.testing.assert_allclose(this[f"upper_{name}"], 1 - other[f"lower_{name}"], atol=1e-9)


def test_a_single_case_at_100_percent_is_not_an_outlier():
    """With (r_p - α)/n also on the upper tail, n = 1 and θ = 0.5 would give an
    upper 99.8% limit of 1 - 0.001/0.5 = 0.998, flagging every single case with
    the outcome; here the limit is 1 and the case is within."""
    limits = funnel_limits(0.5, [1]).iloc[0]
    assert limits["upper_998"] == 1.0
    assert limits["upper_95"] == 1.0
    assert limits["lower_998"] == 0.0


def test_groups_at_0_and_100_percent_and_n_1_give_no_nan_and_no_warning():
    """Target 0.5 given. 0/10: P(X <= 0) = 1/1024 < 0.001, so below the 99.8%
    limit; 10/10 likewise above; 0/1 and 1/1 are within (P = 0.5). 9/10 is
    above the 95% limit (P(X >= 9) = 11/1024 = 0.0107 < 0.025) but flags use
    the 99.8% limits, so it is within."""
    frame = pd.DataFrame(
        {
            "site": ["zero10"] * 10 + ["all10"] * 10 + ["one_no", "one_yes"] + ["nine10"] * 10,
            "done": [0] * 10 + [1] * 10 + [0, 1] + [1] * 9 + [0],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = funnel_table(frame, outcome="done", by="site", target=0.5, overdispersion="none")
    table = result.table.set_index("site")
    assert table.loc["zero10", "flag"] == "below"
    assert table.loc["all10", "flag"] == "above"
    assert table.loc["one_no", "flag"] == "within"
    assert table.loc["one_yes", "flag"] == "within"
    assert table.loc["nine10", "value"] > table.loc["nine10", "upper_95"]
    assert table.loc["nine10", "flag"] == "within"
    numbers = table.select_dtypes("number")
    assert not numbers.isna().any().any()
    # The z-score of 10/10: (arcsin(1) - arcsin(sqrt(0.5))) / (1 / (2 sqrt(10))) = (π/4) 2 sqrt(10)
    assert table.loc["all10", "z"] == pytest.approx(np.pi / 4 * 2 * np.sqrt(10))


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_target_0_or_1_gives_degenerate_but_ordered_limits(target):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        limits = funnel_limits(target, [1, 2, 50])
        frame = pd.DataFrame({"site": list("aabbb"), "done": [int(target)] * 5})
        result = funnel_table(frame, outcome="done", by="site")
    for name in ("95", "998"):
        assert (limits[f"lower_{name}"] <= target).all()
        assert (limits[f"upper_{name}"] >= target).all()
    assert result.target == target
    assert (result.table["flag"] == "within").all()
    assert not result.table[["value", "z", "lower_998", "upper_998"]].isna().any().any()


def test_widened_limits_by_hand():
    """Target 0.5, n = 100: y0 = arcsin(sqrt(0.5)) = π/4, s = 1/(2·10) = 0.05.
    Multiplicative, φ = 4: half-width 1.959964 · 2 · 0.05 = 0.1959964.
    Additive, τ² = 0.0075: half-width 1.959964 · sqrt(0.0025 + 0.0075) = 0.1959964.
    sin²(π/4 ± d) = (1 ± sin 2d)/2, sin 0.3919928 = 0.3919928 - 0.0100388 + 0.0000771
    - 0.0000003 = 0.3820308, so 0.6910154 and 0.3089846 in both cases."""
    for kwargs in (
        {"overdispersion": "multiplicative", "phi": 4.0},
        {"overdispersion": "additive", "tau2": 0.0075},
    ):
        row = funnel_limits(0.5, [100], **kwargs).iloc[0]
        assert row["upper_95"] == pytest.approx(0.6910154, abs=1e-7)
        assert row["lower_95"] == pytest.approx(0.3089846, abs=1e-7)
    # φ below 1 never narrows the limits (max(φ, 1)).
    narrow = funnel_limits(0.5, [100], overdispersion="multiplicative", phi=0.25).iloc[0]
    plain = funnel_limits(0.5, [100], overdispersion="multiplicative", phi=1.0).iloc[0]
    assert narrow["upper_95"] == plain["upper_95"]


# --------------------------------------------------------------------------
# Overdispersion by hand
# --------------------------------------------------------------------------

# Ten ratio units with perfect squares, so z = 2(sqrt(O) - sqrt(E)) is whole:
UNITS_E = np.array([4, 9, 16, 25, 36, 49, 64, 81, 100, 121], dtype=float)
UNITS_O = np.array([0, 9, 25, 16, 49, 36, 64, 144, 81, 144], dtype=float)
UNITS_Z = [-4, 0, 2, -2, 2, -2, 0, 6, -2, 2]


def test_phi_and_tau2_by_hand():
    """Sorted z: -4, -2, -2, -2, 0, 0, 2, 2, 2, 6.
    10% quantile (type 7): h = 9 · 0.1 = 0.9, -4 + 0.9 · 2 = -2.2;
    90%: h = 8.1, 2 + 0.1 · 4 = 2.4. Winsorised: -4 -> -2.2, 6 -> 2.4.
    Σ z_w² = 4.84 + 3·4 + 0 + 0 + 3·4 + 5.76 = 34.6, so φ = 3.46, Iφ = 34.6 on 9 df.
    w = 1/s² = 4E = 16, 36, 64, 100, 144, 196, 256, 324, 400, 484: Σw = 2020,
    Σw² = 639568, Σw²/Σw = 316.617822;
    τ² = (34.6 - 9) / (2020 - 316.617822) = 25.6 / 1703.382178 = 0.0150289."""
    result = dispersion_test(UNITS_O, UNITS_E, kind="ratio", target=1.0)
    np.testing.assert_allclose(result.z, UNITS_Z, atol=1e-12)
    assert result.z_winsorised.min() == pytest.approx(-2.2)
    assert result.z_winsorised.max() == pytest.approx(2.4)
    assert result.phi == pytest.approx(3.46)
    assert result.chisq == pytest.approx(34.6)
    assert result.df == 9
    assert result.p_value == pytest.approx(stats.chi2.sf(34.6, 9))
    assert result.tau2 == pytest.approx(25.6 / (2020 - 639568 / 2020))
    assert result.tau2 == pytest.approx(0.0150289, abs=1e-7)


def test_proportion_z_score_by_hand():
    """75 of 100 against 0.5: arcsin(sqrt(0.75)) = π/3, arcsin(sqrt(0.5)) = π/4,
    s = 0.05, z = (π/12) / 0.05 = 5.235988."""
    result = dispersion_test([75, 50], [100, 100], target=0.5)
    np.testing.assert_allclose(result.z, [np.pi / 12 / 0.05, 0.0], atol=1e-12)


def _ratio_frame():
    """The ten hand-worked units as per-case rows, each case's expected
    probability E / n with n = 200 cases per unit."""
    rows = []
    for unit, (e, o) in enumerate(zip(UNITS_E, UNITS_O, strict=True)):
        rows.append(
            pd.DataFrame(
                {
                    "site": f"u{unit:02d}",
                    "done": np.r_[np.ones(int(o)), np.zeros(200 - int(o))],
                    "p": e / 200,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_auto_widens_with_tau2_only_when_the_test_says_overdispersed():
    frame = _ratio_frame()
    auto = funnel_table(frame, outcome="done", by="site", expected="p")
    assert auto.kind == "ratio" and auto.adjusted
    np.testing.assert_allclose(auto.table["expected"], UNITS_E)
    np.testing.assert_allclose(auto.table["z"], UNITS_Z, atol=1e-9)
    assert auto.dispersion.p_value < 0.05
    assert auto.widening == "additive"
    tau2 = 25.6 / (2020 - 639568 / 2020)
    np.testing.assert_allclose(auto.table["tau2"], tau2)
    expected = funnel_limits(1.0, UNITS_E, kind="ratio", overdispersion="additive", tau2=tau2)
    np.testing.assert_allclose(auto.table["upper_998"], expected["upper_998"])
    # z adjusted: z s / sqrt(s² + τ²) with s = 1/(2 sqrt(E)); unit u07 (E = 81, z = 6):
    s = 1 / 18
    assert auto.table["z_adjusted"].iloc[7] == pytest.approx(6 * s / np.sqrt(s**2 + tau2))
    # Asked for none: the limits are exact, but φ, τ² and the test are still reported.
    plain = funnel_table(frame, outcome="done", by="site", expected="p", overdispersion="none")
    assert plain.widening == "none"
    assert plain.table["phi"].iloc[0] == pytest.approx(3.46)
    assert bool(plain.table["overdispersed"].iloc[0])
    exact = funnel_limits(1.0, UNITS_E, kind="ratio")
    np.testing.assert_allclose(plain.table["lower_95"], exact["lower_95"])
    # Multiplicative: z / sqrt(φ).
    mult = funnel_table(
        frame, outcome="done", by="site", expected="p", overdispersion="multiplicative"
    )
    np.testing.assert_allclose(mult.table["z_adjusted"], np.array(UNITS_Z) / np.sqrt(3.46))


def test_auto_keeps_exact_limits_without_overdispersion():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"site": np.repeat([f"s{i}" for i in range(10)], 80), "done": rng.random(800) < 0.4}
    )
    result = funnel_table(frame, outcome="done", by="site")
    assert result.dispersion.p_value > 0.05
    assert result.widening == "none"
    exact = funnel_limits(result.target, result.table["n"])
    np.testing.assert_allclose(result.table["upper_998"], exact["upper_998"])
    # The pooled rate is the default target.
    assert result.target == pytest.approx(frame["done"].mean())


# --------------------------------------------------------------------------
# Funnel table: layout, missing values and errors
# --------------------------------------------------------------------------


def test_funnel_table_columns_and_missing_outcomes():
    frame = pd.DataFrame(
        {
            "site": ["A", "A", "B", "B", None, "A"],
            "term": ["1", "1", "1", "2", "2", "2"],
            "done": [1, 0, 1, np.nan, 1, True],
        }
    )
    result = funnel_table(frame, outcome="done", by=["site", "term"], metric="completion")
    table = result.table
    assert list(table.columns[:3]) == ["site", "term", "metric"]
    assert [
        "n", "observed", "expected", "target", "value", "z", "z_adjusted", "lower_95", "upper_95",
        "lower_998", "upper_998", "flag", "kind", "widening", "phi", "tau2", "dispersion_p",
        "overdispersed",
    ] == list(table.columns[3:])  # fmt: skip
    assert table[["site", "term"]].values.tolist() == [
        ["(missing)", "2"],
        ["A", "1"],
        ["A", "2"],
        ["B", "1"],
    ]
    assert table["n"].tolist() == [1, 2, 1, 1]
    assert result.n_excluded == 1
    # The default target is the pooled rate, 4 of 5 cases, not the mean of the
    # group rates (1 + 1/2 + 1 + 1)/4 = 0.875.
    assert result.target == pytest.approx(0.8)
    assert (table["target"] == 0.8).all()
    assert (table["metric"] == "completion").all()
    assert "completion" in result._repr_html_()


def test_funnel_errors_name_the_parameter():
    frame = pd.DataFrame({"site": ["A", "B"], "done": [0, 2]})
    with pytest.raises(CaseworkError, match="`done`"):
        funnel_table(frame, outcome="done", by="site")
    frame["done"] = [0, 1]
    with pytest.raises(CaseworkError, match="`overdispersion`.*'sometimes'"):
        funnel_table(frame, outcome="done", by="site", overdispersion="sometimes")
    with pytest.raises(CaseworkError, match="`by` is required"):
        funnel_table(frame, outcome="done", by=None)
    with pytest.raises(CaseworkError, match="`kind`"):
        funnel_limits(0.5, [10], kind="rate")
    with pytest.raises(CaseworkError, match="`levels`"):
        funnel_limits(0.5, [10], levels=(0.95, 1.0))
    with pytest.raises(CaseworkError, match="whole numbers"):
        funnel_limits(0.5, [0])
    with pytest.raises(CaseworkError, match="`target`"):
        funnel_limits(1.5, [10])


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    target=st.floats(0.0, 1.0),
    n=st.lists(st.integers(1, 3000), min_size=2, max_size=30, unique=True),
)
def test_limits_bracket_the_target_and_widen_as_n_falls(target, n):
    n = np.sort(np.array(n))[::-1]  # falling n
    limits = funnel_limits(target, n)
    for name in ("95", "998"):
        low, high = limits[f"lower_{name}"].to_numpy(), limits[f"upper_{name}"].to_numpy()
        assert (low <= target + 1e-12).all() and (high >= target - 1e-12).all()
        assert (np.diff(low) <= 1e-12).all()
        assert (np.diff(high) >= -1e-12).all()
    assert (limits["lower_998"] <= limits["lower_95"]).all()
    assert (limits["upper_998"] >= limits["upper_95"]).all()


@settings(max_examples=60, deadline=None)
@given(
    target=st.floats(0.05, 5.0),
    e=st.lists(st.floats(0.1, 500.0), min_size=2, max_size=20, unique=True),
    tau2=st.floats(0.0, 0.5),
    method=st.sampled_from(["none", "additive", "multiplicative"]),
)
def test_ratio_limits_bracket_the_target_and_widen_as_e_falls(target, e, tau2, method):
    e = np.sort(np.array(e))[::-1]
    limits = funnel_limits(target, e, kind="ratio", overdispersion=method, phi=1 + tau2, tau2=tau2)
    for name in ("95", "998"):
        low, high = limits[f"lower_{name}"].to_numpy(), limits[f"upper_{name}"].to_numpy()
        assert (low <= target * (1 + 1e-12)).all() and (high >= target * (1 - 1e-12)).all()
        assert (np.diff(low) <= 1e-9).all() and (np.diff(high) >= -1e-9).all()


@settings(max_examples=80, deadline=None)
@given(target=st.floats(0.01, 0.99), n=st.integers(1, 200), data=st.data())
def test_each_flag_is_an_exact_one_sided_test(target, n, data):
    """Above the 99.8% limit exactly when P(X >= O) < 0.001, below exactly when
    P(X <= O) < 0.001, X ~ Binomial(n, target)."""
    observed = data.draw(st.integers(0, n))
    upper_tail = stats.binom.sf(observed - 1, n, target)
    lower_tail = stats.binom.cdf(observed, n, target)
    assume(abs(upper_tail - 0.001) > 1e-9 and abs(lower_tail - 0.001) > 1e-9)
    limits = funnel_limits(target, [n]).iloc[0]
    assert (observed / n > limits["upper_998"]) == (upper_tail < 0.001)
    assert (observed / n < limits["lower_998"]) == (lower_tail < 0.001)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), method=st.sampled_from(["auto", "none", "additive"]))
def test_row_order_changes_nothing(seed, method):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(20, 300))
    frame = pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c", "d", "e", "f"], size),
            "done": (rng.random(size) < rng.uniform(0.05, 0.95)).astype(int),
            "p": rng.uniform(0.05, 0.95, size),
        }
    )
    shuffled = frame.sample(frac=1, random_state=seed)
    for expected in (None, "p"):
        a = funnel_table(frame, outcome="done", by="site", expected=expected, overdispersion=method)
        b = funnel_table(
            shuffled, outcome="done", by="site", expected=expected, overdispersion=method
        )
        pd.testing.assert_frame_equal(a.table, b.table, check_exact=False, rtol=1e-12)


# --------------------------------------------------------------------------
# Indirect standardisation
# --------------------------------------------------------------------------

TRUE_P = {"low": 0.8, "moderate": 0.5, "high": 0.2}


def _case_mix_frame(seed: int, site_7_odds: float) -> pd.DataFrame:
    """Eight sites of 400 cases. The chance of completing depends on ASSIST
    risk only (low 0.8, moderate 0.5, high 0.2), except that site_7's odds are
    multiplied by ``site_7_odds``. site_0 takes mostly high-risk clients (90%),
    the others an even mix: site_0 differs only in case mix."""
    rng = np.random.default_rng(seed)
    site = np.repeat([f"site_{i}" for i in range(8)], 400)
    u = rng.random(len(site))
    mostly_high = np.where(u < 0.9, "high", np.where(u < 0.95, "moderate", "low"))
    even = np.array(["low", "moderate", "high"])[rng.integers(0, 3, len(site))]
    risk = np.where(site == "site_0", mostly_high, even)
    p = pd.Series(risk).map(TRUE_P).to_numpy()
    odds = p / (1 - p) * np.where(site == "site_7", site_7_odds, 1.0)
    done = rng.random(len(site)) < odds / (1 + odds)
    return pd.DataFrame({"site": site, "assist_risk": risk, "completed": done.astype(int)})


def test_a_site_that_differs_only_in_case_mix_is_flagged_unadjusted_but_not_adjusted():
    """site_0's crude completion is about 0.9·0.2 + 0.05·0.5 + 0.05·0.8 = 0.245
    against a pooled rate near 0.47: below the 99.8% limit. Its O/E against
    the case-mix model is about 1: within. site_7 really does worse (odds × 0.3)
    and stays below after adjustment. Limits are exact here (overdispersion
    "none") so that the test is about case mix only."""
    frame = _case_mix_frame(seed=20250101, site_7_odds=0.3)
    crude = funnel_table(frame, outcome="completed", by="site", overdispersion="none")
    crude = crude.table.set_index("site")
    model = case_mix_model(frame, outcome="completed", covariates=["assist_risk"])
    adjusted = funnel_table(
        frame.assign(expected=model.expected),
        outcome="completed",
        by="site",
        expected="expected",
        overdispersion="none",
    ).table.set_index("site")
    assert crude.loc["site_0", "flag"] == "below"
    assert adjusted.loc["site_0", "flag"] == "within"
    assert adjusted.loc["site_0", "value"] == pytest.approx(1.0, abs=0.2)
    assert crude.loc["site_7", "flag"] == "below"
    assert adjusted.loc["site_7", "flag"] == "below"
    assert (adjusted.drop(["site_0", "site_7"])["flag"] == "within").all()
    # Expected counts are sums of fitted probabilities; all sum to the observed total.
    assert adjusted["expected"].sum() == pytest.approx(frame["completed"].sum())
    assert adjusted.loc["site_0", "expected"] == pytest.approx(
        model.expected[frame["site"] == "site_0"].sum()
    )


def test_case_mix_model_recovers_the_odds_ratios():
    """Without a site effect the true odds ratios against high risk (the most
    frequent level, so the reference) are (0.8/0.2)/(0.2/0.8) = 16 for low and
    (0.5/0.5)/(0.2/0.8) = 4 for moderate."""
    frame = _case_mix_frame(seed=7, site_7_odds=1.0)
    model = case_mix_model(frame, outcome="completed", covariates=["assist_risk"])
    table = model.table.set_index("term")
    assert list(model.table.columns) == [
        "term", "covariate", "level", "reference", "odds_ratio", "ci_low", "ci_high", "p_value",
        "n", "n_dropped", "c_statistic",
    ]  # fmt: skip
    assert set(table.index) == {"assist_risk=low", "assist_risk=moderate"}
    assert (table["reference"] == "high").all()
    assert table.loc["assist_risk=low", "ci_low"] < 16 < table.loc["assist_risk=low", "ci_high"]
    assert (
        table.loc["assist_risk=moderate", "ci_low"]
        < 4
        < table.loc["assist_risk=moderate", "ci_high"]
    )
    assert model.n == 3200 and model.n_dropped == 0
    assert model.c_statistic == pytest.approx(c_statistic(frame["completed"], model.expected))


def test_c_statistic_by_hand():
    """Outcomes 1, 1, 0, 0, 1 with scores 0.9, 0.4, 0.4, 0.1, 0.6. Pairs of
    (with, without): (0.9, 0.4) 1, (0.9, 0.1) 1, (0.4, 0.4) ½, (0.4, 0.1) 1,
    (0.6, 0.4) 1, (0.6, 0.1) 1: C = 5.5 / 6."""
    assert c_statistic([1, 1, 0, 0, 1], [0.9, 0.4, 0.4, 0.1, 0.6]) == pytest.approx(5.5 / 6)
    assert c_statistic([1, 0], [0.2, 0.8]) == 0.0
    assert np.isnan(c_statistic([1, 1], [0.2, 0.8]))


def test_age_band():
    bands = age_band([18, 25, 34.9, 35, 44, 45, 60, None])
    assert bands.fillna("missing").tolist() == [
        "<25", "25-34", "25-34", "35-44", "35-44", "45+", "45+", "missing",
    ]  # fmt: skip
    assert age_band([20, 30], breaks=[30]).tolist() == ["<30", "30+"]


def test_default_covariates_missing_values_and_numeric_covariates():
    rng = np.random.default_rng(11)
    size = 600
    frame = pd.DataFrame(
        {
            "age_at_intake": rng.uniform(16, 60, size),
            "sex": rng.choice(["male", "female"], size, p=[0.7, 0.3]),
            "primary_substance": pd.Series([None] * size, dtype=object),  # all missing: unused
            "assist_risk": rng.choice(["low", "moderate", "high"], size),
            "missed": rng.integers(0, 5, size),
        }
    )
    frame.loc[:9, "sex"] = None  # ten cases with a missing covariate
    frame["completed"] = (rng.random(size) < 0.5).astype(int)
    model = case_mix_model(frame, outcome="completed")
    assert model.covariates == ["age_band", "sex", "assist_risk"]
    assert model.n_dropped == 10 and model.n == 590
    assert model.expected.iloc[:10].isna().all() and model.expected.iloc[10:].notna().all()
    assert model.table.loc[model.table["covariate"] == "sex", "reference"].iloc[0] == "male"
    numeric = case_mix_model(frame, outcome="completed", covariates=["missed", "sex"])
    row = numeric.table.set_index("term").loc["missed"]
    assert pd.isna(row["level"]) and row["odds_ratio"] > 0
    # A numeric covariate on a small scale may have a large coefficient per unit
    # (here about 20 per unit of a 0-0.1 share) without being separated.
    share = frame.assign(share=frame["missed"] / 40)
    share["completed"] = (rng.random(size) < 1 / (1 + np.exp(-(20 * share["share"] - 1)))).astype(
        int
    )
    small = case_mix_model(share, outcome="completed", covariates=["share"])
    assert small.table["odds_ratio"].iloc[0] > np.exp(10)
    # A chosen reference level.
    chosen = case_mix_model(
        frame, outcome="completed", covariates=["sex"], reference={"sex": "female"}
    )
    assert chosen.table["term"].tolist() == ["sex=male"]


def test_case_mix_model_refuses_what_cannot_be_fitted():
    frame = pd.DataFrame(
        {
            "risk": ["low", "high"] * 20,
            "copy": ["low", "high"] * 20,
            "done": [1, 0, 0, 1] * 10,
        }
    )
    with pytest.raises(CaseworkError, match="linear combination"):
        case_mix_model(frame, outcome="done", covariates=["risk", "copy"])
    with pytest.raises(CaseworkError, match="only the value"):
        case_mix_model(frame.assign(done=1), outcome="done", covariates=["risk"])
    separated = frame.assign(done=(frame["risk"] == "low").astype(int))
    with pytest.raises(CaseworkError, match=r"risk=low.*never or always \(separation\)"):
        case_mix_model(separated, outcome="done", covariates=["risk"])
    with pytest.raises(CaseworkError, match="not vary"):
        case_mix_model(frame.assign(one="x"), outcome="done", covariates=["risk", "one"])
    numeric = frame.assign(x=np.where(frame["done"] == 1, 1.0, -1.0) * np.arange(1, 41))
    with pytest.raises(CaseworkError, match="separation"):
        case_mix_model(numeric, outcome="done", covariates=["x"])
    # A 0/1 indicator stored as a number: everyone with x = 1 has the outcome.
    indicator = pd.DataFrame({"x": [0, 1] * 20, "done": [0, 1, 1, 1] * 10})
    with pytest.raises(CaseworkError, match=r"\['x=1'\].*never or always"):
        case_mix_model(indicator, outcome="done", covariates=["x"])
    # Quasi-complete separation on a continuous covariate (both outcomes only at
    # x = 0.5): statsmodels reports convergence with a slope over 1000.
    x = np.r_[np.linspace(0, 0.5, 30), 0.5, 0.5, np.linspace(0.5, 1, 30)]
    quasi = pd.DataFrame({"x": x, "done": np.r_[np.zeros(31), np.ones(31)].astype(int)})
    with pytest.raises(CaseworkError, match=r"\['x'\] run off to infinity"):
        case_mix_model(quasi, outcome="done", covariates=["x"])


# --------------------------------------------------------------------------
# Cox regression: Rossi against published R output
# --------------------------------------------------------------------------

COLUMNS = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]


def test_rossi_cox_coefficients_match_published_r_output():
    """Fox (2002), appendix "Cox Proportional-Hazards Regression for Survival
    Data", section 3 (R, survival package, Efron ties by default)::

        > mod.allison <- coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar
        +                      + paro + prio, data=Rossi)
        > summary(mod.allison)
                coef exp(coef) se(coef)      z      p
        fin  -0.3794     0.684   0.1914 -1.983 0.0470
        age  -0.0574     0.944   0.0220 -2.611 0.0090
        race  0.3139     1.369   0.3080  1.019 0.3100
        wexp -0.1498     0.861   0.2122 -0.706 0.4800
        mar  -0.4337     0.648   0.3819 -1.136 0.2600
        paro -0.0849     0.919   0.1958 -0.434 0.6600
        prio  0.0915     1.096   0.0286  3.194 0.0014
    """
    table = cox_model(ROSSI, duration="week", event="arrest", covariates=COLUMNS)
    assert table["term"].tolist() == COLUMNS
    np.testing.assert_allclose(
        table["coef"], [-0.3794, -0.0574, 0.3139, -0.1498, -0.4337, -0.0849, 0.0915], atol=1e-3
    )
    np.testing.assert_allclose(
        table["se"], [0.1914, 0.0220, 0.3080, 0.2122, 0.3819, 0.1958, 0.0286], atol=1e-3
    )
    np.testing.assert_allclose(
        table["hazard_ratio"], [0.684, 0.944, 1.369, 0.861, 0.648, 0.919, 1.096], atol=1e-3
    )
    np.testing.assert_allclose(
        table["p_value"].iloc[[0, 1, 6]], [0.0470, 0.0090, 0.0014], atol=5e-4
    )
    assert (table["n"] == 432).all() and (table["events"] == 114).all()
    assert (table["outcome"] == "arrest").all()
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(table["ci_low"], np.exp(table["coef"] - z * table["se"]))


def test_rossi_proportional_hazards_matches_published_cox_zph():
    """Fox (2002) and Fox & Weisberg (2011), appendix section 4.1, with
    survival < 3.0 (the Grambsch–Therneau test, transform = "km")::

        > mod.allison.4 <- coxph(Surv(week, arrest) ~ fin + age + prio, data=Rossi)
        > cox.zph(mod.allison.4)
                  rho   chisq      p
        fin  -0.00657 0.00507 0.9433
        age  -0.20976 6.54147 0.0105
        prio -0.08004 0.77288 0.3793
        GLOBAL     NA 7.13046 0.0679
    """
    table = proportional_hazards_test(
        ROSSI, duration="week", event="arrest", covariates=["fin", "age", "prio"]
    )
    assert table["term"].tolist() == ["fin", "age", "prio", "GLOBAL"]
    np.testing.assert_allclose(table["rho"].iloc[:3], [-0.00657, -0.20976, -0.08004], atol=5e-6)
    np.testing.assert_allclose(table["chisq"], [0.00507, 6.54147, 0.77288, 7.13046], atol=5e-6)
    np.testing.assert_allclose(table["p_value"], [0.9433, 0.0105, 0.3793, 0.0679], atol=5e-5)
    assert table["df"].tolist() == [1, 1, 1, 3]
    assert (table["events"] == 114).all()


@pytest.mark.parametrize(
    ("events", "published"), [([1, 1, 1, 1, 1], 0.00971), ([1, 1, 1, 0, 1], 1.013802)]
)
def test_cox_zph_on_five_cases_matches_r(events, published):
    """R output pasted in lifelines' test suite
    (``lifelines/tests/test_statistics.py``, test_proportional_hazard_test_with_kmf
    and ..._with_some_censorship)::

        df <- data.frame(var1 = c(0.209325, 0.693919, 0.443804, 0.065636, 0.386294),
                         T = c(5.269797, 6.601666, 7.335846, 11.684092, 12.678458),
                         E = c(1, 1, 1, 1, 1))        # second case: E = c(1, 1, 1, 0, 1)
        cox.zph(coxph(Surv(T, E) ~ var1, data = df), transform = "km")
        # chisq 0.00971 (all events); 1.013802 (one censored)
    """
    frame = pd.DataFrame(
        {
            "var1": [0.209325, 0.693919, 0.443804, 0.065636, 0.386294],
            "T": [5.269797, 6.601666, 7.335846, 11.684092, 12.678458],
            "E": events,
        }
    )
    table = proportional_hazards_test(frame, duration="T", event="E", covariates=["var1"])
    assert table["chisq"].iloc[0] == pytest.approx(published, rel=1e-3)
    # With one covariate the global test is the covariate's test.
    assert table["chisq"].iloc[1] == pytest.approx(table["chisq"].iloc[0])


def test_cox_group_is_dummy_coded_against_the_reference():
    """fin as a group column with reference "0" is the same model as fin 0/1."""
    others = ["age", "race", "wexp", "mar", "paro", "prio"]
    table = cox_model(
        ROSSI, duration="week", event="arrest", covariates=others, group="fin", reference="0"
    )
    row = table.set_index("term").loc["fin=1"]
    assert row["coef"] == pytest.approx(-0.3794, abs=1e-3)
    assert row["reference"] == "0"
    flipped = cox_model(
        ROSSI, duration="week", event="arrest", covariates=others, group="fin", reference="1"
    )
    assert flipped.set_index("term").loc["fin=0", "coef"] == pytest.approx(0.3794, abs=1e-3)
    # The default reference is the largest group (fin=0 and fin=1 tie at 216; sorted first).
    default = cox_model(ROSSI, duration="week", event="arrest", covariates=others, group="fin")
    assert "fin=1" in default["term"].tolist()


def test_cox_drops_missing_rows_and_refuses_what_cannot_be_fitted():
    frame = ROSSI.copy()
    frame.loc[:4, "age"] = np.nan
    table = cox_model(frame, duration="week", event="arrest", covariates=["age", "prio"])
    assert (table["n"] == 427).all() and (table["n_dropped"] == 5).all()
    with pytest.raises(CaseworkError, match="needs events"):
        cox_model(frame.assign(arrest=0), duration="week", event="arrest", covariates=["age"])
    noevents = ROSSI.assign(
        site=np.where(ROSSI["arrest"] == 1, "a", np.where(ROSSI.index % 2, "a", "b"))
    )
    with pytest.raises(CaseworkError, match=r"site=b.*never \(separation\)"):
        cox_model(noevents, duration="week", event="arrest", group="site")
    with pytest.raises(CaseworkError, match="do not vary"):
        cox_model(ROSSI.assign(one=1), duration="week", event="arrest", covariates=["age", "one"])
    # Monotone likelihood on a numeric covariate: whoever fails next always has
    # the largest x of those still at risk, so the estimate runs off to infinity.
    ordered = pd.DataFrame({"t": np.arange(1.0, 21.0), "e": 1, "x": -np.arange(1.0, 21.0) / 20})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CaseworkError, match=r"\['x'\] run off to infinity"):
            cox_model(ordered, duration="t", event="e", covariates=["x"])
    with pytest.raises(CaseworkError, match="`transform`"):
        proportional_hazards_test(
            ROSSI, duration="week", event="arrest", covariates=["age"], transform="t"
        )


# --------------------------------------------------------------------------
# Trend over terms
# --------------------------------------------------------------------------

ALCOHOL_PRESENT = [48, 38, 5, 1, 1]
ALCOHOL_TOTAL = [17114, 14502, 793, 127, 38]
ALCOHOL_SCORES = [0, 0.5, 1.5, 4.0, 7.0]


def test_cochran_armitage_against_agresti():
    """Agresti (2002), malformation present / total by drinks per day
    (0, <1, 1-2, 3-5, >=6): 48/17114, 38/14502, 5/793, 1/127, 1/38,
    scores 0, 0.5, 1.5, 4.0, 7.0. By hand:
      N = 32574, Σx = 93, p̄ = 93/32574 = 0.0028550
      Σ n s = 7251 + 1189.5 + 508 + 266 = 9214.5
      Σ n s² = 3625.5 + 1784.25 + 2032 + 1862 = 9303.75
      Σ x s = 19 + 7.5 + 4 + 7 = 37.5
      T = 37.5 - 93 · 9214.5 / 32574 = 37.5 - 26.307746 = 11.192254
      S = 9303.75 - 9214.5² / 32574 = 9303.75 - 2606.58839 = 6697.16161
      var = p̄ (1 - p̄) S = 0.00284689 · 6697.16161 = 19.06610
      z = 11.192254 / sqrt(19.06610) = 11.192254 / 4.366474 = 2.56323, z² = 6.5701
    Agresti prints Mantel's M² = (N - 1) r² = 6.57 (P = 0.01): z² (N - 1) / N."""
    result = cochran_armitage(ALCOHOL_PRESENT, ALCOHOL_TOTAL, ALCOHOL_SCORES)
    assert result.z == pytest.approx(11.192254 / np.sqrt(19.06610), rel=2e-6)
    assert result.z == pytest.approx(2.56323, abs=1e-5)
    assert result.chisq == pytest.approx(6.5701, abs=1e-4)
    assert round(result.chisq * (32574 - 1) / 32574, 2) == 6.57
    assert result.p_value == pytest.approx(2 * stats.norm.sf(2.56323), abs=1e-6)
    assert result.n == 32574
    # Reversing the scores reverses the sign only.
    reverse = cochran_armitage(ALCOHOL_PRESENT, ALCOHOL_TOTAL, [-s for s in ALCOHOL_SCORES])
    assert reverse.z == pytest.approx(-result.z)


def test_cochran_armitage_degenerate_and_bad_input():
    assert np.isnan(cochran_armitage([0, 0], [5, 5]).z)
    assert np.isnan(cochran_armitage([2, 3], [5, 5], [1, 1]).z)
    with pytest.raises(CaseworkError, match="same length"):
        cochran_armitage([1, 2], [5, 5, 5])
    with pytest.raises(CaseworkError, match="between 0 and `totals`"):
        cochran_armitage([6, 2], [5, 5])


def test_trend_table_counts_wilson_intervals_and_trend():
    frame = pd.DataFrame(
        {
            "term": ["2024-2"] * 4 + ["2024-1"] * 5 + ["2025-1"] * 6 + ["2025-1"],
            "done": [1, 0, 1, 1] + [0, 0, 1, 0, 0] + [1, 1, 1, 1, 1, 0] + [np.nan],
        }
    )
    table = trend_table(frame, outcome="done", term="term")
    assert table["term"].tolist() == ["2024-1", "2024-2", "2025-1"]
    assert table["n"].tolist() == [5, 4, 6]
    assert table["successes"].tolist() == [1, 3, 5]
    low, high = wilson_interval([1, 3, 5], [5, 4, 6])
    np.testing.assert_allclose(table["ci_low"], low)
    np.testing.assert_allclose(table["ci_high"], high)
    trend = cochran_armitage([1, 3, 5], [5, 4, 6], [0, 1, 2])
    np.testing.assert_allclose(table["trend_z"], trend.z)
    assert trend.z > 0
    scored = trend_table(
        frame, outcome="done", term="term", scores={"2025-1": 0, "2024-2": 1, "2024-1": 2}
    )
    assert scored["term"].tolist() == ["2025-1", "2024-2", "2024-1"]
    assert scored["trend_z"].iloc[0] == pytest.approx(-trend.z)
    with pytest.raises(CaseworkError, match="2024-1"):
        trend_table(frame, outcome="done", term="term", scores={"2025-1": 0, "2024-2": 1})


# --------------------------------------------------------------------------
# Plots: what was drawn
# --------------------------------------------------------------------------


def _lines(ax):
    return {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}


def test_funnel_plot_draws_the_limit_curves_target_points_and_outlier_labels():
    frame = pd.DataFrame(
        {
            "site": ["zero10"] * 10 + ["all10"] * 10 + ["mid"] * 40,
            "done": [0] * 10 + [1] * 10 + [1, 0] * 20,
        }
    )
    result = funnel_table(frame, outcome="done", by="site", target=0.5, overdispersion="none")
    ax = plots.funnel_plot(result, ax=plt.figure().gca())
    lines = _lines(ax)
    assert set(lines) >= {"lower_95", "upper_95", "lower_998", "upper_998", "target"}
    grid = lines["upper_998"].get_xdata()
    assert grid[0] == 1 and len(grid) > 40  # a grid of n, not only the groups' sizes
    expected = funnel_limits(0.5, grid)
    np.testing.assert_allclose(lines["upper_998"].get_ydata(), expected["upper_998"])
    np.testing.assert_allclose(lines["lower_95"].get_ydata(), expected["lower_95"])
    assert lines["target"].get_ydata()[0] == 0.5
    points = next(c for c in ax.collections if c.get_gid() == "groups")
    np.testing.assert_allclose(points.get_offsets(), result.table[["n", "value"]].to_numpy())
    assert sorted(t.get_text() for t in ax.texts) == ["all10", "zero10"]
    assert "Unadjusted" in ax.get_title() and "not widened" in ax.get_title()
    assert ax.yaxis.get_major_formatter()(0.5, 0) == "50%"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["95% limits", "99.8% limits", "Target"]
    # Nothing hung on the Axes: no attribute beyond those of a fresh Axes.
    assert set(vars(ax)) - set(vars(plt.figure().gca())) <= {"_children"}


def test_funnel_plot_of_an_adjusted_widened_comparison_in_indonesian():
    result = funnel_table(_ratio_frame(), outcome="done", by="site", expected="p")
    ax = plots.funnel_plot(result.table, ax=plt.figure().gca(), lang="id", label_outliers=False)
    lines = _lines(ax)
    grid = lines["upper_95"].get_xdata()
    expected = funnel_limits(
        1.0, grid, kind="ratio", overdispersion="additive", tau2=result.dispersion.tau2
    )
    np.testing.assert_allclose(lines["upper_95"].get_ydata(), expected["upper_95"])
    points = next(c for c in ax.collections if c.get_gid() == "groups")
    np.testing.assert_allclose(points.get_offsets()[:, 0], UNITS_E)
    title = ax.get_title()
    assert "Disesuaikan dengan bauran kasus" in title and "diperlebar" in title
    assert ax.get_xlabel() == "Jumlah harapan (E)"
    assert len(ax.texts) == 0


def test_funnel_plot_refuses_two_metrics():
    table = funnel_table(_ratio_frame(), outcome="done", by="site").table
    both = pd.concat([table, table.assign(metric="other")])
    with pytest.raises(CaseworkError, match="one metric"):
        plots.funnel_plot(both, ax=plt.figure().gca())


def test_forest_plot_draws_one_row_per_term_with_the_null_line():
    table = cox_model(ROSSI, duration="week", event="arrest", covariates=COLUMNS)
    ax = plots.forest_plot(table, ax=plt.figure().gca())
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == COLUMNS
    assert _lines(ax)["reference"].get_xdata()[0] == 1.0
    np.testing.assert_allclose(_lines(ax)["estimates"].get_xdata(), table["hazard_ratio"])
    intervals = next(c for c in ax.collections if c.get_gid() == "intervals")
    segments = np.array([s[:, 0] for s in intervals.get_segments()])
    np.testing.assert_allclose(segments, table[["ci_low", "ci_high"]].to_numpy())
    assert ax.get_xlabel() == "Hazard ratio (log scale)"


def test_forest_plot_on_a_difference_scale():
    table = pd.DataFrame(
        {"term": ["a", "b"], "diff": [-0.1, 0.2], "lo": [-0.3, 0.05], "hi": [0.1, 0.35]}
    )
    ax = plots.forest_plot(
        table, estimate="diff", low="lo", high="hi", ax=plt.figure().gca(), lang="id"
    )
    assert ax.get_xscale() == "linear"
    assert _lines(ax)["reference"].get_xdata()[0] == 0.0
    with pytest.raises(CaseworkError, match="log=False"):
        plots.forest_plot(table, estimate="diff", low="lo", high="hi", log=True)


def test_funnel_plot_says_when_too_few_groups_to_widen():
    # Same three groups as above: clearly overdispersed (0/10, 10/10, 20/40), but
    # "auto" widens only with 10 or more groups, and the title must say why not.
    frame = pd.DataFrame(
        {
            "site": ["zero10"] * 10 + ["all10"] * 10 + ["mid"] * 40,
            "done": [0] * 10 + [1] * 10 + [1, 0] * 20,
        }
    )
    result = funnel_table(frame, outcome="done", by="site", target=0.5)
    assert result.widening == "none" and bool(result.table["overdispersed"].iloc[0])
    title = plots.funnel_plot(result, ax=plt.figure().gca()).get_title().replace("\n", " ")
    assert "3 groups are too few to widen the limits (10 needed)" in title
    asked_none = funnel_table(frame, outcome="done", by="site", target=0.5, overdispersion="none")
    assert "too few" not in plots.funnel_plot(asked_none, ax=plt.figure().gca()).get_title()
