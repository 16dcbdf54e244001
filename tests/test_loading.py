"""Loading each kind of source and the messy forms real exports take."""

from __future__ import annotations

import os

import pandas as pd
import pytest
import sqlalchemy as sa

from casework_analytics import (
    CaseworkError,
    MissingTableError,
    SourceError,
    ValidationError,
    load,
    synthetic,
)
from casework_analytics.sources import TABLE_NAMES


def _assert_same_cohort(a, b, *, ordered: bool = True):
    for name in TABLE_NAMES:
        left, right = a.table(name), b.table(name)
        if not ordered:  # a SQL table has no row order without ORDER BY
            key = list(left.columns)
            left = left.sort_values(key).reset_index(drop=True)
            right = right.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right)


def test_every_source_kind_loads_the_same_cohort(generated, tmp_path):
    csv = load(synthetic.write(generated, tmp_path / "csv"))
    parquet = load(synthetic.write(generated, tmp_path / "pq", format="parquet"))
    excel = load(synthetic.write(generated, tmp_path / "xl", format="xlsx"))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    for name, frame in generated.items():
        frame.to_sql(name, engine, index=False)
    engine.dispose()
    sqlite = load(f"sqlite:///{tmp_path / 'c.db'}")
    memory = load(generated)
    for other in (parquet, excel, sqlite, memory):
        _assert_same_cohort(csv, other)
    assert csv.counts["accepted"].tolist() == [len(generated[t]) for t in TABLE_NAMES]


@pytest.mark.skipif(
    not os.environ.get("CASEWORK_TEST_POSTGRES_URL"),
    reason="no PostgreSQL server: set CASEWORK_TEST_POSTGRES_URL (.ci/run starts one)",
)
def test_postgresql_source_loads_the_same_cohort(generated, tmp_path):
    url = os.environ["CASEWORK_TEST_POSTGRES_URL"]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for name, frame in generated.items():
            frame.to_sql(name, connection, index=False, if_exists="replace")
    engine.dispose()
    _assert_same_cohort(
        load(synthetic.write(generated, tmp_path / "csv")), load(url), ordered=False
    )


def test_messy_export_reads_like_the_clean_one(generated, tmp_path):
    """Indonesian headers, dd/mm/yyyy, ';', BOM and Indonesian labels change nothing
    except the planted bad rows."""
    text, planted = synthetic.messy(generated, seed=3)
    cohort = load(synthetic.write(text, tmp_path / "messy", sep=";", bom=True))
    clean = load(generated)
    bad_cases = set(planted["case_id"])
    for name in ("placements",):
        pd.testing.assert_frame_equal(cohort.table(name), clean.table(name))
    kept = clean.cases[~clean.cases["case_id"].isin(bad_cases)].reset_index(drop=True)
    mine = cohort.cases[~cohort.cases["case_id"].isin(bad_cases)].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, kept)
    for row in planted.itertuples():
        hits = cohort.problems.query("table == @row.table and rule == @row.rule")
        assert row.case_id in set(hits["case_id"]), row


def test_header_aliases_booleans_and_day_first_dates(tmp_path):
    (tmp_path / "penempatan.csv").write_text(
        "\ufeffid_penempatan;lokasi;id_praktikan;tanggal_mulai;tanggal_selesai\n"
        "P1;BNNK Tebing Tinggi;CW1;18/03/2024;03/06/2024\n",
        encoding="utf-8",
    )
    (tmp_path / "kasus.csv").write_text(
        "id_kasus;id_penempatan;id_klien;tanggal_masuk;zat_utama;alasan_penutupan\n"
        "A;P1;RO;25/03/2024;Sabu;jadwal tidak cocok\n",
        encoding="utf-8",
    )
    (tmp_path / "tahapan.csv").write_text(
        "id_kasus;tahap;tanggal_mulai\nA;Pengkajian;01/04/2024\nA;kontrak;25/03/2024\n",
        encoding="utf-8",
    )
    (tmp_path / "kunjungan.csv").write_text(
        "id_kasus;tanggal_kunjungan;hadir;hasil_tes\n"
        "A;25/03/2024;Ya;positif\nA;01/04/2024;0;\nA;08/04/2024;TRUE;negatif\n"
        "A;15/04/2024;no;\n",
        encoding="utf-8",
    )
    cohort = load(tmp_path)
    assert cohort.placements.loc[0, "start_date"] == pd.Timestamp("2024-03-18")
    assert cohort.placements.loc[0, "end_date"] == pd.Timestamp("2024-06-03")
    assert cohort.cases.loc[0, "primary_substance"] == "methamphetamine"
    assert cohort.cases.loc[0, "closure_reason"] == "jadwal tidak cocok"
    assert cohort.stages["stage"].tolist() == ["assessment", "engagement"]
    assert cohort.visits["attended"].tolist() == [True, False, True, False]
    assert cohort.visits["test_result"].tolist()[::2] == ["positive", "negative"]
    assert cohort.sessions is None
    assert len(cohort.problems) == 0


def test_missing_optional_table_is_reported_when_needed(tiny_dir):
    (tiny_dir / "visits.csv").unlink()
    cohort = load(tiny_dir)
    with pytest.raises(MissingTableError, match="Recovery analysis needs the visits table"):
        cohort.require("visits", "Recovery analysis")


@pytest.mark.parametrize("remove", ["placements", "cases", "stages"])
def test_missing_required_table_is_unusable(tiny_dir, remove):
    (tiny_dir / f"{remove}.csv").unlink()
    with pytest.raises(SourceError, match=f"no {remove} table"):
        load(tiny_dir)


def test_missing_required_column_names_it(tiny_dir):
    (tiny_dir / "cases.csv").write_text("case_id,placement_id,intake_date\nA,P1,2024-03-25\n")
    with pytest.raises(SourceError, match=r"lacks required column\(s\) \['client_id'\]"):
        load(tiny_dir)


def test_unreadable_sources(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceError, match="neither a directory"):
        load(tmp_path / "notes.txt")
    with pytest.raises(SourceError, match="Could not read the database"):
        load("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_errors_raise_lists_every_problem(with_rows):
    source = with_rows(cases="D,P9,K4,2024-04-01,,,\nE,P1,K5,18/13/2024,,,")
    with pytest.raises(ValidationError) as info:
        load(source, errors="raise")
    text = str(info.value)
    assert "P9 does not exist" in text and "'18/13/2024'" in text
    assert set(info.value.problems["rule"]) >= {"foreign_key", "unparseable_date"}


def test_bad_errors_argument(tiny_dir):
    with pytest.raises(
        CaseworkError, match=r"`errors` must be one of \['report', 'raise'\]"
    ) as info:
        load(tiny_dir, errors="ignore")
    assert type(info.value) is CaseworkError  # a usage error, not a problem of the source
