"""Fixtures for the protocol-client tests: a simulated meter on a real port, and clients.

The meter is the bundled simulator, reached the way a user's port is reached: over a real TCP
socket on 127.0.0.1 (`socket://`, the form of a network serial bridge) or over a pty (a device
path, the form of a USB probe). The client side is the real `connect()`, serialx included.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

import pytest

from custom_components.nes_echelon.nes_client import mep
from custom_components.nes_echelon.nes_client.client import MeterClient, PollOptions
from custom_components.nes_echelon.nes_client.connection import connect, make_link, open_stream
from nes_echelon_dev.simulator import (
    Faults,
    MeterSimulator,
    SimulatedMeter,
    mep_port,
    optical_port,
    service,
)

type Link = Literal["optical", "mep"]
type Via = Literal["tcp", "pty"]

TIMEOUT = 0.3
"""Response timeout for clients in these tests (the links' defaults are 2 s and 0.5 s)."""


@pytest.fixture(autouse=True)
def no_request_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """MEP spaces requests 100 ms apart (the meter takes one per 100 ms); not needed here."""
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)


@pytest.fixture(autouse=True)
def fixed_garbage(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The simulator's `garbage` fault sends these bytes instead of random ones.

    A list: tests may replace its content. The default is what a noisy line gives most
    often, bytes that look like nothing the client expects.
    """
    garbage = [b"\x9a\x31\xc4\x7f\x02\x5d\xe1"]

    def urandom(size: int) -> bytes:
        return garbage[0][:size].ljust(size, b"\x5a")

    fake_os = SimpleNamespace(urandom=urandom)
    monkeypatch.setattr(optical_port, "os", fake_os)
    monkeypatch.setattr(mep_port, "os", fake_os)
    return garbage


@dataclass
class RunningMeter:
    """A simulator that is serving, the port string that reaches it, and its clients."""

    sim: MeterSimulator
    port: str
    link: Link
    clients: list[MeterClient] = field(default_factory=list)

    @property
    def meter(self) -> SimulatedMeter:
        return self.sim.meter

    @property
    def faults(self) -> Faults:
        return self.sim.faults

    @property
    def key(self) -> bytes:
        return self.sim.meter.key

    @property
    def failed_logons(self) -> int:
        """Key rejections the meter logged: optical Security refusals or MEP bad digests."""
        port = self.sim.port
        if isinstance(port, optical_port.OpticalPort):
            return port.failed_logons
        return port.rejected_digests

    async def client(
        self,
        key: bytes | None = None,
        *,
        response_timeout: float = TIMEOUT,
        options: PollOptions | None = None,
    ) -> MeterClient:
        """A connected client (closed after the test)."""
        client = await connect(
            self.port,
            self.link,
            self.key if key is None else key,
            response_timeout=response_timeout,
            options=options,
        )
        self.clients.append(client)
        return client

    async def unconnected(
        self, key: bytes | None = None, *, response_timeout: float = TIMEOUT
    ) -> MeterClient:
        """A client on an open port that has not called connect() yet (closed after the test)."""
        reader, writer = await open_stream(self.port)
        link = make_link(
            self.link,
            reader,
            writer,
            self.key if key is None else key,
            response_timeout=response_timeout,
        )
        client = MeterClient(link)
        self.clients.append(client)
        return client


type StartMeter = Callable[..., Awaitable[RunningMeter]]


@pytest.fixture
async def start_meter(socket_enabled: None) -> AsyncGenerator[StartMeter]:
    """Start simulated meters; clients and simulators are closed after the test."""
    running: list[RunningMeter] = []

    async def start(
        meter: SimulatedMeter | None = None,
        *,
        link: Link = "optical",
        via: Via = "tcp",
        faults: Faults | None = None,
        pace: bool = False,
    ) -> RunningMeter:
        sim = MeterSimulator(meter, link, faults=faults, pace=pace)
        if via == "tcp":
            host, port = await sim.serve_tcp("127.0.0.1", 0)
            address = f"socket://{host}:{port}"
        else:
            address = await sim.open_pty()
        item = RunningMeter(sim=sim, port=address, link=link)
        running.append(item)
        return item

    yield start

    for item in running:
        for client in item.clients:
            await client.close()
    for item in running:
        await item.sim.close()


@pytest.fixture(params=["optical", "mep"])
def link(request: pytest.FixtureRequest) -> Link:
    """Both ports."""
    value: Link = request.param
    return value


type ServeRead = Callable[..., bytes]
type Refusal = Callable[[bytes], bytes | None]
type MeterRefuses = Callable[[Refusal], None]


@pytest.fixture
def meter_refuses(monkeypatch: pytest.MonkeyPatch) -> MeterRefuses:
    """Make the simulated meter answer some reads differently, on both ports.

    `meter_refuses(rule)`: `rule(request)` returns the PSEM reply to send instead (a response
    code, e.g. b"\\x02"), or None to serve the read as usual.
    """

    def install(rule: Refusal) -> None:
        original: ServeRead = service.serve_read

        def serve_read(meter: SimulatedMeter, request: bytes, **kwargs: Any) -> bytes:
            reply = rule(request)
            return original(meter, request, **kwargs) if reply is None else reply

        monkeypatch.setattr(optical_port, "serve_read", serve_read)
        monkeypatch.setattr(mep_port, "serve_read", serve_read)

    return install


def table_of(request: bytes) -> int:
    """The table id of a full (0x30) or partial (0x3F) read request."""
    return int.from_bytes(request[1:3], "big")
