"""Survival statistics on tidy frames: Kaplan–Meier with Greenwood
intervals and the number at risk, medians, restricted mean survival time,
the log-rank test, and cumulative incidence for competing exits.

All estimators are computed with grouped pandas operations (no loop over
groups or subjects) and checked in the tests against statsmodels
(``SurvfuncRight``, ``survdiff``, ``CumIncidenceRight``) and against
published R ``survival`` output for the ``aml`` data.

Durations are in days from the time origin of the outcome (intake in this
package). A subject whose event was not observed is right-censored at its
duration. Rows with a missing duration or event indicator are left out and
counted in ``n_excluded``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .errors import CaseworkError
from .grouping import OVERALL, group_columns, group_key

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
    by=None,
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
    0 or 1 the interval is undefined and left missing (log-log) or set to
    the estimate's bound.
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


def at_risk_table(km: pd.DataFrame, times, *, group=None) -> pd.DataFrame:
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


def _first_time_at_or_below(km, cols, column, level):
    hit = km[km[column] <= level]
    if cols:
        first = hit.groupby(cols, sort=False)["time_days"].min()
    else:
        first = pd.Series([hit["time_days"].min() if len(hit) else np.nan])
    return first


def survival_summary(
    data: pd.DataFrame,
    *,
    duration: str,
    event: str,
    by=None,
    horizon: float | None = None,
    conf_type: str = "log-log",
    confidence: float = 0.95,
    overall: bool = True,
) -> pd.DataFrame:
    """Per group: subjects, events, median survival with its interval, and RMST.

    Parameters
    ----------
    horizon : float, optional
        Horizon τ (days) of the restricted mean survival time; default the
        largest observed time of the whole data.

    Returns
    -------
    DataFrame
        Group columns, ``n``, ``events``, ``n_excluded`` (rows with a
        missing duration or event), ``median_days``, ``median_ci_low``,
        ``median_ci_high``, ``horizon_days``, ``rmst_days``, ``rmst_se``,
        ``rmst_ci_low``, ``rmst_ci_high``, ``horizon_beyond_followup``.

    Notes
    -----
    Median: the first time at which survival is at or below 0.5 (missing if
    it never is). Its interval is where the pointwise confidence band
    crosses 0.5, as in R's ``survfit`` (Brookmeyer & Crowley 1982): the
    lower limit is the first time the lower band is at or below 0.5, the
    upper limit the first time the upper band is.

    RMST: :math:`\\int_0^{\\tau} \\hat S(u)\\,du`, with variance
    :math:`\\sum_{t_i \\le \\tau} A_i^2 d_i / (n_i (n_i - d_i))`,
    :math:`A_i = \\int_{t_i}^{\\tau} \\hat S(u)\\,du` (Klein & Moeschberger
    4.5). If τ is past a group's last time, the last survival value is
    carried to τ and ``horizon_beyond_followup`` is True.
    """
    frame, cols, n_excluded = _prepare(data, duration, event, by)
    km = kaplan_meier(
        data,
        duration=duration,
        event=event,
        by=by,
        conf_type=conf_type,
        confidence=confidence,
        overall=overall,
    )
    tau = float(frame["time_days"].max()) if horizon is None else float(horizon)
    if horizon is not None and horizon <= 0:
        raise CaseworkError(f"`horizon` must be positive; got {horizon!r}.")
    counts = (
        km.groupby(cols, sort=False).agg(n=("at_risk", "max"), events=("events", "sum"))
        if cols
        else pd.DataFrame(
            {"n": [km["at_risk"].max() if len(km) else 0], "events": [km["events"].sum()]}
        )
    )
    counts["median_days"] = _first_time_at_or_below(km, cols, "survival", 0.5)
    counts["median_ci_low"] = _first_time_at_or_below(km, cols, "ci_low", 0.5)
    counts["median_ci_high"] = _first_time_at_or_below(km, cols, "ci_high", 0.5)

    inside = km[km["time_days"] <= tau].copy()
    g = [inside[c] for c in cols]
    shift = (
        (lambda s, fill: s.groupby(g).shift(1).fillna(fill))
        if cols
        else (lambda s, fill: s.shift(1).fillna(fill))
    )
    prev_time, prev_surv = shift(inside["time_days"], 0.0), shift(inside["survival"], 1.0)
    inside["area"] = prev_surv * (inside["time_days"] - prev_time)
    cum_area = inside["area"].groupby(g).cumsum() if cols else inside["area"].cumsum()
    agg = inside.assign(cum_area=cum_area)
    last = agg.groupby(cols, sort=False).tail(1) if cols else agg.tail(1)
    last = last.set_index(cols) if cols else last.reset_index(drop=True)
    total = last["cum_area"] + last["survival"] * (tau - last["time_days"])
    inside["total"] = (
        total.reindex(
            pd.MultiIndex.from_frame(inside[cols]) if len(cols) > 1 else inside[cols[0]]
        ).to_numpy()
        if cols
        else float(total.iloc[0])
        if len(total)
        else np.nan
    )
    a = inside["total"] - cum_area
    with np.errstate(divide="ignore", invalid="ignore"):
        term = (
            a**2 * inside["events"] / (inside["at_risk"] * (inside["at_risk"] - inside["events"]))
        )
    term = term.where(inside["at_risk"] > inside["events"], 0.0)
    var = term.groupby(g).sum() if cols else pd.Series([term.sum()])
    if not cols:
        total = total.reset_index(drop=True)
    max_time = (
        km.groupby(cols, sort=False)["time_days"].max()
        if cols
        else pd.Series([km["time_days"].max()])
    )
    counts["horizon_days"] = tau
    counts["rmst_days"] = total
    counts["rmst_se"] = np.sqrt(var)
    z = stats.norm.ppf(0.5 + confidence / 2)
    counts["rmst_ci_low"] = counts["rmst_days"] - z * counts["rmst_se"]
    counts["rmst_ci_high"] = counts["rmst_days"] + z * counts["rmst_se"]
    counts["horizon_beyond_followup"] = (max_time < tau).to_numpy()
    counts["n_excluded"] = n_excluded
    out = counts.reset_index() if cols else counts
    return out[
        [
            *cols,
            "n",
            "events",
            "n_excluded",
            "median_days",
            "median_ci_low",
            "median_ci_high",
            "horizon_days",
            "rmst_days",
            "rmst_se",
            "rmst_ci_low",
            "rmst_ci_high",
            "horizon_beyond_followup",
        ]
    ]


def logrank_test(data: pd.DataFrame, *, duration: str, event: str, group) -> pd.DataFrame:
    """Log-rank test of equal survival across two or more groups.

    Wraps ``statsmodels.duration.survfunc.survdiff``.

    Returns
    -------
    DataFrame
        One row: ``group`` (the column names), ``chisq``, ``df`` (groups − 1),
        ``p_value``, ``n``, ``events``, ``n_groups``; ``chisq`` and ``p_value``
        are missing with fewer than two groups or no events.
    """
    from statsmodels.duration.survfunc import survdiff

    frame, cols, _ = _prepare(data, duration, event, group)
    if not cols:
        raise CaseworkError("`group` is required: name the column(s) whose groups are compared.")
    label = group_key(frame, cols)
    n_groups = label.nunique()
    row = {
        "group": ", ".join(cols),
        "chisq": np.nan,
        "df": max(n_groups - 1, 0),
        "p_value": np.nan,
        "n": len(frame),
        "events": int(frame["event"].sum()),
        "n_groups": n_groups,
    }
    if n_groups >= 2 and frame["event"].any():
        chisq, p = survdiff(
            frame["time_days"].to_numpy(), frame["event"].astype(int).to_numpy(), label.to_numpy()
        )
        row.update(chisq=float(chisq), p_value=float(p))
    return pd.DataFrame([row])


def cumulative_incidence(
    data: pd.DataFrame, *, duration: str, cause: str, by=None, overall: bool = True
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
