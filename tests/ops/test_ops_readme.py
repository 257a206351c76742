"""The README's commands work as written, in order, and each prints something (issue 12: self-contained).

Every `.venv/bin/itpwatch ...` line of the "Using it" block runs through the CLI in a fresh working
folder (so `itpwatch.db`, `report.html` and `plots/` land there); `examples/...` paths point into the
repository. The service block (serve, watch, curl) is covered by tests/ops/test_ops_serve.py and
tests/ops/test_ops_watch.py.
"""

from __future__ import annotations

import re
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def using_it_commands() -> list[tuple[dict[str, str], list[str]]]:
    """(environment, arguments) of each command line; `VAR=value` words before the command go to the first."""
    block = README.split("## Using it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        if ".venv/bin/itpwatch " not in line or "--plots" in line:
            continue  # the reports with plots take half a minute each; `make demo` runs one
        words = shlex.split(line.replace('"$(date -Iseconds)"', "NOW"), comments=True)
        at = words.index(".venv/bin/itpwatch")
        env = dict(word.split("=", 1) for word in words[:at])
        commands.append((env, [str(REPO / a) if a.startswith("examples/") else a for a in words[at + 1:]]))
    return commands


def test_readme_keeps_two_setup_commands() -> None:
    setup = README.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in setup.strip().splitlines()] == ["make demo", "make test"]


def test_readme_names_only_files_of_the_repository() -> None:
    for path in re.findall(r"\b((?:examples|docs)/[\w./-]+\.(?:md|yaml|toml|hl7|json|csv))", README):
        assert (REPO / path).is_file(), path
    assert "/work/" not in README and "../shared" not in README


@pytest.mark.slow
def test_every_readme_command_runs_and_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("ITPWATCH_CONFIG", "ITPWATCH_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    commands = using_it_commands()
    assert len(commands) >= 15
    runner = CliRunner()
    outputs = {}
    for env, args in commands:
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        args = [now if a == "NOW" else a for a in args]
        started = time.monotonic()
        result = runner.invoke(app, ["--log-format", "json", *args], env=env,
                               input="Readme-Passw0rd-for-tests\nReadme-Passw0rd-for-tests\n")  # users add asks
        print(f"{time.monotonic() - started:6.1f} s  itpwatch {' '.join(args)}")
        assert result.exit_code == 0, (args, result.output[-2000:])
        assert result.stdout.strip(), f"itpwatch {' '.join(args)} printed nothing"
        outputs[" ".join(args)] = result.stdout
    replay = next(v for k, v in outputs.items() if k.startswith("replay"))
    assert "status as then known" in replay and "100003" in replay
    retry = next(v for k, v in outputs.items() if "dead-letters retry" in k)
    assert "accepted" in retry, "the example mapping fixes the second lab's unit"
