"""Shared fixtures: a tiny hand-written cohort, written as CSV text so that
row numbers in problem reports can be checked against the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from casework_analytics import synthetic

# `make test` (and CI) draw the same examples every run, so a red run is a real change,
# not a new random draw; `make fuzz` explores (CASEWORK_FUZZ_EXAMPLES set).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("explore" if os.environ.get("CASEWORK_FUZZ_EXAMPLES") else "repeatable")


def pytest_collection_modifyitems(items):
    """`make mutation` runs each property test with at most CASEWORK_MUTATION_EXAMPLES
    examples (the tests' own @settings would otherwise win over any profile): each
    mutant reruns the tests that reach it, and a few hundred examples per mutant would
    make the run last hours."""
    cap = os.environ.get("CASEWORK_MUTATION_EXAMPLES")
    if not cap:
        return
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples > int(cap):
            test._hypothesis_internal_use_settings = settings(own, max_examples=int(cap))


TINY = {
    "placements": """placement_id,site,caseworker_id,start_date,end_date,term
P1,BNNK Tebing Tinggi,CW1,2024-03-18,2024-06-03,2024-1
P2,BNNK Medan,CW2,2024-03-18,2024-06-03,2024-1
""",
    "cases": """case_id,placement_id,client_id,intake_date,sex,closed_date,closure_reason
A,P1,K1,2024-03-25,male,2024-06-03,jadwal tidak cocok
B,P1,K2,2024-03-28,female,,
C,P2,K3,2024-04-01,male,2024-05-01,tujuan tercapai
""",
    "stages": """case_id,stage,started_on,completed_on
A,engagement,2024-03-25,2024-04-08
A,assessment,2024-04-08,
B,engagement,2024-03-28,
C,engagement,2024-04-01,2024-04-10
C,assessment,2024-04-10,2024-04-20
C,intervention,2024-04-20,2024-04-25
C,termination,2024-04-25,2024-05-01
""",
    "sessions": """case_id,session_date,status
A,2024-03-25,held
A,2024-04-01,missed_client
B,2024-03-28,held
""",
    "visits": """case_id,visit_date,attended,test_result
A,2024-03-25,ya,positif
A,2024-04-01,tidak,
C,2024-04-01,yes,negative
""",
}


def write_tables(directory: Path, tables: dict[str, str]) -> Path:
    """Write ``{table: csv_text}`` into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (directory / f"{name}.csv").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def tiny_dir(tmp_path) -> Path:
    """The tiny valid cohort as a CSV directory."""
    return write_tables(tmp_path / "tiny", TINY)


@pytest.fixture
def with_rows(tmp_path):
    """Tiny cohort with extra CSV lines appended to some tables."""

    def make(**extra_lines: str) -> Path:
        tables = dict(TINY)
        for table, lines in extra_lines.items():
            tables[table] = tables[table] + lines.strip() + "\n"
        return write_tables(tmp_path / "cohort", tables)

    return make


@pytest.fixture(scope="session")
def generated():
    """A default synthetic cohort (seed 0), as canonical DataFrames."""
    return synthetic.generate(seed=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
