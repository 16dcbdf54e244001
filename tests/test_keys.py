"""Key look-ups and the duplicate rules that ``load`` answers from factorized keys.

The references are pandas' own hash-based ``duplicated``, ``sort_values`` and
a plain dictionary: the integer-code versions must agree with them on any
table, in any row order, with missing keys and dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework_analytics.keys import Codes, positions, repeated, take
from casework_analytics.problems import ProblemLog
from casework_analytics.stage_models import get_stage_model
from casework_analytics.validation import (
    check_duplicate_sessions,
    check_duplicate_visits,
    check_references,
    check_repeated_stages,
)

KEYS = st.sampled_from(["c1", "c2", "c3", "c10", None])
DATES = st.sampled_from([pd.Timestamp("2024-03-18"), pd.Timestamp("2024-03-25"), pd.NaT])


def _frame(draw, columns: dict) -> pd.DataFrame:
    """Rows drawn from ``columns``' strategies, indexed by shuffled source row numbers."""
    n = draw(st.integers(0, 30))
    rows = {name: [draw(strategy) for _ in range(n)] for name, strategy in columns.items()}
    frame = pd.DataFrame(rows).astype({"case_id": "string"})
    index = draw(st.permutations(range(2, n + 2)))
    return frame.set_axis(pd.Index(index, name="row"))


def _logged(log: ProblemLog, rule: str) -> set[int]:
    problems = log.frame()
    return set(problems.loc[problems["rule"] == rule, "row"].astype(int))


@given(st.lists(st.integers(-3, 3), max_size=40), st.sampled_from(["first", False]))
def test_repeated_is_pandas_duplicated(values, keep):
    key = np.array(values, dtype=np.int64)
    expected = pd.Series(key, dtype="int64").duplicated(keep=keep).to_numpy()
    np.testing.assert_array_equal(repeated(key, keep=keep), expected)


@given(st.lists(KEYS, max_size=30), st.lists(KEYS, max_size=10))
def test_codes_find_the_first_position_of_each_key(values, keys):
    first = {}
    for position, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, position)
    expected = [first.get(v, -1) if v is not None else -1 for v in values]
    codes = Codes(pd.Series(values, dtype="string"))
    assert codes.positions(pd.Index(keys, dtype="string")).tolist() == expected


@pytest.mark.parametrize("dtype", ["str", "string", object])
@given(values=st.lists(KEYS, max_size=30), keys=st.lists(KEYS, max_size=10))
def test_positions_of_text_are_the_first_position_in_any_storage(dtype, values, keys):
    # Arrow text is looked up by Arrow's hash kernel, other text by pandas: both
    # must give what a dictionary of first positions gives.
    first = {}
    for position, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, position)
    expected = [first.get(v, -1) if v is not None else -1 for v in values]
    if values == keys and None not in keys:  # documented: a table looked up in itself
        expected = list(range(len(keys)))
    found = positions(pd.Series(values, dtype=dtype), pd.Index(keys, dtype=dtype))
    assert found.tolist() == expected


@st.composite
def visits(draw):
    return _frame(draw, {"case_id": KEYS, "visit_date": DATES})


@settings(max_examples=200)
@given(visits())
def test_duplicate_visits_are_the_later_source_rows_of_a_case_and_date(frame):
    log = ProblemLog()
    check_duplicate_visits(frame, log)
    ordered = frame.sort_index()
    expected = ordered.index[ordered.duplicated(["case_id", "visit_date"], keep="first")]
    assert _logged(log, "duplicate_visit") == set(expected)


@st.composite
def sessions(draw):
    columns = {
        "case_id": KEYS,
        "session_date": DATES,
        "status": st.sampled_from(["held", "missed"]),
        "duration_min": st.sampled_from([30.0, 45.0, np.nan]),
    }
    return _frame(draw, columns)


@settings(max_examples=200)
@given(sessions())
def test_duplicate_sessions_are_later_copies_in_every_column(frame):
    log = ProblemLog()
    check_duplicate_sessions(frame, log)
    expected = frame.index[frame.duplicated(keep="first")]
    assert _logged(log, "duplicate_session") == set(expected)


@st.composite
def stages(draw):
    stage = st.sampled_from(["engagement", "assessment", "intervention", None])
    return _frame(draw, {"case_id": KEYS, "stage": stage, "started_on": DATES})


@settings(max_examples=200)
@given(stages())
def test_a_repeated_stage_keeps_its_earliest_start(frame):
    model = get_stage_model("generalist")
    log = ProblemLog()
    check_repeated_stages(frame, model, log)
    # The definition, by pandas: sort by case, stage and start (missing start
    # last, ties in table order); every row after the first of a case and stage.
    once = frame[~frame["stage"].isin(model.repeatable) & frame["stage"].notna()]
    ordered = once.sort_values(["case_id", "stage", "started_on"], kind="stable")
    expected = ordered.index[ordered.duplicated(["case_id", "stage"], keep="first")]
    assert _logged(log, "repeated_stage") == set(expected)


@given(visits(), st.sets(st.sampled_from(["c1", "c2", "c3"])))
def test_references_split_rows_into_accepted_orphaned_and_unknown(frame, rejected):
    accepted = {"c1", "c2", "c3"} - rejected
    log = ProblemLog()
    check_references(frame, "visits", "case_id", sorted(accepted), sorted(rejected), log)
    keys = frame["case_id"]
    assert _logged(log, "orphan") == set(frame.index[keys.isin(rejected).fillna(False)])
    unknown = keys.notna() & ~keys.isin({"c1", "c2", "c3"})
    assert _logged(log, "foreign_key") == set(frame.index[unknown.fillna(False)])


@pytest.mark.parametrize("dtype", ["str", "string", object])
@given(values=st.lists(KEYS, min_size=1, max_size=10), data=st.data())
def test_take_gives_each_position_and_missing_for_minus_one(dtype, values, data):
    where = data.draw(st.lists(st.integers(-1, len(values) - 1), max_size=20))
    taken = take(pd.Series(values, dtype=dtype), np.array(where, dtype=np.int64))
    expected = [values[i] if i >= 0 else None for i in where]
    assert [None if pd.isna(v) else v for v in taken] == expected
    assert taken.index.equals(pd.RangeIndex(len(where)))
