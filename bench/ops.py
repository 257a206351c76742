"""Operations benchmarks: how fast the CLI starts, and a drop folder of one message per file.

startup: wall time of `itpwatch --help`, `status` and `ingest` of one file, each in a fresh process,
against `python -c pass` of the same interpreter (the floor no command can beat). The median of a few
runs is reported with the difference to the floor; the target is --help within 0.3 s of it.

dropfolder: the same HL7 messages ingested as one file and as one file per message (what interface
engines write), each into a fresh database; the target is the folder within 1.5x of the single file.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.util import Figure, Timer, fresh_db

RUNS = 7
ITPWATCH = str(Path(sys.executable).parent / "itpwatch")


def _wall(args: list[str], runs: int = RUNS) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of a fresh process; output discarded.

    The CPU time does not grow when other processes share the cores, the wall time does: on a loaded
    machine the CPU time says what the command costs, the wall time what a user waits.
    """
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


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
            floor, floor_cpu = _wall([sys.executable, "-c", "pass"])
            value, cpu = _wall(args)
            target = 0.3 if name == "--help" else None
            out.append(Figure("startup", f"{name}: wall time over `python -c pass`", "-", value - floor, "s",
                              raw_limit=floor, raw_name="python -c pass", target=target, target_kind="<=",
                              n=RUNS, seconds=value, extra={"cpu_seconds": cpu, "python_cpu_seconds": floor_cpu},
                              note=f"median of {RUNS}; absolute {value:.2f} s; CPU {cpu:.2f} s "
                                   f"(python -c pass: {floor_cpu:.2f} s)"))
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
    warm = workdir / "warm-up.hl7"  # the first ingest of a process compiles the profile and fills caches
    warm.write_bytes(b"".join(messages[:100]))
    runs: tuple[tuple[str, list[Path]], ...] = (("warm-up", [warm]), ("one file", [single]),
                                               ("one file per message", per_message))
    for name, paths in runs:
        with fresh_db(db, workdir) as url:
            app = _app(url)
            try:
                from engine.files.batch import ingest_files

                t = Timer()
                summary = ingest_files(app, paths)
                timings[name] = t.elapsed
                assert name == "warm-up" or summary.messages == len(messages)
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
