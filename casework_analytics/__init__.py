"""casework_analytics: validated loading and outcome analytics for social-work
casework with people recovering from drug dependency.

The main entry point is :func:`load`, which returns a validated
:class:`Cohort`.
"""

from .cohort import Cohort, load
from .errors import CaseworkError, MissingTableError, SourceError, ValidationError
from .stage_models import StageModel, available_stage_models, get_stage_model

__all__ = [
    "CaseworkError",
    "Cohort",
    "MissingTableError",
    "SourceError",
    "StageModel",
    "ValidationError",
    "available_stage_models",
    "get_stage_model",
    "load",
]
__version__ = "0.1.0"
