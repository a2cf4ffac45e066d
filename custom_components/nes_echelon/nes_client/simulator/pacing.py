"""Writes bytes no faster than the real wire, with the meter's own pauses."""

from __future__ import annotations

import asyncio

BITS_PER_BYTE = 10  # 8N1


class PacedWriter:
    """Sends at `baudrate` (None: as fast as possible); MEP pauses 25 ms per 117 bytes."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        *,
        baudrate: int | None,
        segment: int | None = None,
        segment_pause: float = 0.025,
    ) -> None:
        self._writer = writer
        self._baudrate = baudrate
        self._segment = segment
        self._pause = segment_pause

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self._baudrate is None:
            self._writer.write(data)
            await self._writer.drain()
            return
        size = self._segment or 32
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            self._writer.write(chunk)
            await self._writer.drain()
            await asyncio.sleep(len(chunk) * BITS_PER_BYTE / self._baudrate)
            if self._segment and start + size < len(data):
                await asyncio.sleep(self._pause)

    def close(self) -> None:
        self._writer.close()


class PacedReader:
    """Delivers received bytes no sooner than the wire could have carried them."""

    def __init__(self, reader: asyncio.StreamReader, *, baudrate: int | None) -> None:
        self._reader = reader
        self._baudrate = baudrate

    async def read(self, size: int) -> bytes:
        data = await self._reader.read(size)
        if data and self._baudrate is not None:
            await asyncio.sleep(len(data) * BITS_PER_BYTE / self._baudrate)
        return data
