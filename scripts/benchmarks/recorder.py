"""What goes over the wire: every request and the bytes of its exchange.

Measured on the byte stream, through public API only: the bench builds the link itself
(`OpticalLink` / `MepLink` on a `RecordingStream`, a `ByteStream` whose public `write` notes
where each request starts), and the stream's own `bytes_sent` / `bytes_received` counters give
each exchange's bytes. A retransmission (the same bytes again) and the optical ACK/NAK bytes
stay with the exchange they belong to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
import math
import time

from custom_components.nes_echelon.nes_client import mep, mep_packet, optical_frame, psem, tables
from custom_components.nes_echelon.nes_client.digest import DIGEST_SIZE
from custom_components.nes_echelon.nes_client.stream import ByteStream
from nes_echelon_dev.simulator.server import MEP_SEGMENT

BAUD = 9600
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
BYTE_TIME = BITS_PER_BYTE / BAUD
MEP_SEGMENT_PAUSE = 0.025

TABLE_NAMES = {tables.ET03: "ET03"}
SERVICE_NAMES = {
    psem.IDENTIFY: "Identification",
    psem.NEGOTIATE: "Negotiate",
    psem.LOGON: "Logon",
    psem.SECURITY: "Security",
    psem.LOGOFF: "Logoff",
    psem.TERMINATE: "Terminate",
}


@dataclass
class Exchange:
    """One request frame/packet and its response, as the stream saw them."""

    request: bytes
    tx: int = 0
    rx: int = 0
    seconds: float = 0.0

    @property
    def wire_bytes(self) -> int:
        return self.tx + self.rx

    @property
    def wire_time(self) -> float:
        return self.wire_bytes * BYTE_TIME

    def describe(self) -> str:
        code = self.request[0]
        if code in (psem.PARTIAL_READ, psem.FULL_READ):
            table_id = int.from_bytes(self.request[1:3], "big")
            table = TABLE_NAMES.get(table_id, f"BT{table_id:02d}")
            if code == psem.FULL_READ:
                return f"{table} full read"
            offset = int.from_bytes(self.request[3:6], "big")
            count = int.from_bytes(self.request[6:8], "big")
            return f"{table} offset {offset:3d} count {count:3d}"
        return SERVICE_NAMES.get(code, f"service {code:#04x}")


def psem_request(kind: str, data: bytes) -> bytes | None:
    """The PSEM request a write carries (its first 8 bytes), or None (an optical ACK or NAK)."""
    if kind == "mep":
        length = int.from_bytes(data[: mep_packet.LENGTH_SIZE], "big")
        end = mep_packet.LENGTH_SIZE + length - mep_packet.SEQUENCE_SIZE - DIGEST_SIZE
        return data[mep_packet.LENGTH_SIZE : min(end, mep_packet.LENGTH_SIZE + 8)]
    if len(data) <= optical_frame.HEADER_SIZE:
        return None
    length = int.from_bytes(data[4:6], "big")
    start = optical_frame.HEADER_SIZE
    return data[start : start + min(length, 8)]


class RecordingStream(ByteStream):
    """A ByteStream that records each request's exchange: its bytes, both directions."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        secret: bytes,
        kind: str,
    ) -> None:
        super().__init__(reader, writer, secret=secret)
        self.kind = kind
        self.exchanges: list[Exchange] = []
        self.current: Exchange | None = None
        self.current_bytes = b""
        self.started = (0, 0, 0.0)

    async def write(self, data: bytes) -> None:
        request = psem_request(self.kind, data)
        if request and data != self.current_bytes:
            self.settle()
            self.current = Exchange(request=bytes(request))
            self.current_bytes = bytes(data)
            self.started = (self.bytes_sent, self.bytes_received, time.perf_counter())
        await super().write(data)

    def settle(self) -> None:
        """Close the exchange in progress: every request before this point has its answer."""
        record = self.current
        if record is None:
            return
        tx, rx, start = self.started
        record.tx = self.bytes_sent - tx
        record.rx = self.bytes_received - rx
        record.seconds = time.perf_counter() - start
        self.exchanges.append(record)
        self.current = None
        self.current_bytes = b""

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[Exchange]]:
        """The exchanges made inside the block."""
        self.settle()
        start = len(self.exchanges)
        captured: list[Exchange] = []
        try:
            yield captured
        finally:
            self.settle()
            captured.extend(self.exchanges[start:])


def wire_floor(exchanges: list[Exchange]) -> float:
    """Seconds the bytes need at 9600 baud 8N1, both directions, nothing else."""
    return sum(e.wire_time for e in exchanges)


def meter_floor(exchanges: list[Exchange], link: str) -> float:
    """The wire floor plus the gaps the meter mandates (MEP only).

    MEP: a request starts no sooner than 100 ms after the previous one started, and every
    reply pauses 25 ms after each 117 bytes. Optical mandates no gap.
    """
    if link != "mep":
        return wire_floor(exchanges)
    total = 0.0
    for index, e in enumerate(exchanges):
        busy = e.wire_time + MEP_SEGMENT_PAUSE * max(0, (e.rx - 1) // MEP_SEGMENT)
        last = index == len(exchanges) - 1
        total += busy if last else max(mep.MIN_REQUEST_SPACING, busy)
    return total


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]
