"""The dashboard's own tables on the toy cohort of ``toy.py`` (end of observation
30 June 2024), every expected number worked out by hand from its CSV text: the
placement table, the data-quality summary and planned completion as the report
shows it (the card, its interval and the per-site comparison)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint
from toy import AS_OF, toy_tables

from casework_analytics import load
from casework_analytics.dashboard import Dashboard, placement_table, quality_summary
from casework_analytics.privacy import fold_small_groups

#: The toy cohort's cases and their closures, from toy.py:
#:   P1 (site S1, CW1): A closed 1 May "jadwal tidak cocok" (scheduling conflict,
#:     unplanned); B open; E open (intake 25 June).
#:   P2 (site S2, CW2): C closed 30 April "tujuan tercapai" (completed, planned);
#:     D closed 20 March "dirujuk ke RS" (transferred, administrative).
#: Length of stay (TEDS-D, intake to the earlier of last contact and discharge):
#:   A 21 days, C 49, D 0 (tests/test_length_of_stay.py works them out).
#: Sessions: A held 2, missed by the client 2, cancelled 1; C held 4, missed by the
#:   worker 1; D held 1; B and E none.


@pytest.fixture(scope="module")
def toy():
    return load(toy_tables())


def test_placement_table_by_hand(toy):
    table = placement_table(toy, AS_OF).set_index("placement_id")
    assert table.index.tolist() == ["P1", "P2"]
    assert table[["site", "caseworker_id"]].values.tolist() == [["S1", "CW1"], ["S2", "CW2"]]
    # P1: 3 cases (A, B, E), 1 closed (A), none planned: completion 0 / 1.
    # P2: 2 cases (C, D), both closed, C planned: completion 1 / 2.
    counts = table[["n_cases", "n_closed", "n_planned"]].astype(int).values.tolist()
    assert counts == [[3, 1, 0], [2, 2, 1]]
    assert table["completion"].tolist() == [0.0, 0.5]
    # Median LOS of the closed cases: P1 A alone, 21; P2 (0 + 49) / 2 = 24.5.
    assert table["median_los_days"].tolist() == [21.0, 24.5]
    # Missed sessions pooled over the placement (missed by either side, over held plus
    # missed; cancelled sessions are in neither): P1 2 / (2 + 2) = 1/2; P2: C's one
    # missed over C's 4 held + 1 missed + D's 1 held = 1/6 (the mean of the cases'
    # rates, (1/5 + 0) / 2 = 1/10, would be wrong).
    assert table["missed_rate"].tolist() == pytest.approx([1 / 2, 1 / 6])


def test_placement_table_of_folded_placements_by_hand(toy):
    # Both placements have fewer than 11 clients: folded into one row, Other, which has
    # no single site or caseworker. All five cases, three closed (A, C, D), one planned
    # (C): 1/3. Median LOS of 0, 21, 49: 21. Missed: (2 + 1) / (4 + 6) = 3/10.
    groups, folded = fold_small_groups(toy, "placement_id")
    assert sorted(folded["group"]) == ["P1", "P2"]
    table = placement_table(toy, AS_OF, groups)
    assert table["placement_id"].tolist() == ["Other"]
    row = table.iloc[0]
    assert (row["n_cases"], row["n_closed"], row["n_planned"]) == (5, 3, 1)
    assert row["completion"] == pytest.approx(1 / 3)
    assert row["median_los_days"] == 21
    assert row["missed_rate"] == pytest.approx(3 / 10)
    assert pd.isna(row["site"]) and pd.isna(row["caseworker_id"])


def test_placement_table_without_sessions_has_no_missed_rate(toy):
    tables = toy_tables()
    del tables["sessions"]
    table = placement_table(load(tables), AS_OF)
    assert table["missed_rate"].isna().all()
    assert table["n_cases"].tolist() == [3, 2]


def _flawed_toy():
    """The toy cohort with seven planted problems (file rows counted from 1 after the
    header, as the problem report numbers them):

    cases     row 3  C's closure note "lihat catatan"  unclassified_reason  warning
    cases     row 6  F at placement P9 (no such one)    foreign_key          error
    cases     row 7  G (P2) intake "2024-13-01"         unparseable_date     error
    sessions  row 12 D held on 1 March, before intake  before_intake        warning
    sessions  row 13 B on "2024-04-31"                  unparseable_date     error
    sessions  row 14 A on "2024-02-30"                  unparseable_date     error
    sessions  row 15 F's session (F was rejected)       orphan               error
    """
    tables = toy_tables()
    extra_cases = pd.DataFrame(
        {
            "case_id": ["F", "G"],
            "placement_id": ["P9", "P2"],
            "client_id": ["K6", "K7"],
            "intake_date": ["2024-04-01", "2024-13-01"],
        }
    )
    tables["cases"] = pd.concat([tables["cases"], extra_cases], ignore_index=True)
    tables["cases"].loc[tables["cases"]["case_id"] == "C", "closure_reason"] = "lihat catatan"
    extra_sessions = pd.DataFrame(
        {
            "case_id": ["D", "B", "A", "F"],
            "session_date": ["2024-03-01", "2024-04-31", "2024-02-30", "2024-04-02"],
            "status": "held",
        }
    )
    tables["sessions"] = pd.concat([tables["sessions"], extra_sessions], ignore_index=True)
    return load(tables)


def test_quality_summary_by_hand():
    summary = quality_summary(_flawed_toy())
    # By rule: errors before warnings, the most frequent first within each.
    assert summary["by_rule"].values.tolist() == [
        ["unparseable_date", "error", "sessions", 2],
        ["foreign_key", "error", "cases", 1],
        ["orphan", "error", "sessions", 1],
        ["unparseable_date", "error", "cases", 1],
        ["before_intake", "warning", "sessions", 1],
        ["unclassified_reason", "warning", "cases", 1],
    ]
    # By table: cases read 5 + 2 = 7, F and G rejected; sessions read 11 + 4 = 15, the
    # two bad dates and F's session rejected; the warnings keep their rows.
    by_table = summary["by_table"].set_index("table")
    columns = ["read", "accepted", "rejected", "errors", "warnings"]
    assert by_table.loc[["placements", "cases", "stages", "sessions", "visits"], columns].astype(
        int
    ).values.tolist() == [
        [2, 2, 0, 0, 0],
        [7, 5, 2, 2, 1],
        [10, 10, 0, 0, 0],
        [15, 12, 3, 3, 1],
        [4, 4, 0, 0, 0],
    ]
    # By placement, through each problem's case (F's orphan session through the
    # rejected F): P9 F's two errors (its case row and its session row); P1 the two bad
    # session dates of A and B; P2 G's bad intake (error) and the warnings of C and D.
    # Most errors first, then most warnings: P1 and P9 tie on 2 errors and 0 warnings.
    by_placement = summary["by_placement"].set_index("placement_id")
    assert by_placement.loc[["P9", "P1", "P2"]].values.tolist() == [[2, 0, 2], [2, 0, 2], [1, 2, 1]]
    assert summary["by_placement"]["placement_id"].tolist()[-1] == "P2"


def test_quality_summary_of_a_clean_source_is_empty(toy):
    summary = quality_summary(toy)
    assert summary["by_rule"].empty and summary["by_placement"].empty
    assert summary["by_table"][["errors", "warnings"]].eq(0).all().all()
    assert summary["by_table"]["read"].tolist() == [2, 5, 10, 11, 4]


def test_planned_completion_as_the_dashboard_shows_it(toy):
    board = Dashboard(toy, AS_OF, by="site", publish=False)
    cards = board.tables["cards"].set_index("metric")
    # Closed: A (unplanned), C (planned), D (administrative): 1 of 3. The open B and E
    # are left out, not counted as failures.
    assert (cards.loc["completion", "numerator"], cards.loc["completion", "denominator"]) == (1, 3)
    assert cards.loc["completion", "estimate"] == pytest.approx(1 / 3)
    # Wilson 95% interval by hand: z^2 = 3.841459, n = 3, p = 1/3:
    # centre (p + z^2 / 2n) / (1 + z^2 / n) = 0.973576 / 2.280486 = 0.426915;
    # half-width z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)
    # = 1.959964 * sqrt(0.0740741 + 0.1067072) / 2.280486 = 0.365423;
    # so 0.061492 to 0.792338. statsmodels agrees.
    interval = cards.loc["completion", ["ci_low", "ci_high"]].astype(float).tolist()
    assert interval == pytest.approx([0.061492, 0.792338], abs=5e-6)
    assert interval == pytest.approx(proportion_confint(1, 3, method="wilson"), abs=1e-12)
    # The card as the reader sees it: 33%, "1 of 3", the interval in whole percent.
    card = re.search(r'data-metric="completion">(.*?)</div></div>', board.headline()).group(1)
    assert '<div class="value">33%</div>' in card
    assert '<div class="detail">1 of 3</div>' in card
    assert '<div class="detail">95% interval 6% to 79%</div>' in card
    # Per site, in the comparison: S1 1 closed (A), none planned; S2 2 closed (C, D),
    # one planned. The target is the whole cohort's 1/3.
    compared = board.tables["comparison"]
    rows = compared[compared["metric"] == "planned_completion"].set_index("site")
    assert rows.loc[["S1", "S2"], ["n", "observed"]].astype(int).values.tolist() == [[1, 0], [2, 1]]
    assert np.allclose(rows["target"].astype(float), 1 / 3)
    # The placement table of the report gives the same completion per placement.
    placements = board.tables["placements"].set_index("placement_id")
    assert placements["completion"].tolist() == [0.0, 0.5]
