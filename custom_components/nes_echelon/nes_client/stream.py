"""A thin asyncio byte stream with deadlines and masked hex logging."""

from __future__ import annotations

import asyncio
from collections import Counter
import logging
from typing import Any

from .errors import LinkError
from .keys import StreamMask, redact

_LOGGER = logging.getLogger(__package__)

# Keys of the streams that are open: the port library's own debug log must not show them.
_SECRETS: Counter[bytes] = Counter()
IAC = b"\xff"  # telnet's "interpret as command": RFC 2217 sends a data byte 0xFF twice


class _RedactSecrets(logging.Filter):
    """Masks the open streams' keys in the serial library's records (serialx logs every
    chunk it reads and writes at debug level, the optical Security frame included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS and isinstance(record.args, tuple):
            secrets = list(_SECRETS)
            # rfc2217 also logs its input as it came off the wire, each 0xFF of the data
            # doubled: a key with 0xFF bytes (40 hex digits can spell them) is hidden in that
            # form too, before the plain one (the longer first, so no piece of it is left).
            secrets[:0] = [secret.replace(IAC, IAC + IAC) for secret in secrets if IAC in secret]
            record.args = tuple(_redact_arg(arg, secrets) for arg in record.args)
        return True


def _redact_arg(arg: Any, secrets: list[bytes]) -> Any:
    if isinstance(arg, bytes | bytearray | memoryview):
        data = bytes(arg)
        for secret in secrets:
            data = redact(data, secret)
        return data
    if isinstance(arg, str) and arg:
        try:
            data = bytes.fromhex(arg)  # rfc2217 logs what it receives as hex
        except ValueError:
            return arg
        redacted = _redact_arg(data, secrets)
        return arg if redacted == data else redacted.hex(" ")
    return arg


_FILTER = _RedactSecrets()


def _guard_library_logs() -> None:
    """Put the filter on every logger of the serial library (its port modules load lazily,
    so this runs for each new stream, once the port is open)."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (
            name.startswith("serialx")
            and isinstance(logger, logging.Logger)
            and _FILTER not in logger.filters
        ):
            logger.addFilter(_FILTER)


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
        self._secret = secret
        if secret:
            _SECRETS[secret] += 1
            _guard_library_logs()
        self.bytes_sent = 0
        self.bytes_received = 0

    async def write(self, data: bytes) -> None:
        if _LOGGER.isEnabledFor(logging.DEBUG):
            _LOGGER.debug("tx %s", self._tx_mask.hex(data))
        else:
            self._tx_mask.skip(data)
        if self._writer.is_closing():
            # The far end went away (a bridge dropped the TCP connection). Checked here because
            # serialx before 1.11 fails an internal assertion on a write after that.
            raise LinkError("the port was closed")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except Exception as err:
            # OSError and RuntimeError from most transports; a network transport may raise its
            # own library's errors (serialx 1.7's ESPHome proxy: aioesphomeapi's
            # APIConnectionError after the device restarted). Any of them is a failed port.
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
        except Exception as err:  # OSError, or a network transport's own errors (see write)
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
        if self._secret:
            _SECRETS[self._secret] -= 1
            if _SECRETS[self._secret] <= 0:
                del _SECRETS[self._secret]
            self._secret = b""
        try:
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        except Exception as err:  # closing is best effort, whatever the transport raises
            _LOGGER.debug("closing the port: %s", err)
