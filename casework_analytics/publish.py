"""Publishing rules: what each summary table may show outside the team.

:func:`publish_tables` takes the named tables of
:mod:`casework_analytics.summary` and returns what may be published:

* per-client tables (stage_progress, contacts, recovery, weekly_status) are
  withheld;
* groups with fewer clients than the threshold were already folded into
  ``Other`` (see :func:`casework_analytics.privacy.fold_small_groups`);
* every count table is suppressed with
  :func:`casework_analytics.privacy.publish_long`: counts 1 to threshold − 1
  are hidden, with complementary suppression along each table's additive
  lines (parts and their total; each group and the ``All`` row), and every
  share, interval, rate or quantile computed from a hidden count is hidden;
* survival and cumulative-incidence curves are cut where fewer than
  threshold subjects remain at risk, and their per-time event and censoring
  counts are suppressed (the curve values are cumulative and kept).

Known limit: differencing between nested counts (cases reaching stage k
minus those reaching stage k + 1) is not protected.
"""

from __future__ import annotations

import pandas as pd

from .grouping import group_key
from .privacy import DEFAULT_THRESHOLD, HIDDEN, publish_long

PER_CLIENT = ("stage_progress", "contacts", "recovery", "weekly_status")
SHARE = ["share", "ci_low", "ci_high"]


def _exits_lines(table: pd.DataFrame, cols: list[str]) -> list:
    """Additive lines of the exits table: reasons and types against n_exits,
    reasons of one type against that type, duplicates of each group's totals."""
    from .closures import exit_taxonomy

    work = table.reset_index(drop=True)
    kind = exit_taxonomy().set_index("code")["exit_type"]
    group = group_key(work, cols, sep="|")
    lines = []
    for _, rows in work.groupby(group.to_numpy()).groups.items():
        block = work.loc[rows]
        first = rows[0]
        for total in ("n_exits", "n_open"):
            lines.append([(r, total) for r in rows])  # the same number repeated
        for level in ("reason", "type"):
            part = block.index[block["level"] == level]
            lines.append([(r, "n") for r in part] + [(first, "n_exits")])
        reasons = block[block["level"] == "reason"]
        types = block[block["level"] == "type"]
        for exit_type, type_rows in types.groupby("category").groups.items():
            members = reasons.index[reasons["category"].map(kind) == exit_type]
            lines.append([(r, "n") for r in members] + [(r, "n") for r in type_rows])
    return lines


def publish_tables(tables, by=None, *, threshold: int = DEFAULT_THRESHOLD):
    """Apply the publishing rules to ``(name, table)`` pairs.

    Yields ``(name, table_or_reason)``: withheld tables come with the reason.
    """
    from .grouping import group_columns

    cols = group_columns(by)
    for name, table in tables:
        if isinstance(table, str):
            yield name, table
        elif name in PER_CLIENT:
            yield name, "per-client table, withheld from publication"
        else:
            yield name, publish_table(name, table, cols, threshold=threshold)


def publish_table(
    name: str, table: pd.DataFrame, cols: list[str], *, threshold: int = DEFAULT_THRESHOLD
) -> pd.DataFrame:
    """The publishable version of one named summary table."""
    protect = lambda **kw: publish_long(table, group_cols=cols, threshold=threshold, **kw)  # noqa: E731
    if name == "stage_funnel":
        out = protect(
            counts=["n_cases", "reached", "completed", "in_stage"],
            derived={
                "share_reached": ["reached", "n_cases"],
                "share_ci_low": ["reached", "n_cases"],
                "share_ci_high": ["reached", "n_cases"],
                "conversion": ["reached"],
                "conversion_ci_low": ["reached"],
                "conversion_ci_high": ["reached"],
            },
        )
        # A conversion also rests on the previous stage's count.
        previous_hidden = (
            (out["reached"] == HIDDEN)
            .groupby([out[c] for c in cols] if cols else [0] * len(out))
            .shift(1, fill_value=False)
        )
        out.loc[
            previous_hidden.to_numpy(dtype=bool),
            ["conversion", "conversion_ci_low", "conversion_ci_high"],
        ] = HIDDEN
        return out
    if name == "exits":
        return protect(
            counts=["n", "n_exits", "n_open"],
            derived={c: ["n", "n_exits"] for c in SHARE},
            lines=_exits_lines(table, cols),
        )
    if name == "exit_stage":
        key = group_key(table, [*cols, "exit_reason"], sep="|")
        lines = [
            [(r, "n") for r in rows]
            for rows in key.reset_index(drop=True).groupby(key.to_numpy()).groups.values()
        ]
        return protect(counts=["n"], lines=lines)
    if name == "length_of_stay":
        lines = [[(r, "n_cases"), (r, "n_closed"), (r, "n_open")] for r in range(len(table))]
        quantiles = ["median_days", "q1_days", "q3_days", "mean_days"]
        return protect(
            counts=["n_cases", "n_closed", "n_open", "n_under_90_days"],
            derived={q: ["n_closed"] for q in quantiles},
            lines=lines,
        )
    if name == "association":
        rates = {"risk_high": ["n_high", "unplanned_high"], "risk_low": ["n_low", "unplanned_low"]}
        both = ["n_high", "unplanned_high", "n_low", "unplanned_low"]
        return protect(
            counts=both, derived={**rates, "risk_ratio": both, "ci_low": both, "ci_high": both}
        )
    if name in ("survival", "cumulative_incidence"):
        enough = table[table["at_risk"] >= threshold]
        per_time = [c for c in ("events", "censored") if c in enough]
        out = enough.astype({c: object for c in per_time})
        for c in per_time:
            small = (enough[c] >= 1) & (enough[c] < threshold)
            out.loc[small, c] = HIDDEN
        return out.reset_index(drop=True)
    if name == "survival_summary":
        derived = {
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
        }
        return protect(counts=["n", "events"], derived=derived)
    if name == "recovery_headline":
        return protect(
            counts=["numerator", "denominator"],
            derived={c: ["numerator", "denominator"] for c in ("estimate", "ci_low", "ci_high")},
        )
    if name == "recovery_sensitivity":
        return protect(
            counts=["denominator_positive", "denominator_ignore"],
            derived={
                c: ["denominator_positive", "denominator_ignore"]
                for c in ("estimate_positive", "estimate_ignore", "difference")
            },
        )
    if name in ("logrank", "exit_type_test"):
        return publish_long(
            table,
            counts=[c for c in ("n", "events", "n_unknown") if c in table],
            threshold=threshold,
        )
    raise ValueError(f"No publishing rule for table {name!r}.")
