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
    code('cohort.sessions.query("status != \'held\'")[["session_date", "status", "missed_reason"]]'),
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
         "publish = True\nthreshold = 11", tags=["parameters"]),
    code(SETUP + """
from IPython.display import HTML, Markdown, display

from casework_analytics.exits import exit_cumulative_incidence, exit_reasons
from casework_analytics.recovery import recovery_survival
from casework_analytics.timelines import weekly_status
from casework_analytics.stages import stage_funnel

cohort = ca.load(source)
group = by or None
groups, folded = dashboard.prepare(cohort, group, publish=publish, threshold=threshold)
shown = {}


def show(name, table):
    shown[name] = dashboard.publishable(name, table, group, publish=publish, threshold=threshold)
    return shown[name]


labels = cohort.stage_model.labels_id if lang == "id" else cohort.stage_model.labels_en
if not publish:
    display(HTML(dashboard.internal_banner(lang)))
display(Markdown(f"# {dashboard.section('title', lang)}"))"""),
    code("""display(Markdown(f"## {dashboard.section('headline', lang)}"))
numbers = show("headline", dashboard.headline_numbers(cohort, as_of))
display(HTML(dashboard.headline_cards(dashboard.plottable(numbers), as_of=as_of, lang=lang)))"""),
    code("""display(Markdown(f"## {dashboard.section('funnel', lang)}"))
funnel = dashboard.plottable(show("stage_funnel", stage_funnel(cohort, as_of, groups)))
if group:
    plots.stage_funnel_plot(funnel, group=group, lang=lang, stage_labels=labels)
else:
    plots.stage_funnel_plot(funnel, ax=plt.figure(figsize=(6, 4)).gca(), lang=lang,
                            stage_labels=labels)
plt.show()"""),
    code("""display(Markdown(f"## {dashboard.section('exits', lang)}"))
exits = dashboard.plottable(show("exits", exit_reasons(cohort, as_of, groups)))
fig, ax = plt.subplots(figsize=(9, 1.5 + 0.5 * (exits[group].nunique() if group else 1)))
plots.exit_reasons_plot(exits, group=group, ax=ax, lang=lang)
plt.show()"""),
    code("""display(Markdown(f"## {dashboard.section('curves', lang)}"))
survival = dashboard.plottable(show("survival", recovery_survival(cohort, as_of, groups)))
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
for ax, outcome in zip(axes, ["dropout", "relapse"], strict=True):
    plots.km_plot(survival[survival["outcome"] == outcome], group=group, ax=ax, lang=lang,
                  title=plots.LABELS[lang][outcome])
fig.tight_layout()
plt.show()"""),
    code("""display(Markdown(f"## {dashboard.section('competing', lang)}"))
cif = dashboard.plottable(show("cumulative_incidence", exit_cumulative_incidence(cohort, as_of)))
plots.cumulative_incidence_plot(cif, ax=plt.figure(figsize=(7, 4)).gca(), lang=lang)
plt.show()"""),
    code("""if not publish:  # a per-client chart: never in a published report
    display(Markdown(f"## {dashboard.section('heatmap', lang)}"))
    plots.monitoring_heatmap(weekly_status(cohort, as_of), ax=plt.figure(figsize=(9, 5)).gca(),
                             lang=lang)
    plt.show()"""),
    code("""display(Markdown(f"## {dashboard.section('placements', lang)}"))
by_placement, small = dashboard.prepare(cohort, "placement_id", publish=publish,
                                        threshold=threshold)
folded = pd.concat([folded, small], ignore_index=True)
placements = show("placements", dashboard.placement_table(cohort, as_of, by_placement))
display(dashboard.styled(placements, percent=["completion", "missed_rate"],
                         whole=["median_los_days"]))"""),
    code("""display(Markdown(f"## {dashboard.section('quality', lang)}"))
quality = dashboard.quality_summary(cohort)
display(dashboard.styled(show("quality_tables", quality["by_table"])))
display(dashboard.styled(show("quality_rules", quality["by_rule"])))
if publish:
    display(HTML(dashboard.suppression_note(shown, folded, threshold=threshold, lang=lang)))"""),
]

EVALUATION = [
    md("""
# Program evaluation across sites

Does the program work, and does it work equally well everywhere? Headline
outcomes per site with 95% intervals, tests between sites, and how much the
headline depends on counting missed monitoring visits as positive."""),
    code(SETUP),
    code('cohort = ca.load("../data/sample")\nAS_OF = "2025-04-15"\nBY = "site"'),
    md("## Completion and exit types\nShare of closed cases by exit type, per site."),
    code("""from casework_analytics.exits import exit_reasons, exit_type_association

exits = exit_reasons(cohort, AS_OF, BY)
types = exits[exits["level"] == "type"]
types.pivot(index=BY, columns="category", values="share").round(3)"""),
    code(CHECK + "exit_type_association(cohort, AS_OF, BY)[['test', 'df', 'n', 'n_groups']]"),
    md("""## Retention, sustained abstinence, not relapsed
90-day retention counts only cases with 90 days of possible follow-up; the
Kaplan-Meier version uses every monitored case."""),
    code("""from casework_analytics.recovery import recovery_headline, recovery_logrank

headline = recovery_headline(cohort, AS_OF, BY)
headline.assign(shown=[dashboard.format_share(e, lo, hi) for e, lo, hi in
                       zip(headline.estimate, headline.ci_low, headline.ci_high)]
                ).pivot(index=BY, columns="metric", values="shown")"""),
    code(CHECK + """overall = recovery_headline(cohort, AS_OF).set_index("metric")
overall[["numerator", "denominator"]]"""),
    md("## Differences between sites\nLog-rank tests of time to dropout, first positive and relapse."),
    code("recovery_logrank(cohort, AS_OF, BY)"),
    md("""## Sensitivity to missing visits
Each headline under both conventions. The difference is how much of the
headline rests on an assumption about visits nobody attended."""),
    code("""from casework_analytics.recovery import recovery_sensitivity

recovery_sensitivity(cohort, AS_OF).round(3)"""),
    md("## Missed sessions and unplanned endings"),
    code("""from casework_analytics.contacts import missed_sessions_and_unplanned_exit

missed_sessions_and_unplanned_exit(cohort, AS_OF, BY).round(3)"""),
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
    for name, cells in [("01_single_case.ipynb", SINGLE_CASE),
                        ("02_cohort_dashboard.ipynb", DASHBOARD),
                        ("03_program_evaluation.ipynb", EVALUATION),
                        ("04_data_quality.ipynb", QUALITY)]:
        print(f"running {name}")
        build(name, [nbformat.from_dict(c) for c in cells])


if __name__ == "__main__":
    main()
