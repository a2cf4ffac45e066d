"""C12.18 framing and the optical stream scanner (spec §2)."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from custom_components.nes_echelon.nes_client.optical_frame import (
    ACK,
    NAK,
    STP,
    Ack,
    BadFrame,
    Frame,
    FrameScanner,
    Nak,
    ScanEvent,
    encode_frame,
    table_checksum,
)

IDENTIFICATION = bytes.fromhex("EE 00 00 00 00 01 20 13 10")
LOGOFF = bytes.fromhex("EE 00 20 00 00 01 52 17 20")
TERMINATE = bytes.fromhex("EE 00 00 00 00 01 21 9A 01")
READ_BT23 = bytes.fromhex("EE 00 20 00 00 08 3F 00 17 00 00 00 00 08 03 F2")
REPLY_BT23 = bytes.fromhex("EE 00 20 00 00 0C 00 00 08 FB 13 04 02 4D 89 1A 00 FC 92 F2")
READ_BT28 = bytes.fromhex("EE 00 00 00 00 08 3F 00 1C 00 00 00 00 28 94 D5")
# A MEP request leaked onto a shared UART (spec §3 vector).
MEP_PACKET = bytes.fromhex("00 14 3F 00 17 00 00 00 00 2C 01 02 03 04 74 86 1F 6D 76 58 DD 56")

BT28_SLOTS = [0, 231, 0, 71, 598, 700, 705, 231392, 233137, 230613]


def drain(scanner: FrameScanner) -> list[ScanEvent]:
    events: list[ScanEvent] = []
    while (event := scanner.next_event()) is not None:
        events.append(event)
    return events


def scan(*chunks: bytes) -> tuple[list[ScanEvent], FrameScanner]:
    scanner = FrameScanner()
    events: list[ScanEvent] = []
    for chunk in chunks:
        scanner.feed(chunk)
        events += drain(scanner)
    return events, scanner


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "data", "toggle"),
    [
        (IDENTIFICATION, b"\x20", False),
        (LOGOFF, b"\x52", True),
        (TERMINATE, b"\x21", False),
        (READ_BT23, bytes.fromhex("3F 00 17 00 00 00 00 08"), True),
        (READ_BT28, bytes.fromhex("3F 00 1C 00 00 00 00 28"), False),
        (REPLY_BT23, bytes.fromhex("00 00 08 FB 13 04 02 4D 89 1A 00 FC"), True),
    ],
    ids=["identification", "logoff", "terminate", "read-bt23", "read-bt28", "reply-bt23"],
)
def test_vectors_encode_and_decode(wire: bytes, data: bytes, toggle: bool) -> None:
    assert encode_frame(data, toggle=toggle) == wire
    events, scanner = scan(wire)
    assert events == [Frame(ctrl=0x20 if toggle else 0x00, seq=0, data=data)]
    frame = events[0]
    assert isinstance(frame, Frame)
    assert frame.toggle is toggle
    assert not frame.multi_packet
    assert not frame.first_packet
    assert frame.encode() == wire
    assert scanner.skipped_bytes == 0
    assert scanner.buffered == 0


def test_bt23_reply_contents() -> None:
    (frame,), _ = scan(REPLY_BT23)
    assert isinstance(frame, Frame)
    code, count, table, checksum = (
        frame.data[0],
        int.from_bytes(frame.data[1:3], "big"),
        frame.data[3:-1],
        frame.data[-1],
    )
    assert (code, count, len(table)) == (0, 8, 8)
    assert table_checksum(table) == checksum == 0xFC
    assert int.from_bytes(table[0:4], "little") == 33_821_691
    assert int.from_bytes(table[4:8], "little") == 1_739_085


def test_bt28_reply_checksum() -> None:
    table = b"".join(value.to_bytes(4, "little") for value in BT28_SLOTS)
    assert table_checksum(table) == 0xF1
    wire = encode_frame(b"\x00\x00\x28" + table + b"\xf1", toggle=False)
    (frame,), _ = scan(wire)
    assert isinstance(frame, Frame)
    assert frame.data[3:-1] == table


def test_table_checksum_basics() -> None:
    assert table_checksum(b"") == 0
    assert table_checksum(b"\x01") == 0xFF
    assert table_checksum(b"\x80\x80") == 0
    assert table_checksum(b"\xff" * 3) == 3


def test_ctrl_bits() -> None:
    wire = encode_frame(b"\x00", toggle=True, seq=3, multi_packet=True, first_packet=True)
    assert wire[2] == 0xE0
    assert wire[3] == 3
    (frame,), _ = scan(wire)
    assert isinstance(frame, Frame)
    assert (frame.toggle, frame.multi_packet, frame.first_packet, frame.seq) == (
        True,
        True,
        True,
        3,
    )
    only_multi = Frame(ctrl=0x80, seq=0, data=b"")
    assert (only_multi.toggle, only_multi.multi_packet, only_multi.first_packet) == (
        False,
        True,
        False,
    )
    only_first = Frame(ctrl=0x40, seq=0, data=b"")
    assert (only_first.toggle, only_first.multi_packet, only_first.first_packet) == (
        False,
        False,
        True,
    )


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="sequence"):
        encode_frame(b"\x20", toggle=False, seq=256)
    with pytest.raises(ValueError, match="too long"):
        encode_frame(bytes(8193), toggle=False)


def test_constants() -> None:
    assert (STP, ACK, NAK) == (0xEE, 0x06, 0x15)


# --- scanning -------------------------------------------------------------------------------


def test_split_byte_by_byte() -> None:
    scanner = FrameScanner()
    events: list[ScanEvent] = []
    stream = b"\x06" + REPLY_BT23
    for index in range(len(stream)):
        scanner.feed(stream[index : index + 1])
        event = scanner.next_event()
        if index == 0:
            assert event == Ack()
        elif index < len(stream) - 1:
            assert event is None
        else:
            assert event is not None
        if event is not None:
            events.append(event)
    assert events == [Ack(), Frame(ctrl=0x20, seq=0, data=REPLY_BT23[6:-2])]
    assert scanner.next_event() is None


def test_ack_then_frame_then_nak() -> None:
    events, _ = scan(b"\x06" + REPLY_BT23 + b"\x15")
    assert len(events) == 3
    assert isinstance(events[0], Ack)
    assert isinstance(events[1], Frame)
    assert isinstance(events[2], Nak)


def test_junk_before_and_between_frames() -> None:
    events, scanner = scan(b"\x00\x55\xff" + LOGOFF + b"\x01\x02\x03\x00" + TERMINATE + b"\x7f")
    assert [e.data for e in events if isinstance(e, Frame)] == [b"\x52", b"\x21"]
    assert len(events) == 2
    assert scanner.skipped_bytes == 3 + 4 + 1


def test_zero_is_never_an_ack() -> None:
    events, scanner = scan(b"\x00\x00\x00")
    assert events == []
    assert scanner.skipped_bytes == 3


def test_mep_packet_before_frame_is_skipped() -> None:
    events, scanner = scan(MEP_PACKET + b"\x06" + REPLY_BT23)
    assert events == [Ack(), Frame(ctrl=0x20, seq=0, data=REPLY_BT23[6:-2])]
    assert scanner.skipped_bytes == len(MEP_PACKET)


def test_mep_alerts_and_packet_interleaved_byte_by_byte() -> None:
    stream = b"\x00\x00" + MEP_PACKET + b"\x00\x00" + REPLY_BT23
    events, _ = scan(*(stream[i : i + 1] for i in range(len(stream))))
    assert events == [Frame(ctrl=0x20, seq=0, data=REPLY_BT23[6:-2])]


def test_corrupted_crc_then_retransmission() -> None:
    corrupted = bytearray(REPLY_BT23)
    corrupted[9] ^= 0x40  # one data bit
    events, scanner = scan(bytes(corrupted))
    assert len(events) == 1
    bad = events[0]
    assert isinstance(bad, BadFrame)
    assert bad.raw == bytes(corrupted)
    # The rest of the bad frame is rescanned as junk (no 06/15/EE in it).
    scanner.feed(REPLY_BT23)
    assert drain(scanner) == [Frame(ctrl=0x20, seq=0, data=REPLY_BT23[6:-2])]
    assert scanner.buffered == 0


def test_corrupted_crc_bytes_themselves() -> None:
    corrupted = REPLY_BT23[:-1] + bytes([REPLY_BT23[-1] ^ 0x01])
    events, _ = scan(corrupted + REPLY_BT23)
    assert isinstance(events[0], BadFrame)
    assert events[1:] == [Frame(ctrl=0x20, seq=0, data=REPLY_BT23[6:-2])]


def test_fake_start_inside_junk_swallows_real_frame_start() -> None:
    # EE 00 00 00 00 05 looks like a 5-byte frame header; its "data" and "CRC" are the first
    # bytes of the real frame. The scanner must report BadFrame and then find the real one.
    fake = bytes.fromhex("EE 00 00 00 00 05")
    events, _ = scan(b"\x33" + fake + LOGOFF)
    assert len(events) == 2
    assert isinstance(events[0], BadFrame)
    assert events[0].raw == fake + LOGOFF[:7]
    assert events[1] == Frame(ctrl=0x20, seq=0, data=b"\x52")


def test_fake_start_with_bad_identity_is_junk() -> None:
    events, scanner = scan(b"\xee\x99" + TERMINATE)
    assert events == [Frame(ctrl=0, seq=0, data=b"\x21")]
    assert scanner.skipped_bytes == 2


def test_fake_start_with_absurd_length_is_junk() -> None:
    events, scanner = scan(bytes.fromhex("EE 00 00 00 FF FF") + IDENTIFICATION)
    assert events == [Frame(ctrl=0, seq=0, data=b"\x20")]
    assert scanner.skipped_bytes == 6


def test_ee_at_end_waits_for_more() -> None:
    scanner = FrameScanner()
    scanner.feed(b"\xee")
    assert scanner.next_event() is None
    scanner.feed(b"\x00\x00\x00")
    assert scanner.next_event() is None
    assert scanner.buffered == 4


def test_abandon_partial_rescans_rest() -> None:
    # A stray EE 00 with a plausible length stalls the scanner ...
    scanner = FrameScanner()
    scanner.feed(bytes.fromhex("EE 00 00 00 01 00") + b"\x06" + TERMINATE)
    assert scanner.next_event() is None
    # ... until the link times out and abandons it.
    scanner.abandon_partial()
    assert drain(scanner) == [Ack(), Frame(ctrl=0, seq=0, data=b"\x21")]
    assert scanner.skipped_bytes == 1 + 5


def test_abandon_partial_without_pending_frame_is_harmless() -> None:
    scanner = FrameScanner()
    scanner.abandon_partial()
    scanner.feed(TERMINATE)
    assert drain(scanner) == [Frame(ctrl=0, seq=0, data=b"\x21")]
    scanner.abandon_partial()
    assert scanner.skipped_bytes == 0


def test_clear() -> None:
    scanner = FrameScanner()
    scanner.feed(TERMINATE[:5])
    assert scanner.next_event() is None
    scanner.clear()
    assert scanner.buffered == 0
    assert scanner.skipped_bytes == 5
    scanner.feed(IDENTIFICATION)
    assert drain(scanner) == [Frame(ctrl=0, seq=0, data=b"\x20")]


@given(
    payloads=st.lists(st.binary(max_size=80), min_size=1, max_size=5),
    junk=st.binary(max_size=30).map(lambda b: bytes(x for x in b if x not in (0x06, 0x15, 0xEE))),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=10),
)
def test_frames_survive_any_split(payloads: list[bytes], junk: bytes, cuts: list[int]) -> None:
    stream = b"".join(
        junk + encode_frame(p, toggle=i % 2 == 1, seq=i) for i, p in enumerate(payloads)
    )
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    events, scanner = scan(*chunks)
    assert events == [
        Frame(ctrl=0x20 if i % 2 else 0, seq=i, data=p) for i, p in enumerate(payloads)
    ]
    assert scanner.skipped_bytes == len(junk) * len(payloads)
