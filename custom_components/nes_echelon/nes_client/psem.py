"""PSEM requests shared by both ports, and the checks on their responses."""

from __future__ import annotations

from .errors import IntegrityError, InvalidSequenceNumber, error_for_code
from .optical_frame import table_checksum

# Service codes [C12.18; spec §2, §5]
IDENTIFY = 0x20
TERMINATE = 0x21
FULL_READ = 0x30
PARTIAL_READ = 0x3F
LOGON = 0x50
SECURITY = 0x51
LOGOFF = 0x52
NEGOTIATE = 0x61

OK = 0x00
RENEGOTIATE = 0x09
INVALID_SERVICE_SEQUENCE = 0x0A
AUTHENTICATION_FAILURE = 0x0B
INVALID_SEQUENCE = 0x0C

# What a MEP full read asks for when the table length is unknown [MEP p.12; FW sends 0x0200].
MEP_FULL_READ_LENGTH = 0x0200


def full_read(table_id: int, *, mep_length: int | None = None) -> bytes:
    """Full table read; MEP wants a 2-byte length after the id, optical must not get one."""
    request = bytes([FULL_READ]) + table_id.to_bytes(2, "big")
    if mep_length is not None:
        request += mep_length.to_bytes(2, "big")
    return request


def partial_read(table_id: int, offset: int, count: int) -> bytes:
    if not 0 <= offset < 1 << 24 or not 0 < count < 1 << 16:
        raise ValueError(f"partial read out of range: offset {offset}, count {count}")
    return (
        bytes([PARTIAL_READ])
        + table_id.to_bytes(2, "big")
        + offset.to_bytes(3, "big")
        + count.to_bytes(2, "big")
    )


def logon(user_id: int, user: str) -> bytes:
    name = user.encode("ascii")[:10].ljust(10, b" ")
    return bytes([LOGON]) + user_id.to_bytes(2, "big") + name


def negotiate(packet_size: int, packets: int, baud_code: int) -> bytes:
    return bytes([NEGOTIATE]) + packet_size.to_bytes(2, "big") + bytes([packets, baud_code])


def check(response: bytes) -> bytes:
    """Return what follows an OK code, or raise the typed error for the meter's code."""
    if not response:
        raise IntegrityError("empty PSEM response")
    code = response[0]
    if code == OK:
        return response[1:]
    if code == INVALID_SEQUENCE and len(response) >= 5:
        raise InvalidSequenceNumber(int.from_bytes(response[1:5], "big"))
    raise error_for_code(code)


def read_data(response: bytes, *, checksum: bool, expected: int | None = None) -> bytes:
    """Table data of a read response: `00 | count (2 BE) | data [| checksum]`.

    Optical replies carry a checksum byte, MEP replies do not (the digest covers them). A
    count that disagrees with the bytes received, or with what we asked for, is an integrity
    error: decoding a short reply is how other readers publish zeros.
    """
    payload = check(response)
    if len(payload) < 2:
        raise IntegrityError("read response without a count")
    count = int.from_bytes(payload[:2], "big")
    tail = 1 if checksum else 0
    if len(payload) != 2 + count + tail:
        raise IntegrityError(f"read response count {count} but {len(payload) - 2 - tail} bytes")
    data = payload[2 : 2 + count]
    if checksum and table_checksum(data) != payload[-1]:
        raise IntegrityError("table data checksum mismatch")
    if expected is not None and count != expected:
        raise IntegrityError(f"asked for {expected} bytes, meter sent {count}")
    return data
