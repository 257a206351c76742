"""Settings from one TOML file, the environment and flags (issue 12, item 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.alerts.config import load_sinks
from engine.alerts.sinks import build_sinks
from engine.cli import app
from engine.config import Settings, load_settings, secret_fields
from engine.errors import ConfigError
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.upper().startswith("ITPWATCH_") and "TEST" not in n.upper()]:
        monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "c.toml", 'timezone = "Europe/Vienna"\nlog_level = "warning"\n')
    assert Settings().timezone == "Europe/Berlin"
    assert load_settings(config).timezone == "Europe/Vienna"
    monkeypatch.setenv("ITPWATCH_TIMEZONE", "Europe/Zurich")
    assert load_settings(config).timezone == "Europe/Zurich"
    assert load_settings(config, timezone="UTC").timezone == "UTC"
    assert load_settings(config).log_level == "WARNING", "values are normalised"
    monkeypatch.setenv("ITPWATCH_CONFIG", str(config))
    monkeypatch.delenv("ITPWATCH_TIMEZONE")
    assert Settings().timezone == "Europe/Vienna", "ITPWATCH_CONFIG names the file for every Settings()"


def test_relative_paths_are_taken_from_the_config_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    config = write(folder / "c.toml", 'mapping = "site.yaml"\nsinks = "/abs/sinks.yaml"\nprofile = "my.yaml"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config)
    assert settings.mapping == folder.resolve() / "site.yaml"
    assert settings.sinks == Path("/abs/sinks.yaml")
    assert settings.profile == str(folder.resolve() / "my.yaml")
    assert load_settings(write(folder / "d.toml", 'profile = "iwg2009"\n')).profile == "iwg2009"


@pytest.mark.parametrize(("text", "says"), [
    ('databse_url = "x"\n', "unknown key 'databse_url'; did you mean 'database_url'?"),
    ('batch_size = "many"\n', "batch_size = 'many'"),
    ('batch_size = 0\n', "greater than or equal to 1"),
    ('log_format = "xml"\n', "log_format = 'xml' (from config file"),
    ('timezone = "Berlin"\n', "not a known time zone"),
    ('http_token = "a"\nhttp_token_file = "t"\n', "both 'http_token' and 'http_token_file'"),
    ('http_token_file = "missing-token"\n', "cannot read"),
    ("[server]\nport = 1\n", "unknown key 'server'"),
    ("timezone = \n", "not valid TOML"),
])
def test_bad_config_files_are_errors(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path / "c.toml", text))
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_secrets_from_files_never_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "token", "s3cret-token\n")
    write(tmp_path / "dbpw", "db-pass")
    config = write(tmp_path / "c.toml", 'database_url = "postgresql://itp@db/itpwatch"\n'
                                        'http_token_file = "token"\ndatabase_password_file = "dbpw"\n')
    settings = load_settings(config)
    assert settings.http_token == "s3cret-token", "the trailing newline of the file is not part of the secret"
    assert settings.database_url == "postgresql://itp:db-pass@db/itpwatch"
    write(tmp_path / "other", "from-env-file")
    monkeypatch.setenv("ITPWATCH_HTTP_TOKEN_FILE", str(tmp_path / "other"))
    assert load_settings(config).http_token == "from-env-file", "the environment beats the file"
    monkeypatch.setenv("ITPWATCH_HTTP_TOKEN", "direct")
    with pytest.raises(ConfigError, match="keep one"):
        load_settings(config)
    assert {"http_token", "database_password", "smtp_password"} <= set(secret_fields())


def test_config_show_masks_secrets_and_names_origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "token", "s3cret-token")
    config = write(tmp_path / "c.toml", 'database_url = "postgresql://itp:pw-in-url@db/x"\n'
                                        'http_token_file = "token"\n')
    monkeypatch.setenv("ITPWATCH_LOG_LEVEL", "DEBUG")
    result = CliRunner().invoke(app, ["--config", str(config), "--tz", "UTC", "config", "show", "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert "s3cret-token" not in result.stdout and "pw-in-url" not in result.stdout
    assert shown["http_token"] == {"value": "***", "from": f"config file {config}"}
    assert shown["database_url"]["value"] == "postgresql://itp:***@db/x"
    assert shown["timezone"] == {"value": "UTC", "from": "--tz"}
    assert shown["log_level"] == {"value": "DEBUG", "from": "ITPWATCH_LOG_LEVEL"}
    assert shown["batch_size"] == {"value": 2000, "from": "default"}
    assert set(shown) == set(Settings.model_fields)
    text = CliRunner().invoke(app, ["--config", str(config), "config", "show"]).stdout
    assert 'timezone = "Europe/Berlin"' in text and "s3cret-token" not in text


def test_unknown_environment_variable_is_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ITPWATCH_DATABSE_URL", "sqlite:///nowhere.db")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0
    assert "itpwatch: warning: ITPWATCH_DATABSE_URL is not a setting" in result.stderr


def test_smtp_password_from_the_setting_or_a_file(tmp_path: Path) -> None:
    sinks = write(tmp_path / "sinks.yaml", "sinks:\n"
                  "  - {name: a, kind: smtp, host: h, sender: s@x, recipients: [r@x], username: u}\n"
                  "  - {name: b, kind: smtp, host: h, sender: s@x, recipients: [r@x], username: u,\n"
                  "     password_file: pw}\n")
    write(tmp_path / "pw", "from-file\n")
    with pytest.raises(ValueError, match="username given without a password"):
        load_sinks(sinks)
    built = build_sinks(load_sinks(sinks, smtp_password="from-setting"))
    assert built["a"].password() == "from-setting"  # type: ignore[attr-defined]
    assert built["b"].password() == "from-file"  # type: ignore[attr-defined]


def test_the_example_config_file_is_valid() -> None:
    settings = load_settings(REPO / "examples" / "itpwatch.toml")
    assert settings.mapping == REPO / "examples" / "site-mapping.yaml"
    assert settings.sinks == REPO / "examples" / "sinks.yaml"


def test_the_documentation_lists_every_setting() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`{name}`" not in doc]
    assert missing == [], "docs/configuration.md must describe every field of Settings"
    table = doc.split("## Every setting", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)
    assert len(rows) >= 15 and set(rows) <= set(Settings.model_fields), "the table names only real settings"
    for name, info in Settings.model_fields.items():
        assert info.description, f"Settings.{name} needs a description"
