"""A fake ESPHome device with a serial proxy, for the `esphome://` port tests.

It plays the device's side of the ESPHome native API on a TCP socket (127.0.0.1 only), the
way an ESP32 running ESPHome's `serial_proxy` component does, so that the client side under
test is the real one: serialx's ESPHome transport on aioesphomeapi's `APIClient`. The
messages are aioesphomeapi's public ones: the generated protobuf classes
(`aioesphomeapi.api_pb2`) and their message-type numbers (`aioesphomeapi.core`). The frames
around them are written here, and the Noise handshake and ciphers come from the `noise`
library (which aioesphomeapi uses as well), so nothing depends on aioesphomeapi's private
modules, which differ between its releases. The device's decisions (what to answer, when,
with which status) follow ESPHome's `api` and `serial_proxy` components.

Versions: the device runs API `api_version`, by default the one whose messages the installed
aioesphomeapi has (`LIBRARY_API_VERSION`: 1.18 for aioesphomeapi 46.6.0; 1.14, the first
serial proxy, for 44.21.0), which is also the version its client announces. A device newer
than the library sends enum values the library predates as plain numbers (`_api_enum`), as
real firmware would; messages that only newer clients send cannot arrive from an older one.

Frames: plaintext (`0x00`, varint length, varint type, payload) or, with a `noise_psk`,
Noise_NNpsk0_25519_ChaChaPoly_SHA256 (client hello, server hello with name and MAC,
handshake, then encrypted frames of type, length and payload). A client with the wrong key
is refused with the firmware's "Handshake MAC failure"; a plaintext client of an encrypted
device, or the other way round, gets the firmware's "Bad indicator byte".

Messages handled (anything else is recorded in `unhandled` and ignored, as the firmware does):

- HelloRequest -> HelloResponse (API version `api_version`, the device name).
- AuthenticationRequest -> no answer: the device has no API password (current firmware
  answers only to refuse one).
- PingRequest -> PingResponse; DisconnectRequest -> DisconnectResponse, then it hangs up.
- DeviceInfoRequest -> DeviceInfoResponse, listing the serial proxies (`serial_proxies`, in
  instance order: the instance number is the index).
- ListEntitiesRequest -> ListEntitiesDoneResponse (the device has no entities);
  SubscribeStatesRequest, SubscribeLogsRequest, SubscribeHomeassistantServicesRequest and
  SubscribeHomeAssistantStatesRequest are accepted and send nothing.
- SubscribeSerialProxyIdentityRequest (API 1.18+) -> one SerialProxyIdentity per port,
  source NONE: a TTL UART wired to a probe has no descriptor to report.
- SerialProxyRequest SUBSCRIBE / UNSUBSCRIBE / FLUSH, SerialProxyConfigureRequest,
  SerialProxySetModemPinsRequest -> SerialProxyRequestResponse (API 1.16+; older devices
  acknowledge only a flush). One subscriber per port: another live client is refused (told
  PORT_IN_USE from API 1.16); a subscriber's session ends when its connection does. Who may
  write, configure, flush or set pins: anyone (API 1.14), anyone while no other client holds
  the port (1.16), only the subscriber (1.17+). Requests refused for that are recorded in
  `ProxyPort.refused`, and the clients whose bytes reached the UART in `ProxyPort.writers`.
  Invalid settings are not applied (INVALID_ARGUMENT from 1.16); flow control is refused
  (NOT_SUPPORTED) from 1.16, ignored before. SerialProxySetModeRequest (API 1.17+): RAW is
  accepted, PROTOCOL is NOT_SUPPORTED (no protocol tap on this port).
  SerialProxyGetModemPinsRequest -> SerialProxyGetModemPinsResponse. A request for an
  unknown instance is not answered.
- SerialProxyWriteRequest -> the bytes go out on the port's UART; bytes from the UART come
  back as SerialProxyDataReceived, at most 256 per message, once per main-loop pass
  (`loop_interval`), as `SerialProxy::loop()` does.

The UART (`UartWire`) is wired to the meter simulator's TCP server: one connection that
stays up across API sessions and device restarts, as a cable to the meter does. It starts at
the YAML baud rate (115200 unless told otherwise), and bytes only get through while its
settings equal the meter's (9600 8N1): a client that does not configure the port talks to
nobody. With no subscriber the firmware stops reading the UART, so the meter's bytes wait in
the RX buffer (256 bytes; the rest is lost) and reach the next subscriber first.

Not modelled: a real radio or CPU (no delays beyond the loop pass, no lost or reordered
frames), the device's own keepalive pings and its client limit, Home Assistant actions,
logs, entities and time requests from the device, API passwords, messages sent before the
HelloRequest (the firmware refuses them), flow control and the RTS/DTR pins (the port has
none), line noise on a mismatched baud rate (the bytes are dropped instead), and a device
that vanishes silently (`stop()` closes its sockets, as a device that restarts or shuts down
does; a power cut or a Wi-Fi drop would leave them half-open until the client's keepalive
gives up).
"""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass, field
import logging
import struct
from typing import Any
import urllib.parse

from aioesphomeapi import api_pb2 as pb
from aioesphomeapi.core import MESSAGE_TYPE_TO_PROTO
from google.protobuf.message import DecodeError, Message
from noise.connection import NoiseConnection

_LOGGER = logging.getLogger(__name__)

MESSAGE_TYPES: dict[type[Message], int] = {cls: num for num, cls in MESSAGE_TYPE_TO_PROTO.items()}

ESPHOME_VERSION = "2026.10.0"
MAX_READ_SIZE = 256  # SERIAL_PROXY_MAX_READ_SIZE: bytes per SerialProxyDataReceived
RX_BUFFER_SIZE = 256  # ESPHome's default uart rx_buffer_size
# The native API's Noise parameters, as ESPHome's api component has them: the handshake
# pattern and primitives, and the prologue both sides mix in before the client hello.
NOISE_PROTOCOL_NAME = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"
NOISE_PROLOGUE = b"NoiseAPIInit"
HELLO_TIMEOUT = 10.0


def _api_enum(name: str, number: int) -> int:
    """A value of one of api.proto's enums: aioesphomeapi's, or `number` (the value ESPHome's
    api.proto gives it) where the installed aioesphomeapi predates it. A device of an API
    version that has the value sends it as a plain number; a client that predates it keeps it
    as one."""
    value = int(getattr(pb, name, number))
    assert value == number, f"{name} is {value} in this aioesphomeapi, not {number}"
    return value


# The serial proxy's enum values. The first ones exist in every aioesphomeapi that has a
# serial proxy; the rest came with later API versions (statuses and request types with the
# acknowledgements of API 1.16, modes with 1.17, identity sources with 1.18).
OK = _api_enum("SERIAL_PROXY_STATUS_OK", 0)
NOT_SUPPORTED = _api_enum("SERIAL_PROXY_STATUS_NOT_SUPPORTED", 4)
PORT_IN_USE = _api_enum("SERIAL_PROXY_STATUS_PORT_IN_USE", 5)
INVALID_ARGUMENT = _api_enum("SERIAL_PROXY_STATUS_INVALID_ARGUMENT", 6)
SUBSCRIBE = _api_enum("SERIAL_PROXY_REQUEST_TYPE_SUBSCRIBE", 0)
UNSUBSCRIBE = _api_enum("SERIAL_PROXY_REQUEST_TYPE_UNSUBSCRIBE", 1)
FLUSH = _api_enum("SERIAL_PROXY_REQUEST_TYPE_FLUSH", 2)
CONFIGURE = _api_enum("SERIAL_PROXY_REQUEST_TYPE_CONFIGURE", 3)
SET_MODEM_PINS = _api_enum("SERIAL_PROXY_REQUEST_TYPE_SET_MODEM_PINS", 4)
SET_MODE = _api_enum("SERIAL_PROXY_REQUEST_TYPE_SET_MODE", 5)
MODE_RAW = _api_enum("SERIAL_PROXY_MODE_RAW", 0)
MODE_PROTOCOL = _api_enum("SERIAL_PROXY_MODE_PROTOCOL", 1)
IDENTITY_SOURCE_NONE = _api_enum("SERIAL_PROXY_IDENTITY_SOURCE_NONE", 0)
PARITY_NONE = _api_enum("SERIAL_PROXY_PARITY_NONE", 0)
PORT_TYPE_TTL = _api_enum("SERIAL_PROXY_PORT_TYPE_TTL", 0)


def _library_api_version() -> tuple[int, int]:
    """The API version of the ESPHome release whose api.proto the installed aioesphomeapi
    ships, as far as the serial proxy goes: the device that library was written against."""
    if hasattr(pb, "SerialProxyIdentity"):
        return (1, 18)
    if hasattr(pb, "SerialProxySetModeRequest"):
        return (1, 17)
    if hasattr(pb, "SERIAL_PROXY_REQUEST_TYPE_CONFIGURE"):
        return (1, 16)
    return (1, 14)  # the first serial proxy: ESPHome's API was at 1.14 when it came


LIBRARY_API_VERSION = _library_api_version()


@dataclass(frozen=True)
class UartSettings:
    """What a SerialProxyConfigureRequest sets (parity and stop bits as the API numbers them)."""

    baudrate: int
    parity: int = PARITY_NONE
    stop_bits: int = 1
    data_size: int = 8


METER_SETTINGS = UartSettings(9600)  # both meter ports: 9600 8N1


class UartWire:
    """The ESP32's UART and the cable from it to the meter: a TCP connection to the meter
    simulator's server. Bytes pass only while the UART's settings equal the meter's."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        meter_settings: UartSettings = METER_SETTINGS,
        yaml_baudrate: int = 115200,
    ) -> None:
        self._address = (host, port)
        self.meter_settings = meter_settings
        self.yaml_settings = UartSettings(yaml_baudrate)
        self.settings = self.yaml_settings
        self.rx = bytearray()  # read from the meter, not yet sent to a subscriber
        self.bytes_to_meter = 0
        self.bytes_from_meter = 0
        self.dropped = 0  # lost to a wrong baud rate or a full RX buffer
        self.subscribed = False  # the firmware reads the UART only while someone listens
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(*self._address)
        self._task = asyncio.create_task(self._receive(self._reader))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    def reset(self) -> None:
        """The ESP32 restarted: YAML settings again, RX buffer empty. The cable stays."""
        self.settings = self.yaml_settings
        self.rx.clear()
        self.subscribed = False

    @property
    def in_tune(self) -> bool:
        return self.settings == self.meter_settings

    def write(self, data: bytes) -> None:
        if self._writer is None or not self.in_tune:
            self.dropped += len(data)
            return
        self._writer.write(data)
        self.bytes_to_meter += len(data)

    def take(self, size: int = MAX_READ_SIZE) -> bytes:
        chunk = bytes(self.rx[:size])
        del self.rx[:size]
        return chunk

    async def _receive(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(4096):
            if not self.in_tune:
                self.dropped += len(data)
                continue
            self.bytes_from_meter += len(data)
            if not self.subscribed:
                # The loop is off: bytes wait in the driver's buffer, which can overflow.
                room = max(0, RX_BUFFER_SIZE - len(self.rx))
                self.dropped += max(0, len(data) - room)
                data = data[:room]
            self.rx += data


@dataclass
class ProxyPort:
    """One `serial_proxy:` entry: its name, its UART, and who holds it."""

    name: str
    wire: UartWire
    port_type: int = PORT_TYPE_TTL
    subscriber: _Session | None = None
    mode: int = MODE_RAW
    configurations: list[UartSettings] = field(default_factory=list)
    sessions: int = 0  # subscriptions granted
    refused: list[str] = field(default_factory=list)  # requests refused to a non-holder
    writers: list[str] = field(default_factory=list)  # API clients whose bytes went out

    def release(self) -> None:
        self.subscriber = None
        self.mode = MODE_RAW  # the mode belongs to the session
        self.wire.subscribed = False


class _Refused(Exception):
    """The frame layer refused the client (its message has already been sent)."""


def _varint(value: int) -> bytes:
    """A protobuf varint: seven bits a byte, least significant first, high bit = more."""
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


class _PlaintextFrames:
    """Plaintext frames: 0x00, varint length, varint message type, payload."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def handshake(self) -> None:
        return

    async def _varint(self) -> int:
        value = shift = 0
        while True:
            byte = (await self._reader.readexactly(1))[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise _Refused("varint too long")

    async def read(self) -> tuple[int, bytes]:
        indicator = (await self._reader.readexactly(1))[0]
        if indicator != 0x00:
            # What the firmware answers a Noise client: a plaintext marker and a reason.
            self._writer.write(b"\x00Bad indicator byte")
            raise _Refused("not a plaintext client")
        length = await self._varint()
        msg_type = await self._varint()
        return msg_type, await self._reader.readexactly(length)

    def write(self, packets: list[tuple[int, bytes]]) -> None:
        self._writer.writelines(
            b"\x00" + _varint(len(payload)) + _varint(msg_type) + payload
            for msg_type, payload in packets
        )


def decode_noise_psk(psk: str) -> bytes:
    """The 32 bytes of an API encryption key given in base64, as ESPHome's YAML has it."""
    raw = binascii.a2b_base64(psk, strict_mode=True)
    if len(raw) != 32:
        raise ValueError(f"an API encryption key has 32 bytes, not {len(raw)}")
    return raw


class _NoiseFrames:
    """Noise frames: 0x01, 16-bit length, then the handshake or an encrypted message (16-bit
    message type, 16-bit length, payload), with the Noise library aioesphomeapi uses too."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        psk: bytes,
        name: str,
        mac: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._psk = psk
        self._name = name
        self._mac = mac
        self._noise: NoiseConnection | None = None

    async def _frame(self) -> tuple[bytes, bytes]:
        header = await self._reader.readexactly(3)
        if header[0] != 0x01:
            self._reject("Bad indicator byte")
        return header, await self._reader.readexactly((header[1] << 8) | header[2])

    def _frame_bytes(self, payload: bytes) -> bytes:
        return bytes((0x01, len(payload) >> 8, len(payload) & 0xFF)) + payload

    def _reject(self, reason: str) -> None:
        self._writer.write(self._frame_bytes(b"\x01" + reason.encode()))
        raise _Refused(reason)

    async def handshake(self) -> None:
        header, hello = await self._frame()
        noise = NoiseConnection.from_name(NOISE_PROTOCOL_NAME)
        noise.set_as_responder()
        noise.set_psks(self._psk)
        # The client hello (its length and content) is part of the prologue.
        noise.set_prologue(NOISE_PROLOGUE + header[1:] + hello)
        noise.start_handshake()
        # Server hello: protocol 0x01 (NNpsk0), the node name and the MAC as 12 hex digits,
        # each NUL-ended.
        mac = self._mac.replace(":", "").lower().encode()
        self._writer.write(
            self._frame_bytes(b"\x01" + self._name.encode() + b"\x00" + mac + b"\x00")
        )
        _, message = await self._frame()
        if not message or message[0] != 0x00:
            self._reject("Bad handshake packet len")
        try:
            noise.read_message(message[1:])
        except Exception:  # InvalidTag (another key), or a malformed message
            self._reject("Handshake MAC failure")
        self._writer.write(self._frame_bytes(b"\x00" + bytes(noise.write_message())))
        self._noise = noise

    async def read(self) -> tuple[int, bytes]:
        assert self._noise is not None
        _, frame = await self._frame()
        message = self._noise.decrypt(frame)
        if len(message) < 4:
            raise _Refused("short message")
        msg_type, length = struct.unpack_from(">HH", message)
        return msg_type, message[4 : 4 + length]

    def write(self, packets: list[tuple[int, bytes]]) -> None:
        noise = self._noise
        assert noise is not None
        self._writer.writelines(
            self._frame_bytes(noise.encrypt(struct.pack(">HH", msg_type, len(payload)) + payload))
            for msg_type, payload in packets
        )


class _Session:
    """One API connection to the device."""

    def __init__(self, frames: _PlaintextFrames | _NoiseFrames, peer: str) -> None:
        self.frames = frames
        self.peer = peer
        self.client_info = ""
        self.hung_up = False

    def send(self, *messages: Message) -> None:
        if self.hung_up:
            return
        self.frames.write([(MESSAGE_TYPES[type(msg)], msg.SerializeToString()) for msg in messages])


class FakeESPHomeDevice:
    """An ESPHome device with serial proxies, serving its native API on 127.0.0.1."""

    def __init__(
        self,
        ports: Mapping[str, UartWire],
        *,
        name: str = "nes-proxy",
        mac: str = "AC:67:B2:3F:10:2E",
        api_version: tuple[int, int] = LIBRARY_API_VERSION,
        noise_psk: str | None = None,
        loop_interval: float = 0.016,
    ) -> None:
        if api_version < (1, 14):
            raise ValueError(f"no serial proxy before API 1.14, not in {api_version}")
        self.ports = [ProxyPort(port_name, wire) for port_name, wire in ports.items()]
        self.name = name
        self.mac = mac
        self.api_version = api_version
        self.noise_psk = noise_psk
        # Decoded once, as ESPHome checks the key when it compiles the YAML.
        self._psk = None if noise_psk is None else decode_noise_psk(noise_psk)
        self.loop_interval = loop_interval
        self.port: int | None = None
        self.connections = 0  # API connections accepted, handshake or not
        self.received: list[Message] = []
        self.unhandled: list[str] = []
        self.refusals: list[str] = []
        self._server: asyncio.Server | None = None
        self._sessions: dict[_Session, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        handlers: dict[str, Callable[[_Session, Any], None]] = {
            "HelloRequest": self._hello,
            "AuthenticationRequest": self._quiet,
            "PingRequest": self._ping,
            "DisconnectRequest": self._disconnect,
            "DeviceInfoRequest": self._device_info,
            "ListEntitiesRequest": self._list_entities,
            "SubscribeStatesRequest": self._quiet,
            "SubscribeLogsRequest": self._quiet,
            "SubscribeHomeassistantServicesRequest": self._quiet,
            "SubscribeHomeAssistantStatesRequest": self._quiet,
            "SubscribeSerialProxyIdentityRequest": self._identity,  # API 1.18
            "SerialProxyRequest": self._proxy_request,
            "SerialProxySetModeRequest": self._set_mode,  # API 1.17
            "SerialProxyConfigureRequest": self._configure,
            "SerialProxyWriteRequest": self._write,
            "SerialProxySetModemPinsRequest": self._set_modem_pins,
            "SerialProxyGetModemPinsRequest": self._get_modem_pins,
        }
        # A message the installed aioesphomeapi has no class for is one its client never sends.
        self._handlers: dict[type[Message], Callable[[_Session, Any], None]] = {
            getattr(pb, msg_name): handler
            for msg_name, handler in handlers.items()
            if hasattr(pb, msg_name)
        }

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen (again: on the same port after a restart); returns the TCP port."""
        for proxy in self.ports:
            proxy.release()
            proxy.wire.reset()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._loop_task = asyncio.create_task(self._main_loop())
        return self.port

    async def stop(self) -> None:
        """The device goes away: no more listening, and every API connection is closed."""
        if self._server is None:
            return
        self._server.close()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        for session, task in list(self._sessions.items()):
            session.hung_up = True
            task.cancel()
        for task in list(self._sessions.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.wait_for(self._server.wait_closed(), 5)
        self._server = None

    def url(self, port_name: str, **query: str) -> str:
        """The esphome:// URL serialx opens for this device's port (query values encoded)."""
        params = urllib.parse.urlencode({"port_name": port_name, **query})
        return f"esphome://127.0.0.1:{self.port}/?{params}"

    def proxy(self, port_name: str) -> ProxyPort:
        return next(proxy for proxy in self.ports if proxy.name == port_name)

    def received_types(self) -> list[str]:
        return [type(msg).__name__ for msg in self.received]

    # -- the connection ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        peer = str(writer.get_extra_info("peername"))
        frames: _PlaintextFrames | _NoiseFrames
        if self._psk is None:
            frames = _PlaintextFrames(reader, writer)
        else:
            frames = _NoiseFrames(reader, writer, psk=self._psk, name=self.name, mac=self.mac)
        session = _Session(frames, peer)
        task = asyncio.current_task()
        assert task is not None
        self._sessions[session] = task
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                await frames.handshake()
            while not session.hung_up:
                msg_type, payload = await frames.read()
                self._dispatch(session, msg_type, payload)
        except _Refused as err:
            self.refusals.append(str(err))
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, DecodeError) as err:
            _LOGGER.debug("%s: connection ended: %r", peer, err)
        finally:
            session.hung_up = True
            del self._sessions[session]
            for proxy in self.ports:
                if proxy.subscriber is session:  # the subscriber is gone: the port is free
                    proxy.release()
            writer.close()
            with contextlib.suppress(OSError):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _main_loop(self) -> None:
        """The firmware's loop: each pass forwards what the UART has read to its subscriber."""
        while True:
            for instance, proxy in enumerate(self.ports):
                if proxy.subscriber is not None and proxy.wire.rx:
                    data = proxy.wire.take(MAX_READ_SIZE)
                    proxy.subscriber.send(pb.SerialProxyDataReceived(instance=instance, data=data))
            await asyncio.sleep(self.loop_interval)

    def _dispatch(self, session: _Session, msg_type: int, payload: bytes) -> None:
        cls = MESSAGE_TYPE_TO_PROTO.get(msg_type)
        if cls is None:
            self.unhandled.append(f"type {msg_type}")
            return
        msg = cls()
        msg.ParseFromString(payload)
        self.received.append(msg)
        handler = self._handlers.get(cls)
        if handler is None:
            self.unhandled.append(cls.__name__)
            return
        handler(session, msg)

    def _at_least(self, minor: int) -> bool:
        return self.api_version >= (1, minor)

    # -- connection messages ----------------------------------------------------------------

    def _hello(self, session: _Session, msg: pb.HelloRequest) -> None:
        session.client_info = msg.client_info
        major, minor = self.api_version
        session.send(
            pb.HelloResponse(
                api_version_major=major,
                api_version_minor=minor,
                server_info=f"{self.name} (esphome v{ESPHOME_VERSION})",
                name=self.name,
            )
        )

    def _ping(self, session: _Session, msg: pb.PingRequest) -> None:
        session.send(pb.PingResponse())

    def _disconnect(self, session: _Session, msg: pb.DisconnectRequest) -> None:
        session.send(pb.DisconnectResponse())
        session.hung_up = True

    def _device_info(self, session: _Session, msg: pb.DeviceInfoRequest) -> None:
        session.send(
            pb.DeviceInfoResponse(
                name=self.name,
                friendly_name="NES meter proxy",
                mac_address=self.mac,
                esphome_version=ESPHOME_VERSION,
                model="esp32dev",
                manufacturer="Espressif",
                api_encryption_supported=self.noise_psk is not None,
                serial_proxies=[
                    pb.SerialProxyInfo(name=proxy.name, port_type=proxy.port_type)
                    for proxy in self.ports
                ],
            )
        )

    def _list_entities(self, session: _Session, msg: pb.ListEntitiesRequest) -> None:
        session.send(pb.ListEntitiesDoneResponse())

    def _quiet(self, session: _Session, msg: Message) -> None:
        """Nothing to answer: no password to check, no entities, logs or actions to send."""

    # -- serial proxy messages --------------------------------------------------------------

    def _port(self, instance: int) -> ProxyPort | None:
        """The port, or None for an unknown instance (the firmware logs it and answers not)."""
        if instance < len(self.ports):
            return self.ports[instance]
        self.unhandled.append(f"instance {instance}")
        return None

    def _ack(self, session: _Session, instance: int, request_type: int, status: int) -> None:
        if self._at_least(16):  # before API 1.16 the device acknowledged only a flush
            session.send(
                pb.SerialProxyRequestResponse(instance=instance, type=request_type, status=status)
            )

    def _may_use(self, session: _Session, proxy: ProxyPort, request: str) -> bool:
        """Whether the session may write to, configure, flush or set the pins of the port.

        The first serial proxy (API 1.14) checked nothing: any client could. From API 1.16 a
        client is refused only while another holds the port; from 1.17 only the subscriber
        may (so a client has to subscribe before it configures).
        """
        if not self._at_least(16):
            allowed = True
        elif not self._at_least(17):
            allowed = proxy.subscriber is None or proxy.subscriber is session
        else:
            allowed = proxy.subscriber is session
        if not allowed:
            proxy.refused.append(request)
        return allowed

    def _identity(self, session: _Session, msg: Any) -> None:
        """A SubscribeSerialProxyIdentityRequest (API 1.18; aioesphomeapi before it has no
        class)."""
        if not self._at_least(18):
            self.unhandled.append("identity before API 1.18")
            return
        session.send(
            *(
                pb.SerialProxyIdentity(instance=instance, source=IDENTITY_SOURCE_NONE)
                for instance in range(len(self.ports))
            )
        )

    def _proxy_request(self, session: _Session, msg: pb.SerialProxyRequest) -> None:
        proxy = self._port(msg.instance)
        if proxy is None:
            return
        if msg.type == SUBSCRIBE:
            status = OK
            if proxy.subscriber is None:
                proxy.subscriber = session
                proxy.sessions += 1
                proxy.wire.subscribed = True
            elif proxy.subscriber is not session:
                # A living subscriber keeps exclusive access (before API 1.16 the device
                # only logs it: the client is not told).
                proxy.refused.append("subscribe")
                status = PORT_IN_USE
        elif msg.type == UNSUBSCRIBE:
            status = OK  # idempotent
            if proxy.subscriber is session:
                proxy.release()
        elif msg.type == FLUSH:
            # Flush has always been acknowledged. Writes here reach the wire at once.
            status = OK if self._may_use(session, proxy, "flush") else PORT_IN_USE
            session.send(
                pb.SerialProxyRequestResponse(instance=msg.instance, type=msg.type, status=status)
            )
            return
        else:
            status = NOT_SUPPORTED
        self._ack(session, msg.instance, msg.type, status)

    def _set_mode(self, session: _Session, msg: Any) -> None:
        """A SerialProxySetModeRequest (API 1.17; aioesphomeapi before it has no class)."""
        proxy = self._port(msg.instance)
        if proxy is None:
            return
        if not self._at_least(17):
            self.unhandled.append("set mode before API 1.17")
            return
        if not self._may_use(session, proxy, "set mode"):
            status = PORT_IN_USE
        elif msg.mode == MODE_RAW:
            proxy.mode = msg.mode
            status = OK
        elif msg.mode == MODE_PROTOCOL:
            status = NOT_SUPPORTED  # no protocol tap on this port
        else:
            status = INVALID_ARGUMENT
        session.send(
            pb.SerialProxyRequestResponse(instance=msg.instance, type=SET_MODE, status=status)
        )

    def _configure(self, session: _Session, msg: pb.SerialProxyConfigureRequest) -> None:
        proxy = self._port(msg.instance)
        if proxy is None:
            return
        settings = UartSettings(msg.baudrate, msg.parity, msg.stop_bits, msg.data_size)
        if not self._may_use(session, proxy, "configure"):
            status = PORT_IN_USE
        elif (
            msg.baudrate == 0
            or msg.stop_bits not in {1, 2}
            or not 5 <= msg.data_size <= 8
            or msg.parity > 2
        ):
            status = INVALID_ARGUMENT  # nothing applied
        elif msg.flow_control and self._at_least(16):
            status = NOT_SUPPORTED  # the first serial proxy applied the rest and logged this
        else:
            proxy.configurations.append(settings)
            proxy.wire.settings = settings
            status = OK
        self._ack(session, msg.instance, CONFIGURE, status)

    def _write(self, session: _Session, msg: pb.SerialProxyWriteRequest) -> None:
        proxy = self._port(msg.instance)
        if proxy is not None and self._may_use(session, proxy, "write") and msg.data:
            proxy.wire.write(msg.data)
            if session.peer not in proxy.writers:
                proxy.writers.append(session.peer)

    def _set_modem_pins(self, session: _Session, msg: pb.SerialProxySetModemPinsRequest) -> None:
        proxy = self._port(msg.instance)
        if proxy is None:
            return
        if not self._may_use(session, proxy, "set modem pins"):
            status = PORT_IN_USE
        else:  # no RTS/DTR pins: asserting one fails, clearing them is harmless
            status = NOT_SUPPORTED if msg.line_states else OK
        self._ack(session, msg.instance, SET_MODEM_PINS, status)

    def _get_modem_pins(self, session: _Session, msg: pb.SerialProxyGetModemPinsRequest) -> None:
        if self._port(msg.instance) is not None:
            # No pins, so none set; the status (API 1.16+) is left at its default, OK.
            session.send(pb.SerialProxyGetModemPinsResponse(instance=msg.instance, line_states=0))


def noise_key(raw: bytes) -> str:
    """The base64 form of a 32-byte API encryption key, as ESPHome's YAML has it."""
    return binascii.b2a_base64(raw, newline=False).decode()


def plus_key() -> str:
    """A valid key whose base64 form has '+' and '/' in it (a query string turns '+' into
    a space unless it is written %2B)."""
    return noise_key(b"\xfb\xff\xbf" * 10 + b"\x01\x02")
