"""The site mapping: every local convention an adapter needs, kept as data and not as code.

Units, local lab codes, drug names and the identity policy differ per hospital. They live in a YAML file
so that a site can change them without a release, and so that a replay uses exactly the table that was
in force (the engine may store the file's hash). Unmapped values are never guessed: a unit that is not
in the table makes the message a dead letter (docs/clinical-decisions.md A1 explains why a generic UCUM
parser is a trap).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAPPING_PATH = Path(__file__).with_name("site_mapping.yaml")

LOINC_SYSTEMS = frozenset({"LN", "LNC", "LOINC", "http://loinc.org", "2.16.840.1.113883.6.1", ""})
"""Coding-system names under which a code is read as LOINC (empty: HL7 senders that omit the system)."""

_MERGED_KEYS = ("units", "drugs")
_MIN_CONTAINED_SYNONYM = 5
"""Synonyms this long may match inside a longer text ("Darzalex 1800 mg s.c."); shorter ones ("TK")
only match the whole text, so that they do not fire inside unrelated words."""


class DrugSynonyms(BaseModel):
    """How one canonical agent may be named by a feed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    atc: tuple[str, ...] = ()
    atc_prefixes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


class DrugMatch(BaseModel):
    """The canonical agent a coded or named drug resolved to."""

    model_config = ConfigDict(frozen=True)

    agent: str
    atc_code: str | None


class SiteMapping(BaseModel):
    """Everything site-specific an adapter consults; load with `SiteMapping.default()` or `.load(path)`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    units: dict[str, float]
    platelet_loinc: tuple[str, ...] = ("777-3", "26515-7", "778-1")
    local_codes: tuple[str, ...] = ()
    decimal_comma: bool = False
    drugs: dict[str, DrugSynonyms] = Field(default_factory=dict)
    mrn_authorities: tuple[str, ...] | None = None
    mrn_systems: tuple[str, ...] = ()
    timezone: str = "Europe/Berlin"

    # ------------------------------------------------------------------ loading
    @classmethod
    def default(cls) -> SiteMapping:
        """The bundled default mapping (cached: it is immutable)."""
        return _default_mapping()

    @classmethod
    def load(cls, path: str | Path) -> SiteMapping:
        """A site's own file, laid over the bundled default.

        Top-level keys replace the default; `units` and `drugs` are merged entry by entry so that a site
        file can be as small as `local_codes: [tt-0002-06]`.
        """
        base = _read_yaml(DEFAULT_MAPPING_PATH)
        site = _read_yaml(Path(path))
        merged: dict[str, Any] = dict(base)
        for key, value in site.items():
            if key in _MERGED_KEYS and isinstance(value, dict) and isinstance(base.get(key), dict):
                merged[key] = {**base[key], **value}
            else:
                merged[key] = value
        return cls.model_validate(merged)

    # ------------------------------------------------------------------ lookups
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def unit_factor(self, unit: str) -> float | None:
        """Factor to 10^9/L for a unit string, or None when the unit is not mapped (never a guess)."""
        unit = unit.strip()
        if not unit:
            return None
        if unit in self.units:
            return self.units[unit]
        folded = unit.casefold()
        for known, factor in self.units.items():
            if known.casefold() == folded:
                return factor
        return None

    def platelet_code(self, code: str, system: str) -> bool:
        """Whether (code, system) is an accepted platelet count: a listed LOINC or a site local code."""
        code = code.strip()
        if not code:
            return False
        if code in self.local_codes:
            return True
        return code in self.platelet_loinc and system.strip() in LOINC_SYSTEMS

    @property
    def all_platelet_codes(self) -> tuple[str, ...]:
        """Every code string worth a substring pre-filter on raw HL7 text."""
        return self.platelet_loinc + self.local_codes

    def drug(self, codes: list[str], texts: list[str]) -> DrugMatch | None:
        """Resolve a drug: ATC codes first (exact, then prefix), then names and brands (case-insensitive)."""
        for code in (c.strip().upper() for c in codes if c.strip()):
            for agent, syn in self.drugs.items():
                if code in (a.upper() for a in syn.atc):
                    return DrugMatch(agent=agent, atc_code=code)
            for agent, syn in self.drugs.items():
                if any(code.startswith(p.upper()) for p in syn.atc_prefixes):
                    return DrugMatch(agent=agent, atc_code=code)
        candidates = [t.strip() for t in [*texts, *codes] if t and t.strip()]
        for text in candidates:
            folded = text.casefold()
            for agent, syn in self.drugs.items():
                if any(folded == n.casefold() for n in syn.names):
                    return DrugMatch(agent=agent, atc_code=syn.atc[0] if syn.atc else None)
        for text in candidates:
            for agent, syn in self.drugs.items():
                for name in syn.names:
                    if len(name) >= _MIN_CONTAINED_SYNONYM and _contains_word(text, name):
                        return DrugMatch(agent=agent, atc_code=syn.atc[0] if syn.atc else None)
        return None


def _contains_word(text: str, name: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text, flags=re.IGNORECASE) is not None


def _read_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"site mapping {path} must be a mapping at the top level")
    return data


@cache
def _default_mapping() -> SiteMapping:
    return SiteMapping.model_validate(_read_yaml(DEFAULT_MAPPING_PATH))
