"""The simulated meter itself, seen from the wire: it must answer like the real one, or the
client tests above prove nothing."""

from __future__ import annotations

import asyncio
from dataclasses import fields
import time

import pytest

from custom_components.nes_echelon.nes_client import psem
from custom_components.nes_echelon.nes_client.digest import digest
from custom_components.nes_echelon.nes_client.keys import mep_key, optical_password
from custom_components.nes_echelon.nes_client.mep_packet import (
    Packet,
    PacketScanner,
    encode_request,
    verify_response,
)
from custom_components.nes_echelon.nes_client.optical_frame import (
    ACK,
    NAK,
    Ack,
    Frame,
    FrameScanner,
    Nak,
    ScanEvent,
    encode_frame,
)
from custom_components.nes_echelon.nes_client.tables import FirmwareVersion
from nes_echelon_dev.simulator import Faults, MeterSimulator, SimulatedMeter, server
from nes_echelon_dev.simulator.meter import present_value_count
from tests.nes_client.conftest import RunningMeter, StartMeter
from tests.nes_client.expect import assert_snapshot


class Wire:
    """A raw connection to the simulator: bytes out, events in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.optical = FrameScanner()
        self.mep = PacketScanner()
        self.toggle = True

    @classmethod
    async def to(cls, running: RunningMeter) -> Wire:
        host, port = running.port.removeprefix("socket://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def event(self, wait: float = 0.5) -> ScanEvent:
        async with asyncio.timeout(wait):
            while (event := self.optical.next_event()) is None:
                self.optical.feed(await self.reader.read(512))
        return event

    async def request(self, data: bytes) -> bytes:
        """One C12.18 request: its ACK, then the (single-packet) response data."""
        self.toggle = not self.toggle
        await self.send(encode_frame(data, toggle=self.toggle))
        assert isinstance(await self.event(), Ack)
        frame = await self.event()
        assert isinstance(frame, Frame)
        assert frame.toggle == self.toggle
        await self.send(bytes([ACK]))
        return frame.data

    async def silent(self, wait: float = 0.1) -> bool:
        try:
            await self.event(wait)
        except TimeoutError:
            return True
        return False

    async def mep_request(self, request: bytes, sequence: int, key: bytes) -> bytes:
        await self.send(encode_request(request, sequence, key))
        async with asyncio.timeout(0.5):
            while not isinstance(event := self.mep.next_event(), Packet):
                self.mep.feed(await self.reader.read(512))
        core = request + sequence.to_bytes(4, "big")
        return verify_response(core, event.body, key)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def optical_session(running: RunningMeter, *, secure: bool = True) -> Wire:
    wire = await Wire.to(running)
    assert (await wire.request(b"\x20"))[:1] == b"\x00"
    assert await wire.request(psem.logon(2, "TEST")) == b"\x00"
    if secure:
        assert await wire.request(b"\x51" + optical_password(running.key)) == b"\x00"
    return wire


# -- optical port ---------------------------------------------------------------------------------


async def test_optical_services_and_refusals(start_meter: StartMeter) -> None:
    running = await start_meter()
    wire = await Wire.to(running)
    assert await wire.request(psem.partial_read(0, 0, 4)) == b"\x0a"  # no session yet
    assert (await wire.request(b"\x20"))[:1] == b"\x00"
    assert await wire.request(b"\x50\x00\x02TEST      ") == b"\x00"
    # Before Security only the open tables are readable.
    assert (await wire.request(psem.partial_read(0, 0, 4)))[:3] == b"\x00\x00\x04"
    assert await wire.request(psem.partial_read(23, 0, 4)) == b"\x03"
    assert await wire.request(b"\x51" + optical_password(running.key)) == b"\x00"
    assert (await wire.request(psem.partial_read(23, 0, 4)))[:3] == b"\x00\x00\x04"
    assert await wire.request(psem.partial_read(99, 0, 4)) == b"\x05"  # no such table
    assert await wire.request(b"\x3f\x00\x17\x00") == b"\x01"  # malformed read
    assert await wire.request(b"\x30\x00") == b"\x01"
    assert await wire.request(b"\x40\x00\x17\x00\x00") == b"\x02"  # writes are not served
    assert await wire.request(b"") == b"\x01"
    # Without Negotiate, replies must fit one 64-byte packet.
    assert await wire.request(psem.partial_read(23, 0, 100)) == b"\x04"
    # A past-the-end read is zeros, not an error [OPT p.9].
    size = running.meter.dimensions.bt23_size
    reply = await wire.request(psem.partial_read(23, size - 2, 8))
    assert reply[3:11] == running.meter.table(23)[-2:] + bytes(6)  # type: ignore[index]
    assert await wire.request(b"\x52") == b"\x00"
    assert await wire.request(b"\x21") == b"\x00"
    assert await wire.request(psem.partial_read(0, 0, 4)) == b"\x0a"  # the session is over
    await wire.close()


async def test_optical_wrong_password_sets_the_alarm(start_meter: StartMeter) -> None:
    running = await start_meter()
    wire = await optical_session(running, secure=False)
    assert await wire.request(b"\x51" + bytes(20)) == b"\x0b"
    assert running.failed_logons == 1
    assert running.meter.alarms.invalid_password
    await wire.close()


async def test_optical_line_discipline(start_meter: StartMeter) -> None:
    running = await start_meter()
    wire = await optical_session(running)
    # A corrupted request frame is NAKed.
    frame = encode_frame(psem.partial_read(0, 0, 4), toggle=True)
    await wire.send(frame[:-1] + bytes([frame[-1] ^ 1]))
    assert isinstance(await wire.event(), Nak)
    # An ACK or NAK with nothing pending is ignored.
    await wire.send(bytes([ACK, NAK]))
    assert await wire.silent()
    # The same toggle again is a retransmission: the same reply, not a new read.
    first = await wire.request(psem.partial_read(23, 0, 4))
    assert first == b"\x00\x00\x04" + (33_821_691).to_bytes(4, "little") + b"\xec"
    running.meter.energy[0][0] = 42.0
    wire.toggle = not wire.toggle  # so that request() sends the same toggle again
    assert await wire.request(psem.partial_read(23, 0, 4)) == first
    # A new request (the toggle flipped) is read afresh.
    assert (await wire.request(psem.partial_read(23, 0, 4)))[3:7] == (42).to_bytes(4, "little")
    await wire.close()


async def test_optical_multi_packet_reply_waits_for_each_ack(start_meter: StartMeter) -> None:
    running = await start_meter()
    wire = await optical_session(running)
    assert await wire.request(psem.negotiate(64, 2, 6)) == b"\x00\x00\x40\x02\x06"
    wire.toggle = not wire.toggle
    await wire.send(encode_frame(psem.partial_read(23, 0, 100), toggle=wire.toggle))
    assert isinstance(await wire.event(), Ack)
    first = await wire.event()
    assert isinstance(first, Frame)
    assert (first.multi_packet, first.first_packet, first.seq) == (True, True, 1)
    assert await wire.silent()  # nothing more until it is ACKed
    await wire.send(bytes([NAK]))  # asked again
    assert await wire.event() == first
    assert running.sim.port.naks_received == 1  # type: ignore[union-attr]
    await wire.send(bytes([ACK]))
    second = await wire.event()
    assert isinstance(second, Frame)
    assert (second.multi_packet, second.first_packet, second.seq) == (True, False, 0)
    data = psem.read_data(first.data + second.data, checksum=True)
    assert data == running.meter.table(23)[:100]  # type: ignore[index]
    await wire.close()


async def test_optical_negotiate_limits(start_meter: StartMeter) -> None:
    running = await start_meter()
    wire = await optical_session(running)
    assert await wire.request(psem.negotiate(1024, 9, 6)) == b"\x00\x01\x00\x02\x06"
    assert await wire.request(psem.negotiate(16, 0, 6)) == b"\x00\x00\x40\x01\x06"
    await wire.close()


# -- MEP port ---------------------------------------------------------------------------------


async def test_mep_sequence_window_and_services(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    key = mep_key(running.key)
    wire = await Wire.to(running)
    start = running.sim.port.last_sequence  # type: ignore[union-attr]
    read = psem.partial_read(0, 0, 4)
    # Within 8 ahead: accepted; the same number again, or beyond the window: 0x0C.
    assert (await wire.mep_request(read, start + 8, key))[:1] == b"\x00"
    assert await wire.mep_request(read, start + 8, key) == b"\x0c" + (start + 8).to_bytes(4, "big")
    assert (await wire.mep_request(read, start + 17, key))[:1] == b"\x0c"
    assert await wire.mep_request(b"\x40\x00\x17\x00\x00", start + 9, key) == b"\x02"
    # Short or broken packets are dropped, and the line still works after them.
    await wire.send(b"\x00\x03\x3f\x00\x00")
    await wire.send(b"\xff\xff")
    assert await wire.silent()
    wire.mep = PacketScanner()
    assert (await wire.mep_request(read, start + 10, key))[:3] == b"\x00\x00\x04"
    await wire.close()


async def test_mep_wrong_key_gets_a_bare_rejection(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    wire = await Wire.to(running)
    await wire.send(encode_request(psem.partial_read(0, 0, 4), 1, bytes(16)))
    async with asyncio.timeout(0.5):
        while not isinstance(event := wire.mep.next_event(), Packet):
            wire.mep.feed(await wire.reader.read(512))
    assert event.body == b"\x0b" + bytes(8)
    assert running.failed_logons == 1
    await wire.close()


async def test_mep_reply_digest_covers_request_and_reply(start_meter: StartMeter) -> None:
    running = await start_meter(link="mep")
    key = mep_key(running.key)
    wire = await Wire.to(running)
    sequence = running.sim.port.last_sequence + 1  # type: ignore[union-attr]
    request = psem.partial_read(23, 0, 8)
    await wire.send(encode_request(request, sequence, key))
    async with asyncio.timeout(0.5):
        while not isinstance(event := wire.mep.next_event(), Packet):
            wire.mep.feed(await wire.reader.read(512))
    reply, tail = event.body[:-8], event.body[-8:]
    assert tail == digest(key, request + sequence.to_bytes(4, "big") + reply)
    assert reply == b"\x00\x00\x08" + running.meter.table(23)[:8]  # type: ignore[operator]
    await wire.close()


# -- pacing, connections ----------------------------------------------------------------------


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_paced_meter_takes_wire_time(
    start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch, link: str
) -> None:
    """At the wire's pace (here 10 x 9600 baud), with MEP's pause every 117 bytes."""
    monkeypatch.setattr(server, "BAUDRATE", 96_000)
    running = await start_meter(link=link, pace=True)  # type: ignore[arg-type]
    client = await running.client(response_timeout=1.0)
    stream = client.link._stream  # type: ignore[attr-defined]
    before = stream.bytes_received + stream.bytes_sent
    started = time.perf_counter()
    assert_snapshot(await client.read(), running.meter)
    elapsed = time.perf_counter() - started
    wire_bytes = stream.bytes_received + stream.bytes_sent - before
    assert elapsed >= 0.8 * wire_bytes * 10 / 96_000


async def test_connections_in_turn(start_meter: StartMeter) -> None:
    running = await start_meter()
    for _ in range(2):
        client = await running.client()
        assert_snapshot(await client.read(), running.meter)
        await client.close()
    assert running.sim.connections == 2


async def test_close_with_a_client_still_connected(socket_enabled: None) -> None:
    sim = MeterSimulator(link="mep", live=True)
    host, port = await sim.serve_tcp()
    reader, writer = await asyncio.open_connection(host, port)
    await asyncio.sleep(0.01)
    await sim.close()
    assert await reader.read() == b""  # the simulator hung up
    writer.close()


async def test_close_a_pty_simulator(socket_enabled: None) -> None:
    sim = MeterSimulator()
    path = await sim.open_pty()
    assert path.startswith("/dev/")
    await sim.close()
    await sim.close()  # twice is harmless


# -- the model --------------------------------------------------------------------------------


def test_faults_count_down() -> None:
    faults = Faults(silence=2, echo=True)
    assert faults.take("silence")
    assert faults.take("silence")
    assert not faults.take("silence")
    assert not faults.take("garbage")
    faults.bad_crc = 4
    faults.clear()
    assert faults == Faults()
    names = Faults.names()
    assert "silence" in names
    assert "bad_digest" in names
    assert "echo" not in names  # permanent switches are not counters
    assert "slow_seconds" not in names
    assert set(names) <= {item.name for item in fields(Faults)}


@pytest.mark.parametrize(
    ("firmware", "count"),
    [
        (FirmwareVersion(3, 0, 24), 18),
        (FirmwareVersion(3, 10), 26),
        (FirmwareVersion(3, 50), 32),
        (FirmwareVersion(3, 70), 55),
        (FirmwareVersion(4, 0), 72),
    ],
)
def test_present_value_count(firmware: FirmwareVersion, count: int) -> None:
    assert present_value_count(firmware) == count


def test_meter_model() -> None:
    meter = SimulatedMeter(tiers=0)
    assert len(meter.energy) == 1
    meter.advance(3600)
    assert meter.registers(0)[:2] == (33_821_691 + 1070, 1_739_085 + 310)
    assert not meter.alarms.reverse_energy  # only meters with tiers set it here
    assert meter.table(0x4242) is None
    given = SimulatedMeter(tiers=1, energy=[[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    assert given.registers(1) == (1, 2, 3, 4)
    single = SimulatedMeter(phases=1, tiers=1)
    assert single.energy[1] == single.energy[0]  # one tier holds everything
    slots = single.present_slots()
    assert (slots[8], slots[9], slots[13], slots[14]) == (0, 0, 0, 0)
