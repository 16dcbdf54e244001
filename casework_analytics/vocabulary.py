"""Controlled vocabularies and their Indonesian and English aliases.

The alias tables are data files shipped in ``casework_analytics/data``:

``column_aliases.csv``
    ``table, alias, column``: a header found in a source (after lower-casing
    and replacing spaces and hyphens by underscores) and the canonical column
    it means.
``value_aliases.csv``
    ``field, alias, value``: a value found in a source (lower-cased, spaces
    collapsed) and the controlled value it means.

Both are documented in ``docs/data-contract.md``; extend them by passing
extra aliases to :func:`casework_analytics.load`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

#: Allowed values of every controlled field, in display order.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "sex": ("female", "male", "unknown"),
    "substance": (
        "methamphetamine",
        "amphetamine",
        "other_stimulant",
        "cannabis",
        "opioid",
        "alcohol",
        "sedative",
        "inhalant",
        "other",
    ),
    "referral_source": ("voluntary", "family", "legal", "health_service", "employer", "other"),
    "assist_risk": ("low", "moderate", "high"),
    "test_result": ("negative", "positive", "invalid", "not_done"),
    "session_status": ("held", "missed_client", "missed_worker", "cancelled", "rescheduled"),
}


def read_package_table(name: str) -> pd.DataFrame:
    """Read a CSV file shipped in ``casework_analytics/data`` as text."""
    with resources.files("casework_analytics.data").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f, dtype="string", keep_default_na=False)


def _nested_aliases(name: str, outer: str, target: str) -> dict[str, dict[str, str]]:
    """``{outer: {alias: target}}`` from one of the shipped alias tables."""
    frame = read_package_table(name)
    return {
        str(key): dict(zip(group["alias"], group[target], strict=True))
        for key, group in frame.groupby(outer)
    }


@cache
def column_aliases() -> dict[str, dict[str, str]]:
    """Header aliases per table: ``{table: {alias: canonical_column}}``."""
    return _nested_aliases("column_aliases.csv", "table", "column")


@cache
def value_aliases() -> dict[str, dict[str, str]]:
    """Value aliases per field: ``{field: {alias: value}}``."""
    return _nested_aliases("value_aliases.csv", "field", "value")


def normalise_label(values: pd.Series) -> pd.Series:
    """Lower-case, trim and collapse inner white space and underscores.

    Works on the distinct values only, so a national cohort with a few
    dozen distinct labels costs a few dozen string operations.
    """
    codes, uniques = pd.factorize(values.astype("string"))
    cleaned = pd.Series(uniques, dtype="string").str.strip().str.lower()
    cleaned = cleaned.str.replace(r"[\s_]+", " ", regex=True)
    # Code -1 (missing) picks the NA appended at the end.
    out = np.append(cleaned.to_numpy(dtype=object, na_value=pd.NA), pd.NA)[codes]
    return pd.Series(out, index=values.index, dtype="string")


def normalise_header(name: str) -> str:
    """Canonical form of a column header: lower snake_case, BOM removed."""
    cleaned = str(name).replace("\ufeff", "").strip().lower()
    for char in " -./":
        cleaned = cleaned.replace(char, "_")
    while "__" in cleaned:
        cleaned = cleaned.replace("__", "_")
    return cleaned.strip("_")
