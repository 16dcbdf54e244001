"""Looking rows up by their key, for tables of millions of rows.

Case and placement IDs are text. A merge, ``reindex`` or ``isin`` on text
columns turns every cell into a Python string before hashing it, which for
15 million visits takes longer than reading them. :func:`positions`
factorizes the values once (Arrow text is dictionary-encoded without leaving
C++), looks up only the distinct values, and returns integer positions, so
that every join after it is an integer ``take``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Codes",
    "positions",
    "repeated",
    "take",
]

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def positions(values: ArrayLike, keys: ArrayLike) -> np.ndarray:
    """The position of each of ``values`` in ``keys``; -1 where absent or missing.

    Parameters
    ----------
    values : Series, Index or array
        The keys to look up (any length).
    keys : Index, Series or array
        The keys of the table looked up in; where a key repeats, its first
        position is given (except when ``values`` are ``keys`` themselves,
        row for row: then each row is its own position).

    Returns
    -------
    ndarray of int64
        One position per value, in the order of ``values``.

    Examples
    --------
    >>> positions(pd.Series(["b", "x", None, "a"]), pd.Index(["a", "b"])).tolist()
    [1, -1, -1, 0]
    """
    keys = keys if isinstance(keys, pd.Index) else pd.Index(keys)
    if _aligned(values, keys):  # the same keys in the same order: nothing to look up
        return np.arange(len(keys), dtype=np.int64)
    found = _arrow_positions(values, keys)
    if found is not None:
        return found
    if not keys.is_unique:
        first = np.flatnonzero(~keys.duplicated(keep="first"))
        return np.append(first, -1)[positions(values, keys[first])]
    codes, uniques = pd.factorize(values)
    found = keys.get_indexer(uniques) if len(uniques) else np.zeros(0, dtype=np.intp)
    return np.append(found, -1).astype(np.int64)[codes]


class Codes:
    """A key column factorized once: an integer code per row and the distinct keys.

    ``load`` checks each table's ``case_id`` against the cases several times
    (does the case exist, was it rejected, when was its intake, is this visit
    a duplicate); factorizing the 15 million visit keys once and answering
    every check from the codes makes them integer work.

    Parameters
    ----------
    values : Series or array
        The key column.

    Attributes
    ----------
    codes : ndarray of int64
        For each row, the position of its key in ``uniques``; -1 where missing.
    uniques : Index
        The distinct keys, in order of first appearance.

    Examples
    --------
    >>> keys = Codes(pd.Series(["b", "a", None, "b"]))
    >>> keys.codes.tolist(), keys.positions(pd.Index(["a", "b"])).tolist()
    ([0, 1, -1, 0], [1, 0, -1, 1])
    """

    def __init__(self, values: ArrayLike) -> None:
        codes, self.uniques = pd.factorize(values)
        self.codes = codes.astype(np.int64, copy=False)

    def positions(self, keys: ArrayLike) -> np.ndarray:
        """The position of each row's key in ``keys`` (as :func:`positions`).

        Parameters
        ----------
        keys : Index, Series or array
            The keys looked up in; pass an Index to reuse its hash table.

        Returns
        -------
        ndarray of int64
            One position per row; -1 where the key is missing or not found.
        """
        return np.append(positions(self.uniques, keys), -1).astype(np.int64)[self.codes]

    def isin(self, keys: ArrayLike) -> np.ndarray:
        """Whether each row's key is one of ``keys`` (a missing key never is).

        Parameters
        ----------
        keys : Index, Series or array

        Returns
        -------
        ndarray of bool
            One per row.
        """
        return self.positions(keys) >= 0


def repeated(key: np.ndarray, keep: str = "first") -> np.ndarray:
    """``pd.Series(key).duplicated(keep=keep)`` for integer keys, by a stable sort.

    Hashing 15 million distinct keys misses the cache on nearly every row;
    sorting them is several times faster, and fastest when the rows come
    grouped (a source ordered by case, as most are).

    Parameters
    ----------
    key : ndarray of int
    keep : {"first", False}
        ``"first"`` marks every occurrence after the first; ``False`` marks
        every occurrence of a key that occurs more than once.

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> repeated(np.array([3, 1, 3, 2, 1])).tolist()
    [False, False, True, False, True]
    >>> repeated(np.array([3, 1, 3, 2]), keep=False).tolist()
    [True, False, True, False]
    """
    order = np.argsort(key, kind="stable")
    same = key[order[1:]] == key[order[:-1]]
    marked = np.zeros(len(key), dtype=bool)
    marked[order[1:]] = same
    if keep is False:
        marked[order[:-1]] |= same
    return marked


def _arrow_text(values) -> pa.ChunkedArray | pa.Array | None:
    """The Arrow array under Arrow-backed text (pandas' ``str`` or ``string[pyarrow]``)."""
    array = getattr(values, "array", None)
    dtype = getattr(array, "dtype", None)
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return array.__arrow_array__()
    return None


def _arrow_positions(values, keys: pd.Index) -> np.ndarray | None:
    """:func:`positions` by Arrow's hash kernel, when both sides are Arrow text.

    ``pyarrow.compute.index_in`` hashes the UTF-8 bytes in C++; pandas'
    ``get_indexer`` makes a Python string of every value first, which for a
    million case IDs takes three times as long. Gives the first position of
    a repeated key, and -1 for a missing value (``skip_nulls``). None when
    either side is not Arrow text.
    """
    found, key_set = _arrow_text(values), _arrow_text(keys)
    if found is None or key_set is None:
        return None
    if isinstance(key_set, pa.ChunkedArray):
        key_set = key_set.combine_chunks()
    if key_set.type != found.type:
        key_set = key_set.cast(found.type)
    where = pc.index_in(found, value_set=key_set, skip_nulls=True)
    return where.fill_null(-1).to_numpy().astype(np.int64)


def _aligned(values, keys: pd.Index) -> bool:
    """True if ``values`` are ``keys`` (without missing), row for row.

    Per-case tables of one run are in the order of its cases, so most
    look-ups of a run are answered by this comparison, done in Arrow or
    NumPy without making Python strings.
    """
    if len(values) != len(keys) or not len(keys):
        return False
    array = pd.array(values, copy=False) if not hasattr(values, "array") else values.array
    return array.dtype == keys.array.dtype and keys.array.equals(array) and not keys.hasnans


def take(values: pd.Series, where: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """``values`` at positions ``where`` (-1 gives missing), dtype kept where it can hold NA.

    Parameters
    ----------
    values : Series
        The column looked up in.
    where : ndarray of int
        Positions, as :func:`positions` returns them.
    index : Index, optional
        Index of the result (a default range index when omitted).

    Returns
    -------
    Series

    Examples
    --------
    >>> take(pd.Series([10, 20]), np.array([1, -1, 0])).tolist()
    [20.0, nan, 10.0]
    """
    text = _arrow_text(values)
    if text is None:
        array = values.array.take(where, allow_fill=True)
    else:  # Arrow's take copies the bytes in C++ (pandas' is four times slower)
        where = np.asarray(where)
        if isinstance(text, pa.ChunkedArray):  # taking across chunks is several times slower
            text = text.combine_chunks()
        missing = where < 0
        # Indices with a validity bitmap take Arrow's slow path (4x), even if all valid.
        taken = text.take(pa.array(where, mask=missing) if missing.any() else pa.array(where))
        array = pd.array(taken, dtype=values.dtype)
    return pd.Series(array, index=index, name=values.name)
