"""Profiles load and validate with file:line:field errors; the compiler keeps to the safe subset."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from rules import CompileError, ProfileError, check_safe_rule, compile_profile, load_profile
from rules.compiler import check_expression
from rules.matching import DurableMatcher, MatcherError, ReferenceMatcher, durable_available, make_matcher
from rules.profile import PROFILE_DIR
from rules.situation import default_situation


def test_builtin_profiles_load_and_have_content_versions() -> None:
    site, iwg = load_profile("site"), load_profile("iwg2009")
    assert site.name == "site" and iwg.name == "iwg2009"
    assert re.fullmatch(r"[0-9a-f]{12}", site.version) and site.version != iwg.version
    assert site.tracked_agents == ["daratumumab"]
    assert iwg.response.doubling_of_baseline and iwg.confirmation.min_days_apart == 7


def test_version_ignores_comments_but_not_content(tmp_path: Path) -> None:
    text = (PROFILE_DIR / "site.yaml").read_text()
    a = tmp_path / "a.yaml"
    a.write_text("# a comment\n" + text)
    assert load_profile(a).version == load_profile("site").version
    b = tmp_path / "b.yaml"
    b.write_text(text.replace("missing_count_days: 28", "missing_count_days: 21"))
    assert load_profile(b).version != load_profile("site").version


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    text = (PROFILE_DIR / "site.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("rescue_days: 28", "rescue_days: -3"))
    line = next(i for i, ln in enumerate(bad.read_text().splitlines(), 1) if "rescue_days: -3" in ln)
    with pytest.raises(ProfileError) as err:
        load_profile(bad)
    assert f"{bad}:{line}: windows.rescue_days:" in str(err.value)


def test_unknown_fact_in_rule_is_reported_with_line(tmp_path: Path) -> None:
    text = (
        (PROFILE_DIR / "site.yaml")
        .read_text()
        .replace("{fact: response_confirmed, is: true}", "{fact: platelets, is: true}")
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "fact: platelets" in ln)
    with pytest.raises(ProfileError, match=rf"bad.yaml:{line}: rules\.\d+\.when\.\d+: .*unknown fact"):
        load_profile(bad)


def test_bad_ref_is_a_load_error(tmp_path: Path) -> None:
    text = (PROFILE_DIR / "site.yaml").read_text().replace("ref: windows.non_response_day}", "ref: windows.nope}")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ProfileError, match="does not name a profile value"):
        load_profile(bad)


def test_string_comparison_on_enum_rejected(tmp_path: Path) -> None:
    text = (
        (PROFILE_DIR / "site.yaml")
        .read_text()
        .replace("{fact: state, is: relapsed}", "{fact: state, at_least: relapsed}")
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ProfileError, match="enumeration"):
        load_profile(bad)


@pytest.mark.parametrize(
    "rule",
    [
        {"all": [{"m": {"count": 1}}, {"c": {"count": 2}}], "run": "x"},  # join / two patterns
        {"all": [{"m": {"$gte": {"count": {"first": "count"}}}}], "run": "x"},  # correlated ref
        {"all": [{"m": {"$gte": {"count": {"$add": {"$l": 1, "$r": 2}}}}}], "run": "x"},  # arithmetic
        {"all": [{"m": {"$gte": {"count": {"$s": "count"}}}}], "run": "x"},  # session state
        {"all": [{"m": {"$nex": {"count": 1}}}], "run": "x"},  # none()-like
        {"all": [{"m": {"$lt": {"count": 5}}}], "any": [], "run": "x"},
        {"all": [{"m": {"$lt": {"count": 5}}}], "run": "x", "pri": 1},
        {"all": [{"m": {"$and": [{"$eq": {"$t": "timer"}}]}}], "run": "x"},  # timers
        {"all": [{"m": {"$mt": {"kind": "c.*"}}}], "run": "x"},  # regex
        {"all": [{"m": {"$gte": {"state": "a"}}}], "run": "x"},  # text ordering
        {"all": [{"m": {"$eq": {"count": "50"}}}], "run": "x"},  # string for a number
        {"all": [{"m": {"$lt": {"count": 1e-05}}}], "run": "x"},  # exponent form
        {"all": [{"m": {"$eq": {"sid": "1"}}}], "run": "x"},
        {"all": [{"m": {"$eq": {"unknown_field": 1}}}], "run": "x"},
        {"all": [{"m": {"$and": []}}], "run": "x"},
    ],
)
def test_compiler_rejects_out_of_subset(rule: dict[str, Any]) -> None:
    with pytest.raises(CompileError):
        check_safe_rule("x", rule)


def test_every_compiled_rule_is_in_subset() -> None:
    for name in ("site", "iwg2009"):
        compiled = compile_profile(load_profile(name))
        for r in compiled.rules:
            check_safe_rule(r.id, r.durable_json())
            check_expression(r.condition)
        assert {r.id for r in compiled.rules} == set(compiled.durable_json())


def test_matcher_validates_situation() -> None:
    m = ReferenceMatcher(compile_profile(load_profile("site")))
    s = default_situation()
    s["count"] = float("nan")
    with pytest.raises(MatcherError):
        m.fire(s)
    s = default_situation()
    s["state"] = "50"
    with pytest.raises(MatcherError):
        m.fire(s)
    s = default_situation()
    s["$s"] = 1
    with pytest.raises(MatcherError):
        m.fire(s)
    s = default_situation()
    s["days_since_d1"] = True
    with pytest.raises(MatcherError):
        m.fire(s)


@pytest.mark.skipif(not durable_available(), reason="durable_rules needs Python < 3.13")
def test_durable_matcher_starts_no_threads_and_keeps_no_facts() -> None:
    before = threading.active_count()
    compiled = compile_profile(load_profile("site"))
    wrapped = make_matcher(compiled)
    m = wrapped.inner  # type: ignore[attr-defined]
    assert isinstance(m, DurableMatcher)
    s = default_situation()
    s.update(scope="patient", kind="count", tracked=True, counting=True, count=5.0)
    assert m.fire(s) == {"alert.platelets-below-10"}
    assert m.fire(s) == {"alert.platelets-below-10"}
    assert m._host.get_facts(m._ruleset) == []
    assert threading.active_count() == before


def test_reference_path_when_durable_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import rules.matching as matching

    monkeypatch.setattr(matching, "durable_available", lambda: False)
    m = matching.make_matcher(compile_profile(load_profile("site")))
    assert isinstance(getattr(m, "inner", None), ReferenceMatcher)
