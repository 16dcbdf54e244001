"""The data contract: the five tables, their columns, and pandera schemas.

Each table is described once, in :data:`TABLES`, by its columns and their
kind. The kind says how a raw value is parsed (see
:mod:`casework_analytics.parsing`) and the pandera model below says which
parsed values are acceptable. ``docs/data-contract.md`` is the prose version.

Column kinds
------------
``id``       text identifier, trimmed
``text``     free text, trimmed
``date``     ISO ``yyyy-mm-dd`` or day-first ``dd/mm/yyyy`` (never month-first)
``bool``     ya/tidak, yes/no, true/false, 1/0
``number``   a decimal number
``vocab:F``  a value of the controlled vocabulary ``F`` (with aliases)
``stage``    a stage of the cohort's stage model (with aliases)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .vocabulary import VOCABULARIES

__all__ = [
    "TableSpec",
    "TABLES",
    "REQUIRED_TABLES",
    "OPTIONAL_TABLES",
    "PlacementSchema",
    "CaseSchema",
    "StageSchema",
    "SessionSchema",
    "VisitSchema",
    "SCHEMAS",
    "schema_for",
]


@dataclass(frozen=True)
class TableSpec:
    """Columns of one table of the data contract."""

    name: str
    required: dict[str, str]
    optional: dict[str, str]
    key: str | None = None

    @property
    def columns(self) -> dict[str, str]:
        """Every known column and its kind, required first."""
        return {**self.required, **self.optional}


TABLES: dict[str, TableSpec] = {
    "placements": TableSpec(
        "placements",
        required={
            "placement_id": "id",
            "site": "text",
            "caseworker_id": "id",
            "start_date": "date",
            "end_date": "date",
        },
        optional={"program": "text", "supervisor_id": "id", "term": "text"},
        key="placement_id",
    ),
    "cases": TableSpec(
        "cases",
        required={
            "case_id": "id",
            "placement_id": "id",
            "client_id": "id",
            "intake_date": "date",
        },
        optional={
            "sex": "vocab:sex",
            "age_at_intake": "number",
            "occupation": "text",
            "primary_substance": "vocab:substance",
            "referral_source": "vocab:referral_source",
            "assist_risk": "vocab:assist_risk",
            "closed_date": "date",
            "closure_reason": "text",
            "closure_note": "text",
            "monitoring_end_date": "date",
        },
        key="case_id",
    ),
    "stages": TableSpec(
        "stages",
        required={"case_id": "id", "stage": "stage", "started_on": "date"},
        optional={"completed_on": "date"},
    ),
    "sessions": TableSpec(
        "sessions",
        required={"case_id": "id", "session_date": "date", "status": "vocab:session_status"},
        optional={"stage": "stage", "duration_min": "number", "missed_reason": "text"},
    ),
    "visits": TableSpec(
        "visits",
        required={"case_id": "id", "visit_date": "date", "attended": "bool"},
        optional={
            "test_result": "vocab:test_result",
            "substance": "vocab:substance",
            "self_report_use_days": "number",
            "note": "text",
        },
    ),
}

#: Tables a source must contain; the others may be absent.
REQUIRED_TABLES = ("placements", "cases", "stages")
OPTIONAL_TABLES = ("sessions", "visits")

Text = Series[pd.StringDtype]
Date = Series[pd.Timestamp]


class _Base(pa.DataFrameModel):
    class Config:
        strict = False
        coerce = False


class PlacementSchema(_Base):
    """A student's field placement at an agency (one caseworker)."""

    placement_id: Text = pa.Field(nullable=False)
    site: Text = pa.Field(nullable=False)
    caseworker_id: Text = pa.Field(nullable=False)
    start_date: Date = pa.Field(nullable=False)
    end_date: Date = pa.Field(nullable=False)
    program: Text | None = pa.Field(nullable=True)
    supervisor_id: Text | None = pa.Field(nullable=True)
    term: Text | None = pa.Field(nullable=True)


class CaseSchema(_Base):
    """A client's case, opened at intake within a placement."""

    case_id: Text = pa.Field(nullable=False)
    placement_id: Text = pa.Field(nullable=False)
    client_id: Text = pa.Field(nullable=False)
    intake_date: Date = pa.Field(nullable=False)
    sex: Text | None = pa.Field(nullable=True, isin=VOCABULARIES["sex"])
    age_at_intake: Series[float] | None = pa.Field(nullable=True, ge=10, le=100)
    occupation: Text | None = pa.Field(nullable=True)
    primary_substance: Text | None = pa.Field(nullable=True, isin=VOCABULARIES["substance"])
    referral_source: Text | None = pa.Field(nullable=True, isin=VOCABULARIES["referral_source"])
    assist_risk: Text | None = pa.Field(nullable=True, isin=VOCABULARIES["assist_risk"])
    closed_date: Date | None = pa.Field(nullable=True)
    closure_reason: Text | None = pa.Field(nullable=True)
    closure_note: Text | None = pa.Field(nullable=True)
    monitoring_end_date: Date | None = pa.Field(nullable=True)


class StageSchema(_Base):
    """A casework stage started (and perhaps completed) for a case.

    The allowed stage codes depend on the stage model; :func:`schema_for`
    adds that check.
    """

    case_id: Text = pa.Field(nullable=False)
    stage: Text = pa.Field(nullable=False)
    started_on: Date = pa.Field(nullable=False)
    completed_on: Date | None = pa.Field(nullable=True)


class SessionSchema(_Base):
    """A scheduled casework contact between caseworker and client."""

    case_id: Text = pa.Field(nullable=False)
    session_date: Date = pa.Field(nullable=False)
    status: Text = pa.Field(nullable=False, isin=VOCABULARIES["session_status"])
    stage: Text | None = pa.Field(nullable=True)
    duration_min: Series[float] | None = pa.Field(nullable=True, ge=0, le=24 * 60)
    missed_reason: Text | None = pa.Field(nullable=True)


class VisitSchema(_Base):
    """A scheduled monitoring visit (usually a weekly urine screen)."""

    case_id: Text = pa.Field(nullable=False)
    visit_date: Date = pa.Field(nullable=False)
    attended: Series[pd.BooleanDtype] = pa.Field(nullable=False)
    test_result: Text | None = pa.Field(nullable=True, isin=VOCABULARIES["test_result"])
    substance: Text | None = pa.Field(nullable=True, isin=VOCABULARIES["substance"])
    self_report_use_days: Series[float] | None = pa.Field(nullable=True, ge=0, le=7)
    note: Text | None = pa.Field(nullable=True)


SCHEMAS: dict[str, type[_Base]] = {
    "placements": PlacementSchema,
    "cases": CaseSchema,
    "stages": StageSchema,
    "sessions": SessionSchema,
    "visits": VisitSchema,
}


def schema_for(table: str, stages: tuple[str, ...]) -> pa.DataFrameSchema:
    """The pandera schema of ``table``, with stage columns checked against ``stages``.

    Parameters
    ----------
    table : str
        A table of the data contract.
    stages : tuple of str
        The stage codes of the cohort's stage model.

    Returns
    -------
    pandera.DataFrameSchema
    """
    schema = SCHEMAS[table].to_schema()
    for column, kind in TABLES[table].columns.items():
        if kind == "stage":
            schema = schema.update_column(column, checks=[pa.Check.isin(list(stages))])
    return schema
