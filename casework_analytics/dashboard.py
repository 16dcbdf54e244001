"""Building blocks of the cohort dashboard: headline numbers and cards,
the per-placement table, the data-quality summary, and translated
section headings. The dashboard notebook calls these; the numbers come from
the analysis functions, never from the notebook."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from .closures import case_exits
from .grouping import as_as_of
from .intervals import wilson_interval
from .privacy import HIDDEN

SECTIONS = {
    "en": {
        "title": "Cohort dashboard",
        "headline": "Headline",
        "funnel": "How far cases get",
        "exits": "Why cases end",
        "curves": "Staying in monitoring and staying abstinent",
        "competing": "Competing exits over time",
        "heatmap": "Weekly monitoring",
        "placements": "Placements",
        "quality": "Data quality",
        "cases": "Cases",
        "placement_count": "Placements",
        "sites": "Sites",
        "completion": "Planned completion",
        "retention": "90-day retention",
        "not_relapsed": "Not relapsed (BNN)",
        "as_of": "Observed up to",
    },
    "id": {
        "title": "Dasbor kohort",
        "headline": "Ringkasan",
        "funnel": "Sejauh mana kasus berjalan",
        "exits": "Alasan penutupan kasus",
        "curves": "Bertahan dalam pemantauan dan tetap pulih",
        "competing": "Penutupan bersaing dari waktu ke waktu",
        "heatmap": "Pemantauan mingguan",
        "placements": "Penempatan PKL",
        "quality": "Kualitas data",
        "cases": "Kasus",
        "placement_count": "Penempatan",
        "sites": "Lokasi",
        "completion": "Selesai terencana",
        "retention": "Retensi 90 hari",
        "not_relapsed": "Tidak kambuh (BNN)",
        "as_of": "Diamati sampai",
    },
}


def section(key: str, lang: str = "en") -> str:
    """A translated section title."""
    return SECTIONS["id" if lang == "id" else "en"][key]


def headline_numbers(cohort, as_of, *, confidence: float = 0.95) -> pd.DataFrame:
    """The dashboard's headline numbers, one row each.

    Definition
    ----------
    ``cases``, ``placements``, ``sites``: counts with intake (cases) on or
    before ``as_of``. ``completion``: share of cases closed by ``as_of``
    whose exit type is planned (denominator: closed cases). ``retention``
    and ``not_relapsed``: as in
    :func:`casework_analytics.recovery.recovery_headline` (missing visits
    counted positive); missing without a visits table.

    Returns
    -------
    DataFrame
        ``metric, numerator, denominator, estimate, ci_low, ci_high``.
    """
    from .errors import MissingTableError
    from .recovery import recovery_headline

    as_of = as_as_of(as_of)
    exits = case_exits(cohort, as_of)
    attrs = cohort.case_attributes()
    attrs = attrs[attrs["case_id"].isin(exits["case_id"])]
    closed = int(exits["closed"].sum())
    planned = int((exits["exit_type"] == "planned").sum())
    low, high = wilson_interval([planned], [closed], confidence)
    rows = [
        ("cases", len(exits), np.nan, float(len(exits)), np.nan, np.nan),
        (
            "placements",
            attrs["placement_id"].nunique(),
            np.nan,
            float(attrs["placement_id"].nunique()),
            np.nan,
            np.nan,
        ),
        ("sites", attrs["site"].nunique(), np.nan, float(attrs["site"].nunique()), np.nan, np.nan),
        ("completion", planned, closed, planned / closed if closed else np.nan, low[0], high[0]),
    ]
    try:
        rec = recovery_headline(cohort, as_of).set_index("metric")
        for metric in ("retention", "not_relapsed"):
            r = rec.loc[metric]
            rows.append(
                (metric, r["numerator"], r["denominator"], r["estimate"], r["ci_low"], r["ci_high"])
            )
    except MissingTableError:
        rows += [(m, np.nan, np.nan, np.nan, np.nan, np.nan) for m in ("retention", "not_relapsed")]
    return pd.DataFrame(
        rows, columns=["metric", "numerator", "denominator", "estimate", "ci_low", "ci_high"]
    )


def format_share(estimate, low, high) -> str:
    """``"45% (38-52%)"``; ``"–"`` when missing. Formatting happens only here, at the edge."""
    if pd.isna(estimate):
        return "–"
    if pd.isna(low):
        return f"{estimate:.0%}"
    return f"{estimate:.0%} ({low:.0%}–{high:.0%})"


def headline_cards(numbers: pd.DataFrame, *, as_of, lang: str = "en") -> str:
    """The headline numbers as HTML cards (self-contained inline styles)."""
    names = {
        "cases": "cases",
        "placements": "placement_count",
        "sites": "sites",
        "completion": "completion",
        "retention": "retention",
        "not_relapsed": "not_relapsed",
    }
    cards = []
    for row in numbers.itertuples(index=False):  # six headline numbers
        if row.metric in ("cases", "placements", "sites"):
            value = f"{int(row.estimate):,}" if pd.notna(row.estimate) else "–"
            detail = ""
        else:
            value = format_share(row.estimate, row.ci_low, row.ci_high)
            detail = (
                f"{int(row.numerator):,} / {int(row.denominator):,}"
                if pd.notna(row.denominator)
                else ""
            )
        label = html.escape(section(names[row.metric], lang))
        cards.append(
            f'<div class="card" data-metric="{row.metric}">'
            f'<div class="value">{html.escape(value)}</div>'
            f'<div class="label">{label}</div>'
            f'<div class="detail">{html.escape(detail)}</div></div>'
        )
    style = (
        "<style>.cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #ccc;"
        "border-radius:6px;padding:10px 14px;min-width:150px}.card .value{font-size:1.5em;"
        "font-weight:bold}.card .label{color:#333}.card .detail{color:#777;font-size:.8em}"
        "</style>"
    )
    stamp = f"<p>{html.escape(section('as_of', lang))}: {as_as_of(as_of).date()}</p>"
    return style + stamp + '<div class="cards">' + "".join(cards) + "</div>"


def placement_table(cohort, as_of, by="placement_id") -> pd.DataFrame:
    """One row per placement: its cases, exits and contacts by ``as_of``.

    ``by`` may be the folded placement labels of
    :func:`casework_analytics.privacy.fold_small_groups`: placements folded
    into ``Other`` are then one row.

    Returns
    -------
    DataFrame
        ``placement_id, site, term`` (if present), ``caseworker_id,
        n_cases, n_closed, n_planned, completion`` (n_planned / n_closed),
        ``median_los_days`` (TEDS-D, closed cases), ``missed_rate`` (missed
        ÷ (held + missed) sessions, pooled; missing without sessions).
    """
    from .errors import MissingTableError
    from .grouping import attach_groups, case_groups
    from .length_of_stay import length_of_stay

    as_of = as_as_of(as_of)
    groups, _ = case_groups(cohort, by)
    exits = case_exits(cohort, as_of).merge(
        length_of_stay(cohort, as_of)[["case_id", "los_days"]], on="case_id"
    )
    exits = attach_groups(exits, groups, ["placement_id"])
    exits["planned"] = exits["exit_type"] == "planned"
    exits["los"] = exits["los_days"].astype("float64")
    per = exits.groupby("placement_id").agg(
        n_cases=("case_id", "size"),
        n_closed=("closed", "sum"),
        n_planned=("planned", "sum"),
        median_los_days=("los", "median"),
    )
    per["completion"] = per["n_planned"] / per["n_closed"].where(per["n_closed"] > 0)
    try:
        sessions = cohort.require("sessions")
        sessions = sessions[sessions["session_date"] <= as_of].merge(groups, on="case_id")
        status = sessions["status"]
        missed = (
            status.isin(["missed_client", "missed_worker"]).groupby(sessions["placement_id"]).sum()
        )
        base = (
            status.isin(["held", "missed_client", "missed_worker"])
            .groupby(sessions["placement_id"])
            .sum()
        )
        per["missed_rate"] = (missed / base.where(base > 0)).reindex(per.index)
    except MissingTableError:
        per["missed_rate"] = np.nan
    info = [
        c
        for c in ("placement_id", "site", "term", "caseworker_id")
        if c in cohort.placements.columns
    ]
    out = cohort.placements[info].merge(per.reset_index(), on="placement_id", how="right")
    return out[
        [*info, "n_cases", "n_closed", "n_planned", "completion", "median_los_days", "missed_rate"]
    ]


def quality_summary(cohort) -> dict[str, pd.DataFrame]:
    """The problem report summarised three ways, worst first.

    Returns
    -------
    dict of DataFrame
        ``"by_rule"``: ``rule, severity, table, n``; ``"by_table"``: the
        ``cohort.counts`` table with ``errors`` and ``warnings``;
        ``"by_placement"``: ``placement_id, errors, warnings, rejected_rows``
        (problems traced to a placement through their case, or directly for
        placement rows), sorted by errors then warnings.
    """
    problems = cohort.problems
    by_rule = (
        problems.groupby(["rule", "severity", "table"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["severity", "n"], ascending=[True, False], kind="stable")
    )
    sev = problems.assign(
        errors=problems["severity"] == "error", warnings=problems["severity"] == "warning"
    )
    per_table = sev.groupby("table")[["errors", "warnings"]].sum()
    by_table = cohort.counts.merge(per_table.reset_index(), on="table", how="left").fillna(
        {"errors": 0, "warnings": 0}
    )
    case_place = pd.concat(
        [
            cohort.cases[["case_id", "placement_id"]],
            cohort.rejected.get("cases", pd.DataFrame(columns=["case_id", "placement_id"]))[
                ["case_id", "placement_id"]
            ],
        ]
    ).drop_duplicates("case_id")
    traced = sev.merge(case_place, on="case_id", how="left")
    placement_rows = cohort.rejected.get("placements")
    if placement_rows is not None and len(placement_rows):
        direct = sev[sev["table"] == "placements"].merge(
            placement_rows[["row", "placement_id"]].astype({"row": "Int64"}),
            on="row",
            how="left",
            suffixes=("", "_p"),
        )
        traced.loc[traced["table"] == "placements", "placement_id"] = direct[
            "placement_id"
        ].to_numpy()
    traced["placement_id"] = traced["placement_id"].astype("string").fillna("(unknown)")
    traced["row_key"] = traced["table"] + ":" + traced["row"].astype("string")
    by_placement = traced.groupby("placement_id").agg(
        errors=("errors", "sum"), warnings=("warnings", "sum")
    )
    rejected_rows = traced[traced["errors"]].groupby("placement_id")["row_key"].nunique()
    by_placement["rejected_rows"] = rejected_rows.reindex(by_placement.index).fillna(0).astype(int)
    by_placement = by_placement.sort_values(["errors", "warnings"], ascending=False).reset_index()
    return {
        "by_rule": by_rule.reset_index(drop=True),
        "by_table": by_table,
        "by_placement": by_placement,
    }


def prepare(cohort, by, *, publish: bool, threshold: int):
    """The grouping the dashboard uses: small groups folded when publishing.

    Returns ``(groups, folded)``: ``groups`` is ``by`` itself, or the folded
    labels to pass as ``by=``; ``folded`` lists the groups merged into
    ``Other`` (empty when not publishing).
    """
    from .privacy import fold_small_groups

    if not publish or not by:
        return by or None, pd.DataFrame(columns=["group", "clients"])
    return fold_small_groups(cohort, by, threshold=threshold)


def publishable(name: str, table: pd.DataFrame, by, *, publish: bool, threshold: int):
    """``table`` as it may be shown: suppressed when publishing (see :mod:`.publish`)."""
    from .grouping import group_columns
    from .privacy import publish_long
    from .publish import publish_table

    if not publish:
        return table
    if name == "placements":
        return publish_long(
            table,
            counts=["n_cases", "n_closed", "n_planned"],
            derived={
                "completion": ["n_planned", "n_closed"],
                "median_los_days": ["n_closed"],
                "missed_rate": ["n_cases"],
            },
            group_cols=["placement_id", "site", "term", "caseworker_id"],
            threshold=threshold,
        )
    if name in ("quality_tables", "quality_rules"):
        counts = ["rejected", "errors", "warnings"] if name == "quality_tables" else ["n"]
        return publish_long(table, counts=counts, threshold=threshold)
    if name == "headline":
        people = ~table["metric"].isin(["placements", "sites"])
        out = publish_long(
            table.assign(numerator=table["numerator"].where(people)),
            counts=["numerator", "denominator"],
            derived={c: ["numerator", "denominator"] for c in ("estimate", "ci_low", "ci_high")},
            threshold=threshold,
        )
        cases_hidden = (table["metric"] == "cases") & (table["estimate"] < threshold)
        out.loc[cases_hidden.to_numpy(), "estimate"] = HIDDEN
        return out.assign(numerator=out["numerator"].where(people, table["numerator"]))
    return publish_table(name, table, group_columns(by), threshold=threshold)


def plottable(table: pd.DataFrame) -> pd.DataFrame:
    """Hidden cells (``*``) as missing numbers, so suppressed tables can be drawn."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object and (out[column] == HIDDEN).any():
            out[column] = pd.to_numeric(out[column].mask(out[column] == HIDDEN), errors="coerce")
    return out


def suppression_note(
    tables: dict, folded: pd.DataFrame, *, threshold: int, lang: str = "en"
) -> str:
    """The footnote of a published report: what was suppressed and why (HTML)."""
    hidden = sum(int((t.astype(object) == HIDDEN).sum().sum()) for t in tables.values())
    if lang == "id":
        text = (
            f"Catatan privasi: angka 1 sampai {threshold - 1} disembunyikan (*), beserta sel "
            f"pelengkap agar tidak dapat dihitung ulang dari total ({hidden} sel). "
            f"{len(folded)} kelompok dengan kurang dari {threshold} klien digabung menjadi "
            "'Other'. Grafik per klien (peta panas pemantauan) tidak ditampilkan."
        )
    else:
        text = (
            f"Privacy note: counts from 1 to {threshold - 1} are hidden (*), together with "
            f"complementary cells so that none can be worked back from a total ({hidden} "
            f"cells). {len(folded)} group(s) with fewer than {threshold} clients were "
            "folded into 'Other'. Per-client charts (the monitoring heatmap) are left out."
        )
    return f'<p class="privacy-note"><small>{html.escape(text)}</small></p>'


def internal_banner(lang: str = "en") -> str:
    """A banner repeated at the top of every printed page of an internal report."""
    text = (
        "Internal, not for distribution"
        if lang != "id"
        else "Internal, not for distribution (internal, tidak untuk disebarkan)"
    )
    return (
        '<div class="internal-banner" style="position:fixed;top:0;left:0;right:0;'
        "background:#b00;color:#fff;text-align:center;font-weight:bold;padding:4px;"
        f'z-index:10">{html.escape(text)}</div><div style="height:2em"></div>'
    )


def styled(table: pd.DataFrame, *, percent=(), whole=(), missing: str = "–"):
    """A Styler showing shares as percentages and hidden cells as they are (``*``)."""

    def fmt(kind):
        def inner(value):
            if isinstance(value, str):
                return value
            if pd.isna(value):
                return missing
            return f"{value:.0%}" if kind == "percent" else f"{value:.0f}"

        return inner

    formats = {c: fmt("percent") for c in percent if c in table}
    formats.update({c: fmt("whole") for c in whole if c in table})
    return table.style.format(formats).hide(axis="index")
