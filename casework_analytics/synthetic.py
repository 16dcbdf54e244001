"""Seeded generator of realistic synthetic cohorts.

The generated cohorts are for demonstrations, tests and benchmarks. They
carry no real person's data. Every random draw comes from one
``numpy.random.Generator`` seeded by ``seed``, so the same arguments always
give the same cohort. Generation is vectorised (no loop over cases), so
national-size cohorts (100,000 cases) take seconds.

What is simulated
-----------------
* placements of about 11 weeks at BNNK city offices over several terms;
* 1 or more cases per placement, with attrition between the four stages of
  the Skidmore model;
* weekly casework sessions, missed by the client (more often where the
  client's schedule clashes with the caseworker's) or by the caseworker;
* closure reasons as free text in Indonesian or English, or as codes, with
  the student-casework reasons (placement ended, scheduling conflict,
  caseworker unavailable) and the TEDS-D ones;
* real effects for evaluators to find: high ASSIST risk lowers the chance
  of progressing through the stages; clients whose schedules clash with
  the caseworker's miss more sessions and end unplanned more often; and one
  site is a true outlier (see ``outlier``);
* weekly urine-screen monitoring for up to 26 weeks after intake, with early
  use, abstinence, lapses, relapses, missed visits and dropout; the planned
  end of monitoring (``monitoring_end_date``) once the 26 weeks have passed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import CaseworkError
from .outputs import write_source as write  # noqa: F401  (write a generated cohort)
from .vocabulary import column_aliases

__all__ = [
    "SITES",
    "TERMS",
    "DEFAULT_EXPORT_DATE",
    "MONITORING_WEEKS",
    "generate",
    "messy",
]

SITES = (
    "BNNK Tebing Tinggi",
    "BNNK Medan",
    "BNNK Binjai",
    "BNNK Pematangsiantar",
    "BNNK Tanjungbalai",
    "BNNK Sibolga",
)
TERMS = {"2024-1": "2024-02-05", "2024-2": "2024-08-05", "2025-1": "2025-02-03"}
DEFAULT_EXPORT_DATE = "2025-04-15"
#: Weeks of planned post-rehabilitation monitoring (BNN: 3-6 months).
MONITORING_WEEKS = 26

_SUBSTANCES = {
    "methamphetamine": 0.55,
    "cannabis": 0.18,
    "amphetamine": 0.07,
    "other_stimulant": 0.06,
    "alcohol": 0.05,
    "opioid": 0.03,
    "sedative": 0.03,
    "inhalant": 0.02,
    "other": 0.01,
}
_STAGES = ("engagement", "assessment", "intervention", "termination")
# (closure text, weight) when the case stopped before termination, by cause.
_UNPLANNED_TEXTS = {
    "scheduling_conflict": [
        "jadwal tidak cocok",
        "waktu bertemu tidak pas",
        "scheduling conflict with night shifts",
        "scheduling_conflict",
    ],
    "placement_ended": [
        "masa PKL berakhir sebelum tujuan tercapai",
        "placement ended",
        "PKL selesai",
    ],
    "dropped_out": [
        "klien berhenti datang",
        "client stopped attending",
        "dropped_out",
        "tidak ada kabar",
    ],
    "moved": ["pindah ke luar kota", "client moved away"],
    "incarcerated": ["ditahan polisi", "incarcerated"],
    "transferred": ["dirujuk ke rumah sakit jiwa", "referred to inpatient rehabilitation"],
    "died": ["meninggal dunia"],
    "caseworker_unavailable": ["praktikan sakit", "caseworker unavailable"],
    "unclassified": ["lain-lain", "lihat catatan"],
}
_UNPLANNED_WEIGHTS = {
    "scheduling_conflict": 0.3,
    "dropped_out": 0.4,
    "moved": 0.12,
    "incarcerated": 0.1,
    "died": 0.02,
    "unclassified": 0.06,
}
_ADMINISTRATIVE_WEIGHTS = {
    "placement_ended": 0.55,
    "transferred": 0.3,
    "caseworker_unavailable": 0.15,
}


def _choice(rng, options, weights, size):
    weights = np.asarray(weights, dtype=float)
    return np.asarray(options, dtype=object)[
        rng.choice(len(options), size=size, p=weights / weights.sum())
    ]


def _dates(values) -> pd.Series:
    return pd.Series(values).astype("datetime64[ns]")


def generate(
    placements: int = 36,
    *,
    seed: int = 0,
    mean_cases: float = 5.5,
    export_date: str = DEFAULT_EXPORT_DATE,
    sites: tuple[str, ...] = SITES,
    terms: dict[str, str] | None = None,
    outlier: bool = True,
) -> dict[str, pd.DataFrame]:
    """Generate a synthetic cohort.

    Parameters
    ----------
    placements : int
        Number of student placements (default 36, giving 150-300 cases).
    seed : int
        Seed of the random generator; the same seed gives the same cohort.
    mean_cases : float
        Mean number of cases per placement (at least one each).
    export_date : str
        The day the data were exported: nothing is dated after it, and cases
        still running then are open.
    sites : tuple of str
        Agency sites; placements are spread over them evenly.
    terms : dict, optional
        Term name to term start date; defaults to three terms 2024-2025.
    outlier : bool
        Plant a true outlier: with three or more sites, the cases of the
        last site are much less likely to progress through the stages
        (each stage 0.3 less likely to be reached), so fewer complete.

    Returns
    -------
    dict of DataFrame
        ``placements, cases, stages, sessions, visits`` in the canonical
        columns of the data contract.
    """
    if placements < 1:
        raise CaseworkError(f"`placements` must be at least 1, but {placements} was passed.")
    rng = np.random.default_rng(seed)
    terms = terms or TERMS
    export = pd.Timestamp(export_date)

    # Placements
    p_idx = np.arange(placements)
    term_names = np.array(list(terms), dtype=object)
    p_term = term_names[(p_idx // len(sites)) % len(term_names)]
    p_start = _dates(pd.to_datetime([terms[t] for t in p_term])) + pd.to_timedelta(
        rng.integers(0, 15, placements), unit="D"
    )
    p_end = p_start + pd.to_timedelta(77 + rng.integers(-7, 8, placements), unit="D")
    width = max(3, len(str(placements)))
    p_ids = np.char.add("P", np.char.zfill(p_idx.astype(str), width)).astype(object)
    placements_df = pd.DataFrame(
        {
            "placement_id": p_ids,
            "site": np.asarray(sites, dtype=object)[p_idx % len(sites)],
            "caseworker_id": np.char.add("CW", np.char.zfill(p_idx.astype(str), width)).astype(
                object
            ),
            "start_date": p_start,
            "end_date": p_end,
            "program": "Kesejahteraan Sosial",
            "supervisor_id": np.char.add("SV", (p_idx % len(sites)).astype(str)).astype(object),
            "term": p_term,
        }
    )

    # Cases
    per_placement = 1 + rng.poisson(max(mean_cases - 1, 0), placements)
    n = int(per_placement.sum())
    case_p = np.repeat(p_idx, per_placement)
    c_width = max(4, len(str(n)))
    case_ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), c_width))
    case_ids = case_ids.astype(object)
    intake = (
        p_start.to_numpy()[case_p] + pd.to_timedelta(rng.integers(0, 22, n), unit="D").to_numpy()
    )
    intake = pd.Series(intake).astype("datetime64[ns]")
    friction = rng.beta(2, 4, n)  # how badly client and caseworker schedules clash
    risk = _choice(rng, ["low", "moderate", "high"], [1, 3, 2], n)
    # Case mix and the planted outlier: high ASSIST risk, and the last site (when
    # there are three or more), make progress through the stages less likely.
    handicap = np.select([risk == "high", risk == "moderate"], [0.15, 0.05], 0.0)
    site_of_case = (case_p % len(sites)).astype(int)
    if outlier and len(sites) >= 3:
        handicap = handicap + np.where(site_of_case == len(sites) - 1, 0.5, 0.0)

    reach = (
        rng.random((n, 3))
        < np.array([0.98, 0.95, 0.93]) - 0.25 * friction[:, None] - handicap[:, None]
    )
    furthest = 1 + np.cumprod(reach, axis=1).sum(axis=1)  # 1..4
    durations = np.column_stack(
        [
            rng.integers(5, 15, n),
            rng.integers(7, 22, n),
            rng.integers(10, 36, n),
            rng.integers(3, 11, n),
        ]
    )
    offsets = np.column_stack([np.zeros(n, dtype=int), np.cumsum(durations, axis=1)[:, :3]])
    planned_stop = np.where(
        furthest == 4,
        offsets[:, 3] + durations[:, 3],
        offsets[np.arange(n), furthest - 1]
        + (rng.random(n) * durations[np.arange(n), furthest - 1]).astype(int),
    )
    # The student leaves when the placement ends: casework still running stops then.
    last_day = (p_end.to_numpy()[case_p] - intake.to_numpy()) // np.timedelta64(1, "D")
    cut_short = planned_stop > last_day
    stop_day = np.minimum(planned_stop, last_day)
    furthest = np.minimum(furthest, (offsets <= stop_day[:, None]).sum(axis=1))
    terminated = (furthest == 4) & ~cut_short
    closed = intake + pd.to_timedelta(stop_day, unit="D")
    is_open = (closed > export).to_numpy()

    # Clients whose schedules clash (and so miss sessions) end unplanned more often.
    unplanned = rng.random(n) < 0.3 + 0.6 * friction
    cause = np.where(
        terminated,
        np.where(rng.random(n) < 0.9, "completed", "placement_ended"),
        np.where(
            unplanned,
            _choice(rng, list(_UNPLANNED_WEIGHTS), list(_UNPLANNED_WEIGHTS.values()), n),
            _choice(rng, list(_ADMINISTRATIVE_WEIGHTS), list(_ADMINISTRATIVE_WEIGHTS.values()), n),
        ),
    ).astype(object)
    clash = (~terminated) & unplanned & (friction > 0.5) & (rng.random(n) < 0.6)
    cause[clash] = "scheduling_conflict"
    cause[cut_short & ~unplanned] = "placement_ended"
    text_options = {
        "completed": ["tujuan tercapai", "goals met", "completed", "selesai sesuai rencana"],
        **_UNPLANNED_TEXTS,
    }
    pick = rng.integers(0, 1000, n)
    # All texts in one flat array; each cause owns a slice of it.
    names = list(text_options)
    flat = np.array([t for name in names for t in text_options[name]], dtype=object)
    sizes = np.array([len(text_options[name]) for name in names])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    which = pd.Index(names).get_indexer(cause)
    reason_text = flat[starts[which] + pick % sizes[which]]
    substance = _choice(rng, list(_SUBSTANCES), list(_SUBSTANCES.values()), n)
    cases_df = pd.DataFrame(
        {
            "case_id": case_ids,
            "placement_id": p_ids[case_p],
            "client_id": np.char.add(
                "K", np.char.zfill(rng.permutation(n).astype(str), c_width + 1)
            ).astype(object),
            "intake_date": intake,
            "sex": _choice(rng, ["male", "female", "unknown"], [0.86, 0.13, 0.01], n),
            "age_at_intake": rng.integers(16, 56, n).astype(float),
            "occupation": _choice(
                rng,
                ["courier", "driver", "student", "labourer", "unemployed", "trader", "fisher"],
                [2, 2, 2, 3, 2, 2, 1],
                n,
            ),
            "primary_substance": substance,
            "referral_source": _choice(
                rng,
                ["voluntary", "family", "legal", "health_service", "employer", "other"],
                [4, 3, 2, 1, 0.5, 0.5],
                n,
            ),
            "assist_risk": risk,
            "closed_date": closed.mask(is_open),
            "closure_reason": pd.Series(reason_text).mask(is_open),
            "closure_note": pd.Series(
                np.where(
                    cause == "scheduling_conflict",
                    "Jadwal klien bentrok dengan jadwal praktikan.",
                    None,
                ),
                dtype=object,
            ).mask(is_open),
        }
    )

    # Stages: stage k is recorded when reached and started by the export date.
    k = np.arange(4)
    reached = k[None, :] < furthest[:, None]
    started = intake.to_numpy()[:, None] + (offsets * np.timedelta64(1, "D"))
    started_ok = reached & (started <= export.to_datetime64())
    completed = started + durations * np.timedelta64(1, "D")
    done = (k[None, :] < (furthest - 1)[:, None]) | (terminated[:, None] & (k[None, :] == 3))
    done &= (completed <= export.to_datetime64()) & (offsets + durations <= stop_day[:, None])
    rows, cols = np.nonzero(started_ok)
    stages_df = pd.DataFrame(
        {
            "case_id": case_ids[rows],
            "stage": np.asarray(_STAGES, dtype=object)[cols],
            "started_on": _dates(started[rows, cols]),
            "completed_on": _dates(
                np.where(done[rows, cols], completed[rows, cols], np.datetime64("NaT"))
            ),
        }
    )

    # Sessions: roughly weekly from intake until closure (or export).
    end_day = np.minimum(stop_day, (export - intake).dt.days.to_numpy())
    n_sessions = np.clip(end_day // 7 + 1, 1, 16)
    s_case = np.repeat(np.arange(n), n_sessions)
    s_week = np.arange(n_sessions.sum()) - np.repeat(np.cumsum(n_sessions) - n_sessions, n_sessions)
    s_day = np.minimum(s_week * 7 + rng.integers(0, 3, len(s_case)), end_day[s_case])
    u = rng.random(len(s_case))
    # Before an unplanned ending the client stops coming: missed sessions come first.
    ends_unplanned = np.isin(cause, list(_UNPLANNED_WEIGHTS))
    fading = ends_unplanned[s_case] & (s_day >= stop_day[s_case] - 21)
    p_client = 0.08 + 0.5 * friction[s_case] + 0.3 * fading
    status = np.select(
        [u < p_client, u < p_client + 0.06, u < p_client + 0.09, u < p_client + 0.13],
        ["missed_client", "missed_worker", "cancelled", "rescheduled"],
        "held",
    ).astype(object)
    s_stage_idx = (s_day[:, None] >= offsets[s_case]).sum(axis=1) - 1
    s_stage_idx = np.minimum(s_stage_idx, furthest[s_case] - 1)
    missed_text = np.where(
        status == "missed_client",
        _choice(
            rng,
            [
                "jadwal tidak cocok: klien kerja shift malam",
                "klien tidak bisa dihubungi",
                "klien sakit",
            ],
            [5, 2, 1],
            len(s_case),
        ),
        np.where(
            status == "missed_worker",
            _choice(rng, ["praktikan ada jadwal kuliah", "praktikan sakit"], [3, 1], len(s_case)),
            None,
        ),
    )
    sessions_df = pd.DataFrame(
        {
            "case_id": case_ids[s_case],
            "session_date": _dates(intake.to_numpy()[s_case] + s_day * np.timedelta64(1, "D")),
            "status": status,
            "stage": np.asarray(_STAGES, dtype=object)[s_stage_idx],
            "duration_min": np.where(status == "held", rng.integers(20, 91, len(s_case)), np.nan),
            "missed_reason": pd.Series(missed_text, dtype=object),
        }
    )

    # Visits: weekly screens from intake for up to 26 weeks, until the export.
    weeks_possible = np.clip((export - intake).dt.days.to_numpy() // 7 + 1, 0, MONITORING_WEEKS)
    dropout_week = rng.geometric(0.02 + 0.04 * friction)  # first week no longer coming
    scheduled_weeks = np.minimum(weeks_possible, dropout_week + 2)
    v_case = np.repeat(np.arange(n), scheduled_weeks)
    v_week = np.arange(scheduled_weeks.sum()) - np.repeat(
        np.cumsum(scheduled_weeks) - scheduled_weeks, scheduled_weeks
    )
    abstinent_from = rng.geometric(0.45, n) - 1
    relapses = rng.random(n) < 0.3
    relapse_week = np.where(relapses, abstinent_from + 4 + rng.geometric(0.12, n), 10_000)
    after_dropout = v_week >= dropout_week[v_case]
    missed = after_dropout | (rng.random(len(v_case)) < 0.03 + 0.06 * friction[v_case])
    using = np.where(
        v_week < abstinent_from[v_case],
        rng.random(len(v_case)) < 0.85,
        np.where(
            v_week >= relapse_week[v_case],
            rng.random(len(v_case)) < 0.7,
            rng.random(len(v_case)) < 0.04,
        ),
    )
    result = np.where(using, "positive", "negative").astype(object)
    odd = rng.random(len(v_case))
    result[odd < 0.01] = "not_done"
    result[(odd >= 0.01) & (odd < 0.015)] = "invalid"
    result[missed] = None
    visits_df = pd.DataFrame(
        {
            "case_id": case_ids[v_case],
            "visit_date": _dates(intake.to_numpy()[v_case] + v_week * 7 * np.timedelta64(1, "D")),
            "attended": ~missed,
            "test_result": result,
            "substance": np.where(result == "positive", substance[v_case], None),
            "self_report_use_days": np.where(
                result == "positive",
                rng.integers(1, 6, len(v_case)),
                np.where(result == "negative", 0, np.nan),
            ),
            "note": None,
        }
    )
    # The planned monitoring period ends after 26 weeks; recorded once it has passed.
    monitoring_end = intake + pd.Timedelta(days=7 * MONITORING_WEEKS - 1)
    cases_df["monitoring_end_date"] = monitoring_end.mask(monitoring_end > export)
    return {
        "placements": placements_df,
        "cases": cases_df,
        "stages": stages_df,
        "sessions": sessions_df,
        "visits": visits_df,
    }


def messy(
    tables: dict[str, pd.DataFrame], *, seed: int = 0
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """A messy export of ``tables``, as real field offices produce them.

    Indonesian headers, dd/mm/yyyy dates, ya/tidak booleans, Indonesian
    value labels, and a handful of deliberately bad rows.

    Parameters
    ----------
    tables : dict of DataFrame
        Clean tables by canonical name (as :func:`generate` makes them).
    seed : int
        Seed of the random choices.

    Returns
    -------
    tables : dict of DataFrame
        All values as text, headers in Indonesian.
    planted : DataFrame
        ``table, rule, case_id`` of every bad row planted, so tests can
        check each is reported and rejected.
    """
    rng = np.random.default_rng(seed)
    out = {name: frame.copy() for name, frame in tables.items()}
    cases, visits, stages = out["cases"], out["visits"], out["stages"]
    planted = []
    pick = rng.choice(len(cases), size=4, replace=False)
    cid = cases["case_id"].to_numpy()

    # A case with an impossible date, one with an unknown placement.
    bad_date_case, bad_fk_case = cid[pick[0]], cid[pick[1]]
    planted += [("cases", "unparseable_date", bad_date_case), ("cases", "foreign_key", bad_fk_case)]
    # A stage with a label no model knows; a visit before intake; a duplicated visit.
    stage_row = stages.index[stages["case_id"] == cid[pick[2]]][0]
    planted.append(("stages", "unknown_stage", cid[pick[2]]))
    visit_rows = visits.index[visits["case_id"] == cid[pick[3]]]
    planted.append(("visits", "before_intake", cid[pick[3]]))
    planted.append(("visits", "duplicate_visit", cid[pick[3]]))

    text = {name: _as_messy_text(frame) for name, frame in out.items()}
    text["cases"].loc[pick[0], "intake_date"] = "31/02/2024"
    text["cases"].loc[pick[1], "placement_id"] = "P-TIDAK-ADA"
    text["stages"].loc[stage_row, "stage"] = "wawancara"
    intake = cases.loc[pick[3], "intake_date"] - pd.Timedelta(days=30)
    early = text["visits"].loc[[visit_rows[0]]].assign(visit_date=intake.strftime("%d/%m/%Y"))
    duplicate = text["visits"].loc[[visit_rows[-1]]]
    text["visits"] = pd.concat([text["visits"], early, duplicate], ignore_index=True)

    reverse = {
        table: {col: alias for alias, col in reversed(list(aliases.items()))}
        for table, aliases in column_aliases().items()
    }
    for name, frame in text.items():
        text[name] = frame.rename(columns=reverse.get(name, {}))
    planted = pd.DataFrame(planted, columns=["table", "rule", "case_id"])
    return text, planted


def _as_messy_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    labels = {
        "male": "laki-laki",
        "female": "perempuan",
        "methamphetamine": "sabu",
        "cannabis": "ganja",
        "negative": "negatif",
        "positive": "positif",
        "held": "terlaksana",
        "family": "keluarga",
    }
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            out[column] = values.dt.strftime("%d/%m/%Y")
        elif pd.api.types.is_bool_dtype(values):
            out[column] = np.where(values, "ya", "tidak")
        else:
            text = values.astype("string")
            out[column] = text.replace(labels) if column != "case_id" else text
    return out
