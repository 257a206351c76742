"""Feed text is data in the CLI: markup-like, ANSI-escape and HL7-delimiter strings in every field of a feed,
then `ingest` and every read command. None may fail, and the text must be shown as the characters it is.

Before the central console (engine/cli/output.py), an MRN of `[/x]` made `status` and `timeline` fail with a
MarkupError for the whole database, and a unit of `[/y]` broke `dead-letters list` and `ingest`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app
from engine.cli.output import literal

runner = CliRunner()

HOSTILE = ["[/x]", "[bold red]alarm[/]", "\x1b[31mRED\x1b[0m", "\x1b]0;title\x07", ":warning:", "{0}%s",
           "[link=http://x]y[/link]", "\u202eevil", "\\F\\\\S\\", "x\rEVN|injected"]
PIECE = st.sampled_from(HOSTILE) | st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                                           max_size=6)


def hl7_escape(text: str) -> str:
    """How a sender puts arbitrary text into an HL7 field: delimiters escaped, segment breaks dropped."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("~", "\\R\\")
    return out.replace("&", "\\T\\").replace("\r", " ").replace("\n", " ")


def feed(mrn: str, unit: str, app_name: str, control: str) -> bytes:
    mrn, unit, app_name, control = (hl7_escape(v) for v in (mrn, unit, app_name, control))
    msh = f"MSH|^~\\&|{app_name}|UKX|ITPWATCH|UKX|20200907105000+0200||"
    pid = f"PID|1||{mrn}^^^UKX^MR||Doe^Jane||19600514|F\r"
    admin = (msh + f"RAS^O17^RAS_O17|A{control}|P|2.5\r" + pid +
             "RXA|0|1|20200907103000+0200|20200907103500+0200|L01FC01^Daratumumab^ATC|1800|mg^mg^UCUM"
             "|||||||||||||CP|A|20200907103800+0200\r")
    labs = []
    for day, value in ((6, 12), (20, 80), (27, 30)):
        labs.append(msh.replace("20200907", f"202009{day:02d}") + f"ORU^R01^ORU_R01|L{day}{control}|P|2.5\r" + pid +
                    "OBR|1|O1|F1|58410-2^CBC^LN\r"
                    f"OBX|1|NM|777-3^Platelets^LN||{value}|Gpt/l|150-400|LL|||F|||202009{day:02d}081000+0200\r")
    bad_unit = (msh + f"ORU^R01^ORU_R01|U{control}|P|2.5\r" + pid + "OBR|1|O2|F2|58410-2^CBC^LN\r"
                f"OBX|1|NM|777-3^Platelets^LN||40|{unit}|150-400|LL|||F|||20200921081000+0200\r")
    return "\r\n".join([admin, *labs, bad_unit]).encode("utf-8")


def run(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, "--log-format", "json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert result.exit_code in (0, 1), (args, result.output)
    assert "\x1b" not in result.output, f"{args}: a raw escape character reached the terminal"
    return result.output


READS = [("status",), ("alerts", "list"), ("dead-letters", "list", "--all"), ("dead-letters", "show", "1"),
         ("report", "--format", "text"), ("replay", "--as-of-recorded", "2100-01-01T00:00:00+00:00"), ("verify",)]


FIELDS = st.tuples(PIECE, PIECE, PIECE, PIECE)


@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(patients=st.lists(FIELDS, min_size=2, max_size=4))
@example(patients=[("[/x]", "[/y]", "LAB", "1"), ("\x1b[31mRED", "\x1b[2J", "[/z]", "[b]")])
def test_every_read_command_shows_hostile_feed_text_literally(patients: list[tuple[str, str, str, str]]) -> None:
    """One database holds several patients whose every field is hostile; every read command runs once on it."""
    mrns = [f"M{i}{mrn}".strip() for i, (mrn, *_) in enumerate(patients)]
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/x.db"
        path = Path(tmp) / "[b]x[~b]\x1b[1m.hl7"
        rows = enumerate(zip(mrns, patients, strict=True))
        path.write_bytes(b"\r\n".join(feed(m, unit, app_name, f"{i}{control}")
                                        for i, (m, (_, unit, app_name, control)) in rows))
        assert "dead-lettered" in run(db, "ingest", str(path))
        for args in READS:
            run(db, *args)
        for mrn in mrns:
            shown = run(db, "status", mrn)
            if len(mrn) < 12:
                assert literal(mrn) in shown, "the MRN is shown as sent (control characters as visible escapes)"
            run(db, "timeline", mrn)
        run(db, "explain", mrns[0])


def test_markup_in_an_mrn_is_printed_as_text(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    (tmp_path / "m.hl7").write_bytes(feed("[/x]", "[/y]", "LAB", "1"))
    assert runner.invoke(app, ["--db", db, "ingest", str(tmp_path / "m.hl7")]).exit_code == 0
    assert "[/x]" in run(db, "status")
    assert "[/x]" in run(db, "timeline", "[/x]")
    assert "[/y]" in run(db, "dead-letters", "list")
    ansi = tmp_path / "a.hl7"
    ansi.write_bytes(feed("\x1b[31mRED", "u", "LAB", "2"))
    assert runner.invoke(app, ["--db", db, "ingest", str(ansi)]).exit_code == 0
    assert "\\x1b[31mRED" in run(db, "status")
