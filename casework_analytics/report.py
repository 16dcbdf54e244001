"""The supervisors' dashboard as one self-contained HTML file.

:func:`build_report` runs the dashboard notebook shipped in
``casework_analytics/templates/dashboard.ipynb`` with the given parameters
(injected after its ``parameters`` cell, as papermill does), then writes
the outputs only (no code) with every figure embedded as a data URI, no
scripts and no links to fetch, so the file opens anywhere without a network.
"""

from __future__ import annotations

import html
import re
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from .errors import CaseworkError
from .grouping import as_as_of
from .outputs import write_file_atomically

STYLE = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
img{max-width:100%}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}.footer{color:#666;font-size:.8em;border-top:1px solid #ccc;margin-top:2em}
pre{white-space:pre-wrap}
"""


def dashboard_template():
    """The dashboard notebook shipped with the package."""
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
    source,
    as_of,
    out,
    *,
    by: str | None = None,
    lang: str = "en",
    publish: bool = True,
    threshold: int = 11,
    progress: Callable[[str], None] | None = print,
    timeout: int = 1800,
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
        Called with a line of text as each step starts (``None`` for silence).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    CaseworkError
        If a step of the dashboard fails; the message names the step and the
        error.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    if lang not in ("en", "id"):
        raise CaseworkError(
            f"The value for `lang` must be one of ['en', 'id'], but {lang!r} was passed."
        )
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
    client = NotebookClient(
        nb, km=manager, timeout=timeout, resources={"metadata": {"path": workdir.name}}
    )
    started = time.perf_counter()
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with client.setup_kernel(cleanup_kc=True):
        for step, index in enumerate(code_cells, start=1):
            cell = nb.cells[index]
            say(
                f"[{step}/{len(code_cells)}] {_describe(cell.source)} "
                f"({time.perf_counter() - started:.0f} s)"
            )
            try:
                client.execute_cell(cell, index)
            except Exception as exc:  # nbclient raises CellExecutionError and kernel errors
                errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
                detail = (
                    f"{errors[0]['ename']}: {errors[0]['evalue']}"
                    if errors
                    else f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
                )
                raise CaseworkError(
                    f"The dashboard failed at step {step} ({_describe(cell.source)}): {detail}"
                ) from None
    workdir.cleanup()
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        anchor_link_text="",
    )
    for cell in nb.cells:  # warnings and logs are for developers, not for the report
        if "outputs" in cell:
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    body, _ = exporter.from_notebook_node(nb)
    body = _describe_figures(body)
    title = html.escape(f"Cohort dashboard {as_of.date()}")
    footer = (
        f'<div class="footer">Generated by casework_analytics from {html.escape(Path(source).name)}'
        f", observed up to {as_of.date()}.</div>"
    )
    page = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>{body}{footer}"
        "</body></html>"
    )
    write_file_atomically(out, lambda path: path.write_text(page, encoding="utf-8"))
    say(f"Report written to {out.resolve()} ({time.perf_counter() - started:.0f} s)")
    return out


def _describe_figures(body: str) -> str:
    """Give every figure the title of the section it is in as its alt text."""
    parts = re.split(r"(<h2[^>]*>.*?</h2>)", body, flags=re.S)
    heading = "Figure"
    for i, part in enumerate(parts):
        if part.startswith("<h2"):
            heading = html.escape(re.sub(r"<[^>]+>", "", part).strip(), quote=True)
        else:
            parts[i] = re.sub(r'<img alt="[^"]*"', f'<img alt="{heading}"', part)
    return "".join(parts)


def _describe(source: str) -> str:
    for line in source.splitlines():
        if "section(" in line:
            return line.split("section(", 1)[1].split(",")[0].strip("'\" )")
    return "setup" if "import" in source else "parameters"
