"""casework_analytics: validated loading and outcome analytics for social-work
casework with people recovering from drug dependency.

The main entry point is :func:`load`, which returns a validated
:class:`Cohort`. The analysis modules are attributes, imported on first use
(``ca.stages``, ``ca.exits``, ``ca.recovery``, ...), so ``import
casework_analytics`` stays quick.

Examples
--------
>>> import casework_analytics as ca
>>> ca.stages.stage_funnel(ca.load("data/sample"), "2025-04-15")["reached"].iloc[0]
np.int64(205)
"""

import importlib

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

#: Submodules reachable as attributes of the package, imported on first use.
MODULES = (
    "attention",
    "closures",
    "comparisons",
    "contacts",
    "dashboard",
    "disclosure",
    "evaluation",
    "exits",
    "grouping",
    "intervals",
    "labels",
    "length_of_stay",
    "plots",
    "privacy",
    "publish",
    "recovery",
    "report",
    "stages",
    "summary",
    "survival",
    "synthetic",
    "template",
    "timelines",
)


def __getattr__(name: str):
    if name in MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *MODULES])
