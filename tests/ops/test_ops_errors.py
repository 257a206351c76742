"""Every user mistake of issue 12 ends with one line on stderr and exit 2 (usage/config) or 1 (runtime).

The in-process cases run the real typer app (the same `ItpwatchGroup` the console script uses); the
port-in-use and --debug cases run the installed console script. A traceback appears only with --debug.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.cli.errors import explain
from tests.conftest import REPO, pg_url_or_skip

FEED = REPO / "examples" / "feed"
ITPWATCH = str(Path(sys.executable).parent / "itpwatch")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(args: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]
    return result.exit_code, lines


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ITPWATCH_CONFIG", "ITPWATCH_DATABASE_URL", "ITPWATCH_HTTP_TOKEN", "ITPWATCH_DEBUG"):
        monkeypatch.delenv(name, raising=False)


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "bad.yaml").write_text("sinks: [\n", encoding="utf-8")
    (tmp / "pager.yaml").write_text("sinks:\n  - {name: x, kind: pager}\n", encoding="utf-8")
    (tmp / "typo.toml").write_text('databse_url = "sqlite:///x.db"\n', encoding="utf-8")
    (tmp / "broken.toml").write_text("timezone = \n", encoding="utf-8")
    return {"tmp": str(tmp), "db": f"sqlite:///{tmp / 'x.db'}", "csv": str(FEED / "enrollment.csv")}


MISTAKES: list[tuple[str, Callable[[dict[str, str]], list[str]], int, str]] = [
    ("unknown database kind", lambda f: ["--db", "foo://x", "status"], 2, "database_url"),
    ("not a database URL", lambda f: ["--db", "nonsense", "status"], 2, "database_url"),
    ("PostgreSQL not reachable", lambda f: ["--db", f"postgresql://postgres@127.0.0.1:{free_port()}/x", "status"], 1,
     "not reachable"),
    ("SQLite file in a missing folder", lambda f: ["--db", f"sqlite:///{f['tmp']}/missing/x.db", "status"], 2,
     "folder does not exist"),
    ("unknown profile", lambda f: ["--db", f["db"], "--profile", "nope", "status"], 2, "profile"),
    ("missing sinks file", lambda f: ["--db", f["db"], "--sinks", f"{f['tmp']}/nope.yaml", "alerts", "dispatch"], 2,
     "sinks: cannot read"),
    ("missing mapping file", lambda f: ["--db", f["db"], "--mapping", f"{f['tmp']}/nope.yaml", "ingest", f["csv"]], 2,
     "mapping: cannot read"),
    ("sinks file that is not YAML", lambda f: ["--db", f["db"], "--sinks", f"{f['tmp']}/bad.yaml", "alerts",
                                               "dispatch"], 2, "not valid YAML"),
    ("sinks file with an unknown kind", lambda f: ["--db", f["db"], "--sinks", f"{f['tmp']}/pager.yaml", "alerts",
                                                   "dispatch"], 2, "sinks.0.kind"),
    ("bad time zone", lambda f: ["--db", f["db"], "--tz", "Mars/Olympus", "status"], 2, "timezone"),
    ("unknown log level", lambda f: ["--db", f["db"], "--log-level", "LOUD", "status"], 2, "log_level"),
    ("log format xml", lambda f: ["--db", f["db"], "--log-format", "xml", "status"], 2, "log_format"),
    ("unknown option", lambda f: ["--bogus", "status"], 2, "--bogus"),
    ("unknown command", lambda f: ["statsu"], 2, "statsu"),
    ("missing argument", lambda f: ["ingest"], 2, "Missing argument"),
    ("bad timestamp", lambda f: ["--db", f["db"], "replay", "--as-of-recorded", "yesterday"], 2, "ISO timestamp"),
    ("missing config file", lambda f: ["--config", f"{f['tmp']}/nope.toml", "status"], 2, "config file"),
    ("unknown key in the config file", lambda f: ["--config", f"{f['tmp']}/typo.toml", "status"], 2,
     "did you mean 'database_url'"),
    ("config file that is not TOML", lambda f: ["--config", f"{f['tmp']}/broken.toml", "status"], 2, "not valid TOML"),
    ("batch size 0", lambda f: ["--db", f["db"], "ingest", "--batch-size", "0", f["csv"]], 2, "batch_size"),
    ("HTTP without a token", lambda f: ["--db", f["db"], "serve", "--http-port", "0"], 2, "http_token"),
    ("serve without a port", lambda f: ["--db", f["db"], "serve"], 2, "--mllp-port"),
    ("watch a missing folder", lambda f: ["--db", f["db"], "watch", f"{f['tmp']}/nope", "--once"], 2, "not a folder"),
]


@pytest.mark.parametrize(("what", "args", "code", "says"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_and_an_exit_code(tmp_path: Path, what: str, args: Callable[[dict[str, str]], list[str]],
                                                code: int, says: str) -> None:
    exit_code, lines = run(args(_files(tmp_path)))
    assert exit_code == code, (what, lines)
    assert len(lines) == 1, (what, lines)
    assert lines[0].startswith("itpwatch: error: ") and says in lines[0], (what, lines)
    assert "Traceback" not in lines[0]


def test_missing_postgresql_database_is_a_setting_to_fix() -> None:
    server = pg_url_or_skip().split("?")[0].rsplit("/", 1)[0]
    exit_code, lines = run(["--db", f"{server}/itpwatch_no_such_database", "status"])
    assert exit_code == 2 and len(lines) == 1 and "does not exist" in lines[0], lines


def test_unreadable_path_and_garbage_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "a.bin").write_bytes(bytes(range(256)))
    (garbage / "b.txt").write_text("hello\n")
    db = f"sqlite:///{tmp_path / 'x.db'}"
    code, lines = run(["--db", db, "ingest", str(tmp_path / "nope.hl7")])
    assert code == 2 and any("cannot read" in line and "nope.hl7" in line for line in lines)
    code, lines = run(["--db", db, "ingest", str(garbage)])
    assert code == 0 and any("2 messages dead-lettered" in line for line in lines), "without --strict: a warning"
    code, lines = run(["--db", db, "ingest", "--strict", str(garbage)])
    assert code == 1, "--strict: a folder of garbage is a failure"


def test_database_errors_never_show_sql_or_parameters() -> None:
    from sqlalchemy.exc import OperationalError

    exc = OperationalError("INSERT INTO events VALUES (?, ?)", ("100003", 42.0), Exception("disk I/O error"))
    code, message = explain(exc)
    assert code == 1 and "disk I/O error" in message
    assert "100003" not in message and "INSERT" not in message and "42" not in message


def test_an_unexpected_error_names_its_type_and_points_to_debug() -> None:
    code, message = explain(KeyError("100003"))
    assert code == 1 and "KeyError" in message and "100003" not in message


def test_port_in_use_and_debug_traceback_through_the_console_script(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [ITPWATCH, "--db", f"sqlite:///{tmp_path / 'x.db'}", "--log-level", "ERROR", "serve",
                "--mllp-port", str(port)]
        plain = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert plain.returncode == 1
        assert plain.stderr.strip().splitlines() == [
            f"itpwatch: error: mllp_port: port {port} on 127.0.0.1 is already in use; stop the other listener or "
            "choose another port"]
        debug = subprocess.run([*args[:1], "--debug", *args[1:]], capture_output=True, text=True, timeout=60)
        assert debug.returncode == 1
        assert "Traceback (most recent call last)" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1].startswith("itpwatch: error: mllp_port")
