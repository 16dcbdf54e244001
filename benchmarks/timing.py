"""Shared helper of the benchmark scripts: time each table an iterator yields."""

from __future__ import annotations

import time


def time_tables(tables, label: str) -> None:
    """Print the time each ``(name, table)`` took to produce, then the total."""
    total = start = time.perf_counter()
    for name, table in tables:
        now = time.perf_counter()
        rows = len(table) if not isinstance(table, str) else 0
        print(f"  {name:<22} {now - start:6.2f} s  ({rows:,} rows)")
        start = now
    print(f"{label}: {time.perf_counter() - total:.1f} s")
