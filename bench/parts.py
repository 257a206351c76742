"""The sub-benchmarks. Each takes a database kind ('sqlite', 'postgresql' or '-') and returns figures."""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import pstats
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.util import (
    RELEVANT_KINDS,
    RESULTS,
    Figure,
    Scale,
    Timer,
    cohort_events,
    feed_messages,
    fresh_db,
    replicate,
)

RECEIVED_AT = datetime(2023, 6, 1, tzinfo=UTC)


class Context:
    """What the parts share within one run: the work directory, the scale and generated corpora."""

    def __init__(self, scale: Scale, workdir: Path, *, profile: bool = True) -> None:
        self.scale = scale
        self.workdir = workdir
        self.profile = profile
        self._feeds: dict[str, tuple[list[bytes], list[Path]]] = {}
        self._parse_raw: dict[str, tuple[float, float]] = {}

    def feed(self, which: str) -> tuple[list[bytes], list[Path]]:
        """The generated feed ('mixed' or 'relevant') as messages and as files of 1000 messages."""
        if which not in self._feeds:
            kinds = RELEVANT_KINDS if which == "relevant" else None
            messages = feed_messages(self.scale.feed_patients, self.scale.feed_months, kinds=kinds)
            folder = self.workdir / f"feed-{which}"
            folder.mkdir(parents=True, exist_ok=True)
            files = []
            for i in range(0, len(messages), 1000):
                path = folder / f"feed-{i // 1000 + 1:05d}.hl7"
                path.write_bytes(b"".join(m + b"\r\n" for m in messages[i:i + 1000]))
                files.append(path)
            self._feeds[which] = (messages, files)
        return self._feeds[which]

    def hl7_parse_rate(self, which: str) -> tuple[float, float]:
        """Raw limit: decode + hl7.parse of every message of the feed; (msgs/s, seconds)."""
        if which not in self._parse_raw:
            import hl7

            messages, _ = self.feed(which)
            t = Timer()
            for m in messages:
                hl7.parse(m.decode("latin-1"))
            self._parse_raw[which] = (len(messages) / t.elapsed, t.elapsed)
        return self._parse_raw[which]


def _app(url: str) -> Any:
    from engine.app import App
    from engine.config import Settings

    app = App(Settings(database_url=url))
    _ = app.store, app.live_processor, app.mapping, app.tzinfo  # open (migrate) and compile outside the timing
    return app


# -- store appends ---------------------------------------------------------------------------------------
def bench_append(ctx: Context, db: str) -> list[Figure]:
    from sqlalchemy import select

    from engine.store.schema import events as events_table

    events = cohort_events(ctx.scale.events)[: ctx.scale.events]
    n = len(events)
    batch = 2000
    with fresh_db(db, ctx.workdir) as url:
        app = _app(url)
        try:
            store = app.store
            t = Timer()
            for i in range(0, n, batch):
                with store.writer() as w:
                    w.append(events[i:i + batch])
            store_s = t.elapsed
            cols = [c.name for c in events_table.columns]
            with store.engine.connect() as conn:
                rows = [tuple(r) for r in conn.execute(select(*events_table.columns).order_by(events_table.c.position))]
            raw_s = _raw_executemany(store.engine, db, cols, rows, batch)
        finally:
            app.close()
    return [Figure("append", "store append (2000 events/txn)", db, n / store_s, "events/s",
                   raw_limit=n / raw_s, raw_name="executemany into a plain table", n=n, seconds=store_s,
                   extra={"raw_seconds": raw_s})]


def _raw_executemany(engine: Any, db: str, cols: list[str], rows: list[tuple[Any, ...]], batch: int) -> float:
    """The same rows into a table without keys or indexes, through the DBAPI directly, batch per commit."""
    dbapi = engine.raw_connection()
    try:
        cur = dbapi.cursor()
        col_types = "position BIGINT, event_id TEXT, stream TEXT, stream_version INTEGER, type TEXT, " \
                    "schema_version INTEGER, occurred_at TIMESTAMP{tz}, recorded_at TIMESTAMP{tz}, " \
                    "message_key TEXT, derivation_set TEXT, payload TEXT, hash TEXT, chain_version INTEGER"
        tz = " WITH TIME ZONE" if db == "postgresql" else ""
        cur.execute(f"CREATE TABLE raw_events ({col_types.format(tz=tz)})")
        dbapi.commit()
        mark = "%s" if db == "postgresql" else "?"
        sql = f"INSERT INTO raw_events ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
        t = Timer()
        for i in range(0, len(rows), batch):
            if db == "sqlite":
                cur.execute("BEGIN IMMEDIATE")  # the engine's connections are in autocommit mode
                cur.executemany(sql, rows[i:i + batch])
                cur.execute("COMMIT")
            else:
                cur.executemany(sql, rows[i:i + batch])
                dbapi.commit()
        return t.elapsed
    finally:
        dbapi.close()


# -- bulk ingest -----------------------------------------------------------------------------------------
def _ingest_files(app: Any, files: Sequence[Path]) -> dict[str, float]:
    """read + parse, append + derive, then project: the `itpwatch ingest` path, with stage timings."""
    from adapters.reader import read_bytes
    from engine.projections import update

    ingestor = app.ingestor()
    stages = {"read_parse": 0.0, "append_derive": 0.0, "project": 0.0, "messages": 0.0, "events": 0.0,
              "derived": 0.0}
    for path in files:
        t = Timer()
        messages = read_bytes(path.read_bytes(), origin=str(path), received_at=RECEIVED_AT, mapping=app.mapping,
                              tz=app.tzinfo)
        stages["read_parse"] += t.elapsed
        t = Timer()
        summary = ingestor.ingest(messages)
        stages["append_derive"] += t.elapsed
        stages["messages"] += summary.messages
        stages["events"] += summary.events
        stages["derived"] += summary.derived
    t = Timer()
    update(app.store)
    stages["project"] = t.elapsed
    return stages


def bench_ingest(ctx: Context, db: str) -> list[Figure]:
    out: list[Figure] = []
    for which, target in (("mixed", 10_000.0), ("relevant", 2_000.0)):
        _, files = ctx.feed(which)
        raw_rate, _ = ctx.hl7_parse_rate(which)
        with fresh_db(db, ctx.workdir) as url:
            app = _app(url)
            try:
                t = Timer()
                stages = _ingest_files(app, files)
                total = t.elapsed
            finally:
                app.close()
        n = int(stages["messages"])
        out.append(Figure("ingest", f"bulk ingest, {which} feed", db, n / total, "msgs/s", raw_limit=raw_rate,
                          raw_name="hl7.parse of the same messages", target=target, n=n, seconds=total,
                          extra={k: round(v, 3) for k, v in stages.items()}))
    return out


def profile_ingest(ctx: Context) -> dict[str, Any]:
    """cProfile of the ingest path (SQLite, mixed feed, up to 10 files), saved beside the JSON."""
    _, files = ctx.feed("mixed")
    files = files[:10]
    with fresh_db("sqlite", ctx.workdir) as url:
        app = _app(url)
        try:
            prof = cProfile.Profile()
            prof.enable()
            _ingest_files(app, files)
            prof.disable()
        finally:
            app.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(str(RESULTS / "ingest.prof"))
    text = io.StringIO()
    for key in ("tottime", "cumulative"):
        text.write(f"==== top 30 by {key} (SQLite, mixed feed, {len(files)} files) ====\n")
        pstats.Stats(prof, stream=text).sort_stats(key).print_stats(30)
    (RESULTS / "ingest-top30.txt").write_text(text.getvalue())
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({fn})", "file": file, "calls": nc,
                     "tottime": round(tt, 4), "cumtime": round(ct, 4)})
    top_tot = sorted(rows, key=lambda r: -r["tottime"])[:30]
    top_cum = sorted(rows, key=lambda r: -r["cumtime"])[:40]
    return {"total_seconds": round(total, 3), "files": len(files), "top_tottime": top_tot, "top_cumtime": top_cum}


# -- derivation ------------------------------------------------------------------------------------------
class _Recorder:
    """A matcher wrapper that keeps every validated situation (to replay them raw into durable_rules)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.compiled = inner.compiled
        self.facts: list[dict[str, Any]] = []

    def fire(self, situation: Any) -> frozenset[str]:
        from rules.matching import validate_situation

        self.facts.append(validate_situation(situation))
        return self.inner.fire(situation)  # type: ignore[no-any-return]


def bench_derive(ctx: Context, db: str) -> list[Figure]:
    from rules import DurableMatcher, PatientDeriver, PrefilteredMatcher, ReferenceMatcher, load_profile, sort_key
    from rules.compiler import compile_profile

    profile = load_profile("site")
    compiled = compile_profile(profile)
    events = cohort_events(ctx.scale.events)[: ctx.scale.events]
    n = len(events)
    by_patient: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        by_patient[e.stream].append(e)
    for evs in by_patient.values():
        evs.sort(key=sort_key)

    # raw limit: the situations of one full derivation, asserted and retracted straight into durable_rules
    recorder = _Recorder(ReferenceMatcher(compiled))
    for patient, evs in by_patient.items():
        PatientDeriver(profile, recorder, patient=patient).load(evs)  # type: ignore[arg-type]
    raw = DurableMatcher(compiled)
    raw_s = _raw_durable(raw, recorder.facts)
    raw_rate = n / raw_s

    # the incremental path is quadratic per patient, not in the cohort size: a subset of whole patients
    subset: dict[str, list[Any]] = {}
    sub_n = 0
    for patient, evs in by_patient.items():
        if sub_n >= 25_000:
            break
        subset[patient] = evs
        sub_n += len(evs)
    out: list[Figure] = []
    # as the engine runs them (rules.make_matcher): the exact equality prefilter in front of each matcher
    matchers: list[tuple[str, Callable[[], Any]]] = [
        ("durable_rules", lambda: PrefilteredMatcher(DurableMatcher(compiled))),
        ("reference", lambda: PrefilteredMatcher(ReferenceMatcher(compiled))),
    ]
    for label, make in matchers:
        matcher = make()
        t = Timer()
        derived = 0
        for patient, evs in subset.items():
            d = PatientDeriver(profile, matcher, patient=patient)
            for e in evs:
                derived += len(d.feed(e))
        feed_s = t.elapsed
        t = Timer()
        for patient, evs in by_patient.items():
            PatientDeriver(profile, matcher, patient=patient).load(evs)
        load_s = t.elapsed
        common = {"raw_limit": raw_rate, "raw_name": "durable_rules assert+retract of the same situations",
                  "target": 20_000.0}
        out.append(Figure("derive", f"derivation, incremental ({label})", "-", sub_n / feed_s, "events/s", n=sub_n,
                          seconds=feed_s, extra={"derived": derived, "patients": len(subset), "events": sub_n},
                          note=f"first {len(subset)} patients ({sub_n:,} events) of the cohort", **common))
        out.append(Figure("derive", f"re-derivation, full re-fold ({label})", "-", n / load_s, "events/s", n=n,
                          seconds=load_s, extra={"patients": len(by_patient)}, **common))
    out.append(Figure("derive", "durable_rules assert+retract (raw)", "-", len(recorder.facts) / raw_s,
                      "situations/s", n=len(recorder.facts), seconds=raw_s,
                      note=f"{len(recorder.facts) / n:.2f} situations per event"))
    return out


def _raw_durable(matcher: Any, facts: list[dict[str, Any]]) -> float:
    from durable.engine import MessageNotHandledException

    host, ruleset = matcher._host, matcher._ruleset
    prepared = [{**f, "id": f"raw{i}"} for i, f in enumerate(facts)]
    t = Timer()
    for fact in prepared:
        try:
            host.assert_fact(ruleset, fact)
        except MessageNotHandledException:
            continue
        with contextlib.suppress(MessageNotHandledException):
            host.retract_fact(ruleset, fact)
    return t.elapsed


def bench_rederive_store(ctx: Context, db: str) -> list[Figure]:
    """Re-derivation through the store: every patient re-derived by the processor inside one writer."""
    events = cohort_events(ctx.scale.events)[: ctx.scale.events]
    n = len(events)
    with fresh_db(db, ctx.workdir) as url:
        app = _app(url)
        try:
            store = app.store
            for i in range(0, n, 2000):
                with store.writer() as w:
                    w.append(events[i:i + 2000])
            processor = app.processor()
            patients = sorted({e.stream for e in events})
            t = Timer()
            derived = 0
            with store.writer() as w:
                for p in patients:
                    derived += processor.rederive_patient(w, p)
            secs = t.elapsed
        finally:
            app.close()
    return [Figure("derive", "re-derivation through the store (processor)", db, n / secs, "events/s",
                   target=20_000.0, n=n, seconds=secs, extra={"derived": derived, "patients": len(patients)})]


# -- projection rebuild ----------------------------------------------------------------------------------
def bench_rebuild(ctx: Context, db: str) -> list[Figure]:
    from sqlalchemy import select

    from engine.projections import rebuild
    from engine.store.schema import events as events_table

    _, files = ctx.feed("mixed")
    with fresh_db(db, ctx.workdir) as url:
        app = _app(url)
        try:
            _ingest_files(app, files)
            store = app.store
            head = store.head()
            t = Timer()
            applied = rebuild(store)
            secs = t.elapsed
            t = Timer()
            rows = 0
            with store.engine.connect() as conn:
                result = conn.execution_options(yield_per=5000).execute(
                    select(events_table.c.position, events_table.c.payload, events_table.c.message_key)
                    .order_by(events_table.c.position))
                for _ in result:
                    rows += 1
            raw_s = t.elapsed
            t = Timer()
            parsed = sum(1 for _ in store.read_all())
            read_all_s = t.elapsed
        finally:
            app.close()
    return [Figure("rebuild", "projection rebuild (alerts + patient_status)", db, head / secs, "events/s",
                   raw_limit=rows / raw_s, raw_name="SELECT of the log rows, no parsing", target=200_000.0,
                   n=head, seconds=secs,
                   extra={"applications": applied, "raw_seconds": raw_s, "read_all_events_per_s": parsed / read_all_s}),
            Figure("rebuild", "store.read_all (rows parsed into events)", db, parsed / read_all_s, "events/s",
                   raw_limit=rows / raw_s, raw_name="SELECT of the log rows, no parsing", n=parsed,
                   seconds=read_all_s)]


# -- memory ----------------------------------------------------------------------------------------------
MEMORY_OPS = ("baseline", "verify", "rebuild")


def bench_memory(ctx: Context, db: str) -> list[Figure]:
    sizes = ctx.scale.memory_logs
    base = cohort_events(min(ctx.scale.events, sizes[-1]))
    events = base if len(base) >= sizes[-1] else replicate(base, sizes[-1])
    points: dict[str, list[tuple[int, float]]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    with fresh_db(db, ctx.workdir) as url:
        app = _app(url)
        try:
            done = 0
            for size in sizes:
                for i in range(done, size, 5000):
                    with app.store.writer() as w:
                        w.append(events[i:min(i + 5000, size)])
                done = size
                for op in MEMORY_OPS:
                    res = _memchild(url, op)
                    points[op].append((size, res["peak_rss_mb"]))
                    seconds[op].append(res["seconds"])
        finally:
            app.close()
    out: list[Figure] = []
    million = 1_000_000
    for op in MEMORY_OPS:
        pts = points[op]
        measured = pts[-1][0] >= million
        if measured:
            value = pts[-1][1]
            note = f"measured on a {pts[-1][0]:,}-event log"
        else:
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
            value = y1 + slope * (million - x1)
            note = (f"EXTRAPOLATED linearly to 1M from {x0:,} events ({y0:.0f} MB) and {x1:,} events ({y1:.0f} MB); "
                    f"run --scale large for the real 1M")
        out.append(Figure("memory", f"peak RSS, {op}, 1M-event log", db, value, "MB",
                          target=500.0 if op != "baseline" else None, target_kind="<=", note=note,
                          extra={"points": pts, "seconds": seconds[op], "extrapolated": not measured}))
    return out


def _memchild(url: str, op: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "bench.memchild", url, op], capture_output=True, text=True,
                          timeout=3600, cwd=str(RESULTS.parents[1]))
    if proc.returncode != 0:
        raise RuntimeError(f"memchild {op} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
