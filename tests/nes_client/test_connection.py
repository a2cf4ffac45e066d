"""Opening ports, the byte stream under both links, and what the debug log may show."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import serialx

from custom_components.nes_echelon.nes_client import (
    LinkError,
    NoResponse,
    PortMissing,
    connect,
    make_link,
    open_stream,
)
from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.connection import redact_port
from custom_components.nes_echelon.nes_client.mep import MepLink
from custom_components.nes_echelon.nes_client.optical import OpticalLink
from custom_components.nes_echelon.nes_client.stream import ByteStream
from nes_echelon_dev.simulator import Faults, SimulatedMeter
from tests.nes_client.conftest import Link, StartMeter
from tests.nes_client.expect import assert_snapshot
from tests.nes_client.scripted import ScriptedStream, optical_meter, requests_in

LOGGER = "custom_components.nes_echelon.nes_client"


async def test_missing_device(tmp_path: Path) -> None:
    """A missing path is its own error (the integration raises a repair for it), with every
    serialx release Home Assistant pins (1.7.0 on 2026.5, 1.11.0 on 2026.10, 1.15.1 on 2026.11)."""
    with pytest.raises(PortMissing, match=r"cannot open .*ttyUSB9"):
        await open_stream(str(tmp_path / "ttyUSB9"))


async def test_a_busy_device_is_not_missing(tmp_path: Path) -> None:
    not_a_port = tmp_path / "ttyUSB9"
    not_a_port.mkdir()
    with pytest.raises(LinkError, match="cannot open") as raised:
        await open_stream(str(not_a_port))
    assert not isinstance(raised.value, PortMissing)


@pytest.mark.parametrize(
    ("port", "shown"),
    [
        ("/dev/serial/by-id/usb-FTDI-if00", "/dev/serial/by-id/usb-FTDI-if00"),
        ("socket://192.0.2.7:2000", "socket://192.0.2.7:2000"),
        (
            "esphome://192.0.2.7:6053/?port_name=meter&key=c2VjcmV0LWtleQ%3D%3D",
            "esphome://192.0.2.7:6053/?port_name=meter&key=REDACTED",
        ),
        (
            "esphome://h:6053?password=hunter2&noise_psk=abc",
            "esphome://h:6053?password=REDACTED&noise_psk=REDACTED",
        ),
        ("rfc2217://user:secret@h:2217", "rfc2217://user:REDACTED@h:2217"),
        ("rfc2217://h:2217?logging=debug", "rfc2217://h:2217?logging=debug"),
    ],
)
def test_redact_port(port: str, shown: str) -> None:
    assert redact_port(port) == shown


async def test_the_error_does_not_show_a_port_secret(socket_enabled: None) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(LinkError) as raised:
        await open_stream(f"socket://127.0.0.1:{port}?password=hunter2")
    assert "hunter2" not in str(raised.value)


async def test_nothing_listening(socket_enabled: None) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(LinkError, match="cannot open"):
        await connect(f"socket://127.0.0.1:{port}", "optical", b"0123456789ABCDEFGHIJ")


async def test_make_link_defaults() -> None:
    reader = asyncio.StreamReader()
    optical = make_link("optical", reader, None, b"0123456789ABCDEFGHIJ")  # type: ignore[arg-type]
    assert isinstance(optical, OpticalLink)
    assert optical._timeout == 2.0  # C12.18's response timeout
    assert optical._password == b"0123456789ABCDEFGHIJ"
    mep = make_link("mep", reader, None, b"0123456789ABCDEFGHIJ")  # type: ignore[arg-type]
    assert isinstance(mep, MepLink)
    assert mep._timeout == 0.5  # [MEP p.21]
    assert mep._key == b"0123456789ABCDEF"
    with pytest.raises(ValueError, match="'ir'"):
        make_link("ir", reader, None, b"0123456789ABCDEFGHIJ")  # type: ignore[arg-type]


async def test_connect_failure_releases_the_port(start_meter: StartMeter, link: Link) -> None:
    """A failed connect() closes what it opened: the next try gets the port (a pty is
    exclusive) and a clean line."""
    running = await start_meter(link=link, via="pty", faults=Faults(silence=3))
    with pytest.raises(NoResponse):
        await running.client(response_timeout=0.1)
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)


async def test_port_closed_by_the_other_end(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client()
    await running.sim.close()
    with pytest.raises(LinkError):
        await client.read()
    await client.close()  # never raises


@pytest.mark.parametrize("echo", [False, True], ids=["plain", "echoing-head"])
async def test_debug_log_shows_frames_but_never_the_key(
    start_meter: StartMeter, caplog: pytest.LogCaptureFixture, echo: bool
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    running = await start_meter(SimulatedMeter(), faults=Faults(echo=echo))
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    text = caplog.text
    assert "tx ee 00 20 00 00 15 51 " + "** " * 20 in text
    assert "rx " in text
    key = running.key
    for form in (key.hex(" "), key.hex(), key.decode()):
        assert form not in text


class _BrokenWriter:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        raise self.error

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        raise self.error

    async def wait_closed(self) -> None:
        return None


class _BrokenReader:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error or ConnectionResetError("reset by peer")

    async def read(self, size: int) -> bytes:
        raise self.error


class TransportLibraryError(Exception):
    """Stands for a network transport's own error type (aioesphomeapi's APIConnectionError)."""


@pytest.mark.parametrize(
    "error",
    [OSError(5, "I/O error"), RuntimeError("closed loop"), TransportLibraryError("gone")],
)
async def test_write_failure_is_a_link_error(error: BaseException) -> None:
    stream = ByteStream(asyncio.StreamReader(), _BrokenWriter(error))  # type: ignore[arg-type]
    with pytest.raises(LinkError, match="cannot write"):
        await stream.write(b"\x06")
    await stream.close()  # never raises
    assert stream.bytes_sent == 0


async def test_read_failure_is_a_link_error() -> None:
    stream = ByteStream(_BrokenReader(), _BrokenWriter(OSError()))  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    with pytest.raises(LinkError, match="cannot read"):
        await stream.read_some(loop.time() + 1)
    library = ByteStream(_BrokenReader(TransportLibraryError("gone")), _BrokenWriter(OSError()))  # type: ignore[arg-type]
    with pytest.raises(LinkError, match="cannot read"):
        await library.read_some(loop.time() + 1)


async def test_read_timeout_is_not_a_link_error() -> None:
    """A quiet line is a timeout (the links retry), never a broken port."""
    stream = ByteStream(asyncio.StreamReader(), _BrokenWriter(OSError()))  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError) as caught:
        await stream.read_some(loop.time() + 0.02)
    assert not isinstance(caught.value, LinkError)
    with pytest.raises(TimeoutError):
        await stream.read_some(loop.time() - 1)  # a deadline already past


async def test_read_counts_bytes_and_end_of_stream() -> None:
    reader = asyncio.StreamReader()
    stream = ByteStream(reader, _BrokenWriter(OSError()))  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    reader.feed_data(b"\x06\x15")
    assert await stream.read_some(loop.time() + 1) == b"\x06\x15"
    assert stream.bytes_received == 2
    reader.feed_eof()
    with pytest.raises(LinkError, match="closed"):
        await stream.read_some(loop.time() + 1)


async def test_client_close_ends_the_session_politely() -> None:
    stream = ScriptedStream(optical_meter())
    link = OpticalLink(stream, b"0123456789ABCDEFGHIJ", response_timeout=0.1)  # type: ignore[arg-type]
    client = MeterClient(link)
    await client.link.open()
    await client.close()
    assert [request[0] for request in requests_in(stream.written)][-2:] == [0x52, 0x21]
    assert stream.closed


async def test_write_after_the_bridge_dropped_the_connection(socket_enabled: None) -> None:
    """A bridge that hangs up makes the next write a LinkError (serialx 1.7.0, pinned by Home
    Assistant 2026.5, failed an assertion inside the library instead)."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await open_stream(f"socket://127.0.0.1:{port}")
    stream = ByteStream(reader, writer)
    bridge_side = await accepted.get()
    bridge_side.close()
    await bridge_side.wait_closed()
    with pytest.raises(LinkError, match="closed"):
        await stream.read_some(asyncio.get_running_loop().time() + 2)
    with pytest.raises(LinkError):
        await stream.write(b"\xee\x00")
    await stream.close()
    server.close()
    await server.wait_closed()


async def test_a_port_that_never_opens_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen bridge makes the serial library time out with an empty message."""

    async def never_opens(**kwargs: object) -> None:
        raise TimeoutError

    monkeypatch.setattr(serialx, "open_serial_connection", never_opens)
    with pytest.raises(LinkError, match="in time"):
        await open_stream("rfc2217://192.0.2.7:2217")
