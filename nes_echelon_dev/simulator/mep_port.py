"""The meter's side of the MEP port: digests, sequence numbers, alerts (spec §3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import os

from custom_components.nes_echelon.nes_client import psem
from custom_components.nes_echelon.nes_client.digest import digest
from custom_components.nes_echelon.nes_client.errors import IntegrityError
from custom_components.nes_echelon.nes_client.keys import mep_key
from custom_components.nes_echelon.nes_client.mep_packet import Alert, Packet, PacketScanner

from .faults import Faults
from .meter import SimulatedMeter
from .pacing import PacedReader, PacedWriter
from .service import serve_read

_LOGGER = logging.getLogger(__name__)

SEQUENCE_WINDOW = 8  # a number up to 8 ahead of the last is accepted [MEP p.11-12]
ALERT = b"\x00\x00"
ALERT_PERIOD = 1.0
DIGEST_SIZE = 8


class MepPort:
    """One MEP conversation over a byte stream."""

    def __init__(
        self,
        meter: SimulatedMeter,
        faults: Faults,
        *,
        clock: Callable[[], float],
        sequence: int = 0x77635B90,
    ) -> None:
        self.meter = meter
        self.faults = faults
        self._clock = clock
        self._scanner = PacketScanner()
        self._initial_sequence = sequence
        self.last_sequence = sequence
        self._last_request = -ALERT_PERIOD
        self.rejected_digests = 0

    def reboot(self) -> None:
        """A meter restart: the sequence counter starts over, half a packet is forgotten."""
        self._scanner = PacketScanner()
        self.last_sequence = self._initial_sequence

    async def run(self, reader: PacedReader, out: PacedWriter) -> None:
        alerts = asyncio.create_task(self._alert_loop(out))
        try:
            while True:
                data = await reader.read(512)
                if not data:
                    return
                self._scanner.feed(data)
                while True:
                    try:
                        event = self._scanner.next_event()
                    except IntegrityError:
                        break  # a broken length: drop what we have, wait for a retry
                    if event is None or isinstance(event, Alert):
                        break
                    assert isinstance(event, Packet)
                    if not await self._on_packet(event.body, out):
                        return
        finally:
            alerts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await alerts

    async def _alert_loop(self, out: PacedWriter) -> None:
        # While something needs attention the meter repeats 00 00 once a second, never within
        # 1 s after a request [MEP p.17-18].
        while True:
            await asyncio.sleep(ALERT_PERIOD)
            if self.faults.alerts and self._clock() - self._last_request >= ALERT_PERIOD:
                await out.write(ALERT)

    async def _on_packet(self, body: bytes, out: PacedWriter) -> bool:
        self._last_request = self._clock()
        key = mep_key(self.meter.key)
        if len(body) < 1 + 4 + DIGEST_SIZE:
            return True
        core, request_digest = body[:-DIGEST_SIZE], body[-DIGEST_SIZE:]
        if self.faults.take("silence"):
            return True
        if self.faults.take("disconnect"):
            return False
        if digest(key, core) != request_digest:
            self.rejected_digests += 1
            # Whether 0x0B carries a digest is unknown (spec §9.2); it cannot carry one the
            # client would verify, as the keys differ. Send the bare code and a zero tail.
            await self._send(bytes([0x0B]) + bytes(DIGEST_SIZE), out)
            return True
        request, sequence = core[:-4], int.from_bytes(core[-4:], "big")
        ahead = (sequence - self.last_sequence) & 0xFFFFFFFF
        if self.faults.take("forget_sequence") or not 0 < ahead <= SEQUENCE_WINDOW:
            reply = bytes([psem.INVALID_SEQUENCE]) + self.last_sequence.to_bytes(4, "big")
        else:
            self.last_sequence = sequence
            reply = self._serve(request)
        tail = digest(key, core + reply)
        if self.faults.take("bad_digest"):
            tail = bytes([tail[0] ^ 0x01]) + tail[1:]
        if self.faults.take("cut"):  # half the answer, then the line drops
            packet = (len(reply) + len(tail)).to_bytes(2, "big") + reply + tail
            await out.write(packet[: len(packet) // 2])
            return False
        await self._send(reply + tail, out)
        return True

    def _serve(self, request: bytes) -> bytes:
        if request[:1] in (bytes([psem.FULL_READ]), bytes([psem.PARTIAL_READ])):
            if (refusal := self.faults.refusal()) is not None:
                return refusal
            return serve_read(self.meter, request, authenticated=True, checksum=False)
        return bytes([0x02])  # a reader never writes; nothing else is served

    async def _send(self, body: bytes, out: PacedWriter) -> None:
        packet = len(body).to_bytes(2, "big") + body
        if self.faults.take("slow"):
            await asyncio.sleep(self.faults.slow_seconds)
        if self.faults.take("alert_before_response"):
            await out.write(ALERT)
        if self.faults.take("garbage"):
            await out.write(os.urandom(5))
        if self.faults.take("truncate"):
            packet = packet[: len(packet) // 2]
        await out.write(packet)
