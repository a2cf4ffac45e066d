"""Writes bytes no faster than the real wire, with the meter's own pauses.

The line is modelled on the loop clock: each direction has a time at which its last byte is
through, and a byte is handed to the client no sooner than the wire would have carried it.
Bytes go out in chunks at absolute due times, so the loop's timer lateness (asyncio sleeps
overshoot by up to ~1 ms) does not add up over a long reply. The meter answers at once: a
reply starts when the request has fully arrived or the line is free, not when the simulator got
round to it, unless that was long ago (a deliberate delay, e.g. the `slow` fault).
"""

from __future__ import annotations

import asyncio

BITS_PER_BYTE = 10  # 8N1
CHUNK = 16  # bytes handed over at a time: ~17 ms at 9600 baud, like a USB-serial chip's latency
SLACK = 0.002  # timer lateness up to this is not charged to the line


def _now() -> float:
    return asyncio.get_running_loop().time()


async def _sleep_until(due: float) -> None:
    delay = due - _now()
    if delay > 0:
        await asyncio.sleep(delay)


class PacedReader:
    """Delivers received bytes no sooner than the wire could have carried them."""

    def __init__(self, reader: asyncio.StreamReader, *, baudrate: int | None) -> None:
        self._reader = reader
        self._baudrate = baudrate
        self.arrived = 0.0
        """Loop time at which the last byte delivered was through the wire."""

    async def read(self, size: int) -> bytes:
        data = await self._reader.read(size)
        if data and self._baudrate is not None:
            self.arrived = max(_now(), self.arrived) + len(data) * BITS_PER_BYTE / self._baudrate
            await _sleep_until(self.arrived)
        return data


class PacedWriter:
    """Sends at `baudrate` (None: as fast as possible); MEP pauses 25 ms per 117 bytes.

    `after`: the reader of the same line; a write that answers what it delivered starts when
    that had fully arrived.
    """

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        *,
        baudrate: int | None,
        segment: int | None = None,
        segment_pause: float = 0.025,
        after: PacedReader | None = None,
    ) -> None:
        self._writer = writer
        self._baudrate = baudrate
        self._segment = segment
        self._pause = segment_pause
        self._after = after
        self._line_free = 0.0

    async def write(self, data: bytes) -> None:
        if not data:
            return
        if self._baudrate is None:
            self._writer.write(data)
            await self._writer.drain()
            return
        byte_time = BITS_PER_BYTE / self._baudrate
        now = _now()
        start = max(self._line_free, self._after.arrived if self._after else 0.0)
        if now - start > SLACK:
            start = now
        due = start
        position = 0
        while position < len(data):
            end = min(len(data), position + CHUNK)
            if self._segment:
                if position and position % self._segment == 0:
                    due += self._pause
                end = min(end, (position // self._segment + 1) * self._segment)
            due += (end - position) * byte_time
            await _sleep_until(due)
            self._writer.write(data[position:end])
            position = end
        self._line_free = due
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()
