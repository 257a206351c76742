"""Deployment files that cannot be built here (no Docker, no systemd) are checked for what can be checked:
they parse, and every command, setting, path and route they name exists (issue 12, items 9 and 10)."""

from __future__ import annotations

import configparser
import fnmatch
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest
import typer
import yaml

from engine.cli import app
from engine.config import Settings, load_settings
from tests.conftest import REPO

DEPLOY = REPO / "examples" / "deploy"
HTTP_ROUTES = ("/health/live", "/health/ready", "/metrics")


def cli_commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def setting_variables() -> set[str]:
    names = {f"ITPWATCH_{n.upper()}" for n in Settings.model_fields}
    return names | {f"{n}_FILE" for n in names} | {"ITPWATCH_CONFIG", "ITPWATCH_DEBUG"}


def dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_slim_non_root_serve_with_health_check() -> None:
    instructions = dockerfile()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert froms and all(re.match(r"python:3\.1[1-9]-slim\b", f) for f in froms), froms
    final = instructions[max(i for i, (w, _) in enumerate(instructions) if w == "FROM"):]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the final stage runs as an unprivileged user"
    entry = next(rest for word, rest in final if word == "ENTRYPOINT")
    command = next(rest for word, rest in final if word == "CMD")
    assert yaml.safe_load(entry) == ["itpwatch"] and yaml.safe_load(command)[0] in cli_commands()
    health = next(rest for word, rest in final if word == "HEALTHCHECK")
    assert "/health/live" in health
    compile(re.search(r'python -c "(.*)"$', health).group(1), "HEALTHCHECK", "exec")  # type: ignore[union-attr]
    env = " ".join(rest for word, rest in final if word == "ENV")
    for name in re.findall(r"\b(ITPWATCH_[A-Z_]+)=", env):
        assert name in setting_variables(), name
    exposed = {int(p) for word, rest in final if word == "EXPOSE" for p in rest.split()}
    assert exposed == {int(re.search(rf"ITPWATCH_{k}_PORT=(\d+)", env).group(1))  # type: ignore[union-attr]
                       for k in ("MLLP", "HTTP")}


def test_dockerfile_copies_what_the_package_needs() -> None:
    copied = [rest.split()[0] for word, rest in dockerfile() if word == "COPY" and "--from" not in rest]
    sources = [s for line in copied for s in line.split()]
    for source in sources:
        assert (REPO / source).exists(), source
    for package in ("events", "rules", "adapters", "engine"):
        assert package in sources
    assert "tests" in (REPO / ".dockerignore").read_text().split()


def test_packaged_data_files_are_declared() -> None:
    """A wheel (the image installs one) carries a package's non-Python files only when pyproject lists them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = config["tool"]["setuptools"]["package-data"]
    tracked = subprocess.run(["git", "ls-files", "engine", "rules", "events", "adapters"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    missing = []
    for path in tracked:
        package, _, inner = path.partition("/")
        if path.endswith(".py") or "/__pycache__/" in path:
            continue
        if not any(fnmatch.fnmatch(inner, pattern) for pattern in declared.get(package, [])):
            missing.append(path)
    assert missing == [], "add these to [tool.setuptools.package-data] in pyproject.toml"


def test_compose_runs_postgresql_and_itpwatch() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    build = services["itpwatch"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for name, service in services.items():
        if name == "db":
            continue
        command = service["command"]
        assert command[0] in cli_commands(), (name, command)
        for variable in service.get("environment", {}):
            assert variable in setting_variables(), (name, variable)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), (name, source)
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"]
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/"), "secrets are files the operator creates, not shipped"
    assert "examples/deploy/secrets/" in (REPO / ".gitignore").read_text()


def test_the_container_config_file_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("sinks.yaml", "site-mapping.yaml"):  # what compose mounts beside it
        (tmp_path / name).write_bytes((REPO / "examples" / name).read_bytes())
    config = tmp_path / "itpwatch.toml"
    config.write_bytes((DEPLOY / "itpwatch.toml").read_bytes())
    settings = load_settings(config)
    assert settings.database_url.startswith("postgresql://") and settings.bind_host == "0.0.0.0"
    assert settings.mapping is not None and settings.mapping.is_file()


@pytest.mark.parametrize("unit", sorted(p.name for p in DEPLOY.glob("itpwatch*.service")))
def test_systemd_units_name_real_commands_and_settings(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = (DEPLOY / unit).read_text(encoding="utf-8")
    parser.read_string(text)
    assert parser.has_section("Unit") and parser.has_section("Service")
    exec_start = shlex.split(parser["Service"]["ExecStart"])
    assert exec_start[0].endswith("/itpwatch") and exec_start[1] in cli_commands()
    for variable in re.findall(r"^Environment=(ITPWATCH_[A-Z_]+)=", text, flags=re.MULTILINE):
        assert variable in setting_variables(), variable
    assert parser["Service"]["User"] != "root"
    if parser["Service"].get("Type") != "oneshot":
        assert parser["Service"]["RestartPreventExitStatus"] == "2", "a configuration mistake is not restarted"


def test_deployment_doc_names_existing_files_routes_and_commands() -> None:
    doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    for path in re.findall(r"`((?:examples|docs|engine)/[\w./*-]+)`", doc):
        assert list(REPO.glob(path)), path
    for route in HTTP_ROUTES:
        assert route in doc
    for command in re.findall(r"`itpwatch ([a-z][a-z-]*)", doc):
        assert command in cli_commands(), command
    for topic in ("## Ports", "## TLS", "## Secrets", "### Backups", "## Upgrades", "## Logs",
                  "tls_cert", "tls_key", "mllp_client_ca"):
        assert topic in doc


def test_license_matches_pyproject() -> None:
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_docs_and_examples_cite_only_files_of_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"/work/|\.\./shared|\bdomain\.md\b|\bshared/durable_rules")
    offenders = []
    for path in tracked:
        if path.startswith("tests/") or not path.endswith((".md", ".py", ".yaml", ".toml", ".service")):
            continue
        for number, line in enumerate((REPO / path).read_text(encoding="utf-8").splitlines(), start=1):
            if outside.search(line):
                offenders.append(f"{path}:{number}: {line.strip()[:100]}")
    assert offenders == []


def test_generated_outputs_are_ignored_by_git() -> None:
    outputs = ["itpwatch.db", "itpwatch.db-wal", "report.html", "plots/swimmer.png", "demo-out/report.html",
               "bench/results/latest.json", "examples/deploy/secrets/http_token", ".venv/bin/python"]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *outputs], cwd=REPO, capture_output=True,
                             text=True, check=False).stdout.split()
    assert sorted(ignored) == sorted(outputs)
