"""Casework stage models, stored as data.

A stage model is an ordered list of stages with English and Indonesian
labels, the aliases under which each stage appears in real records, and
whether a stage may be recorded more than once for a case. Three models ship
in ``casework_analytics/data/stage_models.csv``:

``skidmore`` (default)
    Skidmore, Thackeray & Farley (1994), as taught in Indonesian
    social-welfare programs: engagement, assessment, intervention,
    termination.
``generalist``
    The Generalist Intervention Model (Kirst-Ashman & Hull): engagement,
    assessment, planning, implementation, evaluation, termination,
    follow-up.
``bnn_outpatient``
    The BNN outpatient rehabilitation pathway: screening, assessment,
    outpatient sessions, post-rehabilitation monitoring.

A user-defined model is built with :meth:`StageModel.from_stages`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .errors import CaseworkError
from .vocabulary import map_labels, read_package_table

__all__ = [
    "DEFAULT_STAGE_MODEL",
    "StageModel",
    "available_stage_models",
    "get_stage_model",
]

DEFAULT_STAGE_MODEL = "skidmore"


def _check_names(stages) -> None:
    """Refuse stage names the tables could not show: empty, not text, or with '|'."""
    unnamed = [s for s in stages if not isinstance(s, str) or not s.strip() or "|" in s]
    if unnamed:
        raise CaseworkError(
            "Each stage of a model must be named by non-empty text without '|' (the "
            f"separator of skipped stages in the tables), but {unnamed!r} was passed."
        )


@dataclass(frozen=True)
class StageModel:
    """An ordered casework stage model.

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``"skidmore"``.
    stages : tuple of str
        Canonical stage codes in order.
    labels_en, labels_id : dict
        Display labels in English and Indonesian, keyed by stage code.
    aliases : dict
        Normalised alias (lower case, single spaces) to stage code. Every
        stage code is its own alias.
    repeatable : frozenset
        Stages that may be recorded more than once for a case.
    """

    name: str
    stages: tuple[str, ...]
    labels_en: dict[str, str] = field(default_factory=dict)
    labels_id: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    repeatable: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _check_names(self.stages)

    @classmethod
    def from_stages(
        cls,
        stages: list[str],
        *,
        name: str = "custom",
        aliases: dict[str, str] | None = None,
        repeatable: list[str] | tuple[str, ...] = (),
        labels_en: dict[str, str] | None = None,
        labels_id: dict[str, str] | None = None,
    ) -> StageModel:
        """Build a user-defined model from an ordered list of stage codes.

        Parameters
        ----------
        stages : list of str
            Stage codes in casework order, e.g. ``["intake", "plan", "close"]``.
        aliases : dict, optional
            Extra labels that mean a stage, e.g. ``{"rencana": "plan"}``.
        repeatable : sequence of str
            Stages that may occur more than once per case.

        Returns
        -------
        StageModel

        Examples
        --------
        >>> model = StageModel.from_stages(["intake", "plan"], aliases={"rencana": "plan"})
        >>> model.canonical(pd.Series(["Rencana", "intake"])).tolist()
        ['plan', 'intake']
        """
        if len(stages) == 0 or len(set(stages)) != len(stages):
            raise CaseworkError(
                f"A stage model needs distinct stage names in order, but {stages!r} was passed."
            )
        _check_names(stages)
        all_aliases = {str(s).strip().lower().replace("_", " "): s for s in stages}
        for alias, stage in (aliases or {}).items():
            if stage not in stages:
                raise CaseworkError(
                    f"Alias {alias!r} points to stage {stage!r}, "
                    f"which is not one of {list(stages)}."
                )
            all_aliases[" ".join(str(alias).lower().replace("_", " ").split())] = stage
        unknown = set(repeatable) - set(stages)
        if unknown:
            raise CaseworkError(
                f"`repeatable` names stages {sorted(unknown)} that are not in {list(stages)}."
            )
        return cls(
            name=name,
            stages=tuple(stages),
            labels_en=labels_en or {s: s.replace("_", " ").capitalize() for s in stages},
            labels_id=labels_id or {s: s.replace("_", " ").capitalize() for s in stages},
            aliases=all_aliases,
            repeatable=frozenset(repeatable),
        )

    def canonical(self, labels: pd.Series) -> pd.Series:
        """Map stage labels (any alias, any case, "Tahap ..." or "relasi dan
        kontrak" forms; see :func:`~casework_analytics.vocabulary.map_labels`)
        to stage codes; unknown → NA.

        Parameters
        ----------
        labels : Series
            Stage labels as written.

        Returns
        -------
        Series
            Stage codes, NA where a label is unknown.
        """
        return map_labels(labels, self.aliases)

    def position(self, stages: pd.Series) -> pd.Series:
        """1-based position of each stage code in the model (NA if unknown).

        Parameters
        ----------
        stages : Series
            Stage codes.

        Returns
        -------
        Series of Int64
        """
        order = {stage: i + 1 for i, stage in enumerate(self.stages)}
        return stages.map(order).astype("Int64")

    def label(self, stage: str, lang: str = "en") -> str:
        """Display label of a stage in ``lang`` (``"en"`` or ``"id"``).

        Parameters
        ----------
        stage : str
            A stage code (returned as it is if the model has no label for it).
        lang : {"en", "id"}

        Returns
        -------
        str
        """
        if lang not in ("en", "id"):
            raise CaseworkError(
                f"The value for `lang` must be 'en' or 'id', but {lang!r} was passed."
            )
        labels = self.labels_en if lang == "en" else self.labels_id
        return labels.get(stage, stage)


def _models_from_table(table: pd.DataFrame) -> dict[str, StageModel]:
    models = {}
    for name, rows in table.groupby("model", sort=False):
        rows = rows.sort_values("position", key=lambda s: s.astype(int))
        stages = rows["stage"].tolist()
        aliases = {
            alias.strip(): stage
            for stage, alias_list in zip(rows["stage"], rows["aliases"], strict=True)
            for alias in alias_list.split("|")
            if alias.strip()
        }
        models[str(name)] = StageModel.from_stages(
            stages,
            name=str(name),
            aliases=aliases,
            repeatable=rows.loc[rows["repeatable"] == "true", "stage"].tolist(),
            labels_en=dict(zip(rows["stage"], rows["label_en"], strict=True)),
            labels_id=dict(zip(rows["stage"], rows["label_id"], strict=True)),
        )
    return models


def available_stage_models() -> list[str]:
    """Names of the stage models shipped with the package.

    Returns
    -------
    list of str
    """
    return list(_models_from_table(read_package_table("stage_models.csv")))


def get_stage_model(model: str | StageModel | list[str] | None = None) -> StageModel:
    """Resolve a stage model given by name, as an object, or as a list of stages.

    Parameters
    ----------
    model : str, StageModel, list of str or None
        ``None`` gives the default (``"skidmore"``). A list is turned into a
        user-defined model with :meth:`StageModel.from_stages`.

    Returns
    -------
    StageModel
    """
    if model is None:
        model = DEFAULT_STAGE_MODEL
    if isinstance(model, StageModel):
        return model
    if isinstance(model, list | tuple):
        return StageModel.from_stages(list(model))
    models = _models_from_table(read_package_table("stage_models.csv"))
    if model not in models:
        raise CaseworkError(
            f"The value for `stage_model` must be one of {sorted(models)} or a list of stages, "
            f"but {model!r} was passed."
        )
    return models[model]
