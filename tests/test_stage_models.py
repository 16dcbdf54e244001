"""Stage models are data: shipped models, aliases and user-defined models."""

from __future__ import annotations

import pandas as pd
import pytest

from casework_analytics import CaseworkError, StageModel, available_stage_models, get_stage_model


def test_shipped_models_follow_the_domain_brief():
    assert set(available_stage_models()) == {"skidmore", "generalist", "bnn_outpatient"}
    assert get_stage_model().stages == ("engagement", "assessment", "intervention", "termination")
    assert get_stage_model("generalist").stages == (
        "engagement",
        "assessment",
        "planning",
        "implementation",
        "evaluation",
        "termination",
        "follow_up",
    )
    assert "follow_up" in get_stage_model("generalist").repeatable


@pytest.mark.parametrize(
    ("label", "stage"),
    [
        ("penelitian", "engagement"),
        ("Relasi", "engagement"),
        ("kontrak", "engagement"),
        ("ENGAGEMENT", "engagement"),
        ("pengkajian", "assessment"),
        ("asesmen", "assessment"),
        ("intervensi", "intervention"),
        ("terminasi", "termination"),
        ("tahap  penelitian", "engagement"),
    ],
)
def test_indonesian_and_english_aliases(label, stage):
    assert get_stage_model().canonical(pd.Series([label])).iloc[0] == stage


def test_user_model_from_list_and_errors():
    model = get_stage_model(["intake", "plan", "close"])
    assert model.position(pd.Series(["close", "intake", "x"])).tolist() == [3, 1, pd.NA]
    with pytest.raises(CaseworkError, match="must be one of"):
        get_stage_model("kanban")
    with pytest.raises(CaseworkError, match="distinct stage names"):
        StageModel.from_stages(["a", "a"])
    with pytest.raises(CaseworkError, match="not one of"):
        StageModel.from_stages(["a"], aliases={"x": "b"})
    # An empty name, one that is not text, or one holding the separator of the
    # skipped_stages column could not be read back from the tables.
    for stages in (["", "a"], [" ", "a"], [1, 2], ["a|b", "c"]):
        with pytest.raises(CaseworkError, match="non-empty text without '\\|'"):
            StageModel.from_stages(stages)
        with pytest.raises(CaseworkError, match="non-empty text without '\\|'"):
            StageModel(name="direct", stages=tuple(stages))


def test_labels_in_both_languages():
    model = get_stage_model()
    assert model.label("termination", "id") == "Terminasi"
    with pytest.raises(CaseworkError, match="`lang`"):
        model.label("termination", "fr")
