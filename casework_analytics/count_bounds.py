"""How far the published numbers pin each audited count, decided cheaply.

The publication's audit (:func:`casework_analytics.publish.protect_counts`)
asks, round after round, which audited counts the attacker can *pin*:
confine to a band of ``2 * margin`` or narrower. Every count is a sum of
*atoms* (cases with identical groups and indicators), and what the attacker
knows is a set of linear constraints on the atom sizes: each shown count
exactly, each hidden count at least 1, each group the folding rule shows at
least the threshold. A count's smallest and largest value over those
constraints are two linear programmes. A national publication has about
150,000 atoms and 20,000 counts: one programme over all of them takes
minutes, so two per audited count are out of the question.

:class:`CountBounds` gets the same answer, pinned or not, from much smaller
programmes, and solves the whole one only for what they leave open:

1. *Points seen.* The true atom sizes satisfy every constraint, and so does
   every solution found below. A count whose values over those points lie
   more than ``2 * margin`` apart cannot be pinned. Hiding a count only
   removes constraints, so the points stay valid from one round to the next
   (until a count is shown again).
2. *Restrictions.* Atoms fall into *parts* at several levels (a placement's
   cases; a site's cases in one term; ...: every combination of the
   groupings, finest first). Freeing the atoms of some parts and fixing all
   others at their true sizes gives a small programme whose every solution
   is one of those points. Random objectives push many counts apart at
   once; then, above the finest level, each count still open is pushed up
   and down on its own part (first on the atoms of the part near a hidden
   count, then on all of them), before the relaxations below. A push, or a
   random objective, only has to take a count more than ``2 * margin`` past
   the points seen, so its row is bounded there for the solve: the simplex
   stops as soon as it is that far (at a million cases this halved the
   work). At the finest level the random objectives are first tried on a
   sample of the parts.
3. *Relaxations.* Keeping only the constraints that lie inside one part
   gives a programme whose range for a count contains the attacker's: a
   range of ``2 * margin`` or less there proves the count pinned.
4. *Certificates.* The dual solution of an earlier solve on the whole
   programme bounds the same count under any row bounds; while it still
   pins the count, nothing is solved again.
5. *The whole programme*, warm-started from one solve to the next, for the
   counts still undecided, and (:meth:`CountBounds.exact`) for pinned counts
   whose exact range is needed: whether the published numbers determine
   them exactly.

Bounds are rounded inward, as an attacker reasoning in whole numbers may.
A count is reported pinned exactly when the whole programme would report
it pinned. The range reported for an unpinned count is the range of the
points seen, inside the exact one and already too wide to pin it; the range
reported for a pinned count may be a relaxation's, around the exact one.
"""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pandas as pd
from scipy import sparse

from .disclosure import _rank_within
from .errors import CaseworkError

__all__ = ["CountBounds", "atom_levels"]

FLOOR = "floor"
_TOL = 1e-6
#: Rounds of random objectives per level; a round that decides less than
#: SPREAD_MIN_SHARE of the counts still open ends them early.
SPREAD_ROUNDS = 12
SPREAD_MIN_SHARE = 0.02
#: At the finest level, the first round of random objectives is tried on one part in
#: PROBE_SHARE first (when that makes at least PROBE_PARTS parts), and the level's
#: rounds go on only if that decides a share of its counts.
PROBE_SHARE = 8
PROBE_PARTS = 64
#: Atoms per stacked programme of restrictions (solving time grows faster than size).
BATCH_ATOMS = 20_000
#: Atoms per piece of random restrictions on a coarse part.
PIECE_ATOMS = 3_000
#: Parts above this many atoms are restricted only as pieces, never whole.
WHOLE_PART_ATOMS = 25_000
#: Parts with more atoms than this in their constraints are not relaxed.
RELAX_ATOMS = 10_000


def atom_levels(labels: pd.DataFrame) -> list[np.ndarray]:
    """Partitions of the atoms for :class:`CountBounds`, finest first.

    Parameters
    ----------
    labels : DataFrame
        One row per atom, one column per grouping (its label in it).

    Returns
    -------
    list of ndarray of int
        The part of each atom under each combination of the groupings, from
        all of them together to each alone, finest first; a level is kept
        only if it has at most half as many parts as the last one kept (a
        level hardly coarser costs time and decides little), and never
        with a single part (that is the whole programme).
    """
    columns = list(labels.columns)
    found = []
    for size in range(len(columns), 0, -1):
        for combination in itertools.combinations(columns, size):
            part = labels.groupby(list(combination), sort=False, dropna=False).ngroup()
            found.append(part.to_numpy().astype(np.int64))
    found.sort(key=lambda part: -int(part.max()))
    levels: list[np.ndarray] = []
    for part in found:
        parts = int(part.max()) + 1
        if parts > 1 and (not levels or 2 * parts <= int(levels[-1].max()) + 1):
            levels.append(part)
    return levels


def _highs():
    """A silent HiGHS instance (the library prints a banner once, on the C side)."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        solver = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    solver.setOptionValue("output_flag", False)
    return solver


def _programme(matrix, lower, upper, col_upper, *, warm: bool):
    """A HiGHS instance holding ``lower <= matrix x <= upper, 0 <= x <= col_upper``."""
    import highspy

    matrix = sparse.csc_array(matrix)
    n = matrix.shape[1]
    model = highspy.HighsLp()
    model.num_col_ = n
    model.num_row_ = matrix.shape[0]
    model.col_cost_ = np.zeros(n)
    model.col_lower_ = np.zeros(n)
    model.col_upper_ = np.asarray(col_upper, dtype=float)
    model.row_lower_ = np.asarray(lower, dtype=float)
    model.row_upper_ = np.asarray(upper, dtype=float)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    model.a_matrix_.index_ = matrix.indices.astype(np.int32)
    model.a_matrix_.value_ = matrix.data.astype(float)
    solver = _highs()
    # Presolve costs more than these programmes take to solve (90 s against 7 s).
    solver.setOptionValue("presolve", "off")
    # Warm: each bound changes only the objective, so the last basis stays feasible
    # and the primal simplex goes on from it in a few iterations. Cold: one solve,
    # by the dual simplex.
    solver.setOptionValue("simplex_strategy", 4 if warm else 1)
    solver.passModel(model)
    return solver


def _minimum(solver, cost) -> np.ndarray | None:
    """The solution minimising ``cost``, or None (unbounded or failed)."""
    import highspy

    n = len(cost)
    solver.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(cost, dtype=float))
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return np.asarray(solver.getSolution().col_value)


def _parts(part_of: np.ndarray) -> list[np.ndarray]:
    """The members of each part, by part number."""
    order, rank = _rank_within(part_of)
    return np.split(order, np.flatnonzero(rank[order] == 0)[1:])


class CountBounds:
    """Inward-rounded smallest and largest value of audited counts (see the module).

    Parameters
    ----------
    A : sparse matrix (counts x atoms)
        Each count as a sum of atom sizes.
    value : ndarray
        True value of each count.
    kind : ndarray of str
        ``"count"`` (exact while shown, at least 1 once hidden), ``"rounded"``
        (exact: a curve gives it back), ``"floor"`` (at least ``threshold``);
        anything else is no constraint (complements, withheld counts).
    hidden : ndarray of bool
        Counts hidden now.
    threshold, margin : int
    sizes : ndarray, optional
        True atom sizes (``A @ sizes == value``); needed for ``levels``.
    known : ndarray of bool, optional
        Counts the attacker knows exactly whatever is hidden.
    levels : list of ndarray, optional
        Partitions of the atoms, finest first (:func:`atom_levels`). Without
        them every count goes to the whole programme.
    """

    def __init__(
        self, A, value, kind, hidden, *, threshold, margin, sizes=None, known=None, levels=()
    ):
        self.A = sparse.csr_array(A, dtype=float)
        self.value = np.asarray(value, dtype=float)
        self.kind = np.asarray(kind)
        self.threshold = threshold
        self.band = 2 * margin
        self.known = np.zeros(len(value), bool) if known is None else np.asarray(known, bool)
        self.small = (self.value >= 1) & (self.value < threshold)
        self.used = np.flatnonzero(np.isin(self.kind, ["count", "rounded", FLOOR]))
        self.position = np.full(len(value), -1, dtype=np.int64)
        self.position[self.used] = np.arange(len(self.used))
        self.used_matrix = sparse.csc_array(self.A[self.used])
        self.levels = [np.asarray(level) for level in levels] if sizes is not None else []
        self.sizes = None if sizes is None else np.asarray(sizes, dtype=float)
        self.cap = 4.0 * (self.sizes.sum() if sizes is not None else 0) + 10.0
        self.hidden = np.asarray(hidden, bool).copy()
        self.lower, self.upper = self._row_bounds(self.hidden)
        self.seen_lo = self.value.copy()
        self.seen_hi = self.value.copy()
        self.rng = np.random.default_rng(0)
        self._whole = None
        self._certificates: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}
        self._row_part = {}
        #: How each call's counts were decided, for the benchmark and the tests.
        self.decided: dict[str, int] = {}

    # ------------------------------------------------------------- constraints

    def _row_bounds(self, hidden):
        rows = self.used
        kind = self.kind[rows]
        exact = ((kind == "count") & ~hidden[rows]) | (kind == "rounded") | self.known[rows]
        least = np.where(kind == FLOOR, float(self.threshold), 1.0)
        value = self.value[rows]
        return np.where(exact, value, least), np.where(exact, value, np.inf)

    def _update(self, hidden) -> None:
        hidden = np.asarray(hidden, bool)
        changed = np.flatnonzero(hidden != self.hidden)
        if not len(changed):
            return
        shown_again = self.hidden[changed] & ~hidden[changed]
        hidden_zero = hidden[changed] & (self.value[changed] <= 0)  # the truth breaks ">= 1"
        if (shown_again | hidden_zero).any():
            # A count shown again narrows what is feasible: the points seen may not be.
            self.seen_lo = self.value.copy()
            self.seen_hi = self.value.copy()
        self.hidden = hidden.copy()
        self.lower, self.upper = self._row_bounds(hidden)
        if self._whole is not None:
            rows = changed[self.position[changed] >= 0]
            if len(rows):
                pos = self.position[rows]
                self._whole.changeRowsBounds(
                    len(rows), pos.astype(np.int32), self.lower[pos], self._finite(self.upper[pos])
                )

    @staticmethod
    def _finite(upper):
        import highspy

        return np.where(np.isinf(upper), highspy.kHighsInf, upper)

    def _open(self, rows) -> np.ndarray:
        """Those of ``rows`` the points seen do not already set more than 2 margin apart."""
        lo = np.ceil(self.seen_lo[rows] - _TOL)
        hi = np.floor(self.seen_hi[rows] + _TOL)
        return rows[hi - lo <= self.band]

    def _see(self, values: np.ndarray) -> None:
        """Record feasible values of every count (one point)."""
        np.minimum(self.seen_lo, values, out=self.seen_lo)
        np.maximum(self.seen_hi, values, out=self.seen_hi)

    # ------------------------------------------------------------- the answer

    def __call__(self, hidden, rows) -> tuple[np.ndarray, np.ndarray]:
        """Inward-rounded ``(low, high)`` of each of ``rows`` with ``hidden`` counts hidden.

        A count is reported pinned (``high - low <= 2 * margin``) exactly when
        the whole programme would pin it. The range of a pinned count may be
        wider than the exact one (a relaxation's; see :meth:`exact`); the
        range of an unpinned count is the range of the points seen, inside
        the exact one.
        """
        self._update(hidden)
        rows = np.asarray(rows, dtype=np.int64)
        low = np.full(len(self.value), np.nan)
        high = np.full(len(self.value), np.nan)
        pending = self._open(rows)
        decided = {"points seen": len(rows) - len(pending)}
        lo, hi = self._certified(pending)
        proven = np.floor(hi + _TOL) - np.ceil(lo - _TOL) <= self.band
        low[pending[proven]], high[pending[proven]] = lo[proven], hi[proven]
        decided["certificates"] = int(proven.sum())
        pending = pending[~proven]
        for depth, part_of in enumerate(self.levels):
            if not len(pending):
                break
            level = f"level {depth + 1}"
            before = len(pending)
            pending = self._spread(part_of, pending, depth)
            # A finest part alone rarely has room to push a count in. Above it, the
            # pushes go first: bounded by their goal they are cheap, and past the
            # finest level few counts are pinned, so relaxations there mostly prove
            # nothing (at a million cases, 5 s for none of 414).
            if depth or len(self.levels) == 1:
                pending = self._each(part_of, pending)
            lo, hi = self._relaxed(depth, pending)
            with np.errstate(invalid="ignore"):
                width = np.floor(hi + _TOL) - np.ceil(lo - _TOL)
                proven = pending[width[pending] <= self.band]
            low[proven], high[proven] = lo[proven], hi[proven]
            pending = np.setdiff1d(pending, proven)
            decided[f"restrictions, {level}"] = before - len(pending) - len(proven)
            decided[f"relaxations, {level}"] = len(proven)
        if len(pending):
            low[pending], high[pending] = self._exact(pending)
            decided["whole programme"] = len(pending)
        self.decided = decided
        rest = np.isnan(low[rows])
        low[rows[rest]] = self.seen_lo[rows[rest]]
        high[rows[rest]] = self.seen_hi[rows[rest]]
        return np.ceil(low[rows] - _TOL), np.floor(high[rows] + _TOL)

    def exact(self, hidden: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inward-rounded exact range of counts, on the whole programme.

        For pinned counts whose exact range matters: whether the published
        numbers determine them.

        Parameters
        ----------
        hidden : ndarray of bool
            Counts hidden now.
        rows : ndarray of int
            The counts.

        Returns
        -------
        low, high : ndarray
            Smallest and largest value of each (``-inf``/``inf`` if unbounded).
        """
        self._update(hidden)
        low, high = self._exact(np.asarray(rows, dtype=np.int64))
        return np.ceil(low - _TOL), np.floor(high + _TOL)

    # ------------------------------------------------------------- restrictions

    def _restrict(self, groups: list[np.ndarray], costs: list[np.ndarray], goals=None) -> None:
        """Solve each group's restriction (its atoms free, the others at their true
        sizes) for its cost, stacked in batches, and record every solution.
        ``goals``: optional ``(low, high)`` bounds on the used rows (by position)
        for the solve, as :meth:`_goal` gives them."""
        start = 0
        while start < len(groups):
            stop, atoms = start, 0
            while stop < len(groups) and (atoms < BATCH_ATOMS or stop == start):
                atoms += len(groups[stop])
                stop += 1
            self._restrict_batch(groups[start:stop], costs[start:stop], goals)
            start = stop

    def _restrict_batch(self, groups, costs, goals=None) -> None:
        members = np.concatenate(groups)
        group_of = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
        sub = self.used_matrix[:, members].tocoo()
        n_rows = self.used_matrix.shape[0]
        key = group_of[sub.col].astype(np.int64) * n_rows + sub.row
        instances, row_of = np.unique(key, return_inverse=True)
        truth = np.bincount(
            row_of, weights=sub.data * self.sizes[members[sub.col]], minlength=len(instances)
        )
        row = instances % n_rows
        offset = truth - self.value[self.used[row]]
        matrix = sparse.csc_array(
            (sub.data, (row_of, sub.col)), shape=(len(instances), len(members))
        )
        solver = self._shifted(matrix, row, offset, warm=False, goals=goals)
        x = _minimum(solver, np.concatenate(costs))
        if x is None:
            return
        change = sparse.csc_array(
            (x - self.sizes[members], (members, group_of)),
            shape=(self.A.shape[1], len(groups)),
        )
        moved = sparse.csr_array(self.A @ change)
        self._see(self.value + _row_extreme(moved, np.minimum))
        self._see(self.value + _row_extreme(moved, np.maximum))

    def _spread(self, part_of, pending, depth) -> np.ndarray:
        """Random objectives on pieces of each part: the parts of the finest level
        holding counts still open, joined up to PIECE_ATOMS atoms within each part
        of this level (the whole part at the finest level)."""
        fine = self.levels[0]
        pieces = _parts(fine)
        for round_ in range(SPREAD_ROUNDS):
            signs = np.zeros(len(self.value))
            signs[pending] = self.rng.choice([-1.0, 1.0], size=len(pending))
            cost = self.A.T @ signs
            touched = np.unique(fine[cost != 0])
            groups = []
            if depth == 0 and round_ == 0 and len(touched) > PROBE_PARTS * PROBE_SHARE:
                # A finest part alone often has no room at all: try a sample first.
                probe = self.rng.choice(touched, int(len(touched) / PROBE_SHARE), replace=False)
                probed = pending[np.isin(self._inside(fine)[pending], probe)]
                self._restrict([pieces[p] for p in probe], [cost[pieces[p]] for p in probe])
                if len(probed) - len(self._open(probed)) < SPREAD_MIN_SHARE * len(probed):
                    return self._open(pending)
                # The goals below hold only for counts still open: one the probe moved
                # past its goal would make its batch infeasible.
                pending = self._open(pending)
            if depth == 0:
                groups = [pieces[p] for p in touched]
            else:
                coarse = part_of[[pieces[p][0] for p in touched]]
                for c in np.unique(coarse):
                    inside = sorted((pieces[p] for p in touched[coarse == c]), key=len)
                    groups += _joined(inside, PIECE_ATOMS)
            if not groups:
                break
            goals = np.full(len(self.used), -np.inf), np.full(len(self.used), np.inf)
            for sign, bound in ((1.0, goals[0]), (-1.0, goals[1])):
                counts = pending[(signs[pending] == sign) & (self.position[pending] >= 0)]
                bound[self.position[counts]] = self._goal(counts, sign)
            self._restrict(groups, [cost[g] for g in groups], goals)
            before, pending = len(pending), self._open(pending)
            if before - len(pending) < SPREAD_MIN_SHARE * before:
                break
        return pending

    def _each(self, part_of, pending) -> np.ndarray:
        """Each open count inside one part, pushed up then down: first on the atoms
        of the part near a hidden count (in a finest part that one touches), then,
        if still open, on the whole part; one warm-started programme for each."""
        inside = self._inside(part_of)
        members = _parts(part_of)
        fine = self.levels[0]
        near_hidden = np.zeros(int(fine.max()) + 1, dtype=bool)
        near_hidden[fine[self.A[np.flatnonzero(self.hidden)].indices]] = True
        for part in np.unique(inside[pending][inside[pending] >= 0]):
            atoms = members[part]
            counts = pending[inside[pending] == part]
            near = atoms[near_hidden[fine[atoms]]]
            # Most atoms lie where nothing is hidden (the folded placements): the
            # counts of a part usually move without them, on a programme a fifth the size.
            if 0 < len(near) < len(atoms) and len(near) <= WHOLE_PART_ATOMS:
                counts = self._push(near, counts)
            if len(counts) and len(atoms) <= WHOLE_PART_ATOMS:
                counts = self._push(atoms, counts)
        return self._open(pending)

    def _push(self, atoms, counts) -> np.ndarray:
        """Push each of ``counts`` up then down on the restriction freeing ``atoms``
        (while it is open); the counts still open.

        Up first: a large hidden count often cannot go down at all (a group
        floor holds it at the threshold). A push only has to take the count past
        the points seen by more than ``2 * margin``: its own row is bounded there
        for the solve (:meth:`_goal`), so the simplex stops as soon as it gets
        that far. Where the bound does not bind, the solve is the unbounded push;
        either way the verdict is the same and the point found is feasible."""
        solver, local, rows, offset = self._warm_restriction(atoms)
        for count in counts:
            at = np.searchsorted(rows, self.position[count])
            own = self.position[count] >= 0 and at < len(rows) and rows[at] == self.position[count]
            lower = self.lower[rows[at]] + offset[at] if own else None
            upper = self.upper[rows[at]] + offset[at] if own else None
            for sign in (-1.0, 1.0):
                if not len(self._open(np.array([count]))):
                    break
                if own:
                    goal = self._goal(count, sign) + offset[at]
                    bounds = (max(lower, goal), upper) if sign > 0 else (lower, min(upper, goal))
                    solver.changeRowBounds(int(at), bounds[0], float(self._finite(bounds[1])))
                x = _minimum(solver, sign * local[[count]].toarray().ravel())
                if own:
                    solver.changeRowBounds(int(at), lower, float(self._finite(upper)))
                if x is not None:
                    self._see(self.value + local @ (x - self.sizes[atoms]))
        return self._open(counts)

    def _goal(self, counts, sign):
        """How far a push of ``counts`` down (``sign`` 1) or up (-1) has to go to
        leave them more than ``2 * margin`` wide over the points seen, with half a
        unit to spare for rounding; a programme bounded there stops as soon as it
        gets that far."""
        if sign > 0:
            return np.floor(self.seen_hi[counts] + _TOL) - self.band - 1.5
        return np.ceil(self.seen_lo[counts] - _TOL) + self.band + 1.5

    def _warm_restriction(self, atoms):
        """A warm-started restriction freeing ``atoms``: its solver, the counts on
        those atoms, and the rows (positions among those used, ascending) and
        offsets of its constraints (see :meth:`_shifted`)."""
        sub = sparse.csr_array(self.used_matrix[:, atoms])
        rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        matrix = sub[rows]
        offset = matrix @ self.sizes[atoms] - self.value[self.used[rows]]
        solver = self._shifted(matrix, rows, offset, warm=True)
        return solver, sparse.csr_array(self.A[:, atoms]), rows, offset

    def _shifted(self, matrix, rows, offset, *, warm: bool, goals=None):
        """A restriction's programme: constraint ``rows`` (positions among those
        used) on the free atoms, their bounds shifted by what the fixed atoms give
        (``offset`` = the free atoms' true share minus the count's value), and
        narrowed to ``goals`` (see :meth:`_restrict`) if given."""
        lower, upper = self.lower[rows], self.upper[rows]
        if goals is not None:
            lower = np.maximum(lower, goals[0][rows])
            upper = np.minimum(upper, goals[1][rows])
        return _programme(
            matrix,
            lower + offset,
            self._finite(upper + offset),
            np.full(matrix.shape[1], self.cap),
            warm=warm,
        )

    def _inside(self, part_of) -> np.ndarray:
        """The part holding every atom of each count, or -1."""
        key = id(part_of)
        if key not in self._row_part:
            parts = part_of[self.A.indices]
            n = self.A.shape[0]
            starts = self.A.indptr[:-1]
            nonempty = np.diff(self.A.indptr) > 0
            lo = np.full(n, -1)
            hi = np.full(n, -2)
            if len(parts):
                lo[nonempty] = np.minimum.reduceat(parts, starts[nonempty])
                hi[nonempty] = np.maximum.reduceat(parts, starts[nonempty])
            self._row_part[key] = np.where(lo == hi, lo, -1)
        return self._row_part[key]

    # ------------------------------------------------------------- relaxations

    def _relaxed(self, depth, pending):
        """Exact range of each open count inside one part, over the constraints inside
        that part only (NaN elsewhere, where it may be unbounded, and at a level
        with no more constraints inside its parts than the level before)."""
        n = len(self.value)
        lo, hi = np.full(n, np.nan), np.full(n, np.nan)
        part_of = self.levels[depth]
        inside = self._inside(part_of)
        counts = pending[inside[pending] >= 0]
        if depth:
            earlier = self._inside(self.levels[depth - 1])
            if (inside[self.used] >= 0).sum() == (earlier[self.used] >= 0).sum():
                return lo, hi
        if not len(counts):
            return lo, hi
        rows_inside = self.used[inside[self.used] >= 0]
        # Only atoms in a constraint kept or in a count's sum take part.
        relevant = np.zeros(self.A.shape[1], dtype=bool)
        relevant[self.A[np.r_[rows_inside, counts]].indices] = True
        crowded = np.bincount(part_of[relevant], minlength=part_of.max() + 1) > RELAX_ATOMS
        counts = counts[~crowded[inside[counts]]]
        if not len(counts):
            return lo, hi
        _, rank = _rank_within(inside[counts])
        for r in range(int(rank.max()) + 1):
            chosen = counts[rank == r]
            parts = inside[chosen]
            atoms = np.flatnonzero(relevant & np.isin(part_of, parts))
            rows = rows_inside[np.isin(inside[rows_inside], parts)]
            pos = self.position[rows]
            solver = _programme(
                self.A[rows][:, atoms],
                self.lower[pos],
                self._finite(self.upper[pos]),
                np.full(len(atoms), self.cap),
                warm=True,
            )
            objective = self.A[chosen][:, atoms]
            cost = np.asarray(objective.sum(axis=0)).ravel()
            for sign, store in ((1.0, lo), (-1.0, hi)):
                x = _minimum(solver, sign * cost)
                if x is None:
                    continue
                capped = np.isin(parts, part_of[atoms[x >= self.cap * (1 - 1e-9)]])
                store[chosen[~capped]] = objective[~capped] @ x
        return lo, hi

    # ------------------------------------------------------------- the whole programme

    def _exact(self, rows):
        """Exact range of ``rows`` on the whole programme (warm-started); each
        bound's dual solution is kept as a certificate (see :meth:`_certified`)."""
        if self._whole is None:
            self._whole = _programme(
                self.used_matrix,
                self.lower,
                self._finite(self.upper),
                self._finite(np.full(self.A.shape[1], np.inf)),
                warm=True,
            )
        low, high = np.empty(len(rows)), np.empty(len(rows))
        for i, row in enumerate(rows):
            objective = self.A[[row]].toarray().ravel()
            for sign, store in ((1.0, low), (-1.0, high)):
                x = _minimum(self._whole, sign * objective)
                if x is None:
                    _check_unbounded(self._whole)  # nothing pins it; a failure stops
                store[i] = objective @ x if x is not None else -sign * np.inf
                if x is not None:
                    self._see(self.A @ x)
                    self._keep_certificate(row, sign, objective)
        return low, high

    def _keep_certificate(self, row, sign, objective) -> None:
        """Keep the row duals of the last solve if they prove its bound: ``y`` with
        ``A'y <= sign * objective`` bounds ``sign * objective @ x`` below by
        ``sum(y * row bound)``, whatever the row bounds (they only move that sum)."""
        duals = np.asarray(self._whole.getSolution().row_dual)
        reduced = sign * objective - self.used_matrix.T @ duals
        if reduced.min(initial=0.0) < -1e-7:
            return
        keep = np.flatnonzero(np.abs(duals) > 1e-12)
        self._certificates[(int(row), sign)] = (keep, duals[keep])

    def _certified(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of ``rows`` proven by certificates of earlier solves under the
        current row bounds (-inf/inf where there is none, or it no longer holds)."""
        low, high = np.full(len(rows), -np.inf), np.full(len(rows), np.inf)
        for i, row in enumerate(rows):
            for sign in (1.0, -1.0):
                found = self._certificates.get((int(row), sign))
                if found is None:
                    continue
                keep, duals = found
                bound = np.where(duals > 0, self.lower[keep], self.upper[keep])
                with np.errstate(invalid="ignore"):
                    total = float(np.sum(duals * bound))
                if np.isnan(total):
                    continue
                if sign > 0:
                    low[i] = total
                else:
                    high[i] = -total
        return low, high


def _check_unbounded(solver) -> None:
    """Refuse any outcome of a solve but optimal or unbounded: a count whose bound
    failed must not pass as unpinned."""
    import highspy

    status = solver.getModelStatus()
    unbounded = (
        highspy.HighsModelStatus.kUnbounded,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,  # the true sizes are feasible
    )
    if status not in unbounded:
        raise CaseworkError(
            f"Internal error: the disclosure audit's linear programme ended as {status}; "
            "nothing was published."
        )


def _row_extreme(matrix, pick) -> np.ndarray:
    """Per row of a sparse matrix, the smallest (``np.minimum``) or largest entry,
    counting the implicit zeros."""
    out = np.zeros(matrix.shape[0])
    nonempty = np.diff(matrix.indptr) > 0
    if matrix.nnz:
        found = pick.reduceat(matrix.data, matrix.indptr[:-1][nonempty])
        out[nonempty] = pick(found, 0.0)
    return out


def _joined(pieces: list[np.ndarray], limit: int) -> list[np.ndarray]:
    """Consecutive pieces joined into groups of at most ``limit`` atoms (a larger
    piece alone)."""
    out, current, size = [], [], 0
    for piece in pieces:
        if current and size + len(piece) > limit:
            out.append(np.concatenate(current))
            current, size = [], 0
        current.append(piece)
        size += len(piece)
    if current:
        out.append(np.concatenate(current))
    return out
