"""Child process of the memory benchmark: one operation on an existing log, then its own peak RSS as JSON.

    python -m bench.memchild <database url> baseline|verify|rebuild
"""

from __future__ import annotations

import json
import sys

from bench.util import Timer, peak_rss_mb, quiet_logs


def main(url: str, op: str) -> None:
    quiet_logs()
    from rich.console import Console

    from engine.app import App
    from engine.config import Settings

    app = App(Settings(database_url=url))
    _ = app.store, app.live_processor  # import and open everything a command opens
    t = Timer()
    if op == "verify":
        from engine.verification import verify_all

        verify_all(app, Console(file=open("/dev/null", "w"), width=120))  # noqa: SIM115
    elif op == "rebuild":
        from engine.projections import rebuild

        rebuild(app.store)
    elif op != "baseline":
        raise SystemExit(f"unknown op {op}")
    seconds = t.elapsed
    app.close()
    print(json.dumps({"op": op, "peak_rss_mb": round(peak_rss_mb(), 1), "seconds": round(seconds, 3)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
