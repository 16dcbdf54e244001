"""Disclosure audit of a published set of tables.

Suppressing each table on its own (:func:`casework_analytics.privacy.protect`)
is not enough: a count published in two tables, nested counts, a line with
two hidden cells whose sum another line gives, or a survival curve can
still give a hidden count away. This module audits everything published
together, as statistical agencies' tools (tau-ARGUS, sdcTable) do.

:class:`PublishedSet`
    Every number of a publication, one *cell* per ``(table, row, column)``,
    with its true value, whether it is published, hidden or never
    published, and the linear relations an attacker knows between cells
    (``sum(coef_i * cell_i) == constant``, or ``<=``). Relations are added in
    bulk from tidy tables and kept as a sparse matrix.
:func:`audit`
    For every cell the attacker does not see, the smallest and largest
    value it can take over all non-negative (integer-rounded) values
    consistent with everything published, by linear programming (HiGHS),
    one connected component of the relation graph at a time; and whether
    that interval *pins* the cell (see :func:`audit`, Notes).
:func:`protect_set`
    Primary suppression, a cheap line-by-line complementary pass, then
    audit, hide one more cell wherever a cell is pinned, and audit again,
    until nothing is pinned or nothing more can be hidden.
:func:`coarsen_curve`, :func:`add_curve`
    Survival curves: a publishable coarse version of a Kaplan–Meier table,
    and the relations an attacker derives from a published curve.

The attacker holds every published file and knows the rules: counts from 1
to ``threshold - 1`` are hidden, zeros are shown (the US CMS rule; so every
hidden count is at least 1), and the relations between tables. Derived
values (shares, rates, intervals) are hidden whenever one of the counts
they are computed from is not shown, so a shown derived value is a
function of shown counts and tells the attacker nothing more; they take no
part in the linear programmes.

Examples
--------
>>> import pandas as pd
>>> exits = pd.DataFrame(
...     {"planned": [3, 15, 18], "unplanned": [20, 30, 50], "total": [23, 45, 68]},
...     index=pd.Index(["A", "B", "All"], name="site"),
... )
>>> published = (
...     PublishedSet()
...     .add_table("exits", exits, counts=["planned", "unplanned", "total"])
...     .add_column_sums(table="exits", total="total", parts=["planned", "unplanned"])
...     .add_group_totals("exits", group="site")
... )
>>> result = protect_set(published)
>>> result.table("exits")  # doctest: +NORMALIZE_WHITESPACE
     planned unplanned total
site
A          *         *    23
B          *         *    45
All       18        50    68
>>> result.audit[["row", "column", "value", "lower", "upper", "pinned"]]
  row     column  value  lower  upper  pinned
0   A    planned    3.0    1.0   17.0   False
1   A  unplanned   20.0    6.0   22.0   False
2   B    planned   15.0    1.0   17.0   False
3   B  unplanned   30.0   28.0   44.0   False
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse.csgraph import connected_components

from .errors import CaseworkError
from .grouping import OVERALL, group_columns
from .privacy import DEFAULT_THRESHOLD, HIDDEN

__all__ = [
    "DEFAULT_MARGIN",
    "BATCH_VARIABLES",
    "LOCAL_BLOCKS_FROM",
    "LOCAL_RELATION_SIZE",
    "RANDOM_ROUNDS",
    "AUDIT_COLUMNS",
    "CELL_COLUMNS",
    "CURVE_COLUMNS",
    "PublishedSet",
    "audit",
    "Protection",
    "protect_set",
    "coarsen_curve",
    "add_curve",
]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

DEFAULT_MARGIN = 2
#: Variables per stacked linear programme. Many small problems are solved as
#: one block-diagonal programme (HiGHS's per-call overhead dominates small
#: ones), but solving time grows faster than size, so batches stay small.
BATCH_VARIABLES = 2_000
#: Components with more unknown cells than this are first solved block by
#: block when only pinning is decided (see ``_local_blocks``); relations
#: with more than LOCAL_RELATION_SIZE unknown cells are what cuts them.
LOCAL_BLOCKS_FROM = 60
LOCAL_RELATION_SIZE = 12
#: Rounds of random objectives that push undecided cells apart (``_spread``).
RANDOM_ROUNDS = 8
_TOL = 1e-6
AUDIT_COLUMNS = [
    "table",
    "row",
    "column",
    "value",
    "published",
    "lower",
    "upper",
    "pinned",
]
CELL_COLUMNS = ["table", "row", "column", "kind", "value", "published", "hidden", "status"]
CURVE_COLUMNS = ["time_days", "at_risk", "survival", "se", "ci_low", "ci_high"]


# ---------------------------------------------------------------- the data model


@dataclass
class _Block:
    """One table of a published set: its cells are ``rows x (counts + derived)``,
    numbered row by row from ``offset``."""

    name: str
    frame: pd.DataFrame
    counts: list[str]
    derived: dict[str, list[str]]
    offset: int

    @property
    def columns(self) -> list[str]:
        return [*self.counts, *self.derived]

    @property
    def size(self) -> int:
        return len(self.frame) * len(self.columns)

    def ids(self, positions, columns) -> np.ndarray:
        where = {c: j for j, c in enumerate(self.columns)}
        columns = np.broadcast_to(np.asarray(columns, dtype=object), np.shape(positions))
        unknown = sorted({str(c) for c in columns if c not in where})
        if unknown:
            raise CaseworkError(
                f"Table {self.name!r} has no column(s) {unknown}; its cells are {self.columns}."
            )
        cols = np.array([where[c] for c in columns], dtype=np.int64)
        return self.offset + np.asarray(positions, dtype=np.int64) * len(self.columns) + cols

    def positions(self, labels) -> np.ndarray:
        labels = list(labels)
        pos = self.frame.index.get_indexer(labels) if labels else np.array([], dtype=np.int64)
        if (pos < 0).any():
            missing = [labels[i] for i in np.flatnonzero(pos < 0)[:5]]
            raise CaseworkError(
                f"Table {self.name!r} has no row(s) {missing}; rows are labelled by its index "
                f"({list(self.frame.index.names)})."
            )
        return pos


class PublishedSet:
    """Every cell of a publication and the linear relations among them.

    A *cell* is one number, keyed by ``(table, row, column)``: ``row`` is a
    label of the table's index (a tuple for a MultiIndex). Count cells take
    part in the relations; derived cells (shares, rates, intervals) only
    follow the counts they are computed from. Each count cell is
    *published* (shown, or hidden with a marker) or *unpublished* (never
    shown, e.g. the number of cases that stopped at a stage, which the
    attacker gets by differencing): unpublished counts from 1 to
    ``threshold - 1`` are audited too.

    Methods return the set, so calls chain. Relations are stored as a
    sparse matrix; bulk methods build it without a loop over cells.

    See Also
    --------
    audit, protect_set, add_curve
    """

    def __init__(self) -> None:
        self._blocks: dict[str, _Block] = {}
        self._n_cells = 0
        self._cell_parts: list[dict[str, np.ndarray]] = []
        self._derived_parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._rel_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._rel_constants: list[np.ndarray] = []
        self._rel_equal: list[np.ndarray] = []
        self._rel_labels: list[tuple[int, str, np.ndarray]] = []
        self._n_relations = 0
        self._compiled: _Compiled | None = None

    # -- cells

    def add_table(
        self,
        name: str,
        frame: pd.DataFrame,
        *,
        counts: Sequence[str],
        derived: Mapping[str, list[str]] | None = None,
        unpublished: Sequence[str] = (),
        hidden: pd.DataFrame | None = None,
        lower: float | Mapping[str, ArrayLike] | None = None,
        upper: float | Mapping[str, ArrayLike] | None = None,
    ) -> PublishedSet:
        """Add the cells of one table.

        Parameters
        ----------
        name : str
            The table's name, the ``table`` part of its cells' keys.
        frame : DataFrame
            One row per published row. Its index (unique; a MultiIndex of
            the key columns is handy) labels the rows.
        counts : list of str
            Count columns: whole numbers >= 0, no missing values.
        derived : dict, optional
            Each derived column (share, interval, rate, quantile) and the
            count columns of the same row it is computed from. It is hidden
            whenever one of them is not shown; list them all.
        unpublished : list of str
            Count columns that are never published (the attacker knows they
            exist and how they relate to the others).
        hidden : DataFrame of bool, optional
            Count cells already hidden (same index; columns among
            ``counts``).
        lower, upper : scalar or dict, optional
            Bounds the attacker knows for count cells, beyond ``>= 0``
            (e.g. a count cannot exceed a population published elsewhere):
            a number for every count cell, or ``{column: number or array}``.

        Returns
        -------
        PublishedSet
        """
        if name in self._blocks:
            raise CaseworkError(f"A table named {name!r} is already in the set.")
        counts = list(counts)
        derived = {str(k): list(v) for k, v in (derived or {}).items()}
        unpublished = list(unpublished)
        if not frame.index.is_unique:
            raise CaseworkError(
                f"The index of table {name!r} labels its rows and must be unique; "
                "set_index on the key columns first."
            )
        absent = [c for c in [*counts, *derived] if c not in frame.columns]
        if absent:
            raise CaseworkError(f"Table {name!r} has no column(s) {absent}.")
        for column, sources in derived.items():
            bad = [s for s in sources if s not in counts]
            if bad:
                raise CaseworkError(
                    f"Derived column {column!r} of {name!r} rests on {bad}, which are not among "
                    f"its count columns {counts}."
                )
        bad = [c for c in unpublished if c not in counts]
        if bad:
            raise CaseworkError(f"`unpublished` names {bad}, not count columns of {name!r}.")
        values = _count_values(name, frame, counts)
        block = _Block(name, frame.copy(), counts, derived, self._n_cells)
        n, nc, nd = len(frame), len(counts), len(derived)
        width = nc + nd
        derived_values = (
            frame[list(derived)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            if nd
            else np.empty((n, 0))
        )
        kind = np.array(["count"] * nc + ["derived"] * nd, dtype=object)
        published = np.array([c not in unpublished for c in block.columns])
        if nd:
            published[nc:] = bool(published[:nc].any()) if nc else True
        hidden_cells = np.zeros((n, width), dtype=bool)
        if hidden is not None:
            extra = [c for c in hidden.columns if c not in counts]
            if extra:
                raise CaseworkError(f"`hidden` for {name!r} has non-count column(s) {extra}.")
            mask = hidden.reindex(index=frame.index, columns=counts, fill_value=False)
            hidden_cells[:, :nc] = mask.fillna(False).to_numpy(dtype=bool)
        part = {
            "table": np.full(n * width, name, dtype=object),
            "row": np.repeat(_labels(frame.index), width),
            "column": np.tile(np.array(block.columns, dtype=object), n),
            "kind": np.tile(kind, n),
            "value": np.column_stack([values, derived_values]).ravel(),
            "published": np.tile(published, n),
            "hidden": hidden_cells.ravel(),
            "lower": _bound_cells(name, lower, counts, nd, n, -np.inf),
            "upper": _bound_cells(name, upper, counts, nd, n, np.inf),
        }
        self._blocks[name] = block
        self._cell_parts.append(part)
        for j, sources in enumerate(derived.values()):
            rows = np.repeat(np.arange(n), len(sources))
            src_cols = np.tile([counts.index(s) for s in sources], n)
            self._derived_parts.append(
                (block.offset + rows * width + nc + j, block.offset + rows * width + src_cols)
            )
        self._n_cells += n * width
        self._compiled = None
        return self

    def withhold(self, *tables: str) -> PublishedSet:
        """Stop publishing whole tables: their counts become unpublished (and
        still audited), their derived values are not shown.

        Parameters
        ----------
        *tables : str
            Names of tables already in the set.

        Returns
        -------
        PublishedSet
        """
        for name in tables:
            self._block(name)  # refuse unknown names
            part = self._cell_parts[list(self._blocks).index(name)]
            part["published"][:] = False
            part["hidden"][:] = False
        self._compiled = None
        return self

    def add_sources(self, terms: pd.DataFrame) -> PublishedSet:
        """More counts that derived cells rest on, in any row or table.

        ``derived=`` of :meth:`add_table` covers counts of the same row;
        this covers the rest, e.g. a conversion ``reached_k / reached_{k-1}``
        that also rests on the previous row's count.

        Parameters
        ----------
        terms : DataFrame
            One row per (derived cell, count) pair: ``table``, ``row``,
            ``column`` (the derived cell) and ``source_table``,
            ``source_row``, ``source_column`` (a count it rests on).

        Returns
        -------
        PublishedSet
        """
        needed = ["table", "row", "column", "source_table", "source_row", "source_column"]
        missing = [c for c in needed if c not in terms]
        if missing:
            raise CaseworkError(f"`terms` needs column(s) {missing}.")
        ids = {}
        for side, prefix in (("derived", ""), ("source", "source_")):
            out = np.empty(len(terms), dtype=np.int64)
            for name, rows in terms.groupby(prefix + "table", sort=False).indices.items():
                block = self._block(name)
                part = terms.iloc[rows]
                out[rows] = block.ids(
                    block.positions(part[prefix + "row"]), part[prefix + "column"].to_numpy()
                )
            ids[side] = out
        kinds = self._kinds()
        if (kinds[ids["derived"]] != "derived").any() or (kinds[ids["source"]] != "count").any():
            raise CaseworkError(
                "`add_sources` joins derived cells (first three columns) to count cells "
                "(source_ columns); some are the other way round."
            )
        self._derived_parts.append((ids["derived"], ids["source"]))
        self._compiled = None
        return self

    # -- relations

    def add_relations(
        self,
        terms: pd.DataFrame,
        *,
        constants: Mapping[Hashable, float] | pd.Series | None = None,
        sense: str = "==",
    ) -> PublishedSet:
        """Add relations written out term by term.

        Parameters
        ----------
        terms : DataFrame
            Columns ``relation`` (any label; the rows of one relation share
            it), ``table``, ``row``, ``column`` (the cell) and ``coef``.
        constants : dict or Series, optional
            The right-hand side of each relation, by label (default 0).
        sense : {"==", "<="}
            ``sum(coef * cell) == constant`` or ``<= constant``.

        Returns
        -------
        PublishedSet
        """
        if sense not in ("==", "<="):
            raise ValueError(
                f"The value for `sense` must be '==' or '<=', but {sense!r} was passed."
            )
        missing = [c for c in ("relation", "table", "row", "column", "coef") if c not in terms]
        if missing:
            raise CaseworkError(f"`terms` needs column(s) {missing}.")
        codes, labels = pd.factorize(terms["relation"], sort=False)
        cells = np.empty(len(terms), dtype=np.int64)
        for name, rows in terms.groupby("table", sort=False).indices.items():
            block = self._block(name)
            part = terms.iloc[rows]
            cells[rows] = block.ids(block.positions(part["row"]), part["column"].to_numpy())
        rhs = (
            np.zeros(len(labels))
            if constants is None
            else pd.Series(constants, dtype=float).reindex(labels).fillna(0).to_numpy()
        )
        self._append(
            codes,
            cells,
            terms["coef"].to_numpy(float),
            rhs,
            sense == "==",
            "relation",
            np.asarray(labels, dtype=object),
        )
        return self

    def add_column_sums(
        self,
        total: str | tuple[str, str],
        parts: Sequence[str | tuple[str, str]],
        *,
        table: str | None = None,
        rows: ArrayLike | pd.DataFrame | None = None,
    ) -> PublishedSet:
        """In every row, one column is the sum of others (possibly across tables).

        Parameters
        ----------
        total : str or (table, column)
            The total's column (in ``table``) or ``(table, column)``.
        parts : list of str or (table, column)
            The parts. One part states that the same number is published
            twice.
        table : str, optional
            The table of columns given by name alone.
        rows : list-like or DataFrame, optional
            The rows (labels) where the relation holds; default every row of
            the total's table. Labels must exist in every table named; a
            DataFrame with one column per table gives each table's row label
            for each relation.

        Returns
        -------
        PublishedSet

        Examples
        --------
        ``read = accepted + rejected`` in every row of ``screens``:
        ``add_column_sums(table="screens", total="read", parts=["accepted", "rejected"])``;
        across tables, ``n_cases = n_exits + n_open``:
        ``add_column_sums(("funnel", "n_cases"), [("exits", "n_exits"), ("exits", "n_open")])``.
        """
        terms = [(self._where(total, table), 1.0)] + [(self._where(p, table), -1.0) for p in parts]
        if rows is None:
            rows = self._block(terms[0][0][0]).frame.index
        per_table = rows if isinstance(rows, pd.DataFrame) else None
        n = len(rows)
        cells, coefs, rel = [], [], []
        for (name, column), coef in terms:
            block = self._block(name)
            labels = per_table[name] if per_table is not None else rows
            cells.append(block.ids(block.positions(labels), column))
            coefs.append(np.full(n, coef))
            rel.append(np.arange(n))
        first = per_table.iloc[:, 0] if per_table is not None else rows
        desc = f"{_name(terms[0][0])} = " + " + ".join(_name(t) for t, _ in terms[1:])
        self._append(
            np.concatenate(rel),
            np.concatenate(cells),
            np.concatenate(coefs),
            np.zeros(n),
            True,
            desc,
            _labels(pd.Index(first) if not isinstance(first, pd.Index) else first),
        )
        return self

    def add_row_sums(
        self,
        table: str,
        totals: Mapping[Hashable, Hashable] | pd.Series,
        *,
        columns: Sequence[str] | None = None,
    ) -> PublishedSet:
        """Rows of a table sum to a total row, column by column.

        Parameters
        ----------
        table : str
        totals : dict or Series
            Each part row's label mapped to its total row's label (for a
            hierarchy: each row to its parent).
        columns : list of str, optional
            The count columns where the sums hold (default all counts).

        Returns
        -------
        PublishedSet
        """
        block = self._block(table)
        totals = pd.Series(totals) if not isinstance(totals, pd.Series) else totals
        part_pos = block.positions(totals.index)
        total_pos = block.positions(totals.to_numpy())
        return self._add_sums(block, part_pos, total_pos, columns)

    def add_group_totals(
        self,
        table: str,
        group: str | Sequence[str],
        *,
        overall: str = OVERALL,
        columns: Sequence[str] | None = None,
    ) -> PublishedSet:
        """Groups sum to the overall row: the ``by=`` convention of this package.

        Rows that differ only in the ``group`` index level(s) form a line:
        those whose group levels read ``overall`` (``"All"``) are the total,
        the others its parts.

        Parameters
        ----------
        table : str
        group : str or list of str
            Index level(s) holding the groups.
        overall : str
            Label of the whole-cohort rows.
        columns : list of str, optional
            Count columns (default all counts).

        Returns
        -------
        PublishedSet
        """
        block = self._block(table)
        group = group_columns(group)
        keys = block.frame.index.to_frame(index=False)
        absent = [g for g in group if g not in keys.columns]
        if absent:
            raise CaseworkError(
                f"Table {table!r} has no index level(s) {absent}; its levels are "
                f"{list(keys.columns)}."
            )
        flags = keys[group].astype(str) == overall
        is_total, any_total = flags.all(axis=1).to_numpy(), flags.any(axis=1).to_numpy()
        if (any_total & ~is_total).any():
            raise CaseworkError(
                f"Table {table!r} mixes {overall!r} with real groups in one row; "
                "use add_row_sums for partial totals."
            )
        rest = [c for c in keys.columns if c not in group]
        line = (
            keys.groupby(rest, sort=False, dropna=False).ngroup().to_numpy()
            if rest
            else (np.zeros(len(keys), dtype=np.int64))
        )
        total_of_line = np.full(line.max() + 1 if len(line) else 0, -1)
        total_of_line[line[is_total]] = np.flatnonzero(is_total)
        part_pos = np.flatnonzero(~is_total)
        total_pos = total_of_line[line[part_pos]]
        keep = total_pos >= 0
        return self._add_sums(block, part_pos[keep], total_pos[keep], columns)

    # -- views

    @property
    def cells(self) -> pd.DataFrame:
        """Every cell: ``table``, ``row``, ``column``, ``kind`` ("count" or
        "derived"), ``value``, ``published``, ``hidden`` (as given),
        ``lower`` and ``upper`` (bounds the attacker knows; -inf/inf if none
        beyond the rules). Masks passed to :func:`audit` follow this order."""
        c = self._compile()
        return pd.DataFrame(
            {
                "table": c.table,
                "row": c.row,
                "column": c.column,
                "kind": np.where(c.is_count, "count", "derived"),
                "value": c.value,
                "published": c.published,
                "hidden": c.hidden,
                "lower": c.lower,
                "upper": c.upper,
            }
        )

    @property
    def tables(self) -> list[str]:
        """The tables' names, in the order they were added."""
        return list(self._blocks)

    def frame(self, name: str) -> pd.DataFrame:
        """The table as it was added.

        Parameters
        ----------
        name : str
            A table of the set.

        Returns
        -------
        DataFrame
            A copy.
        """
        return self._block(name).frame.copy()

    def __repr__(self) -> str:
        return (
            f"PublishedSet({len(self._blocks)} tables, {self._n_cells:,} cells, "
            f"{self._n_relations:,} relations)"
        )

    # -- internals

    def _block(self, name) -> _Block:
        if name not in self._blocks:
            raise CaseworkError(f"No table {name!r} in the set; it has {list(self._blocks)}.")
        return self._blocks[name]

    def _where(self, term, table) -> tuple[str, str]:
        if isinstance(term, tuple):
            return term
        if table is None:
            raise CaseworkError(f"Column {term!r} needs `table=` or a (table, column) pair.")
        return (table, term)

    def _add_sums(self, block, part_pos, total_pos, columns) -> PublishedSet:
        columns = list(block.counts if columns is None else columns)
        keep = part_pos != total_pos
        part_pos, total_pos = part_pos[keep], total_pos[keep]
        uniq, inverse = np.unique(total_pos, return_inverse=True)
        u = len(uniq)
        rel, cells, coefs = [], [], []
        for k, column in enumerate(columns):
            rel += [np.arange(u) + k * u, inverse + k * u]
            cells += [block.ids(uniq, column), block.ids(part_pos, column)]
            coefs += [np.ones(u), -np.ones(len(part_pos))]
        labels = (
            np.concatenate(
                [
                    np.array(
                        [f"{c} at {r!r}" for r in _labels(block.frame.index[uniq])], dtype=object
                    )
                    for c in columns
                ]
            )
            if u
            else np.array([], dtype=object)
        )
        self._append(
            np.concatenate(rel) if rel else np.array([], dtype=np.int64),
            np.concatenate(cells) if cells else np.array([], dtype=np.int64),
            np.concatenate(coefs) if coefs else np.array([]),
            np.zeros(u * len(columns)),
            True,
            f"{block.name}: rows sum to their total in",
            labels,
        )
        return self

    def _append(self, rel, cells, coefs, constants, equal, desc, labels) -> None:
        rel = np.asarray(rel, dtype=np.int64)
        n_rel = len(constants)
        if n_rel == 0:
            return
        kinds = self._kinds()
        if len(cells) and (kinds[cells] != "count").any():
            bad = cells[kinds[cells] != "count"][:3]
            raise CaseworkError(
                f"Relations may only join count cells; {self._describe(bad)} are derived."
            )
        self._rel_parts.append((rel + self._n_relations, np.asarray(cells), np.asarray(coefs)))
        self._rel_constants.append(np.asarray(constants, dtype=float))
        self._rel_equal.append(np.full(n_rel, equal))
        self._rel_labels.append((self._n_relations, desc, np.asarray(labels, dtype=object)))
        self._n_relations += n_rel
        self._compiled = None

    def _kinds(self) -> np.ndarray:
        if not self._cell_parts:
            return np.array([], dtype=object)
        return np.concatenate([p["kind"] for p in self._cell_parts])

    def _describe(self, ids) -> str:
        c = self._compile()
        return ", ".join(f"({c.table[i]}, {c.row[i]!r}, {c.column[i]})" for i in ids)

    def _relation_label(self, i: int) -> str:
        starts = [s for s, _, _ in self._rel_labels]
        k = int(np.searchsorted(starts, i, side="right")) - 1
        start, desc, labels = self._rel_labels[k]
        local = i - start
        return f"{desc} {labels[local]}" if local < len(labels) else desc

    def _compile(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _Compiled.build(self)
        return self._compiled


def _name(term) -> str:
    return f"{term[0]}.{term[1]}"


def _labels(index: pd.Index) -> np.ndarray:
    out = np.empty(len(index), dtype=object)
    out[:] = list(index)
    return out


def _count_values(name, frame, counts) -> np.ndarray:
    if not counts:
        return np.empty((len(frame), 0))
    block = frame[counts]
    values = block.apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise CaseworkError(
            f"Count column {counts[c]!r} of table {name!r} must hold whole numbers >= 0; "
            f"row {frame.index[r]!r} has {block.iloc[r, c]!r}."
        )
    return values


def _bound_cells(name, bound, counts, n_derived, n_rows, default) -> np.ndarray:
    out = np.full((n_rows, len(counts) + n_derived), default, dtype=float)
    if bound is None:
        return out.ravel()
    if not isinstance(bound, Mapping):
        out[:, : len(counts)] = float(bound)
        return out.ravel()
    for column, value in bound.items():
        if column not in counts:
            raise CaseworkError(f"A bound is given for {column!r}, not a count column of {name!r}.")
        out[:, counts.index(column)] = np.broadcast_to(np.asarray(value, dtype=float), n_rows)
    return np.where(np.isnan(out), default, out).ravel()


@dataclass
class _Compiled:
    """The set as arrays: cells, sparse relation matrices, derived sources."""

    table: np.ndarray
    row: np.ndarray
    column: np.ndarray
    is_count: np.ndarray
    value: np.ndarray
    published: np.ndarray
    hidden: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    A_eq: sparse.csr_array
    b_eq: np.ndarray
    A_ub: sparse.csr_array
    b_ub: np.ndarray
    eq_index: np.ndarray  # relation number of each A_eq row
    ub_index: np.ndarray
    derived_of: sparse.csr_array  # derived cell x source count
    owner: PublishedSet = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.value)

    @classmethod
    def build(cls, owner: PublishedSet) -> _Compiled:
        parts = owner._cell_parts
        cat = {
            k: (np.concatenate([p[k] for p in parts]) if parts else np.array([]))
            for k in (
                "table",
                "row",
                "column",
                "kind",
                "value",
                "published",
                "hidden",
                "lower",
                "upper",
            )
        }
        n = owner._n_cells
        is_count = cat["kind"] == "count"
        if owner._rel_parts:
            rel = np.concatenate([p[0] for p in owner._rel_parts])
            cells = np.concatenate([p[1] for p in owner._rel_parts])
            coefs = np.concatenate([p[2] for p in owner._rel_parts])
            constants = np.concatenate(owner._rel_constants)
            equal = np.concatenate(owner._rel_equal)
        else:
            rel = cells = np.array([], dtype=np.int64)
            coefs = constants = np.array([])
            equal = np.array([], dtype=bool)
        A = sparse.csr_array(
            sparse.coo_array((coefs, (rel, cells)), shape=(owner._n_relations, n))
        )  # duplicate terms add up
        eq_index, ub_index = np.flatnonzero(equal), np.flatnonzero(~equal)
        if owner._derived_parts:
            d_rows = np.concatenate([p[0] for p in owner._derived_parts])
            d_cols = np.concatenate([p[1] for p in owner._derived_parts])
        else:
            d_rows = d_cols = np.array([], dtype=np.int64)
        derived_of = sparse.csr_array((np.ones(len(d_rows)), (d_rows, d_cols)), shape=(n, n))
        out = cls(
            table=cat["table"],
            row=cat["row"],
            column=cat["column"],
            is_count=is_count,
            value=cat["value"].astype(float),
            published=cat["published"].astype(bool),
            hidden=cat["hidden"].astype(bool),
            lower=cat["lower"].astype(float),
            upper=cat["upper"].astype(float),
            A_eq=A[eq_index],
            b_eq=constants[eq_index],
            A_ub=A[ub_index],
            b_ub=constants[ub_index],
            eq_index=eq_index,
            ub_index=ub_index,
            derived_of=derived_of,
            owner=owner,
        )
        out.check()
        return out

    def check(self) -> None:
        """The true values must satisfy every relation and bound."""
        v = np.where(self.is_count, self.value, 0.0)
        for A, b, index, equal in (
            (self.A_eq, self.b_eq, self.eq_index, True),
            (self.A_ub, self.b_ub, self.ub_index, False),
        ):
            if not A.shape[0]:
                continue
            lhs = A @ v
            scale = 1 + abs(A) @ np.abs(v) + np.abs(b)
            gap = lhs - b
            bad = np.abs(gap) > _TOL * scale if equal else gap > _TOL * scale
            if bad.any():
                names = [self.owner._relation_label(int(i)) for i in index[bad][:5]]
                raise CaseworkError(
                    f"{int(bad.sum())} relation(s) do not hold for the true values, e.g. "
                    f"{names}; check the tables and the relations added."
                )
        outside = self.is_count & ((v < self.lower - _TOL) | (v > self.upper + _TOL))
        if outside.any():
            raise CaseworkError(
                f"Cell(s) {self.owner._describe(np.flatnonzero(outside)[:3])} lie outside the "
                "bounds given for them."
            )


# ---------------------------------------------------------------- the audit


def _targets(c: _Compiled, unknown: np.ndarray, threshold: int) -> np.ndarray:
    """Unknown counts that must not be pinned: hidden published counts, and
    unpublished counts from 1 to threshold - 1."""
    small = (c.value >= 1) & (c.value < threshold)
    return unknown & (c.published | small)


def _floors(c: _Compiled, unknown: np.ndarray) -> np.ndarray:
    """Lowest value the attacker considers: 1 for a hidden published count
    (zeros are shown), 0 for an unpublished one; raised by a given bound."""
    rule = np.where(c.published, 1.0, 0.0)
    return np.where(unknown, np.maximum(rule, c.lower), np.nan)


def _wider_than_band(lower, upper, margin):
    """Whole numbers from ``lower`` to ``upper`` (feasible values found or
    bounds solved) span more than ``2 * margin``: proven unpinned."""
    with np.errstate(invalid="ignore"):
        return np.floor(upper + _TOL) - np.ceil(lower - _TOL) > 2 * margin


def _pinned(lower, upper, target, margin) -> np.ndarray:
    """The attacker can confine the cell to a band of +/- margin."""
    return target & (upper - lower <= 2 * margin)


@dataclass
class _Bounds:
    """Bounds of the unknown cells and the components they fall in."""

    ids: np.ndarray  # unknown cell ids
    component: np.ndarray  # component label per unknown cell
    lower: np.ndarray
    upper: np.ndarray


def _rank_within(labels: np.ndarray):
    """Stable order by label, start of each label's run, and each element's
    position within its label."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, len(labels)]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - run
    return order, rank


def _solve_bounds(
    c: _Compiled,
    unknown: np.ndarray,
    target: np.ndarray,
    *,
    integer: bool,
    cache: dict,
    margin: int | None = None,
    seen: tuple[np.ndarray, np.ndarray] | None = None,
    exact_pinned: bool = True,
) -> _Bounds:
    """Min and max of every target over the attacker's feasible set.

    Works one connected component of the unknown cells at a time and
    reuses ``cache`` (component's cells -> bounds). With ``margin=None``
    the bounds are exact; with a margin, a target whose observed range
    already spans more than ``2 * margin`` keeps that (narrower, proven)
    range instead: enough to decide pinning, which is all the protection
    loop needs. Non-targets get NaN. ``seen``, per cell, holds values
    already known to be feasible (from earlier rounds: hiding more cells
    only enlarges the feasible set); it is read and updated.
    """
    ids = np.flatnonzero(unknown)
    n_u = len(ids)
    known_values = np.where(c.is_count & ~unknown, c.value, 0.0)
    floor = _floors(c, unknown)[ids]
    cap = c.upper[ids]
    is_target = target[ids]
    mats = []
    for A, b in ((c.A_eq, c.b_eq), (c.A_ub, c.b_ub)):
        rhs = b - A @ known_values
        sub = sparse.csr_array(A[:, ids]) if A.shape[0] else sparse.csr_array((0, n_u))
        sub.eliminate_zeros()
        touching = np.flatnonzero(np.diff(sub.indptr) > 0)
        mats.append((sub[touching].tocoo(), rhs[touching]))
    (M_eq, r_eq), (M_ub, r_ub) = mats
    n_eq, n_ub = M_eq.shape[0], M_ub.shape[0]
    # Components of the bipartite graph (unknown cells, relations).
    edges_r = np.r_[M_eq.row, M_ub.row + n_eq] + n_u
    edges_c = np.r_[M_eq.col, M_ub.col]
    size = n_u + n_eq + n_ub
    graph = sparse.coo_array((np.ones(len(edges_r)), (edges_r, edges_c)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    comp = labels[:n_u]
    lower = np.full(n_u, np.nan)
    upper = np.full(n_u, np.nan)
    v_order, v_rank = _rank_within(comp)
    v_starts = np.flatnonzero(np.r_[True, np.diff(comp[v_order]) != 0])
    v_ends = np.r_[v_starts[1:], n_u]
    # Relations and their non-zeros, grouped by component.
    groups = []
    for M, rhs in ((M_eq, r_eq), (M_ub, r_ub)):
        row_comp = np.full(M.shape[0], -1)
        row_comp[M.row] = comp[M.col]
        r_order, r_rank = _rank_within(row_comp)
        nz_order = np.argsort(comp[M.col], kind="stable")
        groups.append(
            dict(
                r_order=r_order,
                rhs=rhs,
                nz_comp=comp[M.col][nz_order],
                nz_row=r_rank[M.row][nz_order],
                nz_col=v_rank[M.col][nz_order],
                nz_data=M.data[nz_order],
                rows_sorted=row_comp[r_order],
            )
        )
    todo = []
    for start, end in zip(v_starts, v_ends, strict=True):
        members = v_order[start:end]  # positions in ids, ascending
        if not is_target[members].any():
            continue
        key = tuple(ids[members])
        if key in cache:
            lower[members], upper[members] = cache[key]
            continue
        label = comp[members[0]]
        problem = {"members": members, "key": key, "k": len(members)}
        for name, g in zip(("eq", "ub"), groups, strict=True):
            lo_r, hi_r = np.searchsorted(g["rows_sorted"], [label, label + 1])
            lo_z, hi_z = np.searchsorted(g["nz_comp"], [label, label + 1])
            problem[name] = (
                hi_r - lo_r,
                g["nz_row"][lo_z:hi_z],
                g["nz_col"][lo_z:hi_z],
                g["nz_data"][lo_z:hi_z],
                g["rhs"][g["r_order"][lo_r:hi_r]],
            )
        problem["lo"], problem["up"] = floor[members], cap[members]
        problem["target"] = is_target[members]
        problem["truth"] = c.value[ids[members]]
        if seen is not None:
            problem["seen0"] = (seen[0][ids[members]], seen[1][ids[members]])
        n_rel = problem["eq"][0] + problem["ub"][0]
        if n_rel == 0:  # no relation binds it: only the rules and given bounds
            result = (problem["lo"].copy(), problem["up"].copy())
        elif problem["k"] == 1 and problem["eq"][0]:  # alone in an equation: determined
            result = (c.value[ids[members]].copy(), c.value[ids[members]].copy())
        else:
            todo.append(problem)
            continue
        lower[members], upper[members] = result
        cache[key] = result
    if todo:
        _solve_components(todo, integer, margin, exact_pinned)
        for problem in todo:
            lo, up = problem["lower"], problem["upper"]
            truth = c.value[ids[problem["members"]]]
            with np.errstate(invalid="ignore"):
                lo = np.minimum(np.ceil(lo - _TOL * np.maximum(1, np.abs(lo))), truth) + 0.0
                up = np.maximum(np.floor(up + _TOL * np.maximum(1, np.abs(up))), truth) + 0.0
            lo[~problem["target"]] = up[~problem["target"]] = np.nan
            lower[problem["members"]], upper[problem["members"]] = lo, up
            cache[problem["key"]] = (lo, up)
            if seen is not None:
                cells = ids[problem["members"]]
                seen[0][cells] = np.minimum(seen[0][cells], problem["seen_lo"])
                seen[1][cells] = np.maximum(seen[1][cells], problem["seen_hi"])
    return _Bounds(ids=ids, component=comp, lower=lower, upper=upper)


def _solve_components(
    problems: list[dict],
    integer: bool,
    margin: int | None,
    exact_pinned: bool = True,
    local: bool = True,
) -> None:
    """Attach ``lower`` and ``upper`` (per member; targets only) to each problem.

    One programme first finds which members are unbounded above (a
    direction of the recession cone increases them). Then every max, then
    every min, is solved, many problems stacked block-diagonally into one
    programme (a sum of independent objectives is optimal exactly when
    each block is). Every solution is a feasible point, and so are the true
    values: the range of values seen so far lies inside the true interval.
    So a min is not solved when some solution already put the cell on its
    floor. With a ``margin`` (deciding pinning only), a cell whose seen
    range is wider than ``2 * margin`` is not solved at all; large
    components first go through :func:`_local_phases` (``local``), and
    only the cells still open get their own programmes on the whole
    component (and the proven-pinned ones too if ``exact_pinned``, for
    exact bounds).
    """
    unbounded = _unbounded_above(problems)
    for p, problem in enumerate(problems):
        problem["seen_lo"] = problem["truth"].astype(float)
        problem["seen_hi"] = problem["truth"].astype(float)
        if "seen0" in problem:  # feasible values found in earlier rounds
            np.minimum(problem["seen_lo"], problem["seen0"][0], out=problem["seen_lo"])
            np.maximum(problem["seen_hi"], problem["seen0"][1], out=problem["seen_hi"])
        problem["lower"] = np.full(problem["k"], np.nan)
        problem["upper"] = np.where(unbounded[p], np.inf, np.nan)

    def decided(problem, j) -> bool:
        """Proven unpinned: the range seen (or solved) is wider than 2 margin."""
        if margin is None:
            return False
        hi = problem["upper"][j] if not np.isnan(problem["upper"][j]) else problem["seen_hi"][j]
        lo = problem["lower"][j] if not np.isnan(problem["lower"][j]) else problem["seen_lo"][j]
        return bool(_wider_than_band(lo, hi, margin))

    def still_open(problem) -> np.ndarray:
        """Targets neither proven unpinned nor proven pinned yet."""
        if margin is None:
            out = problem["target"].copy()
        else:
            hi = np.where(np.isnan(problem["upper"]), problem["seen_hi"], problem["upper"])
            lo = np.where(np.isnan(problem["lower"]), problem["seen_lo"], problem["lower"])
            out = problem["target"] & ~_wider_than_band(lo, hi, margin)
        out[list(problem.get("sure", {}))] = False
        return out

    if margin is not None:
        if local:
            _local_phases(problems, integer, margin, still_open)
        seeds = []
        for p, problem in enumerate(problems):
            weights = still_open(problem) & ~np.isinf(problem["upper"])  # keep sums bounded
            if weights.any():
                seeds += [(p, None, weights.astype(float)), (p, None, -weights.astype(float))]
        _run(problems, seeds, integer)
        _spread(problems, integer, still_open)

    def settled(problem, j) -> bool:
        """Decided either way, unless exact bounds are wanted for pinned cells."""
        if decided(problem, j):
            return True
        return not exact_pinned and j in problem.get("sure", {})

    def max_needed(p, j):
        problem = problems[p]
        return np.isnan(problem["upper"][j]) and not settled(problem, j)

    def min_needed(p, j):
        problem = problems[p]
        if problem["seen_lo"][j] <= problem["lo"][j] + _TOL:  # a solution sits on the floor
            problem["lower"][j] = problem["lo"][j]
        return np.isnan(problem["lower"][j]) and not settled(problem, j)

    for side, needed, sign in (("upper", max_needed, -1.0), ("lower", min_needed, 1.0)):
        instances = [
            (p, j, sign)
            for p, problem in enumerate(problems)
            for j in np.flatnonzero(problem["target"] & np.isnan(problem[side]))
        ]
        _run(problems, instances, integer, needed)
    for problem in problems:
        for j, (lo, up) in problem.get("outer", {}).items():  # proven pinned, not solved
            if np.isnan(problem["lower"][j]) or np.isnan(problem["upper"][j]):
                problem["lower"][j], problem["upper"][j] = lo, up
        for side, seen in (("lower", "seen_lo"), ("upper", "seen_hi")):  # decided: range seen
            problem[side] = np.where(np.isnan(problem[side]), problem[seen], problem[side])


def _spread(problems: list[dict], integer: bool, still_open) -> None:
    """Push the targets still open apart with random objectives.

    Each round solves, per problem, one programme whose objective gives
    every open target a random sign (+1: pushed down, -1: pushed up;
    targets unbounded above are only pushed down): every solution moves
    many cells towards one end of their range at once, so a few rounds
    decide most cells that are far from pinned. Stops early when a round
    decides nothing. The seed is fixed, so results are reproducible.
    """
    rng = np.random.default_rng(0)
    for _ in range(RANDOM_ROUNDS):
        instances, before = [], 0
        for p, problem in enumerate(problems):
            open_ = still_open(problem)
            before += int(open_.sum())
            if open_.sum() < 2:
                continue
            signs = rng.choice([-1.0, 1.0], size=problem["k"])
            signs[np.isinf(problem["upper"]) & (signs < 0)] = 1.0
            instances.append((p, None, np.where(open_, signs, 0.0)))
        if not instances:
            return
        _run(problems, instances, integer)
        if sum(int(still_open(problem).sum()) for problem in problems) == before:
            return


def _local_phases(problems: list[dict], integer: bool, margin: int, still_open) -> None:
    """Cheap proofs on large components, before any programme on a whole one.

    1. Restriction to each block (:func:`_local_blocks`): proves cells
       unpinned.
    2. Restriction to each open cell's neighbourhood: its block and, for
       each relation tying it to other blocks, the block with the largest
       other unknown there (room to trade): proves more cells unpinned.
    3. Relaxation of each block (tying relations dropped): an interval of
       at most ``2 * margin`` there proves the cell pinned (``sure``).
    Restrictions record the points they find. What stays open is solved
    on the whole component.
    """

    def large():
        return [problem for problem in problems if problem["k"] > LOCAL_BLOCKS_FROM]

    def restrict(**options) -> None:
        blocks = [
            (problem, members, block)
            for problem in large()
            for members, block in _local_blocks(problem, target=still_open(problem), **options)
        ]
        if not blocks:
            return
        _solve_components([b for _, _, b in blocks], integer, margin, local=False)
        for problem, members, block in blocks:
            for seen, pick in (("seen_lo", np.minimum), ("seen_hi", np.maximum)):
                problem[seen][members] = pick(problem[seen][members], block[seen])
            grows = np.isinf(block["upper"])  # unbounded in a restriction: unbounded
            problem["upper"][members[grows]] = np.inf

    restrict()
    restrict(neighbours=True)
    relaxed = [
        (problem, members, block)
        for problem in large()
        for members, block in _local_blocks(problem, relax=True, target=still_open(problem))
    ]
    if not relaxed:
        return
    _solve_components([b for _, _, b in relaxed], integer, None, local=False)
    for problem, members, block in relaxed:
        with np.errstate(invalid="ignore"):
            width = np.floor(block["upper"] + _TOL) - np.ceil(block["lower"] - _TOL)
        sure = block["target"] & (width <= 2 * margin)
        problem.setdefault("sure", {})
        problem.setdefault("outer", {})
        for j, lo, up in zip(
            members[sure], block["lower"][sure], block["upper"][sure], strict=True
        ):
            problem["sure"][int(j)] = True
            problem["outer"][int(j)] = (lo, up)


def _local_blocks(
    problem: dict,
    *,
    relax: bool = False,
    neighbours: bool = False,
    target: np.ndarray | None = None,
) -> list[tuple[np.ndarray, dict]]:
    """Local pieces of a large component: restrictions or relaxations.

    Relations with more than LOCAL_RELATION_SIZE unknown cells (the
    ``All`` rows that tie every group together) are set aside to cut the
    component into blocks. A *restriction* (default) keeps a block's cells
    free and fixes every other cell at its true value, so all its
    relations stay exact: its feasible set is a slice of the component's,
    and every point found in it is a point the attacker cannot rule out.
    With ``neighbours``, each block is joined by, for each set-aside
    relation it is in, the block holding that relation's largest other
    unknown (still a restriction). A *relaxation* (``relax=True``) drops
    the set-aside relations: its feasible set contains the component's
    (projected on the block), so an interval found there contains the
    attacker's. Returns ``(members, problem)`` for each piece holding a
    target (``target`` overrides the problem's); none if nothing splits.
    """
    k = problem["k"]
    target = problem["target"] if target is None else target
    small = {}
    edges_r, edges_c = [], []
    offset = 0
    for name in ("eq", "ub"):
        n_rows, rows, cols, _, _ = problem[name]
        small[name] = np.bincount(rows, minlength=n_rows) <= LOCAL_RELATION_SIZE
        keep = small[name][rows]
        edges_r.append(rows[keep] + offset + k)
        edges_c.append(cols[keep])
        offset += n_rows
    size = k + offset
    r, cc = np.concatenate(edges_r), np.concatenate(edges_c)
    graph = sparse.coo_array((np.ones(len(r)), (r, cc)), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    labels = labels[:k]
    if len(np.unique(labels)) < 2:
        return []
    order, _ = _rank_within(labels)
    starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
    blocks = np.split(order, starts[1:])
    block_of = {int(labels[b[0]]): b for b in blocks}
    out = []
    for members in blocks:
        if not target[members].any():
            continue
        if neighbours:
            members = _with_partners(problem, members, labels, small, block_of)
        out.append((members, _piece(problem, members, target, small if relax else None)))
    return out


def _with_partners(problem, members, labels, small, block_of) -> np.ndarray:
    """``members`` and, per set-aside relation they are in, the block of
    that relation's largest other unknown."""
    inside = np.zeros(problem["k"], dtype=bool)
    inside[members] = True
    chosen = set()
    for name in ("eq", "ub"):
        _, rows, cols, _, _ = problem[name]
        ties = np.unique(rows[inside[cols] & ~small[name][rows]])
        for row in ties:
            others = cols[(rows == row) & ~inside[cols]]
            if len(others):
                chosen.add(int(labels[others[np.argmax(problem["truth"][others])]]))
    if not chosen:
        return members
    return np.sort(np.concatenate([members, *(block_of[b] for b in chosen)]))


def _piece(problem, members, target, small=None) -> dict:
    """The problem on ``members`` with every other cell fixed at its true
    value; with ``small`` (rows to keep, per kind), a relaxation instead:
    only those rows, the others dropped."""
    k = problem["k"]
    local = np.full(k, -1)
    local[members] = np.arange(len(members))
    piece = {"k": len(members)}
    for name in ("eq", "ub"):
        n_rows, rows, cols, data, rhs = problem[name]
        inside = local[cols] >= 0
        touched = np.unique(rows[inside])
        if small is not None:
            touched = touched[small[name][touched]]
        row_local = np.full(n_rows, -1)
        row_local[touched] = np.arange(len(touched))
        kept = row_local[rows] >= 0
        moved = np.bincount(
            rows[kept & ~inside],
            weights=(data * problem["truth"][cols])[kept & ~inside],
            minlength=n_rows,
        )
        use = inside & kept
        piece[name] = (
            len(touched),
            row_local[rows[use]],
            local[cols[use]],
            data[use],
            (rhs - moved)[touched],
        )
    for key in ("lo", "up", "truth"):
        piece[key] = problem[key][members]
    piece["target"] = target[members]
    return piece


def _run(problems, instances, integer: bool, needed=None) -> None:
    """Solve ``(problem, member, sign)`` instances (member None: ``sign`` is
    a weight vector) in stacked batches of about BATCH_VARIABLES, skipping
    those that ``needed(problem, member)`` no longer wants when their turn
    comes (earlier solutions may have settled them)."""
    batch, size = [], 0
    for inst in instances:
        if needed is not None and not needed(inst[0], inst[1]):
            continue
        batch.append(inst)
        size += problems[inst[0]]["k"]
        if size >= BATCH_VARIABLES:
            _solve_batch(problems, batch, integer)
            batch, size = [], 0
    if batch:
        _solve_batch(problems, batch, integer)


def _stack(problems, batch):
    """Block-diagonal copies of the problems named in ``batch``."""
    pieces = {"c": [], "lo": [], "up": [], "eq": [], "ub": [], "b_eq": [], "b_ub": []}
    offsets = {"var": 0, "eq": 0, "ub": 0}
    starts = np.empty(len(batch), dtype=np.int64)
    for i, (p, j, sign) in enumerate(batch):
        problem = problems[p]
        k = problem["k"]
        if j is None:
            c = np.asarray(sign, dtype=float)
        else:
            c = np.zeros(k)
            c[j] = sign
        pieces["c"].append(c)
        pieces["lo"].append(problem["lo"])
        pieces["up"].append(problem["up"])
        starts[i] = offsets["var"]
        for name in ("eq", "ub"):
            n_rows, rows, cols, data, rhs = problem[name]
            pieces[name].append((rows + offsets[name], cols + offsets["var"], data))
            pieces["b_" + name].append(rhs)
            offsets[name] += n_rows
        offsets["var"] += k
    n_var = offsets["var"]
    mats = {}
    for name in ("eq", "ub"):
        rows = np.concatenate([r for r, _, _ in pieces[name]])
        cols = np.concatenate([c for _, c, _ in pieces[name]])
        data = np.concatenate([d for _, _, d in pieces[name]])
        mats[name] = sparse.csr_array(
            sparse.coo_array((data, (rows, cols)), shape=(offsets[name], n_var))
        )
    return (
        np.concatenate(pieces["c"]),
        np.concatenate(pieces["lo"]),
        np.concatenate(pieces["up"]),
        mats["eq"],
        np.concatenate(pieces["b_eq"]),
        mats["ub"],
        np.concatenate(pieces["b_ub"]),
        starts,
    )


def _solve_batch(problems, batch, integer: bool) -> None:
    c, lo, up, A_eq, b_eq, A_ub, b_ub, starts = _stack(problems, batch)
    x = _optimise(c, lo, up, A_eq, b_eq, A_ub, b_ub, integer)
    for i, (p, j, sign) in enumerate(batch):
        problem = problems[p]
        point = x[starts[i] : starts[i] + problem["k"]]
        np.minimum(problem["seen_lo"], point, out=problem["seen_lo"])
        np.maximum(problem["seen_hi"], point, out=problem["seen_hi"])
        if j is not None:
            problem["lower" if sign > 0 else "upper"][j] = point[j]


def _optimise(c, lo, up, A_eq, b_eq, A_ub, b_ub, integer: bool) -> np.ndarray:
    if integer:
        constraints = []
        if A_eq.shape[0]:
            constraints.append(LinearConstraint(A_eq, b_eq, b_eq))
        if A_ub.shape[0]:
            constraints.append(LinearConstraint(A_ub, -np.inf, b_ub))
        res = milp(c, integrality=np.ones(len(c)), bounds=Bounds(lo, up), constraints=constraints)
    else:
        res = linprog(
            c,
            A_ub=A_ub if A_ub.shape[0] else None,
            b_ub=b_ub if A_ub.shape[0] else None,
            A_eq=A_eq if A_eq.shape[0] else None,
            b_eq=b_eq if A_eq.shape[0] else None,
            bounds=np.column_stack([lo, up]),
            method="highs",
        )
    if res.status != 0 or res.x is None:
        raise CaseworkError(
            f"The audit's linear programme could not be solved ({res.message}); "
            "the relations may be numerically inconsistent."
        )
    return res.x


def _unbounded_above(problems: list[dict]) -> list[np.ndarray]:
    """Per problem, which members can grow without limit.

    A member is unbounded above iff some direction ``d >= 0`` with
    ``A_eq d = 0``, ``A_ub d <= 0`` (and ``d = 0`` on members with a finite
    upper bound) has ``d_j > 0``. Maximising ``sum t`` with ``t <= d``,
    ``0 <= t <= 1`` sets ``t_j = 1`` for every such member at once: directions
    add up, so one direction can be positive wherever any is.
    """
    batch = [(p, 0, 0.0) for p in range(len(problems))]
    _, _, up, A_eq, _, A_ub, _, _ = _stack(problems, batch)
    n = len(up)
    free = np.isinf(up)
    if not free.any():
        return [np.zeros(p["k"], dtype=bool) for p in problems]
    eye = sparse.eye_array(n, format="csr")
    zeros_eq = sparse.csr_array((A_eq.shape[0], n))
    zeros_ub = sparse.csr_array((A_ub.shape[0], n))
    cone_eq = sparse.hstack([A_eq, zeros_eq], format="csr")
    cone_ub = sparse.vstack(
        [sparse.hstack([A_ub, zeros_ub]), sparse.hstack([-eye, eye])], format="csr"
    )
    d_up = np.where(free, np.inf, 0.0)
    t_up = np.where(free, 1.0, 0.0)
    x = _optimise(
        np.r_[np.zeros(n), -np.ones(n)],
        np.zeros(2 * n),
        np.r_[d_up, t_up],
        cone_eq,
        np.zeros(cone_eq.shape[0]),
        cone_ub,
        np.zeros(cone_ub.shape[0]),
        integer=False,
    )
    grows = x[n:] > 0.5
    out, start = [], 0
    for problem in problems:
        out.append(grows[start : start + problem["k"]])
        start += problem["k"]
    return out


def _unknown_mask(c: _Compiled, hidden: np.ndarray) -> np.ndarray:
    return c.is_count & (hidden | ~c.published)


def _checked_hidden(c: _Compiled, hidden) -> np.ndarray:
    if hidden is None:
        return c.hidden.copy()
    hidden = np.asarray(hidden, dtype=bool)
    if hidden.shape != (c.n,):
        raise ValueError(
            f"`hidden` must have one flag per cell of the set ({c.n}), but has shape "
            f"{hidden.shape}; see PublishedSet.cells."
        )
    return hidden.copy()


def audit(
    published_set: PublishedSet,
    hidden: ArrayLike | None = None,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    margin: int = DEFAULT_MARGIN,
    integer: bool = False,
    exact: bool = True,
) -> pd.DataFrame:
    """What an attacker can derive about every count they do not see.

    Parameters
    ----------
    published_set : PublishedSet
    hidden : array of bool, optional
        Which cells are hidden, in the order of ``published_set.cells``;
        default the hiding given to :meth:`PublishedSet.add_table`. Only
        count cells matter (derived values take no part).
    threshold : int
        Unpublished counts from 1 to ``threshold - 1`` are audited.
    margin : int
        The protection margin (2: no hidden count may be pinned to within
        +/-2; see Notes).
    integer : bool
        Solve each bound as an integer programme (``scipy.optimize.milp``)
        instead of rounding the linear-programming bound inward. Exact for
        an attacker who reasons in whole numbers, and slower.
    exact : bool
        True (default): ``lower`` and ``upper`` are the attacker's exact
        bounds. That takes about one linear programme per audited cell on
        its whole component, and tables tied together by published totals
        form large components (thousands of cells for a national
        publication): minutes. False: only prove which cells are pinned,
        mostly on small local pieces (seconds); pinned cells still get
        exact bounds, the others a range the attacker's interval is known
        to contain, already wider than ``2 * margin``. ``pinned`` is the
        same either way.

    Returns
    -------
    DataFrame
        One row per audited cell (every hidden published count, and every
        unpublished count from 1 to ``threshold - 1``), in the order of
        ``published_set.cells``:

        - ``table``, ``row``, ``column``: the cell.
        - ``value``: its true value (never to be published).
        - ``published``: False for counts that are never published.
        - ``lower``, ``upper``: the smallest and largest whole number the
          cell can take given everything published (``inf`` if unbounded).
        - ``pinned``: the attacker can confine the cell to +/- ``margin``.

    Notes
    -----
    **The attacker's feasible set**: every vector ``x`` of unknown counts
    (hidden and unpublished) with ``A_eq x = b_eq`` and ``A_ub x <= b_ub``
    (published values moved to the right-hand side), ``x >= 1`` for hidden
    published counts (zeros are shown, so a marker means at least 1),
    ``x >= 0`` for unpublished ones, and any bounds given. ``lower`` and
    ``upper`` are the minimum and maximum of each audited cell over that
    set, solved with HiGHS (``scipy.optimize.linprog``) one connected
    component of the relation graph at a time. Components without an
    audited cell are not solved; a cell bound by no relation keeps the
    rule's interval ``[floor, upper bound]`` without solving; a cell alone
    in an equation is determined.

    **Integers**: the linear relaxation is rounded inward, ``lower =
    ceil(min)`` and ``upper = floor(max)``, which an attacker who knows the
    counts are whole gets for free. For 2-D tables with margins (network
    matrices) that is the exact integer bound; for linked or 3-D tables the
    integer bound can be tighter, and ``integer=True`` computes it.

    **Pinned**: the attacker holds every published file and knows the
    rules; nothing published may let them confine a hidden count to within
    +/- ``margin``. With ``m`` the margin, an audited cell is pinned when

        ``upper - lower <= 2 m``

    i.e. when its feasible values fit in a band ``c - m .. c + m`` (at
    most ``2 m + 1`` whole numbers). That covers an interval narrower than
    the +/-m band (``upper - lower < 2 m``, including a cell determined
    exactly, which is how a count from 1 to ``threshold - 1`` would be
    recovered) and an interval exactly as wide as the band, which lets the
    attacker say "it is c +/- m" for certain (``c`` the true value when the
    interval is centred on it). A one-sided bound does not pin: from
    ``[v - 1, inf)`` the attacker cannot name a +/-m band. (The stricter
    tau-ARGUS protection levels, both ``v - m`` and ``v + m`` feasible,
    make sets with small groups unprotectable: "every marker is at least
    1" plus shown zeros gives tight lower bounds nothing can loosen.)
    Zeros are shown, so a hidden zero is refused rather than audited.

    Examples
    --------
    Two hidden cells of one row with their total published: the row alone
    gives only their sum, so each can be 1..22 (the other at least 1).

    >>> row = pd.DataFrame({"a": [3], "b": [20], "total": [23]})
    >>> ps = PublishedSet().add_table("t", row, counts=["a", "b", "total"])
    >>> ps = ps.add_column_sums(table="t", total="total", parts=["a", "b"])
    >>> audit(ps, [True, True, False])[["column", "lower", "upper", "pinned"]]
      column  lower  upper  pinned
    0      a    1.0   22.0   False
    1      b    1.0   22.0   False
    """
    _check_parameters(threshold, margin)
    c = published_set._compile()
    hidden = _checked_hidden(c, hidden)
    _refuse_hidden_zeros(c, hidden)
    unknown = _unknown_mask(c, hidden)
    target = _targets(c, unknown, threshold)
    found = _solve_bounds(
        c, unknown, target, integer=integer, cache={}, margin=None if exact else margin
    )
    return _audit_frame(c, target, found, margin)


def _refuse_hidden_zeros(c: _Compiled, hidden: np.ndarray) -> None:
    zero = hidden & c.is_count & c.published & (c.value == 0)
    if zero.any():
        raise CaseworkError(
            f"Cell(s) {c.owner._describe(np.flatnonzero(zero)[:3])} are hidden but hold 0. "
            "Zeros are shown (the CMS rule) and the audit assumes every hidden count is at "
            "least 1, as an attacker who knows the rule would."
        )


def _check_parameters(threshold, margin) -> None:
    if int(threshold) != threshold or threshold < 1:
        raise ValueError(
            f"The value for `threshold` must be a whole number >= 1, but {threshold!r} was passed."
        )
    if int(margin) != margin or margin < 0:
        raise ValueError(
            f"The value for `margin` must be a whole number >= 0, but {margin!r} was passed."
        )


def _audit_frame(c, target, found: _Bounds, margin) -> pd.DataFrame:
    keep = target[found.ids]
    ids = found.ids[keep]
    lower, upper = found.lower[keep], found.upper[keep]
    return pd.DataFrame(
        {
            "table": c.table[ids],
            "row": c.row[ids],
            "column": c.column[ids],
            "value": c.value[ids],
            "published": c.published[ids],
            "lower": lower,
            "upper": upper,
            "pinned": _pinned(lower, upper, True, margin),
        },
        columns=AUDIT_COLUMNS,
    )


# ---------------------------------------------------------------- protection


@dataclass
class Protection:
    """The result of :func:`protect_set`.

    Attributes
    ----------
    cells : DataFrame
        Every cell of the set (order of ``PublishedSet.cells``): ``table``,
        ``row``, ``column``, ``kind``, ``value``, ``published``, ``hidden``
        (True where the published file shows the marker) and ``status``:
        ``"shown"``, ``"primary"`` (a count from 1 to threshold - 1),
        ``"given"`` (hidden by the caller), ``"complementary"`` (hidden so
        that no hidden count can be pinned), ``"derived"`` (a derived value
        resting on a count that is not shown) or ``"unpublished"``.
    unprotectable : DataFrame
        Audited cells still pinned (columns of :func:`audit`, exact
        bounds): nothing left to hide around them could protect them.
        Withhold their tables (:meth:`PublishedSet.withhold`) and run
        :func:`protect_set` again: a withheld table's counts are still
        audited, since other tables may pin them too.
    rounds : int
        Audit rounds run.
    published_set : PublishedSet
        A copy of the set as it was protected (later changes to the
        caller's set, such as :meth:`PublishedSet.withhold`, do not reach it).
    settings : dict
        ``threshold``, ``margin`` and ``integer`` as passed.
    """

    cells: pd.DataFrame
    unprotectable: pd.DataFrame
    rounds: int
    published_set: PublishedSet = field(repr=False)
    settings: dict = field(default_factory=dict)

    @property
    def protected(self) -> bool:
        """True when no audited cell is pinned."""
        return self.unprotectable.empty

    @cached_property
    def audit(self) -> pd.DataFrame:
        """The exact :func:`audit` of the published set as protected.

        Computed on first use: the protection rounds only prove which cells
        are pinned, which is much cheaper than exact bounds (minutes for
        thousands of linked cells; ``audit(..., exact=False)`` gives the
        proof alone). ``protected`` and ``unprotectable`` do not need it.
        """
        return audit(self.published_set, self.cells["hidden"].to_numpy(), **self.settings)

    def table(self, name: str, *, marker: str = HIDDEN) -> pd.DataFrame:
        """The named table as published: hidden cells read ``marker``,
        unpublished count columns are left out.

        Parameters
        ----------
        name : str
            A table of the set.
        marker : str
            What a hidden cell reads (``*``).

        Returns
        -------
        DataFrame
        """
        block = self.published_set._block(name)
        cells = self.cells.iloc[block.offset : block.offset + block.size]
        if not cells["published"].any():
            raise CaseworkError(f"Table {name!r} is withheld; nothing of it is published.")
        shape = (len(block.frame), len(block.columns))
        hidden = pd.DataFrame(
            cells["hidden"].to_numpy().reshape(shape),
            index=block.frame.index,
            columns=block.columns,
        )
        shown_columns = cells.groupby("column", sort=False)["published"].any()
        out = block.frame.copy()
        columns = [col for col in block.columns if shown_columns[col]]
        out[columns] = out[columns].astype(object).mask(hidden[columns], marker)
        return out.drop(columns=[c for c in block.columns if c not in columns])


def protect_set(
    published_set: PublishedSet,
    *,
    threshold: int = DEFAULT_THRESHOLD,
    margin: int = DEFAULT_MARGIN,
    integer: bool = False,
) -> Protection:
    """Hide what must be hidden so that the audit finds no pinned count.

    Parameters
    ----------
    published_set : PublishedSet
        Cells hidden in it (``hidden=`` of :meth:`PublishedSet.add_table`)
        stay hidden.
    threshold : int
        Published counts from 1 to ``threshold - 1`` are hidden (default
        11: 1-10 hidden, 0 shown).
    margin : int
        Protection margin of the audit (see :func:`audit`).
    integer : bool
        Audit with integer programmes (see :func:`audit`).

    Returns
    -------
    Protection
        ``protected`` is False when some cell could not be protected;
        ``unprotectable`` lists them.

    Notes
    -----
    1. Primary suppression: published counts from 1 to ``threshold - 1``.
    2. Line pass (the rule of :func:`casework_analytics.privacy.protect`,
       on every equation of the set): while an equation has exactly one
       unknown cell that must be protected, hide one of its shown counts.
    3. Audit. For each pinned cell, smallest value first, hide one shown
       count sharing an equation or inequality with it (failing that, with
       any cell of its component of the relation graph); then go back to
       2. The rounds only prove which cells are pinned (as
       ``audit(exact=False)``); exact bounds are computed by
       ``Protection.audit`` when asked for. Hiding a cell only enlarges
       the attacker's feasible set (the cell can still take its true
       value), so a cell proven unpinned stays unpinned and every feasible
       point found stays feasible: later rounds only work on the cells
       still open.

    Which count to hide: a non-zero one (zeros are always shown), the
    smallest, but one larger than ``margin`` before any other (hiding a
    ``w`` lets its partners move by at most ``w - 1``, so smaller ones
    cannot give ``margin`` of room). A pinned cell that shares a relation
    with a cell hidden in the current round waits for the next round, so
    one pinned cell does not get two complements. Every round hides at
    least one more cell or stops, so the loop ends; hiding is monotone (no
    cell is ever shown again). Where a pinned cell has no shown non-zero
    count left to hide around it, it is reported in ``unprotectable``.
    """
    _check_parameters(threshold, margin)
    c = published_set._compile()
    given = c.hidden & c.is_count & c.published
    _refuse_hidden_zeros(c, given)
    primary = c.is_count & c.published & (c.value >= 1) & (c.value < threshold) & ~given
    hidden = given | primary
    small = (c.value >= 1) & (c.value < threshold)
    relations = sparse.vstack([c.A_eq, c.A_ub], format="csr")
    relations.data[:] = 1
    by_cell = relations.tocsc()
    eq_pattern = c.A_eq.copy()
    eq_pattern.data[:] = 1
    cache: dict = {}
    rounds = 0
    # Hiding a cell only enlarges the attacker's feasible set (the cell can
    # still take its true value), so a cell proven unpinned stays so and
    # every value found feasible stays feasible: later rounds only look at
    # cells still open.
    proven = np.zeros(c.n, dtype=bool)
    seen = (c.value.astype(float), c.value.astype(float))
    while True:
        _line_pass(c, hidden, eq_pattern, small, margin)
        unknown = _unknown_mask(c, hidden)
        target = _targets(c, unknown, threshold) & ~proven
        found = _solve_bounds(
            c,
            unknown,
            target,
            integer=integer,
            cache=cache,
            margin=margin,
            seen=seen,
            exact_pinned=False,
        )
        rounds += 1
        ids = found.ids
        pinned = _pinned(found.lower, found.upper, target[ids], margin)
        proven[ids[target[ids] & ~pinned]] = True
        if not pinned.any():
            break
        shown = c.is_count & c.published & ~hidden & (c.value > 0)
        touched = np.zeros(c.n, dtype=bool)  # shares a relation with a cell hidden this round
        hid_any = False
        pinned_cells = ids[pinned]
        for cell in pinned_cells[np.lexsort((pinned_cells, c.value[pinned_cells]))]:
            if touched[cell]:
                continue  # its neighbourhood changed: audit again first
            pick = _complement(relations, by_cell, [cell], shown, c.value, margin)
            if pick < 0:
                members = ids[found.component == found.component[ids == cell][0]]
                pick = _complement(relations, by_cell, members, shown, c.value, margin)
            if pick < 0:  # nothing left to hide: reported as unprotectable
                continue
            hidden[pick] = True
            shown[pick] = False
            hid_any = True
            rels = by_cell.indices[by_cell.indptr[pick] : by_cell.indptr[pick + 1]]
            for r in rels:
                touched[relations.indices[relations.indptr[r] : relations.indptr[r + 1]]] = True
        if not hid_any:
            break
    still = np.zeros(c.n, dtype=bool)
    still[ids[pinned]] = True
    if still.any():  # the rounds proved them pinned; report their exact bounds
        found = _solve_bounds(c, unknown, still, integer=integer, cache={})
    final = _audit_frame(c, still, found, margin)
    status = np.full(c.n, "shown", dtype=object)
    status[hidden] = "complementary"
    status[primary] = "primary"
    status[given] = "given"
    not_shown = (c.is_count & (hidden | ~c.published)).astype(float)
    derived_hidden = (~c.is_count) & ((c.derived_of @ not_shown) > 0)
    status[derived_hidden] = "derived"
    status[~c.published] = "unpublished"
    cells = pd.DataFrame(
        {
            "table": c.table,
            "row": c.row,
            "column": c.column,
            "kind": np.where(c.is_count, "count", "derived"),
            "value": c.value,
            "published": c.published,
            "hidden": c.published & (hidden | derived_hidden),
            "status": status,
        },
        columns=CELL_COLUMNS,
    )
    return Protection(
        cells=cells,
        unprotectable=final[final["pinned"]].reset_index(drop=True),
        rounds=rounds,
        published_set=copy.deepcopy(published_set),
        settings={"threshold": threshold, "margin": margin, "integer": integer},
    )


def _complement(relations, by_cell, cells, shown, value, margin) -> int:
    """The shown count to hide next to ``cells``, or -1 if there is none."""
    rels = np.unique(
        np.concatenate([by_cell.indices[by_cell.indptr[i] : by_cell.indptr[i + 1]] for i in cells])
    )
    if not len(rels):
        return -1
    near = np.unique(
        np.concatenate(
            [relations.indices[relations.indptr[r] : relations.indptr[r + 1]] for r in rels]
        )
    )
    pool = near[shown[near]]
    if not len(pool):
        return -1
    best = np.lexsort((pool, value[pool], value[pool] <= margin))
    return int(pool[best[0]])


def _line_pass(c: _Compiled, hidden, eq_pattern, small, margin) -> None:
    """Hide a shown count in every equation whose only unknown cell must be
    protected (it would be recovered by subtraction); repeat until none."""
    if not eq_pattern.shape[0]:
        return
    ids_plus_one = np.arange(1, c.n + 1, dtype=float)
    while True:
        unknown = _unknown_mask(c, hidden)
        count = eq_pattern @ unknown.astype(float)
        which = (eq_pattern @ (unknown * ids_plus_one)).astype(np.int64) - 1
        single = np.flatnonzero(count == 1)
        cell = which[single]
        must = c.published[cell] | small[cell]
        rows = single[must]
        if not len(rows):
            return
        shown = c.is_count & c.published & ~hidden & (c.value > 0)
        changed = False
        for r in rows:  # only the equations that reveal a cell
            cells = eq_pattern.indices[eq_pattern.indptr[r] : eq_pattern.indptr[r + 1]]
            if unknown[cells].sum() != 1:
                continue
            pool = cells[shown[cells]]
            if not len(pool):
                continue
            pick = pool[np.lexsort((pool, c.value[pool], c.value[pool] <= margin))[0]]
            hidden[pick] = unknown[pick] = True
            shown[pick] = False
            changed = True
        if not changed:
            return


# ---------------------------------------------------------------- survival curves


def _curve_at(km: pd.DataFrame, cols: list[str], queries: pd.DataFrame) -> pd.DataFrame:
    """Each curve of ``km`` at the ``(group..., time_days)`` rows of ``queries``.

    Adds ``n_total`` (subjects in the curve), ``cum_events`` and
    ``cum_censored`` (at times <= t), ``at_risk_after`` (still under
    observation after t), and ``survival``, ``se``, ``ci_low``, ``ci_high``
    at t (the step function: its value at the last time <= t).
    """
    km = km.sort_values("time_days", kind="stable")
    work = km[[*cols, "time_days", "survival", "se", "ci_low", "ci_high"]].copy()
    work["time_days"] = work["time_days"].astype(float)
    if cols:
        grouped = km.groupby(cols, sort=False)
        work["cum_events"] = grouped["events"].cumsum().astype(float)
        work["cum_censored"] = grouped["censored"].cumsum().astype(float)
        totals = grouped["at_risk"].first().rename("n_total").reset_index()
    else:
        work["cum_events"] = km["events"].cumsum().astype(float)
        work["cum_censored"] = km["censored"].cumsum().astype(float)
    q = queries[[*cols, "time_days"]].copy()
    q["time_days"] = q["time_days"].astype(float)
    q["_order"] = np.arange(len(q))
    merged = pd.merge_asof(
        q.sort_values("time_days", kind="stable"),
        work,
        on="time_days",
        by=cols or None,
        direction="backward",
    )
    fill = {
        "cum_events": 0.0,
        "cum_censored": 0.0,
        "survival": 1.0,
        "se": 0.0,
        "ci_low": 1.0,
        "ci_high": 1.0,
    }
    before = merged["cum_events"].isna()
    for column, value in fill.items():
        merged.loc[before, column] = value
    if cols:
        merged = merged.merge(totals, on=cols, how="left")
    else:
        merged["n_total"] = float(km["at_risk"].iloc[0]) if len(km) else 0.0
    merged = merged.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    merged["at_risk_after"] = merged["n_total"] - merged["cum_events"] - merged["cum_censored"]
    return merged


def coarsen_curve(
    km: pd.DataFrame,
    *,
    group: str | Sequence[str] | None = None,
    every: float = 30,
    horizon: float | None = None,
    base: int = 5,
    threshold: int = DEFAULT_THRESHOLD,
    decimals: int | None = 3,
) -> pd.DataFrame:
    """A Kaplan–Meier table fit for publication: a coarse grid, no per-time
    counts, rounded numbers at risk.

    Parameters
    ----------
    km : DataFrame
        From :func:`casework_analytics.survival.kaplan_meier`: group
        columns, ``time_days, at_risk, events, censored, survival, se,
        ci_low, ci_high``, every distinct time.
    group : str or list of str, optional
        The group columns (one curve per group, ``All`` included).
    every : float
        Grid step in days (0, every, 2 every, ...).
    horizon : float, optional
        Last grid time (added if off the grid); default the last time in
        ``km``.
    base : int
        ``at_risk`` is rounded to the nearest multiple of ``base``.
    threshold : int
        No grid time is published where a curve has fewer than
        ``threshold`` subjects at risk; no span between published times
        holds from 1 to ``threshold - 1`` events or censorings.
    decimals : int or None
        Rounding of ``survival``, ``se``, ``ci_low``, ``ci_high``.

    Returns
    -------
    DataFrame
        Group columns, ``time_days`` (grid times kept), ``at_risk``
        (subjects still under observation after ``time_days``, i.e. at
        risk in the next interval, rounded to ``base``), ``survival``,
        ``se``, ``ci_low``, ``ci_high`` (the estimate and its interval at
        ``time_days``).

    Notes
    -----
    From consecutive published points an attacker gets the events of the
    span between them (``at_risk * (1 - S(t_b)/S(t_a))``, nearly exact for
    few events; the Greenwood ``se`` gives the number at risk too, so
    rounding it is no defence) and the censorings (the drop in
    ``at_risk``, minus the events). So a grid time is published only if,
    for every curve, the events and the censorings since the previous
    published time (or since the start, with the cohort size known) are
    each 0 or at least ``threshold``; times are taken greedily from the
    start. All curves share one grid and stop together (at the first grid
    time where any curve has fewer than ``threshold`` at risk), because
    the ``All`` curve minus the other groups would otherwise give a
    group's span counts by subtraction. The rounding of ``at_risk`` is
    defence in depth. The totals of events and censorings are published
    with the curve (``survival_summary``), so the tail after the last
    published time is a span like the others: the last times are given up
    until it too holds 0 or at least ``threshold`` of each, day 0 included
    (so a curve can come back empty). The grid can
    become sparse when a group is small:
    fold small groups first (:func:`casework_analytics.privacy.fold_small_groups`).

    Examples
    --------
    Sixty subjects; 3 events between day 30 and day 60 would be readable
    from the drop in the curve, so day 60 is not published and the span
    runs to day 90 (15 events, 12 censorings):

    >>> km = pd.DataFrame({
    ...     "time_days": [10.0, 40.0, 70.0], "at_risk": [60, 48, 33],
    ...     "events": [12, 3, 12], "censored": [0, 12, 0],
    ...     "survival": [0.8, 0.75, 0.4773], "se": [0.052, 0.056, 0.07],
    ...     "ci_low": [0.68, 0.62, 0.34], "ci_high": [0.88, 0.84, 0.6]})
    >>> coarsen_curve(km, every=30, horizon=90)
       time_days  at_risk  survival     se  ci_low  ci_high
    0        0.0       60     1.000  0.000    1.00     1.00
    1       30.0       50     0.800  0.052    0.68     0.88
    2       90.0       20     0.477  0.070    0.34     0.60
    """
    cols = group_columns(group)
    needed = [*cols, "time_days", "at_risk", "events", "censored", *CURVE_COLUMNS[2:]]
    missing = [col for col in needed if col not in km.columns]
    if missing:
        raise CaseworkError(f"`km` lacks column(s) {missing}; pass a kaplan_meier table.")
    if not every > 0:
        raise ValueError(f"The value for `every` must be > 0 days, but {every!r} was passed.")
    if int(base) != base or base < 1:
        raise ValueError(
            f"The value for `base` must be a whole number >= 1, but {base!r} was passed."
        )
    _check_parameters(threshold, 0)
    out_columns = [*cols, *CURVE_COLUMNS]
    if km.empty:
        return pd.DataFrame(columns=out_columns)
    horizon = float(km["time_days"].max()) if horizon is None else float(horizon)
    times = np.arange(0.0, horizon + every / 2, every)
    times = np.unique(np.r_[times[times <= horizon], horizon])
    curves = km[cols].drop_duplicates().reset_index(drop=True) if cols else pd.DataFrame(index=[0])
    nc, nt = len(curves), len(times)
    queries = curves.loc[np.repeat(np.arange(nc), nt)].reset_index(drop=True)
    queries["time_days"] = np.tile(times, nc)
    at = _curve_at(km, cols, queries)
    events = at["cum_events"].to_numpy().reshape(nc, nt)
    censored = at["cum_censored"].to_numpy().reshape(nc, nt)
    at_risk = at["at_risk_after"].to_numpy().reshape(nc, nt)
    enough = (at_risk >= threshold).all(axis=0)
    stop = int(np.argmin(enough)) if not enough.all() else nt
    keep = np.zeros(nt, dtype=bool)
    prev_e, prev_c = np.zeros(nc), np.zeros(nc)

    def allowed(d):
        return (d == 0) | (d >= threshold)

    for k in range(stop):  # a loop over grid times, vectorised over curves
        d_e, d_c = events[:, k] - prev_e, censored[:, k] - prev_c
        if (allowed(d_e) & allowed(d_c)).all():
            keep[k] = True
            prev_e, prev_c = events[:, k], censored[:, k]
    # The totals are published elsewhere, so the tail after the last published time
    # is a span too: give up the last times until it holds 0 or >= threshold of each.
    sums = km.groupby(cols, sort=False, observed=True) if cols else None
    total_e = _per_curve(km, cols, curves, "events", sums)
    total_c = _per_curve(km, cols, curves, "censored", sums)
    for k in np.flatnonzero(keep)[::-1]:  # only the last few times are ever given up
        if (allowed(total_e - events[:, k]) & allowed(total_c - censored[:, k])).all():
            break
        keep[k] = False
    out = at[np.tile(keep, nc)].copy()
    out["at_risk"] = (np.floor(out["at_risk_after"] / base + 0.5) * base).astype("int64")
    values = ["survival", "se", "ci_low", "ci_high"]
    if decimals is not None:
        out[values] = out[values].round(decimals)
    return out[out_columns].reset_index(drop=True)


def _per_curve(km, cols, curves, column, grouped) -> np.ndarray:
    """The sum of ``column`` over each curve, in the order of ``curves``."""
    if not cols:
        return np.array([km[column].sum()], dtype=float)
    sums = grouped[column].sum().rename("_sum").reset_index()
    return curves.merge(sums, on=cols, how="left")["_sum"].to_numpy(dtype=float)


def add_curve(
    published_set: PublishedSet,
    name: str,
    curve: pd.DataFrame,
    km: pd.DataFrame,
    *,
    group: str | Sequence[str] | None = None,
    overall: str = OVERALL,
    at_risk_base: int = 1,
    decimals: int | None = None,
) -> PublishedSet:
    """Add what an attacker derives from a published survival curve.

    Parameters
    ----------
    published_set : PublishedSet
        Receives a table ``name`` and its relations.
    name : str
    curve : DataFrame
        The curve as published, e.g. from :func:`coarsen_curve`: group
        columns, ``time_days``, ``at_risk`` (subjects under observation
        after ``time_days``) and ``survival``.
    km : DataFrame
        The full Kaplan–Meier table the curve comes from (true counts).
    group : str or list of str, optional
    overall : str
        Label of the whole-cohort curve.
    at_risk_base : int
        1 (default) gives the attacker the exact numbers at risk, which the
        Greenwood ``se`` or interval published with a curve nearly reveal;
        the rounding base of ``at_risk`` models an attacker who only has
        the rounded numbers (``[r - base//2, r + ceil(base/2) - 1]``).
    decimals : int or None
        Decimals ``survival`` was published with (None: exact).

    Returns
    -------
    PublishedSet

    Notes
    -----
    The table ``name`` has one row per published time ``t_j`` of each
    curve (index: group columns, ``time_days``), for the span
    ``(t_{j-1}, t_j]`` (the first span starts before time 0; the cohort
    size is taken as known): ``at_risk_before`` (unpublished, equal to the
    previous row's ``at_risk``, the cohort size on the first row),
    ``at_risk``, and the unpublished ``events`` and ``censored`` of the
    span. Relations:

    - ``at_risk_before = at_risk + events + censored``;
    - with ``r`` the ratio of consecutive survival values,
      ``events >= (1 - r) * at_risk`` and
      ``events <= -log(r) * at_risk_before``, since every event of the span
      had between ``at_risk`` and ``at_risk_before`` subjects at risk and
      ``1 - x <= prod(1 - x_i) <= exp(-x)`` for ``x = sum x_i``
      (with published rounding, the least favourable ``r`` is used);
    - the groups' events, censorings and numbers at risk sum to the
      overall curve's, when every curve has the same published times.

    The Greenwood variance is not modelled (it is not linear in the
    counts); ``at_risk_base=1`` covers what it reveals.
    """
    cols = group_columns(group)
    missing = [col for col in [*cols, "time_days", "at_risk", "survival"] if col not in curve]
    if missing:
        raise CaseworkError(f"The published `curve` lacks column(s) {missing}.")
    if int(at_risk_base) != at_risk_base or at_risk_base < 1:
        raise ValueError(
            f"The value for `at_risk_base` must be a whole number >= 1, but {at_risk_base!r} "
            "was passed."
        )
    pub = curve.sort_values([*cols, "time_days"], kind="stable").reset_index(drop=True)
    truth = _curve_at(km, cols, pub)
    first = (
        ~pub[cols].eq(pub[cols].shift()).all(axis=1) if cols else pd.Series(pub.index == 0)
    ).to_numpy()
    first[0] = True

    def previous(values, start):
        out = np.r_[np.nan, np.asarray(values, dtype=float)[:-1]]
        return np.where(first, start, out)

    ev = truth["cum_events"].to_numpy()
    ce = truth["cum_censored"].to_numpy()
    n_after = truth["at_risk_after"].to_numpy()
    frame = pd.DataFrame(
        {
            "at_risk_before": previous(n_after, truth["n_total"].to_numpy()),
            "at_risk": n_after,
            "events": ev - previous(ev, 0.0),
            "censored": ce - previous(ce, 0.0),
        }
    )
    frame.index = (
        pd.MultiIndex.from_frame(pub[[*cols, "time_days"]])
        if cols
        else pd.Index(pub["time_days"].astype(float), name="time_days")
    )
    lower = {"at_risk_before": np.where(first, truth["n_total"], -np.inf)}
    upper = {"at_risk_before": np.where(first, truth["n_total"], np.inf)}
    unpublished = ["at_risk_before", "events", "censored"]
    if at_risk_base > 1:
        r = pub["at_risk"].to_numpy(dtype=float)
        lower["at_risk"] = r - at_risk_base // 2
        upper["at_risk"] = r + -(-at_risk_base // 2) - 1
        unpublished.append("at_risk")
    published_set.add_table(
        name,
        frame,
        counts=["at_risk_before", "at_risk", "events", "censored"],
        unpublished=unpublished,
        lower=lower,
        upper=upper,
    )
    published_set.add_column_sums(
        table=name, total="at_risk_before", parts=["at_risk", "events", "censored"]
    )
    labels = _labels(frame.index)
    later = np.flatnonzero(~first)
    if len(later):
        terms = pd.DataFrame(
            {
                "relation": np.r_[later, later],
                "table": name,
                "row": np.r_[labels[later], labels[later - 1]],
                "column": ["at_risk_before"] * len(later) + ["at_risk"] * len(later),
                "coef": np.r_[np.ones(len(later)), -np.ones(len(later))],
            }
        )
        published_set.add_relations(terms)
    s = pub["survival"].to_numpy(dtype=float)
    h = 0.0 if decimals is None else 0.5 * 10.0 ** (-decimals)
    s_prev = previous(s, 1.0)
    h_prev = np.where(first, 0.0, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_hi = np.where(s_prev - h_prev > 0, np.minimum((s + h) / (s_prev - h_prev), 1.0), 1.0)
        r_lo = np.maximum(s - h, 0.0) / (s_prev + h_prev)
    ok = np.isfinite(s) & np.isfinite(s_prev) & (s_prev > 0)
    low_rows = np.flatnonzero(ok & (r_hi < 1))
    high_rows = np.flatnonzero(ok & (r_lo > 0))
    parts = []
    if len(low_rows):  # (1 - r_hi) * at_risk - events <= 0
        parts.append(
            pd.DataFrame(
                {
                    "relation": np.r_[low_rows, low_rows] * 2,
                    "row": np.r_[labels[low_rows], labels[low_rows]],
                    "column": ["at_risk"] * len(low_rows) + ["events"] * len(low_rows),
                    "coef": np.r_[1 - r_hi[low_rows], -np.ones(len(low_rows))],
                }
            )
        )
    if len(high_rows):  # events + log(r_lo) * at_risk_before <= 0
        parts.append(
            pd.DataFrame(
                {
                    "relation": np.r_[high_rows, high_rows] * 2 + 1,
                    "row": np.r_[labels[high_rows], labels[high_rows]],
                    "column": ["events"] * len(high_rows) + ["at_risk_before"] * len(high_rows),
                    "coef": np.r_[np.ones(len(high_rows)), np.log(r_lo[high_rows])],
                }
            )
        )
    if parts:
        published_set.add_relations(
            pd.concat(parts, ignore_index=True).assign(table=name), sense="<="
        )
    if cols:
        times = pub.groupby(cols, sort=False)["time_days"].agg(tuple)
        has_overall = (pub[cols].astype(str) == overall).all(axis=1).any()
        if has_overall and times.nunique() == 1:
            published_set.add_group_totals(name, group=cols, overall=overall)
    return published_set
