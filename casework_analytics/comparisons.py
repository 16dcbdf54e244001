"""Fair comparisons of groups: sites, placements, caseworkers, terms.

League tables mislead when groups are small, and raw rates mislead when
groups serve different clients. This module holds the statistics that make
comparisons fair, on plain per-case DataFrames (one row per case):

- :func:`funnel_limits`, :func:`dispersion_test` and :func:`funnel_table`:
  funnel plots (Spiegelhalter 2005) with exact binomial or Poisson control
  limits, and overdispersion handled multiplicatively or by an additive
  random effect (Spiegelhalter 2005b), as in the R package FunnelPlotR.
- :func:`case_mix_model` (with :func:`age_band` and :func:`c_statistic`):
  indirect standardisation. A logistic regression of the outcome on case-mix
  covariates gives each case's expected probability; a group's expected count
  is the sum over its cases, compared as observed / expected (O/E).
- :func:`cox_model` and :func:`proportional_hazards_test`: Cox regression
  with Efron ties (statsmodels ``PHReg``) and the Grambsch–Therneau check of
  proportional hazards, as R ``cox.zph`` computed it before survival 3.0.
- :func:`cochran_armitage` and :func:`trend_table`: a trend in a share over
  ordered terms.

Every function takes column names, returns a tidy DataFrame with documented
columns (or a small result object wrapping one), and never draws: the plots
are :func:`casework_analytics.plots.funnel_plot` and
:func:`casework_analytics.plots.forest_plot`.

References
----------
- Spiegelhalter DJ (2005). Funnel plots for comparing institutional
  performance. Statistics in Medicine 24:1185-1202.
- Spiegelhalter DJ (2005b). Handling over-dispersion of performance
  indicators. Quality and Safety in Health Care 14:347-351.
- FunnelPlotR (NHS-R Community), https://github.com/nhs-r-community/FunnelPlotR
- Grambsch PM, Therneau TM (1994). Proportional hazards tests and diagnostics
  based on weighted residuals. Biometrika 81:515-526.
- Agresti A (2002). Categorical Data Analysis, 2nd ed., Wiley, section 5.3.5.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from .errors import CaseworkError
from .grouping import MISSING_GROUP, GroupBy, group_columns
from .intervals import wilson_interval

__all__ = [
    "KINDS",
    "OVERDISPERSION",
    "MIN_GROUPS_TO_WIDEN",
    "TRANSFORMS",
    "DEFAULT_LEVELS",
    "DEFAULT_COVARIATES",
    "AGE_BREAKS",
    "level_name",
    "level_from_name",
    "funnel_limits",
    "Dispersion",
    "dispersion_test",
    "FunnelResult",
    "funnel_table",
    "age_band",
    "c_statistic",
    "CaseMixModel",
    "case_mix_model",
    "cox_model",
    "proportional_hazards_test",
    "TrendTest",
    "cochran_armitage",
    "trend_table",
]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

KINDS = ("proportion", "ratio")
OVERDISPERSION = ("auto", "none", "multiplicative", "additive")
#: ``overdispersion="auto"`` widens funnel limits only with at least this many groups.
MIN_GROUPS_TO_WIDEN = 10
TRANSFORMS = ("km", "rank", "identity", "log")
DEFAULT_LEVELS = (0.95, 0.998)
#: Case-mix covariates used by :func:`case_mix_model` when none are named,
#: where present and not all missing (``age_band`` is derived from
#: ``age_at_intake`` when only that column exists).
DEFAULT_COVARIATES = ("age_band", "sex", "primary_substance", "assist_risk", "referral_source")
AGE_BREAKS = (25, 35, 45)
#: An estimate this large means it ran off to infinity (separation): an odds
#: or hazard ratio beyond e**10 (about 22,000) for a level against its
#: reference, or per standard deviation of a numeric covariate.
_DIVERGED = 10.0


# --------------------------------------------------------------------------
# Argument checks shared by the public functions
# --------------------------------------------------------------------------


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise CaseworkError(
            f"The value for `{name}` must be one of {list(allowed)}, but {value!r} was passed."
        )


def _columns(frame: pd.DataFrame, names: list[str]) -> None:
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise CaseworkError(f"Columns {missing} are not in the data; it has {list(frame.columns)}.")


def _levels(levels) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in levels)
    except (TypeError, ValueError):
        raise CaseworkError(
            f"The value for `levels` must be a sequence of coverages such as (0.95, 0.998), "
            f"but {levels!r} was passed."
        ) from None
    if not values or any(not 0.5 <= x < 1 for x in values) or len(set(values)) != len(values):
        raise CaseworkError(
            f"The value for `levels` must hold distinct coverages from 0.5 up to (not including) "
            f"1, such as (0.95, 0.998), but {levels!r} was passed."
        )
    return tuple(sorted(values))


def level_name(level: float) -> str:
    """Column suffix of a coverage: 0.95 -> ``"95"``, 0.998 -> ``"998"``.

    Parameters
    ----------
    level : float
        A coverage such as 0.95.

    Returns
    -------
    str
    """
    return f"{level * 100:g}".replace(".", "")


def level_from_name(name: str) -> float:
    """The coverage a column suffix stands for: ``"95"`` -> 0.95, ``"998"`` -> 0.998.

    Parameters
    ----------
    name : str
        A column suffix such as ``"95"``.

    Returns
    -------
    float
    """
    return float(f"{name[:2]}.{name[2:]}" if len(name) > 2 else name) / 100


def _binary(values: pd.Series, name: str) -> pd.Series:
    """An outcome column as float 0/1 with NaN for missing; anything else is an error."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & ~numeric.isin([0, 1])
    if bad.any():
        raise CaseworkError(
            f"The outcome column `{name}` must hold 0/1 or True/False (missing allowed), "
            f"but it has {sorted(map(str, values[bad].unique()))[:5]}."
        )
    return numeric.astype("float64")


def _group_labels(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {c: frame[c].astype("string").fillna(MISSING_GROUP) for c in cols}, index=frame.index
    )


# --------------------------------------------------------------------------
# Funnel limits
# --------------------------------------------------------------------------


def _exact_limit(target: float, n: np.ndarray, p: float, kind: str, upper: bool) -> np.ndarray:
    """Spiegelhalter's interpolated p-quantile of the count, divided by n."""
    dist = stats.binom(n, target) if kind == "proportion" else stats.poisson(n * target)
    r = dist.ppf(p)
    f_r, f_prev = dist.cdf(r), dist.cdf(r - 1)
    alpha = np.clip((f_r - p) / (f_r - f_prev), 0.0, 1.0)
    count = r + 1 - alpha if upper else r - alpha
    return count / n


def _transform(kind: str, value, target):
    """Variance-stabilised scale: arcsine-square-root for proportions, square root for ratios."""
    if kind == "proportion":
        return np.arcsin(np.sqrt(value)), np.arcsin(np.sqrt(target))
    return np.sqrt(value), np.sqrt(target)


def _back(kind: str, y: np.ndarray) -> np.ndarray:
    if kind == "proportion":
        return np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2
    return np.clip(y, 0.0, None) ** 2


def funnel_limits(
    target: float,
    n: ArrayLike,
    *,
    kind: str = "proportion",
    levels: Sequence[float] = DEFAULT_LEVELS,
    overdispersion: str = "none",
    phi: float = 1.0,
    tau2: float = 0.0,
) -> pd.DataFrame:
    """Control limits of a funnel plot around ``target``, for every ``n``.

    Parameters
    ----------
    target : float
        The centre line: a proportion in [0, 1], or for ``kind="ratio"`` the
        target O/E (usually 1).
    n : int or array-like
        Precision of each unit: the number of cases (whole numbers >= 1) for
        proportions, the expected count E (> 0) for ratios.
    kind : {"proportion", "ratio"}
        ``"proportion"``: observed count ~ Binomial(n, target).
        ``"ratio"``: observed count ~ Poisson(target * E), value O/E.
    levels : sequence of float
        Coverages of the limit pairs, default (0.95, 0.998).
    overdispersion : {"none", "multiplicative", "additive"}
        ``"none"``: exact limits. ``"multiplicative"``: the limits are widened
        by :math:`\\sqrt{\\phi}`. ``"additive"``: a between-unit variance
        ``tau2`` is added. The widened limits are computed on the
        variance-stabilised scale (see Notes).
    phi, tau2 : float
        Dispersion ratio and between-unit variance, e.g. from
        :func:`dispersion_test`. ``phi`` below 1 never narrows the limits.

    Returns
    -------
    DataFrame
        One row per ``n`` in the order given: ``n``, ``target``, then
        ``lower_<L>`` and ``upper_<L>`` for each level (``lower_95``,
        ``upper_95``, ``lower_998``, ``upper_998`` by default), on the scale
        of the value (a proportion, or O/E).

    Notes
    -----
    **Exact limits** (Spiegelhalter 2005, appendix). Let :math:`F` be the
    distribution function of the count (Binomial(n, θ) or Poisson(θE)) and
    :math:`r_p` its p-quantile, the smallest r with :math:`F(r) \\ge p`.
    Spreading the probability of each count evenly over a unit interval
    makes the quantile continuous; with

    .. math:: \\alpha = \\frac{F(r_p) - p}{F(r_p) - F(r_p - 1)}

    the lower limit (p = (1 − level)/2) is :math:`(r_p - \\alpha)/n` (E in
    place of n for ratios), truncated at 0. The upper limit
    (p = (1 + level)/2) is :math:`(r_p + 1 - \\alpha)/n`, capped at 1 for
    proportions: the same interpolation, with the mass of each count spread
    over [r, r + 1) instead of (r − 1, r]. For proportions this is exactly
    one minus Spiegelhalter's lower limit for the complementary count
    n − X ~ Binomial(n, 1 − θ), so swapping which outcome is coded 1 mirrors
    the funnel and the flags. It also makes each flag an exact one-sided
    test: a unit is below the lower limit only if P(X <= O) < p, and above
    the upper limit only if P(X >= O) < 1 − p. (Applying
    :math:`(r_p - \\alpha)/n` to the upper tail as well puts the upper limit
    below every count of r_p: a single case with the outcome would then sit
    above the 99.8% limit for any target over 0.001.)

    **Widened limits** (Spiegelhalter 2005b). On the variance-stabilised
    scale :math:`y` (:math:`\\arcsin\\sqrt{\\cdot}` for proportions with
    :math:`s = 1/(2\\sqrt{n})`; :math:`\\sqrt{\\cdot}` for ratios with
    :math:`s = 1/(2\\sqrt{E})`) the limits are
    :math:`y_0 \\pm z\\sqrt{\\phi}\\,s` (multiplicative) or
    :math:`y_0 \\pm z\\sqrt{s^2 + \\tau^2}` (additive), with :math:`y_0`
    the transformed target and z the normal quantile of the level, then
    transformed back (the arcsine is clipped to [0, π/2] first, so the
    limits stay in [0, 1] and monotone in n). FunnelPlotR computes the same
    for proportions (it truncates non-monotone stretches instead of
    clipping). For ratios its ``sr_method = "CQC"`` uses the same square-root
    scale but draws :math:`1 \\pm z\\sqrt{s^2 + \\tau^2}` without squaring
    back, and its default ``"SHMI"`` works on log(O/E) with
    :math:`s = 1/\\sqrt{E}`; the square root here is Spiegelhalter's (2005b)
    choice for ratios and, unlike the log, is defined for groups with no
    events. FunnelPlotR's unadjusted ratio limits are exact Poisson
    confidence limits from the chi-squared distribution, which differ
    slightly from the interpolated quantiles here.
    """
    _choice("kind", kind, KINDS)
    _choice("overdispersion", overdispersion, OVERDISPERSION[1:])
    levels = _levels(levels)
    n = np.atleast_1d(np.asarray(n, dtype=float))
    target = float(target)
    if kind == "proportion":
        if not 0 <= target <= 1:
            raise CaseworkError(
                f"The value for `target` must be a proportion in [0, 1] for kind='proportion', "
                f"but {target!r} was passed."
            )
        if (n < 1).any() or (n != np.round(n)).any() or np.isnan(n).any():
            raise CaseworkError(
                f"The values of `n` must be whole numbers of cases >= 1 for kind='proportion', "
                f"but {n[(n < 1) | (n != np.round(n)) | np.isnan(n)][:5].tolist()} was passed."
            )
    else:
        if not target >= 0 or not np.isfinite(target):
            raise CaseworkError(
                f"The value for `target` must be a ratio >= 0, but {target!r} was passed."
            )
        if not (n > 0).all() or not np.isfinite(n).all():
            raise CaseworkError(
                f"The values of `n` (expected counts) must be > 0 for kind='ratio', "
                f"but {n[~((n > 0) & np.isfinite(n))][:5].tolist()} was passed."
            )
    if not phi >= 0 or not tau2 >= 0:
        raise CaseworkError(
            f"`phi` and `tau2` must be >= 0, but phi={phi!r} and tau2={tau2!r} were passed."
        )
    out = {"n": n, "target": np.full(len(n), target)}
    s = 1 / (2 * np.sqrt(n))
    _, y0 = _transform(kind, 0.0, target)
    for level in levels:
        low_p, high_p = (1 - level) / 2, (1 + level) / 2
        if overdispersion == "none":
            low = np.maximum(_exact_limit(target, n, low_p, kind, upper=False), 0.0)
            high = _exact_limit(target, n, high_p, kind, upper=True)
            if kind == "proportion":
                high = np.minimum(high, 1.0)
        else:
            width = (
                np.sqrt(max(phi, 1.0)) * s
                if overdispersion == "multiplicative"
                else (np.sqrt(s**2 + tau2))
            )
            z = stats.norm.ppf(high_p)
            low, high = _back(kind, y0 - z * width), _back(kind, y0 + z * width)
        out[f"lower_{level_name(level)}"] = low
        out[f"upper_{level_name(level)}"] = high
    return pd.DataFrame(out)


# --------------------------------------------------------------------------
# Overdispersion
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispersion:
    """Result of :func:`dispersion_test`.

    Attributes
    ----------
    z : ndarray
        Unadjusted z-score of each unit on the variance-stabilised scale.
    z_winsorised : ndarray
        The same, winsorised.
    phi : float
        Dispersion ratio: mean of the squared winsorised z-scores.
    tau2 : float
        Between-unit variance (DerSimonian–Laird), 0 when phi <= (I − 1)/I.
    chisq, df, p_value : float
        The test of overdispersion: I·phi against chi-squared on I − 1
        degrees of freedom (NaN with fewer than two units).
    n_units : int
        I, the number of units.
    """

    z: np.ndarray
    z_winsorised: np.ndarray
    phi: float
    tau2: float
    chisq: float
    df: int
    p_value: float
    n_units: int


def dispersion_test(
    observed: ArrayLike,
    n: ArrayLike,
    *,
    kind: str = "proportion",
    target: float,
    trim: float = 0.1,
) -> Dispersion:
    """Overdispersion of units around a target: φ, τ² and the χ² test.

    Parameters
    ----------
    observed, n : array-like
        Per unit: the observed count and its precision (cases for
        proportions, expected count E for ratios).
    kind : {"proportion", "ratio"}
    target : float
        The target proportion, or target O/E.
    trim : float
        Share winsorised at each end, default 0.1 (10%).

    Returns
    -------
    Dispersion

    Notes
    -----
    Following Spiegelhalter (2005b) and FunnelPlotR:

    1. z-scores on a variance-stabilised scale,
       :math:`z_i = (y_i - y_0)/s_i`, with
       :math:`y = \\arcsin\\sqrt{O/n}`, :math:`s = 1/(2\\sqrt n)` for
       proportions and :math:`y = \\sqrt{O/E}`, :math:`s = 1/(2\\sqrt E)`
       for ratios (:math:`y_0` the transformed target);
    2. winsorised: z-scores below the ``trim`` quantile (R type 7, numpy's
       default) are set to it, and likewise above the 1 − ``trim`` quantile;
    3. :math:`\\phi = \\frac{1}{I}\\sum_i z_{w,i}^2`;
    4. test: :math:`I\\phi` against :math:`\\chi^2_{I-1}` (upper tail);
    5. :math:`\\tau^2 = \\max\\left(0, \\frac{I\\phi - (I - 1)}
       {\\sum_i w_i - \\sum_i w_i^2 / \\sum_i w_i}\\right)`,
       :math:`w_i = 1/s_i^2` (DerSimonian–Laird on the winsorised scores).

    FunnelPlotR does the same for proportions and for ratios with
    ``sr_method = "CQC"``; its default for ratios (``"SHMI"``) uses log(O/E)
    and drops the extreme 10% instead of winsorising them.
    """
    _choice("kind", kind, KINDS)
    if not 0 <= trim < 0.5:
        raise CaseworkError(f"The value for `trim` must be in [0, 0.5), but {trim!r} was passed.")
    observed = np.asarray(observed, dtype=float)
    n = np.asarray(n, dtype=float)
    y, y0 = _transform(kind, observed / n, target)
    s = 1 / (2 * np.sqrt(n))
    z = (y - y0) / s
    units = len(z)
    if units == 0:
        return Dispersion(z, z, np.nan, 0.0, np.nan, 0, np.nan, 0)
    low, high = np.quantile(z, [trim, 1 - trim])
    zw = np.clip(z, low, high)
    phi = float(np.mean(zw**2))
    w = 1 / s**2
    denominator = w.sum() - (w**2).sum() / w.sum()
    excess = units * phi - (units - 1)
    tau2 = float(max(0.0, excess / denominator)) if denominator > 0 else 0.0
    if units < 2:
        return Dispersion(z, zw, phi, tau2, np.nan, 0, np.nan, units)
    chisq = units * phi
    return Dispersion(
        z, zw, phi, tau2, chisq, units - 1, float(stats.chi2.sf(chisq, units - 1)), units
    )


# --------------------------------------------------------------------------
# Funnel table
# --------------------------------------------------------------------------


@dataclass
class FunnelResult:
    """A funnel comparison: the tidy table and how it was made.

    Attributes
    ----------
    table : DataFrame
        One row per group; see :func:`funnel_table`.
    metric : str
    kind : {"proportion", "ratio"}
        ``"ratio"`` when compared as observed / expected (case-mix adjusted).
    target : float
    by : list of str
        The group columns.
    levels : tuple of float
    dispersion : Dispersion
        φ, τ² and the test of overdispersion (always computed).
    overdispersion : str
        What was asked for: ``"auto"``, ``"none"``, ``"multiplicative"`` or
        ``"additive"``.
    widening : str
        What the limits use: ``"none"``, ``"multiplicative"`` or ``"additive"``.
    n_excluded : int
        Cases left out because the outcome (or the expected probability) is
        missing.
    """

    table: pd.DataFrame
    metric: str
    kind: str
    target: float
    by: list[str]
    levels: tuple[float, ...]
    dispersion: Dispersion = field(repr=False)
    overdispersion: str
    widening: str
    n_excluded: int

    @property
    def adjusted(self) -> bool:
        """True when the comparison is O/E against a case-mix model."""
        return self.kind == "ratio"

    @property
    def outliers(self) -> pd.DataFrame:
        """The rows flagged above or below the outermost limits."""
        return self.table[self.table["flag"] != "within"]

    def _summary(self) -> str:
        d = self.dispersion
        compared = "observed / expected (case-mix adjusted)" if self.adjusted else "proportion"
        widened = f"limits widened ({self.widening})" if self.widening != "none" else "exact limits"
        return (
            f"{self.metric}: {compared}, target {self.target:.4g}; {len(self.table)} groups, "
            f"{int(self.table['n'].sum())} cases ({self.n_excluded} excluded); "
            f"phi = {d.phi:.3g}, tau2 = {d.tau2:.3g}, overdispersion test chi2 = {d.chisq:.3g} "
            f"on {d.df} df, p = {d.p_value:.3g}; {widened}; "
            f"{int((self.table['flag'] != 'within').sum())} outside the "
            f"{self.levels[-1]:.1%} limits."
        )

    def __repr__(self) -> str:
        return self._summary() + "\n" + self.table.to_string(index=False)

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self._summary())}</p>" + self.table.to_html(index=False)


def funnel_table(
    frame: pd.DataFrame,
    *,
    outcome: str,
    by: GroupBy,
    expected: str | None = None,
    target: float | None = None,
    overdispersion: str = "auto",
    levels: Sequence[float] = DEFAULT_LEVELS,
    metric: str | None = None,
    trim: float = 0.1,
    test_level: float = 0.05,
    min_units: int = MIN_GROUPS_TO_WIDEN,
) -> FunnelResult:
    """Compare groups in a funnel: value, limits for the group's size, and a flag.

    Parameters
    ----------
    frame : DataFrame
        One row per case.
    outcome : str
        Binary outcome column (0/1 or True/False; missing values are left
        out and counted in ``n_excluded``).
    by : str or list of str
        Group columns (site, placement_id, ...). Values are compared as text;
        a missing value is its own group, ``"(missing)"``.
    expected : str, optional
        Column of each case's expected probability of the outcome (from
        :attr:`CaseMixModel.expected`). With it the comparison is
        indirectly standardised: value = O/E against Poisson limits. Cases
        whose expected value is missing are left out (so O and E count the
        same cases).
    target : float, optional
        Centre line. Default: the pooled rate (total observed / total cases)
        for proportions, 1 for ratios.
    overdispersion : {"auto", "none", "multiplicative", "additive"}
        ``"auto"`` (default) widens the limits with the additive random
        effect only when the test of overdispersion is significant at
        ``test_level``; ``"multiplicative"`` and ``"additive"`` always widen
        (never narrow); ``"none"`` never does. φ, τ² and the test are
        reported in every case.
    levels : sequence of float
        Coverages of the limits, default (0.95, 0.998); flags use the
        largest.
    metric : str, optional
        Name stored in the ``metric`` column (default: ``outcome``).
    trim : float
        Winsorisation of the z-scores at each end (0.1).
    test_level : float
        Significance level of the overdispersion test used by ``"auto"``.
    min_units : int
        ``"auto"`` widens only with at least this many groups (10). With
        fewer, winsorising 10% at each end trims nothing and the estimate
        is driven by single groups: one true outlier would widen its own
        limits and hide itself. φ, τ² and the test are still reported.

    Returns
    -------
    FunnelResult
        ``.table`` has one row per group, sorted by the group columns:
        group columns; ``metric``; ``n`` (cases); ``observed`` (cases with
        the outcome); ``expected`` (sum of expected probabilities, or
        ``n * target`` for proportions); ``target``; ``value`` (observed / n,
        or observed / expected); ``z`` (unadjusted z-score on the
        variance-stabilised scale); ``z_adjusted`` (divided by √φ, or with
        τ² added to the variance, when the limits are widened; else ``z``);
        ``lower_95, upper_95, lower_998, upper_998`` (the limits in force at
        the group's n, or E for ratios); ``flag`` (``"above"``, ``"below"``
        or ``"within"`` the outermost limits, inclusive); ``kind``;
        ``widening``; ``phi``; ``tau2``; ``dispersion_p`` (p of the
        overdispersion test); ``overdispersed`` (p < ``test_level``).

    Notes
    -----
    Time origin, censoring and denominators are the caller's: the function
    counts cases and outcomes as given. The exact limits, the z-scores, φ,
    τ² and the widened limits are defined in :func:`funnel_limits` and
    :func:`dispersion_test`. A group at 0% or 100% has a z-score at the end
    of the arcsine scale and is flagged only if that is outside the limits.
    FunnelPlotR widens the limits whenever φ > 1; here ``"auto"`` asks the
    χ² test, as Spiegelhalter (2005b) does.

    Examples
    --------
    >>> import pandas as pd
    >>> cases = pd.DataFrame({"site": list("AAAABBBBBBCC"),
    ...                       "completed": [1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1]})
    >>> result = funnel_table(cases, outcome="completed", by="site")
    >>> result.table[["site", "n", "observed", "flag"]]
      site  n  observed    flag
    0    A  4         3  within
    1    B  6         2  within
    2    C  2         2  within
    """
    cols = group_columns(by)
    if not cols:
        raise CaseworkError("`by` is required: name the column(s) whose groups are compared.")
    _choice("overdispersion", overdispersion, OVERDISPERSION)
    levels = _levels(levels)
    _columns(frame, [outcome, *cols, *([expected] if expected else [])])
    kind = "ratio" if expected else "proportion"
    y = _binary(frame[outcome], outcome)
    keep = y.notna()
    if expected:
        e = pd.to_numeric(frame[expected], errors="coerce")
        keep &= e.notna()
    data = _group_labels(frame.loc[keep], cols)
    data["observed"] = y[keep].to_numpy()
    data["expected"] = e[keep].to_numpy(dtype=float) if expected else np.nan
    table = (
        data.groupby(cols, sort=True, observed=True)
        .agg(n=("observed", "size"), observed=("observed", "sum"), expected=("expected", "sum"))
        .reset_index()
    )
    if table.empty:
        raise CaseworkError(f"No case has a value of `{outcome}`; there is nothing to compare.")
    table["observed"] = table["observed"].astype("int64")
    n_cases = table["n"].to_numpy(dtype=float)
    observed = table["observed"].to_numpy(dtype=float)
    if target is None:
        target = 1.0 if expected else observed.sum() / n_cases.sum()
    target = float(target)
    if expected:
        if (table["expected"] <= 0).any():
            raise CaseworkError(
                f"`{expected}` must give every group an expected count > 0; groups "
                f"{table.loc[table['expected'] <= 0, cols].to_dict('records')[:5]} have none."
            )
        precision = table["expected"].to_numpy(dtype=float)
    else:
        table["expected"] = n_cases * target
        precision = n_cases
    dispersion = dispersion_test(observed, precision, kind=kind, target=target, trim=trim)
    overdispersed = bool(dispersion.p_value < test_level) if dispersion.df else False
    widening = {
        "auto": "additive" if overdispersed and dispersion.n_units >= min_units else "none",
        "none": "none",
        "multiplicative": "multiplicative",
        "additive": "additive",
    }[overdispersion]
    limits = funnel_limits(
        target,
        precision,
        kind=kind,
        levels=levels,
        overdispersion=widening,
        phi=dispersion.phi if np.isfinite(dispersion.phi) else 1.0,
        tau2=dispersion.tau2,
    )
    table.insert(len(cols), "metric", metric or outcome)
    table["target"] = target
    table["value"] = observed / precision
    table["z"] = dispersion.z
    s = 1 / (2 * np.sqrt(precision))
    if widening == "multiplicative":
        table["z_adjusted"] = dispersion.z / np.sqrt(max(dispersion.phi, 1.0))
    elif widening == "additive":
        table["z_adjusted"] = dispersion.z * s / np.sqrt(s**2 + dispersion.tau2)
    else:
        table["z_adjusted"] = dispersion.z
    for column in limits.columns[2:]:
        table[column] = limits[column].to_numpy()
    outer = level_name(levels[-1])
    value = table["value"].to_numpy()
    table["flag"] = np.select(
        [value > table[f"upper_{outer}"], value < table[f"lower_{outer}"]],
        ["above", "below"],
        "within",
    )
    table["kind"] = kind
    table["widening"] = widening
    table["phi"] = dispersion.phi
    table["tau2"] = dispersion.tau2
    table["dispersion_p"] = dispersion.p_value
    table["overdispersed"] = overdispersed
    return FunnelResult(
        table=table,
        metric=metric or outcome,
        kind=kind,
        target=target,
        by=cols,
        levels=levels,
        dispersion=dispersion,
        overdispersion=overdispersion,
        widening=widening,
        n_excluded=int((~keep).sum()),
    )


# --------------------------------------------------------------------------
# Design matrices shared by the logistic and Cox models
# --------------------------------------------------------------------------


@dataclass
class _Design:
    x: pd.DataFrame  # float columns, one per term
    terms: pd.DataFrame  # term, covariate, level, reference
    keep: pd.Series  # rows used


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(values) or (
        pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype)
    )


def _design(frame: pd.DataFrame, covariates: list[str], reference: dict, keep: pd.Series):
    """Dummy-code categorical covariates; numeric ones stay numeric. Drops missing rows."""
    for column in covariates:
        keep = keep & frame[column].notna()
    parts, rows = {}, []
    for column in covariates:
        values = frame.loc[keep, column]
        if _is_numeric(values) and column not in reference:
            parts[column] = values.astype("float64").to_numpy()
            rows.append((column, column, None, None))
            continue
        text = values.astype("string")
        counts = text.value_counts()
        if len(counts) < 2:
            raise CaseworkError(
                f"`{column}` does not vary among the {int(keep.sum())} cases used "
                f"(levels {list(counts.index)}); leave it out or choose other covariates."
            )
        if column in reference:
            ref = str(reference[column])
            if ref not in counts.index:
                raise CaseworkError(
                    f"The reference level for `{column}` must be one of "
                    f"{sorted(counts.index)}, but {reference[column]!r} was passed."
                )
        else:  # the most frequent level; ties go to the first in sorted order
            ref = sorted(counts.index[counts == counts.max()])[0]
        for level in sorted(counts.index):
            if level != ref:
                name = f"{column}={level}"
                parts[name] = (text == level).to_numpy(dtype=float)
                rows.append((name, column, level, ref))
    x = pd.DataFrame(parts, index=frame.index[keep.to_numpy()])
    terms = pd.DataFrame(rows, columns=["term", "covariate", "level", "reference"])
    return _Design(x, terms, keep)


def _check_rank(x: pd.DataFrame, what: str) -> None:
    """Raise if a column is constant or a linear combination of the others (with an intercept)."""
    if x.shape[1] == 0:
        return
    values = x.to_numpy(dtype=float)
    centred = values - values.mean(axis=0)
    scale = np.sqrt(np.einsum("ij,ij->j", centred, centred))
    constant = scale <= 1e-12 * max(1.0, np.abs(values).max())
    if constant.any():
        raise CaseworkError(
            f"The {what} cannot be fitted: {list(x.columns[constant])} do not vary among the "
            "cases used. Leave them out or choose other covariates."
        )
    standardised = np.asfortranarray(centred / scale)
    gram = standardised.T @ standardised
    # Column j of the Gram matrix depends on the earlier ones exactly when column j of
    # x does, and then the j-th diagonal element of its (unpivoted) QR factor vanishes.
    diagonal = np.abs(np.diag(np.linalg.qr(gram)[1]))
    dependent = np.flatnonzero(diagonal < 1e-8)
    if dependent.size:
        j = int(dependent[0])
        raise CaseworkError(
            f"The {what} cannot be fitted: `{x.columns[j]}` is a linear combination "
            f"of {list(x.columns[:j])} (a singular design). Drop one of them."
        )


def _diverged(params: np.ndarray, design: _Design) -> np.ndarray:
    """Which estimates ran off to infinity (see :data:`_DIVERGED`)."""
    dummy = design.terms["level"].notna().to_numpy()
    size = np.where(dummy, 1.0, design.x.std().to_numpy()) * np.abs(params)
    return ~np.isfinite(params) | (size > _DIVERGED)


def _reference(reference, group) -> dict:
    if reference is None:
        return {}
    if isinstance(reference, dict):
        return dict(reference)
    if group is None:
        raise CaseworkError(
            "`reference` given as a single level needs `group`; to choose reference levels of "
            "covariates pass a dict such as {'sex': 'male'}."
        )
    return {group: reference}


# --------------------------------------------------------------------------
# Indirect standardisation
# --------------------------------------------------------------------------


def age_band(age: ArrayLike, breaks: Sequence[float] = AGE_BREAKS) -> pd.Series:
    """Age in bands: ``<25``, ``25-34``, ``35-44``, ``45+`` (by default).

    Parameters
    ----------
    age : array-like
        Age in years (at intake); missing stays missing.
    breaks : sequence of int
        Lower bounds of every band after the first.

    Returns
    -------
    Series
        Text labels (missing where age is missing).

    Examples
    --------
    >>> age_band([18, 25, 34.9, 35, 60, None]).tolist()
    ['<25', '25-34', '25-34', '35-44', '45+', nan]
    """
    breaks = [int(b) for b in breaks]
    if breaks != sorted(set(breaks)):
        raise CaseworkError(
            f"The value for `breaks` must be increasing whole years, but {breaks!r} was passed."
        )
    labels = [f"<{breaks[0]}"]
    labels += [f"{lo}-{hi - 1}" for lo, hi in zip(breaks[:-1], breaks[1:], strict=True)]
    labels += [f"{breaks[-1]}+"]
    values = pd.Series(pd.to_numeric(pd.Series(age), errors="coerce")).astype("float64")
    code = np.searchsorted(np.asarray(breaks, dtype=float), values.to_numpy(), side="right")
    out = pd.Series(np.asarray(labels, dtype=object)[code], index=values.index, dtype=object)
    return out.where(values.notna(), np.nan)


def c_statistic(outcome: ArrayLike, score: ArrayLike) -> float:
    """Concordance (area under the ROC curve) of a score for a binary outcome.

    The probability that a random case with the outcome scores higher than
    a random case without it, ties counting one half.

    Parameters
    ----------
    outcome : array-like
        1 (or True) for the outcome, 0 (or False) without it; pairs with a
        missing outcome or score are left out.
    score : array-like
        The score of each case, e.g. its expected probability.

    Returns
    -------
    float
        The concordance, from 0 to 1; NaN when either class is empty.

    Notes
    -----
    From the ranks (Mann–Whitney): with :math:`n_1` cases with the outcome,
    :math:`n_0` without, and :math:`R_1` the sum of the (average) ranks of
    the scores of the first,
    :math:`C = (R_1 - n_1(n_1 + 1)/2) / (n_1 n_0)`. NaN when either class is
    empty.
    """
    y = np.asarray(outcome, dtype=float)
    s = np.asarray(score, dtype=float)
    ok = ~(np.isnan(y) | np.isnan(s))
    y, s = y[ok] == 1, s[ok]
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@dataclass
class CaseMixModel:
    """A fitted case-mix (risk-adjustment) model; see :func:`case_mix_model`.

    Attributes
    ----------
    expected : Series
        Each case's fitted probability of the outcome, on the index of the
        input frame; missing for cases left out of the model.
    table : DataFrame
        One row per term: ``term``, ``covariate``, ``level``, ``reference``,
        ``odds_ratio``, ``ci_low``, ``ci_high`` (95% Wald), ``p_value``,
        ``n``, ``n_dropped``, ``c_statistic``.
    outcome : str
    covariates : list of str
    n, n_dropped : int
        Cases used; cases left out because a covariate was missing.
    c_statistic : float
        Discrimination of the model on the cases used.
    """

    expected: pd.Series
    table: pd.DataFrame
    outcome: str
    covariates: list[str]
    n: int
    n_dropped: int
    c_statistic: float

    def _repr_html_(self) -> str:
        head = (
            f"Logistic model of {self.outcome} on {', '.join(self.covariates)}: n = {self.n}, "
            f"{self.n_dropped} dropped (missing covariate), C = {self.c_statistic:.3f}"
        )
        return f"<p>{html.escape(head)}</p>" + self.table.to_html(index=False)


def _default_covariates(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    if "age_band" not in frame.columns and "age_at_intake" in frame.columns:
        frame = frame.assign(age_band=age_band(frame["age_at_intake"]))
    chosen = [c for c in DEFAULT_COVARIATES if c in frame.columns and frame[c].notna().any()]
    if not chosen:
        raise CaseworkError(
            f"None of the default case-mix covariates {list(DEFAULT_COVARIATES)} (or "
            "age_at_intake) has a value in the data; name the covariates with `covariates=`."
        )
    return frame, chosen


def case_mix_model(
    frame: pd.DataFrame,
    *,
    outcome: str,
    covariates: Sequence[str] | None = None,
    reference: dict | None = None,
) -> CaseMixModel:
    """Logistic regression of a binary outcome on case-mix covariates.

    The expected probabilities feed :func:`funnel_table` (``expected=``) for
    an indirectly standardised comparison (O/E).

    Parameters
    ----------
    frame : DataFrame
        One row per case.
    outcome : str
        Binary outcome (0/1 or True/False). Cases with a missing outcome are
        dropped and counted.
    covariates : list of str, optional
        Case-mix columns. Numeric columns enter as they are (booleans as
        0/1); any other column is categorical, dummy-coded against its most
        frequent level (or the level named in ``reference``). Default:
        :data:`DEFAULT_COVARIATES` where present and not all missing
        (``age_band`` derived from ``age_at_intake``).
    reference : dict, optional
        Reference level per categorical covariate, e.g. ``{"sex": "male"}``.

    Returns
    -------
    CaseMixModel

    Raises
    ------
    CaseworkError
        When the outcome has one class among the cases used, a covariate is
        constant or collinear with others (singular design), or the outcome
        is perfectly predicted by a covariate level (separation).

    Notes
    -----
    statsmodels ``GLM`` with a binomial family and logit link, fitted by
    IRLS. Odds ratios are :math:`e^{\\beta}` with 95% Wald intervals
    :math:`e^{\\beta \\pm 1.96\\,se}`. Cases with any missing covariate are
    dropped (complete-case analysis) and counted in ``n_dropped``; they get
    no expected value and so drop out of an O/E comparison. The model is
    fitted on all groups together and knows nothing of the groups: a group
    that differs only in case mix has O/E near 1. ``c_statistic`` is
    :func:`c_statistic` of the fitted probabilities (in-sample, so
    optimistic).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    if covariates is None:
        frame, covariates = _default_covariates(frame)
    covariates = group_columns(covariates)
    _columns(frame, [outcome, *covariates])
    y = _binary(frame[outcome], outcome)
    design = _design(frame, covariates, dict(reference or {}), y.notna())
    y_used = y[design.keep].to_numpy()
    n_used = len(y_used)
    classes = np.unique(y_used)
    if len(classes) < 2:
        raise CaseworkError(
            f"The outcome `{outcome}` has only the value {classes.tolist()} among the {n_used} "
            "cases with every covariate; a model needs cases with and without it."
        )
    _check_rank(design.x, "case-mix model")
    _check_separation(design, y_used, "case-mix model", both_ends=True)
    exog = sm.add_constant(design.x.to_numpy(), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            fit = sm.GLM(y_used, exog, family=sm.families.Binomial()).fit()
        except (PerfectSeparationWarning, PerfectSeparationError, np.linalg.LinAlgError):
            raise CaseworkError(
                f"The case-mix model of `{outcome}` on {covariates} cannot be fitted: the "
                "covariates predict the outcome perfectly (separation)."
            ) from None
    params = np.asarray(fit.params)[1:]
    if not fit.converged or _diverged(params, design).any():
        bad = list(design.x.columns[_diverged(params, design)]) or list(design.x.columns)
        raise CaseworkError(
            f"The case-mix model of `{outcome}` did not converge: the estimates for {bad} run "
            "off to infinity (separation). Merge sparse levels or leave the covariate out."
        )
    bse = np.asarray(fit.bse)[1:]
    z = stats.norm.ppf(0.975)
    mu = np.asarray(fit.mu)
    c = c_statistic(y_used, mu)
    table = design.terms.assign(
        odds_ratio=np.exp(params),
        ci_low=np.exp(params - z * bse),
        ci_high=np.exp(params + z * bse),
        p_value=np.asarray(fit.pvalues)[1:],
        n=n_used,
        n_dropped=int(len(frame) - n_used),
        c_statistic=c,
    )
    expected = pd.Series(np.nan, index=frame.index, name="expected")
    expected[design.keep.to_numpy()] = mu
    return CaseMixModel(
        expected=expected,
        table=table,
        outcome=outcome,
        covariates=covariates,
        n=n_used,
        n_dropped=int(len(frame) - n_used),
        c_statistic=c,
    )


def _check_separation(design: _Design, y: np.ndarray, what: str, both_ends: bool) -> None:
    """Raise when a level of a categorical covariate (its reference included), or a value of
    a two-valued numeric one (a 0/1 indicator), never has the outcome, or (``both_ends``)
    always has it: its estimate would be infinite."""
    bad = []
    for covariate, rows in design.terms.groupby("covariate", sort=False):  # over covariates
        if rows["level"].notna().any():
            block = design.x[rows["term"].tolist()].to_numpy()
            members = np.column_stack([block, block.sum(axis=1) == 0])
            names = [*rows["term"], f"{covariate}={rows['reference'].iloc[0]}"]
        else:
            values = design.x[covariate].to_numpy()
            distinct = np.unique(values)
            if len(distinct) != 2:
                continue
            members = values[:, None] == distinct[None, :]
            names = [f"{covariate}={v:g}" for v in distinct]
        cases, events = members.sum(axis=0), members.T @ y
        flags = (events == 0) | ((events == cases) if both_ends else False)
        bad += [name for name, flag in zip(names, flags, strict=True) if flag]
    if bad:
        raise CaseworkError(
            f"The {what} cannot be fitted: among the cases of {bad} the outcome happens "
            f"{'never or always' if both_ends else 'never'} (separation), so the estimate is "
            "infinite. Merge those levels with others or leave the covariate out."
        )


# --------------------------------------------------------------------------
# Cox regression
# --------------------------------------------------------------------------


@dataclass
class _CoxFit:
    design: _Design
    time: np.ndarray
    event: np.ndarray
    params: np.ndarray
    cov: np.ndarray
    result: object


def _fit_cox(frame, duration, event, covariates, group, reference) -> _CoxFit:
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    covariates = group_columns(covariates)
    terms = ([group] if group else []) + [c for c in covariates if c != group]
    if not terms:
        raise CaseworkError("Name at least one of `covariates` or `group` for a Cox model.")
    _columns(frame, [duration, event, *terms])
    time = pd.to_numeric(frame[duration], errors="coerce")
    status = _binary(frame[event], event)
    keep = time.notna() & status.notna()
    if (time[keep] < 0).any():
        raise CaseworkError(f"`{duration}` has negative durations; durations must be >= 0.")
    refs = _reference(reference, group)
    if group:  # groups are levels even when coded as numbers; default reference: the largest
        frame = frame.assign(**{group: frame[group].astype("string")})
    design = _design(frame, terms, refs, keep)
    t = time[design.keep].to_numpy(dtype=float)
    d = status[design.keep].to_numpy(dtype=float)
    if d.sum() == 0:
        raise CaseworkError(f"No case has `{event}` = 1; a Cox model needs events.")
    _check_rank(design.x, "Cox model")
    _check_separation(design, d, "Cox model", both_ends=False)
    model = PHReg(t, design.x.to_numpy(), status=d, ties="efron")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        with np.errstate(over="ignore", invalid="ignore"):
            result = model.fit()
    params = np.asarray(result.params)
    failed = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if failed or _diverged(params, design).any():
        bad = list(design.x.columns[_diverged(params, design)]) or list(design.x.columns)
        raise CaseworkError(
            f"The Cox model did not converge: the estimates for {bad} run off to infinity "
            "(monotone likelihood) or the fit failed. Merge sparse levels or leave the "
            "covariate out."
        )
    return _CoxFit(design, t, d.astype(bool), params, np.asarray(result.cov_params()), result)


def cox_model(
    frame: pd.DataFrame,
    *,
    duration: str,
    event: str,
    covariates: Sequence[str] = (),
    group: str | None = None,
    reference: str | Mapping[str, str] | None = None,
    outcome: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Cox proportional-hazards regression with Efron ties, as a tidy table.

    Parameters
    ----------
    frame : DataFrame
        One row per case.
    duration : str
        Time from the time origin (intake, or the start of abstinence for
        relapse) to the event or to the end of observation (days, >= 0).
    event : str
        1/True if the event was observed at ``duration``, 0/False if the
        case was censored there (still under observation at the end, or
        lost).
    covariates : list of str
        Adjustment columns: numeric ones as they are, others dummy-coded
        against their most frequent level.
    group : str, optional
        The column whose groups are compared (site, placement): dummy terms
        against the ``reference`` group (default: the largest).
    reference : str or dict, optional
        The reference level of ``group``, or a dict of reference levels per
        column.
    outcome : str, optional
        Name stored in the ``outcome`` column (default: ``event``).
    confidence : float
        Coverage of the intervals (0.95).

    Returns
    -------
    DataFrame
        One row per term: ``outcome``, ``term`` (``column`` or
        ``column=level``), ``covariate``, ``level``, ``reference``, ``coef``
        (log hazard ratio), ``se``, ``hazard_ratio``, ``ci_low``, ``ci_high``
        (Wald interval of the hazard ratio), ``p_value`` (Wald), ``n`` (cases
        used), ``events``, ``n_dropped`` (cases with a missing duration,
        event, group or covariate, left out).

    Notes
    -----
    statsmodels ``PHReg(ties="efron")``, which matches R's
    ``coxph(..., ties = "efron")`` (R's default): on the Rossi recidivism
    data the coefficients agree with Fox & Weisberg's published output to
    four decimals (tested). Right-censoring only; no strata, no
    time-varying covariates. Hazard ratios are :math:`e^{\\beta}` with
    intervals :math:`e^{\\beta \\pm z\\,se}`. Check proportional hazards with
    :func:`proportional_hazards_test`.

    Raises
    ------
    CaseworkError
        With no events, a constant or collinear covariate, or a level with
        no events (its hazard ratio would be 0: monotone likelihood).
    """
    fit = _fit_cox(frame, duration, event, covariates, group, reference)
    se = np.sqrt(np.diag(fit.cov))
    z = stats.norm.ppf(0.5 + confidence / 2)
    table = fit.design.terms.assign(
        coef=fit.params,
        se=se,
        hazard_ratio=np.exp(fit.params),
        ci_low=np.exp(fit.params - z * se),
        ci_high=np.exp(fit.params + z * se),
        p_value=2 * stats.norm.sf(np.abs(fit.params / se)),
        n=len(fit.time),
        events=int(fit.event.sum()),
        n_dropped=int(len(frame) - len(fit.time)),
    )
    table.insert(0, "outcome", outcome or event)
    return table


def _schoenfeld(time, event, x, params):
    """Schoenfeld residuals with Efron's handling of ties, as R ``coxscho`` computes them.

    Returns the event times (one per event, ascending) and the residuals
    (events × covariates).
    """
    order = np.argsort(-time, kind="stable")  # descending time: risk sets are prefix sums
    t, d, xs = time[order], event[order], x[order]
    eta = (xs - xs.mean(axis=0)) @ params
    r = np.exp(eta - eta.max())
    unique_t, first = np.unique(-t, return_index=True)  # ascending in -t = descending t
    last = np.r_[first[1:], len(t)] - 1
    cum_r = np.cumsum(r)
    cum_rx = np.cumsum(r[:, None] * xs, axis=0)
    denom, a = cum_r[last], cum_rx[last]  # everyone with time >= t
    dead_r = np.add.reduceat(r * d, first)
    dead_rx = np.add.reduceat((r * d)[:, None] * xs, first, axis=0)
    deaths = np.add.reduceat(d.astype(float), first)
    has = deaths > 0
    denom, a, dead_r, dead_rx, deaths = denom[has], a[has], dead_r[has], dead_rx[has], deaths[has]
    # One Efron term per death: k = 0 .. d - 1 at each time.
    per_time = deaths.astype(int)
    which = np.repeat(np.arange(len(deaths)), per_time)
    k = np.arange(per_time.sum()) - np.repeat(np.cumsum(per_time) - per_time, per_time)
    frac = (k / deaths[which])[:, None]
    terms = (a[which] - frac * dead_rx[which]) / (denom[which] - frac[:, 0] * dead_r[which])[
        :, None
    ]
    mean = np.zeros_like(a)
    np.add.at(mean, which, terms)
    mean /= deaths[:, None]
    event_time = -unique_t[has]
    # Each death's residual: its covariates minus the mean at its time.
    dead = d.astype(bool)
    death_time_index = np.searchsorted(-event_time, -t[dead])  # event_time is descending
    resid = xs[dead] - mean[death_time_index]
    ascending = np.argsort(t[dead], kind="stable")
    return t[dead][ascending], resid[ascending]


def _time_transform(transform, time, event, event_times):
    if transform == "identity":
        return event_times
    if transform == "log":
        return np.log(event_times)
    if transform == "rank":
        return stats.rankdata(event_times)
    # "km": 1 - the left-continuous Kaplan–Meier estimate at each event time.
    times, index = np.unique(time, return_inverse=True)
    deaths = np.bincount(index, weights=event.astype(float), minlength=len(times))
    removed = np.bincount(index, minlength=len(times))
    at_risk = removed[::-1].cumsum()[::-1]
    surv = np.cumprod(1 - deaths / at_risk)
    left = np.r_[1.0, surv[:-1]]
    return 1 - left[np.searchsorted(times, event_times)]


def proportional_hazards_test(
    frame: pd.DataFrame,
    *,
    duration: str,
    event: str,
    covariates: Sequence[str] = (),
    group: str | None = None,
    reference: str | Mapping[str, str] | None = None,
    outcome: str | None = None,
    transform: str = "km",
) -> pd.DataFrame:
    """Test of proportional hazards per term and globally (R ``cox.zph``, survival < 3.0).

    Fits the same model as :func:`cox_model` (same arguments) and tests
    whether each coefficient changes with a transform of time.

    Parameters
    ----------
    transform : {"km", "rank", "identity", "log"}
        Transform of time g(t): ``"km"`` (default, as R) is one minus the
        left-continuous Kaplan–Meier estimate of all cases.

    Returns
    -------
    DataFrame
        One row per term and a last row ``term == "GLOBAL"``: ``outcome``,
        ``term``, ``rho`` (correlation of g(t) with the scaled Schoenfeld
        residuals; missing for GLOBAL), ``chisq``, ``df`` (1 per term, the
        number of terms for GLOBAL), ``p_value``, ``transform``, ``n``,
        ``events``.

    Notes
    -----
    This is the Grambsch–Therneau (1994) approximation that R's ``cox.zph``
    used up to survival 2.44 (``R/cox.zph.S``, replaced in survival 3.0,
    2019, by a score test for adding :math:`\\beta(t) = \\beta + \\gamma
    g(t)`; the two agree closely but not exactly). With :math:`r_k` the
    Schoenfeld residual vectors at the d event times (Efron's mean over tied
    deaths, as R's ``coxscho``), V the model's variance matrix,
    :math:`x_k = g(t_k) - \\bar g`:

    - scaled residuals :math:`r^*_k = d\\,V r_k`;
    - per term j: :math:`T_j = (\\sum_k x_k r^*_{kj})^2 /
      (d\\,V_{jj} \\sum_k x_k^2)`, on 1 df; ``rho`` is
      cor(:math:`x, r^*_{\\cdot j}`);
    - global: :math:`T = d\\,u^\\top V u / \\sum_k x_k^2` with
      :math:`u = \\sum_k x_k r_k`, on as many df as terms.

    On the Rossi data (``fin + age + prio``) this reproduces the output
    printed by Fox & Weisberg to every digit shown (tested).
    """
    _choice("transform", transform, TRANSFORMS)
    fit = _fit_cox(frame, duration, event, covariates, group, reference)
    x = fit.design.x.to_numpy()
    times, resid = _schoenfeld(fit.time, fit.event, x, fit.params)
    g = _time_transform(transform, fit.time, fit.event, times)
    deaths = len(times)
    xx = g - g.mean()
    scaled = resid @ fit.cov * deaths
    test = xx @ scaled
    chisq = test**2 / (np.diag(fit.cov) * deaths * (xx**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (xx @ (scaled - scaled.mean(axis=0))) / np.sqrt(
            (xx**2).sum() * ((scaled - scaled.mean(axis=0)) ** 2).sum(axis=0)
        )
    u = xx @ resid
    global_chisq = float(u @ fit.cov @ u * deaths / (xx**2).sum())
    k = len(chisq)
    table = pd.DataFrame(
        {
            "outcome": outcome or event,
            "term": [*fit.design.x.columns, "GLOBAL"],
            "rho": [*rho, np.nan],
            "chisq": [*chisq, global_chisq],
            "df": [1] * k + [k],
            "p_value": [*stats.chi2.sf(chisq, 1), stats.chi2.sf(global_chisq, k)],
            "transform": transform,
            "n": len(fit.time),
            "events": deaths,
        }
    )
    return table


# --------------------------------------------------------------------------
# Trend over ordered terms
# --------------------------------------------------------------------------


class TrendTest(NamedTuple):
    """Cochran–Armitage test of a linear trend in proportions."""

    z: float
    chisq: float
    p_value: float
    n: int


def cochran_armitage(
    successes: ArrayLike, totals: ArrayLike, scores: ArrayLike | None = None
) -> TrendTest:
    """Cochran–Armitage test for a linear trend in proportions (two-sided).

    Parameters
    ----------
    successes, totals : array-like
        Per ordered category: cases with the outcome, and all cases.
    scores : array-like, optional
        Score of each category; default 0, 1, 2, ...

    Returns
    -------
    TrendTest
        ``z`` (positive when the share rises with the score), ``chisq``
        (z², 1 df), ``p_value`` (two-sided), ``n``.

    Notes
    -----
    With :math:`x_i` successes of :math:`n_i` at score :math:`s_i`,
    :math:`N = \\sum n_i` and :math:`\\bar p = \\sum x_i / N`,

    .. math:: z = \\frac{\\sum_i s_i (x_i - n_i \\bar p)}
       {\\sqrt{\\bar p (1 - \\bar p)\\left[\\sum_i n_i s_i^2 -
       (\\sum_i n_i s_i)^2 / N\\right]}}

    (Cochran 1954; Armitage 1955). It equals :math:`N r^2` with r the
    Pearson correlation of score and outcome over cases, so Mantel's
    :math:`M^2 = (N - 1) r^2` (Agresti 2002, 3.4.6) is
    :math:`z^2 (N - 1)/N`. NaN when every case or no case has the outcome,
    or the scores do not vary among the cases.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(totals, dtype=float)
    s = np.arange(len(n), dtype=float) if scores is None else np.asarray(scores, dtype=float)
    if not (x.shape == n.shape == s.shape) or x.ndim != 1:
        raise CaseworkError(
            "`successes`, `totals` and `scores` must be one value per category of the same "
            f"length; got lengths {x.size}, {n.size} and {s.size}."
        )
    if (x < 0).any() or (x > n).any() or np.isnan(x).any() or np.isnan(s).any():
        raise CaseworkError(
            "`successes` must be counts between 0 and `totals`, and scores must be numbers; got "
            f"successes {x.tolist()}, totals {n.tolist()}, scores {s.tolist()}."
        )
    total = n.sum()
    if total == 0:
        return TrendTest(np.nan, np.nan, np.nan, 0)
    p = x.sum() / total
    spread = (n * s**2).sum() - (n * s).sum() ** 2 / total
    variance = p * (1 - p) * spread
    if variance <= 0:
        return TrendTest(np.nan, np.nan, np.nan, int(total))
    z = float((s * (x - n * p)).sum() / np.sqrt(variance))
    return TrendTest(z, z**2, float(2 * stats.norm.sf(abs(z))), int(total))


def trend_table(
    frame: pd.DataFrame,
    *,
    outcome: str,
    term: str,
    scores: Mapping[object, float] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Share with the outcome per term (or any ordered category), and its trend.

    Parameters
    ----------
    frame : DataFrame
        One row per case.
    outcome : str
        Binary outcome; cases with it missing are left out.
    term : str
        The ordered column (term, intake year, ...). Terms are ordered by
        their sorted values unless ``scores`` says otherwise.
    scores : dict, optional
        Score of each term (e.g. ``{"2024-1": 0, "2024-2": 1}``); default
        0, 1, 2, ... in sorted order. Terms without a score are an error.

    Returns
    -------
    DataFrame
        One row per term in score order: ``term`` (the column keeps its
        name), ``score``, ``n``, ``successes``, ``share``, ``ci_low``,
        ``ci_high`` (Wilson), then the trend over all terms repeated on every
        row: ``trend_z``, ``trend_chisq``, ``trend_p_value``
        (:func:`cochran_armitage`).
    """
    _columns(frame, [outcome, term])
    y = _binary(frame[outcome], outcome)
    keep = y.notna() & frame[term].notna()
    counts = (
        pd.DataFrame({term: frame.loc[keep, term].to_numpy(), "y": y[keep].to_numpy()})
        .groupby(term, sort=True)["y"]
        .agg(n="size", successes="sum")
        .reset_index()
    )
    if scores is None:
        counts["score"] = np.arange(len(counts), dtype=float)
    else:
        mapped = counts[term].map(dict(scores))
        if mapped.isna().any():
            raise CaseworkError(
                f"`scores` must give a score to every value of `{term}`; "
                f"{counts.loc[mapped.isna(), term].tolist()} have none."
            )
        counts["score"] = mapped.astype(float)
        counts = counts.sort_values("score", kind="stable").reset_index(drop=True)
    counts["successes"] = counts["successes"].astype("int64")
    counts["share"] = counts["successes"] / counts["n"]
    counts["ci_low"], counts["ci_high"] = wilson_interval(
        counts["successes"], counts["n"], confidence
    )
    trend = cochran_armitage(counts["successes"], counts["n"], counts["score"])
    counts["trend_z"] = trend.z
    counts["trend_chisq"] = trend.chisq
    counts["trend_p_value"] = trend.p_value
    return counts[
        [
            term,
            "score",
            "n",
            "successes",
            "share",
            "ci_low",
            "ci_high",
            "trend_z",
            "trend_chisq",
            "trend_p_value",
        ]
    ]
