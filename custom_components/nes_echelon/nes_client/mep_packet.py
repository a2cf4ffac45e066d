"""MEP packets: length-prefixed PSEM messages with an OMA digest (spec §3).

A packet, in both directions, is ``length (2, big-endian) | body``; the length counts the body
bytes, at most :data:`MAX_BODY`. There is no start byte and no CRC: the digest is the only
integrity check, so every response is verified before it is decoded.

* request body: ``PSEM request | sequence number (4, BE) | digest(key, PSEM request | sequence)``
* response body: ``PSEM response | digest(key, request core | PSEM response)``, where the
  request core is the request body without its digest.
* ``00 00`` (length 0) is the meter's alert, never a response.

Keys: MEP uses only the first 16 bytes of the meter key (MBK or MAK). The functions here take
that 16-byte digest key; the caller cuts a 20-byte key down to its first 16 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
import hmac
from typing import Final, TypeAlias

from .digest import DIGEST_SIZE, digest
from .errors import IntegrityError

MAX_BODY: Final = 476
"""Most bytes a packet may carry after its length field [MEP p.8]."""
LENGTH_SIZE: Final = 2
SEQUENCE_SIZE: Final = 4
KEY_SIZE: Final = 16
"""MEP digests use exactly 16 key bytes (the first 16 of the 20-byte MBK / MAK)."""
MIN_RESPONSE_BODY: Final = 1 + DIGEST_SIZE
"""A response code plus its digest."""


@dataclass(frozen=True, slots=True)
class Alert:
    """The meter's ``00 00`` alert (a length-0 packet)."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One complete packet's body (length field removed), not yet verified."""

    body: bytes


ALERT_EVENT: Final = Alert()

PacketEvent: TypeAlias = Alert | Packet


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"the MEP digest key must be {KEY_SIZE} bytes, got {len(key)}")


def request_core(psem: bytes, sequence: int) -> bytes:
    """The digested part of a request body: the PSEM request and the 4-byte sequence number."""
    if not 0 <= sequence <= 0xFFFFFFFF:
        raise ValueError(f"sequence number out of range: {sequence}")
    return bytes(psem) + sequence.to_bytes(SEQUENCE_SIZE, "big")


def encode_request(psem: bytes, sequence: int, key: bytes) -> bytes:
    """Return the wire bytes of a request: length, PSEM request, sequence number, digest.

    ``key`` is the 16-byte MEP digest key (the first 16 bytes of the meter key). Raises
    ValueError if the body would exceed :data:`MAX_BODY` bytes.
    """
    _check_key(key)
    if not psem:
        raise ValueError("empty PSEM request")
    core = request_core(psem, sequence)
    body_length = len(core) + DIGEST_SIZE
    if body_length > MAX_BODY:
        raise ValueError(f"MEP packet body of {body_length} bytes exceeds {MAX_BODY}")
    return body_length.to_bytes(LENGTH_SIZE, "big") + core + digest(key, core)


def verify_response(request_core: bytes, body: bytes, key: bytes) -> bytes:
    """Check a response body's digest and return its PSEM response (the body minus the digest).

    ``request_core`` is the request's body without its digest (PSEM request + 4-byte sequence
    number); ``key`` the 16-byte MEP digest key that authenticated the request. Raises
    :class:`IntegrityError` if the body is too short or the digest does not match.
    """
    _check_key(key)
    if len(body) < MIN_RESPONSE_BODY:
        raise IntegrityError(
            f"MEP response body of {len(body)} bytes is shorter than {MIN_RESPONSE_BODY}"
        )
    response = bytes(body[:-DIGEST_SIZE])
    expected = digest(key, bytes(request_core) + response)
    if not hmac.compare_digest(expected, bytes(body[-DIGEST_SIZE:])):
        raise IntegrityError("MEP response digest mismatch")
    return response


class PacketScanner:
    """Splits the MEP byte stream into packets and alerts.

    Feed bytes as they arrive and call :meth:`next_event` until it returns ``None``. There is
    no start byte to resynchronise on: a length above :data:`MAX_BODY` raises
    :class:`IntegrityError` and empties the buffer, and a partial packet that stalls must be
    dropped with :meth:`clear` by the link (which then re-requests).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """How many received bytes are held, waiting to complete a packet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    def clear(self) -> None:
        """Drop everything buffered (after a timeout or a framing error)."""
        self._buffer.clear()

    def next_event(self) -> PacketEvent | None:
        """Return the next alert or packet, or ``None`` when more bytes are needed."""
        buf = self._buffer
        if len(buf) < LENGTH_SIZE:
            return None
        length = int.from_bytes(buf[:LENGTH_SIZE], "big")
        if length == 0:
            del buf[:LENGTH_SIZE]
            return ALERT_EVENT
        if length > MAX_BODY:
            self._buffer.clear()
            raise IntegrityError(f"MEP length field {length} exceeds {MAX_BODY}: lost framing")
        total = LENGTH_SIZE + length
        if len(buf) < total:
            return None
        body = bytes(buf[LENGTH_SIZE:total])
        del buf[:total]
        return Packet(body)
