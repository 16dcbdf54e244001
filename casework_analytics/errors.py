"""Exceptions raised by casework_analytics.

Every exception carries a message written for the person running the
analysis, not for the developer: it names the table, column or parameter
and says what is allowed.
"""

from __future__ import annotations

__all__ = [
    "CaseworkError",
    "SourceError",
    "ValidationError",
    "MissingTableError",
]


class CaseworkError(Exception):
    """Base class for every error this package raises on purpose."""


class SourceError(CaseworkError):
    """The source cannot be used at all: missing, unreadable, or a required
    table or column is absent."""


class ValidationError(CaseworkError):
    """Raised by ``load(..., errors="raise")`` when any row was rejected.

    Attributes
    ----------
    problems : pandas.DataFrame
        The full problem report (see :attr:`Cohort.problems`).
    """

    def __init__(self, message: str, problems):
        super().__init__(message)
        self.problems = problems


class MissingTableError(CaseworkError):
    """An analysis needs an optional table (sessions or visits) that the
    source did not contain."""
