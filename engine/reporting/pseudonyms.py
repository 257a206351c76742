"""Pseudonymised reports: P1..Pn instead of MRNs, so a report can leave the hospital.

The MRN is the only patient identifier a report carries (the store holds no names or addresses, and
birth dates are only used to compute ages), so replacing it everywhere it appears is the whole job. The
pseudonyms follow the report's order (first dose), so they are stable for a given log and cut but say
nothing about the MRN. Dates are *not* shifted: see docs/report.md for what that means for sharing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from engine.reporting.model import Report


def pseudonyms_for(report: Report) -> dict[str, str]:
    """MRN -> pseudonym, P1 for the first patient of the report (earliest first dose)."""
    return {row.patient: f"P{i}" for i, row in enumerate(report.patients, start=1)}


def pseudonymize_report(report: Report, names: Mapping[str, str]) -> Report:
    """The same report with every patient field relabelled (patient rows and every summary list)."""
    data = report.model_dump()
    for row in data["patients"]:
        row["patient"] = names[row["patient"]]
    summary = data["summary"]
    for listing in ("relapses", "reexposures", "ongoing_remissions"):
        for item in summary[listing]:
            item["patient"] = names[item["patient"]]
    data["pseudonymized"] = True
    return Report.model_validate(data)


def key_csv(key: Mapping[str, str]) -> str:
    """The re-identification key as CSV (pseudonym,mrn), in pseudonym order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["pseudonym", "mrn"])
    for pseudonym in sorted(key, key=lambda p: int(p[1:])):
        writer.writerow([pseudonym, key[pseudonym]])
    return buf.getvalue()


def write_key(key: Mapping[str, str], path: Path) -> Path:
    """Write the key file (only ever on request: it turns the shared report back into patient data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key_csv(key), encoding="utf-8")
    return path
