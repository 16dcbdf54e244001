"""Recovery timelines from monitoring visits (usually weekly urine screens):
the weekly status table, per-case outcomes, and cohort headlines.

Definitions (after ``domain.md``; every choice is a parameter)
-------------------------------------------------------------
Weeks
    Week ``k`` of a case covers days ``7k`` to ``7k + 6`` after intake
    (week 0 starts on the intake day). Weeks run from intake to the week
    that contains ``as_of``.
Weekly status
    From the visits scheduled in the week: ``positive`` if any attended
    screen was positive; else ``negative`` if any was negative; else
    ``no_result`` if a visit was attended without a valid result (invalid,
    not done or not recorded); else ``missed`` if a scheduled visit was not
    attended; else ``not_scheduled``. A result recorded on a visit marked
    not attended is ignored (the loader warns about it).
Counted outcome (``missing_as``)
    ``"positive"`` (default, the conservative convention): a missed or
    no-result week counts as positive. ``"ignore"``: it counts neither way
    and is skipped, as are not-scheduled weeks under both conventions.
Runs
    Consecutive negative weeks are counted over the weeks with a counted
    outcome, in order; a positive counted week ends a run, skipped weeks do
    not.
Sustained abstinence
    A run of at least ``sustained_weeks`` (default 4) negative weeks; its
    day is the day of the screen that completes the run.
Relapse and lapse
    Relapse: the first counted positive week after sustained abstinence was
    reached. A positive before that is a lapse.
Dropout
    ``dropout_missed`` (default 2, after Cook et al. 2017) consecutive
    missed scheduled visits (weeks with no scheduled visit are skipped);
    its day is that of the first missed visit of the first such streak.
    Dropout uses the raw missed visits and so does not depend on
    ``missing_as``.
Day of a week
    The date of the week's first scheduled visit, as days since intake.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .grouping import as_as_of, attach_groups, case_groups, with_overall
from .intervals import wilson_interval

WEEK_STATUSES = ("negative", "positive", "missed", "no_result", "not_scheduled")
MISSING_AS = ("positive", "ignore")
STATUS_AT_AS_OF = ("dropped_out", "relapsed", "abstinent", "closed", "in_monitoring")
_NEG, _POS, _MISSED, _NO_RESULT, _NOT_SCHEDULED = range(5)


def _check(missing_as: str, sustained_weeks: int, dropout_missed: int) -> None:
    if missing_as not in MISSING_AS:
        raise CaseworkError(
            f"The value for `missing_as` must be one of {list(MISSING_AS)}, but {missing_as!r} "
            "was passed."
        )
    for name, value in (("sustained_weeks", sustained_weeks), ("dropout_missed", dropout_missed)):
        if not isinstance(value, int | np.integer) or value < 1:
            raise CaseworkError(f"`{name}` must be a whole number of at least 1; got {value!r}.")


def weekly_status(cohort, as_of, *, missing_as: str = "positive") -> pd.DataFrame:
    """One row per case per week from intake to ``as_of``.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit; visits after it are ignored).
    missing_as : {"positive", "ignore"}
        How a missed or no-result week is counted in ``counted``.

    Returns
    -------
    DataFrame
        ``case_id``, ``week`` (0 = the intake week), ``week_start`` (date),
        ``day`` (days since intake of the week's first scheduled visit, or of
        the week's start), ``n_visits`` (scheduled), ``status``
        (categorical: negative, positive, missed, no_result, not_scheduled),
        ``counted`` (``"negative"``, ``"positive"`` or missing, after
        ``missing_as``).

    Notes
    -----
    Cases with intake after ``as_of`` are left out. Raises
    :class:`~casework_analytics.MissingTableError` without a visits table.
    """
    _check(missing_as, 1, 1)
    as_of = as_as_of(as_of)
    visits = cohort.require("visits", "The recovery timeline")
    cases = cohort.cases[cohort.cases["intake_date"] <= as_of][["case_id", "intake_date"]]
    cases = cases.reset_index(drop=True)
    n_weeks = ((as_of - cases["intake_date"]).dt.days // 7 + 1).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(n_weeks)[:-1]])
    case_idx = np.repeat(np.arange(len(cases)), n_weeks)
    week = np.arange(n_weeks.sum()) - np.repeat(offsets, n_weeks)

    v = visits[visits["visit_date"] <= as_of]
    v_codes, v_uniques = pd.factorize(v["case_id"])
    v_case = pd.Index(cases["case_id"]).get_indexer(v_uniques)[v_codes]
    v, v_case = v[v_case >= 0], v_case[v_case >= 0]
    v_day = (
        v["visit_date"].to_numpy() - cases["intake_date"].to_numpy()[v_case]
    ) // np.timedelta64(1, "D")
    attended = v["attended"].fillna(False).to_numpy(dtype=bool)
    result = v["test_result"].fillna("").to_numpy(dtype=object)
    flags = (
        pd.DataFrame(
            {
                "row": offsets[v_case] + v_day // 7,
                "day": v_day,
                "pos": attended & (result == "positive"),
                "neg": attended & (result == "negative"),
                "attended": attended,
                "missed": ~attended,
            }
        )
        .groupby("row")
        .agg(
            day=("day", "min"),
            n=("day", "size"),
            pos=("pos", "any"),
            neg=("neg", "any"),
            attended=("attended", "any"),
            missed=("missed", "any"),
        )
    )
    status = np.full(len(week), _NOT_SCHEDULED, dtype=np.int8)
    rows = flags.index.to_numpy()
    status[rows] = np.select(
        [flags["pos"], flags["neg"], flags["attended"], flags["missed"]],
        [_POS, _NEG, _NO_RESULT, _MISSED],
        _NOT_SCHEDULED,
    )
    day = week * 7
    day[rows] = flags["day"].to_numpy()
    n_visits = np.zeros(len(week), dtype=np.int64)
    n_visits[rows] = flags["n"].to_numpy()
    counted = np.select([status == _NEG, status == _POS], [0, 1], -1)
    if missing_as == "positive":
        counted = np.where(np.isin(status, [_MISSED, _NO_RESULT]), 1, counted)
    intake = cases["intake_date"].to_numpy()[case_idx]
    return pd.DataFrame(
        {
            "case_id": cases["case_id"].take(case_idx).reset_index(drop=True),
            "week": week.astype("int64"),
            "week_start": pd.Series(intake + week * np.timedelta64(7, "D")).astype(
                "datetime64[ns]"
            ),
            "day": day.astype("int64"),
            "n_visits": n_visits,
            "status": pd.Categorical.from_codes(status, categories=list(WEEK_STATUSES)),
            "counted": pd.Categorical.from_codes(counted, categories=["negative", "positive"]),
        }
    )


def recovery_outcomes(
    cohort,
    as_of,
    *,
    missing_as: str = "positive",
    sustained_weeks: int = 4,
    dropout_missed: int = 2,
    weekly: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per case: monitoring, abstinence, relapse and dropout by ``as_of``.

    Definitions are in the module docstring. Time origin: intake. End of
    observation: ``as_of``.

    Parameters
    ----------
    missing_as : {"positive", "ignore"}
    sustained_weeks : int
        Negative weeks in a row that make sustained abstinence (default 4).
    dropout_missed : int
        Consecutive missed scheduled visits that make a dropout (default 2).
    weekly : DataFrame, optional
        A :func:`weekly_status` table to reuse (same ``as_of`` and
        ``missing_as``).

    Returns
    -------
    DataFrame
        ``case_id``, ``monitored`` (at least one visit scheduled by as_of),
        ``follow_up_days`` (intake to the last scheduled visit; 0 if none),
        ``visits_scheduled``, ``visits_attended``, ``weeks_negative``,
        ``weeks_positive``, ``weeks_missed``, ``weeks_no_result`` (raw weekly
        statuses), ``first_negative_day``, ``first_positive_day`` (counted
        outcomes), ``longest_negative_run`` (weeks), ``sustained``,
        ``sustained_day``, ``n_lapses`` (counted positives before sustained
        abstinence, or all of them if never reached), ``relapsed``,
        ``relapse_day``, ``dropped_out``, ``dropout_day``,
        ``retention_days`` (intake to the last attended visit before any
        dropout; NA if never attended), ``status`` (dropped_out, relapsed,
        abstinent, closed, in_monitoring: the first that applies, where
        ``closed`` means no visit was scheduled in the last
        ``7 * dropout_missed`` days before as_of), and for each event
        ``e`` in dropout, first_positive, relapse: ``<e>_time`` (days from
        intake) and ``<e>_observed`` (bool).

    Notes
    -----
    Censoring (``<e>_observed`` False):

    * dropout: censored at the day of the last scheduled visit;
    * first_positive and relapse: censored at the day of the last week with
      a counted outcome (under ``missing_as="ignore"`` a trailing run of
      missed weeks is not observation time). Relapse is measured from
      intake; cases that never reached sustained abstinence cannot relapse
      and are censored.

    Cases without any scheduled visit have missing times and are left out
    of survival estimates.
    """
    _check(missing_as, sustained_weeks, dropout_missed)
    as_of = as_as_of(as_of)
    if weekly is None:
        weekly = weekly_status(cohort, as_of, missing_as=missing_as)
    observed = cohort.cases[cohort.cases["intake_date"] <= as_of]
    cases = pd.Index(observed["case_id"], name="case_id")
    n = len(cases)
    # Integer case keys: grouping on them is much faster than on text ids.
    codes, uniques = pd.factorize(weekly["case_id"])
    key = cases.get_indexer(uniques)[codes]
    status = weekly["status"].cat.codes.to_numpy()
    day = weekly["day"].to_numpy()

    def per_case(values, mask, how: str) -> np.ndarray:
        """``how`` (first, max, sum) of ``values[mask]`` per case, NaN where none."""
        grouped = pd.Series(np.asarray(values)[mask]).groupby(key[mask])
        return getattr(grouped, how)().reindex(range(n)).to_numpy(dtype="float64")

    counts = np.zeros((n, len(WEEK_STATUSES)), dtype=np.int64)
    np.add.at(counts, (key, status), 1)

    visits = cohort.visits[cohort.visits["visit_date"] <= as_of]
    v_codes, v_uniques = pd.factorize(visits["case_id"])
    v_key = cases.get_indexer(v_uniques)[v_codes]
    seen = v_key >= 0
    visits_scheduled = np.bincount(v_key[seen], minlength=n)
    visits_attended = np.bincount(
        v_key[seen],
        weights=visits["attended"].fillna(False).to_numpy(dtype=float)[seen],
        minlength=n,
    )

    # Runs of negatives over counted weeks (rows are sorted by case and week).
    has_count = weekly["counted"].notna().to_numpy()
    c_key, c_day = key[has_count], day[has_count]
    is_neg = (weekly["counted"] == "negative").to_numpy(dtype=bool, na_value=False)[has_count]
    breaks = pd.Series(~is_neg).groupby(c_key).cumsum().to_numpy()
    run = pd.Series(is_neg.astype(np.int64)).groupby([c_key, breaks]).cumsum().to_numpy()
    ck = pd.Series(c_day)

    def first_day(mask):
        return ck[mask].groupby(c_key[mask]).first().reindex(range(n)).to_numpy(dtype="float64")

    longest = pd.Series(run).groupby(c_key).max().reindex(range(n)).fillna(0).to_numpy()
    sustained_day = first_day(run == sustained_weeks)
    first_neg, first_pos = first_day(is_neg), first_day(~is_neg)
    after = c_day > np.nan_to_num(sustained_day[c_key], nan=np.inf)
    relapse_day = first_day(~is_neg & after)
    lapses = np.bincount(c_key[~is_neg & ~after], minlength=n)
    last_counted = pd.Series(c_day).groupby(c_key).max().reindex(range(n)).to_numpy(dtype=float)

    # Dropout: streaks of missed scheduled visits.
    scheduled = status != _NOT_SCHEDULED
    s_key, s_day = key[scheduled], day[scheduled]
    missed = status[scheduled] == _MISSED
    gid = pd.Series(~missed).groupby(s_key).cumsum().to_numpy()
    streak = pd.Series(missed.astype(np.int64)).groupby([s_key, gid]).cumsum().to_numpy()
    streak_start = (
        pd.Series(np.where(missed, s_day, np.nan)).groupby([s_key, gid]).transform("min").to_numpy()
    )
    hit = streak == dropout_missed
    dropout_day = (
        pd.Series(streak_start[hit])
        .groupby(s_key[hit])
        .first()
        .reindex(range(n))
        .to_numpy(dtype=float)
    )
    last_scheduled = pd.Series(s_day).groupby(s_key).max().reindex(range(n)).to_numpy(dtype=float)

    attended = np.isin(status, [_NEG, _POS, _NO_RESULT])
    before_drop = day < np.nan_to_num(dropout_day[key], nan=np.inf)
    retention = per_case(day, attended & before_drop, "max")

    days_to_as_of = (as_of - observed["intake_date"]).dt.days.to_numpy()
    monitored = ~np.isnan(last_scheduled)
    ended = monitored & (days_to_as_of - np.nan_to_num(last_scheduled) > 7 * dropout_missed)
    dropped, relapsed = ~np.isnan(dropout_day), ~np.isnan(relapse_day)
    sustained = ~np.isnan(sustained_day)
    state = np.select(
        [dropped, relapsed, sustained, ended | ~monitored],
        ["dropped_out", "relapsed", "abstinent", "closed"],
        "in_monitoring",
    )
    out = pd.DataFrame(
        {
            "case_id": cases,
            "monitored": monitored,
            "follow_up_days": np.nan_to_num(last_scheduled).astype("int64"),
            "visits_scheduled": visits_scheduled.astype("int64"),
            "visits_attended": visits_attended.astype("int64"),
            "weeks_negative": counts[:, _NEG],
            "weeks_positive": counts[:, _POS],
            "weeks_missed": counts[:, _MISSED],
            "weeks_no_result": counts[:, _NO_RESULT],
            "first_negative_day": _int(first_neg),
            "first_positive_day": _int(first_pos),
            "longest_negative_run": longest.astype("int64"),
            "sustained": sustained,
            "sustained_day": _int(sustained_day),
            "n_lapses": lapses.astype("int64"),
            "relapsed": relapsed,
            "relapse_day": _int(relapse_day),
            "dropped_out": dropped,
            "dropout_day": _int(dropout_day),
            "retention_days": _int(retention),
            "status": pd.Categorical(state, categories=list(STATUS_AT_AS_OF)),
        }
    )
    events = {
        "dropout": (dropout_day, last_scheduled),
        "first_positive": (first_pos, last_counted),
        "relapse": (relapse_day, last_counted),
    }
    for name, (event_day, censor_day) in events.items():
        time = np.where(np.isnan(event_day), censor_day, event_day)
        out[f"{name}_time"] = _int(np.where(monitored, time, np.nan))
        out[f"{name}_observed"] = pd.array(
            np.where(monitored, ~np.isnan(event_day), None), dtype="boolean"
        )
    return out


def _int(values) -> pd.arrays.IntegerArray:
    """Whole days as nullable integers (NaN -> NA)."""
    return pd.array(np.asarray(values, dtype="float64"), dtype="Float64").astype("Int64")


def recovery_headline(
    cohort,
    as_of,
    by=None,
    *,
    missing_as: str = "positive",
    sustained_weeks: int = 4,
    dropout_missed: int = 2,
    retention_days: int = 90,
    overall: bool = True,
    confidence: float = 0.95,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Cohort headlines per group: retention, sustained abstinence, not relapsed.

    Definition
    ----------
    Time origin: intake. End of observation: ``as_of``.

    ``retention_90`` (with ``retention_days`` = 90, NIDA's threshold)
        Share of cases retained at day 90: an attended visit on or after
        day 90 and no dropout before it. Denominator: cases with intake at
        least 90 days before ``as_of`` (all of them, monitored or not: a
        case that never came to monitoring was not retained).
    ``retention_90_km``
        1 − cumulative dropout at day 90 from a Kaplan–Meier estimate of
        time to dropout over every monitored case (censored as in
        :func:`recovery_outcomes`), with its log-log interval; uses cases
        with shorter follow-up too.
    ``sustained_abstinence``
        Share of monitored cases (at least one scheduled visit by as_of)
        that reached ``sustained_weeks`` negative weeks in a row.
    ``not_relapsed``
        BNN's post-rehabilitation indicator: share of monitored cases that
        have not relapsed by ``as_of`` (target at least 50%).

    ``outcomes`` may pass a :func:`recovery_outcomes` table computed with
    the same definitions, to avoid computing it again.

    Returns
    -------
    DataFrame
        Group columns, ``metric``, ``numerator``, ``denominator``,
        ``estimate``, ``ci_low``, ``ci_high`` (Wilson, except the KM row),
        ``missing_as``.
    """
    from .survival import kaplan_meier

    if outcomes is None:
        outcomes = recovery_outcomes(
            cohort,
            as_of,
            missing_as=missing_as,
            sustained_weeks=sustained_weeks,
            dropout_missed=dropout_missed,
        )
    as_of = as_as_of(as_of)
    groups, cols = case_groups(cohort, by)
    frame = attach_groups(outcomes, groups, cols)
    intake = cohort.cases.set_index("case_id")["intake_date"].reindex(frame["case_id"]).to_numpy()
    eligible = intake <= (as_of - pd.Timedelta(days=retention_days)).to_datetime64()
    retained = frame["retention_days"].fillna(-1).to_numpy() >= retention_days
    frame = frame.assign(
        eligible=eligible,
        retained=retained & eligible,
        not_relapsed=frame["monitored"] & ~frame["relapsed"],
        sustained=frame["sustained"] & frame["monitored"],
    )

    def summarise(data, keys):
        return (
            data.groupby(keys)
            .agg(
                eligible=("eligible", "sum"),
                retained=("retained", "sum"),
                monitored=("monitored", "sum"),
                sustained=("sustained", "sum"),
                not_relapsed=("not_relapsed", "sum"),
            )
            .reset_index()
        )

    counts = with_overall(frame, cols, summarise, overall)
    parts = []
    for metric, num, den in (
        ("retention_90", "retained", "eligible"),
        ("sustained_abstinence", "sustained", "monitored"),
        ("not_relapsed", "not_relapsed", "monitored"),
    ):
        part = counts[cols].copy()
        part["metric"] = metric
        part["numerator"] = counts[num].astype("Int64")
        part["denominator"] = counts[den].astype("Int64")
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["estimate"] = table["numerator"] / table["denominator"].where(table["denominator"] > 0)
    table["ci_low"], table["ci_high"] = wilson_interval(
        table["numerator"], table["denominator"], confidence
    )

    monitored = frame[frame["monitored"]]
    km = kaplan_meier(
        monitored,
        duration="dropout_time",
        event="dropout_observed",
        by=cols or None,
        overall=overall,
        confidence=confidence,
    )
    at = km[km["time_days"] <= retention_days]
    keys = cols or []
    last = at.groupby(keys, sort=False).tail(1) if keys else at.tail(1)
    # A group with no time at or before the horizon has had no dropout yet: S = 1.
    every = km[keys].drop_duplicates() if keys else pd.DataFrame(index=[0] if len(km) else [])
    km_rows = (
        every.merge(last[[*keys, "survival", "ci_low", "ci_high"]], on=keys, how="left")
        if keys
        else last[["survival", "ci_low", "ci_high"]].reset_index(drop=True).reindex(every.index)
    )
    km_rows = km_rows.fillna({"survival": 1.0, "ci_low": 1.0, "ci_high": 1.0})
    km_rows = km_rows.rename(columns={"survival": "estimate"}).assign(
        metric="retention_90_km",
        numerator=pd.array([pd.NA] * len(km_rows), dtype="Int64"),
    )
    if keys:
        n_mon = counts[[*keys, "monitored"]]
        km_rows = km_rows.merge(n_mon, on=keys, how="left")
        km_rows["denominator"] = km_rows.pop("monitored").astype("Int64")
    else:
        km_rows["denominator"] = pd.array(
            [int(frame["monitored"].sum())] * len(km_rows), dtype="Int64"
        )
    table["estimate"] = table["estimate"].astype("float64")
    if len(km_rows):
        km_rows = km_rows.astype({"estimate": "float64", "ci_low": "float64", "ci_high": "float64"})
        table = pd.concat(
            [table, km_rows[table.columns.intersection(km_rows.columns)]], ignore_index=True
        )
    if retention_days != 90:
        table["metric"] = table["metric"].str.replace("90", str(retention_days))
    table["missing_as"] = missing_as
    order = {
        m: i
        for i, m in enumerate(
            ["retention_90", "retention_90_km", "sustained_abstinence", "not_relapsed"]
        )
    }
    table = table.sort_values(
        [*keys, "metric"],
        key=lambda s: s.map(order).fillna(-1) if s.name == "metric" else s,
        kind="stable",
    )
    return table[
        [*keys, "metric", "numerator", "denominator", "estimate", "ci_low", "ci_high", "missing_as"]
    ].reset_index(drop=True)


def recovery_sensitivity(cohort, as_of, by=None, **kwargs) -> pd.DataFrame:
    """Each headline under ``missing_as="positive"`` and ``"ignore"``, with the difference.

    Parameters are those of :func:`recovery_headline` (except ``missing_as``);
    ``outcomes`` may be a dict ``{"positive": table, "ignore": table}`` of
    precomputed :func:`recovery_outcomes`.

    Returns
    -------
    DataFrame
        Group columns, ``metric``, ``estimate_positive``, ``estimate_ignore``,
        ``difference`` (ignore − positive, in proportion points),
        ``denominator_positive``, ``denominator_ignore``. Retention does not
        depend on the convention (dropout uses raw missed visits), so its
        difference is 0 by construction.
    """
    kwargs.pop("missing_as", None)
    given = kwargs.pop("outcomes", None) or {}
    a = recovery_headline(
        cohort, as_of, by, missing_as="positive", outcomes=given.get("positive"), **kwargs
    )
    b = recovery_headline(
        cohort, as_of, by, missing_as="ignore", outcomes=given.get("ignore"), **kwargs
    )
    keys = [
        c
        for c in a.columns
        if c not in ("numerator", "denominator", "estimate", "ci_low", "ci_high", "missing_as")
    ]
    both = a.merge(b, on=keys, suffixes=("_positive", "_ignore"))
    both["difference"] = both["estimate_ignore"] - both["estimate_positive"]
    return both[
        [
            *keys,
            "estimate_positive",
            "estimate_ignore",
            "difference",
            "denominator_positive",
            "denominator_ignore",
        ]
    ]


RECOVERY_EVENTS = ("dropout", "first_positive", "relapse")


def _long_events(outcomes: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Outcomes reshaped to one row per case and event: ``outcome, time, observed``."""
    parts = [
        outcomes[[*cols, "case_id"]].assign(
            outcome=name, time=outcomes[f"{name}_time"], observed=outcomes[f"{name}_observed"]
        )
        for name in RECOVERY_EVENTS  # three events, not cases
    ]
    return pd.concat(parts, ignore_index=True)


def recovery_survival(
    cohort,
    as_of,
    by=None,
    *,
    conf_type: str = "log-log",
    confidence: float = 0.95,
    overall: bool = True,
    **definitions,
):
    """Kaplan–Meier curves of time to dropout, first positive and relapse.

    Times and censoring are those of :func:`recovery_outcomes` (whose
    definition keywords, e.g. ``missing_as``, are passed through, or pass
    its table as ``outcomes=``); cases
    never monitored are left out. Intervals: Greenwood with the
    ``conf_type`` transform (see :func:`casework_analytics.survival.kaplan_meier`).

    Returns
    -------
    DataFrame
        Group columns, ``outcome``, ``time_days``, ``at_risk``, ``events``,
        ``censored``, ``survival``, ``se``, ``ci_low``, ``ci_high``.
    """
    from .survival import kaplan_meier

    outcomes = definitions.pop("outcomes", None)
    if outcomes is None:
        outcomes = recovery_outcomes(cohort, as_of, **definitions)
    groups, cols = case_groups(cohort, by)
    long = _long_events(attach_groups(outcomes, groups, cols), cols)
    km = kaplan_meier(
        long,
        duration="time",
        event="observed",
        by=[*cols, "outcome"],
        conf_type=conf_type,
        confidence=confidence,
        overall=False,
    )
    if cols and overall:
        whole = kaplan_meier(
            long,
            duration="time",
            event="observed",
            by="outcome",
            conf_type=conf_type,
            confidence=confidence,
            overall=False,
        )
        km = pd.concat([km, whole.assign(**{c: "All" for c in cols})], ignore_index=True)
    return km[
        [
            *cols,
            "outcome",
            "time_days",
            "at_risk",
            "events",
            "censored",
            "survival",
            "se",
            "ci_low",
            "ci_high",
        ]
    ]


def recovery_logrank(cohort, as_of, by, **definitions) -> pd.DataFrame:
    """Log-rank test across the groups of ``by`` for each recovery event.

    Returns
    -------
    DataFrame
        ``outcome``, then the columns of
        :func:`casework_analytics.survival.logrank_test`.
    """
    from .survival import logrank_test

    outcomes = definitions.pop("outcomes", None)
    if outcomes is None:
        outcomes = recovery_outcomes(cohort, as_of, **definitions)
    groups, cols = case_groups(cohort, by)
    if not cols:
        raise CaseworkError("`by` is required: name the column(s) whose groups are compared.")
    frame = attach_groups(outcomes, groups, cols)
    return pd.concat(
        [
            logrank_test(
                frame, duration=f"{name}_time", event=f"{name}_observed", group=cols
            ).assign(outcome=name)
            for name in RECOVERY_EVENTS
        ],
        ignore_index=True,
    )[["outcome", "group", "chisq", "df", "p_value", "n", "events", "n_groups"]]
