"""Writing what the commands produce: whole folders or nothing, a manifest
that says what each folder is, and cells no spreadsheet will run.

Atomic folders
    :func:`output_folder` writes a run into a temporary folder beside the
    target and moves it into place only when every file is complete. A
    target that already exists must be empty or an earlier output of this
    tool (it has our ``manifest.json``) that is not a data source (a data
    source is replaced only with ``overwrite``); it is then replaced whole, so no
    file of an earlier run survives next to the new ones. A run that fails
    or is killed leaves the target as it was (a temporary
    ``.<name>.partial-*`` folder may be left beside it, never inside it).
Manifest
    Every folder gets ``manifest.json``: the tool and its version, the
    command, the source, ``as_of``, every parameter, whether the contents
    are published (disclosure control applied) and under which threshold,
    and each file with its row count and SHA-256.
Formula injection
    Spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return. Following the OWASP guidance on CSV
    injection, every text cell that starts with one of these is written
    with a leading ``'`` (:func:`neutralise`), and Excel cells are always
    written as strings, never as formulas.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import CaseworkError

__all__ = [
    "MANIFEST",
    "TOOL",
    "FORMULA_TRIGGERS",
    "TABLE_FORMATS",
    "neutralise",
    "SOURCE_COMMANDS",
    "is_our_output",
    "check_output_folder",
    "check_output_file",
    "file_starts_with",
    "TableParts",
    "OutputFolder",
    "output_folder",
    "write_file_atomically",
    "write_excel",
    "SOURCE_FORMATS",
    "write_source",
]

MANIFEST = "manifest.json"
TOOL = "casework_analytics"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TABLE_FORMATS = ("csv", "parquet")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot start a spreadsheet formula.

    Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
    return get a leading ``'``. Numbers, dates and booleans are untouched,
    and so are column names (they are ours).

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    DataFrame

    Examples
    --------
    >>> neutralise(pd.DataFrame({"x": ["=1+1", "ok"], "n": [-1, 2]}))["x"].tolist()
    ["'=1+1", 'ok']
    >>> neutralise(pd.DataFrame({"z": [-0.5, "*"]}))["z"].tolist()  # a number among hidden marks
    [-0.5, '*']
    >>> neutralise(pd.DataFrame({"b": [b"\\xff", "+1"]}))["b"].tolist()  # bytes are not text
    [b'\\xff', "'+1"]
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            continue
        if pd.api.types.is_object_dtype(values):  # any objects: only text can be a formula
            risky = values.map(
                lambda v: isinstance(v, str) and v.startswith(FORMULA_TRIGGERS)
            ).to_numpy(dtype=bool)
        else:
            text = values.astype("string")
            risky = text.str.startswith(FORMULA_TRIGGERS).fillna(False).to_numpy(dtype=bool)
        if risky.any():
            quoted = values.astype(object).copy()
            quoted[risky] = ["'" + v for v in quoted[risky]]
            out[column] = quoted
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Commands whose folder is a data source: never replaced without ``overwrite``.
SOURCE_COMMANDS = ("generate", "write", "pseudonymise")


def _our_manifest(path: Path) -> dict | None:
    """The manifest of a folder written by this tool, else ``None``."""
    manifest = Path(path) / MANIFEST
    if not manifest.is_file():
        return None
    try:
        record = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("tool") == TOOL else None


def is_our_output(path: Path) -> bool:
    """True if ``path`` is a folder written by this tool (it has our manifest).

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    bool
    """
    return _our_manifest(path) is not None


def check_output_folder(target: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse, before any work, a target folder that cannot be written safely.

    The target may be missing (its parent must be creatable), empty, or an
    earlier output of this tool that is not a data source (written by
    ``generate``, ``pseudonymise`` or :func:`write_source`); with
    ``overwrite=True`` any folder is accepted and will be cleared. A file in
    the way, or a folder holding anything else, is refused with a message
    saying what to do.

    Parameters
    ----------
    target : str or path
        The folder that will hold the output.
    overwrite : bool
        Accept any folder (it will be cleared).

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise CaseworkError(f"{target} is a file; give a folder for the output.")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        record = _our_manifest(target)
        if record is None:
            raise CaseworkError(
                f"{target} already holds files that this tool did not write; give an empty or "
                "new folder (an earlier output of this tool is replaced whole)."
            )
        if record.get("command") in SOURCE_COMMANDS:
            raise CaseworkError(
                f"{target} holds a data source (written by `{record['command']}`), which is "
                "never replaced without --overwrite; give an empty or new folder."
            )
    _check_creatable(target.parent)
    return target


def check_output_file(
    path: str | os.PathLike,
    *,
    suffixes: tuple[str, ...] = (),
    earlier: Callable[[Path], bool] | None = None,
) -> Path:
    """Refuse, before any work, an output file path that cannot be written.

    With ``earlier``, an existing file is replaced only if ``earlier(path)``
    says it is an earlier output of the same command (so ``--out`` never
    overwrites a file of the source, or anything else this tool did not write).

    Parameters
    ----------
    path : str or path
        The file that will be written.
    suffixes : tuple of str
        The suffixes the file may have (any, if empty).
    earlier : callable, optional
        Whether an existing file at ``path`` is an earlier output.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    if path.is_dir():
        raise CaseworkError(f"{path} is a folder; give a file name for the output.")
    if suffixes and path.suffix.lower() not in suffixes:
        raise CaseworkError(
            f"The output {path} should end in {' or '.join(suffixes)}; got {path.suffix or 'none'}."
        )
    if earlier is not None and path.exists() and not earlier(path):
        raise CaseworkError(
            f"{path} already exists and is not an earlier output of this command; give a new "
            "file name (an earlier output is replaced)."
        )
    _check_creatable(path.parent)
    return path


def file_starts_with(path: str | os.PathLike, text: str, *, within: int = 0) -> bool:
    """True if ``path`` is a file whose first bytes hold ``text`` (at its start, or
    anywhere in its first ``within`` bytes).

    Parameters
    ----------
    path : str or path
    text : str
    within : int
        Look anywhere in this many first bytes (0: only at the start).

    Returns
    -------
    bool
    """
    marker = text.encode("utf-8")
    try:
        with Path(path).open("rb") as f:
            head = f.read(max(len(marker) + 3, within))
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf")
    return marker in head if within else head.startswith(marker)


def _check_creatable(folder: Path) -> None:
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise CaseworkError(f"{folder} cannot be created: {probe} is a file.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CaseworkError(f"{folder} cannot be written: {probe} is not writable.")
    # Permission bits are not the whole story (root, read-only or virtual file
    # systems): create and remove an empty folder to be sure, before any work.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".casework-probe-", dir=probe))
    except OSError as exc:
        raise CaseworkError(
            f"{folder} cannot be written: {probe} does not accept new files ({exc.strerror})."
        ) from None


class TableParts:
    """A table too large to build whole: its rows as consecutive frames.

    Iterating gives the frames in order (built one at a time, so only one is
    in memory); ``len`` is the number of rows of the whole table.
    :meth:`OutputFolder.write_table` writes it as it would the whole frame.

    Parameters
    ----------
    parts : callable
        Called with no argument, returns an iterator of the frames.
    rows : int
        Rows of the whole table.
    """

    def __init__(self, parts: Callable[[], Iterator[pd.DataFrame]], rows: int) -> None:
        self._parts = parts
        self.rows = rows

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter(self._parts())

    def __len__(self) -> int:
        return self.rows

    def frame(self) -> pd.DataFrame:
        """The whole table as one frame.

        Returns
        -------
        DataFrame
        """
        parts = list(self)
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


@dataclass
class OutputFolder:
    """A folder being written; files go into :attr:`path` (a temporary folder)."""

    path: Path
    files: list[dict] = field(default_factory=list)

    def write_table(
        self, name: str, table: pd.DataFrame | TableParts, *, format: str = "csv"
    ) -> Path:
        """Write ``table`` as ``name.csv`` or ``name.parquet``, neutralised, and list it.

        A :class:`TableParts` is written part by part into the same file,
        which holds what the whole frame would have given.

        Parameters
        ----------
        name : str
            The file name without its suffix.
        table : DataFrame or TableParts
        format : {"csv", "parquet"}

        Returns
        -------
        pathlib.Path
            The file written.
        """
        if format not in TABLE_FORMATS:
            raise CaseworkError(
                f"The value for `format` must be one of {list(TABLE_FORMATS)}, but {format!r} "
                "was passed."
            )
        path = self.path / f"{name}.{format}"
        if isinstance(table, TableParts):
            _write_parts(path, table, format)
        elif format == "csv":
            neutralise(table).to_csv(path, index=False, date_format="%Y-%m-%d")
        else:
            neutralise(table).to_parquet(path, index=False)
        self.files.append({"file": path.name, "rows": len(table)})
        return path

    def add_file(self, path: Path, rows: int | None = None) -> None:
        """List a file written into the folder by other means.

        Parameters
        ----------
        path : pathlib.Path
            The file, inside the folder.
        rows : int, optional
            Its number of rows, for the manifest.
        """
        self.files.append({"file": Path(path).name, "rows": rows})


def _write_parts(path: Path, table: TableParts, format: str) -> None:
    """Write the parts of ``table`` one after the other into one CSV or Parquet file.

    Each Parquet part becomes a row group (the parts of the weekly grid have
    as many rows as pyarrow puts in a row group), as one whole write would.
    """
    if format == "csv":
        for i, part in enumerate(table):
            neutralise(part).to_csv(
                path, index=False, date_format="%Y-%m-%d", header=i == 0, mode="a" if i else "w"
            )
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for part in table:
            arrow = pa.Table.from_pandas(neutralise(part), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, arrow.schema)
            writer.write_table(arrow)
    finally:
        if writer is not None:
            writer.close()


@contextlib.contextmanager
def output_folder(
    target: str | os.PathLike, manifest: dict, *, overwrite: bool = False
) -> Iterator[OutputFolder]:
    """Write a folder atomically, with a manifest; see the module docstring.

    Parameters
    ----------
    target : path
        The folder that will hold the output.
    manifest : dict
        What the folder is: ``command``, ``source``, ``as_of``,
        ``parameters``, ``published``, ``threshold``, ... (``tool``,
        ``version`` and ``files`` are added).
    overwrite : bool
        Accept a target that holds other files (it is cleared).

    Yields
    ------
    OutputFolder
        Write the files through it; the folder is moved to ``target`` when the
        block ends without an error.
    """
    from . import __version__

    target = check_output_folder(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        folder = OutputFolder(work)
        yield folder
        for entry in folder.files:
            entry["sha256"] = _sha256(work / entry["file"])
        record = {"tool": TOOL, "version": __version__, **manifest, "files": folder.files}
        (work / MANIFEST).write_text(
            json.dumps(record, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        _swap_in(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _default_mode(mode: int) -> int:
    """``mode`` limited by the process umask, as a normal ``open``/``mkdir`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _swap_in(work: Path, target: Path) -> None:
    """Put the complete folder ``work`` in place of ``target`` (replaced whole)."""
    work.chmod(_default_mode(0o777))  # mkdtemp makes 0700; give the usual permissions
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / "previous")
        os.replace(work, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(work, target)


def write_file_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then move the result to ``path`` in one step.

    Parameters
    ----------
    path : str or path
        The file to write.
    write : callable
        Writes the file at the temporary path it is given.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, _default_mode(0o666))  # mkstemp makes 0600
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def write_excel(tables: dict[str, pd.DataFrame], path: str | os.PathLike) -> Path:
    """Write ``tables`` as sheets of one workbook: neutralised, every text cell a string.

    Parameters
    ----------
    tables : dict of DataFrame
        Sheet name to table.
    path : str or path
        The workbook.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def cell(sheet, value):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, str):
            text = WriteOnlyCell(sheet, value=value)
            text.data_type = "s"  # never a formula, whatever it starts with
            return text
        return value

    def write(temporary: Path) -> None:
        book = Workbook(write_only=True)
        for name, frame in tables.items():
            sheet = book.create_sheet(title=name[:31])
            sheet.append([str(c) for c in frame.columns])
            for row in neutralise(frame).itertuples(index=False, name=None):  # < 1.05M rows
                sheet.append([cell(sheet, v) for v in row])
        book.save(temporary)

    return write_file_atomically(path, write)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


SOURCE_FORMATS = ("csv", "parquet", "xlsx")


def write_source(
    tables: dict[str, pd.DataFrame],
    out_dir: str | os.PathLike,
    *,
    format: str = "csv",
    sep: str = ",",
    bom: bool = False,
    overwrite: bool = False,
    manifest: dict | None = None,
) -> Path:
    """Write tables as a source :func:`casework_analytics.load` reads back.

    CSV or Parquet files named after the tables, or one Excel workbook
    ``cohort.xlsx``, in ``out_dir``, written atomically with a manifest (see
    :func:`output_folder`) and with formula triggers neutralised.

    Parameters
    ----------
    tables : dict of DataFrame
    out_dir : path
    format : {"csv", "parquet", "xlsx"}
    sep : str
        CSV delimiter.
    bom : bool
        Start CSV files with a UTF-8 byte-order mark (as Excel does).
    overwrite : bool
        Replace a folder that holds files this tool did not write.
    manifest : dict, optional
        What the folder is (``command``, ``source``, ``parameters``, ...).

    Returns
    -------
    Path
        What the loader should be given: the folder, or the workbook.
    """
    if format not in SOURCE_FORMATS:
        raise CaseworkError(
            f"The value for `format` must be one of {list(SOURCE_FORMATS)}, but {format!r} "
            "was passed."
        )
    target = Path(out_dir)
    record = {"command": "write", "published": False, **(manifest or {})}
    with output_folder(target, record, overwrite=overwrite) as folder:
        if format == "xlsx":
            write_excel(tables, folder.path / "cohort.xlsx")
            folder.add_file(folder.path / "cohort.xlsx", sum(len(t) for t in tables.values()))
        for name, frame in tables.items():
            if format == "parquet":
                folder.write_table(name, frame, format="parquet")
            elif format == "csv":
                path = folder.path / f"{name}.csv"
                neutralise(frame).to_csv(
                    path,
                    index=False,
                    sep=sep,
                    date_format="%Y-%m-%d",
                    encoding="utf-8-sig" if bom else "utf-8",
                )
                folder.add_file(path, len(frame))
    return target / "cohort.xlsx" if format == "xlsx" else target
