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

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .labels import catalogue
from .survival import at_risk_table

__all__ = [
    "COLORS",
    "STAGE_COLORS",
    "ALL_COLOR",
    "GROUP_PALETTE",
    "HATCH",
    "MAX_OVERLAID",
    "stage_funnel_plot",
    "exit_reasons_plot",
    "exit_reason_bars",
    "km_plot",
    "km_panels",
    "cumulative_incidence_plot",
    "swimmer_plot",
    "monitoring_heatmap",
    "retention_triangle",
    "FUNNEL_COLORS",
    "funnel_plot",
    "forest_plot",
    "sensitivity_plot",
    "trend_plot",
]

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .comparisons import FunnelResult

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


def _text(lang: str) -> dict[str, str]:
    return catalogue(lang)


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


#: The whole cohort is drawn in this colour in every chart; groups take the palette.
ALL_COLOR = "#444444"
GROUP_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
HATCH = {"facecolor": "#FFFFFF", "edgecolor": "#777777", "hatch": "///"}
#: Curves of more groups than this are drawn as small multiples.
MAX_OVERLAID = 4


def _percent_axis(axis) -> None:
    from matplotlib.ticker import MultipleLocator, PercentFormatter

    axis.set_major_locator(MultipleLocator(0.25))
    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def _day_ticks(ax, end: float) -> None:
    """Ticks at whole weeks, months or quarters, whatever fits ``end`` days."""
    from matplotlib.ticker import MultipleLocator

    step = next(s for s in (7, 14, 30, 60, 90, 180, 365, 730) if end / s <= 8)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.set_xlim(0, max(end, step))


def _legend_below(ax, **options):
    """The legend under the axis label, a fixed distance below the axis whatever its height."""
    from matplotlib.transforms import offset_copy

    below = offset_copy(ax.transAxes, fig=ax.figure, y=-34, units="points")
    return ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, 0),
        bbox_transform=below,
        fontsize=8,
        frameon=False,
        **options,
    )


def _group_label(name, t) -> str:
    if name == "All":
        return t["all_group"]
    if name == "Other":
        return t["other_group"]
    return str(name)


def _group_colors(groups) -> dict:
    """``All`` in :data:`ALL_COLOR`, the other groups in palette order."""
    others = [g for g in groups if g != "All"]
    colors = {g: GROUP_PALETTE[i % len(GROUP_PALETTE)] for i, g in enumerate(others)}
    colors["All"] = ALL_COLOR
    return colors


def _numeric(values) -> np.ndarray:
    """Values as floats; hidden markers and missing values become NaN."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)


def stage_funnel_plot(
    funnel: pd.DataFrame,
    *,
    group: str | None = None,
    ax: Axes | None = None,
    fig: Figure | None = None,
    lang: str = "en",
    stage_labels: dict[str, str] | None = None,
) -> Axes | Figure:
    """Bars of the share of cases reaching each stage, with the conversion annotated.

    Parameters
    ----------
    funnel : DataFrame
        From :func:`casework_analytics.stages.stage_funnel` (published or
        not: hidden values are drawn as hatched bars).
    group : str, optional
        A group column of ``funnel``: one panel per group (small multiples
        on one percent scale, so groups of any size compare) on ``fig``.
    ax, fig : matplotlib Axes or Figure, optional
        Where to draw: ``ax`` for one panel, ``fig`` for small multiples.
    lang : {"en", "id"}
    stage_labels : dict, optional
        Display label per stage code (e.g. ``model.labels_id``).

    Returns
    -------
    Axes (one panel) or Figure (small multiples)
        Bars are the share of the group's cases that reached each stage
        (``share_reached``, horizontal, first stage on top); the label
        beside a bar ("→ 77%") is the conversion from the previous stage.
        A hidden share is a hatched bar over the whole axis marked hidden.
    """
    import matplotlib.pyplot as plt

    _require(funnel, ["stage", "share_reached", "conversion"], "stage_funnel_plot")
    t = _text(lang)
    names = stage_labels or {}
    if group is None:
        ax = _axes(ax)
        _funnel_panel(ax, funnel, names, t)
        ax.set_title(t["funnel"])
        return ax
    groups = list(dict.fromkeys(funnel[group]))
    columns = min(len(groups), 4)
    rows = -(-len(groups) // 4)
    fig = fig or plt.figure(figsize=(3.2 * columns, 3.3 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False)
    for panel, name in zip(axes.ravel(), groups, strict=False):
        _funnel_panel(panel, funnel[funnel[group] == name], names, t)
        panel.set_title(_group_label(name, t), fontsize=9)
    for panel in axes.ravel()[len(groups) :]:
        panel.set_visible(False)
    fig.suptitle(t["funnel"])
    return fig


def _funnel_panel(ax, rows, names, t):
    labels = [textwrap.fill(str(names.get(s, s)), 18) for s in rows["stage"]]
    y = np.arange(len(rows))
    share = _numeric(rows["share_reached"])
    conversion = _numeric(rows["conversion"])
    shown = ~np.isnan(share)
    colors = np.array(STAGE_COLORS[: len(rows)] if len(rows) <= 7 else ["#969696"] * len(rows))
    ax.barh(y[shown], share[shown], color=colors[shown], gid="reached")
    if (~shown).any():
        ax.barh(y[~shown], np.ones((~shown).sum()), gid="hidden", **HATCH, label=t["hidden"])
    for i in np.flatnonzero(shown & ~np.isnan(conversion)):
        if i == 0:
            continue
        ax.annotate(
            t["of_previous"].format(share=f"{conversion[i]:.0%}"),
            (share[i], i),
            ha="left",
            va="center",
            fontsize=8,
            xytext=(3, 0),
            textcoords="offset points",
        )
    ax.set_xlim(0, 1.3)  # room for the conversion labels
    _percent_axis(ax.xaxis)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(t["reached"])


def exit_reasons_plot(
    exits: pd.DataFrame, *, group: str | None = None, ax: Axes | None = None, lang: str = "en"
) -> Axes:
    """Horizontal stacked bars of exit shares per group, by exit type.

    Parameters
    ----------
    exits : DataFrame
        From :func:`casework_analytics.exits.exit_reasons`; the
        ``level == "type"`` rows are drawn.
    group : str, optional
        The group column; one bar per group (a single bar without).
    lang : {"en", "id"}

    Returns
    -------
    Axes
        Shares hidden by disclosure control are the hatched rest of a bar.
        The legend sits below the axis, clear of bars and titles.
    """
    _require(exits, ["level", "category", "share", "n_exits"], "exit_reasons_plot")
    t = _text(lang)
    ax = _axes(ax)
    types = exits[exits["level"] == "type"]
    labels = list(dict.fromkeys(types[group])) if group else ["All"]
    left = np.zeros(len(labels))
    for kind in ("planned", "unplanned", "administrative", "unknown"):
        rows = types[types["category"] == kind]
        share = _numeric(rows.set_index(group)["share"].reindex(labels) if group else rows["share"])
        share = np.nan_to_num(share)
        ax.barh(np.arange(len(labels)), share, left=left, color=COLORS[kind], label=t[kind])
        left += share
    shares = _numeric(types["share"])
    if group:
        has_hidden = pd.Series(np.isnan(shares)).groupby(types[group].to_numpy()).any()
        has_hidden = has_hidden.reindex(labels).fillna(False).to_numpy(dtype=bool)
    else:
        has_hidden = np.array([bool(np.isnan(shares).any())])
    rest = np.where(has_hidden, np.clip(1 - left, 0, 1), 0)
    if rest.any():
        ax.barh(np.arange(len(labels)), rest, left=left, label=t["hidden"], **HATCH)
    n = (
        types.drop_duplicates(group).set_index(group)["n_exits"].reindex(labels)
        if group
        else types["n_exits"].iloc[:1]
    )
    n = _numeric(n)
    ax.set_yticks(
        np.arange(len(labels)),
        [
            f"{_group_label(name, t)} (n={int(k) if not np.isnan(k) else t['hidden_value']})"
            for name, k in zip(labels, n, strict=True)
        ],
    )
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(t["share_of_closed"])
    _legend_below(ax, ncols=5)
    ax.set_title(t["types_title"])
    return ax


def exit_reason_bars(exits: pd.DataFrame, *, ax: Axes | None = None, lang: str = "en") -> Axes:
    """One bar per exit reason of the whole cohort, coloured by its exit type.

    Parameters
    ----------
    exits : DataFrame
        From :func:`casework_analytics.exits.exit_reasons`; the
        ``level == "reason"`` rows of the whole cohort (``All``, or the only
        group) are drawn, largest first; reasons with no exit are left out.
    lang : {"en", "id"}
        Reasons are labelled with the taxonomy's English or Indonesian label.

    Returns
    -------
    Axes
        Hidden shares are hatched bars marked hidden.
    """
    _require(exits, ["level", "category", "share", "exit_type"], "exit_reason_bars")
    t = _text(lang)
    ax = _axes(ax)
    reasons = exits[exits["level"] == "reason"]
    first_cols = [c for c in exits.columns[: list(exits.columns).index("level")]]
    if first_cols:
        reasons = reasons[(reasons[first_cols] == "All").all(axis=1)]
    share = _numeric(reasons["share"])
    keep = np.isnan(share) | (share > 0)
    reasons, share = reasons[keep], share[keep]
    order = np.argsort(-np.nan_to_num(share, nan=-1), kind="stable")
    reasons, share = reasons.iloc[order], share[order]
    label = "label_id" if lang == "id" else "label_en"
    y = np.arange(len(reasons))
    hidden = np.isnan(share)
    colors = [COLORS.get(k, "#999999") for k in reasons["exit_type"]]
    ax.barh(y[~hidden], share[~hidden], color=np.array(colors, dtype=object)[~hidden])
    if hidden.any():
        top = np.nanmax(share) if (~hidden).any() else 1
        ax.barh(y[hidden], np.full(hidden.sum(), top), label=t["hidden"], **HATCH)
    ax.set_yticks(y, reasons[label].astype(str).tolist(), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(0.05, np.nanmax(share) * 1.1) if (~hidden).any() else 1)
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(t["share_of_closed"])
    from matplotlib.patches import Patch

    handles = [
        Patch(color=COLORS[k], label=t[k]) for k in ("planned", "unplanned", "administrative")
    ]
    if hidden.any():
        handles.append(Patch(label=t["hidden"], **HATCH))
    _legend_below(ax, handles=handles, ncols=4)
    ax.set_title(t["reasons_title"])
    return ax


def km_plot(
    survival: pd.DataFrame,
    *,
    group: str | None = None,
    ax: Axes | None = None,
    lang: str = "en",
    at_risk_times: Sequence[float] | None = None,
    title: str | None = None,
    end: float | None = None,
    rounded: bool = False,
) -> Axes:
    """Kaplan–Meier curves with confidence bands and the numbers still followed.

    Parameters
    ----------
    survival : DataFrame
        One outcome's curve(s): from
        :func:`casework_analytics.survival.kaplan_meier`, the rows of one
        outcome of :func:`casework_analytics.recovery.recovery_survival`, or
        a published (coarsened) curve.
    group : str, optional
        Group column; one curve per group, ``All`` always in the same dark
        grey. For more than :data:`MAX_OVERLAID` groups use
        :func:`km_panels`.
    at_risk_times : sequence of float, optional
        Days at which the number at risk is printed under the axis, one row
        per curve labelled with its group (default: about five round days).
    title : str, optional
    end : float, optional
        Last day of the axis (default: the last time of the table).
    rounded : bool
        A published (coarsened) curve: the estimate and its interval are
        drawn as points at the grid days, joined by a dotted line, and the
        rounded numbers at risk are printed with ``≈``.

    Returns
    -------
    Axes
        The survival axis is in percent. Numbers at risk are text artists
        with ``gid`` ``"at_risk"``; each curve's line has its group as label.

    Raises
    ------
    CaseworkError
        If the table holds several outcomes (filter on ``outcome`` first).
    """

    _require(survival, ["time_days", "at_risk", "survival", "ci_low", "ci_high"], "km_plot")
    if "outcome" in survival and survival["outcome"].nunique() > 1:
        raise CaseworkError(
            "km_plot draws one outcome, but the table's `outcome` column holds "
            f"{sorted(survival['outcome'].unique())}; filter it first, e.g. "
            "survival[survival['outcome'] == 'dropout']."
        )
    t = _text(lang)
    ax = _axes(ax)
    if survival.empty:
        return _empty(ax, t, title)
    groups = list(dict.fromkeys(survival[group])) if group else [None]
    if len(groups) > MAX_OVERLAID:
        raise CaseworkError(
            f"km_plot overlays at most {MAX_OVERLAID} curves; the table has {len(groups)} "
            "groups. Draw them with km_panels (small multiples)."
        )
    end = float(survival["time_days"].max()) if end is None else float(end)
    _day_ticks(ax, end)
    ticks = ax.get_xticks()
    if rounded and at_risk_times is None:  # only the published grid days are known
        at_risk_times = np.unique(survival["time_days"].to_numpy(dtype=float))
        if len(at_risk_times) <= 12:
            ax.set_xticks(at_risk_times, [f"{d:.0f}" for d in at_risk_times])
    times = np.asarray(
        at_risk_times if at_risk_times is not None else ticks[(ticks >= 0) & (ticks <= end)],
        dtype=float,
    )
    colors = _group_colors([g for g in groups if g is not None])
    for i, name in enumerate(groups):
        rows = survival if name is None else survival[survival[group] == name]
        color = ALL_COLOR if name is None else colors[name]
        label = _group_label(name, t) if name is not None else None
        if rounded:
            _draw_points(ax, rows, color, label)
        else:
            _draw_curve(ax, rows, color, label)
        if rounded:  # the published number still followed after each grid day
            numbers = rows.groupby("time_days")["at_risk"].last().reindex(times)
            numbers = [0 if pd.isna(n) else int(n) for n in numbers]
        else:
            numbers = at_risk_table(rows.assign(events=0, censored=0), times)["at_risk"]
        prefix = "≈" if rounded else ""
        for tick, number in zip(times, numbers, strict=True):
            ax.annotate(
                f"{prefix}{number}" if number else "",
                (tick, 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -30 - 11 * i),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color=color,
                gid="at_risk",
            )
        ax.annotate(
            _group_label(name, t) if name is not None else t["at_risk"],
            (0, 0),
            xycoords="axes fraction",
            xytext=(-8, -30 - 11 * i),
            textcoords="offset points",
            ha="right",
            fontsize=7,
            color=color,
        )
    ax.set_ylim(0, 1.02)
    _percent_axis(ax.yaxis)
    ax.set_xlabel(
        t["days"] + (f" · {t['at_risk_rounded']}" if rounded else ""),
        labelpad=10 + 11 * len(groups),
    )
    ax.set_ylabel(t["survival"])
    if title:
        ax.set_title(title)
    if group:
        ax.legend(fontsize=8, loc="lower left", frameon=False)
    return ax


def _draw_curve(ax, rows, color, label, *, band: bool = True, **style):
    time = np.concatenate([[0.0], rows["time_days"].to_numpy(dtype=float)])
    surv = np.concatenate([[1.0], _numeric(rows["survival"])])
    ax.step(time, surv, where="post", color=color, label=label, **style)
    if band:
        low = np.concatenate([[1.0], _numeric(rows["ci_low"])])
        high = np.concatenate([[1.0], _numeric(rows["ci_high"])])
        ax.fill_between(time, low, high, step="post", color=color, alpha=0.15, linewidth=0)


def _draw_points(ax, rows, color, label):
    """A published (coarsened) curve: its estimate and interval at the grid days only,
    joined by a thin line, since nothing is known about the steps in between."""
    time = np.concatenate([[0.0], rows["time_days"].to_numpy(dtype=float)])
    surv = np.concatenate([[1.0], _numeric(rows["survival"])])
    low = np.concatenate([[1.0], _numeric(rows["ci_low"])])
    high = np.concatenate([[1.0], _numeric(rows["ci_high"])])
    ax.plot(time, surv, color=color, linewidth=0.8, linestyle=":")
    ax.errorbar(
        time,
        surv,
        yerr=[surv - low, high - surv],
        fmt="o",
        color=color,
        markersize=4,
        capsize=2,
        label=label,
    )


def km_panels(
    survival: pd.DataFrame,
    *,
    group: str,
    fig: Figure | None = None,
    lang: str = "en",
    title: str | None = None,
    end: float | None = None,
    rounded: bool = False,
) -> Figure:
    """Small multiples: one panel per group, the whole cohort's curve in grey behind.

    Parameters
    ----------
    survival : DataFrame
        One outcome's curves by group, including the ``All`` rows.
    group : str
        The group column.
    fig : Figure, optional
    title, end, rounded
        As in :func:`km_plot`.

    Returns
    -------
    Figure
    """
    import matplotlib.pyplot as plt

    _require(survival, ["time_days", "survival", "ci_low", "ci_high", group], "km_panels")
    t = _text(lang)
    groups = [g for g in dict.fromkeys(survival[group]) if g != "All"]
    whole = survival[survival[group] == "All"]
    columns = min(max(len(groups), 1), 4)
    rows = max(-(-len(groups) // 4), 1)
    fig = fig or plt.figure(figsize=(3.2 * columns, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    end = float(survival["time_days"].max()) if end is None else float(end)
    colors = _group_colors(groups)
    for panel, name in zip(axes.ravel(), groups, strict=False):
        if len(whole):
            _draw_curve(panel, whole, "#BBBBBB", t["all_group"], band=False)
        _draw_curve(panel, survival[survival[group] == name], colors[name], _group_label(name, t))
        panel.set_title(_group_label(name, t), fontsize=9)
        panel.set_ylim(0, 1.02)
        _percent_axis(panel.yaxis)
        _day_ticks(panel, end)
    for panel in axes.ravel()[len(groups) :]:
        panel.set_visible(False)
    fig.supxlabel(t["days"], fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def cumulative_incidence_plot(
    cif: pd.DataFrame,
    *,
    ax: Axes | None = None,
    lang: str = "en",
    end: float | None = None,
    coarse: bool = False,
) -> Axes:
    """Stacked cumulative incidence of competing exits over time.

    Parameters
    ----------
    cif : DataFrame
        One group's rows of
        :func:`casework_analytics.exits.exit_cumulative_incidence`
        (published or not).
    end : float, optional
        Last day of the axis, to match other curves (default: the last time).
    coarse : bool
        A published (coarsened) table: stacked bars at its grid days
        ("ended by day t"), since nothing is known between them.

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
    last = float(wide.index.max())
    end = last if end is None else float(end)
    labels = [" + ".join(t.get(part, part) for part in str(c).split(" + ")) for c in order]
    if coarse:
        days = wide.index.to_numpy(dtype=float)
        step = np.diff(np.concatenate([[0.0], days])).min() if len(days) else 1.0
        width = min(0.6 * step, 0.06 * max(end, last))
        bottom = np.zeros(len(days))
        for cause, label in zip(order, labels, strict=True):
            height = np.nan_to_num(wide[cause].ffill().to_numpy(dtype=float))
            ax.bar(
                days,
                height,
                width=width,
                bottom=bottom,
                label=label,
                color=COLORS.get(cause, "#BBBBBB"),
            )
            bottom += height
        ax.set_xlim(0, max(end, last) + width)
        ax.set_ylim(0, 1)
        _percent_axis(ax.yaxis)
        ax.set_xticks(days, [f"{d:.0f}" for d in days])
        ax.set_xlabel(t["days"])
        ax.set_ylabel(t["cumulative"])
        _legend_below(ax, ncols=3)
        return ax
    time = np.concatenate([[0.0], wide.index.to_numpy(dtype=float), [max(end, last)]])
    values = [
        np.concatenate([[0.0], wide[c].ffill().fillna(0).to_numpy(), [wide[c].ffill().iloc[-1]]])
        for c in order
    ]
    ax.stackplot(
        time,
        np.nan_to_num(values),
        step="post",
        labels=labels,
        colors=[COLORS.get(c, "#BBBBBB") for c in order],
    )
    ax.set_ylim(0, 1)
    _percent_axis(ax.yaxis)
    _day_ticks(ax, end)
    ax.set_xlabel(t["days"])
    ax.set_ylabel(t["cumulative"])
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax


def swimmer_plot(
    progress: pd.DataFrame,
    weekly: pd.DataFrame | None = None,
    *,
    ax: Axes | None = None,
    lang: str = "en",
    max_clients: int = 40,
    stage_names: dict[str, str] | None = None,
) -> Axes:
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
        One lane per client drawn, labelled with its ``case_id`` (top to
        bottom: the longest follow-up first).
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
    from .closures import exit_taxonomy

    taxonomy = exit_taxonomy().set_index("code")[f"label_{lang}"]
    reasons = shown["exit_reason"].map(taxonomy).fillna(shown["exit_reason"]).to_numpy()
    for lane, day, reason in zip(lanes[closed], exit_day[closed], reasons[closed], strict=True):
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
    return ax


def monitoring_heatmap(
    weekly: pd.DataFrame,
    *,
    ax: Axes | None = None,
    lang: str = "en",
    max_clients: int = 80,
    max_weeks: int | None = 26,
) -> Axes:
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
        The image's cells are the status codes (rows = clients, columns =
        weeks), in the order of the legend.
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
    return ax


def retention_triangle(triangle: pd.DataFrame, *, ax: Axes | None = None, lang: str = "en") -> Axes:
    """Heat map of the share still attending, by intake month × weeks since intake.

    Parameters
    ----------
    triangle : DataFrame
        From :func:`casework_analytics.recovery.retention_by_intake_month`.

    Returns
    -------
    Axes
        Masked (not yet elapsed) cells are blank; row labels give the
        denominators.
    """
    _require(triangle, ["intake_month", "week", "n", "share"], "retention_triangle")
    t = _text(lang)
    ax = _axes(ax)
    wide = triangle.pivot(index="intake_month", columns="week", values="share")
    n = triangle.drop_duplicates("intake_month").set_index("intake_month")["n"].reindex(wide.index)
    image = ax.imshow(
        wide.to_numpy(dtype=float),
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    ax.set_yticks(
        np.arange(len(wide)),
        [f"{p} (n={k})" for p, k in zip(wide.index, n, strict=True)],
        fontsize=7,
    )
    ax.set_xlabel(t["weeks"])
    ax.set_ylabel(t["intake_month"])
    ax.set_title(t["triangle"])
    ax.figure.colorbar(image, ax=ax, label=t["retained"])
    return ax


#: Colours of the funnel plot: limit pairs as in FunnelPlotR, outliers in vermillion.
FUNNEL_COLORS = {"95": "#E69F00", "998": "#0072B2", "point": "#555555", "outlier": "#D55E00"}


def _number(x: float, digits: int = 2) -> str:
    return "–" if pd.isna(x) else f"{x:.{digits}g}"


def funnel_plot(
    table: FunnelResult | pd.DataFrame,
    *,
    ax: Axes | None = None,
    lang: str = "en",
    label_outliers: bool = True,
) -> Axes:
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
    case mix and whether the limits were widened for overdispersion (or,
    where the groups vary more than chance but ``"auto"`` had fewer than
    :data:`~casework_analytics.comparisons.MIN_GROUPS_TO_WIDEN` groups to
    estimate it from, says so). Limit
    lines carry a ``gid`` (``"lower_95"``, ``"upper_998"``, ...), the target
    line ``"target"`` and the points ``"groups"``.
    """
    from matplotlib.ticker import PercentFormatter

    from .comparisons import MIN_GROUPS_TO_WIDEN, funnel_limits, level_from_name
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
    overdispersed = str(first.get("overdispersed", "")).lower() == "true"
    if widening != "none":
        limits_note = t["widened"].format(method=t[widening], phi=phi, p=p)
    elif (
        overdispersed
        and getattr(table, "overdispersion", "auto") == "auto"
        and len(frame) < MIN_GROUPS_TO_WIDEN
    ):
        limits_note = t["too_few_to_widen"].format(
            phi=phi, p=p, n=len(frame), needed=MIN_GROUPS_TO_WIDEN
        )
    else:
        limits_note = t["not_widened"].format(phi=phi, p=p)
    adjusted = t["adjusted"] if kind == "ratio" else t["unadjusted"]
    metric = t.get(first["metric"], first["metric"])
    ax.set_title(metric + "\n" + textwrap.fill(f"{adjusted}; {limits_note}", 58), fontsize=9)
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
    ax: Axes | None = None,
    lang: str = "en",
    log: bool | None = None,
) -> Axes:
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


def sensitivity_plot(table: pd.DataFrame, *, ax: Axes | None = None, lang: str = "en") -> Axes:
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


def trend_plot(trend: pd.DataFrame, *, ax: Axes | None = None, lang: str = "en") -> Axes:
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
