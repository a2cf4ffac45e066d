"""A thin asyncio byte stream with deadlines and masked hex logging."""

from __future__ import annotations

import asyncio
import logging

from .errors import LinkError
from .keys import StreamMask

_LOGGER = logging.getLogger(__package__)


class ByteStream:
    """Wraps a StreamReader/StreamWriter pair (serialx port, TCP bridge or test pipe)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        secret: bytes = b"",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._tx_mask = StreamMask(secret)
        self._rx_mask = StreamMask(secret)
        self.bytes_sent = 0
        self.bytes_received = 0

    async def write(self, data: bytes) -> None:
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("tx %s", self._tx_mask.hex(data))
        else:
            self._tx_mask.skip(data)
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, RuntimeError) as err:
            raise LinkError(f"cannot write to the port: {err}") from err
        self.bytes_sent += len(data)

    async def read_some(self, deadline: float) -> bytes:
        """Whatever bytes arrive before the loop-time deadline; TimeoutError if none."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise TimeoutError
        try:
            async with asyncio.timeout(remaining):
                data = await self._reader.read(1024)
        except TimeoutError:
            raise  # a subclass of OSError, but a timeout, not a failed port: the caller retries
        except OSError as err:
            raise LinkError(f"cannot read from the port: {err}") from err
        if not data:
            raise LinkError("the port was closed")
        if _LOGGER.isEnabledFor(logging.DEBUG):
            # Masked too: an echoing IR head sends the Security frame, key included, back.
            _LOGGER.debug("rx %s", self._rx_mask.hex(data))
        else:
            self._rx_mask.skip(data)
        self.bytes_received += len(data)
        return data

    async def close(self) -> None:
        try:
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        except (OSError, RuntimeError, TimeoutError) as err:  # closing is best effort
            _LOGGER.debug("closing the port: %s", err)
