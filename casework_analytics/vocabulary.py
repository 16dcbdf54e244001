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

import difflib
import re
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "VOCABULARIES",
    "read_package_table",
    "column_aliases",
    "value_aliases",
    "normalise_label",
    "normalise_header",
    "LABEL_PREFIXES",
    "lookup_form",
    "map_labels",
    "closest_value",
    "value_labels",
    "forms_of",
    "accepted_text",
    "named_form",
]

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
    """Read a CSV file shipped in ``casework_analytics/data`` as text.

    Parameters
    ----------
    name : str
        The file name, e.g. ``"value_aliases.csv"``.

    Returns
    -------
    DataFrame
        Every value as text; empty cells are empty strings.
    """
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
    """Header aliases per table: ``{table: {alias: canonical_column}}``.

    Returns
    -------
    dict of dict
    """
    return _nested_aliases("column_aliases.csv", "table", "column")


@cache
def value_aliases() -> dict[str, dict[str, str]]:
    """Value aliases per field: ``{field: {alias: value}}``.

    Returns
    -------
    dict of dict
    """
    return _nested_aliases("value_aliases.csv", "field", "value")


def normalise_label(values: pd.Series) -> pd.Series:
    """Lower-case, trim and collapse inner white space and underscores.

    Works on the distinct values only, so a national cohort with a few
    dozen distinct labels costs a few dozen string operations.

    Parameters
    ----------
    values : Series

    Returns
    -------
    Series of string
        On the index of ``values``.
    """
    codes, uniques = pd.factorize(values.astype("string"))
    cleaned = pd.Series(uniques, dtype="string").str.strip().str.lower()
    cleaned = cleaned.str.replace(r"[\s_]+", " ", regex=True)
    # Code -1 (missing) picks the NA appended at the end.
    out = np.append(cleaned.to_numpy(dtype=object, na_value=pd.NA), pd.NA)[codes]
    return pd.Series(out, index=values.index, dtype="string")


def normalise_header(name: str) -> str:
    """Canonical form of a column header: lower snake_case, BOM removed.

    Parameters
    ----------
    name : str
        The header as written (made text with ``str``).

    Returns
    -------
    str
    """
    cleaned = str(name).replace("\ufeff", "").strip().lower()
    for char in " -./":
        cleaned = cleaned.replace(char, "_")
    while "__" in cleaned:
        cleaned = cleaned.replace("__", "_")
    return cleaned.strip("_")


#: Words a caseworker writes before a stage or status that do not change it.
LABEL_PREFIXES = ("tahap", "fase", "stage", "phase")
_JOINERS = re.compile(r"\s+(?:dan|and|atau|or)\s+|\s*[/&+,]\s*")


def lookup_form(label: str) -> str:
    """A label as looked up: lower case, punctuation gone, one space between
    words, and a leading "tahap", "fase", "stage" or "phase" dropped.

    Parameters
    ----------
    label : str

    Returns
    -------
    str

    Examples
    --------
    >>> lookup_form("  Tahap Pengkajian. ")
    'pengkajian'
    >>> lookup_form("Relasi-dan-Kontrak")
    'relasi dan kontrak'
    """
    text = re.sub(r"[^\w\s/&+,]|_", " ", str(label).lower().replace("-", " "))
    text = " ".join(text.split())
    words = text.split(" ", 1)
    if len(words) == 2 and words[0] in LABEL_PREFIXES:
        text = words[1]
    return text


def map_labels(values: pd.Series, aliases: dict[str, str]) -> pd.Series:
    """Each label's controlled value, NA where none is found.

    A label is looked up as written (:func:`normalise_label`), then in its
    :func:`lookup_form`, then, if it joins several aliases with "dan",
    "and", "/" or "&" ("relasi dan kontrak"), as the one value they all
    mean. Nothing is guessed: a label with no such match stays NA (see
    :func:`closest_value` for a hint). Works on the distinct labels only.

    Parameters
    ----------
    values : Series
        Labels as written.
    aliases : dict
        Normalised alias → controlled value.

    Returns
    -------
    Series
        The controlled values (string dtype), aligned with ``values``.
    """
    codes, uniques = pd.factorize(values.astype("string"))
    distinct = pd.Series(uniques, dtype="string")
    mapped = normalise_label(distinct).map(aliases)
    loose = {lookup_form(k): v for k, v in aliases.items()}
    for i in np.flatnonzero(mapped.isna().to_numpy()):  # the distinct unknown labels
        form = lookup_form(distinct.iloc[i])
        found = loose.get(form)
        if found is None:
            parts = {loose.get(part) for part in _JOINERS.split(form) if part}
            found = parts.pop() if len(parts) == 1 else None
        mapped.iloc[i] = found
    taken = mapped.astype("string").array.take(codes, allow_fill=True)
    return pd.Series(taken, index=values.index, dtype="string")


def closest_value(label: str, aliases: dict[str, str]) -> str | None:
    """The controlled value whose alias is closest to ``label`` (difflib ratio
    at least 0.75), for a "did you mean" hint; None if nothing is close.

    Parameters
    ----------
    label : str
        The label as written.
    aliases : dict
        Normalised alias → controlled value.

    Returns
    -------
    str or None

    Examples
    --------
    >>> closest_value("Assesment", {"assessment": "assessment", "pengkajian": "assessment"})
    'assessment'
    """
    loose = {lookup_form(k): v for k, v in aliases.items()}
    match = difflib.get_close_matches(lookup_form(label), list(loose), n=1, cutoff=0.75)
    return loose[match[0]] if match else None


@cache
def value_labels() -> pd.DataFrame:
    """Display labels of the controlled values: ``field, value, label_en, label_id``.

    Returns
    -------
    DataFrame
    """
    return read_package_table("value_labels.csv")


def forms_of(field: str) -> dict[str, tuple[str, str]]:
    """``{value: (English label, Indonesian label)}`` of a controlled field.

    Parameters
    ----------
    field : str
        A controlled field, e.g. ``"session_status"``.

    Returns
    -------
    dict of (str, str)
    """
    rows = value_labels()[value_labels()["field"] == field]
    return {
        v: (en, id_)
        for v, en, id_ in zip(rows["value"], rows["label_en"], rows["label_id"], strict=True)
    }


def accepted_text(forms: dict[str, tuple[str, str]]) -> str:
    """The accepted values with their Indonesian forms: ``held / terlaksana, ...``.

    Parameters
    ----------
    forms : dict
        As :func:`forms_of` returns it.

    Returns
    -------
    str
    """
    return ", ".join(named_form(value, forms) for value in forms)


def named_form(value: str, forms: dict[str, tuple[str, str]]) -> str:
    """``value / its Indonesian label`` (the value alone where they are the same).

    Parameters
    ----------
    value : str
    forms : dict
        As :func:`forms_of` returns it.

    Returns
    -------
    str
    """
    label_id = forms.get(value, (value, value))[1]
    return value if label_id in ("", value) else f"{value} / {label_id}"
