"""The MEP port: length-prefixed packets signed with the OMA digest (spec §3)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import secrets

from . import psem
from .errors import AuthenticationFailed, IntegrityError, NoResponse
from .mep_packet import MAX_BODY, Alert, Packet, PacketScanner, encode_request, verify_response
from .stream import ByteStream

_LOGGER = logging.getLogger(__package__)

RESPONSE_TIMEOUT = 0.5  # last request byte to the first length bytes [MEP p.21]
ATTEMPTS = 3
RESYNCS = 2  # 0x0C replies adopted per request before giving up
MIN_REQUEST_SPACING = 0.1  # the meter takes at most one request per 100 ms [MEP p.21]
# A whole packet (478 bytes at 9600 baud with the meter's 25 ms pauses) takes ~0.6 s. A reply
# may take this long beyond twice the response timeout, however its bytes trickle in: a line
# that keeps sending alerts or noise cannot hold a request open for ever.
MAX_PACKET_TIME = 1.0
DIGEST_SIZE = 8
SEQUENCE_SIZE = 4
# A read reply is code + count (2) + data + digest, and must fit in one packet body.
MAX_READ = 256  # well inside MAX_BODY - 11; keeps each reply to ~3 of the meter's 117-byte bursts


class MepLink:
    """MEP request/response with digest verification on every reply."""

    kind = "mep"
    read_has_checksum = False
    max_read = MAX_READ
    mep_full_read_length: int | None = psem.MEP_FULL_READ_LENGTH

    def __init__(
        self,
        stream: ByteStream,
        key: bytes,
        *,
        response_timeout: float = RESPONSE_TIMEOUT,
        # The meter answers a wrong number with the right one, so any start value works.
        sequence: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._stream = stream
        self._key = key
        self._timeout = response_timeout
        self._sequence = secrets.randbits(32) if sequence is None else sequence
        self._clock = clock or asyncio.get_running_loop().time
        self._scanner = PacketScanner()
        self._last_request = -MIN_REQUEST_SPACING
        self._rejected = False
        self._key_proven = False
        self._previous_core: bytes | None = None
        self.alerts_seen = 0
        self.retransmissions = 0
        self.digest_failures = 0

    @property
    def sequence(self) -> int:
        return self._sequence

    async def open(self) -> None:
        """Nothing to open: the first request proves the key."""
        if self._rejected:
            raise AuthenticationFailed(None, "the key was rejected; not retrying")

    async def close(self) -> None:
        await self._stream.close()

    async def request(self, psem_request: bytes) -> bytes:
        if self._rejected:
            raise AuthenticationFailed(None, "the key was rejected; not retrying")
        if len(psem_request) + SEQUENCE_SIZE + DIGEST_SIZE > MAX_BODY:
            raise ValueError("request too long for one MEP packet")
        for _ in range(RESYNCS + 1):
            core = psem_request + self._sequence.to_bytes(SEQUENCE_SIZE, "big")
            response = await self._exchange(
                core, encode_request(psem_request, self._sequence, self._key)
            )
            code = response[0]
            first_reply = not self._key_proven
            if code != psem.AUTHENTICATION_FAILURE:
                self._key_proven = True  # a verified reply (even 0x0C) proves the key
            if code == psem.INVALID_SEQUENCE and len(response) >= 5:
                # Verified 0x0C: the key is right, only the number was; resend with theirs + 1.
                self._sequence = (int.from_bytes(response[1:5], "big") + 1) & 0xFFFFFFFF
                continue
            self._sequence = (self._sequence + 1) & 0xFFFFFFFF
            if code == psem.AUTHENTICATION_FAILURE and first_reply:
                # Rejected before any verified reply: the key is wrong. Later 0x0B replies are
                # returned: a table may refuse only its full read (spec §5).
                self._rejected = True
                raise AuthenticationFailed(None, "the meter rejected the MEP key")
            return response
        raise IntegrityError("the meter kept rejecting our sequence numbers")

    async def _exchange(self, core: bytes, packet: bytes) -> bytes:
        try:
            return await self._attempts(core, packet)
        finally:
            self._previous_core = core  # late replies to it are recognised, not resent on

    async def _attempts(self, core: bytes, packet: bytes) -> bytes:
        failure: Exception = NoResponse("no answer on the MEP port")
        for attempt in range(ATTEMPTS):
            if attempt:
                self.retransmissions += 1
            wait = self._last_request + MIN_REQUEST_SPACING - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            # The identical packet again after a timeout or a bad reply [MEP p.21].
            await self._stream.write(packet)
            self._last_request = self._clock()
            try:
                body = await self._await_reply(core)
            except TimeoutError:
                self._scanner = PacketScanner()
                continue
            except IntegrityError as err:  # framing lost; no start byte to resync on
                failure = err
                self._scanner = PacketScanner()
                continue
            try:
                return verify_response(core, body, self._key)
            except IntegrityError as err:
                if _is_bare_rejection(body):
                    return body[:1]
                self.digest_failures += 1
                _LOGGER.debug("discarding a reply that fails its digest: %s", body.hex(" "))
                failure = err
        raise failure

    async def _await_reply(self, core: bytes) -> bytes:
        """The next packet that is not a late reply to the previous request.

        After a timeout the meter may answer both the request and its retransmission (the
        second with 0x0C); that extra reply is valid, but for the previous request core.
        Resending on it would start the same cascade again, so it is skipped.
        """
        while True:
            body = await self._await_packet()
            previous = self._previous_core
            if previous is None or previous == core:
                return body
            try:
                verify_response(previous, body, self._key)
            except IntegrityError:
                return body
            _LOGGER.debug("dropping a late reply to the previous request")

    async def _await_packet(self) -> bytes:
        deadline = self._clock() + self._timeout
        limit = deadline + self._timeout + MAX_PACKET_TIME
        while True:
            event = self._scanner.next_event()
            if event is None:
                data = await self._stream.read_some(deadline)
                self._scanner.feed(data)
                # The first bytes must come within the timeout; the rest may take longer,
                # with the meter's 25 ms pause after every 117 bytes.
                deadline = min(limit, max(deadline, self._clock() + self._timeout))
                continue
            if isinstance(event, Alert):
                self.alerts_seen += 1
                continue
            assert isinstance(event, Packet)
            return event.body


def _is_bare_rejection(body: bytes) -> bool:
    """A 0x0B without a valid digest: the meter could not sign it with a key it did not accept.

    Whether 0x0B carries a digest is an open question (spec §9.2); a one-byte reply or a
    0x0B followed only by a digest-sized tail is taken as the rejection it says it is.
    """
    return body[:1] == bytes([psem.AUTHENTICATION_FAILURE]) and len(body) in (1, 1 + DIGEST_SIZE)
