"""Exit reasons: taxonomy, free-text rules, shares, reason × stage, and the
test of association, against hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from strategies import cohort_and_as_of
from toy import AS_OF, toy_tables

from casework_analytics import CaseworkError, load
from casework_analytics.closures import classify_exit_reasons, exit_taxonomy
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


def test_open_case_is_not_an_exit(toy):
    e = exit_reasons(toy, "2024-04-15").set_index(["level", "category"])
    assert e["n_exits"].iloc[0] == 1  # only D (closed 20 Mar) had ended by 15 Apr
    assert e.loc[("reason", "transferred"), "n"] == 1


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
