"""`python -m bench [part ...] [--db sqlite|postgresql|both] [--scale small|medium|large]`.

Benchmarks against the raw limits of this machine. Nothing fails because the machine is slow: every
figure is printed (with its raw limit, the ratio and the target) and written to bench/results/<ts>.json
and bench/results/latest.json; a part that raises records its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.util import RESULTS, SCALES, Failure, Figure, Timer, machine, pg_problem, quiet_logs, workdir

PARTS = ("append", "ingest", "mllp", "derive", "rebuild", "memory", "alert-latency", "startup", "dropfolder")


def _runners() -> dict[str, tuple[Callable[..., list[Figure]], bool]]:
    """part -> (function(ctx, db), runs per database)."""
    from bench import live, ops, parts

    def derive(ctx: parts.Context, db: str) -> list[Figure]:
        return parts.bench_rederive_store(ctx, db) if db != "-" else parts.bench_derive(ctx, db)

    return {
        "append": (parts.bench_append, True),
        "ingest": (parts.bench_ingest, True),
        "mllp": (live.bench_mllp, True),
        "derive": (derive, True),
        "rebuild": (parts.bench_rebuild, True),
        "memory": (parts.bench_memory, True),
        "alert-latency": (live.bench_alert_latency, True),
        "startup": (ops.bench_startup, False),
        "dropfolder": (ops.bench_dropfolder, True),
    }


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "ms":
        return f"{v:.2f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def print_table(figures: list[Figure], failures: list[Failure], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200 if not sys.stdout.isatty() else None)
    table = Table(title=f"itpwatch benchmarks ({meta['scale']}) on {meta['machine']['cores']} cores, "
                        f"Python {meta['machine']['python']}, commit {str(meta['machine']['git_commit'])[:10]}")
    for col, just in (("part", "left"), ("figure", "left"), ("db", "left"), ("value", "right"), ("unit", "left"),
                      ("raw limit", "right"), ("ratio", "right"), ("target", "right"), ("met", "center")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for f in figures:
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[f.target_met]
        target = "-" if f.target is None else f"{f.target_kind} {_fmt(f.target, f.unit)}"
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}"
        table.add_row(f.part, f.name + (f"\n[dim]{f.note}[/dim]" if f.note else ""), f.db, _fmt(f.value, f.unit),
                      f.unit, _fmt(f.raw_limit), ratio, target, met)
    console.print(table)
    for fail in failures:
        console.print(f"[red]{fail.part} ({fail.db}) failed:[/red] {fail.error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--scale", choices=tuple(SCALES), default="medium")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run of the ingest path")
    args = parser.parse_args(argv)
    if unknown := [p for p in args.parts if p not in PARTS]:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    selected = [p for p in PARTS if not args.parts or p in args.parts]
    quiet_logs()
    from bench.parts import Context, profile_ingest

    scale = SCALES[args.scale]
    wd = workdir()
    ctx = Context(scale, wd)
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    figures: list[Figure] = []
    failures: list[Failure] = []
    notes: list[str] = []
    if "postgresql" in dbs and (problem := pg_problem()) is not None:
        notes.append(f"PostgreSQL not reachable, its figures are skipped: {problem}")
        failures.append(Failure("*", "postgresql", f"not reachable: {problem}", ""))
        dbs.remove("postgresql")
    runners = _runners()
    timings: dict[str, float] = {}
    total = Timer()

    def attempt(part: str, db: str, fn: Callable[[], list[Figure]]) -> None:
        print(f"[bench] {part} ({db}) ...", file=sys.stderr, flush=True)
        t = Timer()
        try:
            figures.extend(fn())
        except Exception as exc:
            failures.append(Failure(part, db, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
            print(f"[bench] {part} ({db}) FAILED: {exc}", file=sys.stderr, flush=True)
        timings[f"{part}/{db}"] = round(t.elapsed, 2)

    profile: dict[str, Any] | None = None
    try:
        for part in selected:
            fn, per_db = runners[part]
            if part == "derive":
                attempt(part, "-", lambda fn=fn: fn(ctx, "-"))  # type: ignore[misc]
            for db in dbs if per_db else ["-"]:
                attempt(part, db, lambda fn=fn, db=db: fn(ctx, db))  # type: ignore[misc]
        if "ingest" in selected and not args.no_profile:
            print("[bench] profile of the ingest path ...", file=sys.stderr, flush=True)
            try:
                profile = profile_ingest(ctx)
            except Exception as exc:
                failures.append(Failure("profile", "sqlite", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        shutil.rmtree(wd, ignore_errors=True)
    meta = {"scale": scale.name, "scale_parameters": scale.__dict__, "parts": selected, "databases": dbs,
            "machine": machine(), "seconds": round(total.elapsed, 1), "part_seconds": timings, "notes": notes}
    result = {**meta, "figures": [f.as_dict() for f in figures],
              "failures": [f.__dict__ for f in failures], "ingest_profile": profile}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(result, indent=2, default=str)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print_table(figures, failures, meta)
    print(f"results: {RESULTS / (stamp + '.json')} (and latest.json); {total.elapsed:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
