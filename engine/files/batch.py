"""Feed files into the log: many files, one transaction per `batch_size` messages across all of them.

Interface engines such as Mirth write one message per file. Committing per file would cost one fsync
per message; here the messages of consecutive files share a transaction, so a folder of 300 one-message
files is stored like one file of 300 messages. Files are read lazily, one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.ingest import IngestSummary
from engine.logs import get_logger

log = get_logger("itpwatch.ingest")


def ingest_files(
    application: Any,
    files: Sequence[Path],
    *,
    derive: bool = True,
    on_file: Callable[[Path, int], None] | None = None,
    on_message: Callable[[], None] | None = None,
) -> IngestSummary:
    """Store the messages of `files` in order; a file that cannot be read is listed in `unreadable`.

    `on_file(path, messages)` is called when a file has been read, before its messages are stored.
    """
    from adapters.reader import read_bytes

    unreadable: list[str] = []

    def messages() -> Iterator[Any]:
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                unreadable.append(f"{path}: {exc.strerror or exc}")
                continue
            read = read_bytes(data, origin=str(path), received_at=application.clock.now(),
                              mapping=application.mapping, tz=application.tzinfo)
            log.debug("file read", messages=len(read))
            if on_file is not None:
                on_file(path, len(read))
            yield from read

    summary: IngestSummary = application.ingestor(derive=derive).ingest(messages(), on_message=on_message)
    summary.unreadable.extend(unreadable)
    return summary


def summary_as_json(summary: IngestSummary, files: int) -> dict[str, Any]:
    """The ingest summary as printed by `ingest --format json` (docs/cli-output.md)."""
    return {
        "files": files,
        "messages": summary.messages,
        "accepted": summary.accepted,
        "events": summary.events,
        "derived": summary.derived,
        "duplicates": summary.duplicates,
        "skipped": dict(summary.skipped.most_common()),
        "skipped_parts": summary.skipped_parts,
        "dead_lettered": [
            {"origin": n.origin, "message_id": n.message_id, "field": n.field, "reason": n.reason}
            for n in summary.dead_lettered
        ],
        "unreadable": list(summary.unreadable),
    }
