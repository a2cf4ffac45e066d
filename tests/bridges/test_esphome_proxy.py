"""The meter through an ESPHome serial proxy: an `esphome://` port, end to end.

An ESP32 running ESPHome's `serial_proxy` component, wired to the meter's probe or MEP port,
is reached with `esphome://host:6053/?port_name=<name>` (plus `&key=<API encryption key>`).
Here the ESP32 is tests/bridges/esphome_device.py, which speaks the ESPHome native API with
aioesphomeapi's own messages, and its UART is wired to the meter simulator. The client side
is not mocked: our client opens the URL with serialx, whose ESPHome transport drives
aioesphomeapi's `APIClient`, as in Home Assistant.

Both test environments run this: Home Assistant 2026.10.4 (serialx 1.11.0, aioesphomeapi
46.6.0, a device of API 1.18) and the oldest we support, 2026.5.0 (serialx 1.7.0,
aioesphomeapi 44.21.0, a device of API 1.14: the first serial proxy, the one that
aioesphomeapi's messages describe). Where the two serialx releases really drive the device
differently, the test says so (`SERIALX_1_7`); older and newer firmware is tried on both.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
import importlib.metadata
import logging
import urllib.parse

from aioesphomeapi import api_pb2 as pb
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from packaging.version import Version
import pytest

from custom_components.nes_echelon.const import CONF_KEY, CONF_LINK, CONF_PORT, DOMAIN
from custom_components.nes_echelon.nes_client import LinkError
from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.connection import connect
from nes_echelon_dev.simulator import MeterSimulator, SimulatedMeter
from tests.integration.conftest import Link, RunningMeter, make_entry, poll, setup_entry, state_of
from tests.nes_client.expect import assert_snapshot

from .esphome_device import (
    FLUSH,
    LIBRARY_API_VERSION,
    METER_SETTINGS,
    SUBSCRIBE,
    UNSUBSCRIBE,
    FakeESPHomeDevice,
    ProxyPort,
    UartWire,
    noise_key,
    plus_key,
)

PORT_NAME = "nes_meter"  # the serial_proxy's `name:` in the device's YAML
API_KEY = noise_key(bytes(range(32)))  # the device's api: encryption: key:

# serialx as Home Assistant 2026.5.0 pins it (1.7.0) rather than as 2026.10.4 does (1.11.0);
# the releases in between are not tested here. 1.7.0's ESPHome transport configures the port
# before it subscribes to it (with no instance number, so instance 0), never asks for the
# port's mode (API 1.17) or identity (API 1.18), reads no acknowledgement (API 1.16; it pings
# after subscribing instead), and does not notice the API connection closing.
SERIALX_1_7 = Version(importlib.metadata.version("serialx")) < Version("1.11")
# How long a client that should get no answer waits for each (well below the links' defaults):
# the meter simulator answers within a few device loop passes.
NO_ANSWER = 0.5


@dataclass
class ProxiedMeter:
    """A simulated meter on the UART of a fake ESPHome device, and the clients opened on it."""

    sim: MeterSimulator
    wire: UartWire
    device: FakeESPHomeDevice
    link: Link
    clients: list[MeterClient] = field(default_factory=list)
    # The device's other serial proxies, each wired to a meter of its own.
    others: list[tuple[MeterSimulator, UartWire]] = field(default_factory=list)

    @property
    def meter(self) -> SimulatedMeter:
        return self.sim.meter

    @property
    def key(self) -> bytes:
        return self.sim.meter.key

    @property
    def proxy(self) -> ProxyPort:
        return self.device.proxy(PORT_NAME)

    def url(self, **query: str) -> str:
        return self.device.url(PORT_NAME, **query)

    def running(self, port: str) -> RunningMeter:
        """The meter as tests/integration's helpers know it, reached at `port`."""
        return RunningMeter(sim=self.sim, port=port, link=self.link)

    async def client(self, port: str | None = None) -> MeterClient:
        """A connected client with the links' default timeouts (closed after the test)."""
        client = await connect(port or self.url(), self.link, self.key)
        self.clients.append(client)
        return client


type StartProxy = Callable[..., Awaitable[ProxiedMeter]]


@pytest.fixture
async def start_proxy(
    hass: HomeAssistant, enable_custom_integrations: None, socket_enabled: None
) -> AsyncGenerator[StartProxy]:
    """Start meters behind fake ESPHome devices; all is closed after the test.

    A device runs the API version of the ESPHome release whose messages the installed
    aioesphomeapi has (`LIBRARY_API_VERSION`) unless told otherwise.

    Depends on `hass` so that it is torn down first: config entries are unloaded and
    clients closed (their goodbyes reach a live device) before devices and meters go.
    """
    started: list[ProxiedMeter] = []

    async def start(
        meter: SimulatedMeter | None = None,
        *,
        link: Link = "optical",
        api_version: tuple[int, int] = LIBRARY_API_VERSION,
        noise_psk: str | None = None,
        yaml_baudrate: int = 115200,
        ports_before: tuple[str, ...] = (),
    ) -> ProxiedMeter:
        """`ports_before`: names of serial proxies listed before ours in the YAML."""
        others: list[tuple[MeterSimulator, UartWire]] = []
        ports: dict[str, UartWire] = {}
        for name in ports_before:
            other_sim = MeterSimulator(link=link)
            ports[name] = UartWire(*await other_sim.serve_tcp())
            others.append((other_sim, ports[name]))
        sim = MeterSimulator(meter=meter, link=link)
        host, port = await sim.serve_tcp()
        wire = UartWire(host, port, yaml_baudrate=yaml_baudrate)
        ports[PORT_NAME] = wire
        device = FakeESPHomeDevice(ports, api_version=api_version, noise_psk=noise_psk)
        proxied = ProxiedMeter(sim=sim, wire=wire, device=device, link=link, others=others)
        started.append(proxied)
        for _, other_wire in others:
            await other_wire.open()
        await wire.open()
        await device.start()
        return proxied

    yield start

    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    for proxied in started:
        for client in proxied.clients:
            await client.close()
    for proxied in started:
        await proxied.device.stop()
        for other_sim, other_wire in [*proxied.others, (proxied.sim, proxied.wire)]:
            await other_wire.close()
            await other_sim.close()


def assert_clean_session(proxied: ProxiedMeter) -> None:
    """Every message serialx sent is one the device knows; 9600 8N1 was set; nothing lost."""
    device = proxied.device
    assert device.unhandled == []
    assert device.refusals == []
    assert proxied.proxy.configurations[-1] == METER_SETTINGS
    assert proxied.wire.dropped == 0
    assert proxied.wire.bytes_to_meter > 0
    assert proxied.wire.bytes_from_meter > 0


# -- (a) our client, through serialx's ESPHome transport -------------------------------------


@pytest.mark.parametrize(
    ("link", "encrypted"),
    [("optical", False), ("mep", False), ("optical", True), ("mep", True)],
)
async def test_snapshot_through_the_proxy(
    start_proxy: StartProxy, link: Link, encrypted: bool
) -> None:
    """Identity and a whole snapshot (totals, tiers, present values) equal the meter's."""
    proxied = await start_proxy(link=link, noise_psk=API_KEY if encrypted else None)
    url = proxied.url(key=API_KEY) if encrypted else proxied.url()

    client = await proxied.client(url)
    identity = client.identity
    assert identity is not None
    assert identity.serial_number == proxied.meter.serial_number
    assert identity.model == proxied.meter.model
    snapshot = await client.read()
    assert_snapshot(snapshot, proxied.meter)

    assert_clean_session(proxied)
    assert proxied.proxy.subscriber is not None
    assert proxied.proxy.configurations == [METER_SETTINGS]
    assert proxied.proxy.refused == []
    types = proxied.device.received_types()
    assert types[:2] == ["HelloRequest", "AuthenticationRequest"]
    expected = {"DeviceInfoRequest", "SerialProxyRequest", "SerialProxyConfigureRequest"}
    if not SERIALX_1_7 and proxied.device.api_version >= (1, 17):
        expected.add("SerialProxySetModeRequest")  # RAW asked for where ports have modes
    assert expected <= set(types)
    assert ("SerialProxySetModeRequest" in types) == ("SerialProxySetModeRequest" in expected)
    assert proxied.sim.connections == 1  # the one wire, as a cable to the meter

    await client.close()
    # A clean goodbye: unsubscribed, then disconnected; the port is free for the next client.
    assert proxied.device.received_types()[-2:] == ["SerialProxyRequest", "DisconnectRequest"]
    assert proxied.proxy.subscriber is None
    assert proxied.proxy.sessions == 1


def proxy_requests(proxied: ProxiedMeter) -> list[str]:
    """The serial proxy requests the device received, in order (subscribe, configure, ...)."""
    names = {SUBSCRIBE: "subscribe", UNSUBSCRIBE: "unsubscribe", FLUSH: "flush"}
    requests = []
    for msg in proxied.device.received:
        if isinstance(msg, pb.SerialProxyRequest):
            requests.append(names.get(msg.type, f"request {msg.type}"))
        elif isinstance(msg, pb.SerialProxyConfigureRequest):
            requests.append("configure")
    return requests


@pytest.mark.parametrize("api_version", [(1, 14), (1, 16), (1, 18)])
async def test_older_and_newer_firmware(
    start_proxy: StartProxy, api_version: tuple[int, int]
) -> None:
    """The first serial proxy (API 1.14), the one that acknowledges requests (1.16) and the
    current one (1.18, with modes and port identity), whichever serialx is installed."""
    proxied = await start_proxy(api_version=api_version)
    device = proxied.device

    if SERIALX_1_7 and api_version >= (1, 17):
        # serialx 1.7.0 configures the port before it subscribes to it. Since API 1.17 only
        # the subscriber may configure a port: the device refuses (PORT_IN_USE, which 1.7.0
        # does not read), the UART keeps its YAML baud rate (115200), and the meter hears
        # nothing at 9600. Real firmware does this too; 2026.10's serialx subscribes first.
        with pytest.raises(LinkError, match="no answer"):
            await connect(proxied.url(), proxied.link, proxied.key, response_timeout=NO_ANSWER)
        assert proxy_requests(proxied)[:2] == ["configure", "subscribe"]
        assert proxied.proxy.refused == ["configure"]
        assert proxied.proxy.configurations == []
        assert proxied.wire.bytes_to_meter == 0
        assert proxied.wire.dropped > 0
        return

    client = await proxied.client()
    assert_snapshot(await client.read(), proxied.meter)
    assert proxied.proxy.configurations == [METER_SETTINGS]
    assert proxied.proxy.refused == []
    types = device.received_types()
    if SERIALX_1_7:
        # It neither asks for the mode nor for the identity, and configures first (which a
        # device before API 1.17 accepts from a client that has not subscribed yet).
        assert device.unhandled == []
        assert "SerialProxySetModeRequest" not in types
        assert proxy_requests(proxied)[:2] == ["configure", "subscribe"]
    else:
        # It asks for the identity regardless (twice); a device before 1.18 does not know it.
        # It asks for RAW mode only where ports have modes (1.17+), and subscribes first.
        assert set(device.unhandled) == (
            set() if api_version >= (1, 18) else {"identity before API 1.18"}
        )
        assert ("SerialProxySetModeRequest" in types) == (api_version >= (1, 17))
        assert proxy_requests(proxied)[:2] == ["subscribe", "configure"]


async def test_port_after_another(start_proxy: StartProxy) -> None:
    """A device with two serial proxies (two meters, say): ours is the second, instance 1."""
    proxied = await start_proxy(ports_before=("other_meter",))
    other = proxied.device.proxy("other_meter")

    if SERIALX_1_7:
        # serialx 1.7.0 configures the port before it has looked its name up: the request
        # carries no instance number, so instance 0, the other port, is set to 9600 8N1 and
        # ours keeps its YAML baud rate. Its requests go out at 115200 and are lost.
        with pytest.raises(LinkError, match="no answer"):
            await connect(proxied.url(), proxied.link, proxied.key, response_timeout=NO_ANSWER)
        assert other.configurations == [METER_SETTINGS]
        assert proxied.proxy.configurations == []
        assert proxied.wire.bytes_to_meter == 0
        assert proxied.wire.dropped > 0
    else:
        client = await proxied.client()
        assert_snapshot(await client.read(), proxied.meter)
        assert other.configurations == []
        assert proxied.proxy.configurations == [METER_SETTINGS]
    assert other.subscriber is None
    assert other.wire.bytes_to_meter == 0


@pytest.mark.parametrize(
    ("api_version", "ports_before"),
    [((1, 18), ()), (LIBRARY_API_VERSION, ("other_meter",))],
    ids=["api_1_18", "second_port"],
)
async def test_port_set_to_9600_in_yaml(
    start_proxy: StartProxy, api_version: tuple[int, int], ports_before: tuple[str, ...]
) -> None:
    """Where serialx 1.7.0 cannot configure the port (on firmware of API 1.17+, or on a port
    after another), a port whose YAML already sets 9600 baud works all the same."""
    proxied = await start_proxy(
        api_version=api_version, ports_before=ports_before, yaml_baudrate=9600
    )
    client = await proxied.client()
    assert_snapshot(await client.read(), proxied.meter)
    assert proxied.wire.dropped == 0
    # serialx 1.11.0 configures it (to what it already is); 1.7.0 cannot.
    assert proxied.proxy.configurations == ([] if SERIALX_1_7 else [METER_SETTINGS])
    refused_configure = SERIALX_1_7 and api_version >= (1, 17)
    assert proxied.proxy.refused == (["configure"] if refused_configure else [])


@pytest.mark.parametrize("api_version", [(1, 14), (1, 16), (1, 18)])
async def test_one_client_at_a_time(start_proxy: StartProxy, api_version: tuple[int, int]) -> None:
    """From API 1.16 the device gives the port to one API client: a second is refused and
    disturbs nothing. The first serial proxy (1.14) only refuses it the subscription."""
    if SERIALX_1_7 and api_version >= (1, 17):
        pytest.skip("serialx 1.7.0 cannot configure such a port: test_older_and_newer_firmware")
    proxied = await start_proxy(api_version=api_version)
    first = await proxied.client()

    if api_version >= (1, 16) and not SERIALX_1_7:
        with pytest.raises(LinkError, match="already in use"):
            await connect(proxied.url(), proxied.link, proxied.key)
        assert proxied.proxy.refused == ["subscribe"]
    else:
        # The device refuses the second subscription without telling the client: the first
        # serial proxy acknowledges no request, and serialx 1.7.0 reads no acknowledgement.
        # The client times out instead, as the meter's answers go to the subscriber.
        with pytest.raises(LinkError, match="no answer"):
            await connect(proxied.url(), proxied.link, proxied.key, response_timeout=NO_ANSWER)
        assert "subscribe" in proxied.proxy.refused
    if api_version >= (1, 16):
        assert len(proxied.proxy.writers) == 1  # the second client's bytes went nowhere
        assert proxied.proxy.configurations == [METER_SETTINGS]
        assert_snapshot(await first.read(), proxied.meter)
    else:
        # API 1.14 checks no ownership: the second client's configuration and requests reach
        # the meter, interleaved with the first's, and can end the first's meter session.
        assert proxied.proxy.refused == ["subscribe"]
        assert len(proxied.proxy.writers) == 2
        assert proxied.proxy.configurations == [METER_SETTINGS, METER_SETTINGS]

    await first.close()
    second = await proxied.client()
    assert_snapshot(await second.read(), proxied.meter)
    assert proxied.proxy.sessions == 2


async def test_wrong_or_missing_key(
    start_proxy: StartProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """A key the device does not have, none, or one it does not want, fails to open the port;
    the key is shown nowhere."""
    caplog.set_level(logging.DEBUG)
    proxied = await start_proxy(noise_psk=API_KEY)
    other_key = noise_key(bytes(range(100, 132)))

    with pytest.raises(LinkError) as wrong:
        await connect(proxied.url(key=other_key), proxied.link, proxied.key)
    assert "key=REDACTED" in str(wrong.value)

    with pytest.raises(LinkError):
        await connect(proxied.url(), proxied.link, proxied.key)

    assert proxied.device.refusals == ["Handshake MAC failure", "Bad indicator byte"]
    assert proxied.wire.bytes_to_meter == 0
    for key in (other_key, urllib.parse.quote(other_key, safe="")):
        assert key not in str(wrong.value)
        assert key not in caplog.text

    plaintext = await start_proxy()  # a key for a device without encryption
    with pytest.raises(LinkError):
        await connect(plaintext.url(key=API_KEY), plaintext.link, plaintext.key)
    assert plaintext.device.refusals == ["not a plaintext client"]


async def test_key_with_plus_must_be_percent_encoded(start_proxy: StartProxy) -> None:
    """In a URL's query '+' means a space: a key with '+' in it is typed with %2B."""
    key = plus_key()
    assert "+" in key
    proxied = await start_proxy(noise_psk=key)

    typed = f"esphome://127.0.0.1:{proxied.device.port}/?port_name={PORT_NAME}&key={key}"
    with pytest.raises(LinkError):
        await connect(typed, proxied.link, proxied.key)

    client = await proxied.client(typed.replace("+", "%2B"))
    assert_snapshot(await client.read(), proxied.meter)


# -- (b), (c) the integration in Home Assistant ----------------------------------------------


async def test_config_flow_with_the_proxy_url(hass: HomeAssistant, start_proxy: StartProxy) -> None:
    """The URL a user types: refused while the device is off, an entry once it is on."""
    proxied = await start_proxy(link="mep", noise_psk=API_KEY)
    url = proxied.url(key=API_KEY)
    user_input = {CONF_PORT: url, CONF_LINK: "mep", CONF_KEY: proxied.key.decode()}
    await proxied.device.stop()

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    await proxied.device.start()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == user_input
    assert result["result"].state is ConfigEntryState.LOADED


def expected_energy(meter: SimulatedMeter) -> dict[str, str]:
    """The energy sensors' states for the meter now (kWh), tiers that have ever counted."""
    total = meter.registers(0)
    states = {"energy_import": str(total[0] / 1000), "energy_export": str(total[1] / 1000)}
    for tier in range(1, meter.tiers + 1):
        registers = meter.registers(tier)
        for index, direction in enumerate(("import", "export")):
            if registers[index]:
                states[f"tier_{tier}_energy_{direction}"] = str(registers[index] / 1000)
    return states


def assert_energy(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, meter: SimulatedMeter
) -> None:
    expected = expected_energy(meter)
    assert len(expected) > 2  # tiers too
    for key, state in expected.items():
        assert state_of(hass, entity_registry, key) == state, key


def assert_unavailable(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, meter: SimulatedMeter
) -> None:
    for key in expected_energy(meter):
        assert state_of(hass, entity_registry, key) == STATE_UNAVAILABLE, key


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_integration_through_the_proxy(
    hass: HomeAssistant, start_proxy: StartProxy, entity_registry: er.EntityRegistry, link: Link
) -> None:
    """An entry whose port is an esphome:// URL loads; its energy sensors show the meter's."""
    proxied = await start_proxy(link=link, noise_psk=API_KEY)
    entry = make_entry(hass, proxied.running(proxied.url(key=API_KEY)))
    await setup_entry(hass, entry)

    assert entry.state is ConfigEntryState.LOADED
    assert_energy(hass, entity_registry, proxied.meter)

    proxied.meter.advance(3600)  # an hour at the simulated load
    await poll(hass)
    assert_energy(hass, entity_registry, proxied.meter)
    # Polls reuse the open port: one API connection, one port subscription.
    assert proxied.device.connections == 1
    assert proxied.proxy.sessions == 1
    assert_clean_session(proxied)


async def test_device_away_and_back(
    hass: HomeAssistant, start_proxy: StartProxy, entity_registry: er.EntityRegistry
) -> None:
    """The ESP32 going away makes the entities unavailable; once it is back they recover."""
    proxied = await start_proxy()
    entry = make_entry(hass, proxied.running(proxied.url()))
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    assert_energy(hass, entity_registry, proxied.meter)

    await proxied.device.stop()  # restarts, or is switched off: its sockets close
    # serialx 1.11.0 closes the port when the API connection closes. serialx 1.7.0 does not
    # notice: the poll's first write raises aioesphomeapi's APIConnectionError out of the
    # transport. Either way the client must report the port as failed and drop it, so that a
    # later poll opens it again.
    await poll(hass)
    assert_unavailable(hass, entity_registry, proxied.meter)
    assert not coordinator.last_update_success
    assert coordinator.last_exception.translation_key == "cannot_connect"

    await poll(hass)  # reopening the port fails while the device is away
    assert_unavailable(hass, entity_registry, proxied.meter)
    assert coordinator.last_exception.translation_key == "cannot_connect"
    error = coordinator.last_exception.translation_placeholders["error"]
    assert error.startswith(f"cannot open {proxied.url()}: ")

    proxied.meter.advance(3600)
    await proxied.device.start()  # back, on the same address
    await poll(hass)
    assert coordinator.last_update_success
    assert_energy(hass, entity_registry, proxied.meter)
    assert proxied.device.connections == 2
    assert proxied.proxy.sessions == 2
    assert_clean_session(proxied)
