"""Builders for HL7 test messages (segments joined by CR) and a one-call reader."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.base import Accepted, InboundMessage, Outcome
from adapters.mapping import SiteMapping
from adapters.reader import read_bytes
from events import Event

RECEIVED = datetime(2024, 3, 5, 9, 0, tzinfo=UTC)

MSH_ORU = (
    "MSH|^~\\&|LAB_LIS|UKX_ZENTRALLABOR|ITP_ENGINE|UKX_HAEMATOLOGIE|20240305094012+0100||ORU^R01^ORU_R01|"
    "LAB240305-000123|P|2.5|||AL|NE|DEU|8859/1"
)
PID = "PID|1||4711001^^^UKX^MR||Musterfrau^Erika^^^^^L||19650412|F|||Beispielweg 1^^Leipzig^^04103^DEU"
ORC = "ORC|RE|ORD-889211^KIS|F-24065-0042^LAB||CM||||20240305093955+0100"
OBR = (
    "OBR|1|ORD-889211^KIS|F-24065-0042^LAB|58410-2^CBC panel - Blood by Automated count^LN"
    "^KBB^Kleines Blutbild^L"
    "|||20240305081200+0100|||||||||||||||20240305093955+0100|||F"
)


def obx(
    value: str = "48",
    unit: str = "Gpt/l^Gpt/l^L",
    status: str = "F",
    code: str = "777-3^Platelets [#/volume] in Blood by Automated count^LN^THRO^Thrombozyten^L",
    time: str = "20240305081200+0100",
    vtype: str = "NM",
    sub_id: str = "",
    set_id: int = 1,
) -> str:
    return f"OBX|{set_id}|{vtype}|{code}|{sub_id}|{value}|{unit}|150-400|L|||{status}|||{time}"


EXAMPLE_A = "\r".join(
    [
        MSH_ORU,
        PID,
        "PV1|1|O|HAEM-AMB^^^UKX||||||||||||||||V2024-00815^^^UKX^VN",
        ORC,
        OBR,
        "OBX|1|NM|777-3^Platelets [#/volume] in Blood by Automated count^LN^THRO^Thrombozyten^L"
        "||48|Gpt/l^Gpt/l^L"
        "|150-400|L|||F|||20240305081200+0100|||||20240305093210+0100",
        "OBX|2|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN^HB^Haemoglobin^L"
        "||12.9|g/dl^g/dl^L|12.0-15.5|N|||F"
        "|||20240305081200+0100",
        "OBX|3|NM|6690-2^Leukocytes [#/volume] in Blood by Automated count^LN^LEUK^Leukozyten^L"
        "||7.1|Gpt/l^Gpt/l^L"
        "|3.8-10.5|N|||F|||20240305081200+0100",
        "NTE|1|L|EDTA-Blut; keine Thrombozytenaggregate im Ausstrich",
    ]
)

EXAMPLE_C = "\r".join(
    [
        "MSH|^~\\&|PHARM_KIS|UKX_APOTHEKE|ITP_ENGINE|UKX_HAEMATOLOGIE|20240301103012+0100||RAS^O17^RAS_O17|"
        "MED240301-004471|P|2.5|||AL|NE|DEU|8859/1",
        "PID|1||4711001^^^UKX^MR||Musterfrau^Erika^^^^^L||19650412|F",
        "PV1|1|O|HAEM-TK^^^UKX||||||||||||||||V2024-00815^^^UKX^VN",
        "ORC|RE|RX-55120^KIS|ADM-55120-05^PHARM||CM||||20240301103000+0100",
        "RXA|0|5|20240301100500+0100|20240301101000+0100"
        "|L01FC01^daratumumab^ATC^DARA-SC1800^Darzalex 1800 mg s.c.^L"
        "|1800|mg^milligram^UCUM|||^Schmidt^Anna^^^^^^UKX|||||LOT-X12345|20250630|JNJ^Janssen-Cilag^L||"
        "D69.3^Immune thrombocytopenic purpura^I10|CP|A|20240301102955+0100",
        "RXR|SC^Subcutaneous^HL70162",
        "ORC|RE|RX-55131^KIS|ADM-55131-01^PHARM||CM||||20240301103000+0100",
        "RXA|0|1|20240301102000+0100|20240301102000+0100|B02BX04^romiplostim^ATC^ROMI^Nplate^L|210|ug^microgram^UCUM"
        "||||||3|ug/kg^microgram per kilogram^UCUM||||||CP|A|20240301102958+0100",
        "RXR|SC^Subcutaneous^HL70162",
    ]
)


def oru(*obx_segments: str, pid: str = PID, obr: str = OBR, msh: str = MSH_ORU) -> bytes:
    return "\r".join([msh, pid, ORC, obr, *obx_segments]).encode("utf-8")


def read_one(data: bytes, mapping: SiteMapping | None = None) -> InboundMessage:
    messages = read_bytes(data, origin="test", received_at=RECEIVED, mapping=mapping)
    assert len(messages) == 1, messages
    return messages[0]


def outcome_of(data: bytes, mapping: SiteMapping | None = None) -> Outcome:
    return read_one(data, mapping).outcome


def events_of(data: bytes, mapping: SiteMapping | None = None) -> tuple[Event, ...]:
    outcome = outcome_of(data, mapping)
    assert isinstance(outcome, Accepted), outcome
    return outcome.events


def of_type(events: tuple[Event, ...], name: str) -> list[Event]:
    return [e for e in events if e.type == name]
