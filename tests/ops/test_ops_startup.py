"""Fast start (issue 12, item 3): `--help` and `status` import only what they use; `--version` exists.

Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

HEAVY = ("scipy", "matplotlib", "lifelines", "pandas", "numpy")
"""Only the report (statistics, plots) needs these."""

PROBE = """
import json, sys
from engine.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
"""


def modules_after(*args: str, cwd: Path = REPO) -> tuple[int, set[str]]:
    out = subprocess.run([sys.executable, "-c", PROBE % ((*HEAVY, "sqlalchemy", "pydantic_settings", "rich"),), *args],
                         capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return int(result["code"] or 0), {m.split(".")[0] for m in result["modules"]}


def test_help_imports_neither_the_database_nor_the_statistics() -> None:
    code, loaded = modules_after("--help")
    assert code == 0
    assert loaded == set(), f"--help imported {sorted(loaded)}: import them inside the commands that use them"


def test_status_imports_no_statistics_or_plotting(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from engine.cli import app

    db = f"sqlite:///{tmp_path / 's.db'}"
    for args in (["ingest", str(REPO / "examples" / "feed")], ["status"]):  # the read models are up to date
        assert CliRunner().invoke(app, ["--db", db, "--log-level", "ERROR", *args]).exit_code == 0
    code, loaded = modules_after("--db", db, "--log-level", "ERROR", "status")
    assert code == 0
    assert "sqlalchemy" in loaded, "the probe sees what status imports"
    assert not loaded & set(HEAVY), f"status imported {sorted(loaded & set(HEAVY))}"


def test_version() -> None:
    out = subprocess.run([str(Path(sys.executable).parent / "itpwatch"), "--version"], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.startswith("itpwatch ") and out.stdout.split()[1][0].isdigit()
