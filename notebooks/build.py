"""Write the notebooks from their cell lists, and run them to store outputs.

Usage (from the repository root): ``.venv/bin/python notebooks/build.py``

The dashboard notebook is also copied, without outputs, into the package
(``casework_analytics/templates/dashboard.ipynb``), where the ``report``
command finds it. ``# NBVAL_CHECK_OUTPUT`` marks the cells whose outputs
``make test`` checks (nbval in lax mode).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent
CHECK = "# NBVAL_CHECK_OUTPUT\n"
SETUP = """import matplotlib.pyplot as plt
import pandas as pd

import casework_analytics as ca
from casework_analytics import dashboard, plots

pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)"""


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text, tags=()):
    cell = nbformat.v4.new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


SINGLE_CASE = [
    md("""
# One case: BNNK Tebing Tinggi, 2024

The documented placement (18 March to 3 June 2024): client RO, a night-shift
courier who used stimulants to stay awake. The caseworker took him through all
four stages, but meetings kept failing because their schedules did not match;
the placement ended before the goals were met. He nevertheless stopped using
and kept coming to weekly monitoring. Dates of sessions and visits are
illustrative."""),
    code(SETUP),
    code('cohort = ca.load("../data/example")\nAS_OF = "2024-10-31"'),
    code(CHECK + "cohort.counts"),
    md("## Stages\nAll four stages were started; intervention has no completion date."),
    code(CHECK + """from casework_analytics.stages import stage_progress

progress = stage_progress(cohort, AS_OF)
progress[["furthest_stage", "stages_started", "stages_completed", "exit_reason",
          "termination_planned"]]"""),
    code("progress.filter(regex='^days_').T"),
    md("## Sessions\nFour sessions were missed by the client and one by the caseworker."),
    code(CHECK + """from casework_analytics.contacts import session_summary

session_summary(cohort, AS_OF)"""),
    code('cohort.sessions.query("status != \'held\'")[["session_date", "status", "missed_reason"]]'),  # noqa: E501
    md("""## Closure
The free-text reason is normalised to a taxonomy code, with its TEDS-D code."""),
    code(CHECK + """from casework_analytics.closures import case_exits

case_exits(cohort, AS_OF)[["closed_date", "exit_reason", "exit_type", "teds_reason"]]"""),
    md("""## Monitoring
Weekly screens after intake. The one missed week counts as positive under the
conservative convention, which turns it into a 'relapse'; ignoring it, the
client has been abstinent since week 2."""),
    code(CHECK + """from casework_analytics.timelines import (RecoveryDefinition, recovery_outcomes,
                                          weekly_status)

both = pd.concat({m: recovery_outcomes(cohort, AS_OF, definition=RecoveryDefinition(missing_as=m))
                  for m in ("positive", "ignore")}, names=["missing_as"])
both[["weeks_negative", "weeks_missed", "sustained_day", "relapsed", "status"]]"""),
    code("""fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5), height_ratios=[1, 1])
plots.swimmer_plot(progress, weekly_status(cohort, AS_OF), ax=top,
                   stage_names=cohort.stage_model.labels_en)
plots.monitoring_heatmap(weekly_status(cohort, AS_OF), ax=bottom, max_weeks=None)
fig.tight_layout()"""),
]

DASHBOARD = [
    code('source = "../data/sample"\nas_of = "2025-04-15"\nby = "site"\nlang = "en"\n'
         'publish = True\nthreshold = 11\nexit_rules = ""', tags=["parameters"]),
    code("""from pathlib import Path

from IPython.display import HTML, display

import casework_analytics as ca
from casework_analytics.dashboard import Dashboard

cohort = ca.load(source, exit_rules=exit_rules or None)""", tags=["load"]),
    code("""board = Dashboard(cohort, as_of, by=by or None, lang=lang, publish=publish,
                  threshold=threshold, source_name=Path(source).name)
display(HTML(board.header()))"""),
    *[code(f"display(HTML(board.{name}()))") for name in (
        "headline", "funnel", "exits", "comparisons", "trends", "curves", "competing",
        "placements", "supervision", "quality", "footer")],
]

EVALUATION = [
    md("""
# Program evaluation across sites

Does the program work, and does it work equally well everywhere? This notebook
compares sites the way England's drug-treatment monitoring and the NHS compare
providers: funnel plots (Spiegelhalter 2005) instead of league tables, case-mix
adjustment by indirect standardisation, Cox models of dropout and relapse, the
trend over terms, and how much each headline rests on counting missed screens as
positive. The data are the bundled synthetic sample, in which one site was made
a true outlier."""),
    code(SETUP + """
from casework_analytics import evaluation
from casework_analytics.recovery import recovery_sensitivity"""),
    code('cohort = ca.load("../data/sample")\nAS_OF = "2025-04-15"'),
    md("""## Completion and retention by site

Each point is a site: its rate against its number of cases, inside 95% and 99.8%
limits around the whole program's rate. Right: the same, as observed / expected
after adjusting for age band, sex, primary substance, ASSIST risk and referral
source."""),
    code("""funnel, models = evaluation.compare_groups(
    cohort, AS_OF, "site", metrics=["planned_completion", "retention"], adjust="default")
fig, axes = plt.subplots(2, 2, figsize=(12, 9), layout="constrained")
for row, metric in zip(axes, ["planned_completion", "retention"], strict=True):
    for ax, adjusted in zip(row, [False, True], strict=True):
        rows = funnel[(funnel["metric"] == metric) & (funnel["adjusted"] == adjusted)]
        plots.funnel_plot(rows, ax=ax)
plt.show()"""),
    code(CHECK + """funnel.loc[funnel["flag"] != "within", ["metric", "adjusted", "site", "n", "flag"]]"""),  # noqa: E501
    md("""BNNK Sibolga completes far fewer closed cases as planned than the program as a
whole, below the 99.8% limit, and it stays below once case mix is accounted for:
its clients are not older, more often high-risk or more often court-referred in a
way that would explain it. Every other site is inside the limits, so their
differences are what chance gives at these sizes; ranking them would mislead.
What this does not show is *why* Sibolga differs (caseworkers, scheduling, the
kind of placement), nor anything about sites with no closed cases yet."""),
    md("## The case-mix model\nOdds ratios of planned completion, with 95% intervals."),
    code("""completion_model = models[models["metric"] == "planned_completion"]
plots.forest_plot(completion_model, estimate="odds_ratio", label="term",
                  ax=plt.figure(figsize=(7, 5)).gca())
plt.show()
completion_model[["term", "odds_ratio", "ci_low", "ci_high", "n", "n_dropped",
                  "c_statistic"]].round(3)"""),
    md("""The model is weak (a C-statistic near 0.6 means it ranks a completer above a
non-completer only a little better than a coin): case mix explains little of who
completes here, which is why adjustment moves the sites so little."""),
    md("""## Placements

The same comparison for placements. Each placement has only a handful of cases,
so the limits are wide."""),
    code("""by_placement, _ = evaluation.compare_groups(cohort, AS_OF, "placement_id",
                                            metrics=["planned_completion"])
plots.funnel_plot(by_placement, ax=plt.figure(figsize=(7, 5)).gca())
plt.show()"""),
    code(CHECK + """by_placement["flag"].value_counts()"""),
    md("""No placement is outside the 99.8% limits, not even those of the outlier site:
with four to ten cases a placement's rate can swing from 0% to 100% by chance.
Placement-level numbers are for supervision, not for judging students."""),
    md("""## Dropout and relapse: Cox models

Hazard ratios for site and case mix (Efron ties). A ratio above 1 means the
event comes sooner. The proportional-hazards check (scaled Schoenfeld
residuals against time, as R's `cox.zph`) is below each."""),
    code("""fig, axes = plt.subplots(1, 2, figsize=(13, 6), layout="constrained")
models, checks = [], []
for ax, outcome in zip(axes, ["dropout", "relapse"], strict=True):
    model, check = evaluation.hazard_ratios(cohort, AS_OF, outcome=outcome, by="site",
                                            reference={"site": "BNNK Tebing Tinggi"})
    plots.forest_plot(model, ax=ax)
    ax.set_title(outcome)
    models.append(model)
    checks.append(check)
plt.show()
pd.concat(checks).query("term == 'GLOBAL'")[["outcome", "chisq", "df", "p_value"]].round(3)"""),
    code(CHECK + """hazards = pd.concat(models)
clear = hazards[(hazards["ci_low"] > 1) | (hazards["ci_high"] < 1)]
clear[["outcome", "term", "hazard_ratio", "ci_low", "ci_high"]].round(2)"""),
    md("""Against BNNK Tebing Tinggi, no site's hazard of dropping out differs clearly
once case mix is in the model. Women dropped out sooner (a hazard ratio near 1.9).
For relapse, BNNK Sibolga's clients relapsed sooner (about 1.9, with an interval
just above 1); with five site comparisons and a dozen case-mix terms per model,
one or two intervals that exclude 1 are what chance alone often gives, so read
these as questions for the supervisors, not findings. The global
proportional-hazards tests give no reason to doubt the model's main assumption.
What this does not show: relapse is measured only among clients who reached
sustained abstinence, so a site that keeps fewer clients long enough to get
there is compared on a smaller, different group."""),
    md("## The trend over terms"),
    code("""trend = pd.concat([evaluation.term_trend(cohort, AS_OF, m)
                   for m in ("planned_completion", "retention")])
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5), layout="constrained")
for ax, (_, rows) in zip(axes, trend.groupby("metric", sort=False), strict=True):
    plots.trend_plot(rows, ax=ax)
plt.show()
trend[["metric", "term", "n", "share", "trend_p_value"]].round(3)"""),
    md("""Neither rate changes steadily from term to term (Cochran–Armitage test for
trend). The latest term is still running: its closed cases are the quick ones,
so its completion rate is not yet comparable."""),
    md("""## How much the headlines rest on missed screens

Each recovery headline with missed or unrecorded weekly screens counted as
positive (the conservative convention) and ignored."""),
    code("""sensitivity = recovery_sensitivity(cohort, AS_OF)
plots.sensitivity_plot(sensitivity, ax=plt.figure(figsize=(8, 3.5)).gca())
plt.show()"""),
    code(CHECK + """sensitivity[["metric", "estimate_positive", "estimate_ignore", "difference"]].round(3)"""),  # noqa: E501
    md("""Retention does not depend on the convention (dropout is defined from visits,
not results). Sustained abstinence changes a little; "not relapsed" changes a
lot, because one missed screen after abstinence counts as a relapse under the
conservative convention. Report both, and say which one a number uses."""),
]

QUALITY = [
    md("""
# Data quality

What a messy export from the field looks like after loading: every row read is
either accepted or rejected with its reasons. The export here is the sample
cohort written the way field offices write it (Indonesian headers, dd/mm/yyyy
dates, semicolons) with a few bad rows planted."""),
    code(SETUP),
    code("""import tempfile

from casework_analytics import synthetic

tables, planted = synthetic.messy(synthetic.generate(seed=0), seed=0)
folder = synthetic.write(tables, tempfile.mkdtemp(), sep=";", bom=True)
cohort = ca.load(folder)"""),
    md("## Rows read, accepted and rejected, per table"),
    code(CHECK + "dashboard.quality_summary(cohort)['by_table']"),
    md("## Problems by rule"),
    code(CHECK + "dashboard.quality_summary(cohort)['by_rule']"),
    md("## Worst placements first"),
    code("dashboard.quality_summary(cohort)['by_placement'].head(10)"),
    md("## Rejected rows and why"),
    code('cohort.rejected["cases"][["row", "case_id", "placement_id", "intake_date", "reasons"]]'),
]


NOTEBOOKS = {
    "01_single_case.ipynb": SINGLE_CASE,
    "02_cohort_dashboard.ipynb": DASHBOARD,
    "03_program_evaluation.ipynb": EVALUATION,
    "04_data_quality.ipynb": QUALITY,
}


def _stable_ids(cells: list) -> list:
    """Cell ids from position, so rebuilding changes nothing that did not change."""
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"
    return cells


def build(name: str, cells: list, run: bool = True) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=_stable_ids(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    if run:
        NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, HERE / name)
    return nb


def main() -> None:
    template = nbformat.v4.new_notebook(
        cells=_stable_ids([nbformat.from_dict(c) for c in DASHBOARD]))
    template.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(template, HERE.parent / "casework_analytics" / "templates" / "dashboard.ipynb")
    for name, cells in NOTEBOOKS.items():
        print(f"running {name}")
        build(name, [nbformat.from_dict(c) for c in cells])


if __name__ == "__main__":
    main()
