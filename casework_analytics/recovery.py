"""Cohort summaries of recovery: headline rates, their sensitivity to the
missing-visit convention, survival curves and log-rank tests.

Per-case timelines, and the definitions every number here rests on, are in
:mod:`casework_analytics.timelines`; a :class:`~casework_analytics.timelines.RecoveryDefinition`
passed as ``definition=`` carries the choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .grouping import DateLike, GroupBy, as_as_of, attach_groups, case_groups, with_overall
from .intervals import wilson_interval
from .keys import positions, take
from .survival import kaplan_meier, logrank_test, survival_at
from .timelines import (
    MISSING_AS,
    RECOVERY_EVENTS,
    RecoveryDefinition,
    recovery_outcomes,
    resolve_definition,
)

__all__ = [
    "HEADLINE_METRICS",
    "recovery_headline",
    "headline_flags",
    "recovery_sensitivity",
    "recovery_survival",
    "recovery_logrank",
    "retention_by_intake_month",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .summary import Summary

#: Headline metrics, in display order.
HEADLINE_METRICS = (
    "retention",
    "retention_km",
    "sustained_abstinence",
    "not_relapsed",
    "not_relapsed_km",
)
_RATIO_METRICS = ("retention", "sustained_abstinence", "not_relapsed")


def _outcomes_for(cohort, as_of, definition, outcomes):
    return recovery_outcomes(cohort, as_of, definition=definition) if outcomes is None else outcomes


def recovery_headline(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    definition: RecoveryDefinition | None = None,
    overall: bool = True,
    confidence: float = 0.95,
    outcomes: pd.DataFrame | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Cohort headlines per group: retention, sustained abstinence, not relapsed.

    Definition
    ----------
    Time origin: intake, except ``not_relapsed_km`` (the day sustained
    abstinence was reached). End of observation: ``as_of``. ``H`` below is
    ``definition.retention_days`` (90, NIDA's threshold) and ``R`` is
    ``definition.relapse_horizon_days`` (90); both are in ``horizon_days``.

    ``retention``
        Share retained at day H. Numerator: an attended visit on or after
        day H with no dropout before it, or monitoring that ended as planned
        without a dropout. Denominator: cases with intake at least H days
        before ``as_of`` (every one of them, monitored or not: a case that
        never came to monitoring was not retained). Dropout does not depend
        on ``missing_as``.
    ``retention_km``
        1 − cumulative dropout at day H: the Kaplan–Meier estimate of time
        to dropout over every monitored case (censored at the last recorded
        visit), with its log-log interval; uses cases with shorter follow-up
        too. Missing if no one in the group was followed to day H.
        Denominator: monitored cases.
    ``sustained_abstinence``
        Share of monitored cases (at least one visit recorded by ``as_of``)
        that reached sustained abstinence by ``as_of``.
    ``not_relapsed``
        BNN's post-rehabilitation indicator (target at least 50%), on a
        fixed window so that groups and terms with different follow-up
        compare fairly. Denominator: clients who reached sustained
        abstinence at least R days before ``as_of`` (``relapse_eligible``).
        Numerator: those of them with no relapse within R days of reaching
        it (a client whose monitoring ended earlier without a relapse
        counts as not relapsed). A client who never stopped using cannot
        count as not relapsed; one who reached it less than R days before
        ``as_of`` is not yet counted (``not_relapsed_km`` uses them).
    ``not_relapsed_km``
        Kaplan–Meier probability of no relapse R days after sustained
        abstinence was reached, among the clients who reached it (censored at
        their last counted week), with its log-log interval.

    Missing screens count as ``definition.missing_as`` says; see
    :func:`recovery_sensitivity` for the other convention.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str or list of str, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    definition : RecoveryDefinition, optional
        The definitions in force (defaults when omitted).
    overall : bool
        Add the whole-cohort rows (group columns ``All``).
    confidence : float
        Coverage of the intervals (0.95).
    outcomes : DataFrame, optional
        A :func:`~casework_analytics.timelines.recovery_outcomes` table
        computed with the same ``as_of`` and definition, to reuse.
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose groups are reused.

    Returns
    -------
    DataFrame
        Group columns, ``metric`` (in the order of
        :data:`HEADLINE_METRICS`), ``horizon_days`` (H or R; missing for
        the others), ``numerator`` (missing for the Kaplan–Meier rows),
        ``denominator``, ``estimate``, ``ci_low``, ``ci_high`` (Wilson,
        except the Kaplan–Meier rows), ``missing_as``.
    """
    d = resolve_definition(definition)
    as_of = as_as_of(as_of)
    outcomes = _outcomes_for(cohort, as_of, d, outcomes)
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    frame = attach_groups(outcomes, groups, cols)
    flags = headline_flags(cohort, as_of, outcomes, d).drop(columns=["monitored", "sustained"])
    where = positions(frame["case_id"], flags["case_id"])  # as a left merge: one flag per case
    frame = frame.assign(**{c: take(flags[c], where) for c in flags.columns if c != "case_id"})

    def summarise(data, keys):
        return (
            data.groupby(keys)
            .agg(
                eligible=("eligible", "sum"),
                retained=("retained", "sum"),
                monitored=("monitored", "sum"),
                sustained=("sustained", "sum"),
                relapse_eligible=("relapse_eligible", "sum"),
                not_relapsed=("not_relapsed", "sum"),
            )
            .reset_index()
        )

    counts = with_overall(frame, cols, summarise, overall)
    parts = []
    for metric, num, den, horizon in (
        ("retention", "retained", "eligible", d.retention_days),
        ("sustained_abstinence", "sustained", "monitored", np.nan),
        ("not_relapsed", "not_relapsed", "relapse_eligible", d.relapse_horizon_days),
    ):
        part = counts[cols].copy()
        part["metric"] = metric
        part["horizon_days"] = horizon
        part["numerator"] = counts[num].astype("Int64")
        part["denominator"] = counts[den].astype("Int64")
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["estimate"] = (
        table["numerator"] / table["denominator"].where(table["denominator"] > 0)
    ).astype("float64")
    table["ci_low"], table["ci_high"] = wilson_interval(
        table["numerator"], table["denominator"], confidence
    )
    km_rows = []
    for metric, subset, event, horizon in (
        ("retention_km", "monitored", "dropout", d.retention_days),
        ("not_relapsed_km", "sustained", "relapse", d.relapse_horizon_days),
    ):
        km = _km_headline(frame[frame[subset]], event, horizon, cols, overall, confidence)
        # Every group gets the row, with no estimate where nobody is at risk.
        keys = cols or ["_all"]
        rows = counts.assign(_all=0)[[*keys, subset]].merge(km.assign(_all=0), on=keys, how="left")
        rows = rows.drop(columns="_all", errors="ignore").assign(
            metric=metric,
            horizon_days=float(horizon),
            denominator=rows[subset].astype("Int64"),
        )
        # Typed like the count rows even when nobody is at risk (an empty estimate
        # would otherwise be object, and concat's result dtype would vary by version).
        shared = ["numerator", "estimate", "ci_low", "ci_high"]
        km_rows.append(rows.astype({c: table[c].dtype for c in shared if c in rows}))
    table = pd.concat([table, *km_rows], ignore_index=True)
    table["numerator"] = table["numerator"].astype("Int64")
    table["denominator"] = table["denominator"].astype("Int64")
    table["missing_as"] = d.missing_as
    rank = {m: i for i, m in enumerate(HEADLINE_METRICS)}
    table = table.assign(_rank=table["metric"].map(rank)).sort_values(
        [*cols, "_rank"], kind="stable"
    )
    if cols:  # groups first, the whole cohort last, as in every grouped table
        is_all = (table[cols] == "All").all(axis=1)
        table = pd.concat([table[~is_all], table[is_all]])
    return table[
        [
            *cols,
            "metric",
            "horizon_days",
            "numerator",
            "denominator",
            "estimate",
            "ci_low",
            "ci_high",
            "missing_as",
        ]
    ].reset_index(drop=True)


def headline_flags(
    cohort: Cohort,
    as_of: DateLike,
    outcomes: pd.DataFrame,
    definition: RecoveryDefinition | None = None,
) -> pd.DataFrame:
    """Per case, whether it counts in each numerator and denominator of the headline.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation.
    outcomes : DataFrame
        :func:`~casework_analytics.timelines.recovery_outcomes` under
        ``definition``.
    definition : RecoveryDefinition, optional

    Returns
    -------
    DataFrame
        ``case_id``, ``eligible`` (intake at least ``retention_days`` before
        as_of), ``retained``, ``monitored``, ``sustained``,
        ``relapse_eligible`` (sustained at least ``relapse_horizon_days``
        before as_of), ``not_relapsed`` (bool), as defined in
        :func:`recovery_headline`.
    """
    d = resolve_definition(definition)
    as_of = as_as_of(as_of)
    cases = cohort.cases
    where = positions(outcomes["case_id"], cases["case_id"])
    intake = take(cases["intake_date"], where).to_numpy(dtype="datetime64[ns]")
    eligible = intake <= (as_of - pd.Timedelta(days=d.retention_days)).to_datetime64()
    kept = outcomes["retention_days"].fillna(-1).to_numpy() >= d.retention_days
    completed = outcomes["monitoring_completed"].to_numpy(dtype=bool)
    followed = (as_of.to_datetime64() - intake) // np.timedelta64(1, "D")
    sustained = outcomes["sustained"].to_numpy(dtype=bool)
    sustained_day = outcomes["sustained_day"].to_numpy(dtype="float64", na_value=np.nan)
    relapse_day = outcomes["relapse_day"].to_numpy(dtype="float64", na_value=np.nan)
    window = d.relapse_horizon_days
    relapse_eligible = sustained & (sustained_day + window <= followed)
    relapsed_within = relapse_day - sustained_day <= window  # False where either is missing
    return pd.DataFrame(
        {
            "case_id": outcomes["case_id"].to_numpy(),
            "eligible": eligible,
            "retained": (kept | completed) & eligible,
            "monitored": outcomes["monitored"].to_numpy(dtype=bool),
            "sustained": sustained,
            "relapse_eligible": relapse_eligible,
            "not_relapsed": relapse_eligible & ~relapsed_within,
        }
    )


def _km_headline(frame, event, horizon, cols, overall, confidence) -> pd.DataFrame:
    """Kaplan–Meier survival of ``event`` at ``horizon`` per group, as headline rows."""
    columns = [*cols, "horizon_days", "numerator", "estimate", "ci_low", "ci_high"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    km = kaplan_meier(
        frame,
        duration=f"{event}_time",
        event=f"{event}_observed",
        by=cols or None,
        overall=overall,
        confidence=confidence,
    )
    at = survival_at(km, horizon, group=cols or None)
    at = at.rename(columns={"survival": "estimate"}).assign(
        numerator=pd.array([pd.NA] * len(at), dtype="Int64")
    )
    return at[columns]


def recovery_sensitivity(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    definition: RecoveryDefinition | None = None,
    overall: bool = True,
    outcomes: dict[str, pd.DataFrame] | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Each headline under ``missing_as="positive"`` and ``"ignore"``, with the difference.

    Missing screens are often not missing at random, so the convention is
    contested; this table shows how much each headline rests on it.

    Parameters
    ----------
    cohort, as_of, by, overall
        As in :func:`recovery_headline`.
    definition : RecoveryDefinition, optional
        The other definitions (its ``missing_as`` is replaced by each
        convention in turn).
    outcomes : dict, optional
        ``{"positive": table, "ignore": table}`` of precomputed
        :func:`~casework_analytics.timelines.recovery_outcomes`.
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose groups are reused.

    Returns
    -------
    DataFrame
        Group columns, ``metric``, ``horizon_days``, ``estimate_positive``,
        ``estimate_ignore``, ``difference`` (ignore − positive, in
        proportion points), ``numerator_positive``, ``numerator_ignore``
        (missing for the Kaplan–Meier metrics), ``denominator_positive``,
        ``denominator_ignore``. Retention does not depend on the convention
        (dropout uses recorded visits and gaps), so its difference is 0 by
        construction.
    """
    d = resolve_definition(definition)
    given = outcomes or {}
    tables = {
        convention: recovery_headline(
            cohort,
            as_of,
            by,
            definition=d.replace(missing_as=convention),
            overall=overall,
            outcomes=given.get(convention),
            run=run,
        )
        for convention in MISSING_AS
    }
    a, b = tables["positive"], tables["ignore"]
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
            "numerator_positive",
            "numerator_ignore",
            "denominator_positive",
            "denominator_ignore",
        ]
    ]


def _long_events(outcomes: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Outcomes reshaped to one row per case and event: ``outcome, time, observed``."""
    parts = [
        outcomes[[*cols, "case_id"]].assign(
            outcome=name, time=outcomes[f"{name}_time"], observed=outcomes[f"{name}_observed"]
        )
        for name in RECOVERY_EVENTS  # four events, not cases
    ]
    return pd.concat(parts, ignore_index=True)


def recovery_survival(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    definition: RecoveryDefinition | None = None,
    conf_type: str = "log-log",
    confidence: float = 0.95,
    overall: bool = True,
    outcomes: pd.DataFrame | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Kaplan–Meier curves of time to dropout, first positive, sustained abstinence and relapse.

    Times, time origins and censoring are those of
    :func:`~casework_analytics.timelines.recovery_outcomes`: from intake,
    except relapse, which runs from the day sustained abstinence was reached
    among the clients who reached it. Clients never monitored are left out.
    Intervals: Greenwood with the ``conf_type`` transform (see
    :func:`casework_analytics.survival.kaplan_meier`).

    Parameters
    ----------
    cohort, as_of, by, definition, overall, outcomes, run
        As in :func:`recovery_headline`.
    conf_type, confidence
        As in :func:`~casework_analytics.survival.kaplan_meier`.

    Returns
    -------
    DataFrame
        Group columns, ``outcome`` (dropout, first_positive, sustained,
        relapse), ``time_days``, ``at_risk``, ``events``, ``censored``,
        ``survival``, ``se``, ``ci_low``, ``ci_high``.
    """
    outcomes = _outcomes_for(cohort, as_of, resolve_definition(definition), outcomes)
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
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
    columns = ["time_days", "at_risk", "events", "censored", "survival", "se", "ci_low", "ci_high"]
    return km[[*cols, "outcome", *columns]]


def recovery_logrank(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy,
    *,
    definition: RecoveryDefinition | None = None,
    outcomes: pd.DataFrame | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Log-rank test across the groups of ``by`` for each recovery event.

    Parameters
    ----------
    cohort, as_of, definition, outcomes, run
        As in :func:`recovery_headline`.
    by : str or list of str
        The column(s) whose groups are compared (required).

    Returns
    -------
    DataFrame
        ``outcome``, then the columns of
        :func:`casework_analytics.survival.logrank_test`: ``group, chisq,
        df, p_value, n, events, n_groups``.
    """
    outcomes = _outcomes_for(cohort, as_of, resolve_definition(definition), outcomes)
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
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


def retention_by_intake_month(
    cohort: Cohort,
    as_of: DateLike,
    *,
    weeks: int = 26,
    definition: RecoveryDefinition | None = None,
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Share of monitored clients still attending, by intake month and week since intake.

    Definition
    ----------
    Time origin: intake. End of observation: ``as_of``. For clients
    monitored by ``as_of`` who came in during a month, the share whose last
    attended visit before any dropout (``retention_days``) is on or after
    week ``w`` (day ``7w``). A week that had not elapsed by ``as_of`` for
    the month's latest intake is missing: it is not yet known.

    Parameters
    ----------
    cohort, as_of, definition, outcomes
        As in :func:`recovery_headline`.
    weeks : int
        Weeks since intake shown (26).

    Returns
    -------
    DataFrame
        ``intake_month`` (``YYYY-MM``), ``week`` (0 to ``weeks - 1``), ``n``
        (the month's monitored clients), ``share`` (missing where not yet
        elapsed).
    """
    as_of = as_as_of(as_of)
    outcomes = _outcomes_for(cohort, as_of, resolve_definition(definition), outcomes)
    frame = outcomes[outcomes["monitored"]].merge(
        cohort.cases[["case_id", "intake_date"]], on="case_id"
    )
    month = frame["intake_date"].dt.strftime("%Y-%m").to_numpy()
    grid = np.arange(weeks)
    kept = frame["retention_days"].astype("float64").fillna(-1).to_numpy()[:, None]
    retained = pd.DataFrame(kept >= 7 * grid[None, :], columns=grid)
    share = retained.groupby(month).mean()
    counts = pd.Series(month).value_counts().reindex(share.index)
    latest = frame.groupby(month)["intake_date"].max().reindex(share.index)
    elapsed = ((as_of - latest).dt.days.to_numpy()[:, None] // 7) >= grid[None, :]
    table = share.where(elapsed)
    long = table.stack(future_stack=True).rename("share").reset_index()
    long.columns = ["intake_month", "week", "share"]
    long["n"] = long["intake_month"].map(counts).astype("int64")
    return long[["intake_month", "week", "n", "share"]]
