"""MEP packets (spec §3)."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.nes_echelon.nes_client.errors import IntegrityError
from custom_components.nes_echelon.nes_client.mep_packet import (
    MAX_BODY,
    Alert,
    Packet,
    PacketEvent,
    PacketScanner,
    encode_request,
    request_core,
    verify_response,
)

KEY = bytes([0x01] * 16)

READ_PSEM = bytes.fromhex("3F 00 17 00 00 00 00 2C")  # partial read BT23, offset 0, 44 bytes
FIRST_REQUEST = bytes.fromhex("00 14 3F 00 17 00 00 00 00 2C 01 02 03 04 74 86 1F 6D 76 58 DD 56")
SEQUENCE_REPLY = bytes.fromhex("00 0D 0C 77 63 5B 90 35 86 3C 1D F5 B9 14 82")
RESENT_REQUEST = bytes.fromhex("00 14 3F 00 17 00 00 00 00 2C 77 63 5B 91 13 DB 85 A1 35 A0 57 5E")
READ_DATA = bytes(16) + b"\x08" + bytes(3) + b"\x03" + bytes(19) + b"\x06" + bytes(3)
READ_REPLY = bytes.fromhex("00 37 00 00 2C") + READ_DATA + bytes.fromhex("AD DC B8 2C 3D 41 7F 91")
WRITE_PSEM = bytes.fromhex("4F 08 32 00 00 1E 00 01 01")  # ET50 offset 30, 1 byte 01
WRITE_REQUEST = bytes.fromhex(
    "00 15 4F 08 32 00 00 1E 00 01 01 77 63 6E 2F 86 E5 0E 26 67 D1 E6 3C"
)
WRITE_REPLY = bytes.fromhex("00 09 00 86 E5 0E 26 67 D1 E6 3C")

# (request core, response packet, PSEM response)
EXCHANGES = [
    (request_core(READ_PSEM, 0x01020304), SEQUENCE_REPLY, bytes.fromhex("0C 77 63 5B 90")),
    (request_core(READ_PSEM, 0x77635B91), READ_REPLY, b"\x00\x00\x2c" + READ_DATA),
    (request_core(WRITE_PSEM, 0x77636E2F), WRITE_REPLY, b"\x00"),
]
EXCHANGE_IDS = ["sequence-reply", "read-reply", "write-reply"]


def drain(scanner: PacketScanner) -> list[PacketEvent]:
    events: list[PacketEvent] = []
    while (event := scanner.next_event()) is not None:
        events.append(event)
    return events


# --- requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("psem", "sequence", "wire"),
    [
        (READ_PSEM, 0x01020304, FIRST_REQUEST),
        (READ_PSEM, 0x77635B91, RESENT_REQUEST),
        (WRITE_PSEM, 0x77636E2F, WRITE_REQUEST),
    ],
    ids=["first-read", "resent-read", "et50-write"],
)
def test_encode_request_vectors(psem: bytes, sequence: int, wire: bytes) -> None:
    assert encode_request(psem, sequence, KEY) == wire


def test_request_core() -> None:
    assert request_core(READ_PSEM, 0x01020304) == READ_PSEM + b"\x01\x02\x03\x04"
    assert request_core(b"\x30", 0) == b"\x30\x00\x00\x00\x00"
    with pytest.raises(ValueError, match="sequence"):
        request_core(b"\x30", 1 << 32)
    with pytest.raises(ValueError, match="sequence"):
        request_core(b"\x30", -1)


def test_encode_request_body_limit() -> None:
    # body = psem + 4 + 8: 464 bytes of PSEM make exactly 476.
    packet = encode_request(bytes(464), 0, KEY)
    assert packet[:2] == (476).to_bytes(2, "big")
    assert len(packet) == 2 + MAX_BODY
    with pytest.raises(ValueError, match="exceeds 476"):
        encode_request(bytes(465), 0, KEY)


def test_encode_request_rejects_wrong_key_length() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        encode_request(READ_PSEM, 0, bytes(20))


# --- responses ------------------------------------------------------------------------------


@pytest.mark.parametrize(("core", "packet", "psem"), EXCHANGES, ids=EXCHANGE_IDS)
def test_verify_response_vectors(core: bytes, packet: bytes, psem: bytes) -> None:
    assert int.from_bytes(packet[:2], "big") == len(packet) - 2
    assert verify_response(core, packet[2:], KEY) == psem


@pytest.mark.parametrize(("core", "packet", "psem"), EXCHANGES, ids=EXCHANGE_IDS)
def test_any_corrupted_response_byte_fails(core: bytes, packet: bytes, psem: bytes) -> None:
    body = packet[2:]
    for index in range(len(body)):
        for flip in (0x01, 0x80):
            bad = bytearray(body)
            bad[index] ^= flip
            with pytest.raises(IntegrityError, match="digest"):
                verify_response(core, bytes(bad), KEY)


def test_verify_response_wrong_request_or_key() -> None:
    core, packet, _ = EXCHANGES[1]
    with pytest.raises(IntegrityError):
        verify_response(request_core(READ_PSEM, 0x77635B92), packet[2:], KEY)
    with pytest.raises(IntegrityError):
        verify_response(core, packet[2:], bytes([0x02] * 16))


def test_verify_response_truncated_or_extended() -> None:
    core, packet, _ = EXCHANGES[1]
    with pytest.raises(IntegrityError):
        verify_response(core, packet[2:-1], KEY)
    with pytest.raises(IntegrityError):
        verify_response(core, packet[2:] + b"\x00", KEY)


@pytest.mark.parametrize("length", [0, 1, 8])
def test_verify_response_too_short(length: int) -> None:
    with pytest.raises(IntegrityError, match="shorter"):
        verify_response(request_core(READ_PSEM, 1), bytes(length), KEY)


def test_verify_response_rejects_wrong_key_length() -> None:
    core, packet, _ = EXCHANGES[0]
    with pytest.raises(ValueError, match="16 bytes"):
        verify_response(core, packet[2:], bytes([0x01] * 20))


# --- scanning -------------------------------------------------------------------------------


def test_scanner_whole_packets_and_alerts() -> None:
    scanner = PacketScanner()
    scanner.feed(b"\x00\x00" + SEQUENCE_REPLY + b"\x00\x00\x00\x00" + READ_REPLY + b"\x00\x00")
    assert drain(scanner) == [
        Alert(),
        Packet(SEQUENCE_REPLY[2:]),
        Alert(),
        Alert(),
        Packet(READ_REPLY[2:]),
        Alert(),
    ]
    assert scanner.buffered == 0


def test_scanner_byte_by_byte() -> None:
    stream = b"\x00\x00" + WRITE_REPLY + b"\x00\x00" + READ_REPLY
    scanner = PacketScanner()
    events: list[PacketEvent] = []
    for index in range(len(stream)):
        scanner.feed(stream[index : index + 1])
        events += drain(scanner)
    assert events == [Alert(), Packet(WRITE_REPLY[2:]), Alert(), Packet(READ_REPLY[2:])]


def test_scanner_waits_for_whole_packet() -> None:
    scanner = PacketScanner()
    scanner.feed(READ_REPLY[:1])
    assert scanner.next_event() is None
    scanner.feed(READ_REPLY[1:-1])
    assert scanner.next_event() is None
    assert scanner.buffered == len(READ_REPLY) - 1
    scanner.feed(READ_REPLY[-1:])
    assert scanner.next_event() == Packet(READ_REPLY[2:])


def test_scanner_accepts_max_body() -> None:
    scanner = PacketScanner()
    scanner.feed((476).to_bytes(2, "big") + bytes(range(256)) + bytes(220))
    event = scanner.next_event()
    assert isinstance(event, Packet)
    assert len(event.body) == 476


def test_scanner_length_too_large_raises_and_clears() -> None:
    scanner = PacketScanner()
    scanner.feed((477).to_bytes(2, "big") + bytes(10))
    with pytest.raises(IntegrityError, match="477"):
        scanner.next_event()
    assert scanner.buffered == 0
    assert scanner.next_event() is None
    scanner.feed(WRITE_REPLY)
    assert scanner.next_event() == Packet(WRITE_REPLY[2:])


def test_scanner_clear_drops_stalled_partial() -> None:
    scanner = PacketScanner()
    scanner.feed(READ_REPLY[:10])
    assert scanner.next_event() is None
    scanner.clear()
    scanner.feed(SEQUENCE_REPLY)
    assert scanner.next_event() == Packet(SEQUENCE_REPLY[2:])


def test_scanned_packets_verify() -> None:
    scanner = PacketScanner()
    scanner.feed(b"\x00\x00" + READ_REPLY)
    events = drain(scanner)
    assert events[0] == Alert()
    packet = events[1]
    assert isinstance(packet, Packet)
    response = verify_response(EXCHANGES[1][0], packet.body, KEY)
    assert response[:3] == b"\x00\x00\x2c"
    assert response[3:] == READ_DATA


@given(
    bodies=st.lists(st.binary(min_size=0, max_size=MAX_BODY), min_size=1, max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_scanner_any_split(bodies: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(len(body).to_bytes(2, "big") + body for body in bodies)
    points = sorted({min(c, len(stream)) for c in cuts})
    scanner = PacketScanner()
    events: list[PacketEvent] = []
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        scanner.feed(stream[a:b])
        events += drain(scanner)
    assert events == [Packet(body) if body else Alert() for body in bodies]
