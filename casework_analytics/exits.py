"""Why cases end: exit analyses across groups.

The taxonomy, the free-text rules and :func:`~casework_analytics.closures.case_exits`
live in :mod:`casework_analytics.closures`; this module counts and compares
the exits they describe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .closures import EXIT_TYPES, case_exits, exit_taxonomy
from .errors import CaseworkError
from .grouping import (
    DateLike,
    GroupBy,
    as_as_of,
    attach_groups,
    case_groups,
    group_columns,
    group_key,
    with_overall,
)
from .intervals import wilson_interval
from .keys import positions, take
from .stages import furthest_stage

__all__ = [
    "exit_reasons",
    "stages_at_exit",
    "exit_stage",
    "exit_type_association",
    "exit_cumulative_incidence",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .summary import Summary


def exit_reasons(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    overall: bool = True,
    confidence: float = 0.95,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Counts and shares of exits by reason and by exit type, per group.

    Definition
    ----------
    Time origin: intake. End of observation: ``as_of``. A case has exited
    if its ``closed_date`` is on or before ``as_of``; open cases are not
    exits and are counted in ``n_open``. Denominator of ``share``: exits in
    the group (``n_exits``). Cases whose closure reason is missing or matches
    no rule count as ``unclassified`` (exit type ``unknown``) and stay in the
    denominator.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    overall : bool
        Follow the groups with the whole-cohort rows (``All``).
    confidence : float
        Coverage of the intervals (0.95).

    Returns
    -------
    DataFrame
        Group columns, then ``level`` (``"reason"`` or ``"type"``),
        ``category`` (reason code or exit type), ``label_en``, ``label_id``,
        ``exit_type``, ``teds_reason`` (reason rows only), ``n`` (exits in
        the category), ``n_exits``, ``n_open``, ``share`` = n / n_exits,
        ``ci_low``, ``ci_high`` (Wilson interval at ``confidence``). Every
        reason and every type appears in every group, with zeros.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose case exits and
        groups are reused.
    """
    exits = case_exits(cohort, as_of) if run is None else run.exits
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    frame = attach_groups(exits, groups, cols)
    taxonomy = exit_taxonomy()
    categories = pd.concat(
        [
            taxonomy.assign(level="reason", category=taxonomy["code"]),
            pd.DataFrame(
                {
                    "level": "type",
                    "category": [*EXIT_TYPES, "unknown"],
                    "label_en": [t.capitalize() for t in (*EXIT_TYPES, "unknown")],
                    "label_id": [
                        "Terencana",
                        "Tidak terencana",
                        "Administratif",
                        "Tidak diketahui",
                    ],
                    "exit_type": [*EXIT_TYPES, "unknown"],
                }
            ),
        ],
        ignore_index=True,
    )[["level", "category", "label_en", "label_id", "exit_type", "teds_reason"]]

    def summarise(data, keys):
        closed = data[data["closed"]]
        long = pd.concat(
            [
                closed.assign(level="reason", category=closed["exit_reason"]),
                closed.assign(level="type", category=closed["exit_type"]),
            ],
            ignore_index=True,
        )
        counts = long.groupby([*keys, "level", "category"], observed=True).size().rename("n")
        totals = data.groupby(keys).agg(n_exits=("closed", "sum"), n_cases=("closed", "size"))
        totals["n_open"] = totals["n_cases"] - totals["n_exits"]
        grid = totals.reset_index()[keys].merge(categories, how="cross")
        out = grid.merge(counts.reset_index(), on=[*keys, "level", "category"], how="left")
        out = out.merge(totals[["n_exits", "n_open"]].reset_index(), on=keys)
        out["n"] = out["n"].fillna(0).astype("int64")
        return out

    out = with_overall(frame, cols, summarise, overall)
    out["share"] = np.where(
        out["n_exits"] > 0, out["n"] / out["n_exits"].where(out["n_exits"] > 0), np.nan
    )
    out["ci_low"], out["ci_high"] = wilson_interval(out["n"], out["n_exits"], confidence)
    return out[
        [
            *cols,
            "level",
            "category",
            "label_en",
            "label_id",
            "exit_type",
            "teds_reason",
            "n",
            "n_exits",
            "n_open",
            "share",
            "ci_low",
            "ci_high",
        ]
    ]


def stages_at_exit(cohort: Cohort, as_of: DateLike, *, run: Summary | None = None) -> pd.DataFrame:
    """The furthest stage each closed case had started when it closed.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).

    Returns
    -------
    DataFrame
        One row per case closed on or before ``as_of``: ``case_id``,
        ``exit_reason``, ``exit_type``, ``stage_at_exit`` (furthest stage of
        the model started on or before the closure date; ``"(none)"`` if no
        stage was recorded) and ``stage_position`` (0 for none).

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort and ``as_of``, whose case exits are reused.
    """
    exits = case_exits(cohort, as_of) if run is None else run.exits
    closed = exits[exits["closed"].to_numpy(dtype=bool)].reset_index(drop=True)
    furthest = furthest_stage(cohort, closed.set_index("case_id")["closed_date"])
    where = positions(closed["case_id"], furthest["case_id"])
    return pd.DataFrame(
        {
            "case_id": closed["case_id"],
            "exit_reason": closed["exit_reason"],
            "exit_type": closed["exit_type"],
            "stage_at_exit": take(furthest["furthest_stage"], where).fillna("(none)"),
            "stage_position": take(furthest["furthest_position"], where).fillna(0).astype("int64"),
        }
    )


def exit_stage(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    overall: bool = True,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Reason × stage at exit, in long form, per group.

    Definition
    ----------
    Cases closed on or before ``as_of``. The stage at exit is the furthest
    stage of the model started on or before the closure date; ``"(none)"``
    if no stage was recorded.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    overall : bool
        Follow the groups with the whole-cohort rows (``All``).

    Returns
    -------
    DataFrame
        Group columns, ``exit_reason``, ``exit_type``, ``stage_at_exit``,
        ``stage_position`` (0 for none), ``n``. Only non-zero cells are listed.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose case exits and
        groups are reused.
    """
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    frame = attach_groups(stages_at_exit(cohort, as_of, run=run), groups, cols)

    def summarise(data, keys):
        return (
            data.groupby([*keys, "exit_reason", "exit_type", "stage_position", "stage_at_exit"])
            .size()
            .rename("n")
            .reset_index()
        )

    out = with_overall(frame, cols, summarise, overall)
    return out[[*cols, "exit_reason", "exit_type", "stage_at_exit", "stage_position", "n"]]


def exit_type_association(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy,
    *,
    n_resamples: int = 9999,
    seed: int = 0,
    min_expected: float = 5.0,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Test of association between group and exit type (planned / unplanned /
    administrative).

    Definition
    ----------
    Contingency table of groups × exit types over cases closed on or before
    ``as_of``; ``unknown`` (unclassified) exits are left out and counted in
    ``n_unknown``; all-zero rows and columns are dropped. Pearson's
    chi-square (no continuity correction) is used when every expected count
    is at least ``min_expected`` (default 5, Cochran's rule). Otherwise
    Fisher's exact test for a 2×2 table, or a Monte-Carlo test of the same
    chi-square statistic (``n_resamples`` tables with the observed margins,
    ``scipy.stats.chi2_contingency(method=MonteCarloMethod)``, seeded by
    ``seed``) for larger tables.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame
        The groups compared (required; see :mod:`casework_analytics.grouping`).
    n_resamples : int
        Tables drawn by the Monte-Carlo test (9999).
    seed : int
        Seed of the Monte-Carlo test.
    min_expected : float
        Smallest expected count for Pearson's chi-square (5).

    Returns
    -------
    DataFrame
        One row: ``by``, ``test`` (``"chi-square"``, ``"fisher-exact"``,
        ``"monte-carlo chi-square"`` or ``"not applicable"``), ``statistic``
        (chi-square, or the odds ratio for Fisher), ``df``, ``p_value``,
        ``n`` (exits in the table), ``n_groups``, ``n_unknown``,
        ``min_expected`` (smallest expected count).

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose case exits and
        groups are reused.
    """
    if not group_columns(by):
        raise CaseworkError("`by` is required: name the column(s) whose groups are compared.")
    exits = case_exits(cohort, as_of) if run is None else run.exits
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    frame = attach_groups(exits[exits["closed"]], groups, cols)
    unknown = int((frame["exit_type"] == "unknown").sum())
    known = frame[frame["exit_type"].isin(EXIT_TYPES)]
    key = group_key(known, cols)
    table = pd.crosstab(key, known["exit_type"]) if len(known) else pd.DataFrame()
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0] if len(table) else table
    row = {
        "by": ", ".join(cols),
        "test": "not applicable",
        "statistic": np.nan,
        "df": np.nan,
        "p_value": np.nan,
        "n": int(table.to_numpy().sum()) if len(table) else 0,
        "n_groups": int(table.shape[0]) if len(table) else 0,
        "n_unknown": unknown,
        "min_expected": np.nan,
    }
    if table.shape[0] >= 2 and table.shape[1] >= 2:
        observed = table.to_numpy()
        expected = stats.contingency.expected_freq(observed)
        row["min_expected"] = float(expected.min())
        if expected.min() >= min_expected:
            result = stats.chi2_contingency(observed, correction=False)
            row.update(
                test="chi-square", statistic=result.statistic, df=result.dof, p_value=result.pvalue
            )
        elif observed.shape == (2, 2):
            result = stats.fisher_exact(observed)
            row.update(test="fisher-exact", statistic=result.statistic, df=1, p_value=result.pvalue)
        else:
            method = stats.MonteCarloMethod(
                n_resamples=n_resamples, rng=np.random.default_rng(seed)
            )
            result = stats.chi2_contingency(observed, correction=False, method=method)
            row.update(
                test="monte-carlo chi-square",
                statistic=result.statistic,
                df=(observed.shape[0] - 1) * (observed.shape[1] - 1),
                p_value=result.pvalue,
            )
    return pd.DataFrame([row])


def exit_cumulative_incidence(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    overall: bool = True,
    run: Summary | None = None,
) -> pd.DataFrame:
    """Cumulative incidence of competing casework exits, by exit type.

    Definition
    ----------
    Time origin: intake; time = days to closure for cases closed on or
    before ``as_of``, else days to ``as_of`` (censored: open cases have not
    exited). Competing causes: the exit types planned (completion),
    unplanned (dropout and other unplanned endings) and administrative
    (transfer, placement ended, caseworker unavailable), plus unknown for
    unclassified reasons. Aalen–Johansen estimator: the share who had
    exited for each cause by day t, which 1 − Kaplan–Meier would overstate.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    overall : bool
        Follow the groups with the whole-cohort rows (``All``).

    Returns
    -------
    DataFrame
        Columns of :func:`casework_analytics.survival.cumulative_incidence`
        with ``cause`` = exit type.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose case exits and
        groups are reused.
    """
    from .survival import cumulative_incidence

    as_of = as_as_of(as_of)
    exits = case_exits(cohort, as_of) if run is None else run.exits
    end = exits["closed_date"].fillna(as_of)
    exits = exits.assign(
        time=(end - exits["intake_date"]).dt.days, cause=exits["exit_type"].where(exits["closed"])
    )
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    frame = attach_groups(exits, groups, cols)
    return cumulative_incidence(
        frame, duration="time", cause="cause", by=cols or None, overall=overall
    )
