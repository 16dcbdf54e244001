"""Confidence intervals for proportions and risk ratios (vectorised)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

__all__ = [
    "wilson_interval",
    "risk_ratio",
]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    successes, trials : array-like
        Counts; where ``trials`` is 0 the interval is NaN.
    confidence : float
        Coverage, default 0.95.

    Returns
    -------
    low, high : ndarray

    Notes
    -----
    With :math:`\\hat p = k/n` and :math:`z` the normal quantile,

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    (Wilson 1927; Brown, Cai & DasGupta 2001). Agrees with
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return low, high


def risk_ratio(
    a: ArrayLike, n1: ArrayLike, c: ArrayLike, n0: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Risk ratio of group 1 (``a`` events of ``n1``) over group 0 (``c`` of ``n0``).

    Parameters
    ----------
    a, n1 : array-like
        Events and subjects of group 1.
    c, n0 : array-like
        Events and subjects of group 0.
    confidence : float
        Coverage, default 0.95.

    Returns
    -------
    rr, low, high : ndarray
        The crude estimate :math:`(a/n_1) / (c/n_0)` (0 or infinite when one
        risk is 0; NaN when both are, or a group is empty) and its interval.
    corrected : ndarray of bool
        True where the interval used the 0.5 correction.

    Notes
    -----
    Katz log interval: :math:`\\log RR \\pm z\\sqrt{1/a - 1/n_1 + 1/c - 1/n_0}`.
    Only ``a`` and ``c`` enter the log ratio and its variance as divisors,
    so only when one of them is zero is 0.5 added to each of the four cells
    of the 2×2 table (Haldane-Anscombe: ``a``, ``c`` + 0.5, ``n1``, ``n0``
    + 1) to compute the interval; the estimate shown stays the crude one,
    and ``corrected`` says so.
    """
    a, n1, c, n0 = (np.asarray(x, dtype=float) for x in (a, n1, c, n0))
    corrected = (a == 0) | (c == 0)
    a_, c_ = np.where(corrected, a + 0.5, a), np.where(corrected, c + 0.5, c)
    n1_, n0_ = np.where(corrected, n1 + 1, n1), np.where(corrected, n0 + 1, n0)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = (a / n1) / (c / n0)
        log_rr = np.log((a_ / n1_) / (c_ / n0_))
        se = np.sqrt(1 / a_ - 1 / n1_ + 1 / c_ - 1 / n0_)
    empty = (n1 == 0) | (n0 == 0)
    rr = np.where(empty, np.nan, rr)
    low = np.where(empty, np.nan, np.exp(log_rr - z * se))
    high = np.where(empty, np.nan, np.exp(log_rr + z * se))
    return rr, low, high, corrected & ~empty
