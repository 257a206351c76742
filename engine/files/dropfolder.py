"""`itpwatch watch DIR`: a drop folder read the way an interface engine's file reader works.

A file in DIR is taken once it is complete: either its size and modification time stayed the same for
`watch_stable_seconds`, or (with `watch_done_suffix`, e.g. '.done') a marker FILE.done exists. Complete
files are stored together (one transaction per batch_size messages), then each is moved:

- to `DIR/processed/` when every message of it was stored, skipped as not relevant or a duplicate;
- to `DIR/error/` with `NAME.reason.txt` when a message of it was dead-lettered (its accepted messages
  are stored; the dead letters are in the store for `itpwatch dead-letters retry`) or it cannot be read.

Nothing is lost or repeated across a crash or restart: a file leaves DIR only by an atomic rename after
the commit that stored it, and a file that is stored again after a crash before its rename is recognised
message by message (the idempotency record), so the log gets nothing twice. A failure of ours (the
database is down) leaves the file in DIR to be tried again; it is never moved to error/.

Hidden files, temporary names (*.tmp, *.part, *.partial, *~) and sub-folders are not read. One watcher
per folder: a lock file (DIR/.itpwatch-watch.lock) makes a second one stop with an error.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from engine.errors import ConfigError, ServiceUnavailable
from engine.ingest import DeadLetterNote, IngestSummary
from engine.logs import get_logger

log = get_logger("itpwatch.watch")

TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", "~")
LOCK_NAME = ".itpwatch-watch.lock"
MAX_BACKOFF_SECONDS = 60.0


@dataclass
class Outcome:
    """What one round did: files moved to processed/ and to error/, and the ingest counts."""

    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    summary: IngestSummary = field(default_factory=IngestSummary)


@dataclass
class DropFolder:
    root: Path
    stable_seconds: float = 2.0
    done_suffix: str | None = None
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, tuple[tuple[int, int], float]] = field(default_factory=dict)
    _lock: IO[bytes] | None = None

    @property
    def processed_dir(self) -> Path:
        return self.root / "processed"

    @property
    def error_dir(self) -> Path:
        return self.root / "error"

    def open(self) -> None:
        """Check the folder, create processed/ and error/, and take the one-watcher lock."""
        if not self.root.is_dir():
            raise ConfigError(f"watch: {self.root} is not a folder; create it or give another path")
        try:
            self.processed_dir.mkdir(exist_ok=True)
            self.error_dir.mkdir(exist_ok=True)
            lock = (self.root / LOCK_NAME).open("ab")
        except OSError as exc:
            raise ConfigError(f"watch: cannot write in {self.root}: {exc.strerror}; "
                              "the watcher needs to create processed/ and error/ there") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ServiceUnavailable(f"watch: another watcher is running on {self.root}; "
                                     "run one watcher per folder") from None
        self._lock = lock

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> DropFolder:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def candidates(self) -> list[Path]:
        names = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if (name.startswith(".") or name.endswith(TEMPORARY_SUFFIXES) or not entry.is_file()
                        or (self.done_suffix is not None and name.endswith(self.done_suffix))):
                    continue
                names.append(name)
        return [self.root / name for name in sorted(names)]

    def complete(self) -> list[Path]:
        """Files ready to be read now (done-marker present, or size and time stable long enough)."""
        now = self.clock()
        ready = []
        present = set()
        for path in self.candidates():
            present.add(path.name)
            if self.done_suffix is not None:
                if path.with_name(path.name + self.done_suffix).exists():
                    ready.append(path)
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns)
            previous = self._seen.get(path.name)
            if previous is None or previous[0] != signature:
                self._seen[path.name] = (signature, now)
                if self.stable_seconds > 0:
                    continue
            if now - self._seen[path.name][1] >= self.stable_seconds:
                ready.append(path)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return ready

    def round(self, store_files: Callable[[list[Path]], IngestSummary]) -> Outcome:
        """Store the complete files and move each out of the folder. Raises when storing failed (ours)."""
        files = self.complete()
        outcome = Outcome()
        if not files:
            return outcome
        summary = store_files(files)
        outcome.summary = summary
        problems: dict[str, list[str]] = defaultdict(list)
        for note in summary.dead_lettered:
            problems[Path(note.origin).name].append(_describe(note))
        for line in summary.unreadable:
            name, _, reason = line.partition(": ")
            problems[Path(name).name].append(f"cannot read the file: {reason}")
        for path in files:
            if not path.exists():  # taken away while we read it: nothing to move
                continue
            if path.name in problems:
                self._move_to_error(path, problems[path.name])
                outcome.failed.append(path.name)
            else:
                _move(path, self.processed_dir)
                outcome.processed.append(path.name)
            self._drop_marker(path)
            self._seen.pop(path.name, None)
        log.info("watch round", count=len(files), messages=summary.messages, events=summary.events,
                 duplicates=summary.duplicates, dead_lettered=len(summary.dead_lettered))
        return outcome

    def _move_to_error(self, path: Path, problems: list[str]) -> None:
        target = _free_name(self.error_dir, path.name)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        reason = [f"file: {path.name}", f"moved to error/: {at}", *problems, "",
                  "Accepted messages of this file are stored; rejected ones are kept as dead letters.",
                  "`itpwatch dead-letters list` shows them; after fixing the site mapping,",
                  "`itpwatch dead-letters retry --all` stores them. Dropping the file again is also safe:",
                  "messages already stored are recognised as duplicates."]
        reason_file = target.with_name(target.name + ".reason.txt")
        reason_file.write_text("\n".join(reason) + "\n", encoding="utf-8")
        os.replace(path, target)

    def _drop_marker(self, path: Path) -> None:
        if self.done_suffix is not None:
            path.with_name(path.name + self.done_suffix).unlink(missing_ok=True)


def _describe(note: DeadLetterNote) -> str:
    where = f" {note.field}" if note.field else ""
    return f"message {note.message_id or '-'}{where}: {note.reason}"


def _move(path: Path, folder: Path) -> Path:
    target = _free_name(folder, path.name)
    os.replace(path, target)
    return target


def _free_name(folder: Path, name: str) -> Path:
    """folder/name, or folder/name.1, .2 ... when a file of that name was dropped before."""
    target = folder / name
    n = 0
    while target.exists() or target.with_name(target.name + ".reason.txt").exists():
        n += 1
        target = folder / f"{name}.{n}"
    return target


def watch(folder: DropFolder, store_files: Callable[[list[Path]], IngestSummary], *, interval: float,
          once: bool = False, should_stop: Callable[[], bool] = lambda: False,
          after_round: Callable[[Outcome], None] | None = None, sleep: Callable[[float], Any] = time.sleep) -> None:
    """Poll until stopped. `once`: wait for what is in the folder now to be complete, store it, return.

    A failure to store (the database is down) is logged and retried with a growing pause; the files stay.
    """
    wait = interval
    first = True
    while not should_stop():
        try:
            outcome = folder.round(store_files)
        except Exception as exc:  # ours, not the file's: keep the files, try again later
            if once:
                raise
            log.error("watch round failed; files stay in the folder and are tried again", exc_type=type(exc).__name__)
            sleep(wait)
            wait = min(wait * 2, MAX_BACKOFF_SECONDS)
            continue
        wait = interval
        if after_round is not None and (outcome.processed or outcome.failed):
            after_round(outcome)
        if once and (not folder.candidates() or (not first and not (outcome.processed or outcome.failed))):
            return  # everything was taken, or what is left is still being written
        first = False
        sleep(folder.stable_seconds + 0.01 if once else interval)
