"""Property: whatever is corrupted, every row is accepted or rejected with a reason."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casework_analytics import load, synthetic
from casework_analytics.sources import TABLE_NAMES

BASE = synthetic.generate(3, seed=11, mean_cases=2)
GARBAGE = ["", "??", "31/02/2024", "2024-13-01", "P-NONE", "C-NONE", "wawancara", "-5", "ya"]

corruption = st.tuples(
    st.sampled_from(TABLE_NAMES),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=20),
    st.sampled_from(["cell", "duplicate", "drop_parent"]),
    st.sampled_from(GARBAGE),
)


def _corrupt(tables, edits):
    out = {name: frame.astype(object).copy() for name, frame in tables.items()}
    for table, row, col, kind, value in edits:
        frame = out[table]
        if frame.empty:  # every row already dropped: nothing left to edit
            continue
        i = frame.index[row % len(frame)]
        if kind == "cell":
            frame.loc[i, frame.columns[col % len(frame.columns)]] = value or None
        elif kind == "duplicate":
            out[table] = pd.concat([frame, frame.loc[[i]]], ignore_index=True)
        else:
            out[table] = frame.drop(index=i).reset_index(drop=True)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(corruption, min_size=1, max_size=6))
def test_every_row_is_accepted_or_rejected_with_an_error(edits):
    tables = _corrupt(BASE, edits)
    cohort = load(tables)
    errors = cohort.problems[cohort.problems["severity"] == "error"]
    for row in cohort.counts.itertuples():
        assert row.read == len(tables[row.table]) == row.accepted + row.rejected
        rejected_rows = set(cohort.rejected[row.table]["row"])
        error_rows = set(errors.loc[errors["table"] == row.table, "row"].dropna())
        assert rejected_rows == error_rows
        assert cohort.rejected[row.table]["reasons"].str.len().gt(0).all()


@settings(max_examples=15, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_order_does_not_change_what_is_accepted(rnd):
    tables = _corrupt(BASE, [("visits", 3, 2, "cell", "maybe"), ("cases", 1, 3, "cell", "??")])
    shuffled = {
        name: frame.sample(frac=1.0, random_state=rnd.randrange(2**32)).reset_index(drop=True)
        for name, frame in tables.items()
    }
    a, b = load(tables), load(shuffled)
    for name in TABLE_NAMES:
        key = [
            c
            for c in ("case_id", "placement_id", "stage", "visit_date", "session_date")
            if c in a.table(name).columns
        ]
        left = a.table(name).sort_values(key).reset_index(drop=True)
        right = b.table(name).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right)
    assert (a.counts == b.counts).all().all()
