"""How far cases get through the casework stages: per-case progression and
the stage funnel.

Both follow the stage model the cohort was loaded with (``cohort.stage_model``),
including user-defined models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .closures import case_exits
from .grouping import DateLike, GroupBy, as_as_of, attach_groups, case_groups, with_overall
from .intervals import wilson_interval
from .keys import positions, take

__all__ = [
    "furthest_stage",
    "stage_progress",
    "funnel_flags",
    "stage_funnel",
]

if TYPE_CHECKING:
    from .cohort import Cohort
    from .stage_models import StageModel
    from .summary import Summary


def _stage_starts(cohort, cutoff: pd.Series | pd.Timestamp) -> pd.DataFrame:
    """First start and last completion per case and stage, on or before ``cutoff``.

    ``cutoff`` is one date or a per-case Series (indexed by case_id).
    Completions after the cutoff are treated as not (yet) completed.
    """
    stages = cohort.stages
    if isinstance(cutoff, pd.Series):
        where = positions(stages["case_id"], cutoff.index)
        limit = take(cutoff, where).to_numpy(dtype="datetime64[ns]")
        kept = stages["started_on"].to_numpy() <= limit
        stages, limit = stages[kept], limit[kept]
    else:
        stages = stages[stages["started_on"] <= cutoff]
        limit = np.full(len(stages), cutoff.to_datetime64())
    stages = stages.assign(
        completed_on=stages["completed_on"].where(stages["completed_on"] <= limit)
    )
    return (
        stages.groupby(["case_id", "stage"], observed=True)
        .agg(started_on=("started_on", "min"), completed_on=("completed_on", "max"))
        .reset_index()
    )


def _distinct_rows(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean matrix, and each row's position among them."""
    if flags.shape[1] > 62:  # too wide for one integer per row: NumPy's (slower) row sort
        found, code = np.unique(flags, axis=0, return_inverse=True)
        return found, code.reshape(-1)
    bits = np.left_shift(1, np.arange(flags.shape[1], dtype=np.int64))
    found, code = np.unique(flags @ bits, return_inverse=True)
    return (found[:, None] & bits) > 0, code.reshape(-1)


def furthest_stage(cohort: Cohort, cutoff: pd.Series | pd.Timestamp) -> pd.DataFrame:
    """Furthest stage of the model started on or before ``cutoff``, per case.

    Returns ``case_id, furthest_stage, furthest_position`` for cases with at
    least one stage by then.

    Parameters
    ----------
    cohort : Cohort
    cutoff : Timestamp or Series
        One date, or a date per case (a Series indexed by ``case_id``).

    Returns
    -------
    DataFrame
        ``case_id, furthest_stage, furthest_position``.
    """
    model = cohort.stage_model
    starts = _stage_starts(cohort, cutoff)
    starts["position"] = model.position(starts["stage"])
    best = starts.sort_values("position").drop_duplicates("case_id", keep="last")
    return pd.DataFrame(
        {
            "case_id": best["case_id"],
            "furthest_stage": best["stage"].astype("string"),
            "furthest_position": best["position"].astype("int64"),
        }
    ).reset_index(drop=True)


def stage_progress(cohort: Cohort, as_of: DateLike, *, run: Summary | None = None) -> pd.DataFrame:
    """One row per case: how far it got through the stages by ``as_of``.

    Definition
    ----------
    Time origin: intake. End of observation: ``as_of``; stages started and
    completions recorded after it are ignored, and cases with intake after
    it are left out. For each stage ``s`` of the model:

    * ``started_<s>``: a start is recorded on or before ``as_of``.
    * ``completed_<s>``: a completion is recorded on or before ``as_of``.
    * ``days_to_<s>``: days from intake to the (first) start; NA if not started.
    * ``days_in_<s>``: days from the start to the completion; if no
      completion is recorded, to the start of the next stage that was
      started; failing that, to the closure date or ``as_of`` for open cases
      (time so far). NA if not started.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).

    Returns
    -------
    DataFrame
        ``case_id, placement_id, intake_date, status`` (``open``/``closed`` at
        ``as_of``), ``closed_date``, ``exit_reason``, ``furthest_stage``
        (NA if no stage), ``furthest_position`` (0 if none),
        ``stages_started``, ``stages_completed``, ``skipped_stages`` (stages
        before the furthest one that were never started, joined by ``|``),
        ``n_skipped``, ``termination_planned`` (True if closed with a planned
        exit type, False if closed otherwise, NA while open), then the four
        columns above for every stage in model order.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort and ``as_of``, whose case exits are reused.
    """
    as_of = as_as_of(as_of)
    model = cohort.stage_model
    exits = case_exits(cohort, as_of) if run is None else run.exits
    starts = _stage_starts(cohort, as_of)
    # Wide (case x stage) arrays by position: the rows of exits, the stages of the model.
    row = positions(starts["case_id"], exits["case_id"])
    col = positions(starts["stage"], pd.Index(model.stages))
    kept = (row >= 0) & (col >= 0)
    row, col = row[kept], col[kept]
    index = pd.Index(exits["case_id"])
    shape = (len(index), len(model.stages))
    wide_start = np.full(shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    wide_done = np.full(shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    wide_start[row, col] = starts["started_on"].to_numpy(dtype="datetime64[ns]")[kept]
    wide_done[row, col] = starts["completed_on"].to_numpy(dtype="datetime64[ns]")[kept]

    intake = exits.set_index("case_id")["intake_date"].to_numpy()[:, None]
    end = exits["closed_date"].fillna(as_of).to_numpy()[:, None]
    day = np.timedelta64(1, "D")
    start_days = (wide_start - intake) / day
    done_days = (wide_done - intake) / day
    end_days = (end - intake) / day
    # Earliest start among later stages, per stage (reverse running minimum).
    later = np.fmin.accumulate(start_days[:, ::-1], axis=1)[:, ::-1]
    next_start = np.column_stack([later[:, 1:], np.full(len(index), np.nan)])
    next_start = np.where(next_start >= start_days, next_start, np.nan)
    stop = np.where(
        np.isnan(done_days), np.where(np.isnan(next_start), end_days, next_start), done_days
    )
    days_in = np.where(np.isnan(start_days), np.nan, stop - start_days)

    started = ~np.isnan(start_days)
    completed = ~np.isnan(done_days)
    stage_positions = np.arange(1, len(model.stages) + 1)
    furthest_pos = np.where(started, stage_positions, 0).max(axis=1)
    skipped = (~started) & (stage_positions[None, :] < furthest_pos[:, None])
    names = np.asarray(model.stages, dtype=object)
    # Each distinct set of skipped stages is written once, then looked up per case.
    found, code = _distinct_rows(skipped)
    texts = ["|".join(names[each]) or None for each in found]
    skipped_text = pd.array(texts, dtype="string").take(code)

    out = pd.DataFrame(
        {
            "case_id": exits["case_id"],
            "placement_id": exits["placement_id"],
            "intake_date": exits["intake_date"],
            "status": np.where(exits["closed"], "closed", "open"),
            "closed_date": exits["closed_date"],
            "exit_reason": exits["exit_reason"],
            "furthest_stage": pd.Series(
                np.where(furthest_pos > 0, names[np.maximum(furthest_pos - 1, 0)], None),
                dtype="string",
            ),
            "furthest_position": furthest_pos.astype("int64"),
            "stages_started": started.sum(axis=1).astype("int64"),
            "stages_completed": completed.sum(axis=1).astype("int64"),
            "skipped_stages": skipped_text,
            "n_skipped": skipped.sum(axis=1).astype("int64"),
            "termination_planned": pd.array(
                np.where(exits["closed"], exits["exit_type"] == "planned", None), dtype="boolean"
            ),
        }
    )
    for j, name in enumerate(names):
        out[f"started_{name}"] = started[:, j]
        out[f"completed_{name}"] = completed[:, j]
        out[f"days_to_{name}"] = (
            pd.array(start_days[:, j]).astype("Float64").round().astype("Int64")
        )
        out[f"days_in_{name}"] = pd.array(days_in[:, j]).astype("Float64").round().astype("Int64")
    return out


def funnel_flags(progress: pd.DataFrame, model: StageModel) -> dict[str, np.ndarray]:
    """Per case and stage, whether the case counts in each column of the funnel.

    Parameters
    ----------
    progress : DataFrame
        From :func:`stage_progress`.
    model : StageModel
        The cohort's stage model.

    Returns
    -------
    dict of ndarray
        ``reached``, ``completed``, ``in_stage``: boolean arrays of shape
        (cases, stages in model order), defined as in :func:`stage_funnel`.
    """
    positions = np.arange(1, len(model.stages) + 1)
    furthest = progress["furthest_position"].to_numpy()[:, None]
    recorded = progress[[f"completed_{s}" for s in model.stages]].to_numpy(dtype=bool)
    return {
        "reached": furthest >= positions[None, :],
        "completed": recorded | (furthest > positions[None, :]),
        "in_stage": (
            (progress["status"].to_numpy()[:, None] == "open") & (furthest == positions) & ~recorded
        ),
    }


def stage_funnel(
    cohort: Cohort,
    as_of: DateLike,
    by: GroupBy = None,
    *,
    overall: bool = True,
    confidence: float = 0.95,
    run: Summary | None = None,
) -> pd.DataFrame:
    """The stage funnel per group: reached, completed, conversion, in stage.

    Definition
    ----------
    Denominator (``n_cases``): cases with intake on or before ``as_of``.
    A case has *reached* a stage if it started that stage or any later one
    by ``as_of`` (so the funnel never increases from one stage to the next;
    skipped stages count as passed through and are reported per case by
    :func:`stage_progress`). It has *completed* a stage if a completion is
    recorded by ``as_of`` or a later stage was started. *In stage* counts
    cases still open at ``as_of`` whose furthest stage is this one and is
    not completed. Open cases are never counted as dropouts.

    Parameters
    ----------
    cohort : Cohort
    as_of : date
        End of observation (explicit).
    by : str, list of str or DataFrame, optional
        Group columns of cases or placements (see
        :mod:`casework_analytics.grouping`).
    overall : bool
        Follow the groups with the whole-cohort rows (``All``).
    confidence : float
        Coverage of the intervals (0.95).

    Returns
    -------
    DataFrame
        Group columns, ``stage``, ``stage_position``, ``n_cases``,
        ``reached``, ``completed``, ``in_stage``, ``share_reached`` =
        reached / n_cases with ``share_ci_low``, ``share_ci_high`` (Wilson),
        ``conversion`` = reached / reached at the previous stage (n_cases for
        the first stage) with ``conversion_ci_low``, ``conversion_ci_high``.

    Other Parameters
    ----------------
    run : Summary, optional
        A run of the same cohort, ``as_of`` and ``by``, whose stage progress
        and groups are reused.
    """
    as_of = as_as_of(as_of)
    model = cohort.stage_model
    progress = stage_progress(cohort, as_of) if run is None else run.progress
    groups, cols = case_groups(cohort, by) if run is None else run.grouping
    progress = attach_groups(progress, groups, cols)
    flags = funnel_flags(progress, model)
    positions = np.arange(1, len(model.stages) + 1)
    long = pd.DataFrame(
        {
            **{c: np.repeat(progress[c].to_numpy(), len(positions)) for c in cols},
            "stage_position": np.tile(positions, len(progress)),
            **{name: matrix.ravel() for name, matrix in flags.items()},
        }
    )

    def summarise(data, keys):
        counts = (
            data.groupby([*keys, "stage_position"])
            .agg(
                n_cases=("reached", "size"),
                reached=("reached", "sum"),
                completed=("completed", "sum"),
                in_stage=("in_stage", "sum"),
            )
            .reset_index()
        )
        counts["previous"] = counts.groupby(keys)["reached"].shift(1)
        counts["previous"] = counts["previous"].fillna(counts["n_cases"]).astype("int64")
        return counts

    out = with_overall(long, cols, summarise, overall)
    out["stage"] = np.asarray(model.stages, dtype=object)[out["stage_position"] - 1]
    out["share_reached"] = out["reached"] / out["n_cases"].where(out["n_cases"] > 0)
    out["share_ci_low"], out["share_ci_high"] = wilson_interval(
        out["reached"], out["n_cases"], confidence
    )
    out["conversion"] = out["reached"] / out["previous"].where(out["previous"] > 0)
    out["conversion_ci_low"], out["conversion_ci_high"] = wilson_interval(
        out["reached"], out["previous"], confidence
    )
    return out[
        [
            *cols,
            "stage",
            "stage_position",
            "n_cases",
            "reached",
            "completed",
            "in_stage",
            "share_reached",
            "share_ci_low",
            "share_ci_high",
            "conversion",
            "conversion_ci_low",
            "conversion_ci_high",
        ]
    ]
