"""Operations benchmarks: how fast the CLI starts, and a drop folder of one message per file.

startup: wall time of `itpwatch --help`, `status` and `ingest` of one file, each in a fresh process,
against `python -c pass` of the same interpreter (the floor no command can beat). The median of a few
runs is reported with the difference to the floor; the target is --help within 0.3 s of it.

dropfolder: the same HL7 messages ingested as one file and as one file per message (what interface
engines write), each into a fresh database; the target is the folder within 1.5x of the single file.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.util import Figure, Timer, fresh_db

RUNS = 7
ITPWATCH = str(Path(sys.executable).parent / "itpwatch")


def _wall(args: list[str], runs: int = RUNS) -> float:
    """Median wall time of a fresh process (stdout and stderr discarded)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_startup(ctx: object, db: str) -> list[Figure]:
    """CLI start-up against bare Python, paired in one run (the floor is measured between the commands)."""
    from bench.util import REPO

    workdir: Path = ctx.workdir  # type: ignore[attr-defined]
    sample = REPO / "examples" / "feed" / "enrollment.csv"
    with fresh_db("sqlite", workdir) as url:
        subprocess.run([ITPWATCH, "--db", url, "ingest", str(REPO / "examples" / "feed")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        subprocess.run([ITPWATCH, "--db", url, "status"], stdout=subprocess.DEVNULL, check=True)  # read models
        commands = {
            "--help": [ITPWATCH, "--help"],
            "status (example cohort)": [ITPWATCH, "--db", url, "status"],
            "ingest of one file (a resend: duplicates)": [ITPWATCH, "--db", url, "ingest", str(sample)],
        }
        out = []
        for name, args in commands.items():
            floor = _wall([sys.executable, "-c", "pass"])
            value = _wall(args)
            target = 0.3 if name == "--help" else None
            out.append(Figure("startup", f"{name}: wall time over `python -c pass`", "-", value - floor, "s",
                              raw_limit=floor, raw_name="python -c pass", target=target, target_kind="<=",
                              n=RUNS, seconds=value, note=f"median of {RUNS}; absolute {value:.2f} s"))
        return out


def bench_dropfolder(ctx: object, db: str) -> list[Figure]:
    """The same messages as one file and as one file per message; the folder's time over the file's."""
    from bench.parts import _app

    workdir: Path = ctx.workdir  # type: ignore[attr-defined]
    feed, _ = ctx.feed("relevant")  # type: ignore[attr-defined]
    messages = [m + b"\r\n" for m in feed[:2000]]
    single = workdir / "single.hl7"
    single.write_bytes(b"".join(messages))
    folder = workdir / "per-message"
    folder.mkdir(exist_ok=True)
    per_message = []
    for i, message in enumerate(messages):
        path = folder / f"{i:06d}.hl7"
        path.write_bytes(message)
        per_message.append(path)
    timings = {}
    for name, paths in (("one file", [single]), ("one file per message", per_message)):
        with fresh_db(db, workdir) as url:
            app = _app(url)
            try:
                from engine.files.batch import ingest_files

                t = Timer()
                summary = ingest_files(app, paths)
                timings[name] = t.elapsed
                assert summary.messages == len(messages)
            finally:
                app.close()
    n = len(messages)
    ratio = timings["one file per message"] / timings["one file"]
    return [
        Figure("dropfolder", "ingest, one file", db, n / timings["one file"], "msgs/s", n=n,
               seconds=timings["one file"]),
        Figure("dropfolder", "ingest, one file per message: time over one file", db, ratio, "x",
               target=1.5, target_kind="<=", n=n, seconds=timings["one file per message"],
               note=f"{len(per_message)} files, {n / timings['one file per message']:.0f} msgs/s"),
    ]
