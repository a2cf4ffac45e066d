"""The meter key as people receive it, turned into the bytes each port needs."""

from __future__ import annotations

import string

from .errors import InvalidKeyFormat

KEY_LENGTH = 20
MEP_KEY_LENGTH = 16  # MEP digests use the first 16 key bytes only [MEP p.13, p.18]
_HEX = frozenset(string.hexdigits)


def parse_key(text: str) -> bytes:
    """Return the 20 key bytes for a key typed by a user.

    Grid companies hand out 20 characters; some tools show the same 20 bytes as 40 hex
    digits. 20 characters are taken as their ASCII bytes, exactly 40 hex digits as the bytes
    they spell. Anything else is refused before a byte is sent to the meter.
    """
    key = text.strip()
    if len(key) == 2 * KEY_LENGTH and all(c in _HEX for c in key):
        return bytes.fromhex(key)
    if len(key) == KEY_LENGTH and key.isascii() and key.isprintable():
        return key.encode("ascii")
    raise InvalidKeyFormat(
        f"the meter key must be {KEY_LENGTH} characters or {2 * KEY_LENGTH} hex digits"
        f" (got {len(key)} characters)"
    )


def optical_password(key: bytes) -> bytes:
    """The C12.18 Security password: exactly 20 bytes, a shorter key NUL-padded."""
    if len(key) > KEY_LENGTH:
        raise InvalidKeyFormat(f"an optical password is at most {KEY_LENGTH} bytes")
    return key.ljust(KEY_LENGTH, b"\x00")


def mep_key(key: bytes) -> bytes:
    """The bytes the MEP digest is keyed with."""
    if len(key) < MEP_KEY_LENGTH:
        raise InvalidKeyFormat(f"a MEP key needs at least {MEP_KEY_LENGTH} bytes")
    return key[:MEP_KEY_LENGTH]


def mask(data: bytes, secret: bytes) -> str:
    """Hex of data with every occurrence of the secret replaced, for debug logs."""
    text = data.hex(" ")
    if secret:
        text = text.replace(secret.hex(" "), "** " * (len(secret) - 1) + "**")
    return text


def _secret_flags(data: bytes, secret: bytes, *, leading: bool) -> bytearray:
    """A flag per byte of `data`: set where the secret stands whole, where its start ends
    `data`, and (with `leading`) where its end begins `data`: the rest of a cut secret is in the
    neighbouring chunk."""
    hidden = bytearray(len(data))
    start = data.find(secret)
    while start != -1:
        hidden[start : start + len(secret)] = b"\x01" * len(secret)
        start = data.find(secret, start + 1)
    for size in range(min(len(secret) - 1, len(data)), 0, -1):
        if data.endswith(secret[:size]):
            hidden[len(data) - size :] = b"\x01" * size
            break
    if leading:
        for size in range(min(len(secret) - 1, len(data)), 0, -1):
            if data.startswith(secret[-size:]):
                hidden[:size] = b"\x01" * size
                break
    return hidden


def redact(data: bytes, secret: bytes) -> bytes:
    """`data` with the secret's bytes replaced by "*": whole occurrences, and a start or an
    end of the secret at either edge (the rest of it is in the neighbouring chunk)."""
    if not secret or not data:
        return data
    hidden = _secret_flags(data, secret, leading=True)
    if not any(hidden):
        return data
    return bytes(b"*"[0] if flag else byte for byte, flag in zip(data, hidden, strict=True))


class StreamMask:
    """`mask` for a byte stream logged chunk by chunk: the secret is hidden even when it is
    split across chunks (an echoing IR head returns the Security frame in pieces).

    Bytes of an occurrence that began in earlier chunks are masked, and so is a chunk's tail
    that could be the start of the secret (at worst a byte or two too many is hidden).
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._tail = b""  # the last len(secret) - 1 bytes seen

    def hex(self, data: bytes) -> str:
        """Hex of `data` (the next chunk), masked; call it for every chunk, logged or not."""
        secret = self._secret
        if not secret:
            return data.hex(" ")
        joined = self._tail + data
        # The tail already carries what came before, so only a cut start matters here.
        hidden = _secret_flags(joined, secret, leading=False)
        skip = len(self._tail)
        self._tail = joined[1 - len(secret) :] if len(secret) > 1 else b""
        if not any(hidden):
            return data.hex(" ")
        return " ".join(
            "**" if hidden[skip + index] else f"{byte:02x}" for index, byte in enumerate(data)
        )

    def skip(self, data: bytes) -> None:
        """Remember a chunk that is not logged (debug logging off)."""
        if len(self._secret) > 1:
            self._tail = (self._tail + data)[1 - len(self._secret) :]
