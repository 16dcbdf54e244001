"""Exit reasons: taxonomy, free-text rules, shares, reason × stage, and the
test of association, against hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from statsmodels.stats.proportion import proportion_confint
from strategies import cohort_and_as_of
from toy import AS_OF, toy_tables

from casework_analytics import CaseworkError, load
from casework_analytics.closures import (
    case_exits,
    classify_exit_reasons,
    exit_taxonomy,
    negated_completion,
)
from casework_analytics.exits import exit_reasons, exit_stage, exit_type_association


@pytest.fixture(scope="module")
def toy():
    return load(toy_tables())


def test_taxonomy_has_every_field_and_the_teds_codes():
    tax = exit_taxonomy().set_index("code")
    assert set(tax["exit_type"]) == {"planned", "unplanned", "administrative", "unknown"}
    # TEDS-D REASON codes from domain.md: 1 completed, 2 dropped out, 3 terminated
    # by facility, 4 transferred, 5 incarcerated, 6 death, 7 other.
    assert tax.loc[
        [
            "completed",
            "dropped_out",
            "terminated_by_agency",
            "transferred",
            "incarcerated",
            "died",
            "other",
        ],
        "teds_reason",
    ].tolist() == [1, 2, 3, 4, 5, 6, 7]
    for code in ("placement_ended", "scheduling_conflict", "caseworker_unavailable"):
        assert code in tax.index and tax.loc[code, "label_id"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("jadwal tidak cocok", "scheduling_conflict"),
        ("Waktu bertemu tidak pas", "scheduling_conflict"),
        ("pindah", "moved"),
        ("klien pindah ke luar kota", "moved"),
        ("ditahan", "incarcerated"),
        ("dirujuk", "transferred"),
        ("dirujuk ke rumah sakit jiwa", "transferred"),
        ("meninggal", "died"),
        ("masa PKL berakhir sebelum tujuan tercapai", "placement_ended"),
        ("PKL selesai", "placement_ended"),
        ("tujuan tercapai", "completed"),
        ("goals met", "completed"),
        ("client stopped attending", "dropped_out"),
        ("praktikan sakit", "caseworker_unavailable"),
        ("scheduling_conflict", "scheduling_conflict"),
        ("Incarcerated", "incarcerated"),
        ("lihat catatan", "unclassified"),
    ],
)
def test_free_text_rules(text, code):
    assert classify_exit_reasons(pd.Series([text])).iloc[0] == code


#: Closure notes as caseworkers write them, each labelled by hand. A negated
#: completion is never `completed`; with nothing else said it is `unclassified`.
LABELLED = [
    ("tujuan tercapai", "completed"),
    ("selesai sesuai rencana", "completed"),
    ("selesai", "completed"),
    ("klien menyelesaikan program", "completed"),
    ("berhasil pulih dan program selesai", "completed"),
    ("program selesai tetapi klien kambuh", "completed"),
    ("tidak ada masalah, program selesai", "completed"),
    ("klien tidak kambuh dan tujuan tercapai", "completed"),
    ("terminasi terencana", "completed"),
    ("tidak selesai", "unclassified"),
    ("tak selesai", "unclassified"),
    ("belum selesai", "unclassified"),
    ("program tidak selesai", "unclassified"),
    ("gagal menyelesaikan program", "unclassified"),
    ("tujuan tidak tercapai", "unclassified"),
    ("tujuan belum tercapai", "unclassified"),
    ("tidak berhasil", "unclassified"),
    ("tidak tuntas", "unclassified"),
    ("tanpa hasil", "unclassified"),
    ("tidak selesai karena pindah ke luar kota", "moved"),
    ("belum selesai, klien ditahan polisi", "incarcerated"),
    ("keluar tanpa menyelesaikan program", "dropped_out"),
    ("klien berhenti datang sebelum tujuan tercapai", "dropped_out"),
    ("klien tidak hadir lagi", "dropped_out"),
    ("tidak ada kabar", "dropped_out"),
    ("masa PKL berakhir sebelum tujuan tercapai", "placement_ended"),
    ("PKL selesai, kasus belum tuntas", "placement_ended"),
    ("kontrak layanan berakhir", "time_limit_reached"),
    ("masa layanan habis, tujuan belum tercapai", "time_limit_reached"),
    ("jadwal tidak cocok", "scheduling_conflict"),
    ("meninggal dunia", "died"),
    ("dirujuk ke IPWL", "transferred"),
    ("goals met", "completed"),
    ("treatment completed", "completed"),
    ("completed successfully", "completed"),
    ("completion of agreed sessions", "completed"),
    ("program finished but client relapsed", "completed"),
    ("did not complete", "unclassified"),
    ("not completed", "unclassified"),
    ("treatment incomplete", "unclassified"),
    ("never finished the program", "unclassified"),
    ("goals were not met", "unclassified"),
    ("unsuccessful", "unclassified"),
    ("non-completion", "unclassified"),
    ("uncompleted", "unclassified"),
    ("Failed to complete treatment", "unclassified"),
    ("no completion", "unclassified"),
    ("did not complete, moved to another city", "moved"),
    ("client stopped attending before completing treatment", "dropped_out"),
    ("incarcerated before completion", "incarcerated"),
    ("client withdrew, treatment not finished", "dropped_out"),
    ("Referred to inpatient rehab before goals were achieved", "transferred"),
    ("placement ended before goals met", "placement_ended"),
]


def test_hand_labelled_phrases_in_both_languages():
    texts = pd.Series([text for text, _ in LABELLED])
    got = classify_exit_reasons(texts).tolist()
    wrong = [(t, want, g) for (t, want), g in zip(LABELLED, got, strict=True) if g != want]
    assert wrong == []
    assert len(LABELLED) >= 40


def test_a_negated_completion_is_never_completed_and_is_warned(toy):
    tables = toy_tables()
    tables["cases"].loc[2, "closure_reason"] = "belum selesai"  # case C
    cohort = load(tables)
    assert cohort.cases.set_index("case_id").loc["C", "exit_reason"] == "unclassified"
    warning = cohort.problems.query("rule == 'unclassified_reason'").iloc[0]
    assert warning["case_id"] == "C" and "not completed" in warning["message"]


def test_missing_text_stays_missing_and_extra_rules_come_first():
    out = classify_exit_reasons(
        pd.Series([None, "lihat catatan"]),
        pd.DataFrame({"code": ["other"], "pattern": ["catatan"]}),
    )
    assert pd.isna(out.iloc[0]) and out.iloc[1] == "other"
    with pytest.raises(CaseworkError, match=r"unknown codes \['nope'\]"):
        classify_exit_reasons(pd.Series(["x"]), pd.DataFrame({"code": ["nope"], "pattern": ["x"]}))
    with pytest.raises(CaseworkError, match="not a valid regular expression"):
        classify_exit_reasons(pd.Series(["x"]), pd.DataFrame({"code": ["other"], "pattern": ["("]}))


def test_unclassified_text_is_kept_and_warned(toy):
    tables = toy_tables()
    tables["cases"].loc[0, "closure_reason"] = "lihat catatan"
    cohort = load(tables)
    case = cohort.cases.set_index("case_id").loc["A"]
    assert case["exit_reason"] == "unclassified" and case["closure_reason"] == "lihat catatan"
    warning = cohort.problems.query("rule == 'unclassified_reason'")
    assert warning[["severity", "case_id", "row"]].values.tolist() == [["warning", "A", 1]]


def test_exit_shares_by_hand(toy):
    # Closed by 30 Jun: A scheduling conflict, C completed, D transferred; B, E open.
    e = exit_reasons(toy, AS_OF).set_index(["level", "category"])
    assert e.loc[("reason", "scheduling_conflict"), "n"] == 1
    assert e.loc[("reason", "completed"), "n"] == 1
    assert e.loc[("reason", "transferred"), "n"] == 1
    assert e["n_exits"].unique().tolist() == [3] and e["n_open"].unique().tolist() == [2]
    types = e.loc["type", "n"]
    assert types.to_dict() == {"planned": 1, "unplanned": 1, "administrative": 1, "unknown": 0}
    assert e.loc[("type", "planned"), "share"] == pytest.approx(1 / 3)


def test_exit_type_rows_labels_shares_and_intervals_by_hand(toy):
    # Closed by 30 June: A unplanned, C planned, D administrative; 1 of 3 each.
    e = exit_reasons(toy, AS_OF)
    types = e[e["level"] == "type"].set_index("category")
    assert types.index.tolist() == ["planned", "unplanned", "administrative", "unknown"]
    assert types["label_en"].tolist() == ["Planned", "Unplanned", "Administrative", "Unknown"]
    assert types["label_id"].tolist() == [
        "Terencana",
        "Tidak terencana",
        "Administratif",
        "Tidak diketahui",
    ]
    assert types["exit_type"].tolist() == types.index.tolist()
    assert types["share"].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])
    # Wilson intervals of n of n_exits, against statsmodels, at 95% and at 90% (the lower
    # limit of 0 of 3 comes out as 5.6e-17, not 0: rounding, hence the absolute tolerance).
    low, high = proportion_confint([1, 1, 1, 0], [3] * 4, method="wilson")
    np.testing.assert_allclose(types["ci_low"], low, atol=1e-12)
    np.testing.assert_allclose(types["ci_high"], high)
    e90 = exit_reasons(toy, AS_OF, confidence=0.90)
    t90 = e90[e90["level"] == "type"]
    low, high = proportion_confint([1, 1, 1, 0], [3] * 4, alpha=0.10, method="wilson")
    np.testing.assert_allclose(t90["ci_low"], low, atol=1e-12)
    np.testing.assert_allclose(t90["ci_high"], high)
    # By site: S1 (A, B, E) has one exit, A's scheduling conflict: 1 of 1 unplanned.
    s1 = exit_reasons(toy, AS_OF, by="site")
    s1 = s1[(s1["site"] == "S1") & (s1["level"] == "type")].set_index("category")
    assert (s1["n_exits"].iloc[0], s1["n_open"].iloc[0]) == (1, 2)
    assert s1["share"].tolist() == [0, 1, 0, 0]


def test_open_case_is_not_an_exit(toy):
    e = exit_reasons(toy, "2024-04-15").set_index(["level", "category"])
    assert e["n_exits"].iloc[0] == 1  # only D (closed 20 Mar) had ended by 15 Apr
    assert e.loc[("reason", "transferred"), "n"] == 1


def test_a_closure_on_as_of_is_an_exit_with_its_taxonomy_fields(toy):
    # As of 30 April: C closed that very day (completed), D on 20 March (transferred);
    # A closes on 1 May, after it: open, with no reason yet. E (intake 25 June) is not
    # in the cohort yet. Taxonomy (casework_analytics/data/exit_reasons.csv):
    # completed planned, TEDS reason 1, does not end monitoring; transferred
    # administrative, 4, ends monitoring.
    e = case_exits(toy, "2024-04-30").set_index("case_id")
    assert e.columns.tolist() == [
        "placement_id",
        "intake_date",
        "closed",
        "closed_date",
        "exit_reason",
        "exit_type",
        "teds_reason",
        "ends_monitoring",
    ]
    assert e.index.tolist() == ["A", "B", "C", "D"]
    assert e["closed"].tolist() == [False, False, True, True]
    assert e.loc[["C", "D"], "exit_type"].tolist() == ["planned", "administrative"]
    assert e.loc[["C", "D"], "teds_reason"].tolist() == [1, 4]
    assert e.loc[["C", "D"], "ends_monitoring"].tolist() == [False, True]
    assert e.loc["A"].isna()[["closed_date", "exit_reason", "exit_type", "teds_reason"]].all()
    assert e["placement_id"].tolist() == ["P1", "P1", "P2", "P2"]
    assert str(e.loc["D", "intake_date"].date()) == "2024-03-15"
    r = exit_reasons(toy, "2024-04-30").set_index(["level", "category"])
    assert r["n_exits"].iloc[0] == 2 and r["n_open"].iloc[0] == 2
    assert r.loc[("type", "planned"), "n"] == 1


def test_negated_completion_of_missing_text_is_false():
    texts = pd.Series(["tidak selesai", None, "selesai", "program tidak selesai"])
    assert negated_completion(texts).tolist() == [True, False, False, True]


def test_exit_stage_by_hand(toy):
    s = exit_stage(toy, AS_OF)
    got = set(zip(s["exit_reason"], s["stage_at_exit"], s["n"], strict=True))
    assert got == {
        ("scheduling_conflict", "assessment", 1),
        ("completed", "termination", 1),
        ("transferred", "engagement", 1),
    }


def _cohort_with_exits(counts: dict[str, dict[str, int]]):
    """A cohort whose sites have the given numbers of exits per reason code."""
    rows = [
        (site, code)
        for site, by_code in counts.items()
        for code, n in by_code.items()
        for _ in range(n)
    ]
    n = len(rows)
    cases = pd.DataFrame(
        {
            "case_id": [f"C{i}" for i in range(n)],
            "placement_id": [f"P-{site}" for site, _ in rows],
            "client_id": [f"K{i}" for i in range(n)],
            "intake_date": "2024-03-01",
            "closed_date": "2024-04-01",
            "closure_reason": [code for _, code in rows],
        }
    )
    placements = pd.DataFrame(
        {
            "placement_id": [f"P-{s}" for s in counts],
            "site": list(counts),
            "caseworker_id": "CW",
            "start_date": "2024-03-01",
            "end_date": "2024-05-31",
        }
    )
    stages = pd.DataFrame(
        {"case_id": cases["case_id"], "stage": "engagement", "started_on": "2024-03-01"}
    )
    return load({"placements": placements, "cases": cases, "stages": stages})


def test_chi_square_by_hand():
    # S1: 10 planned, 10 unplanned; S2: 20 planned, 5 unplanned. Expected counts
    # 13.33, 6.67, 16.67, 8.33, so chi2 = 0.8333 + 1.6667 + 0.6667 + 1.3333 = 4.5,
    # df 1, p = P(chi2_1 > 4.5) = 0.03389 (tables of the chi-square distribution).
    cohort = _cohort_with_exits(
        {"S1": {"completed": 10, "dropped_out": 10}, "S2": {"completed": 20, "dropped_out": 5}}
    )
    r = exit_type_association(cohort, "2024-06-30", "site").iloc[0]
    assert r["test"] == "chi-square"
    assert r["statistic"] == pytest.approx(4.5)
    assert r["df"] == 1 and r["p_value"] == pytest.approx(0.03389, abs=5e-5)


def test_small_tables_fall_back_to_exact_or_monte_carlo():
    # [[1, 4], [4, 1]]: two-sided Fisher p = (1 + 25 + 25 + 1) / 252 = 0.2063.
    cohort = _cohort_with_exits(
        {"S1": {"completed": 1, "dropped_out": 4}, "S2": {"completed": 4, "dropped_out": 1}}
    )
    r = exit_type_association(cohort, "2024-06-30", "site").iloc[0]
    assert r["test"] == "fisher-exact" and r["p_value"] == pytest.approx(52 / 252)
    cohort = _cohort_with_exits(
        {
            "S1": {"completed": 1, "dropped_out": 4, "transferred": 2},
            "S2": {"completed": 4, "dropped_out": 1, "transferred": 1},
        }
    )
    r = exit_type_association(cohort, "2024-06-30", "site").iloc[0]
    assert r["test"] == "monte-carlo chi-square" and r["df"] == 2
    # The exact conditional p-value, enumerated here: every 2 x 3 table with the same
    # margins (rows 7 and 6; planned 5, unplanned 5, administrative 3), weighted by its
    # multivariate hypergeometric probability, counted where its chi-square is at least
    # the observed one. The Monte-Carlo p must agree within its sampling error.
    observed = np.array([[1, 4, 2], [4, 1, 1]])
    rows, cols = observed.sum(axis=1), observed.sum(axis=0)
    expected = np.outer(rows, cols) / observed.sum()

    def chi2(table):
        return ((table - expected) ** 2 / expected).sum()

    exact = 0.0
    for a in range(cols[0] + 1):
        for b in range(cols[1] + 1):
            c = rows[0] - a - b
            if not 0 <= c <= cols[2]:
                continue
            table = np.array([[a, b, c], [cols[0] - a, cols[1] - b, cols[2] - c]])
            probability = (
                math.comb(cols[0], a) * math.comb(cols[1], b) * math.comb(cols[2], c)
            ) / math.comb(observed.sum(), rows[0])
            if chi2(table) >= chi2(observed) - 1e-9:
                exact += probability
    assert r["p_value"] == pytest.approx(exact, abs=0.02)


def test_association_row_by_hand_with_unknown_exits_and_a_one_case_group():
    # Known exit types (columns administrative, planned, unplanned) per site:
    #   S1  0 10 10   (and 2 unclassified exits: type unknown, left out, counted)
    #   S2  0 20  5
    #   S3  1  0  0   (one transfer: a row and a column that each sum to 1)
    # Margins: rows 20, 25, 1; columns 1, 30, 15; N = 46. Expected E = row x col / N;
    # the smallest is 1 x 1 / 46 (S3, administrative), below 5, and the table is not
    # 2 x 2: the Monte-Carlo test of Pearson's statistic, on (3 - 1)(3 - 1) = 4 df.
    # Pearson's chi-square, sum (O - E)^2 / E = sum (O N - R C)^2 / (N R C), in exact
    # fractions: S1 10/23 + 49/69 + 128/69; S2 25/46 + 289/345 + 841/690; S3 2025/46
    # + 15/23 + 15/46; in all 253/5 = 50.6.
    cohort = _cohort_with_exits(
        {
            "S1": {"completed": 10, "dropped_out": 10, "unclassified": 2},
            "S2": {"completed": 20, "dropped_out": 5},
            "S3": {"transferred": 1},
        }
    )
    r = exit_type_association(cohort, "2024-06-30", "site")
    assert r.columns.tolist() == [
        "by",
        "test",
        "statistic",
        "df",
        "p_value",
        "n",
        "n_groups",
        "n_unknown",
        "min_expected",
    ]
    r = r.iloc[0]
    assert (r["by"], r["test"], r["df"]) == ("site", "monte-carlo chi-square", 4)
    assert (r["n"], r["n_groups"], r["n_unknown"]) == (46, 3, 2)
    assert r["statistic"] == pytest.approx(253 / 5)
    assert r["min_expected"] == pytest.approx(1 / 46)
    # Only tables with the same margins in which S3's one exit is the transfer reach a
    # statistic near 50 (that cell alone gives 2025/46 = 44.0); that has probability
    # 1/46, so the exact p-value is at most 1/46 (the Monte-Carlo one within its error).
    assert 0 < r["p_value"] < 1 / 46 + 0.01


def test_association_fisher_and_chi_square_rows_by_hand():
    # [[1, 4], [4, 1]] (planned, unplanned): expected 2.5 everywhere, below 5: Fisher;
    # its statistic is the odds ratio (1 x 1) / (4 x 4) = 1/16, on 1 df.
    cohort = _cohort_with_exits(
        {"S1": {"completed": 1, "dropped_out": 4}, "S2": {"completed": 4, "dropped_out": 1}}
    )
    r = exit_type_association(cohort, "2024-06-30", "site").iloc[0]
    assert (r["test"], r["df"], r["n"], r["n_groups"], r["n_unknown"]) == (
        "fisher-exact",
        1,
        10,
        2,
        0,
    )
    assert r["statistic"] == pytest.approx(1 / 16) and r["min_expected"] == 2.5
    # Every expected count exactly 5 ([[5, 5], [5, 5]]) meets Cochran's rule (at
    # least 5): chi-square, statistic 0, p 1.
    cohort = _cohort_with_exits(
        {"S1": {"completed": 5, "dropped_out": 5}, "S2": {"completed": 5, "dropped_out": 5}}
    )
    r = exit_type_association(cohort, "2024-06-30", "site").iloc[0]
    assert (r["test"], r["statistic"], r["p_value"], r["min_expected"]) == (
        "chi-square",
        0,
        1,
        5,
    )
    # No exit yet (the toy cohort on 16 March; D closes on the 20th): an empty table.
    r = exit_type_association(load(toy_tables()), "2024-03-16", "site").iloc[0]
    assert (r["test"], r["n"], r["n_groups"], r["n_unknown"]) == ("not applicable", 0, 0, 0)
    # A single group: nothing to compare.
    cohort = _cohort_with_exits({"S1": {"completed": 3, "dropped_out": 2}})
    r = exit_type_association(cohort, "2024-06-30", "site").iloc[0]
    assert (r["test"], r["n"], r["n_groups"]) == ("not applicable", 5, 1)
    assert pd.isna(r["statistic"]) and pd.isna(r["p_value"]) and pd.isna(r["min_expected"])
    with pytest.raises(CaseworkError, match="`by` is required"):
        exit_type_association(cohort, "2024-06-30", None)


def test_stages_at_exit_by_hand(toy):
    # The furthest stage started by each closure: A (closed 1 May) assessment (from 10
    # Mar), C (30 Apr) termination, D (20 Mar) engagement; B and E are open. A closed
    # case with no stage at all is "(none)", position 0.
    from casework_analytics.exits import stages_at_exit

    s = stages_at_exit(toy, AS_OF).set_index("case_id")
    assert s.index.tolist() == ["A", "C", "D"]
    assert s["stage_at_exit"].tolist() == ["assessment", "termination", "engagement"]
    assert s["stage_position"].tolist() == [2, 4, 1]
    assert s["exit_type"].tolist() == ["unplanned", "planned", "administrative"]
    tables = toy_tables()
    tables["stages"] = tables["stages"][tables["stages"]["case_id"] != "D"]
    s = stages_at_exit(load(tables), AS_OF).set_index("case_id")
    assert (s.loc["D", "stage_at_exit"], s.loc["D", "stage_position"]) == ("(none)", 0)


@settings(max_examples=15, deadline=None)
@given(cohort_and_as_of())
def test_exit_counts_reconcile(drawn):
    cohort, as_of = drawn
    e = exit_reasons(cohort, as_of, by="term")
    for _, group in e.groupby(["term", "level"]):
        assert group["n"].sum() == group["n_exits"].iloc[0]
    whole = e[e["term"] == "All"]
    parts = e[e["term"] != "All"].groupby(["level", "category"])["n"].sum()
    assert np.array_equal(
        whole.set_index(["level", "category"])["n"].sort_index(), parts.sort_index()
    )
    cases_seen = (cohort.cases["intake_date"] <= as_of).sum()
    if cases_seen == 0:
        assert whole.empty
    else:
        assert whole["n_exits"].iloc[0] + whole["n_open"].iloc[0] == cases_seen
