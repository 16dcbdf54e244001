"""Publishing: what may leave the team, and the audit that proves no small
count can be worked out from it.

Threat model
------------
The attacker holds every file of one published run (all tables and the
HTML report), knows these rules, and can difference rows, tables and
sections, and run the Kaplan–Meier recurrences backwards. Nothing published
may let them determine any count of people from 1 to ``threshold - 1``
(default 11: counts 1-10), nor pin a hidden count to within ±2 of its true
value. See ``docs/privacy.md``.

How a run is published (:func:`publish`)
----------------------------------------
1. Per-client tables (:data:`casework_analytics.summary.PER_CASE_TABLES`)
   are withheld. Groups with fewer clients than the threshold were folded
   into ``Other`` before anything was computed
   (:func:`casework_analytics.privacy.fold_small_groups`).
2. Survival and cumulative-incidence curves are published on a coarse grid
   of days (:data:`CURVE_STEP_DAYS`), with the number at risk rounded to a
   base of 5 and hidden below the threshold, and no per-time events or
   censorings (:func:`casework_analytics.disclosure.coarsen_curve`). The
   audit still treats the numbers at risk, each curve's starting size and
   a survival curve's events up to each published day as known exactly:
   estimates and intervals give them back.
3. Every count a published table shows is a count of cases meeting a
   condition in a group: a sum of one per-case indicator
   (:func:`case_indicators`). The published counts are checked against
   those sums, so the audit speaks about the very numbers shown. A count
   that appears in several tables (``n_cases`` in the funnel and the
   length-of-stay table, completion in the headline and the exits) is one
   cell, hidden everywhere or nowhere. Cases with the same indicators form
   *atoms*; every published count is a sum of atom sizes, so every linear
   relation between published counts, within or across tables, is known to
   the audit without being listed.
4. The complement of a count within its natural total (the cases that did
   not reach a stage, did not complete it, relapsed among those abstinent,
   closed but not as planned...) is a count of people too: it is audited
   as an unpublished cell.
5. Counts from 1 to ``threshold - 1`` are hidden; then
   :func:`protect_counts` audits everything by
   linear programming and hides more until no hidden count (of any size)
   and no unpublished small count is pinned. The attacker is assumed to
   know the folding rule: every group shown under its own name has at least
   ``threshold`` clients. A table that cannot be protected is withheld, and the
   publication says so.
6. Shares, intervals, rates and quantiles are hidden wherever a count they
   rest on is hidden.
7. Values that are points of a survival curve are read off the published,
   coarse curve, so they say nothing the curve does not
   (:data:`_CURVE_POINTS`): the Kaplan–Meier headline rows
   (``retention_km``, ``not_relapsed_km``) are the curve's value at their
   horizon, hidden where the curve stops before it; in ``survival_summary``
   the median (and its limits) is the first published day on which the
   curve (its limit) is at or below 0.5, and the restricted mean is the
   area under the published points (trapezoids) up to the curve's last
   published day, with limits from the areas under the published
   pointwise limits (wider than the exact interval) and no standard error.
   A group without a published curve has these values hidden.

The rules for every output, those of the summary tables and of the
dashboard's cards and tables, are in one table, :data:`RULES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .count_bounds import CountBounds, atom_levels
from .errors import CaseworkError
from .grouping import OVERALL
from .privacy import DEFAULT_THRESHOLD, HIDDEN, check_threshold

__all__ = [
    "CURVE_STEP_DAYS",
    "MIN_CURVE_POINTS",
    "ROUNDING_BASE",
    "Rule",
    "RULES",
    "MINUS",
    "case_indicators",
    "exit_times",
    "Publication",
    "publish",
    "WITHHELD_REASONS",
    "MOSTLY_SMALL",
    "POOL_TOTAL",
    "Protected",
    "protect_counts",
]

if TYPE_CHECKING:
    from scipy import sparse

    from .summary import Summary

#: Days between the time points of a published curve.
CURVE_STEP_DAYS = 30
#: A grouped curve is published only if its grid keeps this many days.
MIN_CURVE_POINTS = 3
#: Published numbers at risk are rounded to a multiple of this.
ROUNDING_BASE = 5


def _const(key: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda t: pd.Series(key, index=t.index, dtype=object)


def _keyed(prefix: str, *columns: str) -> Callable[[pd.DataFrame], pd.Series]:
    def key(t: pd.DataFrame) -> pd.Series:
        out = pd.Series(prefix, index=t.index, dtype=object)
        for column in columns:
            out = out + "|" + t[column].astype(str)
        return out

    return key


@dataclass(frozen=True)
class Rule:
    """How one output is published.

    Attributes
    ----------
    counts : dict
        Count column → function giving each row's indicator key (see
        :func:`case_indicators`); a row whose key is missing holds no count
        in that column.
    derived : dict
        Derived column → the count columns it is computed from.
    parents : dict
        Count column → the count column holding its natural total; the
        difference is audited as an unpublished count.
    previous : dict
        Derived column → the count column of the previous row of the same
        group it also rests on (a conversion from the previous stage).
    whole_only_rows : callable, optional
        Rows (a mask) published only for the whole cohort: a fine breakdown
        that per group would be almost all small numbers.
    whole_only_columns : tuple of str
        Count columns published only in the whole-cohort rows (left empty,
        with the values resting on them, in group rows).
    grouping : {"by", "placement", "term", "none"}
        Which grouping the table's group columns follow (``"none"``: the
        whole cohort only).
    per_case : bool
        One row per client: never published.
    curve : bool
        A survival or cumulative-incidence curve: published coarsened.
    pooled_by : tuple of str
        Columns naming a pool of rows (the groups compared on one metric).
    pooled : dict
        Column resting on every row of its pool (an overdispersion estimate,
        a test for trend, or limits widened by one) → the rows where it
        does (a mask function), or None for all of them. Hidden across the
        pool wherever a count of the pool is hidden: with the shown rows and
        the total, one such number can pin the hidden count.
    pool_total : tuple of str
        Columns (a target, its expected counts, limits) that reveal the
        pool's total counts: the totals are audited as published (whole
        cohort rows, not written), and if one must be hidden, so is every
        value of the pool.
    across_groups : tuple of str
        Columns computed from every group's counts (a test across the
        groups): hidden wherever any count of the grouping is hidden, since
        with the shown groups the statistic can give the hidden one.
    """

    counts: dict[str, Callable[[pd.DataFrame], pd.Series]] = field(default_factory=dict)
    derived: dict[str, list[str]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    grouping: str = "by"
    previous: dict[str, str] = field(default_factory=dict)
    whole_only_rows: Callable[[pd.DataFrame], pd.Series] | None = None
    whole_only_columns: tuple[str, ...] = ()
    per_case: bool = False
    curve: bool = False
    pooled_by: tuple[str, ...] = ()
    pooled: dict[str, Callable[[pd.DataFrame], pd.Series] | None] = field(default_factory=dict)
    pool_total: tuple[str, ...] = ()
    across_groups: tuple[str, ...] = ()


_SHARE = ["share", "ci_low", "ci_high"]
_ESTIMATE = ["estimate", "ci_low", "ci_high"]
_NUMERATORS = {
    "retention": "retained",
    "sustained_abstinence": "sustained",
    "not_relapsed": "not_relapsed",
}
_DENOMINATORS = {
    "retention": "eligible",
    "retention_km": "monitored",
    "sustained_abstinence": "monitored",
    "not_relapsed": "relapse_eligible",
    "not_relapsed_km": "sustained",
}


def _headline_key(mapping):
    """Keys of recovery counts, which depend on the missing-visit convention."""
    fixed = {"retained", "eligible", "monitored"}

    def key(t: pd.DataFrame) -> pd.Series:
        base = t["metric"].map(mapping)
        convention = "@" + t["missing_as"].astype(str) if "missing_as" in t else ""
        return base.where(base.isin(fixed) | base.isna(), base + convention)

    return key


def _sensitivity_key(convention: str, mapping=None):
    """Keys of a sensitivity row's denominator (or, with ``_NUMERATORS``, numerator)
    under one missing-visit convention; none where the metric has no such count."""
    mapping = _DENOMINATORS if mapping is None else mapping

    def key(t: pd.DataFrame) -> pd.Series:
        base = t["metric"].map(mapping)
        fixed = base.isin({"eligible", "monitored", "retained"})
        keyed = base.where(fixed, base + "@" + convention)
        return keyed.where(base.notna(), None)

    return key


_CARD_NUMERATORS = {
    "cases": "case",
    "completion": "exit|type|planned",
    "retention": "retained",
    "sustained": "sustained@{c}",
    "not_relapsed": "not_relapsed@{c}",
}
_CARD_DENOMINATORS = {
    "completion": "closed",
    "retention": "eligible",
    "sustained": "monitored",
    "not_relapsed": "relapse_eligible@{c}",
}
_COMPARED_N = {
    "planned_completion": "closed",
    "retention": "eligible",
    "sustained_abstinence": "monitored",
    "not_relapsed": "relapse_eligible@{c}",
}
_COMPARED_OBSERVED = {
    "planned_completion": "exit|type|planned",
    "retention": "retained",
    "sustained_abstinence": "sustained@{c}",
    "not_relapsed": "not_relapsed@{c}",
}


def _metric_key(mapping: dict[str, str], *, other: bool = False):
    """Keys by the row's ``metric``, with the row's missing-visit convention filled in
    (or the other convention's, for ``other``)."""
    swap = {"positive": "ignore", "ignore": "positive"}

    def key(t: pd.DataFrame) -> pd.Series:
        conventions = t["missing_as"].astype(str)
        if other:
            conventions = conventions.map(swap)
        templates = t["metric"].map(mapping)
        keys = [
            template.replace("{c}", c) if isinstance(template, str) else None
            for template, c in zip(templates, conventions, strict=True)
        ]  # one per row of a small published table
        return pd.Series(keys, index=t.index, dtype=object)

    return key


#: The values of a funnel-table row, all resting on its counts and the target.
_FUNNEL_VALUES = (
    "expected",
    "value",
    "z",
    "z_adjusted",
    "lower_95",
    "upper_95",
    "lower_998",
    "upper_998",
    "flag",
)

RULES: dict[str, Rule] = {
    "stage_progress": Rule(per_case=True),
    "contacts": Rule(per_case=True),
    "recovery": Rule(per_case=True),
    "weekly_status": Rule(per_case=True),
    "stage_funnel": Rule(
        counts={
            "n_cases": _const("case"),
            "reached": _keyed("reached", "stage"),
            "completed": _keyed("completed", "stage"),
            "in_stage": _keyed("in_stage", "stage"),
        },
        derived={
            "share_reached": ["reached", "n_cases"],
            "share_ci_low": ["reached", "n_cases"],
            "share_ci_high": ["reached", "n_cases"],
            "conversion": ["reached"],
            "conversion_ci_low": ["reached"],
            "conversion_ci_high": ["reached"],
        },
        previous={c: "reached" for c in ("conversion", "conversion_ci_low", "conversion_ci_high")},
        whole_only_columns=("completed", "in_stage"),
        parents={"reached": "n_cases", "completed": "reached", "in_stage": "reached"},
    ),
    "exits": Rule(
        counts={
            "n": _keyed("exit", "level", "category"),
            "n_exits": _const("closed"),
            "n_open": _const("open"),
        },
        derived={c: ["n", "n_exits"] for c in _SHARE},
        parents={"n": "n_exits"},
        whole_only_rows=lambda t: t["level"] == "reason",
    ),
    "exit_stage": Rule(
        counts={"n": _keyed("exit_stage", "exit_reason", "stage_at_exit")},
        whole_only_rows=lambda t: pd.Series(True, index=t.index),
    ),
    "length_of_stay": Rule(
        counts={
            "n_cases": _const("case"),
            "n_closed": _const("closed"),
            "n_open": _const("open"),
            "n_under_90_days": _const("los_under_90"),
        },
        derived={q: ["n_closed"] for q in ("median_days", "q1_days", "q3_days", "mean_days")},
        parents={"n_under_90_days": "n_closed"},
        whole_only_columns=("n_under_90_days",),
    ),
    "association": Rule(
        counts={
            "n_high": _const("n_high"),
            "unplanned_high": _const("unplanned_high"),
            "n_low": _const("n_low"),
            "unplanned_low": _const("unplanned_low"),
        },
        derived={
            "risk_high": ["n_high", "unplanned_high"],
            "risk_low": ["n_low", "unplanned_low"],
            **{
                c: ["n_high", "unplanned_high", "n_low", "unplanned_low"]
                for c in ("risk_ratio", "ci_low", "ci_high", "corrected")
            },
        },
        parents={"unplanned_high": "n_high", "unplanned_low": "n_low"},
        whole_only_rows=lambda t: pd.Series(True, index=t.index),
    ),
    "exit_type_test": Rule(
        counts={"n": _const("closed_known"), "n_unknown": _const("exit|type|unknown")},
        derived={c: ["n"] for c in ("statistic", "p_value", "min_expected")},
        grouping="none",
        across_groups=("statistic", "p_value", "min_expected"),
    ),
    "survival_summary": Rule(
        counts={
            "n": _keyed("has_time", "outcome"),
            "events": _keyed("event", "outcome"),
            "n_excluded": _keyed("no_time", "outcome"),
        },
        derived={
            c: ["n", "events"]
            for c in (
                "median_days",
                "median_ci_low",
                "median_ci_high",
                "rmst_days",
                "rmst_se",
                "rmst_ci_low",
                "rmst_ci_high",
            )
        },
        parents={"events": "n"},
    ),
    "logrank": Rule(
        counts={"n": _keyed("has_time", "outcome"), "events": _keyed("event", "outcome")},
        derived={c: ["n", "events"] for c in ("chisq", "p_value")},
        parents={"events": "n"},
        grouping="none",
        across_groups=("chisq", "p_value"),
    ),
    "recovery_headline": Rule(
        counts={
            "numerator": _headline_key(_NUMERATORS),
            "denominator": _headline_key(_DENOMINATORS),
        },
        derived={c: ["numerator", "denominator"] for c in _ESTIMATE},
        parents={"numerator": "denominator"},
    ),
    "recovery_sensitivity": Rule(
        counts={
            "numerator_positive": _sensitivity_key("positive", _NUMERATORS),
            "numerator_ignore": _sensitivity_key("ignore", _NUMERATORS),
            "denominator_positive": _sensitivity_key("positive"),
            "denominator_ignore": _sensitivity_key("ignore"),
        },
        derived={
            "estimate_positive": ["numerator_positive", "denominator_positive"],
            "estimate_ignore": ["numerator_ignore", "denominator_ignore"],
            "difference": [
                "numerator_positive",
                "numerator_ignore",
                "denominator_positive",
                "denominator_ignore",
            ],
        },
        parents={
            "numerator_positive": "denominator_positive",
            "numerator_ignore": "denominator_ignore",
        },
    ),
    "survival": Rule(counts={"at_risk": _keyed("at_risk", "outcome", "time_days")}, curve=True),
    # The dashboard's own outputs.
    "cards": Rule(
        counts={
            "numerator": _metric_key(_CARD_NUMERATORS),
            "denominator": _metric_key(_CARD_DENOMINATORS),
            "other_numerator": _metric_key(_CARD_NUMERATORS, other=True),
            "other_denominator": _metric_key(_CARD_DENOMINATORS, other=True),
        },
        derived={
            **{c: ["numerator", "denominator"] for c in ("estimate", "ci_low", "ci_high")},
            "other_estimate": ["other_numerator", "other_denominator"],
        },
        parents={"numerator": "denominator", "other_numerator": "other_denominator"},
        grouping="none",
    ),
    "comparison": Rule(
        counts={"n": _metric_key(_COMPARED_N), "observed": _metric_key(_COMPARED_OBSERVED)},
        derived=dict.fromkeys(_FUNNEL_VALUES, ["n", "observed"]),
        parents={"observed": "n"},
        pooled_by=("metric", "adjusted"),
        pool_total=("target", *_FUNNEL_VALUES),
        pooled={
            **dict.fromkeys(("phi", "tau2", "dispersion_p", "overdispersed", "widening")),
            # the values a widening rests on (every one from z_adjusted on)
            **dict.fromkeys(_FUNNEL_VALUES[3:], lambda t: t["widening"] != "none"),
        },
    ),
    "trend": Rule(
        counts={"n": _metric_key(_COMPARED_N), "successes": _metric_key(_COMPARED_OBSERVED)},
        derived={
            c: ["n", "successes"]
            for c in ("share", "ci_low", "ci_high", "trend_z", "trend_chisq", "trend_p_value")
        },
        parents={"successes": "n"},
        grouping="term",
        pooled_by=("metric",),
        pooled=dict.fromkeys(("trend_z", "trend_chisq", "trend_p_value")),
        pool_total=("share", "ci_low", "ci_high", "trend_z", "trend_chisq", "trend_p_value"),
    ),
    # The report's data-quality counts of warnings on case rows, restricted to the
    # run's cases (the attacker is granted the rest): they can equal table counts.
    "quality_cases": Rule(counts={"n": _keyed("problem", "rule", "severity")}, grouping="none"),
    "placements": Rule(
        counts={
            "n_cases": _const("case"),
            "n_closed": _const("closed"),
            "n_planned": _const("exit|type|planned"),
        },
        derived={
            "completion": ["n_planned", "n_closed"],
            "median_los_days": ["n_closed"],
            "missed_rate": ["n_cases"],
        },
        parents={"n_planned": "n_closed", "n_closed": "n_cases"},
        grouping="placement",
    ),
    "cumulative_incidence": Rule(
        counts={"at_risk": _keyed("exit_at_risk", "time_days")}, curve=True
    ),
}


#: Separator of a complement key: ``"reached|assessment minus completed|assessment"``.
MINUS = " minus "


def case_indicators(run: Summary, keys: Iterable[str]) -> pd.DataFrame:
    """One row per case of the run: the value (0 or 1) of every indicator in ``keys``.

    Parameters
    ----------
    run : Summary
        The analysis run the published tables come from.
    keys : iterable of str
        Indicator keys, as the rules of :data:`RULES` give them:

        ``case``, ``closed``, ``open``, ``closed_known`` (closed with a known
        exit type); ``exit|reason|<code>``, ``exit|type|<type>`` (closed
        with that reason or type); ``reached|<stage>``,
        ``completed|<stage>``, ``in_stage|<stage>`` (the funnel's columns);
        ``exit_stage|<reason>|<stage>`` (closed, with that stage at exit);
        ``los_under_90`` (closed within 90 days); ``n_high``,
        ``unplanned_high``, ``n_low``, ``unplanned_low`` (the association
        table's cells); ``eligible``, ``retained``, ``monitored``,
        ``sustained@<convention>``, ``relapse_eligible@<convention>``,
        ``not_relapsed@<convention>`` (the
        recovery headline); ``has_time|<event>``, ``event|<event>``,
        ``no_time|<event>`` (in a survival estimate, with the event
        observed, and left out of it for want of a time);
        ``at_risk|<event>|<day>`` and ``exit_at_risk|<day>`` (still under
        observation after that day, as a coarsened curve counts them);
        ``event_by|<event>|<day>`` (the event observed by that day);
        ``problem|<rule>|<severity>`` (a problem of that rule and severity
        found on the case's row);
        ``exit_by|<cause>|<day>`` (closed by that day, the exit type one
        of the causes joined by `` + ``, a missing type counting as
        ``unknown``); and ``A minus B`` (the complement of B within A).

    Returns
    -------
    DataFrame
        Indexed by ``case_id``, one int8 column per key.
    """
    from .closures import EXIT_TYPES
    from .contacts import association_flags
    from .exits import stages_at_exit
    from .keys import positions, take
    from .recovery import headline_flags
    from .stages import funnel_flags

    exits = run.exits.set_index("case_id")
    index = exits.index
    cache: dict[str, pd.DataFrame | dict] = {}

    def once(name, make):
        if name not in cache:
            cache[name] = make()
        return cache[name]

    def per_case(name: str, make) -> tuple[pd.DataFrame, np.ndarray]:
        """A frame with a ``case_id`` column, and the row of each case of ``index``
        in it (-1 if none): a million IDs looked up once per frame, not per key."""

        def build():
            frame = make()
            return frame, positions(index, frame["case_id"])

        return once(name, build)

    def flag(found: tuple[pd.DataFrame, np.ndarray], values) -> np.ndarray:
        """``values`` (one per row of the frame, missing as False) by case."""
        _, rows = found
        values = pd.Series(values).fillna(False).to_numpy(dtype=bool)
        return np.where(rows >= 0, values[rows] if len(values) else False, False)

    def flags_of(convention: str) -> tuple[pd.DataFrame, np.ndarray]:
        return per_case(
            f"headline@{convention}",
            lambda: headline_flags(
                run.cohort,
                run.as_of,
                run.outcomes_by_convention[convention],
                run.definition.replace(missing_as=convention),
            ),
        )

    def funnel(kind: str, stage: str) -> np.ndarray:
        flags = once("funnel", lambda: funnel_flags(run.progress, run.cohort.stage_model))
        position = list(run.cohort.stage_model.stages).index(stage)
        order = once("funnel_rows", lambda: positions(index, run.progress["case_id"]))
        return flags[kind][order, position]

    def outcome(column: str) -> pd.Series:
        """A column of the recovery outcomes by case (missing where a case has none);
        each lookup of a million IDs is done once."""
        outcomes = run.outcomes
        rows = once("outcome_rows", lambda: positions(index, outcomes["case_id"]))
        return once(f"outcome|{column}", lambda: take(outcomes[column], rows, index))

    def event_time(event: str) -> pd.Series:
        return outcome(f"{event}_time")

    def observed(event: str) -> np.ndarray:
        return outcome(f"{event}_observed").fillna(False).to_numpy(dtype=bool)

    def exit_days() -> np.ndarray:
        return once("exit_days", lambda: exit_times(run).reindex(index).to_numpy())

    closed = exits["closed"].to_numpy(dtype=bool)

    def value(key: str) -> np.ndarray:
        if MINUS in key:
            whole, part = key.split(MINUS)
            return np.asarray(value(whole), dtype=np.int64) - np.asarray(
                value(part), dtype=np.int64
            )
        head, _, rest = key.partition("|")
        if key == "case":
            return np.ones(len(index))
        if key in ("closed", "open"):
            return closed if key == "closed" else ~closed
        if key == "closed_known":
            return closed & exits["exit_type"].isin(EXIT_TYPES).to_numpy()
        if head == "exit":
            level, _, category = rest.partition("|")
            column = "exit_reason" if level == "reason" else "exit_type"
            return closed & (exits[column] == category).fillna(False).to_numpy(dtype=bool)
        if head in ("reached", "completed", "in_stage"):
            return funnel(head, rest)
        if head == "exit_stage":
            reason, _, stage = rest.partition("|")
            at_exit = per_case("exit_stage", lambda: stages_at_exit(run.cohort, run.as_of))
            frame = at_exit[0]
            match = (frame["exit_reason"] == reason) & (frame["stage_at_exit"] == stage)
            return flag(at_exit, match)
        if key == "los_under_90":
            stays = per_case("stays", lambda: run.stays)
            return closed & flag(stays, stays[0]["los_days"].astype("float64") < 90)
        if key in ("n_high", "unplanned_high", "n_low", "unplanned_low"):
            flags = per_case(
                "association",
                lambda: association_flags(
                    run.cohort, run.as_of, threshold=run.missed_threshold, summary=run.contacts
                ),
            )
            return flag(flags, flags[0][key])
        if key in ("eligible", "retained", "monitored"):
            flags = flags_of(run.definition.missing_as)
            return flag(flags, flags[0][key])
        if "@" in key:
            name, _, convention = key.partition("@")
            flags = flags_of(convention)
            return flag(flags, flags[0][name])
        if head == "has_time":
            return event_time(rest).notna().to_numpy()
        if head == "no_time":
            outcomes = once("outcome_cases", lambda: run.outcomes["case_id"])
            return index.isin(outcomes) & event_time(rest).isna().to_numpy()
        if head == "event":
            return observed(rest)
        if head == "at_risk":
            event, _, day = rest.partition("|")
            return (event_time(event).astype("float64") > float(day)).to_numpy()
        if head == "event_by":
            event, _, day = rest.partition("|")
            by_day = (event_time(event).astype("float64") <= float(day)).to_numpy()
            return observed(event) & by_day
        if head == "problem":
            rule, _, severity = rest.partition("|")
            problems = run.cohort.problems
            flagged = problems.loc[
                (problems["table"] == "cases")
                & (problems["rule"] == rule)
                & (problems["severity"] == severity),
                "case_id",
            ]
            return index.isin(flagged.dropna())
        if head == "exit_at_risk":
            return exit_days() > float(rest)
        if head == "exit_by":
            cause, _, day = rest.rpartition("|")
            types = exits["exit_type"].astype(object).fillna("unknown")
            by_day = exit_days() <= float(day)
            return closed & types.isin(cause.split(" + ")).to_numpy() & by_day
        raise CaseworkError(f"Internal error: no indicator is defined for {key!r}.")

    keys = list(dict.fromkeys(keys))
    return pd.DataFrame({key: np.asarray(value(key)).astype(np.int8) for key in keys}, index=index)


def exit_times(run: Summary) -> pd.Series:
    """Days from intake to closure, or to ``as_of`` for open cases (by ``case_id``).

    Parameters
    ----------
    run : Summary

    Returns
    -------
    Series of float64
        Days, indexed by ``case_id``.
    """
    exits = run.exits.set_index("case_id")
    end = exits["closed_date"].fillna(run.as_of)
    return (end - exits["intake_date"]).dt.days.astype("float64")


# ---------------------------------------------------------------- the publication


@dataclass
class Publication:
    """What may be published of one run, with the audit's verdict.

    Attributes
    ----------
    tables : dict
        Output name → published table (hidden counts read ``*``), or the
        reason it is withheld.
    cells : DataFrame
        Every audited count: ``cell`` (grouping, group and indicator),
        ``value``, ``status`` (shown, primary, complementary, rounded,
        unpublished; see :class:`casework_analytics.disclosure.Protection`).
        Not for publication: it holds the true values.
    threshold : int
    rounds : int
        Audit rounds run.
    """

    tables: dict[str, pd.DataFrame | str]
    cells: pd.DataFrame
    threshold: int
    rounds: int = 0

    def items(self) -> Iterator[tuple[str, pd.DataFrame | str]]:
        """``(name, table_or_reason)`` pairs in order.

        Returns
        -------
        iterator of (str, DataFrame or str)
        """
        return iter(self.tables.items())

    @property
    def hidden_count(self) -> int:
        """Cells shown as hidden across every published table."""
        return int(
            sum(
                (t.astype(object) == HIDDEN).sum().sum()
                for t in self.tables.values()
                if isinstance(t, pd.DataFrame)
            )
        )

    def summary(self) -> dict:
        """Counts of audited and hidden cells (safe to publish: no values).

        Returns
        -------
        dict
            ``threshold``, ``audited_cells``, ``hidden_cells``, ``by_status``
            (cells per status) and ``audit_rounds``.
        """
        status = self.cells["status"].value_counts().to_dict() if len(self.cells) else {}
        return {
            "threshold": self.threshold,
            "audited_cells": int(len(self.cells)),
            "hidden_cells": self.hidden_count,
            "by_status": {str(k): int(v) for k, v in status.items()},
            "audit_rounds": self.rounds,
        }


def _whole_only(table: pd.DataFrame, rule: Rule, cols: list[str]) -> pd.DataFrame:
    """Keep the fine breakdowns of ``rule`` for the whole-cohort rows only."""
    table = table.reset_index(drop=True)
    if not cols or rule.grouping == "none":
        return table
    overall = (table[cols].astype(str) == OVERALL).all(axis=1)
    if rule.whole_only_rows is not None:
        table = table[overall | ~rule.whole_only_rows(table).to_numpy(dtype=bool)]
        overall = overall.loc[table.index]
        table = table.reset_index(drop=True)
        overall = overall.reset_index(drop=True)
    for column in rule.whole_only_columns:
        resting = [c for c, sources in rule.derived.items() if column in sources]
        table.loc[~overall, [column, *resting]] = np.nan
    return table


def _row_labels(table: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Each row's group label: ``All`` for whole-cohort rows."""
    if not cols:
        return np.full(len(table), OVERALL, dtype=object)
    from .grouping import group_key

    overall = (table[cols].astype(str) == OVERALL).all(axis=1).to_numpy()
    return np.where(overall, OVERALL, group_key(table, cols).to_numpy(dtype=object))


def _cell_rows(name, table, rule, cols) -> pd.DataFrame:
    """Every count cell of one table: its position, column, grouping, label and key."""
    grouping = "none" if rule.grouping == "none" else rule.grouping
    labels = _row_labels(table, [] if grouping == "none" else cols)
    parts = []
    for column, key_of in rule.counts.items():
        if column not in table:
            continue
        keys = pd.Series(key_of(table.reset_index(drop=True)), dtype=object)
        present = keys.notna().to_numpy() & table[column].notna().to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "table": name,
                    "position": np.flatnonzero(present),
                    "column": column,
                    "grouping": np.where(labels[present] == OVERALL, "*", grouping),
                    "label": labels[present],
                    "key": keys[present].to_numpy(dtype=object),
                    "shown": pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)[
                        present
                    ],
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _complement_rows(name, table, rule, cells) -> pd.DataFrame:
    """The complements of each count within its parent, as unpublished cells."""
    out = []
    for child, parent in rule.parents.items():
        a = cells[(cells["table"] == name) & (cells["column"] == child)]
        b = cells[(cells["table"] == name) & (cells["column"] == parent)]
        joined = a.merge(b[["position", "key"]], on="position", suffixes=("", "_parent"))
        joined = joined[joined["key"] != joined["key_parent"]]
        if len(joined):
            out.append(
                joined.assign(
                    key=joined["key_parent"] + MINUS + joined["key"], column=f"{parent}-{child}"
                ).drop(columns="key_parent")
            )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def _coarsen_cumulative_incidence(run, table, cols, threshold, by_group=True):
    """Cumulative incidence on a grid where no cause's span count is 1 to threshold - 1."""
    from .disclosure import coarsen_curve
    from .grouping import attach_groups
    from .survival import kaplan_meier

    times = exit_times(run).rename("time").reset_index()
    exits = run.exits[["case_id", "exit_type", "closed"]]
    frame = attach_groups(times.merge(exits, on="case_id"), run.groups, cols)
    if not by_group:
        frame = frame.assign(**{c: OVERALL for c in cols})
    # A cause with fewer than threshold exits in all is pooled with the smallest other
    # cause (incidences add up), so no curve of its own can count it.
    totals = frame.loc[frame["closed"], "exit_type"].fillna("unknown").value_counts()
    small = sorted(totals[totals < threshold].index)
    if small:
        large = totals.drop(small).sort_values()
        partner = [large.index[0]] if len(large) else []
        pooled = " + ".join(sorted([*partner, *small]))
        rename = {c: pooled for c in [*partner, *small]}
        frame["exit_type"] = frame["exit_type"].fillna("unknown").replace(rename)
        table = table.assign(cause=table["cause"].replace(rename))
        keys = [*cols, "time_days", "cause"]
        table = table.groupby(keys, as_index=False, sort=False).agg(
            at_risk=("at_risk", "first"),
            events=("events", "sum"),
            cumulative_incidence=("cumulative_incidence", "sum"),
        )
    causes = sorted(table["cause"].dropna().unique())
    curves = []
    for cause in causes:  # a handful of exit types
        one = frame.assign(cause=cause, event=frame["closed"] & (frame["exit_type"] == cause))
        curves.append(
            kaplan_meier(one, duration="time", event="event", by=[*cols, "cause"], overall=False)
        )
    km = pd.concat(curves, ignore_index=True)
    if cols and by_group:
        whole = pd.concat(
            [
                kaplan_meier(
                    frame.assign(
                        cause=c,
                        event=frame["closed"] & (frame["exit_type"] == c),
                    ),
                    duration="time",
                    event="event",
                    by="cause",
                    overall=False,
                ).assign(**{col: OVERALL for col in cols})
                for c in causes
            ],
            ignore_index=True,
        )
        km = pd.concat([km, whole], ignore_index=True)
    grid = coarsen_curve(km, group=[*cols, "cause"], every=CURVE_STEP_DAYS, threshold=threshold)
    if cols and by_group and grid["time_days"].nunique() < MIN_CURVE_POINTS:
        return _coarsen_cumulative_incidence(
            run, table[(table[cols] == OVERALL).all(axis=1)], cols, threshold, by_group=False
        )
    if grid["time_days"].nunique() < 2:  # day 0 alone says nothing over time
        grid = grid.iloc[0:0]
    table = table.sort_values([*cols, "cause", "time_days"])
    keys = [*cols, "cause"]
    left = grid[[*keys, "time_days", "at_risk"]].astype({k: object for k in keys})
    right = table[[*keys, "time_days", "cumulative_incidence"]].astype({k: object for k in keys})
    sampled = pd.merge_asof(
        left.astype({"time_days": "float64"}).sort_values("time_days"),
        right.astype({"time_days": "float64"}).sort_values("time_days"),
        on="time_days",
        by=keys,
        direction="backward",
    )
    sampled["cumulative_incidence"] = sampled["cumulative_incidence"].fillna(0.0).round(3)
    return sampled.sort_values([*cols, "time_days", "cause"]).reset_index(drop=True)


def _coarsen_survival(table, cols, threshold, by_group=True):
    """Each outcome's curves on a publishable grid; by group only where the groups'
    shared grid keeps at least :data:`MIN_CURVE_POINTS` days, else the whole cohort's,
    and none for an outcome whose curve would keep only day 0."""
    from .disclosure import CURVE_COLUMNS, coarsen_curve

    parts = []
    for outcome, rows in table.groupby("outcome", sort=False):  # four outcomes
        rows = rows.drop(columns="outcome")
        curve = coarsen_curve(rows, group=cols or None, every=CURVE_STEP_DAYS, threshold=threshold)
        if cols and (not by_group or curve["time_days"].nunique() < MIN_CURVE_POINTS):
            whole = rows[(rows[cols] == OVERALL).all(axis=1)]
            curve = coarsen_curve(whole, group=cols, every=CURVE_STEP_DAYS, threshold=threshold)
        if curve["time_days"].nunique() < 2:
            continue  # a point at day 0 says nothing over time, but tells the audit the size
        parts.append(curve.assign(outcome=outcome))
    if not parts:
        return table.iloc[0:0][[*cols, "outcome", *CURVE_COLUMNS]]
    out = pd.concat(parts, ignore_index=True)
    return out[[*cols, "outcome", *[c for c in out.columns if c not in (*cols, "outcome")]]]


#: The headline rows that are points of a recovery curve, and the curve's outcome.
_HEADLINE_CURVES = {"retention_km": "dropout", "not_relapsed_km": "relapse"}
_CURVE_VALUES = ["survival", "ci_low", "ci_high"]


def _headline_off_curves(table: pd.DataFrame, curve: pd.DataFrame, cols) -> pd.DataFrame:
    """The headline's Kaplan–Meier rows as the published curve's value at their
    horizon (hidden where the curve has no such day; missing stays missing)."""
    rows = table["metric"].isin(list(_HEADLINE_CURVES)).to_numpy()
    keys = table.loc[rows, cols].astype(object)
    keys["outcome"] = table.loc[rows, "metric"].map(_HEADLINE_CURVES).to_numpy()
    keys["time_days"] = table.loc[rows, "horizon_days"].astype(float).to_numpy()
    points = curve[[*cols, "outcome", "time_days", *_CURVE_VALUES]].astype(
        {c: object for c in cols}
    )
    found = keys.merge(points, on=[*cols, "outcome", "time_days"], how="left")
    values = found[_CURVE_VALUES].to_numpy(dtype=object)
    values[found["survival"].isna().to_numpy()] = HIDDEN
    estimates = ["estimate", "ci_low", "ci_high"]
    was_missing = table.loc[rows, "estimate"].isna().to_numpy()
    values[was_missing] = np.nan  # nobody followed to the horizon: nothing to hide
    out = table.copy()
    out[estimates] = out[estimates].astype(object)
    out.loc[rows, estimates] = values
    return out


def _summary_off_curves(table: pd.DataFrame, curve: pd.DataFrame, cols) -> pd.DataFrame:
    """``survival_summary``'s medians and restricted means read off the published
    curves (see the module docstring); hidden for a group without one."""
    from .survival import SUMMARY_SHAPE

    shape_columns = list(SUMMARY_SHAPE)
    keys = [*cols, "outcome"]
    points = curve.astype({c: object for c in cols})
    # Every curve starts at 1 just before day 0: the area is measured from there.
    starts = points.drop_duplicates(keys)[keys].assign(
        time_days=0.0, survival=1.0, ci_low=1.0, ci_high=1.0, _start=True
    )
    points = pd.concat([starts, points.assign(_start=False)], ignore_index=True)
    points = points.sort_values(
        [*keys, "time_days", "_start"], ascending=[*[True] * len(keys), True, False]
    )
    grouped = points.groupby(keys, sort=False)
    shape = grouped["time_days"].max().rename("horizon_days").to_frame()
    for column, source in (
        ("median_days", "survival"),
        ("median_ci_low", "ci_low"),
        ("median_ci_high", "ci_high"),
    ):
        at_or_below = points[(points[source] <= 0.5) & ~points["_start"]]
        shape[column] = at_or_below.groupby(keys)["time_days"].min()
    step = grouped["time_days"].diff().fillna(0.0)
    for column, source in (
        ("rmst_days", "survival"),
        ("rmst_ci_low", "ci_low"),
        ("rmst_ci_high", "ci_high"),
    ):
        mean_height = (points[source] + grouped[source].shift(1).fillna(1.0)) / 2
        shape[column] = (step * mean_height).groupby([points[k] for k in keys]).sum()
    shape["rmst_se"] = np.nan  # no standard error can be read off a coarse curve
    shape["horizon_beyond_followup"] = False  # the horizon is a published day
    shape = shape.reset_index()
    found = table[keys].astype({c: object for c in cols}).merge(shape, on=keys, how="left")
    values = found[shape_columns].to_numpy(dtype=object)
    values[found["horizon_days"].isna().to_numpy()] = HIDDEN
    out = table.copy()
    out[shape_columns] = out[shape_columns].astype(object)
    out.loc[:, shape_columns] = values
    return out


def _sensitivity_off_curves(table: pd.DataFrame, curve: pd.DataFrame, cols) -> pd.DataFrame:
    """``recovery_sensitivity``'s Kaplan–Meier rows: the published curve's value under
    the run's convention (:func:`_headline_off_curves`); the other convention's curve
    is not published, so its value and the difference are hidden."""
    rows = table["metric"].isin(list(_HEADLINE_CURVES)).to_numpy()
    if not rows.any():
        return table
    out = table.copy()
    columns = ["estimate_positive", "estimate_ignore", "difference"]
    out[columns] = out[columns].astype(object)
    convention = curve.attrs.get("missing_as", "positive")
    as_headline = table.loc[rows, [*cols, "metric", "horizon_days"]].assign(
        estimate=table.loc[rows, f"estimate_{convention}"],
        ci_low=np.nan,
        ci_high=np.nan,
    )
    read = _headline_off_curves(as_headline, curve, cols)["estimate"].to_numpy(dtype=object)
    out.loc[rows, columns] = HIDDEN
    out.loc[rows, f"estimate_{convention}"] = read
    return out


#: Tables with values that are points of the published survival curves.
_CURVE_POINTS = {
    "recovery_headline": _headline_off_curves,
    "recovery_sensitivity": _sensitivity_off_curves,
    "survival_summary": _summary_off_curves,
}


def _group_labels(run, groupings: dict) -> pd.DataFrame:
    """Per case of the run (by ``case_id``), its label under each grouping."""
    from .grouping import group_key
    from .keys import positions, take

    index = run.exits["case_id"]
    out = pd.DataFrame(index=pd.Index(index, name="case_id"))
    for name, (frame, cols) in groupings.items():
        if cols:
            labels = group_key(frame, cols).to_numpy(dtype=object)
        else:
            labels = np.full(len(frame), OVERALL, dtype=object)
        where = positions(index, frame["case_id"])  # -1: a case without a group, NaN
        out[name] = take(pd.Series(labels, dtype=object), where).to_numpy()
    return out


def _atoms(labels: pd.DataFrame, indicators: pd.DataFrame):
    """Cases with the same labels and indicators, merged: the first case of each
    atom and its size, atoms in lexicographic order of (label codes, indicators).

    The same as ``np.unique(codes, axis=0, return_index=True, return_counts=True)``
    on the stacked codes, which sorts a million rows of tuples (30 s); here the
    columns are folded, one at a time, into one integer code per case by
    factorizing, and only the atoms are sorted.
    """
    labelled = [pd.factorize(labels[c])[0] for c in labels.columns]

    def columns():  # one at a time: a national cohort has a hundred indicators
        yield from labelled
        for c in indicators.columns:
            yield indicators[c].to_numpy(dtype=np.int64)

    if not len(labels) or not (len(labelled) or indicators.shape[1]):
        return np.zeros(min(len(labels), 1), dtype=np.int64), np.full(
            min(len(labels), 1), len(labels), dtype=np.int64
        )
    atom = np.zeros(len(labels), dtype=np.int64)
    for column in columns():  # codes below the number of cases: the product fits
        low, high = int(column.min()), int(column.max())  # Python ints: no overflow
        code = column - low if high - low < len(column) else pd.factorize(column)[0]
        atom = pd.factorize(atom * (int(code.max()) + 1) + code)[0]
    n_atoms = int(atom.max()) + 1
    first = np.full(n_atoms, len(atom), dtype=np.int64)
    np.minimum.at(first, atom, np.arange(len(atom)))
    sizes = np.bincount(atom, minlength=n_atoms)
    del atom
    keys = [column[first] for column in columns()]  # the atoms' own codes: small
    order = np.lexsort(keys[::-1])
    return first[order], sizes[order]


def _coefficients(cells, labels, indicators, first):
    """Sparse terms: for every cell (``row``, its position in ``cells``), each atom it
    counts (``atom``) and how many times (``coef``)."""
    atom_labels = labels.iloc[first].reset_index(drop=True)
    atom_values = indicators.iloc[first].reset_index(drop=True)
    cells = cells.assign(row=np.arange(len(cells)))
    parts = []
    for key, group in cells.groupby("key", sort=False):  # one pass per indicator key
        values = atom_values[key].to_numpy()
        atoms = np.flatnonzero(values)
        if not len(atoms):
            continue
        for grouping, rows in group.groupby("grouping", sort=False):
            if grouping == "*":
                pairs = pd.DataFrame(
                    {
                        "row": np.repeat(rows["row"].to_numpy(), len(atoms)),
                        "atom": np.tile(atoms, len(rows)),
                    }
                )
            else:
                found = pd.DataFrame(
                    {"atom": atoms, "label": atom_labels[grouping].to_numpy()[atoms]}
                )
                pairs = rows[["row", "label"]].merge(found, on="label")[["row", "atom"]]
            parts.append(pairs.assign(coef=values[pairs["atom"].to_numpy()]))
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({"row": [], "atom": [], "coef": []}, dtype="int64")
    )


def _terms_matrix(terms: pd.DataFrame, n_cells: int, n_atoms: int):
    """The cells x atoms matrix of ``terms`` (see :func:`_coefficients`), in CSR form
    with sorted indices."""
    from scipy import sparse

    matrix = sparse.csr_array(
        (
            terms["coef"].to_numpy(dtype=float),
            (terms["row"].to_numpy(dtype=np.int64), terms["atom"].to_numpy(dtype=np.int64)),
        ),
        shape=(n_cells, n_atoms),
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


#: Entries hashed at a time (the hashes of all 20 million at once take gigabytes).
_HASH_BLOCK = 1 << 20


def _row_hashes(matrix, salt: int) -> np.ndarray:
    """A 64-bit hash of each row's (atom, coefficient) terms, summed over the row so
    that it does not depend on their order; hashed a block of rows at a time."""
    indptr = matrix.indptr
    n = len(indptr) - 1
    out = np.zeros(n, dtype=np.uint64)
    cuts = np.unique(np.r_[np.searchsorted(indptr, np.arange(0, indptr[-1], _HASH_BLOCK)), n])
    for r0, r1 in zip(np.r_[0, cuts[:-1]], cuts, strict=True):
        e0, e1 = indptr[r0], indptr[r1]
        atoms = matrix.indices[e0:e1].astype(np.uint64)
        coefs = matrix.data[e0:e1].astype(np.int64).astype(np.uint64)
        with np.errstate(over="ignore"):
            term = _mix(atoms * np.uint64(salt) + _mix(coefs + np.uint64(salt)))
        filled = np.flatnonzero(np.diff(indptr[r0 : r1 + 1]) > 0)
        if len(filled):
            with np.errstate(over="ignore"):
                out[r0 + filled] = np.add.reduceat(term, indptr[r0 + filled] - e0)
    return out


def _same_cases(matrix, unique: pd.DataFrame) -> pd.Series:
    """For each cell of ``unique`` (its index), the first cell counting exactly the
    same atoms the same number of times; a cell that is not a count, itself.
    ``matrix`` holds the cells' terms by position (:func:`_terms_matrix`).

    Rows are grouped by two 64-bit hashes of their terms, then checked term by
    term against the first of their group.
    """
    n = len(unique)
    sizes = np.diff(matrix.indptr)
    hashes = [_row_hashes(matrix, salt) for salt in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F)]
    own = np.where(unique["kind"].to_numpy() == "count", -1, np.arange(n))
    group = pd.DataFrame({"own": own, "size": sizes, "h1": hashes[0], "h2": hashes[1]})
    group = group.groupby(list(group.columns), sort=False).ngroup().to_numpy()
    _, first = np.unique(group, return_index=True)
    same = first[group]
    moved = np.flatnonzero(same != np.arange(n))
    mine = _row_entries(matrix.indptr, moved)
    theirs = _row_entries(matrix.indptr, same[moved])
    if not (
        np.array_equal(matrix.indices[mine], matrix.indices[theirs])
        and np.array_equal(matrix.data[mine], matrix.data[theirs])
    ):
        raise CaseworkError("Internal error: two different counts hashed alike; nothing published.")
    return pd.Series(unique.index[same], index=unique.index)


def _row_entries(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in a CSR matrix's ``indices``/``data`` of the entries of ``rows``,
    row after row (rows of the same length align entry for entry)."""
    lengths = indptr[rows + 1] - indptr[rows]
    ramp = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(indptr[rows], lengths) + ramp


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads every bit of ``x`` (uint64) over the result."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def publish(
    run: Summary,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    names: list[str] | None = None,
    extra: dict | None = None,
    groupings: dict | None = None,
    margin: int = 2,
) -> Publication:
    """The publishable version of a run: see the module docstring.

    Parameters
    ----------
    run : Summary
        The run, grouped by folded groups (small groups already in ``Other``).
    threshold : int
        Counts 1 to ``threshold - 1`` are hidden (default 11; at least 3).
    names : list of str, optional
        The run's tables to publish (default all of them; an empty list for
        none, to publish ``extra`` alone).
    extra : dict, optional
        More outputs published together with the run's tables:
        ``{name: (rule, table)}`` (the dashboard's cards and tables).
    groupings : dict, optional
        Groupings named by the rules of ``extra`` besides ``"by"``:
        ``{name: (frame of case_id and group columns, group columns)}``.
    margin : int
        A hidden count may not be confined to ±``margin`` (default 2).

    Returns
    -------
    Publication
    """
    threshold = check_threshold(threshold)
    all_groupings = {"by": (run.groups, run.cols), **(groupings or {})}
    raw = {} if names is not None and not len(names) else dict(run.tables(names))
    withheld: set[str] = set()
    sparse_tables: set[str] = set()
    curves_by_group = bool(run.cols)
    # Where nothing left to hide can protect a count, withdraw in steps: first the
    # per-group curves (their rounded numbers at risk bind many small counts; the
    # whole-cohort curves stay), then the tables holding the count, then every
    # curve, then whatever else remains.
    for _ in range(len(raw) + len(extra or {}) + 3):  # each step withdraws more
        tables, rules = _collect(
            run, raw, extra, threshold, curves_by_group, all_groupings, withheld
        )
        for name in withheld:
            rules.pop(name, None)
        problem = _problem(run, tables, rules, all_groupings, threshold)
        if problem is None:  # every table holding counts is withheld: nothing to audit
            result = None
            break
        cells, unique = problem["cells"], problem["unique"]
        mostly_small = _mostly_small(cells, threshold) - withheld
        if mostly_small:  # hiding most of a table would hide much else too
            sparse_tables |= mostly_small
            withheld |= mostly_small
            continue
        result = protect_counts(
            problem["A"],
            unique["value"].to_numpy(dtype=float),
            unique["kind"].to_numpy(),
            unique["shown"].to_numpy(dtype=float),
            threshold=threshold,
            margin=margin,
            spare=unique["grouping"].to_numpy() == "*",
            known=unique["known"].eq(True).to_numpy(),
            sizes=problem["sizes"],
            levels=problem["levels"],
        )
        if not len(result.stuck):
            break
        stuck = unique.index[result.stuck]
        curve_tables = {n for n, r in rules.items() if r.curve}
        hit = set(cells.loc[cells["cell"].isin(stuck), "table"]) - curve_tables
        if curves_by_group:
            curves_by_group = False
        elif hit:
            withheld |= hit
        elif curve_tables:
            withheld |= curve_tables
        else:
            withheld |= set(rules)
    hidden = set(unique.index[result.hidden]) if result is not None else set()
    group_hidden = bool(
        len(hidden) and cells.loc[cells["cell"].isin(hidden), "grouping"].eq("by").any()
    )
    out: dict[str, pd.DataFrame | str] = {}
    for name, table in tables.items():
        if name in sparse_tables:
            out[name] = WITHHELD_REASONS["sparse"]
        elif name in withheld:
            out[name] = WITHHELD_REASONS["unprotectable"]
        elif name in rules and result is None:  # no count cell in it
            out[name] = _without_pool_totals(table, rules[name])
        elif name in rules:
            rule = rules[name]
            cols = [] if rule.grouping == "none" else all_groupings[rule.grouping][1]
            applied = _apply(table, rule, cells[cells["table"] == name], hidden, cols)
            if rule.across_groups and group_hidden:
                present = [c for c in rule.across_groups if c in applied]
                applied[present] = applied[present].astype(object)
                applied.loc[:, present] = HIDDEN
            out[name] = _without_pool_totals(applied, rule)
            if rule.curve and not len(out[name]):
                out[name] = WITHHELD_REASONS["no_curve"]
            elif _all_hidden(cells[cells["table"] == name], hidden):
                out[name] = WITHHELD_REASONS["all_hidden"]
        else:
            out[name] = table
    if result is None:
        audited = pd.DataFrame(columns=["cell", "kind", "value", "status"])
        return Publication(out, audited, threshold, 0)
    audited = unique.reset_index()[["cell", "kind", "value"]]
    audited["status"] = result.status
    audited = audited[audited["kind"] != FLOOR].reset_index(drop=True)
    return Publication(out, audited, threshold, result.rounds)


#: Why a table is withheld, by code (the dashboard words each in its language).
WITHHELD_REASONS = {
    "sparse": (
        "withheld: most of its counts are below the threshold at this level; "
        "publish it for larger groups, or use it internally"
    ),
    "unprotectable": "withheld: no suppression could protect its small counts",
    "per_client": "per-client table, withheld from publication",
    "all_hidden": "withheld: every count in it would be hidden at this level",
    "no_curve": "withheld: no curve can be published at this size without a small count",
}


def _all_hidden(cells: pd.DataFrame, hidden: set) -> bool:
    """Whether a table has counts other than 0 and every one of them is hidden
    (writing it would publish only stars)."""
    counts = cells[(cells["kind"] == "count") & (cells["value"] != 0)]
    return bool(len(counts)) and bool(counts["cell"].isin(hidden).all())


#: A table whose count cells are more often small than not is not published.
MOSTLY_SMALL = 0.5


def _mostly_small(cells: pd.DataFrame, threshold: int) -> set[str]:
    """Tables more than :data:`MOSTLY_SMALL` of whose counts are 1 to threshold - 1."""
    counts = cells[cells["kind"] == "count"]
    small = (counts["value"] >= 1) & (counts["value"] < threshold)
    share = small.groupby(counts["table"]).mean()
    return set(share[share > MOSTLY_SMALL].index)


def _collect(run, raw, extra, threshold, curves_by_group, groupings, withheld=frozenset()):
    """The candidate tables and their rules: per-case tables withheld, curves coarse."""
    tables: dict[str, pd.DataFrame | str] = {}
    rules: dict[str, Rule] = {}
    cols = run.cols
    for name, table in raw.items():
        rule = RULES[name]
        if isinstance(table, str):
            tables[name] = table
        elif rule.per_case:
            tables[name] = WITHHELD_REASONS["per_client"]
        else:
            if rule.curve and cols and not curves_by_group:
                table = table[(table[cols] == OVERALL).all(axis=1)]
            if name == "survival":
                table = _coarsen_survival(table, cols, threshold, curves_by_group)
            elif name == "cumulative_incidence":
                table = _coarsen_cumulative_incidence(run, table, cols, threshold, curves_by_group)
            tables[name], rules[name] = _whole_only(table, rule, cols), rule
    pointed = [n for n in _CURVE_POINTS if isinstance(tables.get(n), pd.DataFrame)]
    if pointed:
        curve = tables.get("survival")
        if not isinstance(curve, pd.DataFrame):  # not asked for: made, never written
            curve = _coarsen_survival(run.table("survival"), cols, threshold, curves_by_group)
        if "survival" in withheld:
            curve = curve.iloc[0:0]
        curve = curve.copy()  # the published table itself stays as it is
        curve.attrs["missing_as"] = run.definition.missing_as
        for name in pointed:
            tables[name] = _CURVE_POINTS[name](tables[name], curve, cols)
    for name, (rule, table) in (extra or {}).items():
        table = table.reset_index(drop=True)
        if rule.pool_total and len(table):
            table = _with_pool_totals(table, rule, groupings[rule.grouping][1])
        tables[name], rules[name] = table, rule
    return tables, rules


#: Marks the whole-cohort rows added to a pooled table for the audit.
POOL_TOTAL = "_pool_total"


def _with_pool_totals(table: pd.DataFrame, rule: Rule, cols: list[str]) -> pd.DataFrame:
    """``table`` and, per pool, a whole-cohort row of its summed counts (audited,
    never written): the pool's target and limits reveal those totals."""
    keys = [c for c in rule.pooled_by if c in table]
    counts = [c for c in rule.counts if c in table]
    pools = [table[k] for k in keys]
    totals = table.groupby(pools, sort=False).first().reset_index()  # the pool's settings
    numeric = table[counts].apply(pd.to_numeric, errors="coerce")
    totals[counts] = numeric.groupby(pools, sort=False).sum().to_numpy()
    totals = totals.assign(**{c: OVERALL for c in cols}, **{POOL_TOTAL: True})
    return pd.concat([table.assign(**{POOL_TOTAL: False}), totals], ignore_index=True)


def _without_pool_totals(table: pd.DataFrame, rule: Rule) -> pd.DataFrame:
    """The pooled table as written: a pool whose total had to be hidden is hidden
    whole; the audit's total rows are dropped."""
    if POOL_TOTAL not in table:
        return table
    total = table[POOL_TOTAL].to_numpy(dtype=bool)
    keys = [c for c in rule.pooled_by if c in table]
    counts = [c for c in rule.counts if c in table]
    hidden = (table[counts].astype(object) == HIDDEN).any(axis=1).to_numpy() & total
    lost = (
        pd.Series(hidden).groupby([table[k].to_numpy() for k in keys]).transform("any")
        if keys
        else pd.Series(np.full(len(table), hidden.any()))
    ).to_numpy(dtype=bool)
    out = table.copy()
    columns = [c for c in rule.pool_total if c in out]
    out[columns] = out[columns].astype(object)
    out.loc[lost, columns] = HIDDEN
    return out.loc[~total].drop(columns=POOL_TOTAL).reset_index(drop=True)


def _problem(run, tables, rules, all_groupings, threshold) -> dict | None:
    """Cells of the published tables, their true values (checked), atoms and the matrix
    (``None`` when no table left holds a count cell)."""
    from scipy import sparse

    cells = []
    for name, rule in rules.items():
        cols = [] if rule.grouping == "none" else all_groupings[rule.grouping][1]
        found = _cell_rows(name, tables[name], rule, cols)
        if len(found):
            cells.append(found.assign(kind="rounded" if rule.curve else "count"))
    if not cells:
        return None
    cells = pd.concat(cells, ignore_index=True)
    cells = pd.concat([cells, _curve_sizes(cells, tables)], ignore_index=True)
    complements = pd.concat(
        [_complement_rows(n, tables[n], r, cells) for n, r in rules.items()], ignore_index=True
    )
    if len(complements):
        cells = pd.concat([cells, complements.assign(kind="complement")], ignore_index=True)
    cells["cell"] = cells["grouping"] + "|" + cells["label"].astype(str) + "|" + cells["key"]

    indicators = case_indicators(run, cells["key"].unique())
    labels = _group_labels(
        run, {g: all_groupings[g] for g in cells["grouping"].unique() if g != "*"}
    )
    # The true value of every cell, and the check that the tables show exactly it.
    values = {}
    for grouping, rows in cells.groupby("grouping", sort=False):
        keys = rows["key"].unique()
        if grouping == "*":
            sums = indicators[keys].sum()
            values.update({f"*|{OVERALL}|{k}": sums[k] for k in keys})
        else:  # per group label (cases without one left out), one key at a time
            code, groups = pd.factorize(labels[grouping].to_numpy())
            has = code >= 0
            code = code[has]
            for k in keys:
                weights = indicators[k].to_numpy()[has]
                sums = np.bincount(code, weights=weights, minlength=len(groups)).astype(np.int64)
                named = zip(groups, sums, strict=True)
                values.update({f"{grouping}|{g}|{k}": int(v) for g, v in named})
    cells["value"] = cells["cell"].map(values).fillna(0).astype("int64")
    shown = cells[cells["kind"] != "complement"]
    off = np.where(shown["kind"] == "rounded", 2, 0)
    wrong = (shown["shown"] - shown["value"]).abs() > off
    if wrong.any():
        bad = shown[wrong].iloc[0]
        raise CaseworkError(
            f"Internal error: {bad['table']}.{bad['column']} row {bad['position']} shows "
            f"{bad['shown']}, but its cases count {bad['value']} ({bad['cell']}); nothing "
            "was published."
        )

    # A count known exactly through a curve is known whatever table shows it.
    known = set(cells.loc[cells["kind"] == KNOWN, "cell"])
    cells["kind"] = cells["kind"].replace(KNOWN, "count")
    unique = cells.drop_duplicates("cell").set_index("cell")
    unique["known"] = unique.index.isin(known)
    first, sizes = _atoms(labels, indicators)
    terms = _coefficients(unique.reset_index(), labels, indicators, first)
    # Counts of exactly the same cases are one number, whatever they are called
    # (all cases reached the first stage): hidden together or not at all.
    matrix = _terms_matrix(terms, len(unique), len(sizes))
    del terms
    canonical = _same_cases(matrix, unique)
    cells["cell"] = cells["cell"].map(canonical)
    unique["known"] = unique["known"].groupby(canonical.to_numpy()).transform("any")
    kept = canonical.index == canonical.to_numpy()
    unique = unique[kept]
    A = sparse.csr_array(matrix[np.flatnonzero(kept)])
    del matrix
    A, unique = _nested_complements(A, unique, threshold)
    A, unique = _group_floors(run, A, unique, labels, first, threshold)
    levels = atom_levels(labels.iloc[first].reset_index(drop=True))
    return {"cells": cells, "unique": unique, "A": A, "sizes": sizes, "levels": levels}


FLOOR = "floor"
KNOWN = "known"

#: The curve tables, and the count that is each curve's size at day 0.
_CURVE_SIZE = {
    "survival": lambda key: "has_time|" + key.split("|")[1],
    "cumulative_incidence": lambda key: "case",
}


def _curve_sizes(cells: pd.DataFrame, tables: dict) -> pd.DataFrame:
    """The number of cases each published curve starts from, a survival curve's
    events up to each published day, and a cumulative-incidence curve's exits of
    each cause up to each published day, as cells the attacker knows exactly.

    A curve's first point gives it away: at day 0 the estimate is ``1 - d/n``
    and its Greenwood variance ``d / (n (n - d))``, two equations in ``n`` and
    ``d``; even the estimate alone, to three decimals, leaves few values of
    ``n`` within the ±2 of a rounded number at risk. So the audit treats it
    as published, with the numbers at risk (see :func:`protect_counts`).
    Later points give the events up to their day nearly as well; for a
    cumulative incidence that is only true early on, but the audit assumes
    it everywhere, which can only hide more.
    """
    curves = cells[(cells["kind"] == "rounded") & cells["table"].isin(list(_CURVE_SIZE))]
    if not len(curves):
        return cells.iloc[0:0]
    keys = [_CURVE_SIZE[t](k) for t, k in zip(curves["table"], curves["key"], strict=True)]
    sizes = curves.assign(key=keys, column="n", position=-1, shown=np.nan, kind=KNOWN)
    # The events up to each published day: the ratio of two points, with the numbers
    # at risk known, gives them (nearly) exactly.
    survival = curves[curves["table"] == "survival"]
    events = survival.assign(
        key=survival["key"].str.replace("at_risk|", "event_by|", regex=False),
        column="events",
        position=-1,
        shown=np.nan,
        kind=KNOWN,
    )
    incidence = curves[curves["table"] == "cumulative_incidence"]
    if len(incidence):
        causes = tables["cumulative_incidence"]["cause"].to_numpy(dtype=object)
        day = incidence["key"].str.partition("|")[2]
        exits = incidence.assign(
            key="exit_by|" + causes[incidence["position"].to_numpy()] + "|" + day,
            column="exits",
            position=-1,
            shown=np.nan,
            kind=KNOWN,
        )
    else:
        exits = incidence
    return pd.concat([sizes, events, exits], ignore_index=True).drop_duplicates(
        ["grouping", "label", "key"]
    )


def _group_floors(run, A, unique: pd.DataFrame, labels: pd.DataFrame, first, threshold: int):
    """Add what the folding rule tells the attacker: a group shown under its
    own name (or an ``Other`` formed by folding) has at least ``threshold``
    clients, so at least ``threshold`` cases.

    Each such group becomes a row of kind ``"floor"``: the sum of its atoms,
    bounded below by ``threshold``. Only groups that really have that many
    clients get one (a run grouped without folding tells the attacker less,
    and a floor that is not true would make the audit unsound).
    """
    from scipy import sparse

    if not len(labels.columns):
        return A, unique
    client = run.cohort.cases.set_index("case_id")["client_id"].reindex(labels.index).to_numpy()
    atom_labels = labels.iloc[first].reset_index(drop=True)
    rows, names, values, groupings = [], [], [], []
    for grouping in labels.columns:
        per_case = pd.Series(labels[grouping].to_numpy(), index=labels.index)
        clients = pd.Series(client).groupby(per_case.to_numpy()).nunique()
        cases = per_case.value_counts()
        atoms_of = (
            pd.Series(np.arange(len(atom_labels)))
            .groupby(atom_labels[grouping].to_numpy(), sort=False)
            .indices
        )
        for label in clients.index[clients >= threshold]:
            rows.append(atoms_of[label])
            names.append(f"{grouping}|{label}|{FLOOR}")
            values.append(int(cases[label]))
            groupings.append(grouping)
    if not rows:
        return A, unique
    indices = np.concatenate(rows)
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    floors = sparse.csr_array(
        (np.ones(len(indices)), indices, indptr), shape=(len(rows), A.shape[1])
    )
    extra = pd.DataFrame(
        {"grouping": groupings, "kind": FLOOR, "value": np.array(values, dtype="int64")},
        index=pd.Index(names, name=unique.index.name),
    )
    return sparse.vstack([A, floors]).tocsr(), pd.concat([unique, extra])


def _nested_complements(A, unique: pd.DataFrame, threshold: int):
    """Add, as audited complements, the small differences of nested counts.

    Two published counts whose cases are nested (sustained under one
    missing-visit convention within the other, a reason within its exit
    type, a group within the whole cohort) give by subtraction the count of
    the cases in one but not the other. Where that is 1 to ``threshold - 1``
    it is protected like any complement, whichever tables the two come from.
    """
    from scipy import sparse

    rows = np.flatnonzero(unique["kind"].to_numpy() == "count")
    if len(rows) < 2:
        return A, unique
    support = sparse.csr_array((A[rows] != 0).astype(float))
    atoms = np.asarray(support.sum(axis=1)).ravel()
    shared = (support @ support.T).tocoo()
    outer, inner = shared.row, shared.col
    nested = (outer != inner) & (shared.data >= atoms[inner]) & (atoms[inner] < atoms[outer])
    outer, inner = rows[outer[nested]], rows[inner[nested]]
    value = unique["value"].to_numpy(dtype=float)
    difference = value[outer] - value[inner]
    small = (difference >= 1) & (difference < threshold)
    outer, inner, difference = outer[small], inner[small], difference[small]
    names = unique.index[outer] + MINUS + unique.index[inner]
    new = ~names.isin(unique.index)
    if not new.any():
        return A, unique
    outer, inner, difference, names = outer[new], inner[new], difference[new], names[new]
    extra = pd.DataFrame(
        {
            "grouping": unique["grouping"].to_numpy()[outer],
            "kind": "complement",
            "value": difference.astype("int64"),
        },
        index=pd.Index(names, name=unique.index.name),
    )
    A = sparse.vstack([A, sparse.csr_array(A[outer] - A[inner])]).tocsr()
    return A, pd.concat([unique, extra])


def _apply(table: pd.DataFrame, rule: Rule, cells: pd.DataFrame, hidden: set, cols) -> pd.DataFrame:
    """``table`` with hidden counts and the derived values resting on them as ``*``."""
    out = table.astype({c: object for c in [*rule.counts, *rule.derived] if c in table})
    masks = {}
    for column in rule.counts:
        if column not in table:
            continue
        rows = cells[(cells["column"] == column) & cells["cell"].isin(hidden)]["position"]
        mask = np.zeros(len(table), dtype=bool)
        mask[rows.to_numpy(dtype=int)] = True
        masks[column] = mask
        out.loc[mask, column] = HIDDEN
    for column, sources in rule.derived.items():
        if column not in table:
            continue
        mask = np.zeros(len(table), dtype=bool)
        for source in sources:
            mask |= masks.get(source, np.zeros(len(table), dtype=bool))
        out.loc[mask, column] = HIDDEN
    # A value resting on the previous row's count (a conversion from the last stage).
    keys = [table[c].to_numpy() for c in cols] if cols else np.zeros(len(table))
    for column, source in rule.previous.items():
        if column in table and source in masks:
            earlier = pd.Series(masks[source]).groupby(keys).shift(1, fill_value=False)
            out.loc[earlier.to_numpy(dtype=bool), column] = HIDDEN
    if rule.pooled and masks:
        any_hidden = np.logical_or.reduce(list(masks.values()))
        pools = [table[c].to_numpy() for c in rule.pooled_by if c in table]
        pools = pools or [np.zeros(len(table))]
        touched = pd.Series(any_hidden).groupby(pools).transform("any").to_numpy(dtype=bool)
        for column, where in rule.pooled.items():
            if column not in table:
                continue
            rows = touched if where is None else touched & where(table).to_numpy(dtype=bool)
            out[column] = out[column].astype(object)
            out.loc[rows, column] = HIDDEN
    return out


@dataclass
class Protected:
    """The outcome of :func:`protect_counts`."""

    hidden: np.ndarray  # bool per cell: shown as hidden
    status: np.ndarray  # shown, primary, complementary, rounded, unpublished
    stuck: np.ndarray  # indices of cells still pinned (nothing left to hide)
    rounds: int


def protect_counts(
    A: sparse.sparray | sparse.spmatrix,
    value: np.ndarray,
    kind: np.ndarray,
    shown: np.ndarray,
    *,
    threshold: int,
    margin: int = 2,
    spare: np.ndarray | None = None,
    known: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
    levels: Sequence[np.ndarray] = (),
) -> Protected:
    """Hide counts until no hidden count, and no unpublished small count, can be pinned.

    Parameters
    ----------
    A : sparse matrix (cells × atoms)
        Each cell as a sum of atom sizes (cases with identical indicators).
    value : ndarray
        True value of each cell.
    kind : ndarray of str
        ``"count"`` (published exactly unless hidden), ``"rounded"``
        (published rounded: the attacker knows it to ±2), ``"complement"`` or
        ``"withheld"`` (never published), or ``"floor"`` (never published,
        but known to be at least ``threshold``: a group the folding rule
        shows under its own name).
    shown : ndarray
        The published value of rounded cells.
    threshold, margin : int
    spare : ndarray of bool, optional
        Counts to hide only when nothing else will do (the whole cohort's
        totals, which readers need most).
    known : ndarray of bool, optional
        Counts the attacker knows exactly whatever is hidden (the size of a
        published curve): never hidden, and exact in every bound.
    sizes, levels : optional
        The true atom sizes and partitions of the atoms, finest first
        (:func:`~casework_analytics.count_bounds.atom_levels`): with them,
        most counts are decided on small programmes (see
        :class:`~casework_analytics.count_bounds.CountBounds`); the answer
        is the same.

    Returns
    -------
    Protected

    Notes
    -----
    The attacker knows every shown count exactly, every ``known`` count and
    every rounded number at risk exactly too (a published curve's estimate
    and interval give the numbers at risk back, whatever their rounding),
    that every hidden published count is at least 1 (zeros are shown),
    that every ``floor`` row is at least ``threshold``, and that atom sizes
    are non-negative. The *targets* are every hidden count, whatever its
    size, and every unpublished count from 1 to ``threshold - 1``. For each,
    linear programming gives the smallest and largest value it can take
    (:class:`~casework_analytics.count_bounds.CountBounds`); bounds are
    rounded inward, as an attacker reasoning in whole numbers may. A target
    is *pinned* when that interval is ``2 * margin`` wide or narrower (the
    attacker can name a band of ±``margin`` that holds it).

    Primary suppression hides published counts from 1 to ``threshold - 1``.
    Then, round by round, the pinned small targets are dealt with, the
    smallest first, by hiding one more shown count for each (see
    :func:`_partner`: a sibling in one of its totals first, else a count
    sharing cases with it; larger than ``margin`` if there is one; the
    smallest such). Once no small target is pinned, the pinned hidden
    counts of ``threshold`` or more are dealt with: one that the published
    numbers determine exactly is shown again, since hiding it protects
    nothing (once only, so that the rounds cannot cycle); any other gets a
    partner the same way.

    Hiding only widens intervals, so a round re-solves only the pinned
    targets and the newly hidden counts. Showing a count can narrow others,
    so when the rounds settle every target is audited again, and the rounds
    resume from whatever that finds pinned. A target with nothing left to
    hide around it is returned in ``stuck``.
    """
    from scipy import sparse

    A = sparse.csr_array(A)
    n = len(value)
    known = np.zeros(len(value), dtype=bool) if known is None else np.asarray(known, bool)
    count = (kind == "count") & ~known
    small = (value >= 1) & (value < threshold)
    hidden = count & small
    primary = hidden.copy()
    audited_small = small & np.isin(kind, ["count", "complement", "withheld"])

    def targets(hidden):
        return np.flatnonzero(audited_small | hidden)

    widest = np.full(n, 2 * margin)  # the widest interval that still pins

    todo = targets(hidden)
    overlaps = _Overlaps(A)
    shown_again = np.zeros(n, dtype=bool)
    stuck: list[int] = []
    rounds = 0
    bounds = (
        CountBounds(
            A,
            value,
            kind,
            hidden,
            threshold=threshold,
            margin=margin,
            sizes=sizes,
            known=known,
            levels=levels,
        )
        if len(todo)
        else None
    )
    for _ in range(_MAX_AUDITS):
        while len(todo):
            rounds += 1
            # Small counts first; a large hidden count is dealt with once no small
            # one is pinned (protecting the small ones often frees it too), so it
            # waits unaudited till then.
            waiting = todo[~audited_small[todo]]
            todo = todo[audited_small[todo]]
            low, high = bounds(hidden, todo)
            pinned = todo[high - low <= widest[todo]]
            work = pinned
            known = np.array([], dtype=int)
            if not len(work):
                low, high = bounds(hidden, waiting)
                is_pinned = high - low <= widest[waiting]
                pinned, waiting = waiting[is_pinned], waiting[:0]
                if not len(pinned):
                    break
                determined = low[is_pinned] >= high[is_pinned]
                if not determined.all():  # a relaxation's range: is it exactly one value?
                    exact_low, exact_high = bounds.exact(hidden, pinned[~determined])
                    determined[~determined] = exact_low >= exact_high
                determined &= ~shown_again[pinned]
                known = pinned[determined]
                hidden[known] = False
                shown_again[known] = True
                work = pinned[~determined]
            blocked = np.zeros(n, dtype=bool)
            newly = []
            for target in work[np.argsort(value[work], kind="stable")]:
                if blocked[target]:
                    continue
                choice = _partner(target, overlaps, count, hidden, value, spare, margin)
                if choice is None:
                    stuck.append(int(target))
                    continue
                hidden[choice] = True
                newly.append(choice)
                blocked[overlaps.row(choice)[0]] = True
            carried = np.union1d(np.setdiff1d(pinned, known), waiting)
            todo = np.setdiff1d(np.union1d(carried, np.array(newly, dtype=int)), stuck)
            todo = todo.astype(int)
            todo = todo[hidden[todo] | audited_small[todo]]
            if not newly and not len(known):
                break
        if bounds is None:
            break
        # The final audit: every target, after everything shown and hidden.
        everyone = np.setdiff1d(targets(hidden), stuck)
        low, high = bounds(hidden, everyone)
        rounds += 1
        todo = everyone[high - low <= widest[everyone]]
        if not len(todo):
            break
    else:
        stuck.extend(int(t) for t in todo)
    status = np.where(
        kind == "rounded",
        "rounded",
        np.where(
            ~count,
            "unpublished",
            np.where(primary, "primary", np.where(hidden, "complementary", "shown")),
        ),
    )
    return Protected(hidden, status, np.array(sorted(set(stuck)), dtype=int), rounds)


#: Rounds of hiding followed by a full audit, before the remaining pinned
#: targets are given up as stuck (their tables are then withheld).
_MAX_AUDITS = 6


class _Overlaps:
    """Which cells share atoms with a cell, and how many: the rows of
    ``support @ support.T`` (``support`` the cells' atoms), worked out as they are
    asked for. A national audit asks for a few thousand of its 20,000 rows, and
    the whole product took 9 s.

    Parameters
    ----------
    A : sparse matrix (cells × atoms)
    """

    def __init__(self, A):
        from scipy import sparse

        pattern = sparse.csr_array(A != 0)
        self.size = np.diff(pattern.indptr)  # atoms of each cell
        self._atoms = pattern.indptr, pattern.indices
        by_atom = pattern.tocsc()
        self._cells = by_atom.indptr, by_atom.indices
        self._n_atoms = pattern.shape[1]
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._inside: dict[int, np.ndarray] = {}

    def row(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """The cells sharing an atom with ``cell`` (itself included), ascending, and
        how many atoms each shares with it."""
        if cell not in self._rows:
            indptr, indices = self._atoms
            atoms = indices[indptr[cell] : indptr[cell + 1]]
            indptr, indices = self._cells
            shared = np.bincount(indices[_row_entries(indptr, atoms)], minlength=len(self.size))
            found = np.flatnonzero(shared)
            self._rows[cell] = found, shared[found]
        return self._rows[cell]

    def inside(self, cell: int) -> np.ndarray:
        """The cells whose every atom is one of ``cell``'s (itself included; a cell
        without atoms is inside none)."""
        if cell not in self._inside:
            indptr, indices = self._atoms
            atoms = indices[indptr[cell] : indptr[cell + 1]]
            if 2 * len(atoms) <= self._n_atoms:
                found, shared = self.row(cell)
                self._inside[cell] = found[shared >= self.size[found]]
            else:  # a large total: cheaper to rule out the cells with an atom outside it
                outside = np.ones(self._n_atoms, dtype=bool)
                outside[atoms] = False
                indptr, indices = self._cells
                out = np.zeros(len(self.size), dtype=bool)
                out[indices[_row_entries(indptr, np.flatnonzero(outside))]] = True
                self._inside[cell] = np.flatnonzero(~out & (self.size > 0))
        return self._inside[cell]


def _partner(target, overlaps, count, hidden, value, spare, margin):
    """The shown count to hide next to protect ``target``, or None.

    Siblings come first: counts inside a shown total that also holds the
    target but sharing no case with it (the other categories of its
    breakdown, the other groups of its total), since hiding one lets the
    target move against it. Then counts overlapping the target. Among them,
    counts other than the ``spare`` ones, larger than ``margin``, smallest;
    of equally small ones, the first in the order of the cells.
    """
    overlapping, shared = overlaps.row(target)
    shown = count & ~hidden & (value > 0)
    size = overlaps.size
    parents = overlapping[(shared >= size[target]) & (overlapping != target)]
    siblings = np.array([], dtype=int)
    if len(parents):
        is_sibling = np.zeros(len(size), dtype=bool)
        for parent in parents:
            is_sibling[overlaps.inside(parent)] = True
        is_sibling[overlapping] = False
        siblings = np.flatnonzero(is_sibling)
    for pool in (siblings, overlapping):
        pool = pool[shown[pool]]
        if not len(pool):
            continue
        if spare is not None and (~spare[pool]).any():
            pool = pool[~spare[pool]]
        roomy = pool[value[pool] > margin]
        pool = roomy if len(roomy) else pool
        return int(pool[np.argmin(value[pool])])
    return None
