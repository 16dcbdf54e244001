"""The HTML dashboard, read as its users read it: the numbers on the cards
against plain pandas, a definition beside every number, hidden values never
drawn as zero, the Indonesian page free of English, phone widths, the
downloads behind the charts, and the supervisors' needs-attention lists on a
hand-built cohort."""

from __future__ import annotations

import html
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from conftest import write_tables
from pages import downloads, readable

from casework_analytics import CaseworkError, load, synthetic
from casework_analytics.attention import needs_attention
from casework_analytics.cli import main
from casework_analytics.dashboard import Dashboard
from casework_analytics.labels import CATALOGUE, catalogue
from casework_analytics.outputs import neutralise
from casework_analytics.report import STYLE, build_report, dashboard_template

AS_OF = "2025-04-15"
ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "published.html"
    lines: list[str] = []
    build_report("data/sample", AS_OF, out, by="site", progress=lines.append)
    return out.read_text(encoding="utf-8"), lines


@pytest.fixture(scope="module")
def internal_id(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "internal_id.html"
    lines: list[str] = []
    build_report(
        "data/sample",
        AS_OF,
        out,
        by="site",
        lang="id",
        publish=False,
        progress=lines.append,
    )
    return out.read_text(encoding="utf-8"), lines


def cards(page: str) -> dict[str, dict[str, str]]:
    """Each card's value, details and definition as the reader sees them."""
    found = {}
    for metric, body in re.findall(
        r'<div class="card" data-metric="(\w+)">(.*?)</div></div>', page
    ):
        parts: dict[str, str] = {}
        for kind, value in re.findall(r'<div class="(\w+)">(.*?)</div>', body + "</div>"):
            parts[kind] = (parts.get(kind, "") + " " + html.unescape(value)).strip()
        found[metric] = parts
    return found


def test_cards_match_plain_pandas_and_carry_their_definitions(published):
    page, _ = published
    shown = cards(page)
    assert list(shown) == [
        "cases",
        "placements",
        "sites",
        "completion",
        "retention",
        "sustained",
        "not_relapsed",
    ]
    # Counted with plain pandas from the sample's CSV files.
    cases = pd.read_csv("data/sample/cases.csv", parse_dates=["intake_date"])
    placements = pd.read_csv("data/sample/placements.csv")
    counted = cases[cases["intake_date"] <= AS_OF]
    assert shown["cases"]["value"].strip() == f"{len(counted):,}"
    assert shown["placements"]["value"].strip() == str(counted["placement_id"].nunique())
    sites = placements.loc[placements["placement_id"].isin(counted["placement_id"]), "site"]
    assert shown["sites"]["value"].strip() == str(sites.nunique())
    en = catalogue("en")
    for metric, card in shown.items():
        assert card.get("definition", "").strip(), f"{metric} has no definition"
    # Each share card says what it counted, and its interval in words.
    for metric in ("completion", "retention", "sustained", "not_relapsed"):
        assert re.search(r"(\d+|\*) of (\d+|\*)", shown[metric]["detail"]), metric
        detail = shown[metric]["detail"]
        assert "95% interval" in detail or en["no_interval"] in detail, metric
    # The recovery cards give the other convention's value beside their own.
    # (where that value is published; it is hidden when it would give a small count away).
    other = en["convention_note"].split("{")[0]
    published = downloads(page)["cards"].set_index("metric")["other_estimate"]
    for metric in ("sustained", "not_relapsed"):
        assert (other in shown[metric]["detail"]) == (published[metric] != "*"), metric
    assert published["sustained"] != "*"  # so the note is checked at least once
    assert "90 days" in shown["not_relapsed"]["definition"]


def test_published_page_has_its_sections_and_no_code_or_fetches(published):
    page, lines = published
    en = catalogue("en")
    text = readable(page)
    for key in (
        "headline",
        "funnel_section",
        "exits_section",
        "comparisons_section",
        "curves_section",
        "competing_section",
        "placements_section",
        "quality_section",
    ):
        assert f">{html.escape(en[key])}<" in page, key
    assert en["published_banner"].split(":")[0] in text
    assert en["supervision_section"] not in text  # per-client sections are internal only
    assert "import casework_analytics" not in page and "jp-InputArea" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch
    assert "<script" not in page.lower()
    assert "Warning" not in text and "Traceback" not in text
    assert lines[-1].startswith("Report written to")
    # The source is loaded and checked (its counts said) before the first section.
    assert lines[0] == en["loading"]
    first_step = next(i for i, line in enumerate(lines) if re.match(r"\[1/\d+\] ", line))
    assert any("accepted" in line for line in lines[1:first_step])


def test_every_download_is_the_published_table_it_draws(published):
    page, _ = published
    board = Dashboard(load("data/sample"), AS_OF, by="site")
    got = downloads(page)
    assert set(got) >= {"cards", "stage_funnel", "exits", "survival", "placements"}
    for name, table in got.items():
        expected = neutralise(board.tables[name]).to_csv(index=False)
        assert table.to_csv(index=False) == pd.read_csv(
            pd.io.common.StringIO(expected), dtype=str, keep_default_na=False
        ).to_csv(index=False), name
    # What the cards say is what their download holds.
    numbers = got["cards"].set_index("metric")
    assert cards(page)["cases"]["value"].strip() == f"{int(numbers.loc['cases', 'numerator']):,}"


def test_no_hidden_value_is_written_as_a_number(published):
    page, _ = published
    for name, table in downloads(page).items():
        if name not in ("stage_funnel", "exits", "comparison", "trend", "placements"):
            continue
        for column in table:
            values = table[column]
            # Every hidden cell is the marker, never a zero or an empty cell standing in.
            assert not values.str.fullmatch(r"<\d+").any(), (name, column)
    # The placements table marks its hidden cells with the marker too.
    assert ">*<" in page


def test_indonesian_page_has_no_english_leftovers(internal_id):
    page, lines = internal_id
    en, idn = catalogue("en"), catalogue("id")
    words = re.compile(r"[A-Za-z][a-z]{3,}")
    indonesian = {w.lower() for v in idn.values() for w in words.findall(v)}
    model = load("data/sample").stage_model
    indonesian |= {w.lower() for v in model.labels_id.values() for w in words.findall(v)}
    english = {w.lower() for v in en.values() for w in words.findall(v)} - indonesian
    # The page as read, without the data downloads (codes and names are data).
    body = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    body = re.sub(r'(src|href)="data:[^"]+"', "", body)
    body = html.unescape(re.sub(r"<[^>]+>", " ", body))
    names = set(load("data/sample").placements["site"].str.lower().str.split().sum())
    leftovers = {w.lower() for w in words.findall(body)} & english - names
    assert not leftovers, sorted(leftovers)
    assert idn["title"] in body and idn["internal_banner"] in body
    assert "internal" not in body.lower().split(idn["internal_banner"].lower())[0]
    # Progress is in the report's language too.
    assert any(idn["headline"] in line for line in lines)


def test_unknown_language_is_refused_everywhere(tmp_path):
    with pytest.raises(CaseworkError, match="`lang`"):
        catalogue("fr")
    with pytest.raises(CaseworkError, match="`lang`"):
        Dashboard(load("data/example"), "2024-10-31", lang="fr")
    with pytest.raises(CaseworkError, match="`lang`"):
        build_report("data/sample", AS_OF, tmp_path / "x.html", lang="fr")
    assert set(CATALOGUE) == {"en", "id"}
    assert set(CATALOGUE["en"]) == set(CATALOGUE["id"])


def test_phone_width_nothing_wider_than_the_screen(published, tmp_path):
    page, _ = published
    # Figures shrink to the screen and tables scroll inside their own box.
    assert "img.figure{display:block;max-width:100%;height:auto" in STYLE
    assert ".scroll{overflow-x:auto;max-width:100%}" in STYLE
    for match in re.finditer(r"<table", page):
        assert page[max(0, match.start() - 40) : match.start()].endswith('<div class="scroll">')
    for width in re.findall(r'<img class="figure"[^>]* width="(\d+)"', page):
        assert int(width) <= 1100  # the page's widest column; phones shrink it
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return
    # Measured in a real browser: the page's scroll width in a 390 px frame (headless
    # chromium will not open a window narrower than 500 px, so the page sits in an
    # iframe of a phone's width).
    host = (
        '<!doctype html><html><head><title>none</title></head><body style="margin:0">'
        '<iframe id="f" style="width:390px;height:800px;border:0" srcdoc="'
        + html.escape(page, quote=True)
        + '"></iframe><script>document.getElementById("f").onload=function(){'
        "var d=this.contentDocument.documentElement;"
        'document.title="W"+d.scrollWidth+"|"+d.clientWidth;};</script></body></html>'
    )
    probe = tmp_path / "probe.html"
    probe.write_text(host, encoding="utf-8")
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=800,800",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    width = re.search(r"<title>W(\d+)\|(\d+)</title>", dom)
    assert width, dom[:500]
    assert int(width.group(1)) <= int(width.group(2)) <= 390, width.group(0)


def test_print_keeps_headings_with_charts_and_repeats_table_headers():
    assert "h2,h3{break-after:avoid}" in STYLE
    assert "thead{display:table-header-group}" in STYLE
    assert "white-space:nowrap" in STYLE  # codes such as 2024-1 never wrap


def test_small_published_cohort_is_explained_not_crashed(tmp_path):
    tables = synthetic.generate(placements=2, seed=3, mean_cases=4)
    source = synthetic.write(tables, tmp_path / "small")
    out = build_report(source, AS_OF, tmp_path / "small.html", by="site", progress=None)
    text = readable(out.read_text(encoding="utf-8"))
    assert "--internal" in text  # the banner says what to do
    assert "Traceback" not in text


def test_names_are_escaped_and_downloads_neutralised(tmp_path):
    tables = synthetic.generate(placements=6, seed=5)
    hostile = "<script>alert(1)</script>"
    formula = '=HYPERLINK("http://x")'
    tables["placements"]["site"] = [hostile, formula, hostile, formula, hostile, formula]
    source = synthetic.write(tables, tmp_path / "hostile")
    out = build_report(source, AS_OF, tmp_path / "h.html", by="site", publish=False, progress=None)
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert html.escape(hostile) in page
    for name, table in downloads(page).items():
        for column in table:
            assert not table[column].str.startswith("=").any(), (name, column)


# ------------------------------------------------------------ needs attention

# As of Sunday 30 June 2024. Windows: missed sessions from 3 June (as_of - 27),
# positive screens from 17 June (as_of - 13), silence longer than 21 days.
ATTENTION = {
    "placements": """placement_id,site,caseworker_id,start_date,end_date,term
P1,S1,CW1,2024-04-29,2024-07-26,2024-1
P2,S1,CW2,2024-04-29,2024-07-26,2024-1
""",
    "cases": """case_id,placement_id,client_id,intake_date,sex,closed_date,closure_reason
A1,P1,K1,2024-05-01,male,,
A2,P1,K2,2024-05-01,male,,
A3,P1,K3,2024-05-01,female,,
A4,P1,K4,2024-05-01,male,,
A5,P2,K5,2024-05-01,male,2024-06-10,tujuan tercapai
A6,P2,K6,2024-05-01,female,,
A7,P2,K7,2024-05-01,male,,
""",
    "stages": """case_id,stage,started_on,completed_on
A1,engagement,2024-05-01,
A2,engagement,2024-05-01,
A3,engagement,2024-05-01,
A4,engagement,2024-05-01,
A5,engagement,2024-05-01,2024-06-10
A6,engagement,2024-05-01,
A7,engagement,2024-05-01,
""",
    "sessions": """case_id,session_date,status
A1,2024-06-10,missed_client
A1,2024-06-20,missed_worker
A1,2024-06-25,held
A2,2024-05-20,missed_client
A2,2024-06-15,missed_client
A2,2024-06-28,held
A3,2024-06-01,held
A4,2024-06-29,held
A5,2024-06-01,missed_client
A5,2024-06-05,missed_client
A6,2024-06-09,held
A7,2024-06-03,missed_client
A7,2024-06-29,held
A7,2024-06-30,missed_client
""",
    "visits": """case_id,visit_date,attended,test_result
A2,2024-06-20,yes,positive
A4,2024-06-16,yes,positive
A4,2024-06-27,yes,negative
A6,2024-06-09,yes,negative
""",
}
# A1: 2 missed since 3 June. A2: 1 missed in the window (20 May is before it) but
# positive on 20 June. A3: last contact 1 June, 29 days. A4: its positive (16 June)
# is one day too old. A5: closed. A6: 21 days since contact (9 June), not more.
# A7: missed on 3 and 30 June, both inside the window.
EXPECTED = {
    "A1": "missed_sessions",
    "A2": "recent_positive",
    "A3": "no_contact",
    "A7": "missed_sessions",
}


def test_needs_attention_by_hand(tmp_path):
    cohort = load(write_tables(tmp_path / "attention", ATTENTION))
    table = needs_attention(cohort, "2024-06-30").set_index("case_id")
    assert set(table.index) == {"A1", "A2", "A3", "A4", "A6", "A7"}  # A5 is closed
    flagged = table[table["needs_attention"]]
    assert flagged["reasons"].to_dict() == EXPECTED
    assert table.loc["A6", "days_since_contact"] == 21
    assert table.loc["A1", "missed_recently"] == 2 and table.loc["A2", "missed_recently"] == 1


def test_internal_sections_list_exactly_the_cases_that_need_attention(tmp_path):
    source = write_tables(tmp_path / "attention", ATTENTION)
    out = build_report(source, "2024-06-30", tmp_path / "a.html", publish=False, progress=None)
    page = out.read_text(encoding="utf-8")
    listed = {}
    for placement, body in re.findall(
        r'<section class="placement" id="placement-(\w+)">(.*?)</section>', page, flags=re.S
    ):
        table = re.search(r"<table.*?</table>", body, flags=re.S)
        listed[placement] = set(re.findall(r"<td>(A\d)</td>", table.group(0))) if table else set()
    assert listed == {"P1": {"A1", "A2", "A3"}, "P2": {"A7"}}
    assert 'href="#placement-P1"' in page  # the index links to each section


def test_the_kernel_loads_and_checks_the_source_before_any_section(tmp_path):
    # The report loads the source once, in its kernel. What the command says of the
    # load, and what it refuses before any work, must be what a load here gives.
    tables = synthetic.generate(6, seed=2)
    tables["placements"].loc[0, "site"] = "All"
    orphan = tables["visits"].iloc[[0]].assign(case_id="NO-SUCH-CASE")
    tables["visits"] = pd.concat([tables["visits"], orphan], ignore_index=True)
    source = synthetic.write(tables, tmp_path / "src")
    expected = load(source)
    assert expected.has_errors  # the orphan visit is rejected
    lines: list[str] = []
    with pytest.raises(CaseworkError, match="before every intake") as refused:
        build_report(source, "2000-01-01", tmp_path / "early.html", progress=lines.append)
    assert str(refused.value).startswith("--as-of 2000-01-01")  # the check's own words
    with pytest.raises(CaseworkError, match=r"\['planet'\] was passed"):
        build_report(source, AS_OF, tmp_path / "planet.html", by="planet", progress=None)
    assert not any(re.match(r"\[\d+/\d+\]", line) for line in lines)  # no section drawn
    assert not list(tmp_path.glob("*.html"))
    found: list[dict] = []
    lines = []
    build_report(
        source, AS_OF, tmp_path / "r.html", by="site", progress=lines.append, on_load=found.append
    )
    facts = {
        "summary": expected.summary("en"),
        "has_errors": True,
        "notes": [
            "Note: the site named 'All' is shown as 'All [site]': 'All' is this tool's label "
            "for the whole cohort."
        ],
    }
    assert found == [facts]
    first_step = next(i for i, line in enumerate(lines) if line.startswith("[1/"))
    assert lines[1:first_step] == [facts["summary"], *facts["notes"]]


def test_report_failures_are_clear(tmp_path, capsys):
    missing = tmp_path / "none"
    assert main(["report", str(missing), "--as-of", AS_OF, "--out", str(tmp_path / "x.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    args = ["report", "data/sample", "--as-of", AS_OF, "--by", "planet"]
    assert main([*args, "--out", str(tmp_path / "x.html")]) == 2
    assert (
        main(
            [
                "report",
                "data/sample",
                "--as-of",
                AS_OF,
                "--threshold",
                "2",
                "--out",
                str(tmp_path / "y.html"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "y.html").exists()


# ------------------------------------------------------------------ notebooks


def test_notebooks_are_what_build_py_writes():
    spec = importlib.util.spec_from_file_location("build", ROOT / "notebooks" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    for name, cells in build.NOTEBOOKS.items():
        committed = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert [c.source for c in committed.cells] == [c["source"] for c in cells], name
    shipped = [c.source for c in dashboard_template().cells]
    assert shipped == [c["source"] for c in build.DASHBOARD]
    assert "parameters" in dashboard_template().cells[0].metadata["tags"]
    # After the cell that loads the data and builds the board: one package call per
    # report cell, and no logic in them.
    cells = dashboard_template().cells
    first = next(i for i, c in enumerate(cells) if "board = " in c.source)
    for cell in cells[first + 1 :]:
        if cell.cell_type == "code" and "board." in cell.source:
            assert re.fullmatch(r"display\(HTML\(board\.\w+\(\)\)\)", cell.source.strip())


def test_report_takes_exit_rules_from_a_file(tmp_path):

    source = tmp_path / "src"
    shutil.copytree("data/example", source)
    cases = pd.read_csv(source / "cases.csv", dtype=str, keep_default_na=False)
    closed = cases.index[cases["closed_date"] != ""][0]
    cases.loc[closed, "closure_reason"] = "klien berangkat jadi TKI ke Malaysia"
    cases.to_csv(source / "cases.csv", index=False)
    rules = tmp_path / "rules.csv"
    rules.write_text("code,pattern\nmoved,jadi tki\n", encoding="utf-8")
    pages = {}
    for name, extra in (("without", {}), ("with", {"exit_rules": rules})):
        out = build_report(
            source, "2024-10-31", tmp_path / f"{name}.html", publish=False, progress=None, **extra
        )
        pages[name] = out.read_text(encoding="utf-8")
    # The one unmatched reason is a data-quality warning without the rule, and gone with it.
    assert "unclassified_reason" in pages["without"]
    assert "unclassified_reason" not in pages["with"]


def test_published_report_names_no_caseworker_or_supervisor(published, internal_id):
    # data/sample/placements.csv: caseworkers CW000-CW035, supervisors SV0-SV5. A
    # student's ID beside a caseload says who worked with which clients.
    page, _ = published
    assert re.search(r"CW0\d\d", page) is None and re.search(r"\bSV\d\b", page) is None
    assert "caseworker_id" not in page
    # The internal report, for the supervisors themselves, keeps them.
    assert re.search(r"CW0\d\d", internal_id[0]) is not None


def test_a_chart_with_every_group_hidden_is_not_drawn_empty(published):
    # On the sample by site every group's exit types are hidden (published run of
    # this session, looked at on a screenshot): the note names them, and no empty
    # chart frame is drawn above it.
    page, _ = published
    en = catalogue("en")
    assert html.escape(en["types_title"]) not in page
    section = page.split(html.escape(en["exits_section"]), 1)[1].split("<h2", 1)[0]
    assert en["hidden_groups"].split(":")[0] in html.unescape(section)


def test_the_kernels_progress_lines_reach_the_command_as_they_come():
    """A report cell works for minutes on a national cohort: the progress lines its
    steps write (tqdm on the kernel's stderr, ``\\r`` between updates, split across
    messages anywhere) are passed on whole; other stderr text (warnings) and stdout
    are not."""
    from casework_analytics.report import _relaying

    class Client:  # stands in for nbclient's NotebookClient
        def process_message(self, msg, cell, cell_index):
            return msg["content"]["text"]

    said = []
    client = _relaying(Client, said.append)()
    pieces = [
        ("stderr", "\rdashboard publication audit: ..."),
        ("stderr", "\rdashboard publication audit: 2,410 rows, 1"),
        ("stderr", "8.4 s\n"),
        ("stderr", "/x.py:3: FutureWarning: something changes\n"),
        ("stdout", "load visits: 10 rows, 1.0 s\n"),
        ("stderr", "load visits: 1,498,256 rows, 2.5 s\n"),
        ("stderr", "\n\rsummary exits: 10 rows, ...\x1b[A"),  # a step inside a step
        ("stderr", "summary survival: "),
    ]
    for name, text in pieces:
        reply = client.process_message(
            {"msg_type": "stream", "content": {"name": name, "text": text}}, None, 0
        )
        assert reply == text  # nbclient still records every output
    assert said == [
        "  dashboard publication audit: ...",
        "  dashboard publication audit: 2,410 rows, 18.4 s",
        "  load visits: 1,498,256 rows, 2.5 s",
        "  summary exits: 10 rows, ...",
    ]
