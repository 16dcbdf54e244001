"""Plots are checked for what they draw (bar heights, lanes, at-risk numbers,
labels), never against images."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from casework_analytics import CaseworkError, load, plots
from casework_analytics.exits import exit_cumulative_incidence, exit_reasons
from casework_analytics.recovery import recovery_survival
from casework_analytics.stages import stage_funnel, stage_progress
from casework_analytics.timelines import weekly_status

AS_OF = "2025-04-15"


@pytest.fixture(scope="module")
def sample():
    return load("data/sample")


def test_funnel_bars_match_the_table(sample):
    funnel = stage_funnel(sample, AS_OF)
    ax = plots.stage_funnel_plot(funnel, ax=plt.figure().gca())
    widths = [bar.get_width() for bar in ax.patches]
    np.testing.assert_allclose(widths, funnel["share_reached"].to_numpy(dtype=float))
    notes = [a.get_text() for a in ax.texts]
    assert notes == [f"→ {c:.0%}" for c in funnel["conversion"].iloc[1:]]


def test_funnel_small_multiples_share_the_scale(sample):
    funnel = stage_funnel(sample, AS_OF, by="site")
    fig = plots.stage_funnel_plot(funnel, group="site", lang="id")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == funnel["site"].nunique()
    assert len({ax.get_xlim() for ax in visible}) == 1
    assert fig._suptitle.get_text() == "Corong tahapan"


def test_exit_bars_are_the_type_shares(sample):
    exits = exit_reasons(sample, AS_OF, by="site")
    ax = plots.exit_reasons_plot(exits, group="site", ax=plt.figure().gca())
    planned = [
        p
        for p in ax.patches
        if p.get_facecolor()[:3] == matplotlib.colors.to_rgb(plots.COLORS["planned"])
    ]
    expected = exits.query("level == 'type' and category == 'planned'")["share"]
    np.testing.assert_allclose([p.get_width() for p in planned], expected)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Planned",
        "Unplanned",
        "Administrative",
        "Unknown",
    ]


def test_km_plot_shows_the_number_at_risk(sample):
    surv = recovery_survival(sample, AS_OF)
    dropout = surv[surv["outcome"] == "dropout"]
    ax = plots.km_plot(dropout, ax=plt.figure().gca(), at_risk_times=[0, 30, 90])
    printed = [t.get_text() for t in ax.texts if t.get_gid() == "at_risk"]
    # At risk at day t: the first row at or after t (the curve's own table).
    expected = [int(dropout["at_risk"].iloc[0])] + [
        int(dropout.loc[dropout["time_days"] >= day, "at_risk"].iloc[0]) for day in (30, 90)
    ]
    assert printed == [str(n) for n in expected]
    line = ax.get_lines()[0]
    assert line.get_ydata()[0] == 1.0
    assert line.get_ydata()[-1] == pytest.approx(dropout["survival"].iloc[-1])


def test_cumulative_incidence_is_stacked_to_the_total(sample):
    cif = exit_cumulative_incidence(sample, AS_OF)
    ax = plots.cumulative_incidence_plot(cif, ax=plt.figure().gca())
    final = cif[cif["time_days"] == cif["time_days"].max()]["cumulative_incidence"].sum()
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(final)


def test_swimmer_has_one_lane_per_client_and_says_when_it_samples(sample):
    progress = stage_progress(sample, AS_OF)
    ax = plots.swimmer_plot(
        progress, weekly_status(sample, AS_OF), ax=plt.figure().gca(), max_clients=25
    )
    assert len(ax.get_yticks()) == 25
    assert "25 of 205" in ax.get_title()
    example = load("data/example")
    ax = plots.swimmer_plot(
        stage_progress(example, "2024-10-31"),
        weekly_status(example, "2024-10-31"),
        ax=plt.figure().gca(),
    )
    assert [t.get_text() for t in ax.get_yticklabels()] == ["TT-001"]
    assert "of" not in ax.get_title()
    # Exit reasons by their labels in the plot's language (exit_reasons.csv), never as codes.
    assert "Placement ended before goals were met" in [t.get_text() for t in ax.texts]
    ax = plots.swimmer_plot(
        stage_progress(example, "2024-10-31"),
        weekly_status(example, "2024-10-31"),
        ax=plt.figure().gca(),
        lang="id",
    )
    texts = [t.get_text() for t in ax.texts]
    assert "Masa PKL berakhir sebelum tujuan tercapai" in texts
    assert not any("_" in text for text in texts)


def test_heatmap_cells_are_the_weekly_statuses():
    example = load("data/example")
    weekly = weekly_status(example, "2024-10-31")
    ax = plots.monitoring_heatmap(weekly, ax=plt.figure().gca(), max_weeks=None)
    matrix = ax.images[0].get_array()
    codes = matrix[0]
    assert codes[0] == 1 and codes[9] == 2 and codes[2] == 0  # positive, missed, negative
    assert matrix.shape == (1, len(weekly))


def test_retention_triangle_draws_the_table(sample):
    from casework_analytics.recovery import retention_by_intake_month

    triangle = retention_by_intake_month(sample, AS_OF)
    ax = plots.retention_triangle(triangle, ax=plt.figure().gca())
    drawn = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    wide = triangle.pivot(index="intake_month", columns="week", values="share")
    np.testing.assert_array_equal(drawn, wide.to_numpy(dtype=float))
    n = triangle.drop_duplicates("intake_month")["n"].tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        f"{m} (n={k})" for m, k in zip(wide.index, n, strict=True)
    ]


def test_bad_lang_and_table_are_clear(sample):
    with pytest.raises(CaseworkError, match="`lang`"):
        plots.exit_reasons_plot(exit_reasons(sample, AS_OF), lang="fr")
    with pytest.raises(CaseworkError, match="needs a table with columns"):
        plots.km_plot(exit_reasons(sample, AS_OF))


def test_exit_bars_show_suppressed_shares_as_hidden(sample):
    from casework_analytics.dashboard import plottable
    from casework_analytics.privacy import fold_small_groups
    from casework_analytics.publish import publish
    from casework_analytics.summary import Summary

    # By site some counts are shown and some hidden (by term every one is, and the
    # table is withheld).
    by, _ = fold_small_groups(sample, "site", threshold=11)
    publication = publish(Summary(sample, AS_OF, by), names=["exits"])
    published = plottable(publication.tables["exits"])
    assert published["n"].isna().any() and published["n"].notna().any()
    ax = plots.exit_reasons_plot(published, group="site", ax=plt.figure().gca())
    assert "Hidden (small numbers)" in [t.get_text() for t in ax.get_legend().get_texts()]
    # Every bar still spans the whole of the exits: visible shares plus the hidden rest.
    ends = {}
    for patch in ax.patches:
        y = round(patch.get_y(), 6)
        ends[y] = max(ends.get(y, 0), patch.get_x() + patch.get_width())
    np.testing.assert_allclose(sorted(ends.values()), 1.0)


def test_sensitivity_plot_draws_both_conventions():
    import pandas as pd

    table = pd.DataFrame(
        {
            "metric": ["retention", "not_relapsed"],
            "estimate_positive": [0.6, 0.2],
            "estimate_ignore": [0.6, 0.55],
        }
    )
    ax = plots.sensitivity_plot(table, ax=plt.figure().gca())
    positive, ignore = ax.collections[1], ax.collections[2]
    assert positive.get_offsets()[:, 0].tolist() == [0.6, 0.2]
    assert ignore.get_offsets()[:, 0].tolist() == [0.6, 0.55]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["90-day retention", "Not relapsed (of those abstinent)"]
    ax_id = plots.sensitivity_plot(table, ax=plt.figure().gca(), lang="id")
    assert ax_id.get_yticklabels()[0].get_text() == "Retensi 90 hari"


def test_trend_plot_draws_shares_with_intervals():
    import pandas as pd

    trend = pd.DataFrame(
        {
            "metric": "retention",
            "term": ["2024-1", "2024-2"],
            "share": [0.5, 0.7],
            "ci_low": [0.3, 0.5],
            "ci_high": [0.7, 0.85],
            "trend_p_value": [0.04, 0.04],
        }
    )
    ax = plots.trend_plot(trend, ax=plt.figure().gca())
    line = ax.lines[0]
    assert line.get_ydata().tolist() == [0.5, 0.7]
    assert "p = 0.04" in ax.get_title()
    with pytest.raises(CaseworkError, match="draws one metric"):
        plots.trend_plot(pd.concat([trend, trend.assign(metric="x")]), ax=plt.figure().gca())


def _texts(ax) -> set[str]:
    """Every piece of text a reader sees on the figure of ``ax``."""
    texts = {t.get_text() for t in ax.figure.findobj(matplotlib.text.Text)}
    return {t.strip() for t in texts if t.strip()}


def test_indonesian_plots_show_no_english_label(sample):
    from casework_analytics.labels import CATALOGUE
    from casework_analytics.recovery import recovery_sensitivity, retention_by_intake_month

    # Every English phrase of the catalogue whose Indonesian differs: none of them
    # may appear on a figure drawn with lang="id".
    english = {v for k, v in CATALOGUE["en"].items() if v != CATALOGUE["id"].get(k) and len(v) > 3}
    surv = recovery_survival(sample, AS_OF)
    progress = stage_progress(sample, AS_OF)
    weekly = weekly_status(sample, AS_OF)
    drawn = {
        "stage_funnel_plot": lambda ax: plots.stage_funnel_plot(
            stage_funnel(sample, AS_OF), ax=ax, lang="id"
        ),
        "exit_reasons_plot": lambda ax: plots.exit_reasons_plot(
            exit_reasons(sample, AS_OF), ax=ax, lang="id"
        ),
        "km_plot": lambda ax: plots.km_plot(surv[surv["outcome"] == "dropout"], ax=ax, lang="id"),
        "cumulative_incidence_plot": lambda ax: plots.cumulative_incidence_plot(
            exit_cumulative_incidence(sample, AS_OF), ax=ax, lang="id"
        ),
        "swimmer_plot": lambda ax: plots.swimmer_plot(progress, weekly, ax=ax, lang="id"),
        "monitoring_heatmap": lambda ax: plots.monitoring_heatmap(weekly, ax=ax, lang="id"),
        "retention_triangle": lambda ax: plots.retention_triangle(
            retention_by_intake_month(sample, AS_OF), ax=ax, lang="id"
        ),
        "sensitivity_plot": lambda ax: plots.sensitivity_plot(
            recovery_sensitivity(sample, AS_OF), ax=ax, lang="id"
        ),
    }
    for name, draw in drawn.items():
        ax = draw(plt.figure().gca())
        leftovers = {t for t in _texts(ax) if t in english}
        assert not leftovers, (name, leftovers)
        plt.close("all")
