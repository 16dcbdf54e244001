"""Program evaluation: fair comparisons of sites, placements and terms on the
cohort's own metrics.

This module puts the statistics of :mod:`casework_analytics.comparisons`
(funnel plots, indirect standardisation, Cox regression, trend tests) onto
the metrics evaluators report, with the definitions in force:

``planned_completion``
    Denominator: cases closed on or before ``as_of``. Outcome: the exit type
    is planned (:mod:`casework_analytics.closures`).
``retention``
    Denominator: cases admitted at least ``retention_days`` (90) before
    ``as_of``. Outcome: retained at that horizon
    (:func:`casework_analytics.recovery.recovery_headline`).
``sustained_abstinence``
    Denominator: monitored cases. Outcome: reached sustained abstinence.
``not_relapsed``
    Denominator: cases that reached sustained abstinence at least
    ``relapse_horizon_days`` (90) before ``as_of``. Outcome: no relapse within
    that many days of reaching it.

Time-to-event outcomes for the Cox model are those of
:func:`casework_analytics.timelines.recovery_outcomes` (``dropout``,
``first_positive``, ``sustained``, ``relapse``) and ``unplanned_exit``: days
from intake to an unplanned closure, censored at any other closure or at
``as_of``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .comparisons import (
    DEFAULT_COVARIATES,
    age_band,
    case_mix_model,
    cox_model,
    funnel_table,
    proportional_hazards_test,
    trend_table,
)
from .errors import CaseworkError
from .grouping import DateLike, GroupBy, as_as_of, case_groups
from .recovery import headline_flags
from .timelines import RECOVERY_EVENTS, RecoveryDefinition, resolve_definition

__all__ = [
    "METRICS",
    "MIN_LEVEL_CASES",
    "OUTCOMES",
    "case_metrics",
    "compare_groups",
    "outcome_times",
    "hazard_ratios",
    "term_trend",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .summary import Summary

METRICS = ("planned_completion", "retention", "sustained_abstinence", "not_relapsed")
#: Levels of a default covariate with fewer cases are pooled into one level.
MIN_LEVEL_CASES = 20
OUTCOMES = (*RECOVERY_EVENTS, "unplanned_exit")


def _run(cohort, as_of, definition, run):
    from .summary import Summary

    if run is not None:
        return run
    return Summary(cohort, as_of, definition=definition)


def case_metrics(
    cohort: Cohort,
    as_of: DateLike,
    *,
    definition: RecoveryDefinition | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """One row per case: each binary metric, missing outside its denominator.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    definition : RecoveryDefinition, optional
    run : Summary, optional
        A run of the same cohort, ``as_of`` and definition, to reuse.

    Returns
    -------
    DataFrame
        ``case_id``, then one nullable boolean column per metric of
        :data:`METRICS` (definitions in the module docstring), then the case
        and placement attributes (site, term, caseworker, sex, age_band,
        primary_substance, assist_risk, referral_source, ...) for grouping
        and case-mix adjustment.
    """
    run = _run(cohort, as_of, resolve_definition(definition), run)
    exits = run.exits
    closed = exits["closed"].to_numpy(dtype=bool)
    planned = (exits["exit_type"] == "planned").fillna(False).to_numpy(dtype=bool)
    out = pd.DataFrame({"case_id": exits["case_id"].to_numpy()})
    out["planned_completion"] = pd.array(np.where(closed, planned, None), dtype="boolean")
    try:
        flags = headline_flags(run.cohort, run.as_of, run.outcomes, run.definition)
    except CaseworkError:  # no visits table: the recovery metrics are missing
        flags = None
    if flags is not None:
        flags = flags.set_index("case_id").reindex(out["case_id"])
        for metric, denominator, numerator in (
            ("retention", "eligible", "retained"),
            ("sustained_abstinence", "monitored", "sustained"),
            ("not_relapsed", "relapse_eligible", "not_relapsed"),
        ):
            inside = flags[denominator].fillna(False).to_numpy(dtype=bool)
            value = flags[numerator].fillna(False).to_numpy(dtype=bool)
            out[metric] = pd.array(np.where(inside, value, None), dtype="boolean")
    else:
        for metric in METRICS[1:]:
            out[metric] = pd.array([pd.NA] * len(out), dtype="boolean")
    attributes = run.cohort.case_attributes().drop(columns=["placement_id"], errors="ignore")
    attributes = attributes.drop(columns=[c for c in attributes if c in out and c != "case_id"])
    out = out.merge(attributes, on="case_id", how="left")
    if "age_at_intake" in out:
        out["age_band"] = age_band(out["age_at_intake"])
    placement = run.cohort.case_attributes()[["case_id", "placement_id"]]
    return out.merge(placement, on="case_id", how="left")


def _pool_small_levels(frame: pd.DataFrame, covariates: list[str]) -> pd.DataFrame:
    """Count the levels held by fewer than :data:`MIN_LEVEL_CASES` cases with the most
    common level, relabelled ``"<level> + rare levels"``.

    A level of a handful of cases cannot be estimated (its outcome is often
    all 0 or all 1, so the model separates); pooled, its cases still count.
    """
    out = frame.copy()
    for column in covariates:
        values = out[column].astype("string")
        counts = values.value_counts()
        small = counts[counts < MIN_LEVEL_CASES].index
        if len(small) and len(small) < len(counts):
            common = counts.index[0]
            label = f"{common} + rare levels"
            out[column] = values.mask(values.isin([*small, common]), label)
    return out


def _varying(frame: pd.DataFrame, covariates: list[str]) -> list[str]:
    """The covariates that still take two or more values."""
    return [c for c in covariates if frame[c].nunique(dropna=True) > 1]


def _default_covariates(frame: pd.DataFrame) -> list[str]:
    return [c for c in DEFAULT_COVARIATES if c in frame and frame[c].notna().any()]


def _check_metrics(metrics) -> list[str]:
    chosen = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in chosen if m not in METRICS]
    if unknown or not chosen:
        raise CaseworkError(
            f"The value for `metrics` must be among {list(METRICS)}, but {unknown or chosen} was "
            "passed."
        )
    return chosen


def compare_groups(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy,
    *,
    metrics: Sequence[str] = METRICS,
    adjust: Sequence[str] | str | None = None,
    definition: RecoveryDefinition | None = None,
    overdispersion: str = "auto",
    run: Summary | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Funnel comparisons of groups on each metric, unadjusted and adjusted.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame
        The grouping (see :mod:`casework_analytics.grouping`), e.g.
        ``"site"`` or the folded labels of a published run.
    metrics : sequence of str
        Among :data:`METRICS` (all by default).
    adjust : list of str, "default" or None
        Case-mix covariates for indirect standardisation; ``"default"`` uses
        age band, sex, primary substance, ASSIST risk and referral source
        where present, with the levels held by fewer than
        :data:`MIN_LEVEL_CASES` cases counted with the most common level
        (a covariate left with one level is not used); ``None`` (default)
        compares unadjusted only.
    definition : RecoveryDefinition, optional
    overdispersion : {"auto", "none", "multiplicative", "additive"}
        See :func:`casework_analytics.comparisons.funnel_table`.
    run : Summary, optional
        A run to reuse.

    Returns
    -------
    funnel : DataFrame
        The columns of :func:`~casework_analytics.comparisons.funnel_table`
        for every metric, with ``adjusted`` (bool) and ``covariates`` (the
        model's terms joined by ``+``, empty when unadjusted); metrics
        without any case in their denominator are left out.
    models : DataFrame
        The case-mix model of each adjusted metric
        (:class:`~casework_analytics.comparisons.CaseMixModel` table) with a
        ``metric`` column; empty when unadjusted.

    Notes
    -----
    Denominators, time origin and end of observation are those of each
    metric (module docstring). Cases outside a metric's denominator are
    left out of its comparison; so are cases with a missing covariate in
    the adjusted one (counted in ``n_dropped`` of the model).
    """
    as_of = as_as_of(as_of)
    chosen = _check_metrics(metrics)
    frame = case_metrics(cohort, as_of, definition=definition, run=run)
    groups, cols = case_groups(cohort, by)
    if not cols:
        raise CaseworkError("`by` is required: name the column(s) whose groups are compared.")
    frame = frame.drop(columns=[c for c in cols if c in frame]).merge(groups, on="case_id")
    covariates = None if adjust is None else (None if adjust == "default" else list(adjust))
    tables, models = [], []
    for metric in chosen:  # four metrics at most
        data = frame[frame[metric].notna()].assign(
            **{metric: lambda d, m=metric: d[m].astype(bool)}
        )
        if data.empty:
            continue
        plain = funnel_table(
            data, outcome=metric, by=cols, metric=metric, overdispersion=overdispersion
        ).table
        tables.append(plain.assign(adjusted=False, covariates=""))
        if adjust is None:
            continue
        if covariates is None:  # the defaults: pool what cannot be estimated
            data = _pool_small_levels(data, _default_covariates(data))
            chosen_covariates = _varying(data, _default_covariates(data))
        else:
            chosen_covariates = covariates
        model = case_mix_model(data, outcome=metric, covariates=chosen_covariates)
        adjusted = funnel_table(
            data.assign(_expected=model.expected),
            outcome=metric,
            by=cols,
            expected="_expected",
            metric=metric,
            overdispersion=overdispersion,
        ).table
        terms = " + ".join(model.covariates)
        tables.append(adjusted.assign(adjusted=True, covariates=terms))
        models.append(model.table.assign(metric=metric))
    funnel = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    model_table = pd.concat(models, ignore_index=True) if models else pd.DataFrame()
    if len(model_table):
        model_table = model_table[["metric", *[c for c in model_table if c != "metric"]]]
    return funnel, model_table


def outcome_times(
    cohort: Cohort,
    as_of: DateLike,
    *,
    definition: RecoveryDefinition | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Per case, the time and event flag of every time-to-event outcome.

    Parameters
    ----------
    cohort, as_of, definition, run
        As in :func:`case_metrics`.

    Returns
    -------
    DataFrame
        ``case_id``, ``<outcome>_time`` and ``<outcome>_observed`` for each
        of :data:`OUTCOMES`, and the case and placement attributes.
    """
    run = _run(cohort, as_of, resolve_definition(definition), run)
    exits = run.exits
    end = exits["closed_date"].fillna(run.as_of)
    out = pd.DataFrame(
        {
            "case_id": exits["case_id"].to_numpy(),
            "unplanned_exit_time": (end - exits["intake_date"]).dt.days.to_numpy(),
            "unplanned_exit_observed": (
                exits["closed"] & (exits["exit_type"] == "unplanned").fillna(False)
            ).to_numpy(dtype=bool),
        }
    )
    try:
        events = run.outcomes[
            ["case_id", *[f"{e}_{k}" for e in RECOVERY_EVENTS for k in ("time", "observed")]]
        ]
        out = out.merge(events, on="case_id", how="left")
    except CaseworkError:
        pass
    return out.merge(case_metrics(cohort, as_of, run=run).drop(columns=list(METRICS)), on="case_id")


def hazard_ratios(
    cohort: Cohort,
    as_of: DateLike,
    *,
    outcome: str,
    by: GroupBy = None,
    covariates: Sequence[str] | str = "default",
    reference: str | Mapping[str, str] | None = None,
    definition: RecoveryDefinition | None = None,
    run: Summary | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A Cox model (Efron ties) of one outcome on case mix and group, and its PH check.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    outcome : str
        One of :data:`OUTCOMES` (definitions in the module docstring).
    by : str or DataFrame, optional
        A grouping entered as a categorical term.
    covariates : list of str or "default"
        Case covariates; ``"default"`` as in :func:`compare_groups`.
    reference : dict, optional
        Reference level per covariate (``{"site": "BNNK Medan"}``); default
        the most frequent level.
    definition : RecoveryDefinition, optional
    run : Summary, optional

    Returns
    -------
    model : DataFrame
        :func:`~casework_analytics.comparisons.cox_model`'s columns.
    check : DataFrame
        :func:`~casework_analytics.comparisons.proportional_hazards_test`'s
        columns (per term and ``GLOBAL``).
    """
    if outcome not in OUTCOMES:
        raise CaseworkError(
            f"The value for `outcome` must be one of {list(OUTCOMES)}, but {outcome!r} was passed."
        )
    frame = outcome_times(cohort, as_of, definition=definition, run=run)
    if f"{outcome}_time" not in frame:
        raise CaseworkError(
            f"The {outcome} outcome needs the visits table, which the source lacks."
        )
    group = None
    if by is not None:
        groups, cols = case_groups(cohort, by)
        if len(cols) != 1:
            raise CaseworkError("A Cox model takes one group column; give `by` as one column.")
        group = cols[0]
        frame = frame.drop(columns=[group], errors="ignore").merge(groups, on="case_id")
    if covariates == "default":
        frame = _pool_small_levels(frame, _default_covariates(frame))
        covariates = _varying(frame, _default_covariates(frame))
    data = frame[frame[f"{outcome}_time"].notna()].astype(
        {f"{outcome}_time": "float64", f"{outcome}_observed": "bool"}
    )
    arguments = {
        "duration": f"{outcome}_time",
        "event": f"{outcome}_observed",
        "covariates": list(covariates),
        "group": group,
        "reference": reference,
        "outcome": outcome,
    }
    model = cox_model(data, **arguments)
    check = proportional_hazards_test(data, **arguments)
    return model, check


def term_trend(
    cohort: Cohort,
    as_of: DateLike,
    metric: str,
    *,
    term: str = "term",
    definition: RecoveryDefinition | None = None,
    run: Summary | None = None,
) -> pd.DataFrame:
    """A metric by term with Wilson intervals and the Cochran–Armitage test for trend.

    Terms are scored 0, 1, 2, ... in sorted order (``2024-1`` < ``2024-2``).

    Parameters
    ----------
    cohort, as_of, definition, run
        As in :func:`case_metrics`.
    metric : str
        One of :data:`METRICS`.
    term : str
        The ordered column of cases or placements (``"term"``).

    Returns
    -------
    DataFrame
        ``metric`` and the columns of
        :func:`~casework_analytics.comparisons.trend_table`.
    """
    chosen = _check_metrics(metric)[0]
    frame = case_metrics(cohort, as_of, definition=definition, run=run)
    if term not in frame or frame[term].isna().all():
        raise CaseworkError(
            f"The trend needs a {term!r} column of placements; the source has none."
        )
    data = frame[frame[chosen].notna() & frame[term].notna()]
    data = data.assign(**{chosen: data[chosen].astype(bool), term: data[term].astype(str)})
    table = trend_table(data, outcome=chosen, term=term)
    table.insert(0, "metric", chosen)
    return table
