"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import pandas as pd
from hypothesis import strategies as st

from casework_analytics import load, synthetic


@st.composite
def cohort_and_as_of(draw, placements: int = 6):
    """A small generated cohort (random seed) and an end of observation in its span."""
    seed = draw(st.integers(0, 10_000))
    day = draw(st.integers(0, 500))
    cohort = load(synthetic.generate(placements, seed=seed, mean_cases=4))
    return cohort, pd.Timestamp("2024-02-01") + pd.Timedelta(days=day)
