"""The one small interface both ports implement: send a PSEM request, get its response."""

from __future__ import annotations

from typing import Protocol


class Link(Protocol):
    """A verified request/response channel to the meter.

    `request` returns the PSEM response (code first) only after the wire's own checks passed
    (optical CRC, MEP digest); it retries what the link may retry and raises the errors in
    `errors` otherwise. One request is in flight at a time.
    """

    kind: str
    """"optical" or "mep"."""

    read_has_checksum: bool
    """Whether read responses end with a C12.18 table checksum byte."""

    max_read: int
    """Most table bytes one read may ask for on this link."""

    @property
    def mep_full_read_length(self) -> int | None:
        """The length field a full read needs on this link (MEP only)."""

    async def open(self) -> None:
        """Make the link ready for reads (optical: the C12.18 session with the password)."""

    async def request(self, psem: bytes) -> bytes:
        """Send one PSEM request and return its verified response."""

    async def close(self) -> None:
        """End any session politely and close the byte stream. Never raises."""
