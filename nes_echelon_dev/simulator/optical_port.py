"""The meter's side of the optical port: C12.18 session, password, reads (spec §2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
import logging
import os

from custom_components.nes_echelon.nes_client import psem
from custom_components.nes_echelon.nes_client.keys import optical_password
from custom_components.nes_echelon.nes_client.mep_packet import encode_request
from custom_components.nes_echelon.nes_client.optical_frame import (
    ACK,
    NAK,
    Ack,
    BadFrame,
    Frame,
    FrameScanner,
    Nak,
    encode_frame,
)

from .faults import Faults
from .meter import SimulatedMeter
from .pacing import PacedReader, PacedWriter
from .service import ERROR, SERVICE_NOT_SUPPORTED, serve_read

_LOGGER = logging.getLogger(__name__)

TRAFFIC_TIMEOUT = 6.0  # C12.18 channel traffic timeout
SESSION_LIMIT = 600.0  # the optical DoS timer [OPT p.14-15]
LOCKOUT = 300.0
DEFAULT_PACKET = 64
MAX_PACKETS = 2
IDENTIFICATION_REPLY = (
    bytes([psem.OK, 0x00, 0x10, 0x00]) + b"\x07\x0f\x11" + b"SIMULATED NES METER".ljust(30)
)
INVALID_SERVICE_SEQUENCE = bytes([0x0A])
AUTH_FAILURE = bytes([0x0B])  # spec §5: the real code is unrecorded (0x03 or 0x0B)


class OpticalPort:
    """One C12.18 conversation over a byte stream."""

    def __init__(
        self,
        meter: SimulatedMeter,
        faults: Faults,
        *,
        clock: Callable[[], float],
        traffic_timeout: float = TRAFFIC_TIMEOUT,
        session_limit: float = SESSION_LIMIT,
    ) -> None:
        self.meter = meter
        self.faults = faults
        self._clock = clock
        self._traffic_timeout = traffic_timeout
        self._session_limit = session_limit
        self._scanner = FrameScanner()
        self._reset_session()
        self._locked_until = 0.0
        # Frames of the reply not yet ACKed; [0] is on the wire. C12.18 sends a multi-packet
        # reply one packet per ACK and repeats a NAKed packet.
        self._pending: list[bytes] = []
        self._stray_acks = 0
        self.sessions = 0
        self.failed_logons = 0
        self.naks_received = 0

    def reboot(self) -> None:
        """A meter restart: no session, nothing half-received or pending, no lockout."""
        self._scanner = FrameScanner()
        self._reset_session()
        self._locked_until = 0.0
        self._pending = []
        self._stray_acks = 0

    def _reset_session(self) -> None:
        self._state = "idle"  # idle → identified → logged_on → secured
        self._session_start = 0.0
        self._last_traffic = 0.0
        self._last_toggle: bool | None = None
        self._last_reply: list[bytes] = []
        self._packet_size = DEFAULT_PACKET
        self._packets = 1
        self._awaiting_switch = True

    async def run(self, reader: PacedReader, out: PacedWriter) -> None:
        while True:
            data = await reader.read(512)
            if not data:
                return
            if self.faults.echo:
                await out.write(data)
            self._scanner.feed(data)
            while (event := self._scanner.next_event()) is not None:
                if isinstance(event, BadFrame):
                    await out.write(bytes([NAK]))
                elif isinstance(event, Ack):
                    await self._on_ack(out)
                elif isinstance(event, Nak):
                    await self._on_nak(out)
                elif not await self._on_frame(event, out):  # a Frame
                    return

    async def _on_frame(self, frame: Frame, out: PacedWriter) -> bool:
        """Handle one request frame; False ends the connection."""
        now = self._clock()
        if now < self._locked_until:
            return True  # optical ignored after a session overran its limit
        if self._state != "idle":
            if now - self._last_traffic > self._traffic_timeout:
                self._reset_session()  # silence ended the session before any limit was reached
            elif now - self._session_start > self._session_limit:
                # A live session overran the DoS timer: cut, and optical ignored for a while.
                self._locked_until = now + LOCKOUT
                self._reset_session()
                return True
        if self.faults.first_frame_nak and self._awaiting_switch:
            # Gen 2/3: the first 0xEE switches the shared UART to optical and is lost.
            self._awaiting_switch = False
            await out.write(bytes([NAK]))
            return True
        self._awaiting_switch = False
        if self.faults.take("silence"):
            return True
        if self.faults.take("nak"):
            await out.write(bytes([NAK]))
            return True
        if self.faults.take("disconnect") or await self._cut(frame, now, out):
            return False
        if (
            frame.toggle == self._last_toggle
            and self._last_reply
            and frame.data[:1] != bytes([psem.IDENTIFY])
        ):
            # A retransmission of the request we already answered: send the same reply.
            await out.write(bytes([ACK]))
            await self._send_reply(self._last_reply, frame.toggle, out)
            return True
        self._last_traffic = now
        reply = self._serve(frame.data, now)
        packets = self._packetise(reply)
        self._last_toggle = frame.toggle
        self._last_reply = packets
        await out.write(bytes([ACK]))
        if self.faults.take("duplicate_toggle"):
            await out.write(encode_frame(b"\x00", toggle=not frame.toggle))
            self._stray_acks += 1  # the client ACKs that frame too
        if self.faults.take("mep_leak"):
            await out.write(encode_request(b"\x3f\x00\x17\x00\x00\x00\x00\x2c", 1, bytes(16)))
        await self._send_reply(packets, frame.toggle, out)
        if reply[:1] == bytes([psem.OK]) and frame.data[:1] == bytes([psem.TERMINATE]):
            self._reset_session()
        return True

    async def _cut(self, frame: Frame, now: float, out: PacedWriter) -> bool:
        """The `cut` fault: ACK and half the answer, then the line drops (True)."""
        if not self.faults.take("cut"):
            return False
        answer = encode_frame(self._serve(frame.data, now), toggle=frame.toggle)
        await out.write(bytes([ACK]) + answer[: len(answer) // 2])
        return True

    async def _send_reply(self, packets: list[bytes], toggle: bool, out: PacedWriter) -> None:
        if self.faults.take("slow"):
            await asyncio.sleep(self.faults.slow_seconds)
        if self.faults.take("garbage"):
            await out.write(os.urandom(7).replace(b"\xee", b"\x11").replace(b"\x06", b"\x07"))
        count = len(packets)
        self._pending = [
            encode_frame(
                data,
                toggle=toggle,
                seq=count - 1 - index,
                multi_packet=count > 1,
                first_packet=count > 1 and index == 0,
            )
            for index, data in enumerate(packets)
        ]
        await self._transmit(out)

    async def _transmit(self, out: PacedWriter) -> None:
        """Send the first pending packet (again, after a NAK)."""
        frame = self._pending[0]
        if self.faults.take("truncate"):
            self._pending = []
            await out.write(frame[: len(frame) // 2])
            return
        if self.faults.take("bad_crc"):
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        await out.write(frame)

    async def _on_ack(self, out: PacedWriter) -> None:
        if self._stray_acks:
            self._stray_acks -= 1
            return
        if self._pending:
            del self._pending[0]
            if self._pending:
                await self._transmit(out)

    async def _on_nak(self, out: PacedWriter) -> None:
        if self._pending:
            self.naks_received += 1
            await self._transmit(out)

    def _packetise(self, reply: bytes) -> list[bytes]:
        room = self._packet_size - 8
        return [reply[i : i + room] for i in range(0, len(reply), room)] or [b""]

    def _serve(self, request: bytes, now: float) -> bytes:
        service = request[0] if request else -1
        if service == psem.IDENTIFY:
            self._reset_session()
            self._awaiting_switch = False  # this frame got through: the UART is optical now
            self._state = "identified"
            self._session_start = self._last_traffic = now
            self.sessions += 1
            return IDENTIFICATION_REPLY
        if self._state == "idle":
            return INVALID_SERVICE_SEQUENCE
        if service == psem.NEGOTIATE and len(request) >= 5:
            size = int.from_bytes(request[1:3], "big")
            self._packet_size = max(DEFAULT_PACKET, min(size, 256))
            self._packets = max(1, min(request[3], MAX_PACKETS))
            return (
                bytes([psem.OK]) + self._packet_size.to_bytes(2, "big") + bytes([self._packets, 6])
            )
        if service == psem.LOGON:
            self._state = "logged_on"
            return bytes([psem.OK])
        if service == psem.SECURITY:
            if request[1:] == optical_password(self.meter.key):
                self._state = "secured"
                return bytes([psem.OK])
            self.failed_logons += 1
            self.meter.alarms = replace(self.meter.alarms, invalid_password=True)
            return AUTH_FAILURE
        if service in (psem.LOGOFF, psem.TERMINATE):
            return bytes([psem.OK])
        if service in (psem.FULL_READ, psem.PARTIAL_READ):
            if (refusal := self.faults.refusal()) is not None:
                return refusal
            reply = serve_read(
                self.meter, request, authenticated=self._state == "secured", checksum=True
            )
            if len(reply) > self._packets * (self._packet_size - 8):
                return bytes([0x04])  # larger than the negotiated packets
            return reply
        if service < 0:
            return ERROR
        return SERVICE_NOT_SUPPORTED
