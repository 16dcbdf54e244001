"""Pseudonymisation and disclosure control (domain.md, privacy section)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pages import downloads, readable

from casework_analytics import CaseworkError, load, synthetic
from casework_analytics.cli import main
from casework_analytics.exits import exit_reasons
from casework_analytics.privacy import (
    fold_small_groups,
    make_key,
    pseudonymise,
)
from casework_analytics.recovery import recovery_headline
from casework_analytics.stages import stage_funnel

AS_OF = "2025-04-15"


def _cohort_with_single_client_placement():
    tables = synthetic.generate(seed=4)
    cases = tables["cases"]
    lonely = cases["placement_id"].iloc[0]
    keep = cases[(cases["placement_id"] != lonely) | (cases.index == cases.index[0])]
    kept = set(keep["case_id"])
    out = {
        n: f[f["case_id"].isin(kept)] if "case_id" in f and n != "cases" else f
        for n, f in tables.items()
    }
    out["cases"] = keep
    return out, lonely, keep["case_id"].iloc[0]


def test_single_client_placement_is_never_published_alone(tmp_path):
    tables, lonely, case = _cohort_with_single_client_placement()
    source = synthetic.write(tables, tmp_path / "src")
    assert (load(source).cases["placement_id"] == lonely).sum() == 1
    out = tmp_path / "pub"
    assert (
        main(
            [
                "summary",
                str(source),
                "--as-of",
                AS_OF,
                "--by",
                "placement_id",
                "--publish",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for path in out.glob("*.csv"):
        text = path.read_text()
        assert lonely not in text and case not in text, path.name
    assert not (out / "recovery.csv").exists() and not (out / "weekly_status.csv").exists()
    report = tmp_path / "report.html"
    assert (
        main(
            ["report", str(source), "--as-of", AS_OF, "--by", "placement_id", "--out", str(report)]
        )
        == 0
    )
    text = readable(report.read_text())
    assert downloads(report.read_text())  # the downloads are searched too
    assert lonely not in text and case not in text
    assert "Privacy: counts from 1 to 10 are hidden" in text
    assert "Supervisors' view" not in text


def test_folding_keeps_every_case_and_folds_exactly_the_small_groups():
    cohort = load(synthetic.generate(seed=2))
    groups, folded = fold_small_groups(cohort, "placement_id")
    funnel = stage_funnel(cohort, AS_OF, groups)
    whole = funnel[funnel["placement_id"] == "All"]["n_cases"].iloc[0]
    parts = funnel[funnel["placement_id"] != "All"].drop_duplicates("placement_id")
    assert parts["n_cases"].sum() == whole == len(cohort.cases)
    # Clients per placement, counted with plain pandas: exactly those under 11 are folded.
    clients = cohort.cases.groupby("placement_id")["client_id"].nunique()
    assert set(folded["group"]) == set(clients[clients < 11].index) != set()
    shown = set(parts["placement_id"]) - {"Other"}
    assert shown == set(clients[clients >= 11].index)
    assert "Other" in set(parts["placement_id"])


def test_internal_report_is_marked(tmp_path):
    out = tmp_path / "internal.html"
    assert (
        main(["report", "data/example", "--as-of", "2024-10-31", "--internal", "--out", str(out)])
        == 0
    )
    text = readable(out.read_text())
    assert "Internal, not for distribution" in text and ".banner.internal" in text
    assert "Supervisors' view" in text


# ------------------------------------------------------------------ pseudonymisation


@pytest.fixture
def keys(tmp_path):
    return make_key(tmp_path / "a.key"), make_key(tmp_path / "b.key")


def test_pseudonymisation_is_keyed_and_deterministic(keys, tmp_path):
    a, b = keys
    first = load(pseudonymise("data/sample", tmp_path / "a1", a)[0])
    again = load(pseudonymise("data/sample", tmp_path / "a2", a)[0])
    other = load(pseudonymise("data/sample", tmp_path / "b1", b)[0])
    assert first.cases["client_id"].tolist() == again.cases["client_id"].tolist()
    assert first.cases["client_id"].str.fullmatch(r"p_[0-9a-f]{16}").all()
    assert not set(first.cases["client_id"]) & set(other.cases["client_id"])
    assert not set(first.placements["caseworker_id"]) & set(other.placements["caseworker_id"])
    original = load("data/sample")
    assert not set(first.cases["client_id"]) & set(original.cases["client_id"])
    written = "".join(p.read_text() for p in (tmp_path / "a1").glob("*.csv"))
    assert a.read_text().strip() not in written


def test_pseudonymisation_changes_no_result(keys, tmp_path):
    original = load("data/sample")
    copy = load(pseudonymise("data/sample", tmp_path / "p", keys[0])[0])
    assert copy.counts.equals(original.counts)
    for analysis in (stage_funnel, exit_reasons, recovery_headline):
        pd.testing.assert_frame_equal(
            analysis(copy, AS_OF, "site"), analysis(original, AS_OF, "site")
        )


def test_free_text_is_dropped_unless_kept(keys, tmp_path):
    dropped = load(pseudonymise("data/example", tmp_path / "d", keys[0])[0])
    assert dropped.sessions["missed_reason"].isna().all()
    assert dropped.cases["closure_reason"].tolist() == ["placement_ended"]
    kept = load(pseudonymise("data/example", tmp_path / "k", keys[0], keep_text=True)[0])
    assert kept.sessions["missed_reason"].notna().any()


def test_only_contract_columns_are_written(keys, tmp_path, capsys):
    # Columns outside the data contract (a national ID, a name, a private note) never
    # leave: they are dropped and named, whatever they are called.
    source = tmp_path / "src"
    synthetic.write(synthetic.generate(3, seed=1), source)
    cases = pd.read_csv(source / "cases.csv")
    extra = {
        "nomor_induk_kependudukan": "1271010101010001",
        "no_bpjs": "0001234567890",
        "namaklien": "Budi",
        "tempat_tinggal": "Jl. Merdeka 1",
        "catatan_pribadi": "rahasia",
        "initials": "RO",
        "cohort_wave": "gelombang-2",
    }
    cases.assign(**extra).to_csv(source / "cases.csv", index=False)
    where, dropped = pseudonymise(source, tmp_path / "out", keys[0])
    assert sorted(dropped["cases"]) == sorted(extra)
    written = "".join(p.read_text() for p in (tmp_path / "out").glob("*.csv"))
    for value in extra.values():
        assert value not in written
    assert (
        main(
            [
                "pseudonymise",
                str(source),
                str(tmp_path / "out2"),
                "--key-file",
                str(keys[0]),
                "--keep-column",
                "cohort_wave",
            ]
        )
        == 0
    )
    assert "left out" in capsys.readouterr().out
    kept = (tmp_path / "out2" / "cases.csv").read_text()
    assert "gelombang-2" in kept and "Budi" not in kept
    for name in ("namaklien", "initials", "no_bpjs"):
        with pytest.raises(CaseworkError, match="looks like a direct identifier"):
            pseudonymise(source, tmp_path / "out3", keys[0], keep_columns=[name])


def test_pseudonymise_never_overwrites_the_source_or_leaves_old_files(keys, tmp_path):
    import shutil

    source = tmp_path / "src"
    shutil.copytree("data/example", source)
    with pytest.raises(CaseworkError, match="is the source, inside it, or holds it"):
        pseudonymise(source, source, keys[0])
    with pytest.raises(CaseworkError, match="is the source, inside it, or holds it"):
        pseudonymise(source, source / "copy", keys[0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "old_notes.txt").write_text("from an earlier run")
    with pytest.raises(CaseworkError, match="not empty"):
        pseudonymise(source, out, keys[0])
    pseudonymise(source, out, keys[0], overwrite=True)
    assert not (out / "old_notes.txt").exists() and (out / "manifest.json").exists()
    assert (source / "cases.csv").read_text() == Path("data/example/cases.csv").read_text()


def test_missing_or_short_key_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(CaseworkError, match="does not exist"):
        pseudonymise("data/example", tmp_path / "o", tmp_path / "none.key")
    short = tmp_path / "short.key"
    short.write_text("secret")
    assert (
        main(["pseudonymise", "data/example", str(tmp_path / "o"), "--key-file", str(short)]) == 2
    )
    assert "at least 32" in capsys.readouterr().err
    assert main(["keygen", str(tmp_path / "new.key")]) == 0
    assert main(["keygen", str(tmp_path / "new.key")]) == 2  # never overwritten


def test_compare_publish_hides_what_the_pool_totals_would_give_away(tmp_path):
    # A cohort where one site truly completes few cases (the generator's planted
    # outlier), so the funnel table holds a small count.
    source = synthetic.write(synthetic.generate(400, seed=3), tmp_path / "src")
    out = tmp_path / "pub"
    args = ["compare", str(source), "--as-of", AS_OF, "--by", "site", "--out"]
    assert main([*args, str(out), "--publish"]) == 0
    internal = tmp_path / "internal"
    assert main([*args, str(internal)]) == 0
    funnel = pd.read_csv(out / "funnel.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(internal / "funnel.csv")
    manifest = json.loads((out / "manifest.json").read_text())
    # Hazard and odds ratios of a small group are not published at all.
    assert {"cox", "proportional_hazards"} <= set(manifest["withheld"])
    assert not (out / "cox.csv").exists()
    assert (funnel["observed"] == "*").any()  # the test has something to check
    for (metric, adjusted), pool in funnel.groupby(["metric", "adjusted"]):
        hidden = pool["observed"] == "*"
        if not hidden.any():
            continue
        # The overdispersion estimate rests on every group's count: hidden with them.
        assert (pool[["phi", "tau2", "dispersion_p"]] == "*").all().all(), metric
        # target x total n gives the total observed: a single hidden count would follow
        # by subtraction, so either the total is hidden too or two or more counts are.
        if (pool["target"] != "*").all() and (pool["n"] != "*").all():
            assert hidden.sum() >= 2, (metric, adjusted)
            rows = truth[(truth["metric"] == metric) & (truth["adjusted"].astype(str) == adjusted)]
            assert rows.loc[hidden.to_numpy(), "observed"].sum() > 0
    # Negative numbers among hidden marks stay numbers, not quoted text.
    assert not funnel["z"].str.startswith("'").any()
