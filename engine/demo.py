"""`make demo`: the main job on the bundled example feed, into a fresh SQLite file, through the CLI."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
DEMO_USER, DEMO_PASSWORD = "demo", "itpwatch-demo"
"""An admin account of the demo database only, so that the web app can be opened right away."""


def main() -> int:
    started = time.monotonic()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    db = f"sqlite:///{OUT / 'itpwatch.db'}"
    steps = [
        ("ingest the bundled example feed", ["ingest", str(ROOT / "examples" / "feed")]),
        ("patient status", ["status"]),
        ("open alerts", ["alerts", "list", "--open"]),
        ("cohort report (text)", ["report", "--agent", "daratumumab", "--format", "text"]),
        ("cohort report (html with plots)",
         ["report", "--agent", "daratumumab", "--format", "html", "--out", str(OUT / "report.html"),
          "--plots", str(OUT / "plots")]),
        ("verify: hash chain and re-derivation", ["verify"]),
        ("a web app account on the demo database",
         ["users", "add", DEMO_USER, "--role", "admin", "--password-stdin"]),
    ]
    runner = CliRunner()
    for title, args in steps:
        print(f"\n=== {title}: itpwatch {' '.join(args)}", flush=True)
        result = runner.invoke(app, ["--db", db, "--log-format", "json", *args], catch_exceptions=False,
                               input=f"{DEMO_PASSWORD}\n" if "--password-stdin" in args else None)
        print(result.output, end="", flush=True)
        if result.exit_code != 0:
            print(f"step failed with exit code {result.exit_code}", file=sys.stderr)
            return result.exit_code
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s; database {OUT / 'itpwatch.db'}, "
          f"report {OUT / 'report.html'}, plots in {OUT / 'plots'}")
    where = "demo-out/itpwatch.db" if Path.cwd() == ROOT else str(OUT / "itpwatch.db")
    print("\nOpen the web app on the demo database:\n"
          f"  .venv/bin/itpwatch --db sqlite:///{where} serve --http-port 8080 --token demo-token\n"
          f"then browse to http://127.0.0.1:8080/ and log in as {DEMO_USER} / {DEMO_PASSWORD} (role admin).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
