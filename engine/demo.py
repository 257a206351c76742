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
    ]
    runner = CliRunner()
    for title, args in steps:
        print(f"\n=== {title}: itpwatch {' '.join(args)}", flush=True)
        result = runner.invoke(app, ["--db", db, "--log-format", "json", *args], catch_exceptions=False)
        print(result.output, end="", flush=True)
        if result.exit_code != 0:
            print(f"step failed with exit code {result.exit_code}", file=sys.stderr)
            return result.exit_code
    print(f"\ndemo finished in {time.monotonic() - started:.1f} s; database {OUT / 'itpwatch.db'}, "
          f"report {OUT / 'report.html'}, plots in {OUT / 'plots'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
