"""Progress lines for long steps of ``load`` and ``summary``.

A national cohort takes minutes to load and summarise; a step that runs
longer than a second shows one line on standard error with its name, the
rows it works on and the time it took, drawn by `tqdm
<https://tqdm.github.io>`_ (which also updates the line in place in
Jupyter). Shorter steps show nothing.

Whether lines are shown: ``progress=True`` or ``False`` where a function
takes it; otherwise the environment variable ``CASEWORK_PROGRESS`` (``1``
or ``0``); otherwise only when standard error is a terminal or the code runs
in a Jupyter kernel, so that pipes, log files and tests stay quiet.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

__all__ = [
    "MIN_SECONDS",
    "wanted",
    "Progress",
    "Step",
    "quiet",
]

#: Steps shorter than this many seconds show no line.
MIN_SECONDS = 1.0


def wanted(progress: bool | None = None) -> bool:
    """Whether progress lines are shown (see the module docstring).

    Parameters
    ----------
    progress : bool, optional
        True or False decides; None follows ``CASEWORK_PROGRESS``, then
        whether a terminal or Jupyter is attached.

    Returns
    -------
    bool

    Examples
    --------
    >>> wanted(False), wanted(True)
    (False, True)
    """
    if progress is not None:
        return bool(progress)
    setting = os.environ.get("CASEWORK_PROGRESS", "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class Progress:
    """Shows a line for each step that takes longer than :data:`MIN_SECONDS`.

    Parameters
    ----------
    progress : bool, optional
        Show lines (``True``), never (``False``), or decide as the module
        docstring says (``None``).
    prefix : str
        Put before each step's name (``"load"``, ``"summary"``).

    Examples
    --------
    >>> with Progress(False, "load").step("visits", 10):
    ...     pass
    """

    def __init__(self, progress: bool | None = None, prefix: str = "") -> None:
        self.enabled = wanted(progress)
        self.prefix = prefix

    @contextlib.contextmanager
    def step(self, name: str, rows: int | None = None) -> Iterator[Step]:
        """Time the ``with`` block as one step; a line appears once it has run 1 s.

        The block may set ``rows`` on the object it gets, when the number is
        only known at the end (the rows read from a source).

        Parameters
        ----------
        name : str
            What the step does, as the line says it.
        rows : int, optional
            Rows the step works on.

        Returns
        -------
        context manager
            It gives the :class:`Step`, whose ``rows`` the block may set.
        """
        done = Step(rows)
        if not self.enabled:
            yield done
            return
        from tqdm import tqdm

        name = f"{self.prefix} {name}" if self.prefix else name
        lock, shown = threading.Lock(), []

        def show() -> None:  # on the timer's thread, or at the end
            with lock:
                if not shown:
                    shown.append(tqdm(desc=done.label(name) + "...", bar_format="{desc}"))

        # Show the line while a long step is still running, then complete it.
        timer = threading.Timer(MIN_SECONDS, show)
        timer.daemon = True
        timer.start()
        started = time.monotonic()
        try:
            yield done
        finally:
            timer.cancel()
            elapsed = time.monotonic() - started
            if elapsed >= MIN_SECONDS:
                show()
            with lock:
                for bar in shown:
                    bar.set_description_str(done.label(name) + f"{elapsed:.1f} s", refresh=False)
                    bar.close()


class Step:
    """What a step of :meth:`Progress.step` reports: the rows it worked on."""

    def __init__(self, rows: int | None = None) -> None:
        self.rows = rows

    def label(self, name: str) -> str:
        """``name: N rows, `` (before the elapsed time), or ``name: ``.

        Parameters
        ----------
        name : str

        Returns
        -------
        str

        Examples
        --------
        >>> Step(1500).label("load visits")
        'load visits: 1,500 rows, '
        """
        return f"{name}: {self.rows:,} rows, " if self.rows is not None else f"{name}: "


def quiet() -> Progress:
    """A :class:`Progress` that shows nothing.

    Returns
    -------
    Progress
    """
    return Progress(False)
