"""The supervisors' dashboard as one self-contained HTML file.

:func:`build_report` runs the dashboard notebook shipped in
``casework_analytics/templates/dashboard.ipynb`` with the given parameters
(injected after its ``parameters`` cell, as papermill does), then writes
the HTML the sections rendered (no code, no logs) into one page with every
figure and table embedded as a data URI, no scripts and no links to fetch,
so the file opens anywhere without a network.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CaseworkError
from .grouping import as_as_of
from .outputs import write_file_atomically

__all__ = [
    "STYLE",
    "GENERATOR",
    "dashboard_template",
    "build_report",
]

if TYPE_CHECKING:
    from nbformat import NotebookNode

    from .grouping import DateLike

STYLE = """
:root{--ink:#222;--muted:#555;--line:#ddd}
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1100px;color:var(--ink);padding:0 16px 24px;line-height:1.45}
h1{margin:.4em 0 .1em}h2{margin-top:1.6em;border-bottom:1px solid var(--line);
padding-bottom:.2em}.subtitle,.note{color:var(--muted)}
img.figure{display:block;max-width:100%;height:auto;margin:.6em 0}
.panels{display:flex;flex-wrap:wrap;gap:0 14px;align-items:flex-start}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .label{font-weight:600}.card .value{font-size:1.6em;font-weight:700}
.card .detail{color:var(--muted);font-size:.85em}
.card .definition{font-size:.8em;margin-top:.4em;color:var(--muted)}
.banner{padding:6px 10px;border-radius:4px;margin:8px 0;font-weight:600}
.banner.internal{background:#b00;color:#fff;text-align:center;position:sticky;top:0;z-index:5}
.banner.published{background:#eef4fa;color:#123}.banner.small{background:#fff4d6;color:#5a3b00}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border-bottom:1px solid var(--line);padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.download{font-size:.85em}.withheld{color:#8a4b00}.verdict{font-weight:600}
details.how{background:#f7f7f7;border-radius:6px;padding:6px 12px}
nav.index a{margin-right:.6em}
.lanes{font-size:.75em;margin:.5em 0}.lane{white-space:nowrap}
.lane .who{display:inline-block;width:7em;overflow:hidden;text-overflow:ellipsis;
vertical-align:middle}
.cell{display:inline-block;width:12px;height:12px;margin-right:1px;vertical-align:middle;
border:1px solid #ccc}.legend .key{margin-right:.8em;white-space:nowrap}
.footer,.privacy-note{color:#666;font-size:.8em;border-top:1px solid #ccc;margin-top:2em}
@media (max-width:600px){body{padding:0 10px}.card .value{font-size:1.3em}}
@media print{.banner.internal{position:static}h2,h3{break-after:avoid}
img.figure,.card,tr{break-inside:avoid}thead{display:table-header-group}
details.how{display:block}a{color:inherit;text-decoration:none}.download{display:none}}
"""

#: Marks a page as this tool's report (in its head), so ``report --out`` replaces
#: an earlier report but never a page it did not write.
GENERATOR = '<meta name="generator" content="casework_analytics">'

#: Which section each report cell draws, for the progress lines.
_SECTIONS = {
    "header": "title",
    "headline": "headline",
    "funnel": "funnel_section",
    "exits": "exits_section",
    "comparisons": "comparisons_section",
    "trends": "trends_section",
    "curves": "curves_section",
    "competing": "competing_section",
    "placements": "placements_section",
    "supervision": "supervision_section",
    "quality": "quality_section",
    "footer": "footer_step",
}


def dashboard_template() -> NotebookNode:
    """The dashboard notebook shipped with the package.

    Returns
    -------
    nbformat.NotebookNode
        ``templates/dashboard.ipynb``, read as nbformat 4.
    """
    import nbformat

    path = resources.files("casework_analytics.templates").joinpath("dashboard.ipynb")
    with path.open("r", encoding="utf-8") as f:
        return nbformat.read(f, as_version=4)


def _inject(nb, parameters: dict):
    import nbformat

    position = next(
        (i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1
    )
    lines = [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("# Parameters\n" + "\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(position + 1, cell)
    return nb


def build_report(
    source: str | os.PathLike,
    as_of: DateLike,
    out: str | os.PathLike,
    *,
    by: str | None = None,
    lang: str = "en",
    publish: bool = True,
    threshold: int = 11,
    progress: Callable[[str], None] | None = print,
    timeout: int = 1800,
    exit_rules: str | os.PathLike | None = None,
    on_load: Callable[[dict], None] | None = None,
) -> Path:
    """Run the dashboard for ``source`` and write it as self-contained HTML.

    Parameters
    ----------
    source : str or path
        Any source :func:`casework_analytics.load` accepts.
    as_of : date
        End of observation (explicit).
    out : path
        The HTML file to write (its folder is created).
    by : str, optional
        Group column for the per-group panels (e.g. ``"site"``).
    lang : {"en", "id"}
        Language of headings, labels and legends.
    publish : bool
        Apply the publishing rules (default): groups with fewer than
        ``threshold`` clients folded into ``Other``, small counts suppressed
        with their complements, per-client charts left out, and a footnote
        saying what was hidden. ``False`` makes an internal report, marked
        "internal, not for distribution" at the top of every page.
    threshold : int
        Smallest count shown (default 11: counts 1-10 hidden).
    progress : callable, optional
        Called with a line of text as each step starts, and with what the
        load found (its counts of accepted and rejected rows, and any group
        renamed) once it is done (``None`` for silence).
    timeout : int
        Seconds a step of the dashboard may take.
    exit_rules : path, optional
        A CSV file of more closure-reason rules
        (:func:`~casework_analytics.closures.read_exit_rules`).
    on_load : callable, optional
        Called once the source is loaded and checked, before any section is
        drawn, with ``{"summary": str, "has_errors": bool, "notes": list}``:
        the load's counts as text, whether rows were rejected, and the notes
        of :func:`~casework_analytics.grouping.renamed_groups`.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    CaseworkError
        If the source cannot be loaded, or has no case observed by ``as_of``,
        or ``by`` names no column of it (the message is the load's or the
        check's own, and no section is drawn); or if a step of the dashboard
        fails (the message names the step and the error).
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    from .labels import catalogue

    words = catalogue(lang)
    as_of = as_as_of(as_of)
    source = str(Path(source).resolve()) if Path(str(source)).exists() else str(source)
    nb = _inject(
        dashboard_template(),
        {
            "source": source,
            "as_of": str(as_of.date()),
            "by": by or "",
            "lang": lang,
            "publish": publish,
            "threshold": threshold,
            "exit_rules": str(Path(exit_rules).resolve()) if exit_rules else "",
        },
    )
    out = Path(out)
    say = progress or (lambda _line: None)
    # The kernel talks over local sockets (IPC), never TCP: nothing of the data crosses
    # a network interface, and jupyter's "running over TCP without encryption" warning
    # does not alarm the people running a privacy tool.
    workdir = tempfile.TemporaryDirectory(prefix="casework-report-")
    manager = KernelManager(
        kernel_name="python3", transport="ipc", ip=str(Path(workdir.name) / "kernel")
    )
    client = _relaying(NotebookClient, say)(
        nb, km=manager, timeout=timeout, resources={"metadata": {"path": workdir.name}}
    )
    started = time.perf_counter()
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    last_load = _load_cell(nb)
    loading = [i for i in code_cells if i <= last_load]
    sections = [i for i in code_cells if i > last_load]
    # The kernel's own stderr (its logging, not the cells' output) goes to a file:
    # at shutdown, jupyter's sockets can log a harmless traceback there.
    kernel_log = Path(workdir.name) / "kernel.log"
    with kernel_log.open("wb") as log, client.setup_kernel(cleanup_kc=True, stderr=log):
        say(words["loading"])
        where = "The dashboard failed while loading the source"
        for index in loading:
            _execute(client, nb.cells[index], index, where, own_errors=True)
        facts = _checked(client, as_of, by, lang)
        for line in (facts["summary"], *facts["notes"]):
            say(line)
        if on_load is not None:
            on_load(facts)
        for step, index in enumerate(sections, start=1):
            what = _describe(nb.cells[index].source, lang)
            say(
                words["progress"].format(
                    step=step,
                    total=len(sections),
                    what=what,
                    seconds=f"{time.perf_counter() - started:.0f}",
                )
            )
            _execute(
                client,
                nb.cells[index],
                index,
                f"The dashboard failed at step {step} ({what})",
            )
    workdir.cleanup()
    body = "".join(_html_outputs(nb))
    title = html.escape(f"{words['title']} {as_of.date()}")
    page = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">{GENERATOR}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    write_file_atomically(out, lambda path: path.write_text(page, encoding="utf-8"))
    say(words["written"].format(path=out.resolve(), seconds=f"{time.perf_counter() - started:.0f}"))
    return out


def _load_cell(nb) -> int:
    """Position of the template's cell that loads the cohort (tagged ``load``)."""
    for index, cell in enumerate(nb.cells):
        if "load" in cell.metadata.get("tags", []):
            return index
    raise CaseworkError("Internal error: the dashboard template has no cell tagged 'load'.")


def _execute(client, cell, index: int, where: str, *, own_errors: bool = False) -> None:
    """Run one cell; a failure becomes a CaseworkError saying ``where`` it happened
    (with ``own_errors``, the package's own refusal passes on as it is: it already
    says what to fix in the source)."""
    try:
        client.execute_cell(cell, index)
    except Exception as exc:  # nbclient raises CellExecutionError and kernel errors
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if own_errors and errors and errors[0]["ename"] in _own_errors():
            raise CaseworkError(errors[0]["evalue"]) from None
        detail = (
            f"{errors[0]['ename']}: {errors[0]['evalue']}"
            if errors
            else f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        )
        raise CaseworkError(f"{where}: {detail}") from None


def _own_errors() -> set[str]:
    """Names of the package's own error classes (a refusal that says what to fix)."""
    found, todo = set(), [CaseworkError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def _checked(client, as_of, by: str | None, lang: str) -> dict:
    """In the kernel, after loading: the checks a command makes before any work, and
    what it says of the cohort (see ``on_load`` in :func:`build_report`)."""
    import json

    import nbformat

    cell = nbformat.v4.new_code_cell(
        "from casework_analytics.report import _cohort_facts as _facts\n"
        f"print(_facts(cohort, {str(as_of.date())!r}, {by or None!r}, {lang!r}))"
    )
    # nbclient stores the cell run back at its index: it goes at the end, then away.
    client.nb.cells.append(cell)
    try:
        where = "The dashboard failed checking the source"
        _execute(client, cell, len(client.nb.cells) - 1, where, own_errors=True)
    finally:
        client.nb.cells.pop()
    printed = "".join(
        o.get("text", "")
        for o in cell.outputs
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )
    return json.loads(printed.strip().splitlines()[-1])


def _cohort_facts(cohort, as_of: str, by: str | None, lang: str) -> str:
    """Run in the report's kernel: refuse what a command refuses before any work (an
    ``as_of`` before every intake, an unknown ``by``), and say what the load found,
    as one line of JSON."""
    import json

    from .grouping import case_groups, check_as_of, renamed_groups

    check_as_of(cohort, as_of)
    case_groups(cohort, by)
    facts = {
        "summary": cohort.summary(lang),
        "has_errors": bool(cohort.has_errors),
        "notes": renamed_groups(cohort, by),
    }
    return json.dumps(facts)


#: What ends a line of tqdm's: a new line, a return, or the cursor move back up after
#: a line drawn below another (a step inside a step).
_LINE_END = re.compile(r"[\r\n]|\x1b\[[0-9;]*[A-Za-z]")
#: A progress line of :mod:`casework_analytics.progress`, as the kernel writes it.
_PROGRESS_LINE = re.compile(r"^(load|summary|dashboard) [^:\n]+: .*(\.\.\.|\d s)$")


def _relaying(client_class, say: Callable[[str], None]):
    """``client_class`` (nbclient's NotebookClient), passing on the kernel's progress
    lines (a step of loading, of the analyses or of the audit that runs over a
    second) to ``say`` as they come: at a million cases one report cell works for
    minutes."""

    class Relaying(client_class):
        def process_message(self, msg, cell, cell_index):
            content = msg.get("content", {})
            if msg.get("msg_type") == "stream" and content.get("name") == "stderr":
                pending = getattr(self, "_pending", "") + content.get("text", "")
                *lines, self._pending = _LINE_END.split(pending)
                for line in (line.strip() for line in lines):
                    if _PROGRESS_LINE.match(line):
                        say(f"  {line}")
            return super().process_message(msg, cell, cell_index)

    return Relaying


def _html_outputs(nb):
    """The HTML each section displayed, in order. Only what the package rendered
    (``text/html`` outputs, escaped at the source) reaches the page: no code, no
    prompts, and no warnings or logs, which are for developers."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") in ("display_data", "execute_result"):
                yield output.get("data", {}).get("text/html", "")


def _describe(source: str, lang: str) -> str:
    """What a report cell draws, in the report's language."""
    from .labels import catalogue

    words = catalogue(lang)
    found = re.findall(r"board\.(\w+)\(", source)
    if found:
        return words[_SECTIONS.get(found[-1], "setup")]
    return words["parameters"] if "source =" in source else words["setup"]
