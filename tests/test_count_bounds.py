"""The publication audit's bounds: cheap programmes give the whole programme's verdict.

:class:`CountBounds` without levels solves two linear programmes per count
on the whole problem (the reference, as the audit did before the cheap
phases). With levels it decides most counts on restrictions and
relaxations. The properties checked on random nested cohorts are those
its docstring promises: the same counts pinned; for an unpinned count a
range inside the exact one; for a pinned one a range around it; and
:meth:`CountBounds.exact` equal to the reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from casework_analytics import count_bounds
from casework_analytics.count_bounds import CountBounds, atom_levels

THRESHOLD = 5
BAND = 4  # 2 * margin


def _cohort(seed: int):
    """Atoms of sites > placements, with three indicators each; counts per
    placement, per site and overall: every key and the total."""
    rng = np.random.default_rng(seed)
    sites, placements, indicators, sizes = [], [], [], []
    for site in range(rng.integers(2, 4)):
        for placement in range(rng.integers(2, 5)):
            for _ in range(rng.integers(2, 6)):
                sites.append(site)
                placements.append(f"{site}-{placement}")
                indicators.append(rng.integers(0, 2, size=3))
                sizes.append(rng.integers(1, 7))
    labels = pd.DataFrame({"site": sites, "placement": placements})
    keys = np.column_stack([np.ones(len(sites), int), np.array(indicators)])
    rows = []
    for column in ("placement", "site", None):
        groups = labels[column].to_numpy() if column else np.zeros(len(sites))
        for group in np.unique(groups):
            for key in range(keys.shape[1]):
                rows.append(((groups == group) * keys[:, key]).astype(float))
    A = sparse.csr_array(np.array(rows))
    sizes = np.array(sizes, dtype=float)
    value = A @ sizes
    hidden = (value >= 1) & (value < THRESHOLD)
    # Some larger counts hidden too, as complementary suppression would.
    hidden |= (rng.random(len(value)) < 0.15) & (value > 0)
    return A, value, hidden, sizes, labels


def _with_levels(A, value, kind, hidden, sizes, labels) -> CountBounds:
    return CountBounds(
        A,
        value,
        kind,
        hidden,
        threshold=THRESHOLD,
        margin=2,
        sizes=sizes,
        levels=atom_levels(labels),
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6))
def test_levels_give_the_whole_programmes_verdict(seed):
    _check_levels_against_the_whole_programme(seed)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_the_probe_of_the_finest_level_changes_no_verdict(seed):
    # National cohorts have thousands of finest parts, and their first round of
    # random objectives is tried on a sample first; here, on every cohort.
    # Every goal a restriction is given must keep the true sizes feasible (a count
    # the probe already moved gets none), or the batch is lost as infeasible.
    restrict = CountBounds._restrict

    def checked(self, groups, costs, goals=None):
        if goals is not None:
            truth = self.value[self.used]
            assert (goals[0] < truth).all() and (truth < goals[1]).all()
        return restrict(self, groups, costs, goals)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(count_bounds, "PROBE_PARTS", 1)
        patch.setattr(count_bounds, "PROBE_SHARE", 2)
        patch.setattr(CountBounds, "_restrict", checked)
        _check_levels_against_the_whole_programme(seed)


def _check_levels_against_the_whole_programme(seed):
    A, value, hidden, sizes, labels = _cohort(seed)
    kind = np.array(["count"] * len(value), dtype=object)
    rows = np.flatnonzero(hidden | ((value >= 1) & (value < THRESHOLD)))
    whole = CountBounds(A, value, kind, hidden, threshold=THRESHOLD, margin=2)
    fast = _with_levels(A, value, kind, hidden, sizes, labels)
    low, high = whole(hidden, rows)
    fast_low, fast_high = fast(hidden, rows)
    pinned = high - low <= BAND
    np.testing.assert_array_equal(fast_high - fast_low <= BAND, pinned)
    # Unpinned: a range of feasible points, inside the exact one.
    assert (fast_low[~pinned] >= low[~pinned]).all()
    assert (fast_high[~pinned] <= high[~pinned]).all()
    # Pinned: a relaxation's range (or the exact one), around the exact one.
    assert (fast_low[pinned] <= low[pinned]).all()
    assert (fast_high[pinned] >= high[pinned]).all()
    exact_low, exact_high = fast.exact(hidden, rows)
    np.testing.assert_array_equal(exact_low, low)
    np.testing.assert_array_equal(exact_high, high)
    # A later round: one more count hidden. Points and certificates from the first
    # round are reused, and the verdict is still the whole programme's.
    shown = np.flatnonzero(~hidden & (value > 0))
    hidden = hidden.copy()
    hidden[shown[seed % len(shown)]] = True
    rows = np.flatnonzero(hidden | ((value >= 1) & (value < THRESHOLD)))
    low, high = whole(hidden, rows)
    fast_low, fast_high = fast(hidden, rows)
    np.testing.assert_array_equal(fast_high - fast_low <= BAND, high - low <= BAND)


def test_a_pair_of_hidden_cells_by_hand():
    """Two placements of one site, two atoms each (planned exits and others).

    Sizes: placement a 2 planned + 9 others; b 3 planned + 8 others. Shown:
    each placement's total (11, 11), the site's planned (5) and total (22).
    Hidden: a's planned (2) and b's planned (3). By hand: a + b = 5, each at
    least 1, so a is 1 to 4 and b 1 to 4: both pinned within 2 of a value.
    """
    # atoms: a-planned, a-other, b-planned, b-other
    A = sparse.csr_array(
        np.array(
            [
                [1, 0, 0, 0],  # a planned (hidden)
                [1, 1, 0, 0],  # a total
                [0, 0, 1, 0],  # b planned (hidden)
                [0, 0, 1, 1],  # b total
                [1, 0, 1, 0],  # site planned
                [1, 1, 1, 1],  # site total
            ],
            dtype=float,
        )
    )
    sizes = np.array([2.0, 9.0, 3.0, 8.0])
    value = A @ sizes
    kind = np.array(["count"] * 6, dtype=object)
    hidden = np.array([True, False, True, False, False, False])
    labels = pd.DataFrame({"site": ["s"] * 4, "placement": ["a", "a", "b", "b"]})
    bounds = _with_levels(A, value, kind, hidden, sizes, labels)
    low, high = bounds.exact(hidden, np.array([0, 2]))
    np.testing.assert_array_equal(low, [1, 1])
    np.testing.assert_array_equal(high, [4, 4])
    low, high = bounds(hidden, np.array([0, 2]))
    assert (high - low <= BAND).all()


def test_atom_levels_finest_first_and_only_when_coarser():
    labels = pd.DataFrame(
        {
            "site": ["s", "s", "s", "t", "t", "t", "t", "t"],
            "placement": ["p", "p", "q", "r", "r", "u", "u", "v"],
        }
    )
    levels = atom_levels(labels)
    # Placement within site: 5 parts; placement alone is the same partition
    # (not at most half as many parts: left out); site alone: 2 parts.
    assert [int(level.max()) + 1 for level in levels] == [5, 2]
    assert len(set(zip(levels[0], labels["placement"], strict=True))) == 5
    assert (pd.Series(levels[1]).groupby(labels["site"]).nunique() == 1).all()


def test_a_count_nothing_bounds_above_is_unbounded_not_an_error():
    """One hidden count of one atom and nothing else: by hand it is at least 1
    (hidden counts are not zero) and has no upper bound; the solver's
    "unbounded" is an answer, and only it (a failed solve stops the audit)."""
    A = sparse.csr_array(np.array([[1.0]]))
    value = np.array([3.0])
    kind = np.array(["count"], dtype=object)
    hidden = np.array([True])
    bounds = CountBounds(A, value, kind, hidden, threshold=THRESHOLD, margin=2)
    low, high = bounds.exact(hidden, np.array([0]))
    assert low[0] == 1
    assert high[0] == np.inf
