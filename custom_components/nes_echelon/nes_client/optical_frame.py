"""ANSI C12.18 framing for the optical port (spec §2).

A frame, in both directions::

    EE | 00 (identity) | ctrl | seq | length (2, big-endian) | data | CRC-16/X-25 (low byte first)

The CRC covers every byte before it. Outside frames, the meter sends single bytes ACK (0x06) and
NAK (0x15). On Gen 2/3 meters the optical port shares a UART with MEP, so MEP packets and alerts
(``00 LL ...``, ``00 00``) may appear on the line too: the scanner skips anything that is not a
frame, ACK or NAK, and never takes 0x00 for an ACK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from .crc import crc16_x25

STP: Final = 0xEE
"""Start of packet."""
ACK: Final = 0x06
NAK: Final = 0x15

IDENTITY: Final = 0x00
HEADER_SIZE: Final = 6
CRC_SIZE: Final = 2
MAX_DATA_LENGTH: Final = 8192
"""A longer length field means the 0xEE was not a frame start (C12.18 packets are far smaller)."""

CTRL_MULTI_PACKET: Final = 0x80
CTRL_FIRST_PACKET: Final = 0x40
CTRL_TOGGLE: Final = 0x20


@dataclass(frozen=True, slots=True)
class Frame:
    """A CRC-valid C12.18 frame (identity byte 0x00, which is not stored)."""

    ctrl: int
    seq: int
    data: bytes

    @property
    def toggle(self) -> bool:
        """Control bit 5: flipped for every new request, repeated by the meter's reply."""
        return bool(self.ctrl & CTRL_TOGGLE)

    @property
    def multi_packet(self) -> bool:
        """Control bit 7: this frame is one packet of a multi-packet response."""
        return bool(self.ctrl & CTRL_MULTI_PACKET)

    @property
    def first_packet(self) -> bool:
        """Control bit 6: the first packet of a multi-packet response."""
        return bool(self.ctrl & CTRL_FIRST_PACKET)

    def encode(self) -> bytes:
        """The frame's bytes on the wire."""
        return _encode(self.ctrl, self.seq, self.data)


@dataclass(frozen=True, slots=True)
class Ack:
    """The single byte 0x06 seen outside a frame."""


@dataclass(frozen=True, slots=True)
class Nak:
    """The single byte 0x15 seen outside a frame."""


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A plausible frame (0xEE, identity 00, sane length) whose CRC failed: NAK it.

    ``raw`` holds the candidate's bytes, for logging only.
    """

    raw: bytes


ACK_EVENT: Final = Ack()
NAK_EVENT: Final = Nak()

ScanEvent: TypeAlias = Ack | Nak | Frame | BadFrame

_SINGLE_BYTE_EVENTS: Final[dict[int, Ack | Nak]] = {ACK: ACK_EVENT, NAK: NAK_EVENT}
_SIGNIFICANT: Final = frozenset((STP, ACK, NAK))


def _encode(ctrl: int, seq: int, data: bytes) -> bytes:
    if not 0 <= ctrl <= 0xFF:
        raise ValueError(f"ctrl byte out of range: {ctrl}")
    if not 0 <= seq <= 0xFF:
        raise ValueError(f"sequence byte out of range: {seq}")
    if len(data) > MAX_DATA_LENGTH:
        raise ValueError(f"frame data too long: {len(data)} bytes")
    head = bytes((STP, IDENTITY, ctrl, seq)) + len(data).to_bytes(2, "big") + data
    return head + crc16_x25(head).to_bytes(2, "little")


def encode_frame(
    data: bytes,
    *,
    toggle: bool,
    seq: int = 0,
    multi_packet: bool = False,
    first_packet: bool = False,
) -> bytes:
    """Return the wire bytes of one C12.18 frame carrying ``data``."""
    ctrl = (
        (CTRL_MULTI_PACKET if multi_packet else 0)
        | (CTRL_FIRST_PACKET if first_packet else 0)
        | (CTRL_TOGGLE if toggle else 0)
    )
    return _encode(ctrl, seq, bytes(data))


def table_checksum(data: bytes) -> int:
    """C12.18 table-data checksum: the two's complement of the byte sum, ``(-sum) & 0xFF``."""
    return -sum(data) & 0xFF


class FrameScanner:
    """Turns the optical byte stream into ACK, NAK, frame and bad-frame events.

    Feed bytes as they arrive and call :meth:`next_event` until it returns ``None`` (more bytes
    needed). Rules:

    * outside a frame, 0x06 / 0x15 are ACK / NAK; any other byte except 0xEE is skipped (and
      counted in :attr:`skipped_bytes`);
    * on 0xEE, wait for the 6-byte header; an identity byte other than 0x00 or a length above
      :data:`MAX_DATA_LENGTH` makes that 0xEE junk, and scanning resumes at the next byte;
    * once the whole candidate is in, a good CRC yields a :class:`Frame`; a bad one yields
      :class:`BadFrame` and scanning resumes at the byte *after that 0xEE*, not after the
      candidate: a stray 0xEE (e.g. inside a leaked MEP packet) can swallow the start of the
      real frame, which then still decodes. A consequence: bytes 0x06 / 0x15 inside a rejected
      candidate are reported as ACK / NAK afterwards; the link must tolerate stray ACK / NAK.
    * a partial frame that stalls (e.g. its length field was junk but below the limit) stays
      pending until the link calls :meth:`abandon_partial` after its timeout.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped_bytes = 0
        """Bytes discarded as junk (not part of any event), for debug logging."""

    @property
    def buffered(self) -> int:
        """How many received bytes are held, waiting to complete an event."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    def clear(self) -> None:
        """Drop everything buffered (counted as skipped)."""
        self.skipped_bytes += len(self._buffer)
        self._buffer.clear()

    def abandon_partial(self) -> None:
        """Give up on a stalled partial frame: drop its leading 0xEE and rescan the rest.

        Called by the link after a timeout. Does nothing when no frame is pending.
        """
        if self._buffer and self._buffer[0] == STP:
            del self._buffer[0]
            self.skipped_bytes += 1

    def next_event(self) -> ScanEvent | None:
        """Return the next complete event, or ``None`` when more bytes are needed."""
        buf = self._buffer
        while buf:
            first = buf[0]
            single = _SINGLE_BYTE_EVENTS.get(first)
            if single is not None:
                del buf[0]
                return single
            if first != STP:
                # Skip the whole run of junk up to the next byte we care about.
                end = 1
                while end < len(buf) and buf[end] not in _SIGNIFICANT:
                    end += 1
                del buf[:end]
                self.skipped_bytes += end
            elif self._plausible_start():
                return self._complete_frame()
            else:
                del buf[0]
                self.skipped_bytes += 1
        return None

    def _plausible_start(self) -> bool:
        """False if the header seen so far (0xEE first) cannot be a frame's."""
        buf = self._buffer
        if len(buf) >= 2 and buf[1] != IDENTITY:
            return False
        return len(buf) < HEADER_SIZE or int.from_bytes(buf[4:6], "big") <= MAX_DATA_LENGTH

    def _complete_frame(self) -> Frame | BadFrame | None:
        """Decode the candidate frame at the buffer's start, or None if it is still partial."""
        buf = self._buffer
        if len(buf) < HEADER_SIZE:
            return None
        end = HEADER_SIZE + int.from_bytes(buf[4:6], "big")
        total = end + CRC_SIZE
        if len(buf) < total:
            return None
        candidate = bytes(buf[:total])
        if crc16_x25(candidate[:end]) == int.from_bytes(candidate[end:], "little"):
            del buf[:total]
            return Frame(ctrl=candidate[2], seq=candidate[3], data=candidate[HEADER_SIZE:end])
        # Resynchronise from the byte after this 0xEE: the real frame may start inside.
        del buf[0]
        return BadFrame(raw=candidate)
