"""The optical (IR) port: ANSI C12.18 frames, session and password (spec §2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging

from . import psem
from .errors import AuthenticationFailed, IntegrityError, LinkError, NoResponse, PsemError
from .optical_frame import ACK, NAK, Ack, BadFrame, Frame, FrameScanner, Nak, encode_frame
from .stream import ByteStream

_LOGGER = logging.getLogger(__package__)

ATTEMPTS = 3  # a request is sent at most 3 times in all [spec §2]
NAK_PAUSE = 0.1
# Traffic timeout is 6 s on the meter; past ~5 s of silence assume the session is gone.
IDLE_LIMIT = 5.0
# Sessions over 600 s are cut and optical is then ignored for 300 s; stay well clear.
SESSION_MAX_AGE = 480.0
DEFAULT_PACKET_SIZE = 64
FRAME_OVERHEAD = 8
READ_OVERHEAD = 4  # code, count (2), checksum
USER_ID = 2  # written into every event-log entry of the session [OPT p.52]
USER_NAME = "HA"


# Renegotiate / invalid service sequence: the meter has lost the session (e.g. it rebooted).
_SESSION_GONE = (bytes([psem.RENEGOTIATE]), bytes([psem.INVALID_SERVICE_SEQUENCE]))


class OpticalLink:
    """C12.18 over a byte stream. Opens its session lazily and reopens it when stale."""

    kind = "optical"
    read_has_checksum = True
    mep_full_read_length: int | None = None

    def __init__(
        self,
        stream: ByteStream,
        password: bytes,
        *,
        response_timeout: float = 2.0,
        negotiate: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._stream = stream
        self._password = password
        self._timeout = response_timeout
        self._negotiate = negotiate
        self._clock = clock or asyncio.get_running_loop().time
        self._scanner = FrameScanner()
        self._toggle = False
        self._session_started: float | None = None
        self._last_traffic = 0.0
        self._rejected = False
        self._echo = bytearray()
        self._held = bytearray()
        self._echo_mode: bool | None = None
        self.max_read = DEFAULT_PACKET_SIZE - FRAME_OVERHEAD - READ_OVERHEAD
        self.echo_bytes_dropped = 0
        self.retransmissions = 0

    # -- session ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._rejected:
            raise AuthenticationFailed(None, "the key was rejected; not retrying")
        if self._session_live():
            # Identify is only valid as a session's first request: end the live one first (a
            # re-identification after a dimension-change alarm reopens the link mid-session).
            await self._end_session()
        self._session_started = None
        self._toggle = True  # so that Identification goes out with toggle 0
        self._scanner = FrameScanner()
        # Gen 2/3 meters switch the shared UART to optical on the first 0xEE and usually NAK
        # (lose) that frame; _exchange repeats it [OPT p.14].
        psem.check(await self._exchange(bytes([psem.IDENTIFY])))
        if self._negotiate:
            await self._negotiate_packets()
        psem.check(await self._exchange(psem.logon(USER_ID, USER_NAME)))
        reply = await self._exchange(bytes([psem.SECURITY]) + self._password)
        if not reply or reply[0] != psem.OK:
            # Any refusal of Security is a wrong key. End the session; never try again.
            self._rejected = True
            await self._end_session()
            raise AuthenticationFailed(None, "the meter refused the optical password")
        self._session_started = self._clock()

    async def _negotiate_packets(self) -> None:
        # 64-byte packets, 2 of them, 9600 baud (code 6). Optional: keep defaults on refusal.
        reply = await self._exchange(psem.negotiate(DEFAULT_PACKET_SIZE, 2, 6))
        try:
            payload = psem.check(reply)
        except PsemError as err:
            _LOGGER.debug("negotiate refused (%s); using single 64-byte packets", err)
            return
        if len(payload) >= 3:
            size = int.from_bytes(payload[0:2], "big")
            packets = payload[2]
            if size >= 32 and packets >= 1:
                self.max_read = packets * (size - FRAME_OVERHEAD) - READ_OVERHEAD

    async def _end_session(self) -> None:
        for service in (psem.LOGOFF, psem.TERMINATE):
            try:
                await self._exchange(bytes([service]))
            except (LinkError, IntegrityError) as err:
                _LOGGER.debug("ending the optical session: %s", err)
                break
        self._session_started = None

    async def _ensure_session(self) -> None:
        now = self._clock()
        if self._session_started is not None:
            if now - self._last_traffic > IDLE_LIMIT:
                self._session_started = None  # the meter has dropped it already
            elif now - self._session_started > SESSION_MAX_AGE:
                await self._end_session()
        if self._session_started is None:
            await self.open()

    async def request(self, psem_request: bytes) -> bytes:
        if self._rejected:
            raise AuthenticationFailed(None, "the key was rejected; not retrying")
        await self._ensure_session()
        response = await self._exchange(psem_request)
        if response[:1] in _SESSION_GONE:
            self._session_started = None  # the meter has no session left to end
        return response

    async def close(self) -> None:
        if self._session_live():
            await self._end_session()
        await self._stream.close()

    def _session_live(self) -> bool:
        """Whether the meter still holds our session (it drops it after 6 s of silence)."""
        return self._session_started is not None and self._clock() - self._last_traffic < IDLE_LIMIT

    # -- frames ----------------------------------------------------------------------------

    async def _exchange(self, data: bytes) -> bytes:
        """Send one request frame and return the joined data of its response."""
        self._toggle = not self._toggle
        frame = encode_frame(data, toggle=self._toggle)
        bad_frames = 0
        for attempt in range(ATTEMPTS):
            if attempt:
                self.retransmissions += 1
            await self._send(frame)
            try:
                result = await self._await_response(self._toggle)
            except TimeoutError:
                self._scanner.abandon_partial()
                continue
            except _Resend:
                await asyncio.sleep(NAK_PAUSE)
                continue
            except _BadFrames:
                bad_frames += 1
                continue
            self._last_traffic = self._clock()
            return result
        # Whether the meter acted on the request is unknown, so its toggle bit is too: a later
        # request could pass for a retransmission. Start a new session before the next one.
        self._session_started = None
        if bad_frames:
            raise IntegrityError("no response passed the CRC check")
        raise NoResponse("no answer on the optical port (check the probe's position)")

    async def _await_response(self, toggle: bool) -> bytes:
        deadline = asyncio.get_running_loop().time() + self._timeout
        packets = _Packets()
        bad = 0
        while True:
            event = self._scanner.next_event()
            if event is None:
                self._scanner.feed(self._drop_echo(await self._stream.read_some(deadline)))
                continue
            if isinstance(event, Ack):
                continue
            if isinstance(event, Nak):
                if packets.started:  # a NAK mid-response is noise; keep waiting
                    continue
                raise _Resend
            if isinstance(event, BadFrame):
                bad += 1
                await self._send(bytes([NAK]))  # the meter sends that packet again
                if bad >= ATTEMPTS:
                    raise _BadFrames
                continue
            assert isinstance(event, Frame)
            await self._send(bytes([ACK]))
            if event.toggle != toggle:
                _LOGGER.debug("dropping a late duplicate response")
                continue
            if (response := packets.add(event)) is not None:
                return response

    async def _send(self, data: bytes) -> None:
        if self._echo_mode:
            self._echo += data
        elif self._echo_mode is None:
            self._echo = bytearray(data)
        await self._stream.write(data)

    def _drop_echo(self, data: bytes) -> bytes:
        """Remove our own bytes heard back by an echoing IR head (NES asks for one that does not).

        Echo is decided on the session's first frame: only a byte-exact copy of it turns echo
        dropping on. Until then bytes are held back, since a genuine reply shares its first bytes.
        """
        if not self._echo:
            return data
        if self._echo_mode is None:
            self._held += data
            held = bytes(self._held)
            n = _common_prefix(held, self._echo)
            if n < min(len(held), len(self._echo)):
                self._echo_mode = False
            elif n == len(self._echo):
                self._echo_mode = True
                _echo_seen()
            else:
                return b""
            self._held.clear()
            if not self._echo_mode:
                self._echo.clear()
                return held
            data = held
        n = _common_prefix(data, self._echo)
        if n == 0:
            self._echo.clear()
            return data
        del self._echo[:n]
        self.echo_bytes_dropped += n
        return data[n:]


_echo_warned = False


def _echo_seen() -> None:
    """Warn about an echoing head once, not at every reconnection (the head stays the same)."""
    global _echo_warned  # noqa: PLW0603
    level = logging.DEBUG if _echo_warned else logging.WARNING
    _echo_warned = True
    _LOGGER.log(level, "the IR head echoes what it sends; dropping the echo")


def _common_prefix(a: bytes, b: bytes | bytearray) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class _Packets:
    """The packets of one response, joined only whole and in order (C12.18 multi-packet)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._next_seq = -1  # seq the next packet must carry

    @property
    def started(self) -> bool:
        return bool(self._parts)

    def add(self, frame: Frame) -> bytes | None:
        """The whole response once its last packet is in; None while packets are due."""
        if frame.multi_packet and not frame.first_packet:
            if self._parts and frame.seq == self._next_seq + 1:
                return None  # that packet again (our ACK was lost): we have it
            if not self._parts or frame.seq != self._next_seq:
                # A packet whose predecessors were lost (e.g. a NAKed first packet): never
                # join a partial response; wait for it to be sent again.
                _LOGGER.debug("dropping packet %d of an incomplete response", frame.seq)
                self._parts = []
                return None
        else:
            self._parts = []  # a single packet, or a (repeated) first one: start afresh
        self._next_seq = frame.seq - 1
        self._parts.append(frame.data)
        if not frame.multi_packet or frame.seq == 0:
            return b"".join(self._parts)
        return None


class _Resend(Exception):
    """The meter NAKed our frame."""


class _BadFrames(Exception):
    """Responses kept failing the CRC."""
