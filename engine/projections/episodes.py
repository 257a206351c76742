"""Episodes per patient and agent, and the cohort statistics computed from them.

Rows are the report's own models (engine.reporting), so the read model and `itpwatch report` can never
disagree on what an episode, a response duration or a serious infection is.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from sqlalchemy import Connection, delete, insert, select

from engine.reporting import PatientRow, build_report
from engine.reporting.cohort import summarise
from engine.store import StoredEvent
from engine.store.schema import cohort_statistics, episodes
from events import CANONICAL_SET, DrugAdministered, EpisodeStarted, Event
from rules import Profile

PATIENT_ROW = 0
"""Episode index 0 holds the patient-level row (demographics, applications, infections) of an agent."""


@cache
def _infection_codes(profile: str) -> frozenset[str]:
    from rules import ProfileError, load_profile

    try:
        return frozenset(load_profile(profile).infection.codes)
    except (ProfileError, OSError):
        return frozenset()


class EpisodesProjection:
    name = "episodes"

    def __init__(self, tz: str = "Europe/Berlin", profile: Profile | None = None) -> None:
        self.tz = tz
        self.profile = profile
        """The configured profile; without one, the built-in profile named in the derived events."""

    def apply(self, conn: Connection, batch: Sequence[StoredEvent]) -> None:
        from engine.projections.patients import touched_patients, write_patients

        for agent in sorted(write_patients(conn, touched_patients(batch), [self])):
            self.refresh_cohort(conn, agent)

    def write_many(self, conn: Connection, histories: dict[str, list[Event]]) -> set[str]:
        """Patients without an episode (most of a hospital feed) only need one bulk delete."""
        untracked = [p for p, events in histories.items()
                     if not any(isinstance(e, EpisodeStarted) and e.derivation_set == CANONICAL_SET for e in events)]
        for start in range(0, len(untracked), 500):
            conn.execute(delete(episodes).where(episodes.c.derivation_set == CANONICAL_SET,
                                                episodes.c.patient.in_(untracked[start:start + 500])))
        touched: set[str] = set()
        skip = set(untracked)
        for patient, events in histories.items():
            if patient not in skip:
                touched |= self.write_patient(conn, patient, events)
        return touched

    def forget_patient(self, conn: Connection, patient: str) -> set[str]:
        conn.execute(delete(episodes).where(episodes.c.patient == patient))
        return self._agents_in_cohorts(conn)

    def write_patient(self, conn: Connection, patient: str, events: Sequence[Event]) -> set[str]:
        """Replace the patient's episode rows; returns the agents whose cohort statistics must be refreshed."""
        touched_agents: set[str] = set()
        starts = [e for e in events if isinstance(e, EpisodeStarted) and e.derivation_set == CANONICAL_SET]
        conn.execute(delete(episodes).where(episodes.c.derivation_set == CANONICAL_SET,
                                            episodes.c.patient == patient))
        if not starts:
            return touched_agents
        profile = starts[-1].profile
        agents = sorted({e.agent for e in starts if e.agent} |
                        {e.agent for e in events if isinstance(e, DrugAdministered) and e.agent in
                         {s.agent for s in starts}})
        for agent in agents:
            rules_profile = self.profile if self.profile is not None and self.profile.name == profile else None
            codes = (frozenset(rules_profile.infection.codes) if rules_profile is not None
                     else _infection_codes(profile))
            report = build_report(events, agent=agent, profile=profile, profile_version=starts[-1].profile_version,
                                  as_of=None, serious_infection_codes=codes, tz=self.tz, rules_profile=rules_profile)
            for row in report.patients:
                touched_agents.add(agent)
                conn.execute(insert(episodes).values(derivation_set=CANONICAL_SET, patient=patient, agent=agent,
                                                     episode=PATIENT_ROW, row=row.model_dump_json()))
                for ep in row.episodes:
                    conn.execute(insert(episodes).values(derivation_set=CANONICAL_SET, patient=patient,
                                                         agent=agent, episode=ep.index, row=ep.model_dump_json()))
        return touched_agents

    @staticmethod
    def _agents_in_cohorts(conn: Connection) -> set[str]:
        return {r[0] for r in conn.execute(select(cohort_statistics.c.agent))}

    def refresh_cohort(self, conn: Connection, agent: str) -> None:
        rows = [PatientRow.model_validate_json(r[0]) for r in conn.execute(
            select(episodes.c.row).where(episodes.c.derivation_set == CANONICAL_SET, episodes.c.agent == agent,
                                         episodes.c.episode == PATIENT_ROW).order_by(episodes.c.patient))]
        conn.execute(delete(cohort_statistics).where(cohort_statistics.c.derivation_set == CANONICAL_SET,
                                                     cohort_statistics.c.agent == agent))
        if rows:
            conn.execute(insert(cohort_statistics).values(derivation_set=CANONICAL_SET, agent=agent, profile="",
                                                          summary=summarise(rows).model_dump_json()))

    def reset(self, conn: Connection) -> None:
        conn.execute(delete(episodes))
        conn.execute(delete(cohort_statistics))
