"""Read-side cohort reporting: pure functions from events to a report, its text, HTML and plots.

Plotting and HTML are imported lazily by their modules (`engine.reporting.plots`, `engine.reporting.html`)
so that building the JSON report does not pull in matplotlib.
"""

from engine.reporting.cohort import build_report, clopper_pearson, is_serious_infection
from engine.reporting.model import Episode, PatientRow, Report, Summary
from engine.reporting.text import summary_paragraph

__all__ = [
    "Episode",
    "PatientRow",
    "Report",
    "Summary",
    "build_report",
    "clopper_pearson",
    "is_serious_infection",
    "summary_paragraph",
]
