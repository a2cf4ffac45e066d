"""Serve a simulated meter on TCP (for socket://) or a pty (for a device path)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import os
import tty
from typing import Literal

from .faults import Faults
from .mep_port import MepPort
from .meter import SimulatedMeter
from .optical_port import OpticalPort
from .pacing import PacedReader, PacedWriter

_LOGGER = logging.getLogger(__name__)

BAUDRATE = 9600
MEP_SEGMENT = 117  # the meter pauses 25 ms after every 117 bytes [MEP p.51]


class MeterSimulator:
    """Plays the meter's side of one port, for any number of connections in turn."""

    def __init__(
        self,
        meter: SimulatedMeter | None = None,
        link: Literal["optical", "mep"] = "optical",
        *,
        pace: bool = False,
        faults: Faults | None = None,
        live: bool = False,
        on_tick: Callable[[SimulatedMeter], None] | None = None,
    ) -> None:
        self.meter = meter or SimulatedMeter()
        self.link = link
        self.pace = pace
        self.faults = faults or Faults()
        self.live = live  # energy grows with the simulated power, once a second
        self.on_tick = on_tick  # then this runs, e.g. a HouseholdProfile setting new loads
        self.connections = 0
        self._loop_clock = asyncio.get_running_loop().time
        self._port: OpticalPort | MepPort = self._new_port()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._pty_fds: tuple[int, int] | None = None
        self._pty_task: asyncio.Task[None] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ticker: asyncio.Task[None] | None = None
        if live:
            self._ticker = asyncio.create_task(self._tick())

    def _new_port(self) -> OpticalPort | MepPort:
        if self.link == "optical":
            return OpticalPort(self.meter, self.faults, clock=self._loop_clock)
        return MepPort(self.meter, self.faults, clock=self._loop_clock)

    @property
    def port(self) -> OpticalPort | MepPort:
        return self._port

    def reboot(self) -> None:
        """Forget every session and sequence number, as a meter restart does.

        The line stays connected (the probe or the bridge does not notice a meter restart),
        so the port in use is reset in place; its counters keep counting.
        """
        self._port.reboot()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.meter.advance(1)
            if self.on_tick is not None:
                self.on_tick(self.meter)

    def _paced(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[PacedReader, PacedWriter]:
        if not self.pace:
            return PacedReader(reader, baudrate=None), PacedWriter(writer, baudrate=None)
        segment = MEP_SEGMENT if self.link == "mep" else None
        paced_reader = PacedReader(reader, baudrate=BAUDRATE)
        return paced_reader, PacedWriter(
            writer, baudrate=BAUDRATE, segment=segment, after=paced_reader
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await self._port.run(*self._paced(reader, writer))
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("simulator connection ended: %s", err)
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen for socket:// clients; returns the bound address."""

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                await self._serve(reader, writer)
            finally:
                self._tasks.discard(task)

        self._server = await asyncio.start_server(handle, host, port)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def open_pty(self) -> str:
        """Create a pty pair and serve its master; returns the device path to give a client."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: a plain 8-bit serial line
        self._pty_fds = (master, slave)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(master, "rb", 0, closefd=False)
        )
        write_transport, write_protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(master, "wb", 0, closefd=False)
        )
        writer = asyncio.StreamWriter(write_transport, write_protocol, None, loop)

        async def serve() -> None:
            try:
                await self._port.run(*self._paced(reader, writer))
            finally:
                read_transport.close()
                write_transport.close()

        self._pty_task = asyncio.create_task(serve())
        return os.ttyname(slave)

    async def close(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._pty_task is not None:
            self._pty_task.cancel()
        pending = [t for t in (*self._tasks, self._pty_task, self._ticker) if t is not None]
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
        if self._pty_fds is not None:
            for fd in self._pty_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._pty_fds = None
