"""The drop folder (`itpwatch watch`) and ingest batching across files (issue 12, item 7)."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from engine.app import App
from engine.cli import app as cli
from engine.config import Settings
from engine.errors import ServiceUnavailable
from engine.files.batch import ingest_files
from engine.files.dropfolder import LOCK_NAME, DropFolder
from engine.ingest import IngestSummary
from tests.conftest import REPO

LABS = REPO / "examples" / "feed" / "lab_results.hl7"


def one_message_per_file(folder: Path, count: int, source: Path = LABS) -> list[Path]:
    """The first `count` messages of a feed file, one file each, as an interface engine writes them."""
    messages = [b"MSH|" + part for part in source.read_bytes().split(b"MSH|")[1:]][:count]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, message in enumerate(messages):
        path = folder / f"msg-{i:04d}.hl7"
        path.write_bytes(message)
        paths.append(path)
    return paths


def count_events(app: App) -> int:
    with app.store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())


@pytest.fixture
def app(tmp_path: Path) -> App:
    application = App(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", batch_size=25))
    _ = application.store
    yield application  # type: ignore[misc]
    application.close()


def test_ingest_commits_per_batch_across_files_not_per_file(app: App, tmp_path: Path) -> None:
    files = one_message_per_file(tmp_path / "in", 60)
    commits: list[int] = []
    event.listen(app.store.engine, "commit", lambda _conn: commits.append(1))
    summary = ingest_files(app, files)
    assert summary.messages == 60
    assert len(commits) == 3, "60 messages at batch_size 25: three transactions, not sixty"


def test_done_marker_mode_takes_only_marked_files(app: App, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    first, second = one_message_per_file(drop, 2)
    (drop / "msg-0000.hl7.done").touch()
    (drop / "half-written.hl7.part").write_bytes(b"MSH|^~\\&|")
    with DropFolder(drop, done_suffix=".done") as folder:
        outcome = folder.round(lambda files: ingest_files(app, files))
    assert outcome.processed == [first.name]
    assert (drop / "processed" / first.name).is_file() and not first.exists()
    assert not (drop / "msg-0000.hl7.done").exists(), "the marker goes with its file"
    assert second.exists() and (drop / "half-written.hl7.part").exists()


def test_stable_mode_waits_until_size_and_time_stay_the_same(app: App, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    one_message_per_file(drop, 1)
    now = [100.0]
    folder = DropFolder(drop, stable_seconds=2.0, clock=lambda: now[0])
    assert folder.complete() == [], "first sight: not yet known to be complete"
    now[0] += 1.0
    assert folder.complete() == []
    (drop / "msg-0000.hl7").write_bytes((drop / "msg-0000.hl7").read_bytes() + b"OBX|2\r")  # still growing
    now[0] += 2.5
    assert folder.complete() == [], "changed since last look: the clock starts again"
    now[0] += 2.0
    assert [p.name for p in folder.complete()] == ["msg-0000.hl7"]


def test_bad_file_goes_to_error_with_a_reason(app: App, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    good = one_message_per_file(drop, 1)[0]
    (drop / "garbage.txt").write_text("not a message\n")
    unit = drop / "second-lab.hl7"
    unit.write_bytes((REPO / "examples" / "second-lab.hl7").read_bytes())
    with DropFolder(drop, stable_seconds=0) as folder:
        outcome = folder.round(lambda files: ingest_files(app, files))
    assert outcome.processed == [good.name]
    assert sorted(outcome.failed) == ["garbage.txt", "second-lab.hl7"]
    reason = (drop / "error" / "second-lab.hl7.reason.txt").read_text()
    assert "MVZ20240401-001 OBX[1]-6: unit 'Tsd./µl' not in unit map" in reason
    assert "dead-letters retry" in reason
    assert (drop / "error" / "garbage.txt").is_file() and (drop / "error" / "garbage.txt.reason.txt").is_file()
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [LOCK_NAME]


def test_a_crash_after_the_commit_repeats_nothing_and_loses_nothing(app: App, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    files = one_message_per_file(drop, 30)

    def store_then_crash(batch: list[Path]) -> IngestSummary:
        ingest_files(app, batch)
        raise RuntimeError("killed after the commit, before the files were moved")

    with DropFolder(drop, stable_seconds=0) as crashed, pytest.raises(RuntimeError):
        crashed.round(store_then_crash)
    stored = count_events(app)
    assert stored > 0 and all(f.exists() for f in files), "nothing was moved: every file is still there"

    with DropFolder(drop, stable_seconds=0) as restarted:
        outcome = restarted.round(lambda batch: ingest_files(app, batch))
    assert len(outcome.processed) == 30
    assert outcome.summary.duplicates == outcome.summary.messages - sum(outcome.summary.skipped.values())
    assert count_events(app) == stored, "the second pass appended nothing"


def test_one_watcher_per_folder(tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    with (tmp_path / "drop" / LOCK_NAME).open("ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ServiceUnavailable, match="another watcher"):
            DropFolder(tmp_path / "drop").open()


def test_watch_once_through_the_cli(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    files = one_message_per_file(drop, 12)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "--log-format", "json", "watch", str(drop), "--once",
                                           "--stable-seconds", "0"])
    assert result.exit_code == 0, result.output
    assert "12 files processed, 0 moved to error/" in result.stdout
    assert sorted(p.name for p in (drop / "processed").iterdir()) == [f.name for f in files]

