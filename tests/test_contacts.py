"""Session attendance and the missed-session / unplanned-exit risk ratio,
checked by hand and against statsmodels' Table2x2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import Table2x2
from toy import AS_OF, toy_tables

from casework_analytics import MissingTableError, load
from casework_analytics.contacts import missed_sessions_and_unplanned_exit, session_summary
from casework_analytics.intervals import risk_ratio


@pytest.fixture(scope="module")
def toy():
    return load(toy_tables())


def test_session_summary_by_hand(toy):
    s = session_summary(toy, AS_OF).set_index("case_id")
    # A: held 2, missed by client 2, cancelled 1 -> rate 2 / 4; held on 1 and 22 Mar.
    assert s.loc["A", ["scheduled", "held", "missed_client", "cancelled"]].tolist() == [5, 2, 2, 1]
    assert s.loc["A", "missed_rate"] == 0.5 and s.loc["A", "longest_gap_days"] == 21
    # C: held 10, 17, 31 Mar and 28 Apr, worker missed once -> 1 / 5; longest gap 28.
    assert s.loc["C", "missed_rate"] == pytest.approx(0.2)
    assert s.loc["C", "longest_gap_days"] == 28
    assert s.loc["B", "scheduled"] == 0 and pd.isna(s.loc["B", "missed_rate"])
    assert pd.isna(s.loc["D", "longest_gap_days"])


def test_risk_ratio_with_a_zero_cell_by_hand(toy):
    r = missed_sessions_and_unplanned_exit(toy, AS_OF, threshold=0.25).iloc[0]
    # High (rate > .25): A, unplanned. Low: C (planned), D (administrative).
    assert (r["n_high"], r["unplanned_high"], r["n_low"], r["unplanned_low"]) == (1, 1, 2, 0)
    # The crude ratio (1/1) / (0/2) is infinite; the interval adds 0.5 to all four
    # cells -> a=1.5, n1=2, c=0.5, n0=3: log RR = log 4.5; SE = sqrt(1/1.5 - 1/2 +
    # 1/0.5 - 1/3) = 1.35401; 95% CI = 4.5 * exp(-/+ 1.95996 * 1.35401) =
    # (0.3167, 63.93), by hand.
    assert r["risk_ratio"] == np.inf and r["corrected"]
    assert (r["ci_low"], r["ci_high"]) == (
        pytest.approx(0.31674, rel=1e-4),
        pytest.approx(63.934, rel=1e-4),
    )


def test_risk_ratio_is_corrected_only_for_a_zero_count():
    # a = n1 (everyone in group 1 had the event) is no reason to correct: by hand,
    # RR = (5/5) / (3/10) = 3.3333, SE = sqrt(1/5 - 1/5 + 1/3 - 1/10) = 0.48305.
    rr, low, high, corrected = risk_ratio([5], [5], [3], [10])
    assert rr[0] == pytest.approx(10 / 3) and not corrected[0]
    assert low[0] == pytest.approx(10 / 3 * np.exp(-1.959964 * np.sqrt(1 / 3 - 1 / 10)))
    rr, _, _, corrected = risk_ratio([0], [5], [0], [5])
    assert np.isnan(rr[0]) and corrected[0]


def test_risk_ratio_without_zero_cells_matches_statsmodels():
    rr, low, high, corrected = risk_ratio([12], [40], [6], [50])
    assert not corrected[0]
    ref = Table2x2(np.array([[12, 28], [6, 44]]))
    assert rr[0] == pytest.approx(ref.riskratio)
    assert (low[0], high[0]) == tuple(pytest.approx(x) for x in ref.riskratio_confint())


def test_missing_sessions_table_is_a_clear_error():
    tables = toy_tables()
    del tables["sessions"]
    with pytest.raises(MissingTableError, match="needs the sessions table"):
        session_summary(load(tables), AS_OF)
