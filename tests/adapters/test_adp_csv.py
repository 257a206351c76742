from __future__ import annotations

from adapter_helpers import RECEIVED

from adapters.base import Accepted, Rejected
from adapters.reader import read_bytes
from events import PatientEnrolled

CSV = (
    "patient_id,diagnosis_date,itp_type,prior_lines\n"
    "4711,2019-05-02,primary,3\n"
    "4712,,secondary,\n"
    "4713,02.05.2019,primary,1\n"
    "4714,2020-01-01,chronic,1\n"
    ",2020-01-01,primary,1\n"
    "4716,2020-01-01,primary,-1\n"
)


def test_enrolment_rows() -> None:
    msgs = read_bytes(CSV.encode(), origin="/in/enrol.csv", received_at=RECEIVED)
    assert len(msgs) == 6
    first = msgs[0].outcome
    assert isinstance(first, Accepted)
    event = first.events[0]
    assert isinstance(event, PatientEnrolled)
    assert (event.stream, str(event.diagnosis_date), event.itp_type, event.prior_lines) == (
        "4711",
        "2019-05-02",
        "primary",
        3,
    )
    assert msgs[0].sender == "enrol.csv" and msgs[0].message_id == "2" and event.source.feed == "csv"
    second = msgs[1].outcome
    assert isinstance(second, Accepted)
    assert second.events[0].stream == "4712" and getattr(second.events[0], "diagnosis_date", "x") is None
    bad = [m.outcome for m in msgs[2:]]
    assert all(isinstance(o, Rejected) for o in bad)
    assert [o.field for o in bad if isinstance(o, Rejected)] == [
        "row 4: diagnosis_date",
        "row 5: itp_type",
        "row 6: patient_id",
        "row 7: prior_lines",
    ]
