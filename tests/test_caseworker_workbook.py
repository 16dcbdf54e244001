"""A workbook typed by hand the way an Indonesian caseworker types it (issue 15):
Indonesian sheets and headers, day-first dates, "ya"/"tidak", "Pria" and
"laki laki", "Tahap Pengkajian", "Relasi dan Kontrak", "Tidak hadir", one typo
and one month-first date. The problems it must raise are listed by hand.
"""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from casework_analytics import load
from casework_analytics.problems import format_problems

SHEETS = {
    "Penempatan": [
        ["ID Penempatan", "Lembaga", "ID Praktikan", "Tanggal Mulai", "Tanggal Selesai", "Periode"],
        ["TT-P1", "BNNK Tebing Tinggi", "MHS-01", "18/03/2024", "03/06/2024", "Genap 2024"],
    ],
    "Kasus": [
        ["ID Kasus", "ID Penempatan", "ID Klien", "Tanggal Masuk", "Jenis Kelamin", "Zat Utama"],
        ["TT-001", "TT-P1", "K-01", "20/03/2024", "Pria", "sabu"],
        ["TT-002", "TT-P1", "K-02", "21/03/2024", "laki laki", "Sabu"],
        ["TT-003", "TT-P1", "K-03", "04/15/2024", "Perempuan", "ganja"],
    ],
    "Tahapan": [
        ["ID Kasus", "Tahap", "Tanggal Mulai", "Tanggal Selesai"],
        ["TT-001", "Relasi dan Kontrak", "20/03/2024", "27/03/2024"],
        ["TT-001", "Tahap Pengkajian", "28/03/2024", ""],
        ["TT-002", "Relasi dan kontrak", "21/03/2024", "28/03/2024"],
        ["TT-002", "Assesment", "29/03/2024", ""],
        ["TT-003", "relasi", "16/04/2024", ""],
        ["TT-003", "Tahap Pengkajian", "23/04/2024", ""],
    ],
    "Sesi": [
        ["ID Kasus", "Tanggal Sesi", "Status Sesi", "Tahap", "Durasi (menit)", "Ruang"],
        ["TT-001", "22/03/2024", "Hadir", "Relasi dan Kontrak", "60", "R1"],
        ["TT-001", "29/03/2024", "Tidak hadir", "Tahap Pengkajian", "", "R1"],
        ["TT-002", "22/03/2024", "hadir", "relasi", "45", ""],
        ["TT-003", "17/04/2024", "Hadir", "relasi", "50", ""],
    ],
    "Kunjungan": [
        ["ID Kasus", "Tanggal Kunjungan", "Hadir", "Hasil Tes Urine"],
        ["TT-001", "05/04/2024", "ya", "negatif"],
        ["TT-001", "12/04/2024", "tidak", ""],
        ["TT-002", "05/04/2024", "Ya", "Negatif"],
        ["TT-003", "18/04/2024", "ya", "positif"],
        ["TT-003", "25/04/2024", "ya", "negatif"],
    ],
}


@pytest.fixture(scope="module")
def typed(tmp_path_factory):
    path = tmp_path_factory.mktemp("workbook") / "kasus.xlsx"
    book = Workbook()
    book.remove(book.active)
    for name, rows in SHEETS.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return load(path)


def test_the_typed_workbook_raises_exactly_the_problems_its_typos_deserve(typed):
    problems = typed.problems
    found = sorted(zip(problems["rule"], problems["table"], problems["case_id"], strict=True))
    # By hand: TT-003's intake 04/15/2024 is month-first (there is no month
    # 15): the case is rejected, and so are its 2 stages, 1 session and 2
    # visits. TT-002's "Assesment" is a typo. "Ruang" is no column of
    # the contract. Nothing else: every Indonesian form is accepted.
    expected = sorted(
        [
            ("unparseable_date", "cases", "TT-003"),
            ("unknown_stage", "stages", "TT-002"),
            ("unknown_column", "sessions", None),
            *[("orphan", "stages", "TT-003")] * 2,
            ("orphan", "sessions", "TT-003"),
            *[("orphan", "visits", "TT-003")] * 2,
        ],
        key=str,
    )
    found = sorted(((r, t, c if isinstance(c, str) else None) for r, t, c in found), key=str)
    assert found == expected
    counts = typed.counts.set_index("table")
    assert counts.loc["cases", ["read", "accepted", "rejected"]].tolist() == [3, 2, 1]
    assert counts.loc["stages", ["read", "accepted", "rejected"]].tolist() == [6, 3, 3]
    assert counts.loc["sessions", ["read", "accepted", "rejected"]].tolist() == [4, 3, 1]
    assert counts.loc["visits", ["read", "accepted", "rejected"]].tolist() == [5, 3, 2]


def test_indonesian_forms_are_read_as_their_codes(typed):
    stages = typed.stages.set_index(["case_id", "started_on"])["stage"]
    assert stages.tolist() == ["engagement", "assessment", "engagement"]
    sessions = typed.sessions.sort_values(["case_id", "session_date"])
    assert sessions["status"].tolist() == ["held", "missed_client", "held"]
    assert sessions["stage"].tolist() == ["engagement", "assessment", "engagement"]
    assert typed.cases["sex"].tolist() == ["male", "male"]
    assert typed.cases["primary_substance"].tolist() == ["methamphetamine"] * 2


def test_messages_say_what_to_write(typed):
    messages = typed.problems.set_index("rule")["message"]
    assert "did you mean assessment / Asesmen?" in messages["unknown_stage"]
    assert "engagement / " in messages["unknown_stage"]  # the accepted forms, both languages
    assert "write it day-first: 15/04/2024" in messages["unparseable_date"]
    assert "Column 'Ruang' is not part of the sessions table" in messages["unknown_column"]
    # The five rows left out with TT-003 are one cause per table, not five lines.
    text = format_problems(typed.problems)
    orphan_lines = [line for line in text.splitlines() if "[orphan]" in line]
    assert len(orphan_lines) == 3
    assert "stages rows 6, 7 (2 rows) (case TT-003)" in text
    assert all("04/15/2024" in line for line in orphan_lines)
