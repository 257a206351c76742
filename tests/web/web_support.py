"""Helpers of the web tests: a database with the example feed, users of every role, and `itpwatch serve`.

Nothing is mocked: the database is made by the CLI, the server is the installed console script on a
real port, and the browser is Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ITPWATCH = str(Path(sys.executable).parent / "itpwatch")
FEED = REPO / "examples" / "feed"
EXTRA = Path(__file__).resolve().parent / "feed_extra"
"""A dead letter whose unit is a <script> tag, and an accepted message whose sender and id carry HTML."""
OUTPUT = REPO / "test-output" / "web"
"""Screenshots of every page (git-ignored)."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORDS = {"weber": "clinician-pass-1", "nurse1": "nurse-pass-12", "integ": "integration-1",
             "audit1": "auditor-pass-1", "admin1": "admin-pass-12"}
ROLES = {"weber": "clinician", "nurse1": "nurse", "integ": "integration", "audit1": "auditor", "admin1": "admin"}
TOKEN = "machine-token"


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    for key in ("ITPWATCH_HTTP_TOKEN", "ITPWATCH_DATABASE_URL"):
        e.pop(key, None)
    e.update({"PYTHONUNBUFFERED": "1", "ITPWATCH_LOG_FORMAT": "json", "PYTHONDONTWRITEBYTECODE": "1", **extra})
    return e


def cli(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ITPWATCH, "--db", f"sqlite:///{db}", *args], input=stdin, capture_output=True,
                          text=True, env=env(), timeout=300)


def build_database(db: Path) -> Path:
    """The example feed plus the extra messages, verified once, and one user of every role."""
    for step in (("ingest", str(FEED)), ("ingest", str(EXTRA)), ("verify",)):
        done = cli(db, *step)
        assert done.returncode in (0, 1) if step[0] == "ingest" else done.returncode == 0, done.stderr[-2000:]
    for user, role in ROLES.items():
        done = cli(db, "users", "add", user, "--role", role, "--password-stdin", stdin=PASSWORDS[user] + "\n")
        assert done.returncode == 0, done.stderr
    return db


@dataclass
class WebServer:
    db: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    port: int = 0
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        args = [ITPWATCH, "--db", f"sqlite:///{self.db}", "serve", "--http-port", "0", "--token", TOKEN]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env(**self.extra_env), cwd=self.db.parent)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if data.get("listening") == "http":
                self.port = int(data["port"])
                threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
                return self
        self.stop()
        raise AssertionError("serve did not start: " + "".join(self.stderr_lines[-20:]))

    def _drain(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.stderr_lines.append(line)

    def stop(self, log_name: str | None = None) -> None:
        """Stop the server; its log lines go to test-output/web/<log_name>.log for a failing test."""
        if log_name is not None:
            OUTPUT.mkdir(parents=True, exist_ok=True)
            (OUTPUT / f"{log_name}.log").write_text("".join(self.stderr_lines), encoding="utf-8")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def copy_db(source: Path, target_dir: Path) -> Path:
    target = target_dir / "web.db"
    shutil.copy(source, target)
    return target
