"""A toy cohort with every number of the stage, exit, LOS and contact
analyses worked out by hand (see the comments in the tests that use it).

End of observation for the hand calculations: 2024-06-30.
"""

from __future__ import annotations

from io import StringIO

import pandas as pd

AS_OF = "2024-06-30"

TOY_CSV = {
    "placements": """placement_id,site,caseworker_id,start_date,end_date
P1,S1,CW1,2024-03-01,2024-05-31
P2,S2,CW2,2024-03-01,2024-05-31
""",
    "cases": """case_id,placement_id,client_id,intake_date,closed_date,closure_reason
A,P1,K1,2024-03-01,2024-05-01,jadwal tidak cocok
B,P1,K2,2024-03-05,,
C,P2,K3,2024-03-10,2024-04-30,tujuan tercapai
D,P2,K4,2024-03-15,2024-03-20,dirujuk ke RS
E,P1,K5,2024-06-25,,
""",
    "stages": """case_id,stage,started_on,completed_on
A,engagement,2024-03-01,2024-03-10
A,assessment,2024-03-10,
B,engagement,2024-03-05,
B,intervention,2024-03-20,
C,engagement,2024-03-10,2024-03-15
C,assessment,2024-03-15,2024-03-25
C,intervention,2024-03-25,2024-04-20
C,termination,2024-04-20,2024-04-30
D,engagement,2024-03-15,
E,engagement,2024-07-15,
""",
    "sessions": """case_id,session_date,status
A,2024-03-01,held
A,2024-03-08,missed_client
A,2024-03-15,missed_client
A,2024-03-22,held
A,2024-03-29,cancelled
C,2024-03-10,held
C,2024-03-17,held
C,2024-03-24,missed_worker
C,2024-03-31,held
C,2024-04-28,held
D,2024-03-15,held
""",
    "visits": """case_id,visit_date,attended,test_result
A,2024-03-01,ya,positive
A,2024-03-08,ya,negative
A,2024-04-10,tidak,
C,2024-03-10,ya,negative
""",
}


def toy_tables() -> dict[str, pd.DataFrame]:
    """The toy cohort as raw text frames (a valid in-memory source)."""
    return {name: pd.read_csv(StringIO(text), dtype=str) for name, text in TOY_CSV.items()}
