"""Random and mutated packets through framing, the wire checks, every table decoder and both
links: only the client's own typed errors may come out.

Shared by tests/nes_client/test_fuzz.py (a short run in the default suite) and scripts/fuzz
(the long run, >= 1,000,000 packets). Every case draws from its own `random.Random(seed, n)`,
so a failure is replayed from the (seed, case) pair it reports:

    scripts/fuzz --seed S --replay N

What may come out of each target:
* FrameScanner: nothing (junk is skipped); PacketScanner, verify_response, psem: NesError
  (IntegrityError or a PsemError);
* table decoders: ValueError, as their module documents;
* MeterClient over an optical or MEP link fed mutated, random, truncated or re-signed answers:
  NesError only (the client turns a decoder's ValueError into IntegrityError/UnsupportedMeter).

Scanners must also stay bounded: whatever a hostile bridge sends, a scanner never holds more
than one maximal frame (8,200 bytes) or packet (478 bytes).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
import random
import time
from typing import Any

from custom_components.nes_echelon.nes_client import (
    client as client_module,
    mep as mep_module,
    optical as optical_module,
    psem,
    tables,
)
from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.digest import digest
from custom_components.nes_echelon.nes_client.errors import NesError
from custom_components.nes_echelon.nes_client.keys import mep_key, optical_password
from custom_components.nes_echelon.nes_client.mep import MepLink
from custom_components.nes_echelon.nes_client.mep_packet import (
    MAX_BODY,
    Alert,
    Packet,
    PacketScanner,
    encode_request,
    request_core,
    verify_response,
)
from custom_components.nes_echelon.nes_client.optical import OpticalLink
from custom_components.nes_echelon.nes_client.optical_frame import (
    ACK,
    CRC_SIZE,
    HEADER_SIZE,
    MAX_DATA_LENGTH,
    NAK,
    Ack,
    BadFrame,
    Frame,
    FrameScanner,
    Nak,
    encode_frame,
    table_checksum,
)
from nes_echelon_dev.simulator import SimulatedMeter
from nes_echelon_dev.simulator.load_profile import SimulatedLoadProfile
from nes_echelon_dev.simulator.service import serve_read

KEY = b"0123456789ABCDEFGHIJ"
MEP_KEY = mep_key(KEY)
MAX_FRAME = HEADER_SIZE + MAX_DATA_LENGTH + CRC_SIZE
MAX_PACKET = 2 + MAX_BODY
IDENTIFICATION = bytes([0, 0, 0x10, 0]) + b"\x07\x0f\x11" + b"FUZZED NES METER".ljust(30)
INTERESTING_BYTES = (0x00, 0x01, 0x06, 0x0B, 0x0C, 0x15, 0x20, 0x7F, 0x80, 0xEE, 0xFF)
INTERESTING_WORDS = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 476, 477, 0x7FFF, 0x8000, 8192, 8193, 0xFFFF)


# -- the corpus: valid bytes of every kind, from simulated meters --------------------------------


def _meters() -> list[SimulatedMeter]:
    return [
        SimulatedMeter(),
        SimulatedMeter(demand_layout=True, tiers=4),
        SimulatedMeter(phases=1, tiers=0, firmware=tables.FirmwareVersion(3, 0, 24)),
        SimulatedMeter(tiers=8, firmware=tables.FirmwareVersion(4, 30, 1)),
        SimulatedMeter(tiers=1, firmware=tables.FirmwareVersion(3, 50, 0)),
    ]


METERS = _meters()
TABLE_IDS = (
    tables.BT00,
    tables.BT01,
    tables.BT03,
    tables.BT21,
    tables.BT23,
    tables.BT28,
    tables.BT52,
    tables.BT55,
    tables.ET03,
)


def _table_images() -> list[bytes]:
    images = []
    for meter in METERS:
        for table_id in TABLE_IDS:
            image = meter.table(table_id)
            if image is not None:
                images.append(image)
    return images


def _requests() -> list[bytes]:
    reads = [psem.full_read(table_id) for table_id in TABLE_IDS]
    reads += [psem.full_read(table_id, mep_length=0x200) for table_id in TABLE_IDS]
    reads += [
        psem.partial_read(23, 0, 16),
        psem.partial_read(28, 0, 60),
        psem.partial_read(3, 0, 10),
    ]
    return [*reads, b"\x20", b"\x21", b"\x52", psem.logon(2, "HA"), psem.negotiate(64, 2, 6)]


def _load_profile_images() -> list[bytes]:
    """BT61-BT64 and ET21 of a simulated load profile a few hours old (history reads them)."""
    meter = SimulatedMeter(load_profile=SimulatedLoadProfile(start=datetime.now(UTC)))
    meter.advance(5 * 3600)
    table_ids = [getattr(tables, name, None) for name in ("BT61", "BT62", "BT63", "BT64", "ET21")]
    images = [meter.table(table_id) for table_id in table_ids if table_id is not None]
    return [image[:600] for image in images if image]


LOAD_PROFILE_TABLES = _load_profile_images()
TABLES = _table_images() + LOAD_PROFILE_TABLES
REQUESTS = _requests()
READ_REPLIES_OPTICAL = [
    b"\x00" + len(t).to_bytes(2, "big") + t + bytes([table_checksum(t)]) for t in TABLES
]
READ_REPLIES_MEP = [b"\x00" + len(t).to_bytes(2, "big") + t for t in TABLES]
PSEM_REPLIES = [
    *READ_REPLIES_OPTICAL,
    *READ_REPLIES_MEP,
    *(bytes([code]) for code in range(0x0D)),
    b"\x0c\x77\x63\x5b\x90",
    IDENTIFICATION,
    b"\x00\x00\x40\x02\x06",
]


def _frames() -> list[bytes]:
    frames = [encode_frame(r, toggle=bool(i % 2)) for i, r in enumerate(REQUESTS + PSEM_REPLIES)]
    long = READ_REPLIES_OPTICAL[4]
    pieces = [long[i : i + 56] for i in range(0, len(long), 56)]
    for index, piece in enumerate(pieces):
        frames.append(
            encode_frame(
                piece,
                toggle=True,
                seq=len(pieces) - 1 - index,
                multi_packet=len(pieces) > 1,
                first_packet=index == 0,
            )
        )
    return [*frames, bytes([ACK]), bytes([NAK])]


def _signed(core: bytes, response: bytes) -> bytes:
    body = response + digest(MEP_KEY, core + response)
    return len(body).to_bytes(2, "big") + body


CORES = [request_core(r, 0x01020304 + i) for i, r in enumerate(REQUESTS)]
FRAMES = _frames()
PACKETS = [
    *(encode_request(r, 0x01020304 + i, MEP_KEY) for i, r in enumerate(REQUESTS)),
    *(_signed(CORES[i % len(CORES)], r) for i, r in enumerate(PSEM_REPLIES) if len(r) <= 460),
    b"\x00\x00",
]
BODIES = [packet[2:] for packet in PACKETS]


def _actual_registers() -> list[tables.ActualRegister]:
    registers = [meter.dimensions for meter in METERS]
    registers.append(tables.ActualRegister(*([0xFF] * 10)))
    registers.append(tables.ActualRegister(*([0] * 10)))
    return registers


ACTUAL_REGISTERS = _actual_registers()
FIRMWARES = [meter.firmware for meter in METERS]


# -- mutations ---------------------------------------------------------------------------------


def random_bytes(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.4:
        size = rng.randrange(0, 16)
    elif roll < 0.85:
        size = rng.randrange(16, 160)
    else:
        size = rng.randrange(160, 1200)
    return rng.randbytes(size)


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    """One to eight random edits of `data`: bit flips, odd bytes, inserts, deletes, cuts,
    extreme length fields, duplicated slices, splices with other corpus items."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        op = rng.randrange(11)
        size = len(buf)
        if op == 0 and size:
            buf[rng.randrange(size)] ^= 1 << rng.randrange(8)
        elif op == 1 and size:
            buf[rng.randrange(size)] = rng.choice(INTERESTING_BYTES)
        elif op == 2:
            at = rng.randrange(size + 1)
            buf[at:at] = rng.randbytes(rng.randint(1, 4))
        elif op == 3 and size:
            at = rng.randrange(size)
            del buf[at : at + rng.randint(1, 8)]
        elif op == 4 and size:
            del buf[rng.randrange(size) :]
        elif op == 5:
            buf += rng.choice(corpus) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 32))
        elif op == 6 and size:
            at = rng.randrange(size)
            buf[at:at] = buf[at : at + rng.randint(1, 16)]
        elif op == 7 and size >= 2:
            at = rng.choice((0, 4, rng.randrange(size - 1)))  # MEP and C12.18 length fields
            at = min(at, size - 2)
            buf[at : at + 2] = rng.choice(INTERESTING_WORDS).to_bytes(2, "big")
        elif op == 8:
            other = rng.choice(corpus)
            buf = buf[: rng.randrange(size + 1)] + other[rng.randrange(len(other) + 1) :]
        elif op == 9 and size >= 2:
            a, b = rng.randrange(size), rng.randrange(size)
            buf[a], buf[b] = buf[b], buf[a]
        elif op == 10 and size:
            at = rng.randrange(size)
            buf[at : at + 4] = rng.randbytes(4)
    return bytes(buf)


def sample(rng: random.Random, corpus: list[bytes]) -> bytes:
    """Random bytes, a mutated corpus item or a clean one; sometimes several joined."""
    roll = rng.random()
    if roll < 0.3:
        return random_bytes(rng)
    parts = [rng.choice(corpus) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    joined = b"".join(parts)
    return joined if roll < 0.4 else mutate(rng, joined, corpus)


def chunks(rng: random.Random, data: bytes) -> Iterable[bytes]:
    """`data` as a serial port delivers it: in pieces of any size."""
    position = 0
    while position < len(data):
        size = rng.choice((1, 2, 3, 7, 16, 64, 1024))
        yield data[position : position + size]
        position += size


# -- the targets -------------------------------------------------------------------------------


class Forbidden(AssertionError):
    """An exception a target must never raise, or a broken invariant."""


OUTCOMES: Counter[str] = Counter()
"""How the client cases ended ("ok" or the error's name), for the report."""


def fuzz_frame_scanner(rng: random.Random) -> int:
    data = sample(rng, FRAMES)
    scanner = FrameScanner()
    for piece in chunks(rng, data):
        scanner.feed(piece)
        while (event := scanner.next_event()) is not None:
            if isinstance(event, Frame):
                if event.encode() not in data:
                    raise Forbidden(f"a frame that was not sent: {event}")
            elif not isinstance(event, Ack | Nak | BadFrame):
                raise Forbidden(f"unknown event {event!r}")
        if scanner.buffered >= MAX_FRAME:
            raise Forbidden(f"the frame scanner holds {scanner.buffered} bytes")
        if rng.random() < 0.05:
            scanner.abandon_partial()
    return 1


def fuzz_packet_scanner(rng: random.Random) -> int:
    data = sample(rng, PACKETS)
    scanner = PacketScanner()
    for piece in chunks(rng, data):
        scanner.feed(piece)
        while True:
            try:
                event = scanner.next_event()
            except NesError:
                continue
            if event is None:
                break
            if not isinstance(event, Alert | Packet):
                raise Forbidden(f"unknown event {event!r}")
            if isinstance(event, Packet) and not 0 < len(event.body) <= MAX_BODY:
                raise Forbidden(f"a packet body of {len(event.body)} bytes")
        if scanner.buffered >= MAX_PACKET:
            raise Forbidden(f"the packet scanner holds {scanner.buffered} bytes")
    return 1


def fuzz_verify(rng: random.Random) -> int:
    body = sample(rng, BODIES)
    core = rng.choice(CORES) if rng.random() < 0.9 else random_bytes(rng)
    try:
        response = verify_response(core, body, MEP_KEY)
    except NesError:
        return 1
    if response != body[:-8]:
        raise Forbidden("verify_response returned something else than the body's response")
    return 1


def fuzz_psem(rng: random.Random) -> int:
    data = sample(rng, PSEM_REPLIES)
    calls: list[Callable[[], object]] = [
        lambda: psem.check(data),
        lambda: psem.read_data(data, checksum=True),
        lambda: psem.read_data(data, checksum=False),
        lambda: psem.read_data(data, checksum=rng.random() < 0.5, expected=rng.randrange(300)),
    ]
    for call in calls:
        with contextlib.suppress(NesError):
            call()
    return 1


def _register(rng: random.Random, data: bytes) -> tables.ActualRegister:
    if len(data) >= 10 and rng.random() < 0.3:
        return tables.decode_actual_register(data[-10:])
    return rng.choice(ACTUAL_REGISTERS)


def _int32s(rng: random.Random, data: bytes) -> dict[int, int]:
    return {
        rng.randrange(90): int.from_bytes(data[i : i + 4], "little", signed=True)
        for i in range(0, len(data) - 3, 4)
    }


def _profile(rng: random.Random, data: bytes) -> Any:
    decode = getattr(tables, "decode_actual_load_profile", None)
    if decode is None:
        return None
    candidates = LOAD_PROFILE_TABLES[:1] or rng.sample(TABLES, 3)
    for source in (data, mutate(rng, candidates[0], TABLES), *candidates):
        try:
            return decode(source)
        except ValueError:
            continue
    return None


def _load_profile_control(rng: random.Random, data: bytes) -> object:
    profile = _profile(rng, rng.randbytes(rng.randrange(40)))
    if profile is None:
        return None
    return tables.decode_load_profile_control(data, profile)


def _block_header(rng: random.Random, data: bytes) -> object:
    profile = _profile(rng, rng.randbytes(rng.randrange(40)))
    if profile is None or not profile.sets:
        return None
    item = rng.choice(profile.sets)
    layout = tables.computed_layout(item, end_readings=rng.random() < 0.5)
    return tables.decode_block_header(
        data,
        layout,
        intervals=rng.choice((item.intervals, rng.randrange(300))),
        end_reading_channels=rng.randrange(20),
    )


def _actual_register_layout(register: tables.ActualRegister, rng: random.Random) -> object:
    """BT21 decoded, and every layout figure derived from it."""
    return (
        register.bt23_size,
        register.bt28_size,
        register.summation_offset(rng.randrange(-1, 10), rng.randrange(-1, 20)),
        register.bt28_slot_offset(rng.randrange(-1, 90)),
        tables.bt28_read_span(register, rng.sample(range(90), 5)),
        tables.available_present_slots(register, rng.choice(FIRMWARES)),
    )


def _summations(rng: random.Random, data: bytes) -> object:
    register = _register(rng, data)
    block = rng.randrange(-1, register.tiers + 2)
    offset = rng.choice((0, 0, rng.randrange(-4, 400)))
    return tables.decode_summations(register, data, block, offset=offset)


# name -> call(rng, data): every decoder the tables module exports, with the arguments it needs.
DECODERS: dict[str, Callable[[random.Random, bytes], object]] = {
    "decode_general_config": lambda rng, data: tables.decode_general_config(data),
    "decode_manufacturer_identification": lambda rng, data: (
        tables.decode_manufacturer_identification(data, bcd_serial=rng.random() < 0.5)
    ),
    "decode_utility_serial": lambda rng, data: tables.decode_utility_serial(data),
    "decode_actual_register": lambda rng, data: _actual_register_layout(
        tables.decode_actual_register(data), rng
    ),
    "decode_summations": _summations,
    "decode_bt28_slots": lambda rng, data: tables.decode_bt28_slots(
        _register(rng, data), data, offset=rng.choice((0, 0, rng.randrange(-8, 400)))
    ),
    "decode_present_values": lambda rng, data: tables.decode_present_values(
        _register(rng, data), rng.choice(FIRMWARES), _int32s(rng, data)
    ),
    "decode_int32_le": lambda rng, data: tables.decode_int32_le(data, rng.randrange(-4, 40)),
    "decode_alarms": lambda rng, data: tables.decode_alarms(data).active,
    "decode_clock": lambda rng, data: tables.decode_clock(data),
    "decode_local_time": lambda rng, data: tables.decode_local_time(data),
    "decode_current_tier": lambda rng, data: tables.decode_current_tier(data),
    "from_packed": lambda rng, data: str(
        tables.FirmwareVersion.from_packed(int.from_bytes(data[:3], "big"))
    ),
    # Load profile (history): only if the tables module has them.
    "decode_actual_load_profile": lambda rng, data: tables.decode_actual_load_profile(data),
    "decode_load_profile_control": _load_profile_control,
    "decode_load_profile_status": lambda rng, data: tables.decode_load_profile_status(
        data, rng.randrange(6)
    ),
    "decode_lp_internal_configuration": lambda rng, data: tables.decode_lp_internal_configuration(
        data
    ),
    "decode_stime_date": lambda rng, data: tables.decode_stime_date(data),
    "decode_block_header": _block_header,
    "decode_interval_record": lambda rng, data: tables.decode_interval_record(
        data, rng.randrange(20), channel_offset=rng.choice((-1, -1, rng.randrange(80)))
    ),
}


def missing_decoders() -> list[str]:
    """Decoders the tables module exports that DECODERS does not cover."""
    return sorted(
        name for name in tables.__all__ if name.startswith("decode_") and name not in DECODERS
    )


def _available_decoders() -> list[tuple[str, Callable[[random.Random, bytes], object]]]:
    return [
        (name, call)
        for name, call in DECODERS.items()
        if name == "from_packed" or hasattr(tables, name)
    ]


def fuzz_decoders(rng: random.Random) -> int:
    data = sample(rng, TABLES)
    for _name, call in _available_decoders():
        with contextlib.suppress(ValueError):
            call(rng, data)
    return 1


# -- the links, end to end ---------------------------------------------------------------------


class FuzzStream:
    """Stands in for ByteStream: answers come from a responder; no answer is an instant timeout."""

    def __init__(self, responder: Callable[[bytes], list[bytes]]) -> None:
        self.responder = responder
        self.pending: deque[bytes] = deque()
        self.bytes_sent = 0
        self.bytes_received = 0

    async def write(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        self.pending.extend(self.responder(bytes(data)))

    async def read_some(self, deadline: float) -> bytes:
        if not self.pending:
            raise TimeoutError
        data = self.pending.popleft()
        self.bytes_received += len(data)
        return data

    async def close(self) -> None:
        self.pending.clear()


@dataclass
class Meter:
    """The meter's side for one case: serves reads from a simulated meter, and spoils answers."""

    rng: random.Random
    meter: SimulatedMeter
    spoil: float  # share of answers spoilt
    answers: int = 0

    def reply(self, request: bytes, *, checksum: bool) -> bytes:
        service = request[0] if request else -1
        rng = self.rng
        if service == psem.IDENTIFY:
            return IDENTIFICATION
        if service == psem.NEGOTIATE:
            if rng.random() < 0.1:
                return b"\x00" + rng.randbytes(rng.randrange(5))
            return b"\x00\x00\x40\x02\x06"
        if service == psem.SECURITY and rng.random() < 0.02:
            return b"\x0b"
        if service in (psem.FULL_READ, psem.PARTIAL_READ):
            if rng.random() < 0.03:
                return bytes([rng.randrange(1, 0x0D)])
            return serve_read(self.meter, request, authenticated=True, checksum=checksum)
        return b"\x00"

    def authentic(self, reply: bytes, *, checksum: bool) -> bytes:
        """A changed answer that still passes every wire check: a meter that says odd things."""
        rng = self.rng
        if reply[:1] == b"\x00" and len(reply) > 3:
            end = len(reply) - (1 if checksum else 0)
            data = bytearray(reply[3:end])
            extreme = rng.choice((0, 0xFF, None))
            for _ in range(rng.choice((1, 2, 4, len(data)))):
                if data:
                    value = rng.randrange(256) if extreme is None else extreme
                    data[rng.randrange(len(data))] = value
            if rng.random() < 0.2:
                data = data[: rng.randrange(len(data) + 1)]
            head = b"\x00" + len(data).to_bytes(2, "big") + data
            return head + bytes([table_checksum(bytes(data))]) if checksum else head
        return mutate(rng, reply, PSEM_REPLIES)

    def spoilt(self, wire: bytes, corpus: list[bytes]) -> list[bytes]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return [mutate(rng, wire, corpus)]
        if roll < 0.45:
            return [random_bytes(rng)]
        if roll < 0.6:
            return []  # silence
        if roll < 0.7:
            return [wire[: rng.randrange(len(wire) + 1)]]
        if roll < 0.8:
            return [random_bytes(rng), wire]
        return list(chunks(rng, wire + wire if roll < 0.9 else wire + random_bytes(rng)))


class OpticalMeter(Meter):
    def __init__(self, rng: random.Random, meter: SimulatedMeter, spoil: float) -> None:
        super().__init__(rng, meter, spoil)
        self.scanner = FrameScanner()

    def __call__(self, data: bytes) -> list[bytes]:
        self.scanner.feed(data)
        out: list[bytes] = []
        while (event := self.scanner.next_event()) is not None:
            if isinstance(event, Frame):
                out += self.answer(event)
        return out

    def answer(self, frame: Frame) -> list[bytes]:
        rng = self.rng
        self.answers += 1
        reply = self.reply(frame.data, checksum=True)
        spoil = rng.random() < self.spoil
        if spoil and rng.random() < 0.3:
            reply = self.authentic(reply, checksum=True)
            spoil = False
        size = rng.choice((56, 56, 120, 8192))
        pieces = [reply[i : i + size] for i in range(0, len(reply), size)] or [b""]
        if spoil and rng.random() < 0.2:
            rng.shuffle(pieces)
        toggle = frame.toggle if not spoil or rng.random() < 0.8 else not frame.toggle
        wire = bytes([ACK]) + b"".join(
            encode_frame(
                piece,
                toggle=toggle,
                seq=len(pieces) - 1 - index,
                multi_packet=len(pieces) > 1,
                first_packet=len(pieces) > 1 and index == 0,
            )
            for index, piece in enumerate(pieces)
        )
        if not spoil:
            return [wire]
        if rng.random() < 0.1:
            return [bytes([NAK])]
        return self.spoilt(wire, FRAMES)


class MepMeter(Meter):
    def __init__(self, rng: random.Random, meter: SimulatedMeter, spoil: float) -> None:
        super().__init__(rng, meter, spoil)
        self.scanner = PacketScanner()

    def __call__(self, data: bytes) -> list[bytes]:
        self.scanner.feed(data)
        out: list[bytes] = []
        while (event := self.scanner.next_event()) is not None:
            if isinstance(event, Packet):
                out += self.answer(event.body)
        return out

    def answer(self, body: bytes) -> list[bytes]:
        rng = self.rng
        self.answers += 1
        core = body[:-8]
        reply = self.reply(core[:-4], checksum=False)
        spoil = rng.random() < self.spoil
        if spoil and rng.random() < 0.3:
            reply = self.authentic(reply, checksum=False)[:460]
            spoil = False
        elif spoil and rng.random() < 0.15:
            reply = b"\x0c" + rng.randbytes(4)  # a signed "invalid sequence number"
            spoil = False
        wire = _signed(core, reply) if reply else b""
        if spoil and rng.random() < 0.1:
            return [b"\x00\x00" * rng.randint(1, 5), wire]  # alerts first
        if spoil and rng.random() < 0.05:
            return [b"\x00\x09\x0b" + bytes(8)]  # a bare rejection
        return self.spoilt(wire, PACKETS) if spoil else [wire]


async def _client_case(rng: random.Random) -> int:
    meter = rng.choice(METERS)
    spoil = rng.choice((0.05, 0.2, 0.5, 1.0))
    link: OpticalLink | MepLink
    responder: OpticalMeter | MepMeter
    if rng.random() < 0.5:
        responder = OpticalMeter(rng, meter, spoil)
        stream = FuzzStream(responder)
        link = OpticalLink(stream, optical_password(KEY), negotiate=rng.random() < 0.8)  # type: ignore[arg-type]
    else:
        responder = MepMeter(rng, meter, spoil)
        stream = FuzzStream(responder)
        link = MepLink(stream, MEP_KEY, sequence=rng.getrandbits(32))  # type: ignore[arg-type]
    client = MeterClient(link)
    try:
        await client.connect()
        for _ in range(rng.randint(1, 3)):
            await client.read()
        await client.read_status()
    except NesError as err:
        OUTCOMES[type(err).__name__] += 1
    else:
        OUTCOMES["ok"] += 1
    finally:
        await client.close()
    return responder.answers


def fuzz_client(rng: random.Random, loop: asyncio.AbstractEventLoop) -> int:
    return loop.run_until_complete(_client_case(rng))


# -- running -----------------------------------------------------------------------------------

SYNC_TARGETS: dict[str, Callable[[random.Random], int]] = {
    "FrameScanner": fuzz_frame_scanner,
    "PacketScanner": fuzz_packet_scanner,
    "verify_response": fuzz_verify,
    "psem": fuzz_psem,
    "decoders": fuzz_decoders,
}
WEIGHTS = {
    "FrameScanner": 20,
    "PacketScanner": 20,
    "verify_response": 8,
    "psem": 12,
    "decoders": 30,
    "client": 10,
}


@dataclass
class Stats:
    seed: int
    cases: int = 0
    packets: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_packets(self) -> int:
        return sum(self.packets.values())


def quick_links() -> dict[tuple[object, str], float]:
    """No real pauses in the links (NAK pause, MEP request spacing, busy pause); returns what
    to restore."""
    saved: dict[tuple[object, str], float] = {}
    for module, name in (
        (optical_module, "NAK_PAUSE"),
        (mep_module, "MIN_REQUEST_SPACING"),
        (client_module, "BUSY_PAUSE"),
    ):
        saved[module, name] = getattr(module, name)
        setattr(module, name, 0.0)
    return saved


def restore(saved: dict[tuple[object, str], float]) -> None:
    for (module, name), value in saved.items():
        setattr(module, name, value)


def case_rng(seed: int, case: int) -> random.Random:
    return random.Random(seed * 1_000_003 + case)


def run_case(seed: int, case: int, loop: asyncio.AbstractEventLoop) -> tuple[str, int]:
    """One case; raises what the target raised if it was not allowed."""
    rng = case_rng(seed, case)
    target = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    if target == "client":
        return target, fuzz_client(rng, loop)
    return target, SYNC_TARGETS[target](rng)


def run(
    seed: int,
    *,
    packets: int | None = None,
    cases: int | None = None,
    start: int = 0,
    progress: Callable[[Stats], None] | None = None,
) -> Stats:
    """Cases start, start + 1, … until `packets` packets (or `cases` cases) went through."""
    stats = Stats(seed=seed)
    OUTCOMES.clear()
    loop = asyncio.new_event_loop()
    saved = quick_links()
    began = time.perf_counter()
    try:
        case = start
        while (packets is None or stats.total_packets < packets) and (
            cases is None or stats.cases < cases
        ):
            try:
                target, count = run_case(seed, case, loop)
            except Exception as err:  # anything else is what we look for
                stats.failures.append(f"seed {seed} case {case}: {type(err).__name__}: {err}")
                target, count = "failed", 1
            stats.packets[target] += count
            stats.cases += 1
            case += 1
            if progress is not None and stats.cases % 10_000 == 0:
                stats.seconds = time.perf_counter() - began
                progress(stats)
    finally:
        restore(saved)
        loop.close()
    stats.outcomes.update(OUTCOMES)
    stats.seconds = time.perf_counter() - began
    return stats
