"""Plots of the cohort analyses.

Every function takes a tidy table produced by the analysis functions,
draws on ``ax`` (or on ``fig`` for multi-panel plots; the current axes or a
new figure when none is given), returns what it drew on, and never calls
``show()``. Labels come in English or Indonesian (``lang="en"`` or
``"id"``). Colours come from the Okabe–Ito palette, which stays distinct
under the common colour-vision deficiencies, and every status and exit
type has one colour everywhere (:data:`COLORS`).

matplotlib is imported only here, so importing the package stays light.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .survival import at_risk_table

#: One colour per weekly status, exit type and stage position (Okabe–Ito).
COLORS = {
    "negative": "#0072B2",
    "positive": "#D55E00",
    "missed": "#E69F00",
    "no_result": "#CC79A7",
    "unrecorded": "#F0E442",
    "not_scheduled": "#EEEEEE",
    "planned": "#009E73",
    "unplanned": "#D55E00",
    "administrative": "#56B4E9",
    "unknown": "#999999",
}
#: Stages are ordered, so a sequential grey ramp that no status or exit colour uses.
STAGE_COLORS = ("#D9D9D9", "#BDBDBD", "#969696", "#737373", "#525252", "#3A3A3A", "#252525")

LABELS = {
    "en": {
        "negative": "Negative",
        "positive": "Positive",
        "missed": "Missed",
        "no_result": "No result",
        "unrecorded": "Not recorded (lost to follow-up)",
        "not_scheduled": "Not scheduled",
        "planned": "Planned",
        "unplanned": "Unplanned",
        "administrative": "Administrative",
        "unknown": "Unknown",
        "cases": "Cases",
        "share": "Share of exits",
        "reached": "Cases that reached the stage",
        "conversion": "from previous",
        "days": "Days since intake",
        "weeks": "Weeks since intake",
        "survival": "Probability",
        "at_risk": "At risk",
        "cumulative": "Cumulative incidence",
        "dropout": "Still in monitoring (no dropout)",
        "first_positive": "No positive screen yet",
        "relapse": "Not relapsed (since sustained abstinence)",
        "sustained": "Not yet sustained abstinence",
        "client": "Client",
        "intake_month": "Intake month",
        "retained": "Share still attending",
        "exit": "Exit",
        "in_care": "still in care",
        "funnel": "Stage funnel",
        "exits": "Why cases end",
        "swimmer": "Client timelines",
        "heatmap": "Weekly monitoring",
        "triangle": "Retention by intake month",
        "showing": "showing {n} of {total} clients, {how}",
        "longest": "longest follow-up first",
        "empty": "Nothing to show (no data, or too few clients to publish)",
        "hidden": "Hidden (small numbers)",
        "sensitivity": "Missed screens counted as positive, or ignored",
        "planned_completion": "Planned completion (of closed cases)",
        "term": "Term",
        "trend_test": "trend over terms: Cochran–Armitage p = {p}",
        "missing_positive": "Counted as positive",
        "missing_ignore": "Ignored",
        "estimate": "Estimate",
        "retention": "90-day retention",
        "retention_km": "90-day retention (Kaplan–Meier)",
        "sustained_abstinence": "Sustained abstinence",
        "not_relapsed": "Not relapsed (of those abstinent)",
        "not_relapsed_km": "No relapse 90 days after abstinence (Kaplan–Meier)",
        "target": "Target",
        "limits": "{level} limits",
        "outside": "Outside {level} limits",
        "inside": "Within limits",
        "n_cases": "Cases (n)",
        "expected_count": "Expected count (E)",
        "proportion": "Proportion",
        "oe_ratio": "Observed / expected",
        "unadjusted": "Unadjusted proportions",
        "adjusted": "Adjusted for case mix (observed / expected)",
        "widened": "limits widened for overdispersion ({method}; φ = {phi}, p = {p})",
        "not_widened": "exact limits, not widened (φ = {phi}, p = {p})",
        "multiplicative": "multiplicative",
        "additive": "additive random effect",
        "hazard_ratio": "Hazard ratio",
        "odds_ratio": "Odds ratio",
        "log_scale": "log scale",
    },
    "id": {
        "negative": "Negatif",
        "positive": "Positif",
        "missed": "Tidak hadir",
        "no_result": "Tanpa hasil",
        "unrecorded": "Tidak tercatat (putus pantau)",
        "not_scheduled": "Tidak dijadwalkan",
        "planned": "Terencana",
        "unplanned": "Tidak terencana",
        "administrative": "Administratif",
        "unknown": "Tidak diketahui",
        "cases": "Kasus",
        "share": "Proporsi penutupan",
        "reached": "Kasus yang mencapai tahap",
        "conversion": "dari tahap sebelumnya",
        "days": "Hari sejak intake",
        "weeks": "Minggu sejak intake",
        "survival": "Probabilitas",
        "at_risk": "Berisiko",
        "cumulative": "Insiden kumulatif",
        "dropout": "Masih dalam pemantauan",
        "first_positive": "Belum ada tes positif",
        "relapse": "Tidak kambuh (sejak pulih berkelanjutan)",
        "sustained": "Belum pulih berkelanjutan",
        "client": "Klien",
        "intake_month": "Bulan intake",
        "retained": "Proporsi yang masih hadir",
        "exit": "Penutupan",
        "in_care": "masih dalam layanan",
        "funnel": "Corong tahapan",
        "exits": "Alasan penutupan kasus",
        "swimmer": "Lini masa klien",
        "heatmap": "Pemantauan mingguan",
        "triangle": "Retensi menurut bulan intake",
        "showing": "menampilkan {n} dari {total} klien, {how}",
        "longest": "tindak lanjut terlama lebih dulu",
        "empty": "Tidak ada yang ditampilkan (tidak ada data, atau klien terlalu sedikit)",
        "hidden": "Disembunyikan (angka kecil)",
        "sensitivity": "Tes yang terlewat dihitung positif, atau diabaikan",
        "planned_completion": "Selesai terencana (dari kasus ditutup)",
        "term": "Semester",
        "trend_test": "tren antar semester: Cochran–Armitage p = {p}",
        "missing_positive": "Dihitung positif",
        "missing_ignore": "Diabaikan",
        "estimate": "Perkiraan",
        "retention": "Retensi 90 hari",
        "retention_km": "Retensi 90 hari (Kaplan–Meier)",
        "sustained_abstinence": "Pulih berkelanjutan",
        "not_relapsed": "Tidak kambuh (dari yang pulih)",
        "not_relapsed_km": "Tidak kambuh 90 hari setelah pulih (Kaplan–Meier)",
        "target": "Target",
        "limits": "Batas {level}",
        "outside": "Di luar batas {level}",
        "inside": "Di dalam batas",
        "n_cases": "Kasus (n)",
        "expected_count": "Jumlah harapan (E)",
        "proportion": "Proporsi",
        "oe_ratio": "Teramati / harapan",
        "unadjusted": "Proporsi tanpa penyesuaian",
        "adjusted": "Disesuaikan dengan bauran kasus (teramati / harapan)",
        "widened": "batas diperlebar karena overdispersi ({method}; φ = {phi}, p = {p})",
        "not_widened": "batas eksak, tidak diperlebar (φ = {phi}, p = {p})",
        "multiplicative": "multiplikatif",
        "additive": "efek acak aditif",
        "hazard_ratio": "Rasio hazard",
        "odds_ratio": "Rasio odds",
        "log_scale": "skala log",
    },
}


def _text(lang: str) -> dict[str, str]:
    if lang not in LABELS:
        raise CaseworkError(
            f"The value for `lang` must be one of ['en', 'id'], but {lang!r} was passed."
        )
    return LABELS[lang]


def _axes(ax):
    import matplotlib.pyplot as plt

    return plt.gca() if ax is None else ax


def _empty(ax, t, title=None):
    ax.text(0.5, 0.5, t["empty"], ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise CaseworkError(
            f"{what} needs a table with columns {missing}; got {list(table.columns)}."
        )


def stage_funnel_plot(
    funnel: pd.DataFrame,
    *,
    group: str | None = None,
    ax=None,
    fig=None,
    lang: str = "en",
    stage_labels: dict[str, str] | None = None,
):
    """Bars of cases reaching each stage, with the conversion annotated.

    Parameters
    ----------
    funnel : DataFrame
        From :func:`casework_analytics.stages.stage_funnel`.
    group : str, optional
        A group column of ``funnel``: one panel per group (small multiples,
        shared y scale) on ``fig``; the ``All`` rows are drawn last.
    ax, fig : matplotlib Axes or Figure, optional
        Where to draw: ``ax`` for one panel, ``fig`` for small multiples.
    stage_labels : dict, optional
        Display label per stage code (e.g. ``model.labels_id``).

    Returns
    -------
    Axes (one panel) or Figure (small multiples).
    """
    import matplotlib.pyplot as plt

    _require(funnel, ["stage", "reached", "conversion"], "stage_funnel_plot")
    t = _text(lang)
    names = stage_labels or {}
    if group is None:
        ax = _axes(ax)
        _funnel_panel(ax, funnel, names, t)
        ax.set_title(t["funnel"])
        return ax
    groups = list(dict.fromkeys(funnel[group]))
    fig = fig or plt.figure(
        figsize=(3.4 * min(len(groups), 4), 3.6 * -(-len(groups) // 4)), layout="constrained"
    )
    axes = fig.subplots(-(-len(groups) // 4), min(len(groups), 4), sharey=True, squeeze=False)
    for panel, name in zip(axes.ravel(), groups, strict=False):
        _funnel_panel(panel, funnel[funnel[group] == name], names, t)
        panel.set_title(str(name))
    for panel in axes.ravel()[len(groups) :]:
        panel.set_visible(False)
    fig.suptitle(t["funnel"])
    return fig


def _funnel_panel(ax, rows, names, t):
    labels = [names.get(s, s) for s in rows["stage"]]
    x = np.arange(len(rows))
    bars = ax.bar(x, rows["reached"], color=STAGE_COLORS[: len(rows)] if len(rows) <= 7 else None)
    for bar, conv, i in zip(bars, rows["conversion"], range(len(rows)), strict=True):
        if i > 0 and pd.notna(conv):
            ax.annotate(
                f"{conv:.0%}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(t["reached"])


def exit_reasons_plot(exits: pd.DataFrame, *, group: str | None = None, ax=None, lang: str = "en"):
    """Horizontal stacked bars of exit shares per group, by exit type.

    Parameters
    ----------
    exits : DataFrame
        From :func:`casework_analytics.exits.exit_reasons`; the
        ``level == "type"`` rows are drawn.
    group : str, optional
        The group column; one bar per group (a single bar without).

    Returns
    -------
    Axes
    """
    _require(exits, ["level", "category", "share", "n_exits"], "exit_reasons_plot")
    t = _text(lang)
    ax = _axes(ax)
    types = exits[exits["level"] == "type"]
    labels = list(dict.fromkeys(types[group])) if group else ["All"]
    left = np.zeros(len(labels))
    for kind in ("planned", "unplanned", "administrative", "unknown"):
        rows = types[types["category"] == kind]
        share = (
            (rows.set_index(group)["share"].reindex(labels) if group else rows["share"])
            .fillna(0)
            .to_numpy(dtype=float)
        )
        ax.barh(np.arange(len(labels)), share, left=left, color=COLORS[kind], label=t[kind])
        left += share
    # Shares hidden by disclosure control: the rest of the bar, hatched.
    shares = pd.to_numeric(types["share"], errors="coerce")
    if group:
        has_hidden = shares.isna().groupby(types[group].to_numpy()).any().reindex(labels)
        has_hidden = has_hidden.fillna(False).to_numpy(dtype=bool)
    else:
        has_hidden = np.array([bool(shares.isna().any())])
    rest = np.where(has_hidden, np.clip(1 - left, 0, 1), 0)
    if rest.any():
        ax.barh(
            np.arange(len(labels)),
            rest,
            left=left,
            color="#FFFFFF",
            edgecolor="#999999",
            hatch="///",
            label=t["hidden"],
        )
    n = (
        types.drop_duplicates(group).set_index(group)["n_exits"].reindex(labels)
        if group
        else types["n_exits"].iloc[:1]
    )
    ax.set_yticks(
        np.arange(len(labels)),
        [f"{name} (n={int(k) if pd.notna(k) else '*'})" for name, k in zip(labels, n, strict=True)],
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(t["share"])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=5, fontsize=8)
    ax.set_title(t["exits"])
    return ax


def km_plot(
    survival: pd.DataFrame,
    *,
    group: str | None = None,
    ax=None,
    lang: str = "en",
    at_risk_ticks: int = 5,
    title: str | None = None,
):
    """Kaplan–Meier curves with confidence bands and a number-at-risk table.

    Parameters
    ----------
    survival : DataFrame
        From :func:`casework_analytics.survival.kaplan_meier` (or the rows
        of one outcome of :func:`casework_analytics.recovery.recovery_survival`).
    group : str, optional
        Group column; one curve per group.
    at_risk_ticks : int
        Number of x ticks at which the number at risk is shown, aligned
        under the axis.

    Returns
    -------
    Axes
        The at-risk numbers are text artists under the axis, in
        ``ax.at_risk_`` as ``{group: [numbers]}``, with ``ax.at_risk_times_``.
    """
    _require(survival, ["time_days", "at_risk", "survival", "ci_low", "ci_high"], "km_plot")
    t = _text(lang)
    ax = _axes(ax)
    if survival.empty:
        ax.at_risk_, ax.at_risk_times_ = {}, np.array([])
        return _empty(ax, t, title)
    groups = list(dict.fromkeys(survival[group])) if group else [None]
    end = float(survival["time_days"].max()) if len(survival) else 1.0
    ticks = np.linspace(0, end, at_risk_ticks)
    ax.at_risk_, ax.at_risk_times_ = {}, ticks
    palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
    for i, name in enumerate(groups):
        rows = survival if name is None else survival[survival[group] == name]
        time = np.concatenate([[0.0], rows["time_days"].to_numpy(dtype=float)])
        surv = np.concatenate([[1.0], rows["survival"].to_numpy(dtype=float)])
        low = np.concatenate([[1.0], rows["ci_low"].to_numpy(dtype=float)])
        high = np.concatenate([[1.0], rows["ci_high"].to_numpy(dtype=float)])
        color = palette[i % len(palette)]
        ax.step(time, surv, where="post", color=color, label=None if name is None else str(name))
        ax.fill_between(time, low, high, step="post", color=color, alpha=0.15, linewidth=0)
        numbers = at_risk_table(rows, ticks)["at_risk"].tolist()
        ax.at_risk_[name if name is not None else "All"] = numbers
        for tick, number in zip(ticks, numbers, strict=True):
            ax.annotate(
                str(number),
                (tick, 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -32 - 11 * i),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color=color,
            )
    ax.annotate(
        t["at_risk"],
        (0, 0),
        xycoords="axes fraction",
        xytext=(-10, -32),
        textcoords="offset points",
        ha="right",
        fontsize=7,
    )
    ax.set_xticks(ticks, [f"{x:.0f}" for x in ticks])
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(t["days"], labelpad=8 + 11 * len(groups))
    ax.set_ylabel(t["survival"])
    if title:
        ax.set_title(title)
    if group:
        ax.legend(fontsize=8)
    return ax


def cumulative_incidence_plot(cif: pd.DataFrame, *, ax=None, lang: str = "en"):
    """Stacked cumulative incidence of competing exits over time.

    Parameters
    ----------
    cif : DataFrame
        One group's rows of
        :func:`casework_analytics.exits.exit_cumulative_incidence`.

    Returns
    -------
    Axes
    """
    _require(cif, ["time_days", "cause", "cumulative_incidence"], "cumulative_incidence_plot")
    t = _text(lang)
    ax = _axes(ax)
    if cif.empty:
        return _empty(ax, t)
    wide = cif.pivot_table(
        index="time_days", columns="cause", values="cumulative_incidence", aggfunc="last"
    )
    order = [c for c in ("planned", "administrative", "unplanned", "unknown") if c in wide]
    order += [c for c in wide.columns if c not in order]
    time = np.concatenate([[0.0], wide.index.to_numpy(dtype=float)])
    values = [np.concatenate([[0.0], wide[c].ffill().fillna(0).to_numpy()]) for c in order]
    ax.stackplot(
        time,
        values,
        step="post",
        labels=[t.get(c, c) for c in order],
        colors=[COLORS.get(c, "#999999") for c in order],
    )
    ax.set_ylim(0, 1)
    ax.set_xlabel(t["days"])
    ax.set_ylabel(t["cumulative"])
    ax.legend(loc="upper left", fontsize=8)
    return ax


def swimmer_plot(
    progress: pd.DataFrame,
    weekly: pd.DataFrame | None = None,
    *,
    ax=None,
    lang: str = "en",
    max_clients: int = 40,
    stage_names=None,
):
    """One lane per client: stages as segments, screens as markers, the exit marked.

    Parameters
    ----------
    progress : DataFrame
        From :func:`casework_analytics.stages.stage_progress` (with its
        ``days_to_<stage>``/``days_in_<stage>`` columns).
    weekly : DataFrame, optional
        From :func:`casework_analytics.recovery.weekly_status`.
    max_clients : int
        With more cases, the ``max_clients`` with the longest follow-up are
        shown, and the title says so.

    Returns
    -------
    Axes
        ``ax.lanes_`` lists the case_ids drawn, top to bottom.
    """
    _require(progress, ["case_id", "status", "exit_reason", "intake_date"], "swimmer_plot")
    t = _text(lang)
    ax = _axes(ax)
    stages = [c[len("days_to_") :] for c in progress.columns if c.startswith("days_to_")]
    span = progress[[f"days_to_{s}" for s in stages]].astype("float64").to_numpy()
    span = span + progress[[f"days_in_{s}" for s in stages]].astype("float64").to_numpy()
    follow = np.nanmax(np.where(np.isnan(span), 0, span), axis=1)
    if weekly is not None and len(weekly):
        last_visit = weekly[weekly["status"] != "not_scheduled"].groupby("case_id")["day"].max()
        follow = np.maximum(follow, last_visit.reindex(progress["case_id"]).fillna(0).to_numpy())
    order = np.argsort(-follow, kind="stable")[:max_clients]
    shown = progress.iloc[order]
    lanes = np.arange(len(shown))
    names = stage_names or {}
    for j, stage in enumerate(stages):
        start = shown[f"days_to_{stage}"].astype("float64").to_numpy()
        width = shown[f"days_in_{stage}"].astype("float64").to_numpy()
        ok = ~np.isnan(start)
        ax.barh(
            lanes[ok],
            np.nan_to_num(width[ok]),
            left=start[ok],
            height=0.5,
            color=STAGE_COLORS[j % len(STAGE_COLORS)],
            label=names.get(stage, stage),
        )
    if weekly is not None and len(weekly):
        drawn = weekly[weekly["case_id"].isin(shown["case_id"])]
        lane_of = pd.Series(lanes, index=shown["case_id"].to_numpy())
        for status in ("negative", "positive", "missed", "unrecorded"):
            rows = drawn[drawn["status"] == status]
            # Screens sit just above their lane's stage bar, never on top of it.
            ax.scatter(
                rows["day"],
                lane_of.reindex(rows["case_id"]).to_numpy() - 0.42,
                s=8,
                marker="|" if status == "negative" else "o",
                color=COLORS[status],
                label=t[status],
                zorder=3,
            )
    closed = shown["status"].to_numpy() == "closed"
    end = follow[order]
    exit_day = (shown["closed_date"] - shown["intake_date"]).dt.days.to_numpy(dtype=float)
    ax.scatter(
        exit_day[closed], lanes[closed], marker="X", color="black", s=25, zorder=4, label=t["exit"]
    )
    for lane, day, reason in zip(
        lanes[closed], exit_day[closed], shown["exit_reason"].to_numpy()[closed], strict=True
    ):
        ax.annotate(
            str(reason), (day, lane), xytext=(4, -2), textcoords="offset points", fontsize=6
        )
    for lane, day in zip(lanes[~closed], end[~closed], strict=True):
        ax.annotate(
            "",
            xy=(day + 10, lane),
            xytext=(day, lane),
            arrowprops={"arrowstyle": "->", "color": "black"},
        )
    ax.set_yticks(lanes, shown["case_id"].astype(str).tolist(), fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel(t["days"])
    title = t["swimmer"]
    if len(progress) > len(shown):
        title += (
            " (" + t["showing"].format(n=len(shown), total=len(progress), how=t["longest"]) + ")"
        )
    ax.set_title(title)
    ax.legend(fontsize=6, loc="lower right", ncols=2)
    ax.lanes_ = shown["case_id"].tolist()
    return ax


def monitoring_heatmap(
    weekly: pd.DataFrame,
    *,
    ax=None,
    lang: str = "en",
    max_clients: int = 80,
    max_weeks: int | None = 26,
):
    """Clients × weeks since intake, each cell coloured by the weekly status.

    Parameters
    ----------
    weekly : DataFrame
        From :func:`casework_analytics.recovery.weekly_status`.
    max_clients : int
        At most this many clients (those with the most scheduled weeks first;
        the title says so).
    max_weeks : int, optional
        Weeks shown (26 = six months of monitoring); None for all.

    Returns
    -------
    Axes
        ``ax.matrix_`` holds the status codes drawn (rows = clients).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    _require(weekly, ["case_id", "week", "status"], "monitoring_heatmap")
    t = _text(lang)
    ax = _axes(ax)
    statuses = ["negative", "positive", "missed", "no_result", "unrecorded", "not_scheduled"]
    data = weekly if max_weeks is None else weekly[weekly["week"] < max_weeks]
    codes = pd.Categorical(data["status"], categories=statuses).codes
    matrix = pd.DataFrame(
        {"case_id": data["case_id"].to_numpy(), "week": data["week"].to_numpy(), "code": codes}
    ).pivot(index="case_id", columns="week", values="code")
    matrix = matrix.fillna(statuses.index("not_scheduled"))
    scheduled = (matrix != statuses.index("not_scheduled")).sum(axis=1)
    total = len(matrix)
    matrix = matrix.loc[scheduled.sort_values(ascending=False, kind="stable").index[:max_clients]]
    ax.imshow(
        matrix.to_numpy(),
        aspect="auto",
        interpolation="nearest",
        cmap=ListedColormap([COLORS[s] for s in statuses]),
        vmin=-0.5,
        vmax=len(statuses) - 0.5,
    )
    ax.set_xlabel(t["weeks"])
    ax.set_ylabel(t["client"])
    ax.set_yticks([])
    title = t["heatmap"]
    if total > len(matrix):
        title += " (" + t["showing"].format(n=len(matrix), total=total, how=t["longest"]) + ")"
    ax.set_title(title)
    ax.legend(
        handles=[Patch(color=COLORS[s], label=t[s]) for s in statuses],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    ax.matrix_ = matrix.to_numpy()
    return ax


def retention_triangle(
    outcomes: pd.DataFrame,
    cases: pd.DataFrame,
    as_of,
    *,
    ax=None,
    lang: str = "en",
    weeks: int = 26,
):
    """Share of clients still attending, by intake month × weeks since intake.

    A cell is the share of the month's monitored clients whose last
    attended visit (before any dropout) is at or after that week; cells
    whose week had not yet elapsed at ``as_of`` for every client of the
    month are masked. Row labels give the denominators.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`casework_analytics.recovery.recovery_outcomes`.
    cases : DataFrame
        ``cohort.cases`` (for intake dates).

    Returns
    -------
    Axes
        ``ax.table_`` holds the shares drawn (NaN = masked).
    """
    from .grouping import as_as_of

    t = _text(lang)
    ax = _axes(ax)
    as_of = as_as_of(as_of)
    frame = outcomes[outcomes["monitored"]].merge(cases[["case_id", "intake_date"]], on="case_id")
    month = frame["intake_date"].dt.to_period("M")
    week_grid = np.arange(weeks)
    kept = frame["retention_days"].astype("float64").fillna(-1).to_numpy()[:, None]
    retained = pd.DataFrame(kept >= 7 * week_grid[None, :], columns=week_grid)
    share = retained.groupby(month.to_numpy()).mean()
    counts = month.value_counts().reindex(share.index)
    latest = frame.groupby(month.to_numpy())["intake_date"].max().reindex(share.index)
    elapsed = ((as_of - latest).dt.days.to_numpy()[:, None] // 7) >= week_grid[None, :]
    table = share.where(elapsed)
    image = ax.imshow(
        table.to_numpy(dtype=float),
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_yticks(
        np.arange(len(table)),
        [f"{p} (n={n})" for p, n in zip(table.index, counts, strict=True)],
        fontsize=7,
    )
    ax.set_xlabel(t["weeks"])
    ax.set_ylabel(t["intake_month"])
    ax.set_title(t["triangle"])
    ax.figure.colorbar(image, ax=ax, label=t["retained"])
    ax.table_ = table
    return ax


#: Colours of the funnel plot: limit pairs as in FunnelPlotR, outliers in vermillion.
FUNNEL_COLORS = {"95": "#E69F00", "998": "#0072B2", "point": "#555555", "outlier": "#D55E00"}


def _number(x: float, digits: int = 2) -> str:
    return "–" if pd.isna(x) else f"{x:.{digits}g}"


def funnel_plot(table, *, ax=None, lang: str = "en", label_outliers: bool = True):
    """Funnel plot: each group's value against its size, inside control limits.

    Parameters
    ----------
    table : FunnelResult or DataFrame
        From :func:`casework_analytics.comparisons.funnel_table` (the result
        or its ``.table``), for one metric.
    label_outliers : bool
        Write the group name next to every group outside the outermost
        limits.

    Returns
    -------
    Axes

    Notes
    -----
    Proportions are drawn against the number of cases with a percent axis;
    O/E ratios against the expected count. The limits are smooth curves
    over a grid of sizes, computed with
    :func:`casework_analytics.comparisons.funnel_limits` from the table's
    target, kind, widening, φ and τ² (never read off the points). The
    title names the metric and says whether the comparison is adjusted for
    case mix and whether the limits were widened for overdispersion. Limit
    lines carry a ``gid`` (``"lower_95"``, ``"upper_998"``, ...), the target
    line ``"target"`` and the points ``"groups"``.
    """
    from matplotlib.ticker import PercentFormatter

    from .comparisons import funnel_limits, level_from_name
    from .grouping import group_key

    frame = getattr(table, "table", table)
    needed = ["metric", "n", "expected", "value", "target", "flag", "kind", "widening"]
    _require(frame, [*needed, "phi", "tau2", "dispersion_p"], "funnel_plot")
    if frame["metric"].nunique() != 1:
        raise CaseworkError(
            f"funnel_plot draws one metric; the table has {sorted(frame['metric'].unique())}. "
            "Select one first."
        )
    t = _text(lang)
    ax = _axes(ax)
    first = frame.iloc[0]
    kind, widening = first["kind"], first["widening"]
    names = [c[len("lower_") :] for c in frame.columns if c.startswith("lower_")]
    levels = [level_from_name(name) for name in names]
    x = frame["n" if kind == "proportion" else "expected"].to_numpy(dtype=float)
    if kind == "proportion":
        top = int(np.ceil(x.max() * 1.05))
        grid = (
            np.arange(1, top + 1) if top <= 2000 else np.unique(np.geomspace(1, top, 800).round())
        )
    else:
        grid = np.geomspace(min(x.min() * 0.8, 1.0), x.max() * 1.05, 400)
    curves = funnel_limits(
        float(first["target"]),
        grid,
        kind=kind,
        levels=levels,
        overdispersion=widening,
        phi=float(first["phi"]) if pd.notna(first["phi"]) else 1.0,
        tau2=float(first["tau2"]),
    )
    for name, level in zip(names, levels, strict=True):
        color = FUNNEL_COLORS.get(name, "#999999")
        for side in ("lower", "upper"):
            ax.plot(
                grid,
                curves[f"{side}_{name}"],
                color=color,
                linewidth=1,
                linestyle="--" if name == names[0] else "-",
                label=t["limits"].format(level=f"{level * 100:g}%") if side == "lower" else None,
                gid=f"{side}_{name}",
            )
    ax.axhline(first["target"], color="black", linewidth=1, label=t["target"], gid="target")
    outside = frame["flag"].to_numpy() != "within"
    ax.scatter(
        x,
        frame["value"],
        s=18,
        zorder=3,
        c=np.where(outside, FUNNEL_COLORS["outlier"], FUNNEL_COLORS["point"]),
        gid="groups",
    )
    if label_outliers and outside.any():
        groups = list(frame.columns[: list(frame.columns).index("metric")])
        labels = group_key(frame, groups) if groups else pd.Series("", index=frame.index)
        for xi, yi, text in zip(x[outside], frame["value"][outside], labels[outside], strict=True):
            ax.annotate(str(text), (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7)
    p = _number(first["dispersion_p"])
    phi = _number(first["phi"], 3)
    limits_note = (
        t["widened"].format(method=t[widening], phi=phi, p=p)
        if widening != "none"
        else t["not_widened"].format(phi=phi, p=p)
    )
    adjusted = t["adjusted"] if kind == "ratio" else t["unadjusted"]
    metric = t.get(first["metric"], first["metric"])
    ax.set_title(f"{metric}\n{adjusted}; {limits_note}", fontsize=9)
    ax.set_xlabel(t["n_cases"] if kind == "proportion" else t["expected_count"])
    ax.set_ylabel(t["proportion"] if kind == "proportion" else t["oe_ratio"])
    if kind == "proportion":
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, 1.02)
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlim(0, grid.max())
    ax.legend(fontsize=7, loc="upper right")
    return ax


def forest_plot(
    table: pd.DataFrame,
    *,
    estimate: str = "hazard_ratio",
    low: str = "ci_low",
    high: str = "ci_high",
    label: str = "term",
    ax=None,
    lang: str = "en",
    log: bool | None = None,
):
    """Forest plot: one row per term, its estimate and interval, and the null line.

    Parameters
    ----------
    table : DataFrame
        For example from :func:`casework_analytics.comparisons.cox_model`
        (hazard ratios), the ``.table`` of
        :func:`casework_analytics.comparisons.case_mix_model` (odds ratios,
        ``estimate="odds_ratio"``), or any table of group estimates.
    estimate, low, high, label : str
        Columns of the estimate, the interval and the row label. Rows are
        drawn top to bottom in table order.
    log : bool, optional
        Log x axis with the null line at 1; default: True when ``estimate``
        ends in ``ratio``, else a linear axis with the null line at 0.

    Returns
    -------
    Axes
        The intervals are a line collection (``gid="intervals"``), the
        estimates a line of markers (``gid="estimates"``) and the null line
        ``gid="reference"``.
    """
    _require(table, [estimate, low, high, label], "forest_plot")
    t = _text(lang)
    ax = _axes(ax)
    if table.empty:
        return _empty(ax, t)
    log = estimate.endswith("ratio") if log is None else log
    values = table[[estimate, low, high]].to_numpy(dtype=float)
    if log and (values[~np.isnan(values)] <= 0).any():
        raise CaseworkError(
            f"forest_plot with log=True needs positive `{estimate}`, `{low}` and `{high}`; "
            "pass log=False for estimates on a difference scale."
        )
    rows = np.arange(len(table))
    ax.hlines(rows, values[:, 1], values[:, 2], color="black", linewidth=1.2, gid="intervals")
    ax.plot(values[:, 0], rows, "s", color="black", markersize=5, gid="estimates")
    ax.axvline(1.0 if log else 0.0, color="#999999", linestyle="--", gid="reference")
    if log:
        from matplotlib.ticker import FixedLocator, NullFormatter, StrMethodFormatter

        ax.set_xscale("log")
        shown = values[np.isfinite(values) & (values > 0)]
        nice = np.array([0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 20])
        if len(shown):
            nice = nice[(nice >= shown.min() / 1.5) & (nice <= shown.max() * 1.5)]
        ax.xaxis.set_major_locator(FixedLocator(np.union1d(nice, [1.0])))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(rows, table[label].astype(str).tolist(), fontsize=8)
    ax.set_ylim(len(table) - 0.5, -0.5)
    name = t.get(estimate, estimate)
    ax.set_xlabel(f"{name} ({t['log_scale']})" if log else name)
    return ax


def sensitivity_plot(table: pd.DataFrame, *, ax=None, lang: str = "en"):
    """Each headline under both missing-screen conventions, joined by a line.

    Parameters
    ----------
    table : DataFrame
        From :func:`casework_analytics.recovery.recovery_sensitivity`,
        without groups (or the rows of one group).

    Returns
    -------
    Axes
        One row per metric, top to bottom in table order: a point for
        ``estimate_positive`` and one for ``estimate_ignore`` (percent axis);
        the gap between them is how much the headline rests on the
        convention.
    """
    from matplotlib.ticker import PercentFormatter

    _require(table, ["metric", "estimate_positive", "estimate_ignore"], "sensitivity_plot")
    t = _text(lang)
    ax = _axes(ax)
    rows = np.arange(len(table))
    positive = table["estimate_positive"].to_numpy(dtype=float)
    ignore = table["estimate_ignore"].to_numpy(dtype=float)
    ax.hlines(rows, np.fmin(positive, ignore), np.fmax(positive, ignore), color="#999999", lw=2)
    ax.scatter(positive, rows, color=COLORS["positive"], zorder=3, label=t["missing_positive"])
    ax.scatter(ignore, rows, color=COLORS["negative"], zorder=3, label=t["missing_ignore"])
    ax.set_yticks(rows, [t.get(m, m) for m in table["metric"]])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(t["estimate"])
    ax.set_title(t["sensitivity"])
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), ncols=2, fontsize=8, frameon=False)
    return ax


def trend_plot(trend: pd.DataFrame, *, ax=None, lang: str = "en"):
    """A metric by term, with Wilson 95% intervals and the trend test in the title.

    Parameters
    ----------
    trend : DataFrame
        From :func:`casework_analytics.evaluation.term_trend` (one metric) or
        :func:`casework_analytics.comparisons.trend_table`.

    Returns
    -------
    Axes
        Terms left to right in the table's order; percent y axis.
    """
    from matplotlib.ticker import PercentFormatter

    _require(trend, ["term", "share", "ci_low", "ci_high", "trend_p_value"], "trend_plot")
    if "metric" in trend and trend["metric"].nunique() > 1:
        raise CaseworkError(
            "trend_plot draws one metric; filter the table first, e.g. "
            "trend[trend['metric'] == 'retention']."
        )
    t = _text(lang)
    ax = _axes(ax)
    x = np.arange(len(trend))
    share = trend["share"].to_numpy(dtype=float)
    below = share - trend["ci_low"].to_numpy(dtype=float)
    above = trend["ci_high"].to_numpy(dtype=float) - share
    ax.errorbar(x, share, yerr=[below, above], fmt="o-", color="#0072B2", capsize=4)
    ax.set_xticks(x, trend["term"].astype(str).tolist())
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(t["term"])
    metric = trend["metric"].iloc[0] if "metric" in trend and len(trend) else ""
    p_value = trend["trend_p_value"].iloc[0] if len(trend) else np.nan
    ax.set_title(
        f"{t.get(metric, metric)}\n" + t["trend_test"].format(p=f"{p_value:.2g}"), fontsize=9
    )
    return ax
