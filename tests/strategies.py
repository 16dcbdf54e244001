"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from casework_analytics import load, synthetic
from casework_analytics.sources import TABLE_NAMES


@st.composite
def cohort_and_as_of(draw, placements: int = 6):
    """A small generated cohort (random seed) and an end of observation in its span."""
    seed = draw(st.integers(0, 10_000))
    day = draw(st.integers(0, 500))
    cohort = load(synthetic.generate(placements, seed=seed, mean_cases=4))
    return cohort, pd.Timestamp("2024-02-01") + pd.Timedelta(days=day)


# ------------------------------------------------------------------ hostile input

#: Values a broken export puts in a cell, by family.
OUT_OF_RANGE_DATES = [
    "9999-12-31",
    "31/12/9999",
    "0001-01-01",
    "1677-09-21",
    "2262-04-12",
    "12345-06-07",
    "24/03/0024",
    dt.datetime(9999, 12, 31),
    dt.datetime(1600, 1, 1, 12, 30),
    dt.date(1, 1, 1),
]
MALFORMED_DATES = [
    "2024-13-45",
    "31/02/2024",
    "2024-02-30",
    "03/18/2024",
    "kemarin",
    "2024-03",
    "18/03/24",
    "2024-03-18T25:99",
    "20240318",
    "0000-00-00",
]
NUMBERS = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e400",
    "99999999999999999999999",
    "-5",
    "-0.0",
    "1,5",
    "12.5.3",
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    2**63,
    -(2**63) - 1,
    10**30,
    -(10**30),
    True,
]
EMPTY = ["", " ", "   ", "\t", "\u00a0", "\u3000", None]
CONTROL = [
    "\x00",
    "a\x00b",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;owned\x07",
    "\x1b[2J\x1b[H",
    "\x07",
    "a\rb",
    "a\nb",
    "a\r\nb",
    "\x0b\x0c",
    "\x1c\x1d\x1e\x1f",
    "\x7f\x85",
    "\u2028",
    "\u202eevil",
    "\ufeffbom",
]
LONG = ["x" * 100_000, "é" * 40_000, "ya " * 20_000]
FORMULAS = [
    '=HYPERLINK("http://example.invalid","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "-2+3",
    "=1+1",
]
#: Cell values only a typed source (in memory, SQLite, Parquet) can hold.
OBJECTS = [
    b"\xff\xfe\x00",
    b"2024-03-18",
    Decimal("NaN"),
    Decimal("1E+400"),
    np.datetime64("9999-12-31"),
    np.datetime64("NaT"),
    pd.Timestamp("2024-03-18 23:30", tz="Asia/Jakarta"),
    pd.NaT,
    dt.time(10, 30),
    dt.timedelta(days=3),
    [1, 2],
    {"a": 1},
    complex(1, 2),
    np.int64(-(2**63)),
    np.float32("inf"),
]
WORDS = ["Kési", "名前", "🙂", "ya", "tidak", "held", "positif", "P-NONE", "C-NONE", '"', "'", ","]

hostile_values = st.one_of(
    st.sampled_from(OUT_OF_RANGE_DATES),
    st.sampled_from(MALFORMED_DATES),
    st.sampled_from(NUMBERS),
    st.sampled_from(EMPTY),
    st.sampled_from(CONTROL),
    st.sampled_from(LONG),
    st.sampled_from(FORMULAS),
    st.sampled_from(OBJECTS),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)

#: (kind, table, row, column, value); row and column are taken modulo the table's size.
#: ``copy`` repeats a row (keys, visits and sessions then clash); ``missing_field``,
#: ``extra_field`` and ``bad_bytes`` only apply to CSV.
corruptions = st.tuples(
    st.sampled_from(["cell", "cell", "cell", "copy", "missing_field", "extra_field", "bad_bytes"]),
    st.sampled_from(TABLE_NAMES),
    st.integers(0, 10_000),
    st.integers(0, 50),
    hostile_values,
)


@st.composite
def hostile_cohort(draw):
    """A small valid cohort (random seed) and the corruptions to apply to it."""
    seed = draw(st.integers(0, 30))
    edits = draw(st.lists(corruptions, min_size=1, max_size=8))
    return seed, edits


@cache
def small_cohort(seed: int) -> dict[str, pd.DataFrame]:
    """``synthetic.generate(4, seed=seed, mean_cases=3)``, generated once per seed."""
    return synthetic.generate(4, seed=seed, mean_cases=3)
