"""Survival statistics on tidy frames: Kaplan–Meier with Greenwood
intervals and the number at risk, medians, restricted mean survival time,
the log-rank test, and cumulative incidence for competing exits.

All estimators are computed with grouped pandas operations (no loop over
groups or subjects) and checked in the tests against published R
``survival`` output (``aml``, and ``aml3`` with a degenerate group),
lifelines and scikit-survival (the ``lung`` data), and statsmodels
(``SurvfuncRight``, ``CumIncidenceRight``).

Durations are in days from the time origin of the outcome (intake in this
package). A subject whose event was not observed is right-censored at its
duration. Rows with a missing duration or event indicator are left out and
counted in ``n_excluded``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .errors import CaseworkError
from .grouping import OVERALL, group_columns, group_key

__all__ = [
    "CONF_TYPES",
    "kaplan_meier",
    "at_risk_table",
    "TOLERANCE",
    "survival_quantile",
    "survival_at",
    "SUMMARY_COUNTS",
    "SUMMARY_SHAPE",
    "survival_summary",
    "logrank_test",
    "cumulative_incidence",
]

CONF_TYPES = ("log-log", "log")


def _prepare(data, duration, event, by):
    cols = group_columns(by)
    missing = [c for c in [duration, event, *cols] if c not in data.columns]
    if missing:
        raise CaseworkError(f"Columns {missing} are not in the data; it has {list(data.columns)}.")
    frame = data[[*cols, duration, event]].copy()
    keep = frame[duration].notna() & frame[event].notna()
    frame = frame[keep]
    times = frame[duration].astype("float64")
    if (times < 0).any():
        raise CaseworkError(f"`{duration}` has negative durations; durations must be >= 0.")
    out = pd.DataFrame({c: frame[c].astype("string").fillna("(missing)") for c in cols})
    out["time_days"] = times.to_numpy()
    out["event"] = frame[event].astype(bool).to_numpy()
    return out, cols, int((~keep).sum())


def _with_overall(frame, cols, overall):
    if cols and overall:
        return pd.concat([frame, frame.assign(**{c: OVERALL for c in cols})], ignore_index=True)
    return frame


def _risk_table(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """At risk, events and censored at every distinct time, per group."""
    table = (
        frame.groupby([*keys, "time_days"], sort=True)
        .agg(n=("event", "size"), events=("event", "sum"))
        .reset_index()
    )
    table["censored"] = table["n"] - table["events"]
    grouped = table.groupby(keys, sort=False)["n"] if keys else table["n"]
    total = grouped.transform("sum") if keys else table["n"].sum()
    before = (grouped.cumsum() if keys else table["n"].cumsum()) - table["n"]
    table["at_risk"] = (total - before).astype("int64")
    return table.drop(columns="n")


def kaplan_meier(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    by: str | Sequence[str] | None = None,
    conf_type: str = "log-log",
    confidence: float = 0.95,
    overall: bool = True,
) -> pd.DataFrame:
    """Kaplan–Meier survival curves with Greenwood intervals, as a tidy table.

    Parameters
    ----------
    data : DataFrame
        One row per subject.
    duration, event : str
        Column of durations (days, >= 0) and of the event indicator (True
        if the event was observed, False if censored).
    by : str or list of str, optional
        Group columns; one curve per group (and an ``All`` curve with
        ``overall=True``).
    conf_type : {"log-log", "log"}
        Transform of the pointwise interval. ``"log-log"`` (default) stays
        inside [0, 1] and behaves well in the tails; ``"log"`` matches R's
        ``survfit`` default.
    confidence : float
        Coverage of the intervals (0.95).

    Returns
    -------
    DataFrame
        Group columns, ``time_days`` (every distinct time, events or
        censoring), ``at_risk`` (subjects with duration >= time),
        ``events``, ``censored``, ``survival`` (the product-limit estimate
        just after the time), ``se`` (Greenwood standard error of
        ``survival``), ``ci_low``, ``ci_high``.

    Notes
    -----
    :math:`\\hat S(t) = \\prod_{t_i \\le t} (1 - d_i/n_i)`; Greenwood:
    :math:`\\widehat{Var}\\,\\hat S = \\hat S^2 \\sum_{t_i \\le t} d_i / (n_i (n_i - d_i))`.
    Log interval: :math:`\\hat S \\exp(\\pm z\\,\\sigma)`, capped at 1; log-log:
    :math:`\\hat S^{\\exp(\\pm z\\,\\sigma / \\log \\hat S)}`, with
    :math:`\\sigma^2 = \\sum d_i / (n_i (n_i - d_i))`. Where the estimate is
    0 or 1 the interval is undefined: at 1 (no event yet) it is given as 1
    to 1 (both transforms); at 0 the log-log interval is missing. R's
    ``survfit`` leaves the log-log interval missing at 1 as well.
    """
    if conf_type not in CONF_TYPES:
        raise CaseworkError(
            f"The value for `conf_type` must be one of {list(CONF_TYPES)}, but {conf_type!r} "
            "was passed."
        )
    frame, cols, _ = _prepare(data, duration, event, by)
    frame = _with_overall(frame, cols, overall)
    table = _risk_table(frame, cols)
    keys = table[cols] if cols else None
    factor = 1 - table["events"] / table["at_risk"]
    log_factor = np.log(factor.where(factor > 0))
    cum_log = log_factor.groupby([keys[c] for c in cols]).cumsum() if cols else log_factor.cumsum()
    zero = factor == 0
    ever_zero = zero.groupby([keys[c] for c in cols]).cummax() if cols else zero.cummax()
    survival = np.where(ever_zero, 0.0, np.exp(cum_log))
    with np.errstate(divide="ignore", invalid="ignore"):
        term = table["events"] / (table["at_risk"] * (table["at_risk"] - table["events"]))
    term = term.where(table["at_risk"] > table["events"], np.inf)
    sigma2 = term.groupby([keys[c] for c in cols]).cumsum() if cols else term.cumsum()
    sigma = np.sqrt(sigma2.to_numpy())
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        se = survival * sigma
        if conf_type == "log":
            low = survival * np.exp(-z * sigma)
            high = np.minimum(survival * np.exp(z * sigma), 1.0)
        else:
            log_s = np.log(survival)
            low = survival ** np.exp(-z * sigma / log_s)
            high = survival ** np.exp(z * sigma / log_s)
            inside = (survival > 0) & (survival < 1)
            low = np.where(inside, low, np.nan)
            high = np.where(inside, high, np.nan)
    table["survival"] = survival
    table["se"] = np.where(np.isfinite(se), se, np.nan)
    table["ci_low"] = np.where(survival == 1, 1.0, low) if conf_type == "log" else low
    table["ci_high"] = np.where(survival == 1, 1.0, high) if conf_type == "log" else high
    if conf_type == "log-log":
        table.loc[survival == 1, ["ci_low", "ci_high"]] = 1.0
    table = _overall_last(table, cols)
    return table[
        [*cols, "time_days", "at_risk", "events", "censored", "survival", "se", "ci_low", "ci_high"]
    ]


def _overall_last(table: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Move the whole-cohort rows after the groups, keeping order otherwise."""
    if not cols:
        return table.reset_index(drop=True)
    is_all = (table[cols] == OVERALL).all(axis=1)
    return pd.concat([table[~is_all], table[is_all]], ignore_index=True)


def at_risk_table(
    km: pd.DataFrame, times: Sequence[float], *, group: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Numbers at risk, and events and censorings so far, at chosen times.

    The table printed under a Kaplan–Meier plot, as data.

    Parameters
    ----------
    km : DataFrame
        From :func:`kaplan_meier`.
    times : sequence of float
        Times (days) at which to count.
    group : str or list of str, optional
        The group columns of ``km``.

    Returns
    -------
    DataFrame
        Group columns, ``time_days``, ``at_risk`` (subjects still under
        observation just before the time: duration >= time),
        ``events_before`` and ``censored_before`` (strictly before it).
    """
    cols = group_columns(group)
    times = np.asarray(times, dtype=float)
    parts = []
    grouped = km.groupby(cols, sort=False) if cols else [((), km)]
    for key, rows in grouped:  # one pass per group of the (small) KM table
        t = rows["time_days"].to_numpy(dtype=float)
        after = np.searchsorted(t, times, side="left")
        at_risk = (
            np.where(after < len(t), rows["at_risk"].to_numpy()[np.minimum(after, len(t) - 1)], 0)
            if len(t)
            else np.zeros(len(times), dtype=int)
        )
        # Published tables may hide per-time counts (NaN): the sums are then unknown.
        cum_events = np.concatenate([[0], np.cumsum(rows["events"].to_numpy(dtype=float))])
        cum_censored = np.concatenate([[0], np.cumsum(rows["censored"].to_numpy(dtype=float))])
        part = pd.DataFrame(
            {
                "time_days": times,
                "at_risk": at_risk.astype("int64"),
                "events_before": pd.array(cum_events[after], dtype="Float64").astype("Int64"),
                "censored_before": pd.array(cum_censored[after], dtype="Float64").astype("Int64"),
            }
        )
        for c, value in zip(cols, key if isinstance(key, tuple) else (key,), strict=False):
            part.insert(cols.index(c), c, value)
        parts.append(part)
    if not parts:
        return pd.DataFrame(
            columns=[*cols, "time_days", "at_risk", "events_before", "censored_before"]
        )
    return pd.concat(parts, ignore_index=True)


#: Tolerance of survival comparisons, R's ``sqrt(.Machine$double.eps)``.
TOLERANCE = float(np.sqrt(np.finfo(float).eps))


def _keys(frame: pd.DataFrame, cols: list[str]):
    """Group keys for ``groupby`` (a constant key without group columns)."""
    return [frame[c] for c in cols] if cols else np.zeros(len(frame), dtype=int)


def survival_quantile(
    km: pd.DataFrame,
    column: str = "survival",
    *,
    p: float = 0.5,
    group: str | Sequence[str] | None = None,
) -> pd.Series:
    """Time at which a survival curve (or a band of it) reaches ``1 - p``, per group.

    The rule of R ``survival:::quantile.survfit``: the quantile is the first
    time at which the curve is at or below ``1 - p``, compared with a
    tolerance of ``sqrt(machine epsilon)`` so that 0.5000000000000001 counts
    as 0.5; where the curve equals ``1 - p`` over a flat stretch, the
    quantile is the midpoint of that stretch (to the end of follow-up if
    the curve stays there). Missing if the curve never gets there.

    Parameters
    ----------
    km : DataFrame
        From :func:`kaplan_meier`.
    column : str
        ``"survival"`` for the estimate; ``"ci_low"`` or ``"ci_high"`` for
        the limits of its interval (Brookmeyer & Crowley 1982).
    p : float
        The quantile of the event-time distribution (0.5, the median).
    group : str or list of str, optional
        The group columns of ``km``.

    Returns
    -------
    Series
        One time per group (indexed by the group columns; a single row
        without them).

    Examples
    --------
    >>> km = kaplan_meier(pd.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 1, 1]}),
    ...                   duration="t", event="e")
    >>> float(survival_quantile(km).iloc[0])
    2.5
    """
    cols = group_columns(group)
    cdf = 1 - km[column].astype("float64")
    valid = cdf.notna()
    keys = _keys(km, cols)
    time = km["time_days"].astype("float64")

    def first(mask):
        return time[mask].groupby([k[mask] for k in keys] if cols else keys[mask]).min()

    start = first(valid & (cdf + TOLERANCE >= p))
    below = first(valid & (cdf - TOLERANCE >= p))
    every = time.groupby(keys).max()
    last_cdf = cdf[valid].groupby([k[valid] for k in keys] if cols else keys[valid]).last()
    start, below, last_cdf = (x.reindex(every.index) for x in (start, below, last_cdf))
    quantile = (start + below) / 2
    ends_flat = (last_cdf - p).abs() < TOLERANCE
    quantile = quantile.where(~ends_flat, (start + every) / 2)
    return quantile if cols else quantile.reset_index(drop=True)


def survival_at(
    km: pd.DataFrame, horizon: float, *, group: str | Sequence[str] | None = None
) -> pd.DataFrame:
    """Survival and its interval at one time, per group.

    Parameters
    ----------
    km : DataFrame
        From :func:`kaplan_meier`.
    horizon : float
        The time (days from the time origin).
    group : str or list of str, optional
        The group columns of ``km``.

    Returns
    -------
    DataFrame
        Group columns, ``horizon_days``, ``survival``, ``ci_low``,
        ``ci_high``, ``at_risk`` (subjects still under observation at the
        horizon). Before a group's first time the survival is 1 (interval
        1 to 1). Past the group's last time the survival is not known and is
        missing, unless the curve had already reached 0.
    """
    cols = group_columns(group)
    keys = _keys(km, cols)
    every = km.groupby(keys, sort=False)
    last_time = every["time_days"].max()
    inside = km[km["time_days"] <= horizon]
    upto = inside.groupby(_keys(inside, cols), sort=False).tail(1)
    upto = upto.set_index(cols) if cols else upto.set_index(np.zeros(len(upto), dtype=int))
    out = upto[["survival", "ci_low", "ci_high"]].reindex(last_time.index).astype("float64")
    never_reached = upto["survival"].reindex(last_time.index).isna().to_numpy()
    # Before a group's first time the curve is 1 (interval 1 to 1); a missing interval
    # at a time the curve has (one that reached 0) stays missing, as in R.
    out.loc[never_reached, ["survival", "ci_low", "ci_high"]] = 1.0
    beyond = (last_time.to_numpy() < horizon) & (out["survival"].to_numpy() > 0)
    out.loc[beyond & ~never_reached, ["survival", "ci_low", "ci_high"]] = np.nan
    later = km[km["time_days"] >= horizon]
    out["at_risk"] = (
        (later.groupby(_keys(later, cols), sort=False)["at_risk"].max().reindex(last_time.index))
        .fillna(0)
        .astype("int64")
        .to_numpy()
    )
    out.insert(0, "horizon_days", float(horizon))
    return out.reset_index() if cols else out.reset_index(drop=True)


#: The counts of a :func:`survival_summary` row.
SUMMARY_COUNTS = ("n", "events", "n_excluded")
#: The values of a :func:`survival_summary` row that rest on the shape of its curve.
SUMMARY_SHAPE = (
    "median_days",
    "median_ci_low",
    "median_ci_high",
    "horizon_days",
    "rmst_days",
    "rmst_se",
    "rmst_ci_low",
    "rmst_ci_high",
    "horizon_beyond_followup",
)


def survival_summary(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    by: str | Sequence[str] | None = None,
    horizon: float | None = None,
    conf_type: str = "log-log",
    confidence: float = 0.95,
    overall: bool = True,
) -> pd.DataFrame:
    """Per group: subjects, events, median survival with its interval, and RMST.

    Parameters
    ----------
    data : DataFrame
        One row per subject.
    duration, event : str
        Columns of durations (days) and event indicators.
    by : str or list of str, optional
        Group columns (and an ``All`` row with ``overall=True``).
    horizon : float, optional
        Horizon τ (days) of the restricted mean survival time. Default: the
        largest observed time without groups; with groups, the smallest of
        the groups' largest observed times, so every group is followed to τ
        (as R's ``survRM2::rmst2``).
    conf_type, confidence
        As in :func:`kaplan_meier`.

    Returns
    -------
    DataFrame
        Group columns, ``n``, ``events``, ``n_excluded`` (the group's rows
        with a missing duration or event), ``median_days``, ``median_ci_low``,
        ``median_ci_high``, ``horizon_days``, ``rmst_days``, ``rmst_se``,
        ``rmst_ci_low``, ``rmst_ci_high``, ``horizon_beyond_followup``.

    Notes
    -----
    Median: :func:`survival_quantile` (R's rule, with a tolerance and the
    midpoint of a flat stretch at 0.5); its interval is where the pointwise
    band crosses 0.5, the same rule applied to the lower and upper limits
    (Brookmeyer & Crowley 1982, as R's ``survfit``).

    RMST: :math:`\\int_0^{\\tau} \\hat S(u)\\,du`, with variance
    :math:`\\sum_{t_i \\le \\tau} A_i^2 d_i / (n_i (n_i - d_i))`,
    :math:`A_i = \\int_{t_i}^{\\tau} \\hat S(u)\\,du` (Klein & Moeschberger
    4.5). Before a group's first time :math:`\\hat S = 1`, so a horizon
    earlier than every time gives τ with standard error 0. If τ is past a
    group's last time, the last survival value is carried to τ and
    ``horizon_beyond_followup`` is True.
    """
    frame, cols, n_excluded = _prepare(data, duration, event, by)
    if horizon is not None and not horizon > 0:
        raise CaseworkError(f"`horizon` must be positive; got {horizon!r}.")
    km = kaplan_meier(
        data,
        duration=duration,
        event=event,
        by=by,
        conf_type=conf_type,
        confidence=confidence,
        overall=overall,
    )
    if horizon is not None:
        tau = float(horizon)
    elif cols and len(frame):
        tau = float(frame.groupby(cols)["time_days"].max().min())
    else:
        tau = float(frame["time_days"].max()) if len(frame) else np.nan
    keys = _keys(km, cols)
    grouped = km.groupby(keys, sort=False)
    counts = grouped.agg(n=("at_risk", "max"), events=("events", "sum"))
    if not cols:
        counts = counts.reset_index(drop=True)
    for column, source in (
        ("median_days", "survival"),
        ("median_ci_low", "ci_low"),
        ("median_ci_high", "ci_high"),
    ):
        times = survival_quantile(km, source, group=cols)
        counts[column] = (times.reindex(counts.index) if cols else times).to_numpy()

    inside = km[km["time_days"] <= tau].copy()
    g = _keys(inside, cols)
    prev_time = inside["time_days"].groupby(g).shift(1).fillna(0.0)
    prev_surv = inside["survival"].groupby(g).shift(1).fillna(1.0)
    inside["area"] = prev_surv * (inside["time_days"] - prev_time)
    cum_area = inside["area"].groupby(g).cumsum()
    last = inside.assign(cum_area=cum_area).groupby(g, sort=False).tail(1)
    last_key = (
        pd.MultiIndex.from_frame(last[cols])
        if len(cols) > 1
        else (last[cols[0]] if cols else np.zeros(len(last), dtype=int))
    )
    total = pd.Series(
        (last["cum_area"] + last["survival"] * (tau - last["time_days"])).to_numpy(),
        index=last_key,
    )
    row_key = (
        pd.MultiIndex.from_frame(inside[cols])
        if len(cols) > 1
        else (inside[cols[0]] if cols else np.zeros(len(inside), dtype=int))
    )
    a = total.reindex(row_key).to_numpy() - cum_area.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        risk = inside["at_risk"] * (inside["at_risk"] - inside["events"])
        term = a**2 * inside["events"] / risk
    term = term.where(inside["at_risk"] > inside["events"], 0.0)
    var = term.groupby(g).sum()
    index = grouped.size().index
    counts["horizon_days"] = tau
    counts["rmst_days"] = total.reindex(index).fillna(tau).to_numpy()
    counts["rmst_se"] = np.sqrt(var.reindex(index).fillna(0.0).to_numpy())
    z = stats.norm.ppf(0.5 + confidence / 2)
    counts["rmst_ci_low"] = counts["rmst_days"] - z * counts["rmst_se"]
    counts["rmst_ci_high"] = counts["rmst_days"] + z * counts["rmst_se"]
    counts["horizon_beyond_followup"] = (grouped["time_days"].max() < tau).to_numpy()
    if cols:  # excluded rows per group (with the whole cohort's on its own row)
        dropped = data.loc[~(data[duration].notna() & data[event].notna()), cols]
        labels = pd.DataFrame({c: dropped[c].astype("string").fillna("(missing)") for c in cols})
        per_group = _with_overall(labels, cols, overall).groupby(cols).size()
        counts["n_excluded"] = per_group.reindex(counts.index, fill_value=0).to_numpy()
    else:
        counts["n_excluded"] = n_excluded
    out = counts.reset_index() if cols else counts
    return out[[*cols, *SUMMARY_COUNTS, *SUMMARY_SHAPE]]


def logrank_test(
    data: pd.DataFrame, *, duration: str, event: str, group: str | Sequence[str]
) -> pd.DataFrame:
    """Log-rank test of equal survival across two or more groups.

    Parameters
    ----------
    data : DataFrame
        One row per subject.
    duration, event : str
        Columns of durations and event indicators.
    group : str or list of str
        The column(s) whose groups are compared.

    Returns
    -------
    DataFrame
        One row: ``group`` (the column names), ``chisq``, ``df``,
        ``p_value``, ``n``, ``events``, ``n_groups``; ``chisq`` and
        ``p_value`` are missing when there is nothing to test (fewer than
        two groups with variance, or no events).

    Notes
    -----
    As R ``survival::survdiff`` (rho = 0): with :math:`d_t` events among
    :math:`n_t` at risk at each event time and :math:`n_{gt}` of them in
    group g, observed :math:`O_g = \\sum_t d_{gt}`, expected
    :math:`E_g = \\sum_t d_t n_{gt} / n_t` and variance
    :math:`V_{gh} = \\sum_t \\frac{d_t (n_t - d_t)}{n_t^2 (n_t - 1)} n_{gt}
    (n_t \\delta_{gh} - n_{ht})`. The statistic is
    :math:`(O - E)^\\top V^{-} (O - E)` with :math:`V^{-}` a generalised
    inverse, on as many degrees of freedom as the rank of V. A group with
    no variance (for instance nobody at risk at any event time, R's
    "expected 0") adds no degree of freedom; R removes such groups and
    solves the rest, which gives the same statistic. The test never fails
    on small or degenerate groups.
    """
    frame, cols, _ = _prepare(data, duration, event, group)
    if not cols:
        raise CaseworkError("`group` is required: name the column(s) whose groups are compared.")
    label = group_key(frame, cols)
    codes, uniques = pd.factorize(label)
    n_groups = len(uniques)
    row = {
        "group": ", ".join(cols),
        "chisq": np.nan,
        "df": 0,
        "p_value": np.nan,
        "n": len(frame),
        "events": int(frame["event"].sum()),
        "n_groups": n_groups,
    }
    if n_groups >= 2 and frame["event"].any():
        observed, expected, variance = _logrank_parts(
            frame["time_days"].to_numpy(), frame["event"].to_numpy(), codes, n_groups
        )
        values, vectors = np.linalg.eigh(variance)
        keep = values > values.max() * n_groups * np.finfo(float).eps * 16
        rank = int(keep.sum())
        if rank > 0:
            z = vectors[:, keep].T @ (observed - expected)
            chisq = float(np.sum(z**2 / values[keep]))
            row.update(chisq=chisq, df=rank, p_value=float(stats.chi2.sf(chisq, rank)))
    return pd.DataFrame([row])


def _logrank_parts(time, event, codes, n_groups):
    """Observed and expected events per group and their variance matrix."""
    order = np.argsort(time, kind="stable")
    time, event, codes = time[order], event[order].astype(bool), codes[order]
    distinct, first = np.unique(time, return_index=True)
    position = np.searchsorted(distinct, time)
    counts = np.zeros((len(distinct), n_groups))
    deaths = np.zeros((len(distinct), n_groups))
    np.add.at(counts, (position, codes), 1)
    np.add.at(deaths, (position[event], codes[event]), 1)
    at_risk = counts[::-1].cumsum(axis=0)[::-1]
    n_t, d_t = at_risk.sum(axis=1), deaths.sum(axis=1)
    use = d_t > 0
    at_risk, deaths, n_t, d_t = at_risk[use], deaths[use], n_t[use], d_t[use]
    observed = deaths.sum(axis=0)
    expected = (d_t / n_t) @ at_risk
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t**2 * (n_t - 1)), 0.0)
    variance = np.diag((weight * n_t) @ at_risk) - at_risk.T @ (weight[:, None] * at_risk)
    return observed, expected, variance


def cumulative_incidence(
    data: pd.DataFrame,
    *,
    duration: str,
    cause: str,
    by: str | Sequence[str] | None = None,
    overall: bool = True,
) -> pd.DataFrame:
    """Cumulative incidence of competing events (Aalen–Johansen).

    Parameters
    ----------
    duration : str
        Days to the event or to censoring.
    cause : str
        The event that ended follow-up (any labels); missing = censored.

    Returns
    -------
    DataFrame
        Group columns, ``time_days``, ``cause``, ``at_risk``, ``events``
        (of that cause at that time), ``cumulative_incidence``; one row per
        distinct time and cause. At every time the incidences of all causes
        plus the overall Kaplan–Meier survival add up to 1.

    Notes
    -----
    :math:`F_j(t) = \\sum_{t_i \\le t} \\hat S(t_{i-1})\\, d_{ij} / n_i` with
    :math:`\\hat S` the Kaplan–Meier estimate for any event. Unlike
    1 − KM of a single cause (which treats the other causes as censoring
    and overstates the incidence), these never sum past 1. Matches
    ``statsmodels.duration.survfunc.CumIncidenceRight``.
    """
    cols = group_columns(by)
    frame = data[[*cols, duration, cause]].copy()
    frame = frame[frame[duration].notna()]
    causes = sorted(frame[cause].dropna().astype(str).unique())
    frame = pd.DataFrame(
        {
            **{c: frame[c].astype("string").fillna("(missing)") for c in cols},
            "time_days": frame[duration].astype("float64"),
            "event": frame[cause].notna(),
            "cause": frame[cause].astype("string"),
        }
    )
    frame = _with_overall(frame, cols, overall)
    table = _risk_table(frame, cols)
    factor = 1 - table["events"] / table["at_risk"]
    g = [table[c] for c in cols]
    surv = factor.groupby(g).cumprod() if cols else factor.cumprod()
    prev = surv.groupby(g).shift(1).fillna(1.0) if cols else surv.shift(1).fillna(1.0)
    by_cause = (
        frame[frame["event"]]
        .groupby([*cols, "time_days", "cause"])
        .size()
        .unstack("cause", fill_value=0)
        .reindex(columns=causes, fill_value=0)
    )
    idx = pd.MultiIndex.from_frame(table[[*cols, "time_days"]]) if cols else table["time_days"]
    by_cause = by_cause.reindex(idx, fill_value=0).to_numpy()
    increments = prev.to_numpy()[:, None] * by_cause / table["at_risk"].to_numpy()[:, None]
    inc = pd.DataFrame(increments, columns=causes)
    cif = inc.groupby([table[c].to_numpy() for c in cols]).cumsum() if cols else inc.cumsum()
    long = []
    for j, name in enumerate(causes):  # loop over causes (a handful), not subjects
        part = table[[*cols, "time_days", "at_risk"]].copy()
        part["cause"] = name
        part["events"] = by_cause[:, j]
        part["cumulative_incidence"] = cif[name].to_numpy()
        long.append(part)
    if not long:
        return pd.DataFrame(
            columns=[*cols, "time_days", "cause", "at_risk", "events", "cumulative_incidence"]
        )
    out = pd.concat(long, ignore_index=True).sort_values(
        [*cols, "time_days", "cause"], kind="stable"
    )
    out = _overall_last(out, cols)
    return out[
        [*cols, "time_days", "cause", "at_risk", "events", "cumulative_incidence"]
    ].reset_index(drop=True)
