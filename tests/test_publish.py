"""The per-table publishing rules (casework_analytics.publish): on tiny hand cohorts
with a threshold of 3 (counts 1 and 2 hidden), exactly which cells are hidden, which
complements are audited, and which derived values follow, each worked out by hand from
the rules of the module docstring and of :func:`protect_counts`.

The attacker's derivations are written out; "pinned" means the attacker's interval for
a small count is at most 2 x margin = 4 wide. Only count tables are used here (exits,
the stage funnel), not curves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from casework_analytics import load
from casework_analytics.privacy import HIDDEN
from casework_analytics.publish import RULES, case_indicators, protect_counts, publish
from casework_analytics.summary import Summary

AS_OF = "2024-06-30"


def test_protect_counts_two_by_two_by_hand():
    # Atoms (groups of identical cases): a1 = G1 x (2), a2 = G1 y (20), a3 = G2 x (30),
    # a4 = G2 y (25). Cells 0-3 are the interior, 4-5 the group totals, 6-8 the whole
    # cohort's (spare: hidden only if nothing else will do).
    A = sparse.csr_array(
        np.array(
            [
                [1, 0, 0, 0],  # 0 G1 x = 2
                [0, 1, 0, 0],  # 1 G1 y = 20
                [0, 0, 1, 0],  # 2 G2 x = 30
                [0, 0, 0, 1],  # 3 G2 y = 25
                [1, 1, 0, 0],  # 4 G1 total = 22
                [0, 0, 1, 1],  # 5 G2 total = 55
                [1, 0, 1, 0],  # 6 All x = 32
                [0, 1, 0, 1],  # 7 All y = 45
                [1, 1, 1, 1],  # 8 All total = 77
            ]
        )
    )
    value = np.array([2, 20, 30, 25, 22, 55, 32, 45, 77], dtype=float)
    kind = np.array(["count"] * 9, dtype=object)
    spare = np.array([False] * 6 + [True] * 3)
    result = protect_counts(A, value, kind, value, threshold=3, margin=2, spare=spare)
    # Primary: cell 0 (2). Round 1: it is known exactly. Its partner is a sibling (a
    # count inside a shown total that holds it, sharing no case with it): inside G1
    # total, cell 1; inside All x, cell 2; inside All total, cells 1, 2, 3, 5 and 7.
    # Not spare (7 is), larger than the margin, smallest: cell 1 (20).
    # Round 2: x = a1 = All x - G2 x = 32 - 30 = 2, still pinned. Partner: the smallest
    # sibling left, cell 3 (25): the greedy rule takes the smaller, though only cell 2
    # would free x. Round 3: still 32 - 30; cell 2 (30) is hidden.
    # Round 4, with x = a1: a2 = 22 - x, a3 = 32 - x, a4 = 55 - 32 + x = 23 + x, and
    # All y = a2 + a4 = 45 for every x. Hidden counts are at least 1: a2 >= 1 gives
    # x <= 21, a3 >= 1 gives x <= 31; so x in [1, 21], 20 wide: not pinned. The hidden
    # large counts are targets too (in rounds 2 and 3 a2 = 22 - 2 and a4 = 55 - 30 were
    # known exactly, but a small target pinned comes first): now a2 = 22 - x in [1, 21],
    # a3 in [11, 31], a4 in [24, 44], none pinned. Round 5, the final audit of every
    # target, finds the same. Done.
    assert result.hidden.tolist() == [True] * 4 + [False] * 5
    assert result.status.tolist() == [
        "primary",
        "complementary",
        "complementary",
        "complementary",
        *["shown"] * 5,
    ]
    assert result.rounds == 5 and len(result.stuck) == 0


def test_protect_counts_hides_a_spare_total_only_when_nothing_else_will_do():
    # A complement (never published) of 2 inside a total of 10: a1 = 2 (the complement),
    # a2 = 8. Cells: 0 total = a1 + a2 = 10 (spare), 1 part = a2 = 8, 2 complement = a1.
    # Round 1: the complement is 10 - 8 = 2 exactly. Partner: siblings inside the total
    # that share no case with it: cell 1 (8), not spare: hidden. Round 2: a1 = 10 - a2
    # with a2 >= 1 (hidden) and a1 >= 0 (an atom): a1 in [0, 9], 9 wide, and the hidden
    # part a2 in [1, 10]: done. Round 3 is the final audit of every target.
    A = sparse.csr_array(np.array([[1, 1], [0, 1], [1, 0]]))
    value = np.array([10, 8, 2], dtype=float)
    kind = np.array(["count", "count", "complement"], dtype=object)
    spare = np.array([True, False, False])
    result = protect_counts(A, value, kind, value, threshold=3, spare=spare)
    assert result.hidden.tolist() == [False, True, False]
    assert result.status.tolist() == ["shown", "complementary", "unpublished"]
    # The part is 3 instead, with threshold 4: it is small itself, so hidden (primary);
    # the complement 10 - 3 = 7 is no small count, so it is no target. The attacker
    # knows only the total 10 and that the part is at least 1: part in [1, 10], 9
    # wide, not pinned. Nothing more is hidden, and the total stays shown. Round 2 is
    # the final audit.
    value = np.array([10, 3, 7], dtype=float)
    result = protect_counts(A, value, kind, value, threshold=4, spare=spare)
    assert result.hidden.tolist() == [False, True, False]
    assert result.status.tolist() == ["shown", "primary", "unpublished"]
    assert result.rounds == 2


@pytest.mark.parametrize(("total", "total_hidden"), [(6, True), (7, False)])
def test_protect_counts_band_of_plus_minus_margin(total, total_hidden):
    # A total (spare) of a small part a1 = 2 and a part a2 = total - 2. Primary: a1.
    # Round 1: a1 = total - a2 exactly; its sibling a2 is hidden. Round 2: a2 >= 1, so
    # a1 in [1, total - 1]. Total 6: [1, 5], 4 wide = 2 x margin: still pinned (the
    # band is inclusive), and so is the hidden a2 = 6 - a1; the small one comes first:
    # nothing else shown but the total, hidden too (round 3: neither has an upper
    # bound). Total 7: [1, 6], 5 wide: not pinned, the total stays. Then the final audit
    # of every target (round 4, or 3).
    A = sparse.csr_array(np.array([[1, 1], [1, 0], [0, 1]]))
    value = np.array([total, 2, total - 2], dtype=float)
    kind = np.array(["count"] * 3, dtype=object)
    result = protect_counts(
        A, value, kind, value, threshold=3, margin=2, spare=np.array([True, False, False])
    )
    assert result.hidden.tolist() == [total_hidden, True, True]
    assert result.rounds == (4 if total_hidden else 3) and len(result.stuck) == 0


def test_protect_counts_knows_every_group_shown_has_at_least_threshold_cases():
    # A 2 x 2 table, threshold 3: G1 x = 1, G1 y = 2, G2 x = 1, G2 y = 5 (atoms a1-a4);
    # G1 = 3, G2 = 6; All x = 2, All y = 7, All = 9 (the last three spare).
    A = np.array(
        [
            [1, 0, 0, 0],
            [0, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 1],
            [1, 1, 0, 0],  # 4 G1
            [0, 0, 1, 1],  # 5 G2
            [1, 0, 1, 0],  # 6 All x
            [0, 1, 0, 1],  # 7 All y
            [1, 1, 1, 1],  # 8 All
        ]
    )
    value = A @ np.array([1, 2, 1, 5])
    spare = np.array([False] * 6 + [True] * 3)
    kind = np.array(["count"] * 9, dtype=object)
    plain = protect_counts(sparse.csr_array(A), value, kind, value, threshold=3, spare=spare)
    # Every count but All ends hidden. Knowing only that hidden counts are at least 1,
    # G1 = a1 + a2 in [2, 7] (G2 >= 2 and All = 9), each a_i in [1, 6] (the other three
    # >= 1): 5 wide, nothing pinned, All stays shown.
    assert plain.hidden.tolist() == [True] * 8 + [False]
    # The folding rule tells the attacker more: both groups are shown, so each has at
    # least 3 clients. Now G1 in [3, 6] and a1 = G1 - a2 in [1, 5]: 3 and 4 wide, both
    # pinned (G1 = 3 is no small count, but it is hidden). The one count left to hide
    # is All (spare): hidden, and then nothing has an upper bound.
    floors = np.array([[1, 1, 0, 0], [0, 0, 1, 1]])
    with_floors = protect_counts(
        sparse.csr_array(np.vstack([A, floors])),
        np.r_[value, floors @ np.array([1, 2, 1, 5])],
        np.r_[kind, ["floor", "floor"]],
        np.r_[value, [np.nan, np.nan]],
        threshold=3,
        spare=np.r_[spare, [False, False]],
    )
    assert with_floors.hidden.tolist() == [True] * 9 + [False] * 2
    assert with_floors.status[-2:].tolist() == ["unpublished"] * 2
    assert len(with_floors.stuck) == 0


def _cohort(cases: list[tuple[str, str | None]], furthest: list[int] | None = None):
    """Cases at placements PA, PB (sites A, B), intake 1 January 2024: ``(site, closure
    note or None for open)``, closed on 1 March; each case in engagement, and in
    assessment from 15 January if its ``furthest`` stage is 2."""
    ids = [f"C{i:02d}" for i in range(len(cases))]
    furthest = furthest or [1] * len(cases)
    frame = pd.DataFrame(
        {
            "case_id": ids,
            "placement_id": ["P" + site for site, _ in cases],
            "client_id": ["K" + i for i in ids],
            "intake_date": "2024-01-01",
            "closed_date": [None if note is None else "2024-03-01" for _, note in cases],
            "closure_reason": [note for _, note in cases],
        }
    )
    placements = pd.DataFrame(
        {
            "placement_id": ["PA", "PB"],
            "site": ["A", "B"],
            "caseworker_id": "W",
            "start_date": "2024-01-01",
            "end_date": "2024-06-30",
        }
    )
    rows = []
    for case, stage in zip(ids, furthest, strict=True):
        rows.append((case, "engagement", "2024-01-01", "2024-01-15" if stage > 1 else None))
        if stage > 1:
            rows.append((case, "assessment", "2024-01-15", None))
    stages = pd.DataFrame(rows, columns=["case_id", "stage", "started_on", "completed_on"])
    cohort = load({"placements": placements, "cases": frame, "stages": stages})
    assert not cohort.has_errors, cohort.problems
    return cohort


def test_exits_table_hidden_cells_and_complements_by_hand():
    # Site A: 20 completed ("tujuan tercapai": planned), 2 scheduling conflicts
    # ("jadwal tidak cocok": unplanned). Site B: 30 completed, 25 scheduling conflicts.
    # Every case closed. Threshold 3: counts 1 and 2 are small.
    done, clash = "tujuan tercapai", "jadwal tidak cocok"
    cohort = _cohort(
        [("A", done)] * 20 + [("A", clash)] * 2 + [("B", done)] * 30 + [("B", clash)] * 25
    )
    publication = publish(Summary(cohort, AS_OF, "site"), threshold=3, names=["exits"])
    table = publication.tables["exits"]
    # Reason rows are published for the whole cohort only (RULES["exits"]).
    assert RULES["exits"].whole_only_rows is not None
    assert set(table.loc[table["level"] == "reason", "site"]) == {"All"}

    # The counts (n per exit type; n_exits closed; n_open), a = site A, b = site B:
    #   a_planned 20, a_unplanned 2, b_planned 30, b_unplanned 25; n_exits A 22, B 55;
    #   All: planned 50 (= completed), unplanned 27 (= scheduling_conflict), closed 77.
    # Primary: a_unplanned = 2, the same cases as the complement "A closed minus A
    # planned" (22 - 20), counted twice as audited targets: once as the complement of
    # the table's parent rule (n within n_exits), once found by the nested-count pass.
    # Round 1, target a_unplanned: its siblings (inside A closed, All unplanned, All
    # closed, sharing no case): a_planned 20, b_unplanned 25, b_planned 30, B closed
    # 55 (and the spare All planned): a_planned (20) is hidden. The complement (the
    # same cases) shares no case with a_planned, so it is not blocked and takes the
    # next, b_unplanned (25); the nested copy takes b_planned (30); "A closed minus A
    # planned" under its second name takes B closed (55).
    # Round 2, x = a_unplanned: a_planned = 22 - x, b_unplanned = 27 - x, b_planned =
    # 50 - 22 + x = 28 + x, B closed = b_planned + b_unplanned = 55 for every x. All
    # hidden counts >= 1: x <= 21 and x <= 26, so x in [1, 21]: not pinned. The hidden
    # large counts are targets too: a_planned in [1, 21], b_unplanned in [1, 26],
    # b_planned in [29, 49], not pinned; but B closed is 77 - 22 = 55 whatever x is:
    # hiding it protects nothing, so with no small count pinned it is shown again.
    # Round 3, the final audit of every target: x stays in [1, 21]. Done.
    def row(site, category):
        return table[(table["site"] == site) & (table["category"] == category)].iloc[0]

    assert [row("A", c)["n"] for c in ("planned", "unplanned", "administrative", "unknown")] == [
        HIDDEN,
        HIDDEN,
        0,
        0,
    ]
    assert [row("B", c)["n"] for c in ("planned", "unplanned", "administrative", "unknown")] == [
        HIDDEN,
        HIDDEN,
        0,
        0,
    ]
    assert row("A", "planned")["n_exits"] == 22 and row("B", "planned")["n_exits"] == 55
    assert [row("All", "planned")["n"], row("All", "unplanned")["n"]] == [50, 27]
    assert row("All", "planned")["n_exits"] == 77
    assert (table["n_open"] == 0).all()  # zeros are never hidden
    reasons = table[table["level"] == "reason"].set_index("category")["n"]
    assert reasons[["completed", "scheduling_conflict"]].tolist() == [50, 27]
    # Shares and their intervals rest on n and n_exits: hidden wherever either is.
    # The zero rows keep their share (0 of a shown 22, 0 of a shown 55).
    for column in ("share", "ci_low", "ci_high"):
        for site in ("A", "B"):
            assert [row(site, c)[column] for c in ("planned", "unplanned")] == [HIDDEN, HIDDEN]
            assert row(site, "administrative")[column] != HIDDEN
        assert (table.loc[table["site"] == "All", column] != HIDDEN).all()
    assert row("All", "planned")["share"] == pytest.approx(50 / 77)
    # The audited cells: 4 counts hidden (1 primary, 3 complementary), and the small
    # complements audited as unpublished cells: A closed minus A planned (2), under
    # both names, and All scheduling conflicts minus B unplanned (27 - 25 = 2).
    cells = publication.cells.set_index("cell")
    assert sorted(cells.index[cells["status"] == "primary"]) == ["by|A|exit|type|unplanned"]
    assert sorted(cells.index[cells["status"] == "complementary"]) == [
        "by|A|exit|type|planned",
        "by|B|exit|type|planned",
        "by|B|exit|type|unplanned",
    ]
    small = cells[(cells["kind"] == "complement") & cells["value"].between(1, 2)]
    assert sorted(small.index) == [
        "*|All|exit|reason|scheduling_conflict minus by|B|exit|type|unplanned",
        "by|A|closed minus by|A|exit|type|planned",
        "by|A|closed minus exit|type|planned",
    ]
    assert (small["value"] == 2).all() and (small["status"] == "unpublished").all()
    assert publication.rounds == 3


def test_exits_by_a_day_of_a_cause_by_hand():
    # _cohort: intake 1 January, closed 1 March 2024 (day 60). Site A: 3 completed
    # (planned), 2 scheduling conflicts (unplanned), 1 open; site B: 2 completed.
    done, clash = "tujuan tercapai", "jadwal tidak cocok"
    cohort = _cohort([("A", done)] * 3 + [("A", clash)] * 2 + [("A", None)] + [("B", done)] * 2)
    keys = [
        "exit_by|planned|59",
        "exit_by|planned|60",
        "exit_by|planned + unplanned|60",
        "exit_by|unplanned|365",
        "exit_by|administrative + unknown|365",
    ]
    flags = case_indicators(Summary(cohort, AS_OF, "site"), keys)
    # By hand: none closed before day 60; on day 60, 3 + 2 planned, 2 unplanned;
    # the open case never counts, however late the day.
    assert flags.sum().tolist() == [0, 5, 7, 2, 0]
    assert flags.loc["C05"].sum() == 0  # the open case


def test_stage_funnel_hidden_cells_complements_and_derived_values_by_hand():
    # Site A: 22 cases, 20 reached assessment (2 stopped at engagement). Site B: 55
    # cases, 30 reached assessment. Nobody went further. Threshold 3.
    cohort = _cohort(
        [("A", None)] * 22 + [("B", None)] * 55, [1, 1] + [2] * 20 + [1] * 25 + [2] * 30
    )
    publication = publish(Summary(cohort, AS_OF, "site"), threshold=3, names=["stage_funnel"])
    table = publication.tables["stage_funnel"].set_index(["site", "stage"])
    # No published count is small: n_cases 22, 55, 77; reached engagement = n_cases;
    # reached assessment 20, 30, 50; zeros beyond. But the complement "A cases minus A
    # reached assessment" = 22 - 20 = 2 people who stopped at engagement is audited:
    # with everything shown it is known exactly.
    # Round 1: its siblings (inside A cases, All cases, All in engagement; sharing no
    # case with it): A reached assessment 20, B reached assessment 30, B cases 55 (All
    # reached assessment 50 is spare): A reached assessment (20) is hidden. The same
    # complement found again by the nested-count pass is not blocked by it (no case in
    # common) and takes the next sibling, B reached assessment (30).
    # Round 2, x = A reached assessment: B reached assessment = 50 - x; the stopped
    # counts A = 22 - x >= 0 and B = 55 - 50 + x >= 0; the hidden counts >= 1: x in
    # [1, 22], so A's stopped count is in [0, 21]: not pinned; the hidden counts, A
    # reached in [1, 22] and B reached in [28, 49], are not pinned either. Round 3, the
    # final audit of every target, finds the same. Done.
    assert table.loc[("A", "assessment"), "reached"] == HIDDEN
    assert table.loc[("B", "assessment"), "reached"] == HIDDEN
    assert table.loc[("All", "assessment"), "reached"] == 50
    assert table["n_cases"].tolist() == [22] * 4 + [55] * 4 + [77] * 4
    shown = table.drop(index=[("A", "assessment"), ("B", "assessment")])
    assert (shown["reached"] != HIDDEN).all()
    # Derived values: the share reached and its interval rest on reached and n_cases;
    # the conversion rests on reached and on the previous stage's reached, so it is
    # hidden at assessment and at intervention (0 of a hidden number).
    for site in ("A", "B"):
        assert table.loc[(site, "assessment"), "share_reached"] == HIDDEN
        assert table.loc[(site, "assessment"), "share_ci_low"] == HIDDEN
        assert table.loc[(site, "assessment"), "conversion"] == HIDDEN
        assert table.loc[(site, "intervention"), "conversion"] == HIDDEN
        assert table.loc[(site, "intervention"), "share_reached"] == 0
        assert table.loc[(site, "engagement"), "conversion"] == 1
    assert table.loc[("All", "intervention"), "conversion"] == 0
    # completed and in_stage are whole-cohort columns: empty in the sites' rows.
    assert RULES["stage_funnel"].whole_only_columns == ("completed", "in_stage")
    sites = table.drop(index="All", level="site")
    assert sites[["completed", "in_stage"]].isna().all().all()
    assert table.loc[("All", "engagement"), ["completed", "in_stage"]].tolist() == [50, 27]
    cells = publication.cells.set_index("cell")
    assert sorted(cells.index[cells["status"] == "complementary"]) == [
        "by|A|reached|assessment",
        "by|B|reached|assessment",
    ]
    assert not (cells["status"] == "primary").any()
    small = cells[(cells["kind"] == "complement") & cells["value"].between(1, 2)]
    assert sorted(small.index) == [
        "by|A|case minus by|A|reached|assessment",
        "by|A|case minus reached|assessment",
    ]
    assert publication.rounds == 3


def test_same_cases_are_one_cell_and_per_client_tables_are_withheld():
    # Site A: 2 completed, 1 scheduling conflict; site B: 30 completed. All closed.
    # Counts with the same cases are one cell, hidden everywhere or nowhere: A
    # unplanned = All unplanned = All scheduling_conflict (the one conflict, a2 = 1);
    # B planned = B closed (b = 30); All planned = All completed (a1 + b = 32).
    # Primary: A planned (a1 = 2) and A unplanned (a2 = 1). Targets, smallest first:
    # a2 and the complements with its cases (A closed minus A planned, All closed minus
    # All planned/completed, ...), then a1 and those with its cases.
    # Round 1. a2: siblings (inside A closed and All closed, sharing no case with a2)
    # shown: B planned 30 and the spare All completed 32: B planned (30) is hidden;
    # that blocks the targets sharing its cases. The complement A closed minus A planned
    # (a2's cases) is not blocked: the only sibling left is the spare All completed,
    # hidden (a spare count is passed over only for another in the same pool). The next
    # complement with a2's cases has no sibling left; among the counts overlapping it,
    # A closed (3, not spare) before All closed (33, spare): A closed is hidden, and
    # every target left overlaps it (blocked).
    # Round 2: a1 + a2 + b = 33 (All closed), each hidden count >= 1: a1, a2 in [1, 31],
    # not pinned; nor the complementary ones: b = 33 - a1 - a2 in [1, 31], All completed
    # a1 + b = 33 - a2 and A closed a1 + a2 = 33 - b, each in [2, 32]. Round 3, the
    # final audit of every target, finds the same. Done.
    done, clash = "tujuan tercapai", "jadwal tidak cocok"
    cohort = _cohort([("A", done)] * 2 + [("A", clash)] + [("B", done)] * 30)
    run = Summary(cohort, AS_OF, "site")
    publication = publish(run, threshold=3, names=["stage_progress", "exits"])
    # stage_progress has one row per client: never published, whatever its counts.
    assert publication.tables["stage_progress"] == "per-client table, withheld from publication"
    cells = publication.cells.set_index("cell")
    assert sorted(cells.index[cells["status"] == "primary"]) == [
        "by|A|exit|type|planned",
        "by|A|exit|type|unplanned",
    ]
    assert sorted(cells.index[cells["status"] == "complementary"]) == [
        "*|All|exit|reason|completed",
        "by|A|closed",
        "by|B|exit|type|planned",
    ]
    assert publication.rounds == 3
    table = publication.tables["exits"]
    n = table.set_index(["site", "level", "category"])["n"]
    hidden = [
        ("A", "type", "planned"),
        ("A", "type", "unplanned"),
        ("B", "type", "planned"),
        ("All", "type", "planned"),
        ("All", "type", "unplanned"),
        ("All", "reason", "completed"),
        ("All", "reason", "scheduling_conflict"),
    ]
    assert sorted(n.index[n == HIDDEN]) == sorted(hidden)
    assert (n.drop(index=hidden) == 0).all()  # every other n is 0, shown
    # n_exits: A's 3 and B's 30 (B closed is B planned) hidden; All's 33 shown.
    n_exits = table.groupby("site")["n_exits"].agg(lambda v: sorted(set(v.astype(str))))
    assert n_exits.to_dict() == {"A": [HIDDEN], "B": [HIDDEN], "All": ["33"]}


def _bounds_by_linprog(A, value, kind, hidden, threshold, target):
    """The attacker's inward-rounded interval for cell ``target``, solved from scratch
    with scipy's linprog (independent of protect_counts' warm-started HiGHS model):
    atom sizes >= 0, shown counts exact, hidden counts >= 1, floors >= threshold."""
    from scipy.optimize import linprog

    exact = (kind == "count") & ~hidden
    at_least = np.where(kind == "floor", threshold, 1.0)
    ge = ((kind == "count") & hidden) | (kind == "floor")
    bounds = []
    for sign in (1, -1):
        found = linprog(
            sign * A[target],
            A_eq=A[exact] if exact.any() else None,
            b_eq=value[exact] if exact.any() else None,
            A_ub=-A[ge] if ge.any() else None,
            b_ub=-at_least[ge] if ge.any() else None,
            bounds=(0, None),
            method="highs",
        )
        assert found.status in (0, 3), found.message  # optimal, or unbounded
        bounds.append(sign * found.fun if found.status == 0 else -sign * np.inf)
    return np.ceil(bounds[0] - 1e-6), np.floor(bounds[1] + 1e-6)


@st.composite
def two_way_tables(draw):
    """Groups x categories of atoms (sizes 0-14), with every interior cell, the group and
    category totals and the grand total (the last spare), and a floor per group."""
    groups, categories = draw(st.integers(2, 3)), draw(st.integers(2, 3))
    sizes = np.array(
        draw(
            st.lists(st.integers(0, 14), min_size=groups * categories, max_size=groups * categories)
        )
    )
    n = groups * categories
    atom = np.arange(n).reshape(groups, categories)
    rows = [np.eye(n)[i] for i in range(n)]
    rows += [np.isin(np.arange(n), atom[g]).astype(float) for g in range(groups)]
    rows += [np.isin(np.arange(n), atom[:, c]).astype(float) for c in range(categories)]
    rows.append(np.ones(n))
    kind = ["count"] * len(rows)
    spare = [False] * (len(rows) - 1) + [True]
    threshold = draw(st.integers(3, 6))
    for g in range(groups):  # the folding rule: groups shown have >= threshold cases
        if sizes[atom[g]].sum() >= threshold:
            rows.append(np.isin(np.arange(n), atom[g]).astype(float))
            kind.append("floor")
            spare.append(False)
    A = np.array(rows)
    return A, A @ sizes, np.array(kind, dtype=object), np.array(spare), threshold


@settings(max_examples=40, deadline=None)
@given(two_way_tables())
def test_protect_counts_leaves_no_target_pinned_by_an_independent_linprog(case):
    A, value, kind, spare, threshold = case
    value = value.astype(float)
    result = protect_counts(
        sparse.csr_array(A), value, kind, value, threshold=threshold, spare=spare
    )
    count = kind == "count"
    small = (value >= 1) & (value < threshold)
    # Every small published count is hidden; zeros never are.
    assert (result.hidden[count & small]).all()
    assert not result.hidden[count & (value == 0)].any()
    for target in np.flatnonzero(result.hidden | (small & (kind != "floor"))):
        if target in result.stuck:
            continue
        low, high = _bounds_by_linprog(A, value, kind, result.hidden, threshold, target)
        assert low <= value[target] <= high
        assert high - low > 4, (target, value[target], low, high)  # not within +/-2


def test_counts_of_the_same_cases_are_one_cell():
    """By hand: ``a`` and ``b`` count atoms 0 and 2 once each, so they are one
    count (``b`` maps to ``a``); ``c`` counts atom 2 twice, a different count;
    ``d`` is rounded (a curve's number), never merged; the empty counts ``e``
    and ``f`` (no cases) are one count. Row order of the terms changes nothing."""
    from casework_analytics.publish import _same_cases, _terms_matrix

    unique = pd.DataFrame(
        {"kind": ["count", "count", "count", "rounded", "count", "count"]},
        index=pd.Index(list("abcdef"), name="cell"),
    )
    terms = pd.DataFrame(
        {
            "row": [0, 0, 1, 1, 2, 2, 3, 3],  # a, a, b, b, c, c, d, d
            "atom": [0, 2, 2, 0, 0, 2, 0, 2],
            "coef": [1, 1, 1, 1, 1, 2, 1, 1],
        }
    )
    expected = ["a", "a", "c", "d", "e", "e"]
    assert _same_cases(_terms_matrix(terms, 6, 3), unique).tolist() == expected
    shuffled = terms.sample(frac=1, random_state=1)
    assert _same_cases(_terms_matrix(shuffled, 6, 3), unique).tolist() == expected


def test_atoms_by_hand():
    """Five cases: (x, 1) twice, (x, 0), (y, 1) twice. Three atoms, in lexicographic
    order of (label code, indicator): x has code 0 (seen first), so (x, 0) at case 2,
    (x, 1) first at case 0, (y, 1) first at case 1."""
    from casework_analytics.publish import _atoms

    labels = pd.DataFrame({"g": ["x", "y", "x", "y", "x"]})
    indicators = pd.DataFrame({"i": [1, 1, 0, 1, 1]})
    first, sizes = _atoms(labels, indicators)
    assert first.tolist() == [2, 0, 1]
    assert sizes.tolist() == [1, 2, 2]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 40).flatmap(
        lambda n: st.tuples(
            st.lists(
                st.lists(st.sampled_from(["a", "b", "c", None]), min_size=n, max_size=n), max_size=2
            ),
            st.lists(
                st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n), max_size=3
            ),
            st.just(n),
        )
    )
)
def test_atoms_match_numpy_unique_rows(data):
    """The atoms are NumPy's unique rows of the stacked codes (the reference:
    ``np.unique(axis=0, return_index=True, return_counts=True)``), in its order."""
    from casework_analytics.publish import _atoms

    label_columns, indicator_columns, n = data
    labels = pd.DataFrame({f"g{i}": c for i, c in enumerate(label_columns)}, index=range(n))
    indicators = pd.DataFrame(
        {f"i{i}": c for i, c in enumerate(indicator_columns)}, index=range(n), dtype="int64"
    )
    codes = np.column_stack(
        [pd.factorize(labels[c])[0] for c in labels]
        + [indicators[c].to_numpy() for c in indicators]
        + [np.zeros(n, dtype=np.int64)]
    )
    _, first, sizes = np.unique(codes, axis=0, return_index=True, return_counts=True)
    found_first, found_sizes = _atoms(labels, indicators)
    assert found_first.tolist() == first.tolist()
    assert found_sizes.tolist() == sizes.tolist()
    assert found_sizes.sum() == n


def test_row_hashes_do_not_depend_on_the_blocks(monkeypatch):
    """Each row's hash is the sum (mod 2**64) of its terms' hashes, computed here
    row by row; hashing a few entries at a time, across row boundaries or not,
    gives the same, and so do empty rows (0)."""
    from casework_analytics import publish

    rng = np.random.default_rng(3)
    dense = rng.integers(0, 3, size=(9, 7)) * (rng.random((9, 7)) < 0.5)
    dense[4] = 0
    matrix = sparse.csr_array(dense.astype(float))
    salt = 0x9E3779B97F4A7C15
    expected = []
    for row in dense:
        atoms = np.flatnonzero(row).astype(np.uint64)
        coefs = row[atoms.astype(int)].astype(np.uint64)
        with np.errstate(over="ignore"):
            terms = publish._mix(atoms * np.uint64(salt) + publish._mix(coefs + np.uint64(salt)))
            expected.append(int(terms.sum(dtype=np.uint64)))
    for block in (1, 2, 5, 1 << 20):
        monkeypatch.setattr(publish, "_HASH_BLOCK", block)
        assert publish._row_hashes(matrix, salt).tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 10))
def test_overlaps_are_the_rows_of_the_shared_atoms_product(seed, cells, atoms):
    """The partner search's overlaps, worked out cell by cell, against the whole
    product ``support @ support.T`` of dense arrays: the cells sharing atoms and how
    many, and the cells inside each (by the row, or, for a cell holding more than
    half the atoms, by ruling out the cells with an atom outside it). Entries of
    any sign count as atoms; a cell without atoms overlaps nothing."""
    from casework_analytics.publish import _Overlaps

    rng = np.random.default_rng(seed)
    dense = rng.integers(-1, 3, size=(cells, atoms)) * (rng.random((cells, atoms)) < 0.5)
    dense[rng.integers(cells)] = 0
    dense[rng.integers(cells)] = 1  # a total over every atom
    overlaps = _Overlaps(sparse.csr_array(dense.astype(float)))
    support = (dense != 0).astype(int)
    shared = support @ support.T
    size = support.sum(axis=1)
    for cell in range(cells):
        found, counts = overlaps.row(cell)
        assert found.tolist() == np.flatnonzero(shared[cell]).tolist()
        assert counts.tolist() == shared[cell][found].tolist()
        expected = np.flatnonzero((shared[cell] >= size) & (size > 0))
        assert overlaps.inside(cell).tolist() == expected.tolist()


def test_a_tie_for_the_smallest_partner_goes_to_the_first_cell():
    # By hand: cell 0 (value 4 < 5) is hidden and pinned. Every other cell holds its
    # atom, so none is a sibling; of the overlapping cells 1 (6), 2 (6) and 3 (8),
    # the smallest are tied, and the rule takes the first in the cells' order.
    A = sparse.csr_array(np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], float))
    value = A @ np.array([2.0, 2.0, 4.0])
    kind = np.array(["count"] * 4, dtype=object)
    result = protect_counts(A, value, kind, np.zeros(4), threshold=5, margin=1)
    assert np.flatnonzero(result.hidden).tolist() == [0, 1]
