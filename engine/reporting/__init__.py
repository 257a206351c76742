"""Read-side cohort reporting: pure functions from events to a report, its text, HTML and plots.

Plotting, HTML and Word are imported lazily by their modules (`engine.reporting.plots`,
`engine.reporting.html`, `engine.reporting.word`) so that building the JSON report does not pull in
matplotlib, lifelines or python-docx.
"""

from engine.reporting.cohort import Cohort, build_cohort, build_report, clopper_pearson, is_serious_infection
from engine.reporting.model import Episode, PatientRow, Report, Summary
from engine.reporting.text import summary_paragraph

__all__ = [
    "Cohort",
    "Episode",
    "PatientRow",
    "Report",
    "Summary",
    "build_cohort",
    "build_report",
    "clopper_pearson",
    "is_serious_infection",
    "summary_paragraph",
]
