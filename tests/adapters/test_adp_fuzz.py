"""read_bytes must never raise, whatever the bytes (the contract of adapters/reader.py)."""

from __future__ import annotations

from adapter_helpers import EXAMPLE_A, EXAMPLE_C, RECEIVED
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import Accepted, Rejected, Skipped
from adapters.hl7v2.ack import ack_for
from adapters.reader import read_bytes

PREFIXES = [
    b"",
    b"MSH|",
    b"MSH|^~\\&|",
    b"BHS|^~\\&|",
    b'{"resourceType":',
    b"patient_id,diagnosis_date,itp_type,prior_lines\n",
]


@settings(max_examples=300, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=400))
def test_random_bytes_never_raise(prefix: bytes, body: bytes) -> None:
    for msg in read_bytes(prefix + body, origin="fuzz", received_at=RECEIVED):
        assert isinstance(msg.outcome, Accepted | Skipped | Rejected)
        assert ack_for(msg, at=RECEIVED).startswith(b"MSH|")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_real_messages_never_raise(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([EXAMPLE_A, EXAMPLE_C])).encode()
    cut = data.draw(st.integers(0, len(base)))
    junk = data.draw(st.binary(max_size=20))
    mutated = base[:cut] + junk + base[cut + len(junk) :]
    for msg in read_bytes(mutated, origin="fuzz", received_at=RECEIVED):
        assert isinstance(msg.outcome, Accepted | Skipped | Rejected)
        if isinstance(msg.outcome, Rejected):
            assert not msg.outcome.reason.startswith("internal:"), msg.outcome
