"""Shared pieces of the benchmarks: scales, throw-away databases, timing, figures, machine facts, corpora."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PG_URL = os.environ.get("ITPWATCH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/itpwatch_test")

PACKAGES = ("durable-rules", "hl7", "SQLAlchemy", "psycopg", "psycopg-binary", "pydantic", "pydantic-core",
            "alembic", "structlog", "rich")


@dataclass(frozen=True)
class Scale:
    name: str
    feed_patients: int
    """Patients of the generated hospital feed (6 months) for bulk ingest."""
    feed_months: int
    events: int
    """Events of the store-append log and of the derivation cohort."""
    mllp_messages: int
    """Messages per unpaced MLLP run."""
    paced_seconds: float
    memory_logs: tuple[int, ...]
    """Log sizes at which peak RSS is measured; the last one is extrapolated to 1M when below it."""


SCALES = {
    "small": Scale("small", 500, 6, 20_000, 500, 4.0, (10_000, 20_000)),
    "medium": Scale("medium", 1000, 6, 100_000, 2000, 10.0, (50_000, 100_000)),
    "large": Scale("large", 10_000, 12, 100_000, 5000, 30.0, (250_000, 1_000_000)),
}


@dataclass
class Figure:
    """One measured figure, next to the raw limit of the same work on this machine."""

    part: str
    name: str
    db: str
    value: float | None
    unit: str
    raw_limit: float | None = None
    raw_name: str | None = None
    target: float | None = None
    target_kind: str = ">="
    n: int | None = None
    seconds: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.raw_limit:
            return None
        return self.value / self.raw_limit

    @property
    def target_met(self) -> bool | None:
        if self.target is None or self.value is None:
            return None
        return self.value >= self.target if self.target_kind == ">=" else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["target_met"] = self.target_met
        return d


@dataclass
class Failure:
    part: str
    db: str
    error: str
    traceback: str


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would report the forking parent's peak after exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_logs() -> None:
    """Benchmarks measure the engine, not a terminal: warnings only, to stderr."""
    from engine import logs

    logs.configure("json", "WARNING")


# -- databases -------------------------------------------------------------------------------------------
@contextmanager
def fresh_db(kind: str, workdir: Path) -> Iterator[str]:
    """A throw-away database URL: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in PG_URL else "?"
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def pg_problem() -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="itpwatch-bench-"))


# -- machine ---------------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# -- corpora ---------------------------------------------------------------------------------------------
def feed_messages(patients: int, months: int, *, cohort_fraction: float = 0.03,
                  kinds: frozenset[str] | None = None) -> list[bytes]:
    from bench.feedgen import iter_feed

    return [raw for kind, _, raw in iter_feed(patients=patients, months=months, cohort_fraction=cohort_fraction)
            if kinds is None or kind in kinds]


RELEVANT_KINDS = frozenset({"platelet_oru", "administration", "correction"})


def parse_events(messages: list[bytes]) -> list[Any]:
    """The events the HL7 adapter makes of messages (accepted ones only), in feed order."""
    from adapters.base import Accepted
    from adapters.mapping import SiteMapping
    from adapters.reader import read_bytes

    data = b"".join(m + b"\r\n" for m in messages)
    out = read_bytes(data, origin="bench", received_at=datetime(2023, 6, 1, tzinfo=UTC),
                     mapping=SiteMapping.default(), tz="Europe/Berlin")
    return [e for m in out if isinstance(m.outcome, Accepted) for e in m.outcome.events]


_COHORT_CACHE: dict[int, list[Any]] = {}


def cohort_events(n: int) -> list[Any]:
    """About n clinical events of an all-anti-CD38 cohort (12 months), parsed from the generated feed.

    Whole patients only: the feed is cut at the first patient boundary at or after n events. Parsed once
    per process; larger n replicate the cohort under new patient ids (see replicate).
    """
    if n in _COHORT_CACHE:
        return _COHORT_CACHE[n]
    import hashlib
    import pickle

    feedgen = (REPO / "bench" / "feedgen.py").read_bytes()
    key = hashlib.sha256(feedgen + (REPO / "adapters" / "hl7v2" / "parse.py").read_bytes()).hexdigest()[:12]
    cache = RESULTS / "cache" / f"cohort-{n}-{key}.pickle"
    if cache.exists():
        try:
            _COHORT_CACHE[n] = pickle.loads(cache.read_bytes())
            return _COHORT_CACHE[n]
        except Exception:
            cache.unlink(missing_ok=True)
    # ~95 events per cohort patient over 12 months (demographics with every message, counts, doses)
    patients = min(1500, max(20, n // 90))
    base = parse_events(feed_messages(patients, 12, cohort_fraction=1.0))
    events = base if len(base) >= n else replicate(base, n)
    by_stream: dict[str, list[Any]] = {}
    for e in events:
        by_stream.setdefault(e.stream, []).append(e)
    out: list[Any] = []
    for stream_events in by_stream.values():
        if len(out) >= n:
            break
        out.extend(stream_events)
    _COHORT_CACHE[n] = out
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        cache.unlink(missing_ok=True)
    return out


def replicate(events: list[Any], n: int) -> list[Any]:
    """Copies of events under new patient streams and new ids until there are at least n."""
    from events import stable_event_id

    out = list(events)
    k = 1
    while len(out) < n:
        for e in events:
            out.append(e.model_copy(update={"stream": f"{e.stream}-r{k}",
                                            "event_id": stable_event_id(str(e.event_id), f"r{k}")}))
        k += 1
    return out
