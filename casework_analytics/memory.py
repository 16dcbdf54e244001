"""Memory held by allocators after large tables are freed.

pyarrow's allocator keeps freed memory for reuse, and so does the C library's
``malloc`` (for the many arrays of a million rows each that the per-case
steps make and drop). After a national cohort is loaded and its per-case
tables are built, that is most of a gigabyte, which would otherwise sit
under the peak of the next step. The steps with the largest peaks (the end
of loading, the weekly grid) give it back first. Returning the C library's
memory is the ``malloc_trim`` that Dask's workers call for the same reason;
it exists only with glibc, and elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["release_unused"]


def release_unused() -> None:
    """Return to the system the memory the allocators hold but no longer use.

    Examples
    --------
    >>> release_unused()  # safe at any time; it frees nothing in use
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl, for one)
            pass
