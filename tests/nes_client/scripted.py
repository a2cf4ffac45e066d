"""A scripted byte stream, for link behaviour the simulator never shows on its own.

It stands in for `ByteStream` (write / read_some / close): every write is recorded and handed
to a responder, whose answer (bytes, or `(delay, bytes)` pieces) becomes readable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from custom_components.nes_echelon.nes_client.digest import digest
from custom_components.nes_echelon.nes_client.optical_frame import (
    ACK,
    Frame,
    FrameScanner,
    encode_frame,
)

type Piece = bytes | tuple[float, bytes]
type Responder = Callable[[bytes], Iterable[Piece] | None]


class ScriptedStream:
    """Records what the link writes; answers through `responder` (None: stay silent)."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self.written: list[bytes] = []
        self.write_times: list[float] = []
        self.closed = False
        self.bytes_sent = 0
        self.bytes_received = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()

    def feed(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    async def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        self.write_times.append(self._loop.time())
        self.bytes_sent += len(data)
        if self.responder is None:
            return
        for piece in self.responder(bytes(data)) or ():
            if isinstance(piece, tuple):
                delay, chunk = piece
                self._loop.call_later(delay, self.feed, chunk)
            else:
                self.feed(piece)

    async def read_some(self, deadline: float) -> bytes:
        remaining = deadline - self._loop.time()
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            data = await self._queue.get()
        self.bytes_received += len(data)
        return data

    async def close(self) -> None:
        self.closed = True


def frames_in(chunks: Iterable[bytes]) -> list[Frame]:
    """Every CRC-valid C12.18 frame in the written chunks, in order."""
    scanner = FrameScanner()
    found: list[Frame] = []
    for chunk in chunks:
        scanner.feed(chunk)
        while (event := scanner.next_event()) is not None:
            if isinstance(event, Frame):
                found.append(event)
    return found


def requests_in(chunks: Iterable[bytes]) -> list[bytes]:
    """The PSEM requests (frame data) the link sent."""
    return [frame.data for frame in frames_in(chunks)]


def reply(data: bytes, request: bytes, **kwargs: int | bool) -> bytes:
    """ACK, then a response frame with the request's toggle bit."""
    toggle = bool(request[2] & 0x20)
    return bytes([ACK]) + encode_frame(data, toggle=toggle, **kwargs)  # type: ignore[arg-type]


def read_reply(data: bytes) -> bytes:
    """A C12.18 read response: 00, count, data, checksum."""
    return b"\x00" + len(data).to_bytes(2, "big") + data + bytes([-sum(data) & 0xFF])


def mep_reply(packet: bytes, response: bytes, key: bytes) -> bytes:
    """The meter's signed answer to a MEP request packet."""
    core = packet[2:-8]
    body = response + digest(key, core + response)
    return len(body).to_bytes(2, "big") + body


def optical_meter(
    reads: Callable[[bytes], bytes] | None = None,
    *,
    security: bytes = b"\x00",
    negotiate: bytes = b"\x00\x00\x40\x02\x06",
) -> Responder:
    """A well-behaved optical meter: session services answered OK, reads by `reads(request)`."""

    def respond(data: bytes) -> list[Piece] | None:
        frames = frames_in([data])
        if not frames:
            return None  # an ACK or NAK from the link
        request = frames[0].data
        service = request[0]
        if service == 0x51:
            answer = security
        elif service == 0x61:
            answer = negotiate
        elif service in (0x30, 0x3F):
            answer = reads(request) if reads else read_reply(bytes(_count(request)))
        elif service == 0x20:
            answer = b"\x00\x00\x10\x00\x07\x0f\x11" + b"SCRIPTED".ljust(30)
        else:
            answer = b"\x00"
        return [reply(answer, data)]

    return respond


def _count(request: bytes) -> int:
    """Bytes a read asks for: a partial read's count; 10 for a full read."""
    return int.from_bytes(request[6:8], "big") if request[0] == 0x3F else 10


def simulated_reads(meter: object) -> Callable[[bytes], bytes]:
    """Reads served from a SimulatedMeter's tables (optical form, with checksums)."""
    from nes_echelon_dev.simulator.service import serve_read

    def reads(request: bytes) -> bytes:
        return serve_read(meter, request, authenticated=True, checksum=True)  # type: ignore[arg-type]

    return reads
