"""Disclosure audit of a published set (casework_analytics.disclosure).

Every hand-worked example writes out the attacker's derivation; the bounds
asserted are the ones worked out by hand. The property tests compare the
linear-programming audit with brute-force enumeration on tiny tables and
check the guarantees of protect_set on random tables with extra relations.
"""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from casework_analytics import CaseworkError, disclosure
from casework_analytics.disclosure import (
    PublishedSet,
    add_curve,
    audit,
    coarsen_curve,
    protect_set,
)
from casework_analytics.privacy import HIDDEN
from casework_analytics.survival import kaplan_meier

SITES = pd.Index(["A", "B", "All"], name="site")


def bounds(frame: pd.DataFrame) -> dict:
    """``{(row, column): (lower, upper)}`` of an audit table."""
    return {(r.row, r.column): (r.lower, r.upper) for r in frame.itertuples(index=False)}


def test_module_examples_run():
    result = doctest.testmod(disclosure, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------- hand-worked sets


def two_by_two() -> PublishedSet:
    table = pd.DataFrame(
        {"planned": [3, 15, 18], "unplanned": [20, 30, 50], "total": [23, 45, 68]}, index=SITES
    )
    return (
        PublishedSet()
        .add_table("exits", table, counts=["planned", "unplanned", "total"])
        .add_column_sums(table="exits", total="total", parts=["planned", "unplanned"])
        .add_group_totals("exits", group="site")
    )


def test_two_by_two_with_margins_line_suppression_is_enough():
    # planned_A = 3 is hidden; the line pass hides 20 (row A), 15 (column
    # planned) and 30 (column unplanned): the classic four-cell cycle.
    # Attacker, with x = planned_A: unplanned_A = 23 - x, planned_B = 18 - x,
    # unplanned_B = 45 - (18 - x) = 27 + x. Every hidden cell >= 1 gives
    # x <= 17 (planned_B) and x <= 22 (unplanned_A): x in [1, 17].
    result = protect_set(two_by_two())
    assert result.protected and result.rounds == 1
    assert bounds(result.audit) == {
        ("A", "planned"): (1, 17),
        ("A", "unplanned"): (6, 22),
        ("B", "planned"): (1, 17),
        ("B", "unplanned"): (28, 44),
    }
    # The four interior cells are hidden and every margin is shown.
    hidden = result.cells["hidden"].to_numpy().reshape(3, 3)
    assert hidden.tolist() == [[True, True, False], [True, True, False], [False, False, False]]
    assert result.cells.loc[result.cells["hidden"], "status"].tolist() == [
        "primary",
        "complementary",
        "complementary",
        "complementary",
    ]


def funnel_and_exits() -> PublishedSet:
    funnel = pd.DataFrame({"n_cases": [40, 60, 100]}, index=SITES)
    exits = pd.DataFrame({"n_exits": [35, 52, 87], "n_open": [5, 8, 13]}, index=SITES)
    return (
        PublishedSet()
        .add_table("funnel", funnel, counts=["n_cases"])
        .add_table("exits", exits, counts=["n_exits", "n_open"])
        .add_group_totals("funnel", group="site")
        .add_group_totals("exits", group="site")
        .add_column_sums(("funnel", "n_cases"), [("exits", "n_exits"), ("exits", "n_open")])
    )


def test_two_tables_sharing_a_total_line_method_leaks_audit_catches_it():
    ps = funnel_and_exits()
    # Table by table, n_open 5 and 8 would be hidden, and their column has two
    # hidden cells, so the exits table alone looks safe.
    cells = ps.cells
    hidden = ((cells["table"] == "exits") & (cells["column"] == "n_open")).to_numpy()
    hidden = hidden & (cells["row"] != "All").to_numpy()
    # Attacker: n_open_A = n_cases_A - n_exits_A = 40 - 35 = 5 (funnel
    # minus exits), n_open_B = 60 - 52 = 8.
    leak = audit(ps, hidden)
    assert bounds(leak) == {("A", "n_open"): (5, 5), ("B", "n_open"): (8, 8)}
    assert leak["pinned"].all()
    # Protected: n_exits A and B are hidden too. With x = n_open_A:
    # n_exits_A = 40 - x, n_open_B = 13 - x, n_exits_B = 60 - 13 + x;
    # n_open_B >= 1 gives x <= 12.
    result = protect_set(ps)
    assert result.protected
    assert bounds(result.audit) == {
        ("A", "n_exits"): (28, 39),
        ("A", "n_open"): (1, 12),
        ("B", "n_exits"): (48, 59),
        ("B", "n_open"): (1, 12),
    }
    assert result.table("funnel")["n_cases"].tolist() == [40, 60, 100]


def test_nested_counts_differencing_is_caught():
    # Reached engagement 40, reached assessment 37: the 3 who stopped at
    # engagement are never published, but 40 - 37 = 3 gives them away.
    funnel = pd.DataFrame(
        {"reached": [40, 37]}, index=pd.Index(["engagement", "assessment"], name="stage")
    )
    stopped = pd.DataFrame({"stopped": [3, 37]}, index=funnel.index)
    ps = (
        PublishedSet()
        .add_table("funnel", funnel, counts=["reached"])
        .add_table("stopped", stopped, counts=["stopped"], unpublished=["stopped"])
    )
    # reached_k = reached_{k+1} + stopped_k; the last stage: reached = stopped.
    ps.add_relations(
        pd.DataFrame(
            {
                "relation": ["e", "e", "e", "a", "a"],
                "table": ["funnel", "funnel", "stopped", "funnel", "stopped"],
                "row": ["engagement", "assessment", "engagement", "assessment", "assessment"],
                "column": ["reached", "reached", "stopped", "reached", "stopped"],
                "coef": [1, -1, -1, 1, -1],
            }
        )
    )
    leak = audit(ps)
    assert bounds(leak) == {("engagement", "stopped"): (3, 3)}  # only the small one is audited
    assert leak["pinned"].all() and not leak["published"].any()
    # Protected: reached_assessment (37) is hidden. Then reached_a in
    # [1, 40] (stopped_e = 40 - reached_a >= 0) and stopped_e in [0, 39].
    result = protect_set(ps)
    assert result.protected
    assert result.table("funnel")["reached"].tolist() == [40, HIDDEN]
    assert bounds(result.audit) == {
        ("assessment", "reached"): (1, 40),
        ("engagement", "stopped"): (0, 39),
    }
    with pytest.raises(KeyError):
        result.table("funnel")["stopped"]


def test_read_equals_accepted_plus_rejected():
    screens = pd.DataFrame(
        {"read": [30, 50, 80], "accepted": [27, 38, 65], "rejected": [3, 12, 15]}, index=SITES
    )
    ps = (
        PublishedSet()
        .add_table("screens", screens, counts=["read", "accepted", "rejected"])
        .add_column_sums(table="screens", total="read", parts=["accepted", "rejected"])
        .add_group_totals("screens", group="site")
    )
    # rejected_A = 3 is hidden; read_A = accepted_A + rejected_A hides
    # accepted_A (27 < 30); the rejected column hides rejected_B (12 < 15);
    # then row B hides accepted_B (38 < 50). Attacker, x = rejected_A:
    # accepted_A = 30 - x, rejected_B = 15 - x, accepted_B = 50 - 15 + x;
    # rejected_B >= 1 gives x <= 14.
    result = protect_set(ps)
    assert result.protected
    assert bounds(result.audit) == {
        ("A", "accepted"): (16, 29),
        ("A", "rejected"): (1, 14),
        ("B", "accepted"): (36, 49),
        ("B", "rejected"): (1, 14),
    }
    assert result.table("screens")["read"].tolist() == [30, 50, 80]


def test_two_hidden_cells_whose_sum_is_known_need_the_audit():
    # a = 2 and b = 1 are hidden; the line has two hidden cells, so the
    # line pass is satisfied. But a + b = 43 - 40 = 3: each is 1 or 2.
    row = pd.DataFrame({"a": [2], "b": [1], "c": [40], "total": [43]})
    ps = PublishedSet().add_table("t", row, counts=["a", "b", "c", "total"])
    ps.add_column_sums(table="t", total="total", parts=["a", "b", "c"])
    leak = audit(ps, [True, True, False, False])
    assert bounds(leak) == {(0, "a"): (1, 2), (0, "b"): (1, 2)}
    assert leak["pinned"].all()
    # The audit round hides c (the only shown non-zero part): then
    # a + b + c = 43 with each at least 1 gives each 1..41.
    result = protect_set(ps)
    assert result.protected and result.rounds == 2
    assert result.table("t").iloc[0].tolist() == [HIDDEN, HIDDEN, HIDDEN, 43]
    assert bounds(result.audit) == {(0, "a"): (1, 41), (0, "b"): (1, 41), (0, "c"): (1, 41)}


def test_a_set_that_cannot_be_protected_is_reported():
    # Site A's 4 clients (3 men, 1 woman): every count is small, and the
    # attacker knows from elsewhere that the site served exactly 4. Then
    # men = 4 - women with women >= 1 and men >= 1: men in [1, 3], whatever
    # is hidden.
    sex = pd.DataFrame({"men": [3], "women": [1], "total": [4]}, index=pd.Index(["A"]))
    ps = (
        PublishedSet()
        .add_table(
            "sex", sex, counts=["men", "women", "total"], lower={"total": 4}, upper={"total": 4}
        )
        .add_column_sums(table="sex", total="total", parts=["men", "women"])
    )
    result = protect_set(ps)
    assert not result.protected
    assert result.cells["hidden"].all()
    assert bounds(result.unprotectable) == {
        ("A", "men"): (1, 3),
        ("A", "women"): (1, 3),
        ("A", "total"): (4, 4),
    }
    assert result.unprotectable["table"].unique().tolist() == ["sex"]
    assert result.audit["pinned"].sum() == 3


def test_withheld_table_is_still_audited():
    # Withholding the exits table: its counts become unpublished, and the
    # small ones (n_open 5 and 8) are still audited. The funnel gives only
    # n_exits_A + n_open_A = 40, so n_open_A can be anything in 0..40.
    ps = funnel_and_exits().withhold("exits")
    result = protect_set(ps)
    assert result.protected
    assert set(result.cells.loc[result.cells["table"] == "exits", "status"]) == {"unpublished"}
    with pytest.raises(CaseworkError, match="withheld"):
        result.table("exits")
    assert bounds(result.audit) == {("A", "n_open"): (0, 40), ("B", "n_open"): (0, 60)}
    assert not result.audit["published"].any()


def test_a_protection_does_not_follow_later_changes_to_the_set():
    ps = funnel_and_exits()
    result = protect_set(ps)
    ps.withhold("exits")  # after protecting: the result still describes what it protected
    assert result.table("exits")["n_open"].tolist() == [HIDDEN, HIDDEN, 13]
    assert len(result.audit) == 4


def test_derived_values_follow_their_counts():
    table = pd.DataFrame(
        {
            "n": [4, 30, 34],
            "total": [40, 50, 90],
            "share": [0.1, 0.6, 34 / 90],
        },
        index=SITES,
    )
    ps = (
        PublishedSet()
        .add_table("t", table, counts=["n", "total"], derived={"share": ["n", "total"]})
        .add_group_totals("t", group="site")
    )
    result = protect_set(ps)
    out = result.table("t")
    # n_A = 4 is hidden, so n_B is too (A = All - B); a share of a hidden
    # count would give it back (share * total), so both shares are hidden.
    assert out["n"].tolist() == [HIDDEN, HIDDEN, 34]
    assert out["share"].tolist() == [HIDDEN, HIDDEN, 34 / 90]
    assert out["total"].tolist() == [40, 50, 90]
    status = result.cells.set_index(["row", "column"])["status"]
    assert status[("B", "share")] == "derived" and status[("All", "share")] == "shown"
    # Derived values never enter the audit.
    assert set(result.audit["column"]) == {"n"}


def test_derived_values_can_rest_on_counts_of_other_rows():
    # conversion = reached / reached of the previous stage: hidden when
    # either count is, like publish.py's funnel rule.
    funnel = pd.DataFrame(
        {"reached": [40, 5, 0], "conversion": [1.0, 5 / 40, 0.0]},
        index=pd.Index(["engagement", "assessment", "planning"], name="stage"),
    )
    ps = PublishedSet().add_table(
        "funnel", funnel, counts=["reached"], derived={"conversion": ["reached"]}
    )
    ps.add_sources(
        pd.DataFrame(
            {
                "table": "funnel",
                "row": ["assessment", "planning"],
                "column": "conversion",
                "source_table": "funnel",
                "source_row": ["engagement", "assessment"],
                "source_column": "reached",
            }
        )
    )
    out = protect_set(ps).table("funnel")
    # 5 is hidden, so its own conversion and the next stage's (0 / 5) are too.
    assert out["reached"].tolist() == [40, HIDDEN, 0]
    assert out["conversion"].tolist() == [1.0, HIDDEN, HIDDEN]
    with pytest.raises(CaseworkError, match="other way round"):
        ps.add_sources(
            pd.DataFrame(
                {
                    "table": "funnel",
                    "row": ["planning"],
                    "column": "reached",
                    "source_table": "funnel",
                    "source_row": ["assessment"],
                    "source_column": "conversion",
                }
            )
        )


def test_integer_attacker_gets_tighter_bounds_on_linked_relations():
    # a + 2b = 8 and a + c = 4, every cell hidden (true a=2, b=3, c=2).
    # Linear relaxation: c >= 1 gives a <= 3, so a in [1, 3] and
    # b = (8 - a) / 2 in [2.5, 3.5], rounded inward to [3, 3]. In whole
    # numbers a = 8 - 2b is even: a = 2, hence c = 2.
    t = pd.DataFrame({"a": [2], "b": [3], "c": [2]})
    everything = pd.DataFrame(True, index=t.index, columns=t.columns)
    ps = PublishedSet().add_table("t", t, counts=["a", "b", "c"], hidden=everything)
    terms = pd.DataFrame(
        {
            "relation": ["r1", "r1", "r2", "r2"],
            "table": "t",
            "row": 0,
            "column": ["a", "b", "a", "c"],
            "coef": [1, 2, 1, 1],
        }
    )
    ps.add_relations(terms, constants={"r1": 8, "r2": 4})
    relaxed = audit(ps)
    assert bounds(relaxed) == {(0, "a"): (1, 3), (0, "b"): (3, 3), (0, "c"): (1, 3)}
    assert bounds(audit(ps, integer=True)) == {(0, "a"): (2, 2), (0, "b"): (3, 3), (0, "c"): (2, 2)}


def test_unbounded_cells_and_lower_bounds_from_the_rules():
    # a + b = total, all hidden, nothing published: each can grow without
    # limit; the total is at least 2 because each hidden part is at least 1.
    t = pd.DataFrame({"a": [3], "b": [5], "total": [8]})
    ps = PublishedSet().add_table("t", t, counts=["a", "b", "total"])
    ps.add_column_sums(table="t", total="total", parts=["a", "b"])
    found = audit(ps, [True, True, True])
    assert bounds(found) == {
        (0, "a"): (1, np.inf),
        (0, "b"): (1, np.inf),
        (0, "total"): (2, np.inf),
    }
    assert not found["pinned"].any()


def test_cells_bound_by_nothing_are_not_solved_but_given_bounds_count():
    t = pd.DataFrame({"a": [3], "b": [5]})
    ps = PublishedSet().add_table("t", t, counts=["a", "b"], upper={"b": 6})
    found = audit(ps, [True, True])
    assert bounds(found) == {(0, "a"): (1, np.inf), (0, "b"): (1, 6)}
    assert found["pinned"].tolist() == [False, False]
    tight = PublishedSet().add_table("t", t, counts=["a", "b"], upper={"b": 5})
    assert audit(tight, [True, True])["pinned"].tolist() == [False, True]


@pytest.mark.parametrize(
    ("upper", "pinned"),
    [(4, True), (5, True), (6, False)],  # interval [1, upper]: width 3, 4 (= 2m), 5
)
def test_pinned_means_the_interval_fits_in_a_band_of_plus_minus_margin(upper, pinned):
    t = pd.DataFrame({"a": [3]})
    ps = PublishedSet().add_table("t", t, counts=["a"], upper=upper)
    found = audit(ps, [True])
    assert found["upper"].tolist() == [upper]
    assert found["pinned"].tolist() == [pinned]
    # margin 0: only a determined cell is pinned
    assert not audit(ps, [True], margin=0)["pinned"].any()


def test_one_sided_bound_does_not_pin():
    # total = a + b, all hidden: the attacker knows total >= 2 (two hidden
    # parts of at least 1) and the truth is 4, but with no upper limit no
    # +/-2 band is certain to hold it.
    t = pd.DataFrame({"a": [1], "b": [3], "total": [4]})
    ps = PublishedSet().add_table("t", t, counts=["a", "b", "total"])
    ps.add_column_sums(table="t", total="total", parts=["a", "b"])
    found = audit(ps, [True, True, True])
    assert bounds(found)[(0, "total")] == (2, np.inf)
    assert not found["pinned"].any()


def test_exact_and_proof_only_audits_agree_on_pinning():
    ps = funnel_and_exits()
    cells = ps.cells
    hidden = ((cells["column"] == "n_open") & (cells["row"] != "All")).to_numpy()
    for mask in (hidden, protect_set(ps).cells["hidden"].to_numpy()):
        exact, proof = audit(ps, mask), audit(ps, mask, exact=False)
        assert exact["pinned"].tolist() == proof["pinned"].tolist()
        assert (proof["lower"] >= exact["lower"]).all() and (proof["upper"] <= exact["upper"]).all()


def test_relations_must_hold_for_the_true_values():
    t = pd.DataFrame({"a": [3], "b": [5], "total": [9]})
    ps = PublishedSet().add_table("t", t, counts=["a", "b", "total"])
    ps.add_column_sums(table="t", total="total", parts=["a", "b"])
    with pytest.raises(CaseworkError, match=r"t\.total = t\.a \+ t\.b"):
        audit(ps)


def test_hidden_zeros_are_refused_and_zeros_never_hidden():
    t = pd.DataFrame({"a": [0], "b": [5]})
    ps = PublishedSet().add_table("t", t, counts=["a", "b"])
    with pytest.raises(CaseworkError, match="hold 0"):
        audit(ps, [True, False])
    row = pd.DataFrame({"a": [3], "z": [0], "total": [3]})
    ps = PublishedSet().add_table("t", row, counts=["a", "z", "total"])
    ps.add_column_sums(table="t", total="total", parts=["a", "z"])
    result = protect_set(ps)
    assert result.table("t").iloc[0].tolist() == [HIDDEN, 0, HIDDEN]


def test_zeros_are_never_hidden_even_when_nothing_else_could_help():
    # a + z = 3 is known from elsewhere (a constant), z = 0 is shown: a is
    # determined, and only hiding the zero could blur it. Zeros stay shown
    # (the audit relies on every marker meaning at least 1), so the set is
    # reported as unprotectable instead.
    t = pd.DataFrame({"a": [3], "z": [0]})
    ps = PublishedSet().add_table("t", t, counts=["a", "z"])
    terms = pd.DataFrame(
        {"relation": "known", "table": "t", "row": 0, "column": ["a", "z"], "coef": 1.0}
    )
    ps.add_relations(terms, constants={"known": 3})
    result = protect_set(ps)
    assert result.table("t").iloc[0].tolist() == [HIDDEN, 0]
    assert not result.protected
    assert bounds(result.unprotectable) == {(0, "a"): (3, 3)}


def test_bad_input_names_what_is_wrong():
    t = pd.DataFrame({"a": [3.5]})
    with pytest.raises(CaseworkError, match="whole numbers"):
        PublishedSet().add_table("t", t, counts=["a"])
    ps = PublishedSet().add_table("t", pd.DataFrame({"a": [3]}), counts=["a"])
    with pytest.raises(CaseworkError, match="no row"):
        ps.add_column_sums(table="t", total="a", parts=["a"], rows=["x"])
    with pytest.raises(CaseworkError, match="no column"):
        ps.add_column_sums(table="t", total="a", parts=["b"])
    with pytest.raises(ValueError, match="`margin`"):
        audit(ps, margin=-1)
    with pytest.raises(ValueError, match="one flag per cell"):
        audit(ps, [True, False])


# ---------------------------------------------------------------- properties


@st.composite
def small_tables(draw):
    """A 2x2 table of counts 0..6 with margins, the grand total shown, and
    up to four other cells hidden (never a zero): at random, or a
    rectangle of four cells (a cycle the attacker cannot close)."""
    inner = np.array(draw(st.lists(st.integers(0, 6), min_size=4, max_size=4))).reshape(2, 2)
    full = np.column_stack([inner, inner.sum(axis=1)])
    full = np.vstack([full, full.sum(axis=0)])
    rows, cols = draw(st.permutations([0, 1, 2])), draw(st.permutations([0, 1, 2]))
    rectangle = [r * 3 + c for r in rows[:2] for c in cols[:2]]
    candidates = [i for i in range(8) if full.ravel()[i] > 0]
    if draw(st.booleans()) and all(i in candidates for i in rectangle):
        return full, sorted(rectangle)
    hidden = (
        draw(st.lists(st.sampled_from(candidates), max_size=4, unique=True)) if candidates else []
    )
    return full, sorted(hidden)


def table_set(full: np.ndarray) -> PublishedSet:
    frame = pd.DataFrame(
        full, columns=["x", "y", "total"], index=pd.Index(["A", "B", "All"], name="g")
    )
    return (
        PublishedSet()
        .add_table("t", frame, counts=["x", "y", "total"])
        .add_column_sums(table="t", total="total", parts=["x", "y"])
        .add_group_totals("t", group="g")
    )


@settings(max_examples=60, deadline=None)
@given(small_tables())
def test_audit_bounds_equal_brute_force_enumeration(case):
    full, hidden = case
    mask = np.zeros(9, dtype=bool)
    mask[hidden] = True
    found = audit(table_set(full), mask)
    flat = full.ravel().astype(int)
    grand = flat[8]
    # Every assignment of whole numbers 1..grand to the hidden cells that
    # keeps every row and column sum.
    k = len(hidden)
    if not k:
        assert found.empty
        return
    grid = np.stack(np.meshgrid(*[np.arange(1, grand + 1)] * k, indexing="ij"), -1)
    trials = np.tile(flat, (grid.size // k, 1))
    trials[:, hidden] = grid.reshape(-1, k)
    t = trials.reshape(-1, 3, 3)
    ok = (t[:, :, :2].sum(axis=2) == t[:, :, 2]).all(axis=1)
    ok &= (t[:, :2, :].sum(axis=1) == t[:, 2, :]).all(axis=1)
    feasible = trials[ok][:, hidden]
    lows, highs = feasible.min(axis=0), feasible.max(axis=0)
    assert found["lower"].tolist() == lows.tolist()
    assert found["upper"].tolist() == highs.tolist()


@st.composite
def linked_sets(draw):
    """A random count table with margins, plus a second table that
    publishes sums of random groups of its cells, an unpublished table of
    differences between random pairs, and random cells hidden beforehand."""
    n_rows, n_cols = draw(st.integers(2, 4)), draw(st.integers(2, 3))
    values = draw(
        st.lists(
            st.one_of(st.integers(0, 12), st.integers(0, 60)),
            min_size=n_rows * n_cols,
            max_size=n_rows * n_cols,
        )
    )
    inner = np.array(values).reshape(n_rows, n_cols)
    full = np.column_stack([inner, inner.sum(axis=1)])
    full = np.vstack([full, full.sum(axis=0)])
    rows = pd.Index([*(f"r{i}" for i in range(n_rows)), "All"], name="g")
    cols = [*(f"c{j}" for j in range(n_cols)), "total"]
    frame = pd.DataFrame(full, index=rows, columns=cols)
    nonzero = [i for i, v in enumerate(full.ravel()) if v > 0]
    given = draw(st.lists(st.sampled_from(nonzero), max_size=2, unique=True)) if nonzero else []
    given_mask = np.zeros(full.size, dtype=bool)
    given_mask[given] = True
    ps = (
        PublishedSet()
        .add_table(
            "t",
            frame,
            counts=cols,
            hidden=pd.DataFrame(given_mask.reshape(full.shape), index=rows, columns=cols),
        )
        .add_column_sums(table="t", total="total", parts=cols[:-1])
        .add_group_totals("t", group="g")
    )
    cells = [(r, c) for r in rows[:-1] for c in cols[:-1]]
    groups = draw(
        st.lists(
            st.lists(st.sampled_from(cells), min_size=2, max_size=4, unique=True),
            max_size=3,
        )
    )
    if groups:
        sums = pd.DataFrame(
            {"n": [int(sum(frame.loc[r, c] for r, c in g)) for g in groups]},
            index=pd.Index([f"s{i}" for i in range(len(groups))]),
        )
        ps.add_table("sums", sums, counts=["n"])
        terms = [(f"s{i}", "sums", f"s{i}", "n", 1.0) for i in range(len(groups))]
        terms += [(f"s{i}", "t", r, c, -1.0) for i, g in enumerate(groups) for r, c in g]
        ps.add_relations(
            pd.DataFrame(terms, columns=["relation", "table", "row", "column", "coef"])
        )
    pairs = draw(st.lists(st.tuples(st.sampled_from(cells), st.sampled_from(cells)), max_size=2))
    pairs = [(a, b) for a, b in pairs if a != b and frame.loc[a] >= frame.loc[b]]
    if pairs:
        diffs = pd.DataFrame(
            {"d": [int(frame.loc[a] - frame.loc[b]) for a, b in pairs]},
            index=pd.Index([f"d{i}" for i in range(len(pairs))]),
        )
        ps.add_table("diffs", diffs, counts=["d"], unpublished=["d"])
        terms = []
        for i, (a, b) in enumerate(pairs):
            terms += [
                (f"d{i}", "t", a[0], a[1], 1.0),
                (f"d{i}", "t", b[0], b[1], -1.0),
                (f"d{i}", "diffs", f"d{i}", "d", -1.0),
            ]
        ps.add_relations(
            pd.DataFrame(terms, columns=["relation", "table", "row", "column", "coef"])
        )
    return ps, given_mask


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linked_sets(), st.integers(2, 11))
def test_protect_set_leaves_nothing_pinned(case, threshold):
    ps, given = case
    result = protect_set(ps, threshold=threshold)
    event(f"tables: {'+'.join(ps.tables)}")
    event("protected" if result.protected else "unprotectable")
    event(f"rounds: {result.rounds}")
    cells = result.cells
    hidden = cells["hidden"].to_numpy()
    count = (cells["kind"] == "count").to_numpy()
    published = cells["published"].to_numpy()
    values = cells["value"].to_numpy()
    # Every primary cell is hidden; nothing given is shown again; zeros are shown.
    assert hidden[count & published & (values >= 1) & (values < threshold)].all()
    assert hidden[: len(given)][given].all()
    assert not hidden[count & published & (values == 0)].any()
    # An independent exact audit of what is published finds exactly the
    # cells reported as unprotectable, and nothing when protected.
    final = audit(ps, hidden, threshold=threshold)
    assert bounds(final[final["pinned"]]) == bounds(result.unprotectable)
    assert result.protected == (not final["pinned"].any())
    if not result.protected:
        # Given up only where no shown count is left around the pinned cells:
        # hiding every non-zero published count leaves them just as pinned.
        everything = count & published & (values > 0)
        worst = audit(ps, everything, threshold=threshold)
        still = bounds(worst[worst["pinned"]])
        assert {k: still.get(k) for k in bounds(result.unprotectable)} == bounds(
            result.unprotectable
        )
    proof = audit(ps, hidden, threshold=threshold, exact=False)
    assert proof["pinned"].tolist() == final["pinned"].tolist()
    assert ((final["lower"] <= final["value"]) & (final["value"] <= final["upper"])).all()


def test_block_restriction_agrees_with_the_full_solve(monkeypatch):
    # Large components are first solved block by block: with every cell
    # outside the block fixed at its true value (a slice of the attacker's
    # feasible set, to prove cells unpinned) and with the relations that
    # tie blocks together dropped (a relaxation, to prove cells pinned).
    # Force that on a 12-site table, then check the pinning it proves
    # against the exact audit of the whole component.
    rng = np.random.default_rng(3)
    inner = rng.integers(0, 25, size=(12, 3))
    full = np.column_stack([inner, inner.sum(axis=1)])
    full = np.vstack([full, full.sum(axis=0)])
    rows = pd.Index([*(f"s{i}" for i in range(12)), "All"], name="site")
    frame = pd.DataFrame(full, index=rows, columns=["x", "y", "z", "total"])
    ps = (
        PublishedSet()
        .add_table("t", frame, counts=["x", "y", "z", "total"])
        .add_column_sums(table="t", total="total", parts=["x", "y", "z"])
        .add_group_totals("t", group="site")
    )
    values = ps.cells["value"].to_numpy()
    primary = (values >= 1) & (values < 11)
    plain = protect_set(ps).cells["hidden"].tolist()  # whole components only
    used = []
    real = disclosure._local_blocks

    def spy(problem, **options):
        blocks = real(problem, **options)
        used.append(len(blocks))
        return blocks

    monkeypatch.setattr(disclosure, "_local_blocks", spy)
    monkeypatch.setattr(disclosure, "LOCAL_BLOCKS_FROM", 4)
    monkeypatch.setattr(disclosure, "LOCAL_RELATION_SIZE", 4)
    monkeypatch.setattr(disclosure, "RANDOM_ROUNDS", 0)  # leave work for the blocks
    proof = audit(ps, primary, exact=False)
    result = protect_set(ps)
    assert max(used) > 1  # the restriction did split components
    exact = audit(ps, primary)
    assert exact["pinned"].any()
    assert proof["pinned"].tolist() == exact["pinned"].tolist()
    assert (proof["lower"] >= exact["lower"]).all() and (proof["upper"] <= exact["upper"]).all()
    assert result.protected and not result.audit["pinned"].any()
    # Proofs by blocks only make pinning cheaper to decide, never different:
    # the same cells are hidden.
    assert result.cells["hidden"].tolist() == plain


# ---------------------------------------------------------------- survival curves


@pytest.fixture(scope="module")
def km() -> pd.DataFrame:
    """Kaplan-Meier curves of two groups of 70 (and All): whole-day
    durations up to 300 days, about 60% events; fixed seed."""
    rng = np.random.default_rng(7)
    n = 140
    data = pd.DataFrame(
        {
            "group": np.repeat(["a", "b"], n // 2),
            "days": rng.integers(1, 300, n),
            "event": rng.random(n) < 0.6,
        }
    )
    return kaplan_meier(data, duration="days", event="event", by="group")


def back_calculate(curve: pd.DataFrame, at_risk_after: bool) -> pd.DataFrame:
    """The attack: events = round(n * (1 - S(t) / S(t-))), censored =
    n - events - next n, along each curve (n at risk at the row's time;
    for a table of numbers at risk *after* each time, n is the previous
    row's number, the first row's the group size)."""
    parts = []
    for _, rows in curve.groupby("group", sort=False):
        n_at = rows["at_risk"].to_numpy(dtype=float)
        s = rows["survival"].to_numpy(dtype=float)
        s_prev = np.r_[1.0, s[:-1]]
        if at_risk_after:
            n_before = np.r_[np.nan, n_at[:-1]]
            events = np.round(n_before * (1 - s / s_prev))
            censored = n_before - events - n_at
        else:
            events = np.round(n_at * (1 - s / s_prev))
            censored = n_at - events - np.r_[n_at[1:], np.nan]
        parts.append(rows.assign(events_hat=events, censored_hat=censored))
    return pd.concat(parts)


def test_naive_published_curve_gives_hidden_counts_back(km):
    # The naive way to publish a curve: every time with 11 or more at risk,
    # exact numbers at risk, small per-time events and censorings hidden.
    published = km[km["at_risk"] >= 11].reset_index(drop=True)
    published = published.astype({"events": object, "censored": object})
    for column in ("events", "censored"):
        small = published[column].astype(int).between(1, 10)
        published.loc[small, column] = HIDDEN
    hidden_events = published["events"] == HIDDEN
    hidden_censored = published["censored"] == HIDDEN
    assert hidden_events.sum() > 20 and hidden_censored.sum() > 20
    attacked = back_calculate(published, at_risk_after=False)
    truth = km[km["at_risk"] >= 11].reset_index(drop=True)
    assert (truth["time_days"] == published["time_days"]).all()
    assert (attacked["events_hat"][hidden_events] == truth["events"][hidden_events]).all()
    has_next = attacked["censored_hat"].notna() & hidden_censored
    assert has_next.sum() > 20
    assert (attacked["censored_hat"][has_next] == truth["censored"][has_next]).all()


def span_counts(curve: pd.DataFrame, km: pd.DataFrame) -> pd.DataFrame:
    """True events and censorings between consecutive published times."""
    ps = add_curve(PublishedSet(), "curve", curve, km, group="group")
    return ps.frame("curve")


def test_coarse_curve_defeats_the_back_calculation(km):
    coarse = coarsen_curve(km, group="group", every=30)
    assert list(coarse.columns) == [
        "group",
        "time_days",
        "at_risk",
        "survival",
        "se",
        "ci_low",
        "ci_high",
    ]
    assert (coarse["at_risk"] % 5 == 0).all()
    assert (coarse["at_risk"] >= 10).all()
    times = coarse.groupby("group")["time_days"].agg(tuple)
    assert times.nunique() == 1 and times.iloc[0][0] == 0
    # Every count the curve lets anyone isolate is 0 or at least 11, so
    # there is no small count to recover, however exact the attack.
    spans = span_counts(coarse, km)
    for column in ("events", "censored"):
        assert ((spans[column] == 0) | (spans[column] >= 11)).all()
    # The audit agrees, even for an attacker with the exact numbers at risk.
    ps = add_curve(PublishedSet(), "curve", coarse, km, group="group", decimals=3)
    assert not audit(ps)["pinned"].any()


def test_rounding_alone_does_not_defeat_it(km):
    # The same 30-day grid and base-5 rounding without the rule on spans
    # (threshold 1): the attack still reads small event counts off the drop
    # in the curve, and the audit pins them.
    naive = coarsen_curve(km, group="group", every=30, threshold=1)
    naive = naive[naive["at_risk"] >= 11]
    spans = span_counts(naive, km).reset_index()
    attacked = back_calculate(naive, at_risk_after=True).merge(
        spans, on=["group", "time_days"], suffixes=("", "_true")
    )
    small = (attacked["events"] >= 1) & (attacked["events"] <= 10)
    recovered = small & (attacked["events_hat"] == attacked["events"])
    assert recovered.sum() >= 5
    ps = add_curve(PublishedSet(), "curve", naive, km, group="group", decimals=3)
    found = audit(ps)
    pinned = found[found["pinned"] & (found["column"] == "events")]
    # Spans with more than 4 events and censorings in all: the numbers at
    # risk alone leave the events open by more than +/-2; the drop in the
    # curve is what pins them.
    spans = spans.set_index(["group", "time_days"])
    total = spans["events"] + spans["censored"]
    assert (total.loc[list(pinned["row"])] > 4).sum() >= 3


def test_coarsen_curve_stops_where_few_remain_and_keeps_groups_in_step(km):
    coarse = coarsen_curve(km, group="group", every=30, threshold=11)
    # Every grid time with the exact number still at risk after it.
    every_time = coarsen_curve(km, group="group", every=30, threshold=1, base=1)
    fewest = every_time.groupby("time_days")["at_risk"].min()
    first_short = fewest[fewest < 11].index.min()
    published = coarse["time_days"].unique()
    assert published.max() < first_short  # all curves stop together
    assert (fewest[published] >= 11).all()
    assert set(coarse["group"]) == {"a", "b", "All"}
    assert coarse.groupby("group").size().nunique() == 1
    assert coarsen_curve(km.iloc[0:0], group="group").empty


def test_coarsen_curve_checks_its_arguments(km):
    with pytest.raises(ValueError, match="`every`"):
        coarsen_curve(km, group="group", every=0)
    with pytest.raises(CaseworkError, match="lacks column"):
        coarsen_curve(km.drop(columns="censored"), group="group")


def test_the_tail_after_the_last_published_time_is_a_span_too():
    # Hand cohort of 40: 12 events on day 10, 3 on day 100, 25 censored on
    # day 200. The spans (0, 30], (30, 60], (60, 90] hold 12, 0 and 0
    # events, so a grid that looked only at spans would publish days 0-90.
    # With the total of 15 events published (survival_summary), the tail
    # after day 90 gives 15 - 12 = 3 events. Every time after day 10 shows
    # the 12, so only day 0 can be published.
    data = pd.DataFrame(
        {
            "days": [10] * 12 + [100] * 3 + [200] * 25,
            "event": [True] * 15 + [False] * 25,
        }
    )
    curve = kaplan_meier(data, duration="days", event="event")
    assert coarsen_curve(curve, every=30)["time_days"].tolist() == [0.0]
    # Move the 3 late events to day 25: spans (0, 30] = 15 events, tail 0
    # events and 25 censorings, so every grid time up to day 180 is kept.
    data.loc[data["days"] == 100, "days"] = 25
    curve = kaplan_meier(data, duration="days", event="event")
    kept = coarsen_curve(curve, every=30)["time_days"].tolist()
    assert kept == [0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0]


def test_a_curve_whose_tail_after_day_0_holds_a_small_count_is_not_published():
    # Hand cohort of 55: 15 censored on day 0 (no follow-up), 20 events on day 10,
    # 3 censored on day 20, 17 events on day 50. Grid 0, 30, 60: day 30 is out (its
    # span holds the 3 censorings), and from day 60 on fewer than 11 remain. Day 0
    # alone would publish at_risk 40 (the 55 minus the 15 censored on day 0);
    # survival_summary publishes n = 55 and events = 37 (censored 18: not small).
    # The attacker: censored after day 0 = 40 - (37 - 0 events by day 0) = 3.
    # So the tail after day 0 is a span like any other, and no day can be published.
    data = pd.DataFrame(
        {
            "days": [0] * 15 + [10] * 20 + [20] * 3 + [50] * 17,
            "event": [False] * 15 + [True] * 20 + [False] * 3 + [True] * 17,
        }
    )
    curve = kaplan_meier(data, duration="days", event="event")
    at_zero = curve[curve["time_days"] == 0]
    assert (at_zero["at_risk"] - at_zero["censored"]).item() == 40  # the attack's input
    assert coarsen_curve(curve, every=30).empty
    # With 13 censored on day 20 (and 7 events on day 50), the tail holds 27
    # events and 13 censorings: day 0 is published.
    data.loc[37:47, "event"] = False
    data.loc[37:47, "days"] = 20
    curve = kaplan_meier(data, duration="days", event="event")
    assert coarsen_curve(curve, every=30)["time_days"].tolist() == [0.0]


def test_tails_hold_no_small_count_on_grouped_curves(km):
    coarse = coarsen_curve(km, group="group", every=30)
    last = coarse.groupby("group")["time_days"].max()
    for group, rows in km.groupby("group"):
        after = rows[rows["time_days"] > last[group]]
        for column in ("events", "censored"):
            tail = after[column].sum()
            assert tail == 0 or tail >= 11, (group, column, tail)
