"""A curious reader with a spreadsheet, attacking one published `summary` folder.

Written from the published files alone and sharing no code with the package:
it knows the publishing rules (docs/privacy.md) and differences rows, tables
and curves. Each attack returns findings: counts of people from 1 to
``threshold - 1`` that it worked out (or pinned within ±2) although they are
not shown. A published run passes when every attack finds nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HIDDEN = "*"
ALL = "All"

#: Per table: the columns that name a line (besides the group) and its counts.
LINES = {
    "stage_funnel": (["stage"], ["n_cases", "reached", "completed", "in_stage"]),
    "exits": (["level", "category"], ["n", "n_exits", "n_open"]),
    "length_of_stay": ([], ["n_cases", "n_closed", "n_open", "n_under_90_days"]),
    "survival_summary": (["outcome"], ["n", "events", "n_excluded"]),
    "recovery_headline": (["metric"], ["numerator", "denominator"]),
    "recovery_sensitivity": (
        ["metric"],
        ["numerator_positive", "numerator_ignore", "denominator_positive", "denominator_ignore"],
    ),
}


def read(folder: Path) -> dict[str, pd.DataFrame]:
    """Every published CSV as text, so that ``*`` stays ``*``."""
    return {
        path.stem: pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in sorted(Path(folder).glob("*.csv"))
    }


def number(cell: str) -> float | None:
    """A shown number, or None for hidden or empty."""
    if cell in (HIDDEN, ""):
        return None
    return float(cell)


def small(value: float, threshold: int) -> bool:
    return 1 <= round(value) <= threshold - 1


def hidden_lines(tables: dict, group: str):
    """Every line (a count column across the groups, with an ``All`` row) holding a
    hidden group: ``(table, line, column, group labels, hidden flags, rest)``, where
    ``rest`` is All minus the shown groups, the sum of the hidden ones."""
    for name, (keys, counts) in LINES.items():
        table = tables.get(name)
        if table is None or group not in table:
            continue
        for line, rows in table.groupby(keys or (lambda _: 0), sort=False):
            whole = rows[rows[group] == ALL]
            parts = rows[rows[group] != ALL]
            for column in counts:
                if column not in rows or len(whole) != 1:
                    continue
                total = number(whole[column].iloc[0])
                cells = parts[column].tolist()
                hidden = [c == HIDDEN for c in cells]
                if total is None or not any(hidden):
                    continue
                rest = total - sum(number(c) or 0 for c in cells)
                yield name, line, column, parts[group].tolist(), hidden, rest


def group_sums(tables: dict, group: str, threshold: int) -> list[str]:
    """All minus the shown groups: one hidden group is recovered; several
    hidden groups give their total, a count of people too."""
    return [
        f"{name} {line} {column}: hidden groups sum to {rest:g}"
        for name, line, column, _, _, rest in hidden_lines(tables, group)
        if small(rest, threshold)
    ]


#: Columns that are a group's size: every group shown (by name, or an ``Other``
#: made by folding) has at least ``threshold`` clients, so at least that many cases.
SIZES = {("stage_funnel", "n_cases"), ("length_of_stay", "n_cases")}


def bounded_cells(tables: dict, group: str, threshold: int, margin: int = 2) -> list[str]:
    """Hidden cells of a line confined to +/- margin by what the rules say of them.

    The hidden groups of a line add up to All minus the shown ones. Each hidden
    count is at least 1 (zeros are shown), and a hidden group size at least the
    threshold (the folding rule). So each lies between its own floor and the sum
    less every other hidden cell's floor: pinned when that is 2 x margin or less.
    """
    found = []
    for name, line, column, labels, hidden, rest in hidden_lines(tables, group):
        floor = threshold if (name, column) in SIZES else 1
        floors = floor * sum(hidden)
        if rest - floors > 2 * margin:
            continue
        where = " ".join(map(str, np.atleast_1d(line)))
        found.extend(
            f"{name} {where} {column} {label}: in [{floor:g}, {rest - floors + floor:g}]"
            for label, is_hidden in zip(labels, hidden, strict=True)
            if is_hidden
        )
    return found


def determined_cells(tables: dict, group: str) -> list[str]:
    """Hidden cells the published numbers give exactly, whatever their size: the one
    hidden cell of a line, and open cases between shown cases and closed cases.
    Hiding them protects nothing; shown suppression that does not hold is a leak
    of the method."""
    found = []
    for name, (keys, counts) in LINES.items():
        table = tables.get(name)
        if table is None or group not in table:
            continue
        for line, rows in table.groupby(keys or (lambda _: 0), sort=False):
            whole = rows[rows[group] == ALL]
            for column in counts:
                if column not in rows or len(whole) != 1 or number(whole[column].iloc[0]) is None:
                    continue
                hidden = (rows.loc[rows[group] != ALL, column] == HIDDEN).sum()
                if hidden == 1:
                    found.append(f"{name} {line} {column}: the one hidden group is All - rest")
    exits = tables.get("exits")
    if exits is not None:  # exit types add up to the closed cases of their group
        types = exits[exits["level"] == "type"]
        for label, rows in types.groupby(group, sort=False):
            total = number(rows["n_exits"].iloc[0])
            if total is not None and (rows["n"] == HIDDEN).sum() == 1:
                found.append(f"exits {label}: the one hidden type is n_exits - rest")
    stays = tables.get("length_of_stay")
    if stays is not None:
        for _, row in stays.iterrows():
            cases, closed = number(row["n_cases"]), number(row["n_closed"])
            if row["n_open"] == HIDDEN and cases is not None and closed is not None:
                found.append(f"length_of_stay {row[group]}: n_open = {cases - closed:g}")
    return found


def nested_differences(tables: dict, group: str, threshold: int) -> list[str]:
    """Differences of shown counts that hold one another: those who did not
    reach a stage, not retained, not abstinent, open cases, and so on."""
    pairs = []  # (label, whole, part) as frames of one value per group row
    funnel = tables.get("stage_funnel")
    if funnel is not None:
        stages = list(dict.fromkeys(funnel["stage"]))
        for stage in stages:
            rows = funnel[funnel["stage"] == stage].set_index(group)
            pairs.append((f"not reaching {stage}", rows["n_cases"], rows["reached"]))
            for column in ("completed", "in_stage"):
                if (rows[column] != "").any():
                    pairs.append((f"{stage} reached not {column}", rows["reached"], rows[column]))
        for before, after in zip(stages, stages[1:], strict=False):
            a = funnel[funnel["stage"] == before].set_index(group)["reached"]
            b = funnel[funnel["stage"] == after].set_index(group)["reached"]
            pairs.append((f"stopped between {before} and {after}", a, b))
    exits = tables.get("exits")
    if exits is not None:
        first = exits.drop_duplicates(group).set_index(group)
        for name in ("stage_funnel", "length_of_stay"):
            other = tables.get(name)
            if other is not None:
                cases = other.drop_duplicates(group).set_index(group)["n_cases"]
                pairs.append((f"open cases ({name} n_cases - exits)", cases, first["n_exits"]))
        for _, rows in exits.groupby(["level", "category"]):
            rows = rows.set_index(group)
            pairs.append((f"exits not {rows['category'].iloc[0]}", rows["n_exits"], rows["n"]))
    for name, (num, den) in {
        "recovery_headline": ("numerator", "denominator"),
        "recovery_sensitivity": ("numerator_positive", "denominator_positive"),
    }.items():
        table = tables.get(name)
        if table is None:
            continue
        for metric, rows in table.groupby("metric"):
            rows = rows.set_index(group)
            pairs.append((f"{name} {metric} complement", rows[den], rows[num]))
            if name == "recovery_sensitivity":
                for a, b in (
                    ("numerator_ignore", "numerator_positive"),
                    ("denominator_ignore", "denominator_positive"),
                ):
                    pairs.append((f"{metric} {a} - {b}", rows[a], rows[b]))
    found = []
    for label, whole, part in pairs:
        for key in whole.index.intersection(part.index):
            a, b = number(whole.loc[key]), number(part.loc[key])
            if a is not None and b is not None and small(abs(a - b), threshold):
                found.append(f"{key}: {label} = {abs(a - b):g}")
    return found


def curve_spans(tables: dict, group: str, threshold: int, base: int = 5) -> list[str]:
    """The Kaplan-Meier recurrences run backwards: events of each span between
    published days from the drop of the curve and the rounded numbers at risk
    (every value they allow), and the tail after the last day from the total
    of events in ``survival_summary``."""
    curve, totals = tables.get("survival"), tables.get("survival_summary")
    if curve is None or curve.empty:
        return []
    found = []
    for (label, outcome), rows in curve.groupby([group, "outcome"]):
        rows = rows.sort_values("time_days", key=lambda s: s.astype(float))
        survival = rows["survival"].astype(float).to_numpy()
        at_risk = rows["at_risk"].astype(float).to_numpy()
        n = None
        if totals is not None:
            match = totals[(totals[group] == label) & (totals["outcome"] == outcome)]
            if len(match):
                n = number(match["n"].iloc[0])
                events_total = number(match["events"].iloc[0])
        starts = [n] if n is not None else [None]
        before = np.r_[starts, at_risk[:-1]]
        s_before = np.r_[1.0, survival[:-1]]
        low_sum, high_sum = 0.0, 0.0
        for i in range(len(rows)):
            if before[i] is None or np.isnan(before[i]):
                low_sum = high_sum = np.nan
                continue
            half = 0 if i == 0 and n is not None else base // 2
            n_lo, n_hi = before[i] - half, before[i] + half
            r_lo = max(survival[i] - 0.0005, 0) / (s_before[i] + 0.0005)
            r_hi = min((survival[i] + 0.0005) / max(s_before[i] - 0.0005, 1e-9), 1.0)
            low = np.ceil((1 - r_hi) * n_lo - 1e-9)
            high = np.floor(-np.log(max(r_lo, 1e-12)) * n_hi + 1e-9)
            low_sum, high_sum = low_sum + max(low, 0), high_sum + high
            if low >= 1 and high <= threshold - 1:
                found.append(f"{label} {outcome} day {rows['time_days'].iloc[i]}: {low:g}-{high:g}")
            elif 1 <= low and high - low <= 4 and low <= threshold - 1:
                found.append(f"{label} {outcome} day {rows['time_days'].iloc[i]} pinned {low:g}")
        if n is not None and events_total is not None and not np.isnan(low_sum):
            tail_low, tail_high = events_total - high_sum, events_total - low_sum
            if tail_low >= 1 and tail_high <= threshold - 1:
                found.append(f"{label} {outcome} tail: {tail_low:g}-{tail_high:g} events")
    return found


def curve_points(tables: dict, group: str) -> list[str]:
    """Values that are points of a curve must be the published curve's own:
    the Kaplan-Meier headline rows at their horizon, and the medians, which
    must fall on published days."""
    curve = tables.get("survival")
    found = []
    outcome_of = {"retention_km": "dropout", "not_relapsed_km": "relapse"}
    headline = tables.get("recovery_headline")
    if headline is not None:
        for _, row in headline[headline["metric"].isin(list(outcome_of))].iterrows():
            value = number(row["estimate"])
            if value is None:
                continue
            point = curve[
                (curve[group] == row[group])
                & (curve["outcome"] == outcome_of[row["metric"]])
                & (curve["time_days"].astype(float) == float(row["horizon_days"]))
            ]
            if len(point) != 1 or float(point["survival"].iloc[0]) != value:
                found.append(f"{row[group]} {row['metric']} = {value} is not on the curve")
    sensitivity = tables.get("recovery_sensitivity")
    if sensitivity is not None:
        rows = sensitivity[sensitivity["metric"].isin(list(outcome_of))]
        for _, row in rows.iterrows():
            for column in ("estimate_positive", "estimate_ignore", "difference"):
                value = number(row[column])
                point = curve[
                    (curve[group] == row[group])
                    & (curve["outcome"] == outcome_of[row["metric"]])
                    & (curve["time_days"].astype(float) == float(row["horizon_days"]))
                ]
                on_curve = len(point) == 1 and float(point["survival"].iloc[0]) == value
                if value is not None and not (column == "estimate_positive" and on_curve):
                    found.append(f"{row[group]} sensitivity {row['metric']} {column} = {value}")
    summary = tables.get("survival_summary")
    if summary is not None:
        for _, row in summary.iterrows():
            days = curve[(curve[group] == row[group]) & (curve["outcome"] == row["outcome"])]
            published = set(days["time_days"].astype(float))
            for column in ("median_days", "median_ci_low", "median_ci_high", "horizon_days"):
                value = number(row[column])
                if value is not None and value not in published:
                    found.append(f"{row[group]} {row['outcome']} {column} {value} off the grid")
            rmst = number(row["rmst_days"])
            if rmst is not None:  # the area under the published points, from (0, 1)
                days = days.sort_values("time_days", key=lambda t: t.astype(float))
                t = np.r_[0.0, days["time_days"].astype(float)]
                s = np.r_[1.0, days["survival"].astype(float)]
                area = float(np.sum(np.diff(t) * (s[1:] + s[:-1]) / 2))
                if abs(area - rmst) > 1e-6:
                    found.append(f"{row[group]} {row['outcome']} rmst {rmst} is not {area}")
    return found


def attack(folder: Path, group: str, threshold: int = 11) -> list[str]:
    """Every finding of every attack on one published folder."""
    tables = read(folder)
    return [
        *determined_cells(tables, group),
        *group_sums(tables, group, threshold),
        *bounded_cells(tables, group, threshold),
        *nested_differences(tables, group, threshold),
        *curve_spans(tables, group, threshold),
        *curve_points(tables, group),
    ]
