"""The supervisors' and evaluators' dashboard: every section of the report,
built from one analysis run, published through the audit, in English or
Indonesian.

:class:`Dashboard` computes everything once (the run, the comparisons, the
placement table, the data-quality summary), publishes it jointly when
``publish=True`` (see :mod:`casework_analytics.publish`), and renders each
section as self-contained HTML: no script, figures embedded as PNG data
URIs, the numbers behind every chart as a CSV link, every piece of text
from the data escaped. The report notebook calls one method per section.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .grouping import OVERALL, DateLike, GroupBy, attach_groups, case_groups
from .keys import positions
from .labels import catalogue
from .privacy import DEFAULT_THRESHOLD, HIDDEN, OTHER_GROUP, check_threshold

__all__ = [
    "CARD_METRICS",
    "SCREEN_DPI",
    "COMPARED",
    "placement_table",
    "quality_summary",
    "plottable",
    "Dashboard",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .summary import Summary
    from .timelines import RecoveryDefinition

CARD_METRICS = (
    "cases",
    "placements",
    "sites",
    "completion",
    "retention",
    "sustained",
    "not_relapsed",
)
#: Figures are drawn for this many pixels per inch on screen, and stored at twice it.
SCREEN_DPI = 96
#: The comparison metrics shown in the report, in order.
COMPARED = ("planned_completion", "retention", "not_relapsed")


def placement_table(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = "placement_id",
    *,
    run: Summary | None = None,
) -> pd.DataFrame:
    """One row per placement: its cases, exits, length of stay and missed sessions.

    Composed from the analyses, so each number has one definition:
    ``n_cases``, ``n_closed`` and ``median_los_days`` from
    :func:`casework_analytics.length_of_stay.length_of_stay_summary`,
    ``n_planned`` from :func:`casework_analytics.exits.exit_reasons` (exit
    type planned), and ``missed_rate`` pooled from
    :func:`casework_analytics.contacts.session_summary` (all the
    placement's missed sessions over its held and missed sessions).

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation.
    by : str or DataFrame
        ``"placement_id"``, or the folded placement labels of
        :func:`casework_analytics.privacy.fold_small_groups` (placements
        folded into ``Other`` are then one row).
    run : Summary, optional
        A run of the same cohort and ``as_of`` whose per-case tables to reuse.

    Returns
    -------
    DataFrame
        ``placement_id, site, term`` (if present), ``caseworker_id``,
        ``n_cases, n_closed, n_planned, completion`` (n_planned /
        n_closed), ``median_los_days`` (TEDS-D, closed cases),
        ``missed_rate`` (missing without sessions).
    """
    from .errors import MissingTableError
    from .exits import exit_reasons
    from .length_of_stay import length_of_stay_summary

    groups, _ = case_groups(cohort, by)
    stays = length_of_stay_summary(cohort, as_of, groups, overall=False)
    exits = exit_reasons(cohort, as_of, groups, overall=False)
    planned = exits[(exits["level"] == "type") & (exits["category"] == "planned")]
    out = stays[["placement_id", "n_cases", "n_closed", "median_days"]].merge(
        planned[["placement_id", "n"]].rename(columns={"n": "n_planned"}), on="placement_id"
    )
    out["completion"] = out["n_planned"] / out["n_closed"].where(out["n_closed"] > 0)
    try:
        from .contacts import session_summary

        sessions = session_summary(cohort, as_of) if run is None else run.contacts
        per = attach_groups(sessions, groups, ["placement_id"])
        missed = per["missed_client"] + per["missed_worker"]
        pooled = (
            pd.DataFrame(
                {
                    "placement_id": per["placement_id"],
                    "missed": missed,
                    "base": missed + per["held"],
                }
            )
            .groupby("placement_id")[["missed", "base"]]
            .sum()
        )
        rate = pooled["missed"] / pooled["base"].where(pooled["base"] > 0)
        out["missed_rate"] = out["placement_id"].map(rate).astype("float64")
    except MissingTableError:
        out["missed_rate"] = np.nan
    info = [c for c in ("site", "term", "caseworker_id") if c in cohort.placements]
    out = out.merge(cohort.placements[["placement_id", *info]], on="placement_id", how="left")
    out = out.rename(columns={"median_days": "median_los_days"})
    return out[
        [
            "placement_id",
            *info,
            "n_cases",
            "n_closed",
            "n_planned",
            "completion",
            "median_los_days",
            "missed_rate",
        ]
    ]


def _errors_against_rejected(published, by_table: pd.DataFrame, by_rule: pd.DataFrame):
    """Add what a reader knows of a table's error counts and its rejected rows.

    Every rejected row has at least one error, so the errors add up to at least
    the rows rejected; when each rejected row has exactly one (the usual case),
    a reader who assumes so is right, so the audit is given the equality then.
    """
    errors = by_rule[by_rule["severity"] == "error"]
    rejected = by_table.set_index("table")["rejected"]
    terms, at_least = [], []
    for table, rows in errors.groupby("table", sort=False):  # a handful of tables
        if table not in rejected.index:
            continue
        total, rows_out = int(rows["n"].sum()), int(rejected[table])
        if total < rows_out:
            continue
        keys = list(zip(rows["rule"], rows["severity"], rows["table"], strict=True))
        part = pd.DataFrame(
            {"relation": table, "table": "by_rule", "row": keys, "column": "n", "coef": -1.0}
        )
        rows_term = pd.DataFrame(
            {"relation": [table], "table": "by_table", "row": [table], "column": "rejected"}
        ).assign(coef=1.0)
        (terms if total == rows_out else at_least).append(pd.concat([rows_term, part]))
    if terms:
        published = published.add_relations(pd.concat(terms, ignore_index=True), sense="==")
    if at_least:
        published = published.add_relations(pd.concat(at_least, ignore_index=True), sense="<=")
    return published


def quality_summary(cohort: Cohort) -> dict[str, pd.DataFrame]:
    """The problem report summarised three ways, worst first.

    Parameters
    ----------
    cohort : Cohort

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


# ---------------------------------------------------------------- rendering helpers


def _png(fig, alt: str) -> str:
    """A figure as an embedded PNG at twice the screen resolution, sized to fit."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=2 * SCREEN_DPI, bbox_inches="tight")
    plt.close(fig)
    png = buffer.getvalue()
    width = int.from_bytes(png[16:20], "big") // 2  # drawn at 2x: shown at half its pixels
    data = base64.b64encode(png).decode("ascii")
    alt = html.escape(alt, quote=True)
    return f'<img class="figure" alt="{alt}" width="{width}" src="data:image/png;base64,{data}">'


def _panels(figures) -> str:
    """Small multiples as separate images that wrap: side by side on a wide
    screen, one under the other on a phone, each readable at its own size."""
    return '<div class="panels">' + "".join(_png(fig, alt) for fig, alt in figures) + "</div>"


def _csv_link(name: str, table: pd.DataFrame, label: str) -> str:
    """A link that downloads ``table`` as CSV, embedded as a data URI."""
    from .outputs import neutralise

    data = base64.b64encode(neutralise(table).to_csv(index=False).encode("utf-8")).decode("ascii")
    return (
        f'<p class="download"><a download="{html.escape(name)}.csv" '
        f'href="data:text/csv;charset=utf-8;base64,{data}">{html.escape(label)}</a></p>'
    )


def _share(value) -> str:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "" if pd.isna(number) else f"{number:.0%}"


def _whole(value) -> str:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "" if pd.isna(number) else f"{number:,.0f}"


def plottable(table: pd.DataFrame) -> pd.DataFrame:
    """Hidden cells (``*``) as missing numbers, so published tables can be drawn.

    Parameters
    ----------
    table : DataFrame
        A table as published, with ``*`` in hidden cells.

    Returns
    -------
    DataFrame
        A copy, each column holding ``*`` made numeric with the hidden cells
        missing.
    """
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object and (out[column] == HIDDEN).any():
            out[column] = pd.to_numeric(out[column].mask(out[column] == HIDDEN), errors="coerce")
    return out


class Dashboard:
    """Everything the report shows, computed once.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, optional
        The group column of the per-group panels (e.g. ``"site"``).
    lang : {"en", "id"}
    publish : bool
        Apply the publishing rules (default): small groups folded, counts
        audited and hidden, per-client sections left out. ``False`` makes an
        internal report with the supervisors' view.
    threshold : int
        Smallest count shown when publishing (11).
    definition : RecoveryDefinition, optional
    source_name : str
        How the footer names the source.
    progress : bool, optional
        Show a line for each step that takes over a second (see
        :mod:`casework_analytics.progress`); by default in a terminal or
        Jupyter.

    Examples
    --------
    >>> import casework_analytics as ca
    >>> board = Dashboard(ca.load("data/example"), "2024-10-31", publish=False)
    >>> "Planned completion" in board.headline()
    True
    """

    def __init__(
        self,
        cohort: Cohort,
        as_of: DateLike,
        *,
        by: str | None = None,
        lang: str = "en",
        publish: bool = True,
        threshold: int = DEFAULT_THRESHOLD,
        definition: RecoveryDefinition | None = None,
        source_name: str = "",
        progress: bool | None = None,
    ) -> None:
        from .evaluation import compare_groups, term_trend
        from .grouping import as_as_of
        from .privacy import fold_small_groups
        from .progress import Progress
        from .summary import Summary

        self.t = catalogue(lang)
        self.lang = lang
        self.publish = publish
        self.threshold = check_threshold(threshold)
        self.cohort = cohort
        self.as_of = as_as_of(as_of)
        self.by = by or None
        self.source_name = source_name or cohort.source
        empty = pd.DataFrame(columns=["group", "clients"])
        if publish and self.by:
            groups, self.folded = fold_small_groups(cohort, self.by, threshold=threshold)
        else:
            groups, self.folded = self.by, empty
        placements, folded_placements = (
            fold_small_groups(cohort, "placement_id", threshold=threshold)
            if publish
            else ("placement_id", empty)
        )
        self.folded_placements = folded_placements
        steps = Progress(progress, "dashboard")
        self.run = Summary(
            cohort, self.as_of, groups, definition=definition, progress=steps.enabled
        )
        self.cols = self.run.cols
        self.has_visits = cohort.visits is not None
        self.has_sessions = cohort.sessions is not None
        names = ["stage_funnel", "exits", "cumulative_incidence"]
        if self.has_visits:
            names += ["survival", "recovery_headline", "recovery_sensitivity"]
        convention = self.run.definition.missing_as
        with steps.step("headline numbers", rows=len(cohort.cases)):
            extra = {"cards": self._cards()}
        if self.cols:
            metrics = [m for m in COMPARED if self.has_visits or m == "planned_completion"]
            with steps.step("comparisons between groups"):
                funnel, _ = compare_groups(
                    cohort, self.as_of, groups, metrics=metrics, run=self.run
                )
            extra["comparison"] = funnel.assign(missing_as=convention)
        self.terms = None
        term_groups = None
        if "term" in cohort.placements and cohort.placements["term"].nunique() > 1:
            term_groups, _ = (
                fold_small_groups(cohort, "term", threshold=threshold)
                if publish
                else case_groups(cohort, "term")
            )
            with steps.step("trends over terms"):
                trends = [
                    term_trend(cohort, self.as_of, m, run=self.run)
                    for m in COMPARED
                    if self.has_visits or m == "planned_completion"
                ]
            extra["trend"] = pd.concat(trends, ignore_index=True).assign(missing_as=convention)
        with steps.step("placements"):
            extra["placements"] = placement_table(cohort, self.as_of, placements, run=self.run)
        if publish:
            self.run.drop_weekly_grid()  # only the internal report lists weeks
            extra["quality_cases"] = self._quality_cases()
            # A student's ID next to a caseload says who worked with whom: internal only.
            extra["placements"] = extra["placements"].drop(
                columns=["caseworker_id", "supervisor_id"], errors="ignore"
            )
            from .publish import RULES
            from .publish import publish as publish_run

            groupings = {"placement": (placements, ["placement_id"])}
            if term_groups is not None:
                groupings["term"] = (term_groups, ["term"])
            with steps.step("publication audit", rows=len(cohort.cases)):
                self.publication = publish_run(
                    self.run,
                    threshold=threshold,
                    names=names,
                    extra={name: (RULES[name], table) for name, table in extra.items()},
                    groupings=groupings,
                )
            self.tables = dict(self.publication.items())
        else:
            self.publication = None
            self.tables = {**dict(self.run.tables(names)), **extra}
        with steps.step("data quality"):
            self.quality_tables = self._quality()

    # -------------------------------------------------------------- numbers

    def _cards(self) -> pd.DataFrame:
        """The headline numbers as a table (see :meth:`headline`)."""
        from .intervals import wilson_interval

        exits = self.run.exits
        attrs = self.cohort.case_attributes()
        attrs = attrs[positions(attrs["case_id"], exits["case_id"]) >= 0]
        closed = int(exits["closed"].sum())
        planned = int((exits["exit_type"] == "planned").sum())
        rows = [
            ("cases", len(exits), np.nan, np.nan, np.nan),
            ("placements", attrs["placement_id"].nunique(), np.nan, np.nan, np.nan),
            ("sites", attrs["site"].nunique(), np.nan, np.nan, np.nan),
            ("completion", planned, closed, np.nan, np.nan),
        ]
        if self.has_visits:
            headline, other = (
                self._whole_cohort(self.run.table(name)).set_index("metric")
                for name in ("recovery_headline", "recovery_sensitivity")
            )
            for card, metric in (
                ("retention", "retention"),
                ("sustained", "sustained_abstinence"),
                ("not_relapsed", "not_relapsed"),
            ):
                row = headline.loc[metric]
                numerator_other = (
                    other.loc[metric, "estimate_ignore"] * other.loc[metric, "denominator_ignore"]
                    if self.run.definition.missing_as == "positive"
                    else other.loc[metric, "estimate_positive"]
                    * other.loc[metric, "denominator_positive"]
                )
                denominator_other = (
                    other.loc[metric, "denominator_ignore"]
                    if self.run.definition.missing_as == "positive"
                    else other.loc[metric, "denominator_positive"]
                )
                rows.append(
                    (card, row["numerator"], row["denominator"], numerator_other, denominator_other)
                )
        table = pd.DataFrame(
            rows,
            columns=["metric", "numerator", "denominator", "other_numerator", "other_denominator"],
        )
        for column in ("numerator", "denominator", "other_numerator", "other_denominator"):
            values = [np.nan if pd.isna(v) else float(v) for v in table[column]]  # seven cards
            table[column] = pd.array(np.round(values), dtype="Float64").astype("Int64")
        share = table["numerator"] / table["denominator"].where(table["denominator"] > 0)
        table["estimate"] = share.astype("Float64").where(
            table["denominator"].notna(), table["numerator"].astype("Float64")
        )
        table["ci_low"], table["ci_high"] = wilson_interval(
            table["numerator"].astype("float64"), table["denominator"].astype("float64")
        )
        table["other_estimate"] = (
            table["other_numerator"]
            / table["other_denominator"].where(table["other_denominator"] > 0)
        ).astype("Float64")
        table["missing_as"] = self.run.definition.missing_as
        return table

    def _quality_cases(self) -> pd.DataFrame:
        """Per rule and severity of the problems found on case rows, the run's cases
        with one: audited with the tables, since a warning such as an unclassified
        closure reason can count the same cases as a table does."""
        problems = self.cohort.problems
        on_cases = problems[problems["table"] == "cases"]
        in_run = on_cases[positions(on_cases["case_id"], self.run.exits["case_id"]) >= 0]
        counts = in_run.drop_duplicates(["rule", "severity", "case_id"])
        table = counts.groupby(["rule", "severity"]).size().rename("n").reset_index()
        return table.astype({"rule": object, "severity": object, "n": "int64"})

    def _whole_cohort(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of the whole cohort (group columns ``All``)."""
        if not self.cols:
            return table
        return table[(table[self.cols] == OVERALL).all(axis=1)]

    def _quality(self) -> dict[str, pd.DataFrame]:
        summary = quality_summary(self.cohort)
        by_table = summary["by_table"][["table", "read", "accepted", "rejected"]]
        by_rule = summary["by_rule"][["rule", "severity", "table", "n"]]
        if not self.publish:
            return {"by_table": by_table, "by_rule": by_rule}
        from .disclosure import PublishedSet, protect_set

        published = (
            PublishedSet()
            .add_table(
                "by_table", by_table.set_index("table"), counts=["read", "accepted", "rejected"]
            )
            .add_column_sums(table="by_table", total="read", parts=["accepted", "rejected"])
            .add_table("by_rule", by_rule.set_index(["rule", "severity", "table"]), counts=["n"])
        )
        # The rest of the report counts accepted rows too: at least the cases, the
        # placements and the stages reached that it shows. (An attacker reading 205 cases
        # read beside 202 cases in the cards knows that at most 3 were rejected.)
        floors = self._accepted_at_least()
        present = [t for t in floors if t in set(by_table["table"])]
        if present:
            terms = pd.DataFrame(
                {
                    "relation": present,
                    "table": "by_table",
                    "row": present,
                    "column": "accepted",
                    "coef": -1.0,
                }
            )
            published = published.add_relations(
                terms, constants={t: -floors[t] for t in present}, sense="<="
            )
        published = _errors_against_rejected(published, by_table, by_rule)
        protection = protect_set(published, threshold=self.threshold)
        out = {}
        for name in ("by_table", "by_rule"):
            try:
                out[name] = protection.table(name).reset_index()
            except CaseworkError:  # withheld: every count in it is small
                out[name] = self._text("all_small", small=self.threshold)
        if isinstance(out["by_rule"], pd.DataFrame):
            out["by_rule"] = self._hidden_with_the_tables(out["by_rule"])
        return out

    def _hidden_with_the_tables(self, by_rule: pd.DataFrame) -> pd.DataFrame:
        """``by_rule`` with a count of warnings on case rows hidden where the joint
        audit of the tables hid the run's cases with that warning."""
        audited = self.tables.get("quality_cases")
        if not isinstance(audited, pd.DataFrame):  # withheld: hide every such count
            hidden_keys = set(zip(by_rule["rule"], by_rule["severity"], strict=True))
        else:
            gone = audited[audited["n"].astype(object).eq(HIDDEN)]
            hidden_keys = set(zip(gone["rule"], gone["severity"], strict=True))
        keys = pd.Series(list(zip(by_rule["rule"], by_rule["severity"], strict=True)))
        hide = (by_rule["table"] == "cases").to_numpy() & keys.isin(hidden_keys).to_numpy()
        out = by_rule.astype({"n": object})
        out.loc[hide, "n"] = HIDDEN
        return out

    def _accepted_at_least(self) -> dict[str, int]:
        """Accepted rows per table that the rest of the report implies: the run's
        cases, their placements, and one stage row per stage reached."""
        exits = self.run.exits
        cases = self.cohort.cases
        in_run = cases[positions(cases["case_id"], exits["case_id"]) >= 0]
        stages = self.cohort.stages
        case = positions(stages["case_id"], exits["case_id"])
        stage = pd.factorize(stages["stage"])[0]
        started = (case >= 0) & (stages["started_on"] <= self.as_of).to_numpy()
        return {
            "cases": len(exits),
            "placements": int(in_run["placement_id"].nunique()),
            "stages": len(pd.unique(case[started] * (stage.max(initial=0) + 1) + stage[started])),
        }

    # -------------------------------------------------------------- sections

    def _text(self, key: str, **values) -> str:
        return self.t[key].format(**values) if values else self.t[key]

    def _heading(self, key: str, note: str | None = None, anchor: str | None = None) -> str:
        anchor = f' id="{anchor}"' if anchor else ""
        out = f"<h2{anchor}>{html.escape(self._text(key))}</h2>"
        if note:
            out += f'<p class="note">{html.escape(note)}</p>'
        return out

    def _withheld(self, name: str) -> str | None:
        table = self.tables.get(name)
        if isinstance(table, str):
            from .publish import WITHHELD_REASONS

            code = next((k for k, v in WITHHELD_REASONS.items() if v == table), None)
            reason = self.t[f"withheld_{code}"] if code else table
            return f'<p class="withheld">{html.escape(self._text("withheld", reason=reason))}</p>'
        return None

    def _group(self, name) -> str:
        if name == OVERALL:
            return self.t["all_group"]
        if name == OTHER_GROUP:
            return self.t["other_group"]
        return str(name)

    def _visible_groups(self, drawn: pd.DataFrame, column: str):
        """``drawn`` without the groups whose every value in ``column`` is hidden, and a
        note naming them."""
        if not self.cols:
            return drawn, ""
        group = drawn[self.cols[0]]
        seen = drawn[column].notna().groupby(group).any()
        gone = [g for g in seen.index if not seen[g]]
        if not gone:
            return drawn, ""
        names = ", ".join(self._group(g) for g in gone)
        note = f'<p class="note">{html.escape(self._text("hidden_groups", groups=names))}</p>'
        return drawn[~group.isin(gone)], note

    def header(self) -> str:
        """The title, the banners and the panel on how to read the report.

        Returns
        -------
        str
            The section as HTML.
        """
        parts = []
        if self.publish:
            parts.append(
                '<div class="banner published">'
                + html.escape(self._text("published_banner", small=self.threshold - 1))
                + "</div>"
            )
        else:
            parts.append(
                f'<div class="banner internal">{html.escape(self.t["internal_banner"])}</div>'
            )
        subtitle = self._text("subtitle", source=self.source_name, as_of=str(self.as_of.date()))
        if self.by:
            subtitle += " · " + self._text("grouped_by", by=self.by)
        parts.append(f"<h1>{html.escape(self.t['title'])}</h1>")
        parts.append(f'<p class="subtitle">{html.escape(subtitle)}</p>')
        clients = self.cohort.cases["client_id"].nunique()
        if self.publish and (clients < 5 * self.threshold or len(self.folded)):
            # Without the number: the client count is not audited, and cases minus
            # clients would give the clients with more than one case.
            parts.append(
                f'<div class="banner small">{html.escape(self.t["small_cohort_banner"])}</div>'
            )
        if self.publish and len(self.folded):
            parts.append(
                '<p class="note">'
                + html.escape(
                    self._text(
                        "folded_note",
                        n=len(self.folded),
                        threshold=self.threshold,
                        other=self.t["other_group"],
                    )
                )
                + "</p>"
            )
        if not self.publish:
            parts.append(self._placement_index())
        how = self._text("how_to_read_text", as_of=str(self.as_of.date()), marker=HIDDEN)
        parts.append(
            f'<details class="how" open><summary>{html.escape(self.t["how_to_read"])}</summary>'
            f"<p>{html.escape(how)}</p></details>"
        )
        return "".join(parts)

    def headline(self) -> str:
        """The headline cards: value, interval in words, what was counted, definition.

        Returns
        -------
        str
            The section as HTML.
        """
        d = self.run.definition
        cards = self.tables["cards"]
        definitions = {
            "cases": self._text("cases_def", as_of=str(self.as_of.date())),
            "placements": self.t["placements_def"],
            "sites": self.t["sites_def"],
            "completion": self.t["completion_def"],
            "retention": self._text(
                "retention_def",
                days=d.retention_days,
                as_of=str(self.as_of.date()),
                missed=d.dropout_missed,
                gap=d.dropout_gap_days,
            ),
            "sustained": self._text("sustained_def", weeks=d.sustained_weeks),
            "not_relapsed": self._text(
                "not_relapsed_def", days=d.relapse_horizon_days, as_of=str(self.as_of.date())
            ),
        }
        titles = {
            "cases": self.t["cases_card"],
            "placements": self.t["placements_card"],
            "sites": self.t["sites_card"],
            "completion": self.t["completion_card"],
            "retention": self._text("retention_card", days=d.retention_days),
            "sustained": self.t["sustained_card"],
            "not_relapsed": self.t["not_relapsed_card"],
        }
        if (withheld := self._withheld("cards")) is not None:
            return self._heading("headline") + withheld
        out = [self._heading("headline"), '<div class="cards">']
        for row in cards.itertuples(index=False):  # seven cards
            count_card = row.metric in ("cases", "placements", "sites")
            if _hidden(row.estimate) or _hidden(row.numerator) and count_card:
                value = self.t["hidden_value"]
            elif pd.isna(row.estimate):
                value = self.t["no_value"]
            else:
                value = _whole(row.numerator) if count_card else _share(row.estimate)
            detail = []
            if not count_card:
                if _hidden(row.numerator, row.denominator):
                    detail.append(
                        self._text("count_of", num=_mark(row.numerator), den=_mark(row.denominator))
                    )
                elif pd.notna(row.denominator):
                    detail.append(
                        self._text(
                            "count_of", num=_whole(row.numerator), den=_whole(row.denominator)
                        )
                    )
                if not _hidden(row.ci_low, row.ci_high) and pd.notna(row.ci_low):
                    detail.append(
                        self._text("interval", low=_share(row.ci_low), high=_share(row.ci_high))
                    )
                elif not pd.isna(row.estimate):
                    detail.append(self.t["no_interval"])
                if row.metric in ("sustained", "not_relapsed") and not _hidden(row.other_estimate):
                    if pd.notna(row.other_estimate):
                        detail.append(
                            self._text("convention_note", other=_share(row.other_estimate))
                        )
            out.append(
                f'<div class="card" data-metric="{row.metric}">'
                f'<div class="label">{html.escape(titles[row.metric])}</div>'
                f'<div class="value">{html.escape(value)}</div>'
                + "".join(f'<div class="detail">{html.escape(x)}</div>' for x in detail)
                + f'<div class="definition">{html.escape(definitions[row.metric])}</div></div>'
            )
        out.append("</div>")
        out.append(_csv_link("cards", cards, self.t["download"]))
        return "".join(out)

    def funnel(self) -> str:
        """The stage funnel, by group (shares of each group's cases).

        Returns
        -------
        str
            The section as HTML.
        """
        from . import plots

        head = self._heading("funnel_section", self.t["funnel_note"])
        if (withheld := self._withheld("stage_funnel")) is not None:
            return head + withheld
        table = self.tables["stage_funnel"]
        drawn, note = self._visible_groups(plottable(table), "share_reached")
        labels = (
            self.cohort.stage_model.labels_id
            if self.lang == "id"
            else self.cohort.stage_model.labels_en
        )
        import matplotlib.pyplot as plt

        figures = []
        groups = list(dict.fromkeys(drawn[self.cols[0]])) if self.cols else [None]
        for name in groups:
            rows = drawn if name is None else drawn[drawn[self.cols[0]] == name]
            fig = plt.figure(figsize=(4.2, 2.2 + 0.25 * len(rows)), layout="constrained")
            ax = plots.stage_funnel_plot(rows, ax=fig.gca(), lang=self.lang, stage_labels=labels)
            title = self.t["funnel"] if name is None else self._group(name)
            ax.set_title(title)
            figures.append((fig, f"{self.t['funnel']}: {title}"))
        return head + _panels(figures) + note + _csv_link("stage_funnel", table, self.t["download"])

    def exits(self) -> str:
        """Why cases end: the reasons (whole cohort) and the exit types by group.

        Returns
        -------
        str
            The section as HTML.
        """
        import matplotlib.pyplot as plt

        from . import plots

        head = self._heading("exits_section", self.t["exits_note"])
        if (withheld := self._withheld("exits")) is not None:
            return head + withheld
        table = self.tables["exits"]
        drawn = plottable(table)
        fig = plt.figure(figsize=(7.5, 4.2), layout="constrained")
        plots.exit_reason_bars(drawn, ax=fig.gca(), lang=self.lang)
        out = head + _png(fig, self.t["reasons_title"])
        if self.cols:
            types, note = self._visible_groups(drawn[drawn["level"] == "type"], "share")
            groups = types[self.cols[0]].nunique()
            if groups:  # an empty frame says nothing the note does not
                fig = plt.figure(figsize=(7.5, 1.6 + 0.45 * groups), layout="constrained")
                plots.exit_reasons_plot(types, group=self.cols[0], ax=fig.gca(), lang=self.lang)
                out += _png(fig, self.t["types_title"])
            out += note
        return out + _csv_link("exits", table, self.t["download"])

    def comparisons(self) -> str:
        """Funnel plots of completion, retention and not relapsed by group.

        Returns
        -------
        str
            The section as HTML (empty if the report has no such section).
        """
        import matplotlib.pyplot as plt

        from . import plots

        if not self.cols:
            return ""
        head = self._heading("comparisons_section", self.t["comparisons_note"])
        if (withheld := self._withheld("comparison")) is not None:
            return head + withheld
        table = self.tables["comparison"]
        drawn = plottable(table).dropna(subset=["value"])
        if drawn.empty:
            return head + f'<p class="withheld">{html.escape(self.t["all_hidden"])}</p>'
        figures, no_limits = [], []
        for metric in dict.fromkeys(drawn["metric"]):
            rows = drawn[drawn["metric"] == metric]
            if rows[["target", "widening"]].isna().any(axis=None):  # a pool's limits hidden
                no_limits.append(self.t.get(metric, metric))
                continue
            fig = plt.figure(figsize=(4.6, 4.0), layout="constrained")
            plots.funnel_plot(rows, ax=fig.gca(), lang=self.lang)
            figures.append((fig, self.t.get(metric, metric)))
        note = self._text("limits_hidden", metrics=", ".join(no_limits)) if no_limits else ""
        figures_note = f'<p class="withheld">{html.escape(note)}</p>' if note else ""
        outside = table[table["flag"].isin(["above", "below"])]
        names = ", ".join(
            f"{self._group(g)} ({self.t.get(m, m)})"
            for g, m in zip(outside[self.cols[0]], outside["metric"], strict=True)
        )
        verdict = (
            self._text("outside_limits", groups=names) if len(outside) else self.t["none_outside"]
        )
        # No limits drawn, no verdict on them either.
        verdict_html = f'<p class="verdict">{html.escape(verdict)}</p>' if figures else ""
        return (
            head
            + _panels(figures)
            + figures_note
            + verdict_html
            + _csv_link("comparison", table, self.t["download"])
        )

    def trends(self) -> str:
        """Each metric by term with its interval and the trend test.

        Returns
        -------
        str
            The section as HTML (empty if the report has no such section).
        """
        import matplotlib.pyplot as plt

        from . import plots

        if "trend" not in self.tables:
            return ""
        head = self._heading("trends_section", self.t["trends_note"])
        if (withheld := self._withheld("trend")) is not None:
            return head + withheld
        table = self.tables["trend"]
        drawn = plottable(table)
        shown = drawn.groupby("metric")["share"].apply(lambda s: s.notna().any())
        drawn = drawn[drawn["metric"].isin(shown[shown].index)]
        if drawn.empty:
            return head + f'<p class="withheld">{html.escape(self.t["all_hidden"])}</p>'
        figures = []
        for metric in dict.fromkeys(drawn["metric"]):
            fig = plt.figure(figsize=(4.2, 3.4), layout="constrained")
            plots.trend_plot(drawn[drawn["metric"] == metric], ax=fig.gca(), lang=self.lang)
            figures.append((fig, self.t.get(metric, metric)))
        return head + _panels(figures) + _csv_link("trend", table, self.t["download"])

    def curve_end(self) -> float:
        """Last day of every time axis, so the curves and the exits line up.

        Returns
        -------
        float
            Days since the time origin.
        """
        ends = []
        for name in ("survival", "cumulative_incidence"):
            table = self.tables.get(name)
            if isinstance(table, pd.DataFrame) and len(table):
                ends.append(float(table["time_days"].max()))
        return max(ends) if ends else 1.0

    def curves(self) -> str:
        """Kaplan–Meier curves of staying in monitoring and of staying abstinent.

        Returns
        -------
        str
            The section as HTML.
        """
        import matplotlib.pyplot as plt

        from . import plots

        note = self.t["curves_note"]
        if self.publish:
            from .publish import CURVE_STEP_DAYS

            note += " " + self._text(
                "curves_published_note", step=CURVE_STEP_DAYS, threshold=self.threshold
            )
        head = self._heading("curves_section", note)
        if not self.has_visits:
            return head + f'<p class="withheld">{html.escape(self.t["no_visits"])}</p>'
        if (withheld := self._withheld("survival")) is not None:
            return head + withheld
        table = self.tables["survival"]
        drawn = plottable(table)
        end = self.curve_end()
        group = self.cols[0] if self.cols and drawn[self.cols[0]].nunique() > 1 else None
        out = head
        for outcome in ("dropout", "relapse"):
            rows = drawn[drawn["outcome"] == outcome]
            title = self.t[outcome]
            if rows.empty:
                out += self._no_curve(title)
                continue
            if group and rows[group].nunique() > plots.MAX_OVERLAID + 1:
                figures = []
                for name in dict.fromkeys(rows.loc[rows[group] != OVERALL, group]):
                    fig = plt.figure(figsize=(4.4, 3.9), layout="constrained")
                    pair = rows[rows[group].isin([name, OVERALL])]
                    plots.km_plot(
                        pair,
                        group=group,
                        ax=fig.gca(),
                        lang=self.lang,
                        title=self._group(name),
                        end=end,
                        rounded=self.publish,
                    )
                    figures.append((fig, f"{title}: {self._group(name)}"))
                out += f"<h3>{html.escape(title)}</h3>" + _panels(figures)
                continue
            else:
                fig = plt.figure(
                    figsize=(6.5, 4.2 + 0.15 * (rows[group].nunique() if group else 1)),
                    layout="constrained",
                )
                plots.km_plot(
                    rows,
                    group=group,
                    ax=fig.gca(),
                    lang=self.lang,
                    title=title,
                    end=end,
                    rounded=self.publish,
                )
            out += _png(fig, title)
        return out + (_csv_link("survival", table, self.t["download"]) if len(drawn) else "")

    def _no_curve(self, what: str) -> str:
        """The note standing in for a curve with no point to draw."""
        if self.publish:
            text = self._text("no_curve", what=what, largest=self.threshold - 1)
        else:
            text = self._text("no_curve_data", what=what)
        return f'<p class="withheld">{html.escape(text)}</p>'

    def competing(self) -> str:
        """Cumulative incidence of the competing exits, on the curves' time range.

        Returns
        -------
        str
            The section as HTML.
        """
        import matplotlib.pyplot as plt

        from . import plots

        head = self._heading("competing_section", self.t["competing_note"])
        if (withheld := self._withheld("cumulative_incidence")) is not None:
            return head + withheld
        table = self.tables["cumulative_incidence"]
        drawn = plottable(table)
        if self.cols:
            drawn = drawn[(drawn[self.cols] == OVERALL).all(axis=1)]
        if drawn.empty:
            return head + self._no_curve(self.t["competing_section"])
        fig = plt.figure(figsize=(6.5, 3.8), layout="constrained")
        plots.cumulative_incidence_plot(
            drawn, ax=fig.gca(), lang=self.lang, end=self.curve_end(), coarse=self.publish
        )
        return (
            head
            + _png(fig, self.t["competing_section"])
            + _csv_link("cumulative_incidence", table, self.t["download"])
        )

    def placements(self) -> str:
        """The placement table.

        Returns
        -------
        str
            The section as HTML.
        """
        head = self._heading("placements_section", self.t["placements_note"])
        if (withheld := self._withheld("placements")) is not None:
            return head + withheld
        table = self.tables["placements"].copy()
        table["placement_id"] = table["placement_id"].map(self._group)
        return (
            head
            + self._table(
                table,
                shares=("completion", "missed_rate"),
                wholes=("n_cases", "n_closed", "n_planned", "median_los_days"),
            )
            + _csv_link("placements", self.tables["placements"], self.t["download_table"])
        )

    def quality(self) -> str:
        """Rows read, accepted and rejected, and the problems by rule.

        Returns
        -------
        str
            The section as HTML.
        """
        head = self._heading("quality_section", self.t["quality_note"])
        out = head
        for name, wholes in (("by_table", ("read", "accepted", "rejected")), ("by_rule", ("n",))):
            table = self.quality_tables[name]
            if isinstance(table, str):  # withheld, with the reason
                reason = html.escape(self._text("withheld", reason=table))
                out += f'<p class="withheld">{reason}</p>'
                continue
            if not len(table):
                continue
            table = table.assign(table=table["table"].map(lambda n: self.t.get(f"table_{n}", n)))
            if "severity" in table:
                table["severity"] = table["severity"].map(lambda s: self.t.get(s, s))
            out += self._table(table, wholes=wholes)
        return out

    def footer(self) -> str:
        """The privacy note (published reports) and the colophon.

        Returns
        -------
        str
            The section as HTML.
        """
        from . import __version__

        out = ""
        if self.publication is not None:
            hidden = self.publication.hidden_count
            out += (
                '<p class="privacy-note">'
                + html.escape(self._text("privacy_note", small=self.threshold - 1, hidden=hidden))
                + "</p>"
            )
        return out + (
            '<p class="footer">'
            + html.escape(
                self._text(
                    "footer",
                    version=__version__,
                    source=self.source_name,
                    as_of=str(self.as_of.date()),
                )
            )
            + "</p>"
        )

    # -------------------------------------------------------------- supervisors

    def _placement_index(self) -> str:
        ids = sorted(self.cohort.placements["placement_id"].astype(str))
        links = " ".join(f'<a href="#placement-{_anchor(p)}">{html.escape(p)}</a>' for p in ids)
        title = html.escape(self.t["placement_index"])
        return f'<nav class="index"><strong>{title}:</strong> {links}</nav>'

    def supervision(self) -> str:
        """Internal reports only: one short section per placement.

        Returns
        -------
        str
            The section as HTML (empty if the report has no such section).
        """
        from .attention import needs_attention

        if self.publish:
            return ""
        d = 2
        head = self._heading(
            "supervision_section", self._text("supervision_note", missed=d, silence=21)
        )
        attention = needs_attention(
            self.cohort,
            self.as_of,
            outcomes=self.run.outcomes if self.has_visits else None,
        )
        from .exits import exit_reasons
        from .stages import stage_funnel

        table = self.tables["placements"].set_index("placement_id")
        site_rates = self._site_missed_rates()
        funnels = stage_funnel(self.cohort, self.as_of, "placement_id", overall=False)
        reasons = exit_reasons(self.cohort, self.as_of, "placement_id", overall=False)
        reasons = reasons[(reasons["level"] == "reason") & (reasons["n"] > 0)]
        stage_names = (
            self.cohort.stage_model.labels_id
            if self.lang == "id"
            else self.cohort.stage_model.labels_en
        )
        label = "label_id" if self.lang == "id" else "label_en"
        reached_text = (
            (
                funnels["stage"].map(lambda s: stage_names.get(s, s))
                + " "
                + funnels["reached"].astype("int64").astype(str)
            )
            .groupby(funnels["placement_id"].astype(str))
            .agg(" · ".join)
        )
        reason_text = (
            (
                reasons[label].astype(str)
                + " "
                + reasons["n"].astype("int64").astype(str)
                + " ("
                + reasons["exit_type"].map(lambda k: self.t.get(k, k).lower())
                + ")"
            )
            .groupby(reasons["placement_id"].astype(str))
            .agg(" · ".join)
        )
        weekly = self.run.timelines.weekly if self.has_visits else None
        out = [head]
        for placement in sorted(self.cohort.placements["placement_id"].astype(str)):
            row = table.loc[placement] if placement in table.index else None
            out.append(f'<section class="placement" id="placement-{_anchor(placement)}">')
            out.append(f"<h3>{html.escape(placement)}</h3>")
            if row is not None:
                site = str(row.get("site", ""))
                out.append(
                    "<p>"
                    + html.escape(
                        f"{site} · {self.t['col_n_cases']}: {_whole(row['n_cases'])} · "
                        f"{self.t['col_completion']}: {_share(row['completion'])} · "
                        + self._text(
                            "missed_vs_site",
                            rate=_share(row["missed_rate"]) or "–",
                            site_rate=_share(site_rates.get(site)) or "–",
                        )
                    )
                    + "</p>"
                )
            out.append(
                '<p class="note">'
                + html.escape(
                    f"{self.t['stages_reached']}: {reached_text.get(placement, '–')}. "
                    f"{self.t['closed_because']}: "
                    f"{reason_text.get(placement, self.t['none_closed'])}."
                )
                + "</p>"
            )
            mine = attention[
                (attention["placement_id"] == placement) & attention["needs_attention"]
            ]
            if len(mine):
                mine = mine.assign(
                    reasons=mine["reasons"].map(
                        lambda r: ", ".join(self.t[x] for x in str(r).split(", ") if x)
                    )
                )
                out.append(f"<h4>{html.escape(self.t['needs_attention'])}</h4>")
                out.append(
                    self._table(
                        mine[["case_id", "missed_recently", "days_since_contact", "reasons"]],
                        wholes=("missed_recently", "days_since_contact"),
                    )
                )
            else:
                out.append(f'<p class="note">{html.escape(self.t["nobody_needs_attention"])}</p>')
            if weekly is not None:
                out.append(self._lanes(weekly, placement))
            out.append("</section>")
        return "".join(out)

    def _site_missed_rates(self) -> dict:
        if not self.has_sessions:
            return {}
        per = attach_groups(self.run.contacts, *case_groups(self.cohort, "site"))
        missed = per["missed_client"] + per["missed_worker"]
        pooled = pd.DataFrame({"site": per["site"], "m": missed, "b": missed + per["held"]})
        sums = pooled.groupby("site")[["m", "b"]].sum()
        return (sums["m"] / sums["b"].where(sums["b"] > 0)).to_dict()

    def _lanes(self, weekly: pd.DataFrame, placement: str, weeks: int = 12) -> str:
        """The last weeks of monitoring of a placement's clients, as coloured cells."""
        from .plots import COLORS

        cases = self.cohort.cases.loc[self.cohort.cases["placement_id"] == placement, "case_id"]
        rows = weekly[weekly["case_id"].isin(cases)]
        if rows.empty:
            return ""
        last = rows.groupby("case_id")["week"].transform("max")
        rows = rows[rows["week"] > last - weeks]
        cells = []
        for case, lane in rows.groupby("case_id", sort=True):  # the placement's few clients
            spans = "".join(
                f'<span class="cell" style="background:{COLORS[str(s)]}" '
                f'title="{html.escape(self.t[str(s)])}"></span>'
                for s in lane["status"]
            )
            cells.append(
                f'<div class="lane"><span class="who">{html.escape(str(case))}</span>{spans}</div>'
            )
        legend = "".join(
            f'<span class="key"><span class="cell" style="background:{COLORS[s]}"></span>'
            f"{html.escape(self.t[s])}</span>"
            for s in ("negative", "positive", "missed", "no_result", "unrecorded", "not_scheduled")
        )
        return f'<div class="lanes">{"".join(cells)}<div class="legend">{legend}</div></div>'

    def _table(self, table: pd.DataFrame, *, shares=(), wholes=()) -> str:
        """A table as escaped HTML with translated headers, in a scrolling box."""
        head = "".join(f"<th>{html.escape(self.t.get(f'col_{c}', c))}</th>" for c in table.columns)
        body = []
        for row in table.itertuples(index=False):  # the rows of a small display table
            cells = []
            for column, value in zip(table.columns, row, strict=True):
                if isinstance(value, str) and value == HIDDEN:
                    shown = HIDDEN
                elif column in shares:
                    shown = _share(value)
                elif column in wholes:
                    shown = _whole(value)
                else:
                    shown = "" if pd.isna(value) else str(value)
                cells.append(f"<td>{html.escape(shown)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )


def _anchor(value: str) -> str:
    """A safe HTML id from any placement id."""
    return "".join(c if c.isalnum() else "-" for c in str(value))


def _mark(value) -> str:
    return HIDDEN if _hidden(value) else _whole(value)


def _hidden(*values) -> bool:
    """Whether any value is the hidden marker (missing values are not)."""
    return any(isinstance(v, str) and v == HIDDEN for v in values)
