"""The summary as a results paragraph in the style of the seed abstract, ready to paste.

Wording follows the abstract conventions clinicians use: small counts that open a sentence are spelled
out, ranges use an en dash, percentages keep one decimal, weeks and months drop a trailing ".0". The
paragraph is generated from the report only (never from events), so it can never state a figure that
the JSON does not contain.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from engine.reporting.model import Range, Report

_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)

RESPONSE_DEFINITIONS: dict[str, str] = {
    "site": "platelet count ≥ 50 × 10^9/L",
    "iwg2009": "IWG 2009 criteria",
}
"""How the response criterion of a profile is named in the paragraph; unknown profiles name none."""


def spell(n: int, *, capital: bool = False) -> str:
    """Spell counts up to twelve (abstract style); larger counts stay digits."""
    word = _WORDS[n] if 0 <= n < len(_WORDS) else str(n)
    return word[:1].upper() + word[1:] if capital else word


def num(value: float | int | None, digits: int = 1) -> str:
    """A number rounded to `digits` decimals without a trailing .0 (2, 9.5, 24.5)."""
    if value is None:
        return "n/a"
    rounded = round(float(value), digits)
    text = f"{rounded:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{rounded:.0f}"
    return "0" if text in ("-0", "") else text


def join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c' — the list style of the seed abstract."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _range(r: Range, unit: str, digits: int = 1) -> str:
    if r.median is None:
        return "not available"
    if r.n == 1:
        return f"{num(r.median, digits)} {unit}"
    return f"{num(r.median, digits)} {unit} (range {num(r.min, digits)}–{num(r.max, digits)})"


def summary_paragraph(report: Report, *, response_definition: str | None = None) -> str:
    """The results paragraph. `response_definition` overrides the profile's criterion text."""
    s = report.summary
    agent = report.agent
    definition = response_definition or RESPONSE_DEFINITIONS.get(report.profile)
    if s.patients == 0:
        return f"No patients were treated with {agent}."
    parts: list[str] = []
    patient_word = "patient" if s.patients == 1 else "patients"
    sexes = f"{s.female} female, {s.male} male"
    others = s.patients - s.female - s.male
    if others:
        sexes += f", {others} other/unknown"
    age = ""
    if s.age_years.median is not None:
        age = f"; median age {num(s.age_years.median)} years"
        if s.age_years.n > 1:
            age += f", range {num(s.age_years.min)}–{num(s.age_years.max)}"
    parts.append(
        f"{spell(s.patients, capital=True)} {patient_word} ({sexes}{age}) were treated with {agent}."
    )
    if s.disease_duration_years.median is not None:
        parts.append(
            f"{spell(s.secondary_itp, capital=True)} had secondary ITP; median disease duration was "
            f"{_range(s.disease_duration_years, 'years')}."
        )
    else:
        parts.append(f"{spell(s.secondary_itp, capital=True)} had secondary ITP.")
    parts.append(f"Patients received a median of {_range(s.applications, 'applications')}.")
    rate = s.response_rate
    response = f"Overall, {s.responders} of {s.patients} patients ({num(rate.percent)} %"
    if rate.ci_low_percent is not None and rate.ci_high_percent is not None:
        response += (
            f", {num(100 * rate.confidence)} % CI {num(rate.ci_low_percent)}–{num(rate.ci_high_percent)}"
        )
    response += ") responded"
    if definition:
        response += f" ({definition})"
    if s.time_to_response_weeks.median is not None:
        response += f"; median time to response was {_range(s.time_to_response_weeks, 'weeks')}"
    parts.append(response + ".")
    if s.pending:
        who = "patient" if s.pending == 1 else "patients"
        parts.append(f"{spell(s.pending, capital=True)} {who} could not yet be assessed.")
    if s.relapses:
        months = join(
            [num(r.months_after_response, 0 if r.months_after_response >= 1 else 1) for r in s.relapses]
        )
        who = "responder" if len(s.relapses) == 1 else "responders"
        verb = "relapsed"
        parts.append(f"{spell(len(s.relapses), capital=True)} {who} {verb} {months} months after response.")
    elif s.responders:
        parts.append("No relapse occurred.")
    for rx in s.reexposures:
        combo = f" (together with {join(rx.combination_with)})" if rx.combination_with else ""
        when = (
            f" {num(rx.months_after_relapse, 0)} months after relapse"
            if rx.months_after_relapse is not None
            else ""
        )
        outcome = {
            "CR": "achieved a complete remission",
            "R": "remitted again",
            "NR": "did not respond",
            "pending": "is still being assessed",
        }[rx.outcome]
        parts.append(f"One patient was re-exposed{combo}{when} and {outcome}.")
    parts.extend(_remission_sentences(report))
    if s.serious_infections == 0:
        parts.append("No serious infections occurred.")
    else:
        noun = "infection" if s.serious_infections == 1 else "infections"
        who = "patient" if s.patients_with_serious_infection == 1 else "patients"
        parts.append(
            f"{spell(s.serious_infections, capital=True)} serious {noun} occurred in "
            f"{spell(s.patients_with_serious_infection)} {who}."
        )
    if report.data_cut is not None:
        parts.append(f"Data cut: {long_date(report.data_cut.date())}.")
    return " ".join(parts)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def long_date(day: date) -> str:
    """'16 December 2024': the date style of an abstract, independent of the machine's locale."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _months(values: Sequence[float]) -> str:
    return join([num(m, 0 if m >= 1 else 1) for m in values])


def _remission_sentences(report: Report) -> list[str]:
    """Responses without relapse: those still observed at the cut, then those censored at last follow-up.

    A response is called ongoing only when an eligible count lies within the profile's follow-up window
    before the data cut (docs/report.md); the others are reported with the duration they were observed.
    """
    remissions = report.summary.ongoing_remissions
    ongoing = [o for o in remissions if o.status == "ongoing"]
    censored = [o for o in remissions if o.status == "censored"]
    out: list[str] = []
    long_term = [o.months for o in ongoing if o.sustained_remission]
    shorter = [o.months for o in ongoing if not o.sustained_remission]
    if long_term:
        verb = "remission is" if len(long_term) == 1 else "remissions are"
        lead = "At the data cut, long-term" if report.data_cut is not None else "Long-term"
        if len(long_term) == 1:
            lead = lead.replace("long-term", "a long-term") if report.data_cut is not None else "A long-term"
        out.append(f"{lead} {verb} ongoing at {_months(long_term)} months.")
    if shorter:
        noun = "response is" if len(shorter) == 1 else "responses are"
        further = " further" if long_term else ""
        out.append(f"{spell(len(shorter), capital=True)}{further} {noun} ongoing at {_months(shorter)} months.")
    if censored:
        long_c = [o.months for o in censored if o.sustained_remission]
        short_c = [o.months for o in censored if not o.sustained_remission]
        what: list[str] = []
        if long_c:
            noun = "a long-term remission" if len(long_c) == 1 else f"{spell(len(long_c))} long-term remissions"
            what.append(f"{noun} of {_months(long_c)} months")
        if short_c:
            noun = "response" if len(short_c) == 1 else "responses"
            further = " further" if long_c else ""
            what.append(f"{spell(len(short_c))}{further} {noun} of {_months(short_c)} months")
        text = join(what)
        verb = "was" if len(censored) == 1 else "were"
        window = report.follow_up_window_days
        why = f" (no platelet count within {window} days before the data cut)" if window is not None else ""
        out.append(f"{text[:1].upper()}{text[1:]} without relapse {verb} censored at the last follow-up{why}.")
    return out
