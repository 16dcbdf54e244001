"""The HTML dashboard: built from the sample data, it must carry the
package's own headline numbers, every section and figure, and no code."""

from __future__ import annotations

import re

import nbformat
import pytest

from casework_analytics import CaseworkError, load
from casework_analytics.cli import main
from casework_analytics.dashboard import format_share, headline_numbers
from casework_analytics.report import build_report, dashboard_template

AS_OF = "2025-04-15"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    lines = []
    build_report("data/sample", AS_OF, out, by="site", progress=lines.append)
    internal = build_report(
        "data/sample",
        AS_OF,
        out.with_name("internal.html"),
        by="site",
        publish=False,
        progress=None,
    ).read_text(encoding="utf-8")
    assert ">Weekly monitoring<" in internal and "Internal, not for distribution" in internal
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', internal)) == 5
    return out.read_text(encoding="utf-8"), lines


def test_report_has_the_headline_numbers(report):
    text, _ = report
    numbers = headline_numbers(load("data/sample"), AS_OF).set_index("metric")
    for metric in ("cases", "placements", "sites"):
        assert (
            f'data-metric="{metric}"><div class="value">{int(numbers.loc[metric, "estimate"])}'
            in text
        )
    for metric in ("completion", "retention", "not_relapsed"):
        r = numbers.loc[metric]
        assert format_share(r["estimate"], r["ci_low"], r["ci_high"]) in text


def test_report_has_every_section_and_figure_and_no_code(report):
    text, lines = report
    sections = [
        "How far cases get",
        "Why cases end",
        "Staying in monitoring and staying abstinent",
        "Competing exits over time",
    ]
    for heading in ("Headline", *sections, "Placements", "Data quality"):
        assert f">{heading}<" in text, heading
    figures = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,', text)
    assert figures == sections  # published: the per-client heatmap is left out
    assert "Weekly monitoring" not in text and "Privacy note" in text
    assert "import casework_analytics" not in text and "jp-InputArea" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing to fetch
    assert "<script" not in text
    assert "Warning" not in text and "Traceback" not in text  # stderr never reaches a report
    assert lines[-1].startswith("Report written to") and any("[5/11]" in x for x in lines)


def test_report_in_indonesian(tmp_path):
    out = build_report("data/example", "2024-10-31", tmp_path / "id.html", lang="id", progress=None)
    text = out.read_text(encoding="utf-8")
    assert ">Alasan penutupan kasus<" in text and "Retensi 90 hari" in text


def test_report_failures_are_clear(tmp_path, capsys):
    with pytest.raises(CaseworkError, match="`lang`"):
        build_report("data/sample", AS_OF, tmp_path / "x.html", lang="fr")
    assert (
        main(
            ["report", str(tmp_path / "none"), "--as-of", AS_OF, "--out", str(tmp_path / "x.html")]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                "data/sample",
                "--as-of",
                AS_OF,
                "--by",
                "planet",
                "--out",
                str(tmp_path / "x.html"),
            ]
        )
        == 2
    )


def test_notebook_02_runs_the_shipped_dashboard():
    shipped = [c.source for c in dashboard_template().cells]
    notebook = nbformat.read("notebooks/02_cohort_dashboard.ipynb", as_version=4)
    assert [c.source for c in notebook.cells] == shipped
    assert "parameters" in notebook.cells[0].metadata["tags"]
