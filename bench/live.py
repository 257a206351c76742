"""Live benchmarks against a real `itpwatch serve` subprocess: MLLP throughput, ACK latency, alert latency."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.parts import Context
from bench.util import REPO, Figure, Timer, fresh_db, percentile

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"


@contextmanager
def itpwatch_server(url: str, workdir: Path, *, sinks: Path | None = None) -> Iterator[int]:
    """`itpwatch serve --mllp-port 0` in a subprocess; yields the port; always killed at the end."""
    exe = Path(sys.executable).parent / "itpwatch"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from engine.cli import app; app()"]
    cmd += ["--db", url, "--log-format", "json"]
    if sinks is not None:
        cmd += ["--sinks", str(sinks)]
    cmd += ["serve", "--mllp-port", "0"]
    log = open(workdir / f"serve-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, cwd=str(REPO), env=env)
    try:
        port = _wait_listening(proc)
        yield port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def _wait_listening(proc: subprocess.Popen[bytes]) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"itpwatch serve exited with {proc.returncode}")
            continue
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if data.get("listening") == "mllp":
                return int(data["port"])
    raise RuntimeError("itpwatch serve did not report a listening port")


class Sender:
    """One MLLP connection: send a frame, block until its ACK frame is read."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, message: bytes) -> bytes:
        self.sock.sendall(VT + message + FS + CR)
        while (end := self.buf.find(FS + CR)) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        ack, self.buf = self.buf[:end], self.buf[end + 2:]
        return ack.lstrip(VT)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _ack_code(ack: bytes) -> str:
    for seg in ack.split(b"\r"):
        if seg.startswith(b"MSA"):
            parts = seg.split(b"|")
            return parts[1].decode() if len(parts) > 1 else "?"
    return "?"


def _run_senders(port: int, chunks: list[list[bytes]], *, rate: float | None, deadline_s: float) -> dict[str, Any]:
    """Each chunk on its own connection; paced at `rate` msgs/s in total when given (open-loop schedule)."""
    senders = [Sender(port) for _ in chunks]
    latencies: list[float] = []
    from_schedule: list[float] = []
    codes: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    k = len(chunks)
    start = time.perf_counter() + 0.05

    def work(i: int) -> None:
        lat: list[float] = []
        sched: list[float] = []
        local: dict[str, int] = {}
        try:
            for j, msg in enumerate(chunks[i]):
                due = start + (j * k + i) / rate if rate else None
                now = time.perf_counter()
                if due is not None and due > now:
                    time.sleep(due - now)
                if time.perf_counter() - start > deadline_s:
                    break
                t0 = time.perf_counter()
                ack = senders[i].send(msg)
                t1 = time.perf_counter()
                lat.append(t1 - t0)
                sched.append(t1 - (due if due is not None else t0))
                code = _ack_code(ack)
                local[code] = local.get(code, 0) + 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        with lock:
            latencies.extend(lat)
            from_schedule.extend(sched)
            for c, v in local.items():
                codes[c] = codes.get(c, 0) + v

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(k)]
    t = Timer()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=deadline_s + 120)
    wall = t.elapsed - 0.05
    for s in senders:
        s.close()
    return {"sent": len(latencies), "wall": wall, "latencies": latencies, "from_schedule": from_schedule,
            "codes": codes, "errors": errors[:5]}


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 3)


def bench_mllp(ctx: Context, db: str) -> list[Figure]:
    messages, _ = ctx.feed("mixed")
    n = ctx.scale.mllp_messages
    rate = 500.0
    paced_n = int(rate * ctx.scale.paced_seconds)
    if len(messages) < 2 * n + paced_n:
        raise RuntimeError("feed too small for the MLLP runs")
    out: list[Figure] = []
    with fresh_db(db, ctx.workdir) as url, itpwatch_server(url, ctx.workdir) as port:
        # warm-up: compile, first connection, first transaction
        warm = Sender(port)
        warm.send(messages[-1])
        warm.close()
        offset = 0
        for senders in (1, 8):
            block = messages[offset:offset + n]
            offset += n
            res = _run_senders(port, [block[i::senders] for i in range(senders)], rate=None, deadline_s=600)
            out.append(Figure("mllp", f"MLLP live ingest, {senders} sender(s), unpaced", db, res["sent"] / res["wall"],
                              "msgs/s", n=res["sent"], seconds=res["wall"],
                              extra={"ack_p50_ms": _ms(percentile(res["latencies"], 50)),
                                     "ack_p99_ms": _ms(percentile(res["latencies"], 99)),
                                     "ack_codes": res["codes"], "errors": res["errors"]}))
        block = messages[offset:offset + paced_n]
        res = _run_senders(port, [block[i::8] for i in range(8)], rate=rate, deadline_s=ctx.scale.paced_seconds * 3)
        lat = res["latencies"]
        extra = {"ack_p50_ms": _ms(percentile(lat, 50)), "ack_p99_ms": _ms(percentile(lat, 99)),
                 "ack_max_ms": _ms(max(lat) if lat else None),
                 "p99_from_schedule_ms": _ms(percentile(res["from_schedule"], 99)),
                 "achieved_msgs_per_s": res["sent"] / res["wall"] if res["wall"] > 0 else None,
                 "offered_msgs_per_s": rate, "ack_codes": res["codes"], "errors": res["errors"]}
        out.append(Figure("mllp", "ACK latency p50 at 500 msgs/s (8 senders, paced)", db,
                          extra["ack_p50_ms"], "ms", n=res["sent"], seconds=res["wall"], extra=extra))
        out.append(Figure("mllp", "ACK latency p99 at 500 msgs/s (8 senders, paced)", db,
                          extra["ack_p99_ms"], "ms", target=20.0, target_kind="<=", n=res["sent"],
                          seconds=res["wall"],
                          note=f"achieved {extra['achieved_msgs_per_s']:.0f} msgs/s; p99 from the send schedule "
                               f"(incl. queueing) {extra['p99_from_schedule_ms']} ms"))
    return out


# -- alert latency ---------------------------------------------------------------------------------------
def dispatch_available() -> bool:
    return (REPO / "engine" / "alerts" / "dispatch.py").exists()


class _Receiver(http.server.ThreadingHTTPServer):
    received: list[tuple[float, bytes]]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        assert isinstance(server, _Receiver)
        server.received.append((time.perf_counter(), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _hl7_ts(t: float) -> str:
    return time.strftime("%Y%m%d%H%M%S+0000", time.gmtime(t))


def _probe_messages(i: int, now: float) -> tuple[bytes, bytes]:
    """A daratumumab dose (tracks patient i) and a CBC with platelets 12 (alert platelets-below-20)."""
    mrn = f"9{i:07d}"
    pid = f"PID|1||{mrn}^^^UKX^MR||Test^Alert{i}^^^^^L||19600101|F"
    dose_at, count_at = _hl7_ts(now - 3600), _hl7_ts(now - 600)
    ras = "\r".join([
        f"MSH|^~\\&|PHARM|UKX|ITPWATCH|UKX|{dose_at}||RAS^O17^RAS_O17|BA{i:08d}|P|2.5|||AL|NE|DEU|8859/1",
        pid, "PV1|1|O|AMB^^^UKX",
        f"ORC|RE|RB{i:08d}^KIS|AB{i:08d}^PHARM||CM||||{dose_at}",
        f"RXA|0|1|{dose_at}|{dose_at}|L01FC01^Daratumumab^ATC|1800|mg^mg^UCUM|||||||||||||CP|A|{dose_at}",
        "RXR|SC^subcutaneous^HL70162",
    ]).encode("latin-1")
    oru = "\r".join([
        f"MSH|^~\\&|LAB_LIS|UKX|ITPWATCH|UKX|{count_at}||ORU^R01^ORU_R01|BL{i:08d}|P|2.5|||AL|NE|DEU|8859/1",
        pid, "PV1|1|O|AMB^^^UKX",
        f"ORC|RE|OB{i:08d}^KIS|FB{i:08d}^LAB||CM||||{count_at}",
        f"OBR|1|OB{i:08d}^KIS|FB{i:08d}^LAB|58410-2^CBC panel^LN|||{count_at}|||||||||||||||{count_at}|||F",
        f"OBX|1|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN^THRO^Thrombozyten^L||12|G/L^G/L^L"
        f"|150-400|LL|||F|||{count_at}",
    ]).encode("latin-1")
    return ras, oru


def bench_alert_latency(ctx: Context, db: str) -> list[Figure]:
    if not dispatch_available():
        return [Figure("alert-latency", "alert latency MLLP -> webhook", db, None, "ms",
                       note="not available: engine/alerts/dispatch.py does not exist yet")]
    receiver = _Receiver(("127.0.0.1", 0), _Handler)
    receiver.received = []
    rt = threading.Thread(target=receiver.serve_forever, daemon=True)
    rt.start()
    sinks = ctx.workdir / "sinks.yaml"
    sinks.write_text(f"sinks:\n  - name: bench-webhook\n    kind: webhook\n    url: http://127.0.0.1:"
                     f"{receiver.server_address[1]}/alerts\n    timeout_seconds: 2\n")
    rate = 100.0
    probes = max(20, int(ctx.scale.paced_seconds * rate / 2))
    sent_at: dict[int, float] = {}
    try:
        with fresh_db(db, ctx.workdir) as url, itpwatch_server(url, ctx.workdir, sinks=sinks) as port:
            s = Sender(port)
            now = time.time()
            pairs = [_probe_messages(i, now) for i in range(probes)]
            start = time.perf_counter()
            for i, (ras, oru) in enumerate(pairs):
                for j, msg in enumerate((ras, oru)):
                    due = start + (2 * i + j) / rate
                    time.sleep(max(0.0, due - time.perf_counter()))
                    t0 = time.perf_counter()
                    s.send(msg)
                    if j == 1:
                        sent_at[i] = t0
            s.close()
            wait_until = time.perf_counter() + 30
            while len(receiver.received) < probes and time.perf_counter() < wait_until:
                time.sleep(0.05)
    finally:
        receiver.shutdown()
        receiver.server_close()
    by_mrn = {f"9{i:07d}": t0 for i, t0 in sent_at.items()}
    latencies: list[float] = []
    for t_recv, body in receiver.received:
        try:
            data = json.loads(body)
        except ValueError:
            continue
        if data.get("notice") != "raised":
            continue
        patient = str(data.get("patient", ""))
        mrn = next((m for m in by_mrn if patient == m or patient.endswith(m)), None)
        if mrn is not None:
            latencies.append(t_recv - by_mrn.pop(mrn))
    extra = {"probes": probes, "deliveries": len(receiver.received), "matched": len(latencies),
             "p50_ms": _ms(percentile(latencies, 50)),
             "p99_ms": _ms(percentile(latencies, 99))}
    return [Figure("alert-latency", "alert latency p50, MLLP -> webhook at 100 msgs/s", db, extra["p50_ms"], "ms",
                   n=len(latencies), extra=extra),
            Figure("alert-latency", "alert latency p99, MLLP -> webhook at 100 msgs/s", db, extra["p99_ms"], "ms",
                   n=len(latencies), extra=extra,
                   note="" if latencies else "no alert reached the webhook within 30 s")]
