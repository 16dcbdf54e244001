"""Case closures: the exit-reason taxonomy, reading free-text closure
reasons, and which cases and closures are observed by the end of
observation.

This module sits below every analysis: the loader, the analyses, privacy
and publishing import it, and it imports none of them.

Taxonomy
--------
``data/exit_reasons.csv`` gives every reason a stable ``code``, English and
Indonesian labels, an ``exit_type`` (``planned``, ``unplanned`` or
``administrative``; ``unknown`` for ``unclassified``), its SAMHSA TEDS-D
REASON code (1 completed, 2 dropped out, 3 terminated by facility, 4
transferred, 5 incarcerated, 6 death, 7 other) and ``ends_monitoring``:
whether the closure also ends the client's weekly monitoring (death,
incarceration, moving away, transfer to another program; see
:mod:`casework_analytics.timelines`).

Free text
---------
Closure reasons are normalised by the rule table
``data/exit_reason_rules.csv`` (``priority, code, pattern, example``). The
text is lower-cased and white space collapsed; a text equal to a code, an
English label or an Indonesian label takes that code. Otherwise negated
completions are taken out first (see below), and the regular-expression
rules are tried in ascending priority; the first match wins. Text that
matches nothing becomes ``unclassified`` (the original is kept in
``closure_reason`` and :func:`~casework_analytics.load` reports it as a
warning). Extra rules with the same columns are tried before the shipped
ones.

Negation
    Closure notes are often negated: "tidak selesai", "belum selesai",
    "gagal menyelesaikan program", "did not complete", "goals not met",
    "treatment incomplete". A negated completion is never a completion.
    A completion word (selesai, tercapai, tuntas, berhasil, complete,
    finished, successful, met, achieved, ...) is negated when it carries a
    negative prefix (in-, un-, non-) or when a negation cue (tidak, tak,
    belum, gagal, tanpa, bukan, sebelum, not, never, no, did not, failed
    to, without, before, unable to) comes up to three words before it,
    within the same clause (no punctuation, and none of dan, tetapi, tapi,
    namun, karena, and, but, however, because in between). The negated
    words are removed before the rules run, so "tidak selesai karena
    pindah" is ``moved``, and "tidak selesai" alone is ``unclassified``.
"""

from __future__ import annotations

import os
import re
import warnings
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .grouping import DateLike, as_as_of
from .vocabulary import normalise_label, read_package_table

__all__ = [
    "EXIT_TYPES",
    "NEGATED_COMPLETION",
    "exit_taxonomy",
    "exit_rules",
    "read_exit_rules",
    "check_exit_rules",
    "negated_completion",
    "classify_exit_reasons",
    "observed_cases",
    "case_exits",
]

if TYPE_CHECKING:
    from .cohort import Cohort

EXIT_TYPES = ("planned", "unplanned", "administrative")

_CUES = (
    r"tidak|tak|belum|gagal|tanpa|bukan|sebelum|not|never|no|didn'?t|did not|does not|"
    r"doesn'?t|failed to|without|before|unable to|could not|couldn'?t|was not|wasn'?t|"
    r"were not|weren'?t|has not|hasn'?t|have not|haven'?t"
)
_COMPLETION = (
    r"selesai|menyelesaikan|diselesaikan|tercapai|terpenuhi|tuntas|berhasil|lulus|"
    r"complet\w*|finish\w*|success\w*|met|achieved|reached|done"
)
_CLAUSE_BREAK = r"dan|tetapi|tapi|namun|karena|sehingga|and|but|however|because|so"
#: A negated completion: a cue, up to three words of the same clause, a completion word;
#: or a completion word with a negative prefix.
NEGATED_COMPLETION = re.compile(
    rf"\b(?:{_CUES})(?:\s+(?!(?:{_CLAUSE_BREAK})\b)[^\s,.;:!?]+){{0,3}}?\s+(?:{_COMPLETION})\b"
    r"|\b(?:in|un|non)-?(?:complet\w*|finish\w*|success\w*)\b"
)


@cache
def exit_taxonomy() -> pd.DataFrame:
    """The exit-reason taxonomy as a table.

    Returns
    -------
    DataFrame
        ``code, label_en, label_id, exit_type, teds_reason`` (int),
        ``ends_monitoring`` (bool), ``description``.
    """
    table = read_package_table("exit_reasons.csv")
    return table.assign(
        teds_reason=table["teds_reason"].astype("int64"),
        ends_monitoring=table["ends_monitoring"] == "true",
    )


@cache
def exit_rules() -> pd.DataFrame:
    """The shipped free-text rules, ordered by priority.

    Returns
    -------
    DataFrame
        The rules of the shipped ``exit_reason_rules.csv`` (``code``,
        ``pattern``, ``priority``, ...), highest priority first.
    """
    rules = read_package_table("exit_reason_rules.csv")
    rules = rules.assign(priority=rules["priority"].astype("int64"))
    return rules.sort_values("priority", kind="stable").reset_index(drop=True)


def read_exit_rules(path: str | os.PathLike) -> pd.DataFrame:
    """Closure-reason rules from a CSV file, checked (see :func:`check_exit_rules`).

    The file has the columns of the shipped ``exit_reason_rules.csv``:
    ``code`` (an exit-reason code of :func:`exit_taxonomy`) and
    ``pattern`` (a regular expression matched against the lower-cased
    reason), and optionally ``priority`` and ``example``; rows are tried in
    file order, before the shipped rules.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    DataFrame
        ``code, pattern`` (text).

    Raises
    ------
    CaseworkError
        If the file cannot be read, or a rule is not valid.
    """
    from pathlib import Path

    path = Path(path)
    try:
        rules = pd.read_csv(path, dtype="string", keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise CaseworkError(f"The exit-rules file {str(path)!r} does not exist.") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CaseworkError(
            f"The exit-rules file {str(path)!r} is not a readable CSV file: {exc}"
        ) from None
    rules.columns = [str(c).strip().lower() for c in rules.columns]
    if "pattern" in rules:
        rules = rules[rules["pattern"].str.strip() != ""]
    try:
        return check_exit_rules(rules)
    except CaseworkError as exc:
        raise CaseworkError(f"In the exit-rules file {str(path)!r}: {exc}") from None


def check_exit_rules(rules: pd.DataFrame) -> pd.DataFrame:
    """Validate user rules (columns ``code`` and ``pattern``) and return them.

    Parameters
    ----------
    rules : DataFrame
        The rules, with columns ``code`` and ``pattern``.

    Returns
    -------
    DataFrame
        ``code, pattern`` (text).

    Raises
    ------
    CaseworkError
        If a column is missing, a code is not in the taxonomy, or a pattern
        is not a valid regular expression.
    """
    taxonomy = exit_taxonomy()
    missing = {"code", "pattern"} - set(rules.columns)
    unknown = set(rules.get("code", pd.Series(dtype=object)).dropna()) - set(taxonomy["code"])
    if missing or unknown:
        raise CaseworkError(
            "`exit_rules` needs columns 'code' and 'pattern' with codes from the taxonomy "
            f"{taxonomy['code'].tolist()}; missing columns {sorted(missing)}, "
            f"unknown codes {sorted(unknown)}."
        )
    for pattern in rules["pattern"]:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise CaseworkError(
                f"The exit rule pattern {pattern!r} is not a valid regular expression: {exc}."
            ) from None
    return rules[["code", "pattern"]].astype("string")


def negated_completion(texts: pd.Series) -> pd.Series:
    """True where a text negates a completion ("tidak selesai", "did not complete").

    Parameters
    ----------
    texts : Series
        Closure-reason texts.

    Returns
    -------
    Series of bool
        On the index of ``texts``.

    Examples
    --------
    >>> negated_completion(pd.Series(["belum selesai", "selesai", "incomplete"])).tolist()
    [True, False, True]
    """
    codes, uniques = pd.factorize(normalise_label(texts))
    hit = pd.Series(uniques, dtype="string").str.contains(NEGATED_COMPLETION, regex=True)
    found = np.append(hit.fillna(False).to_numpy(dtype=bool), False)
    return pd.Series(found[codes], index=texts.index)


def classify_exit_reasons(texts: pd.Series, extra_rules: pd.DataFrame | None = None) -> pd.Series:
    """Map closure-reason texts to reason codes.

    Parameters
    ----------
    texts : Series of str
        Free text or codes, any case, Indonesian or English; missing stays
        missing.
    extra_rules : DataFrame, optional
        Rules with columns ``code`` and ``pattern`` (regular expression,
        matched case-insensitively anywhere in the text); tried before the
        shipped rules, in their given order.

    Returns
    -------
    Series of str
        A taxonomy code per text; ``"unclassified"`` where nothing matched.
        Works on the distinct texts only.

    Examples
    --------
    >>> classify_exit_reasons(pd.Series(["Jadwal tidak cocok", "pindah", "dirujuk"])).tolist()
    ['scheduling_conflict', 'moved', 'transferred']
    >>> classify_exit_reasons(pd.Series(["tujuan tercapai", "tujuan belum tercapai"])).tolist()
    ['completed', 'unclassified']
    """
    taxonomy = exit_taxonomy()
    rules = exit_rules()[["code", "pattern"]]
    if extra_rules is not None:
        rules = pd.concat([check_exit_rules(extra_rules), rules], ignore_index=True)
    codes, uniques = pd.factorize(normalise_label(texts))
    distinct = pd.Series(uniques, dtype="string")
    exact = {}
    for column in ("code", "label_en", "label_id"):
        keys = normalise_label(taxonomy[column].str.replace("_", " "))
        exact.update(dict(zip(keys, taxonomy["code"], strict=True)))
    result = distinct.map(exact).astype("string")
    # Negated completions are taken out, so no rule can read them as a completion.
    cleaned = distinct.str.replace(NEGATED_COMPLETION, " ", regex=True)
    cleaned = cleaned.str.replace(r"\s+", " ", regex=True).str.strip()
    for rule in rules.itertuples(index=False):  # a few dozen rules, over distinct texts
        todo = result.isna()
        if not todo.any():
            break
        with warnings.catch_warnings():  # rule patterns may use groups
            warnings.simplefilter("ignore", UserWarning)
            hit = cleaned[todo].str.contains(rule.pattern, case=False, regex=True)
        result[hit[hit].index] = rule.code
    result = np.append(result.fillna("unclassified").to_numpy(dtype=object), pd.NA)
    return pd.Series(result[codes], index=texts.index, dtype="string")


def observed_cases(cohort: Cohort, as_of: DateLike) -> pd.DataFrame:
    """The cases that are part of the cohort at ``as_of``: intake on or before it.

    Every analysis starts from these rows, so a case admitted after the end
    of observation never enters a denominator.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).

    Returns
    -------
    DataFrame
        The rows of ``cohort.cases`` with ``intake_date`` on or before ``as_of``.
    """
    as_of = as_as_of(as_of)
    cases = cohort.cases
    return cases[cases["intake_date"] <= as_of].reset_index(drop=True)


def case_exits(cohort: Cohort, as_of: DateLike) -> pd.DataFrame:
    """One row per case observed by ``as_of``: whether and why it ended.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).

    Returns
    -------
    DataFrame
        ``case_id, placement_id, intake_date``; ``closed`` (bool: a
        ``closed_date`` is recorded and not after ``as_of``);
        ``closed_date`` (NaT for cases open at ``as_of``: a closure after
        ``as_of`` is not yet known); ``exit_reason``, ``exit_type``,
        ``teds_reason``, ``ends_monitoring`` (from the taxonomy; missing
        for open cases).

    Notes
    -----
    Cases with intake after ``as_of`` are not part of the cohort at
    ``as_of`` and are left out. A case open at ``as_of`` is never counted as
    a dropout.
    """
    as_of = as_as_of(as_of)
    cases = observed_cases(cohort, as_of)
    closed = (cases["closed_date"] <= as_of).fillna(False).astype(bool)
    reason = cases["exit_reason"].where(closed)
    taxonomy = exit_taxonomy().set_index("code")
    return pd.DataFrame(
        {
            "case_id": cases["case_id"],
            "placement_id": cases["placement_id"],
            "intake_date": cases["intake_date"],
            "closed": closed,
            "closed_date": cases["closed_date"].where(closed),
            "exit_reason": reason,
            "exit_type": reason.map(taxonomy["exit_type"]).astype("string"),
            "teds_reason": reason.map(taxonomy["teds_reason"]).astype("Int64"),
            "ends_monitoring": reason.map(taxonomy["ends_monitoring"]).astype("boolean"),
        }
    )
