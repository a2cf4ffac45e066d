"""The config flow reads the real (simulated) meter before it saves anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
import pytest
import voluptuous as vol

from custom_components.nes_echelon import config_flow
from custom_components.nes_echelon.const import (
    CONF_KEY,
    CONF_LINK,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_STATUS_INTERVAL,
    CONF_TIMEOUT,
    DOMAIN,
)
from custom_components.nes_echelon.nes_client import (
    MeterClient,
    NesError,
    UnsupportedMeter,
    connect as real_connect,
)
from nes_echelon_dev.simulator import Faults, SimulatedMeter

from .conftest import RunningMeter, StartMeter, make_entry, setup_entry

SERIAL = "0710123456"
TITLE = f"83331-3I {SERIAL}"
WRONG_KEY = "ZYXWVUTSRQPONMLKJIHG"
MISSING_DEVICE = "/dev/ttyUSB-nes-echelon-does-not-exist"


def form_defaults(result: FlowResult) -> dict[str, Any]:
    """The values a form shows pre-filled (the schema's defaults)."""
    return {
        str(marker): marker.default()
        for marker in result["data_schema"].schema
        if marker.default is not vol.UNDEFINED
    }


def suggested_values(result: FlowResult) -> dict[str, Any]:
    return {
        str(marker): (marker.description or {}).get("suggested_value")
        for marker in result["data_schema"].schema
    }


async def start_user_flow(hass: HomeAssistant) -> FlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result


async def closed_tcp_port(start_meter: StartMeter) -> str:
    """A socket:// address nothing listens on (a bridge that is switched off)."""
    running = await start_meter()
    await running.sim.close()
    return running.port


def connect_then(arm: Callable[[], None]) -> Callable[..., Awaitable[MeterClient]]:
    """The flow's connect(), with something done to the meter once it is connected."""

    async def connect(*args: Any, **kwargs: Any) -> MeterClient:
        client = await real_connect(*args, **kwargs)
        arm()
        return client

    return connect


# -- user step ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "via"), [("optical", "tcp"), ("mep", "tcp"), ("optical", "pty"), ("mep", "pty")]
)
async def test_user_creates_entry(
    hass: HomeAssistant, start_meter: StartMeter, link: str, via: str
) -> None:
    """The meter is read; the entry is titled and keyed by its serial number, then loads."""
    running = await start_meter(link=link, via=via)
    result = await start_user_flow(hass)
    assert form_defaults(result) == {CONF_LINK: "optical"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        # Pasted values often carry spaces: they are stripped before use and storage.
        {CONF_PORT: f" {running.port} ", CONF_LINK: link, CONF_KEY: f" {running.key} "},
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TITLE
    assert result["data"] == {CONF_PORT: running.port, CONF_LINK: link, CONF_KEY: running.key}
    entry = result["result"]
    assert entry.unique_id == SERIAL
    assert entry.options == {}
    assert entry.state is ConfigEntryState.LOADED
    assert running.failed_logons == 0


async def test_user_accepts_hex_key(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """The same 20 key bytes as 40 hex digits work too, and are stored as typed."""
    running = await start_meter(link="mep")
    hex_key = running.meter.key.hex().upper()
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], running.data | {CONF_KEY: hex_key}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_KEY] == hex_key
    assert result["result"].state is ConfigEntryState.LOADED


@pytest.mark.parametrize("where", ["tcp", "device"])
async def test_user_cannot_connect(
    hass: HomeAssistant, start_meter: StartMeter, where: str
) -> None:
    """A port that cannot be opened: cannot_connect (port_missing for a device path that does
    not exist), the input is kept, a good port works."""
    running = await start_meter()
    bad_port = await closed_tcp_port(start_meter) if where == "tcp" else MISSING_DEVICE
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], running.data | {CONF_PORT: bad_port, CONF_LINK: "mep"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "cannot_connect" if where == "tcp" else "port_missing"}
    assert form_defaults(result) == {CONF_PORT: bad_port, CONF_LINK: "mep"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], running.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_user_timeout(
    hass: HomeAssistant,
    start_meter: StartMeter,
    monkeypatch: pytest.MonkeyPatch,
    link: str,
) -> None:
    """The meter does not answer (probe off the meter): timeout; fine once it answers."""
    monkeypatch.setattr(config_flow, "connect", partial(real_connect, response_timeout=0.05))
    running = await start_meter(link=link, faults=Faults(silence=99))
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], running.data)

    assert result["errors"] == {"base": "timeout"}
    assert form_defaults(result) == {CONF_PORT: running.port, CONF_LINK: link}

    running.sim.faults.clear()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], running.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_user_invalid_key(hass: HomeAssistant, start_meter: StartMeter, link: str) -> None:
    """A rejected key is tried once (the meter logs each try), then the right key works."""
    running = await start_meter(link=link)
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], running.data | {CONF_KEY: WRONG_KEY}
    )

    assert result["errors"] == {"base": "invalid_key"}
    assert form_defaults(result) == {CONF_PORT: running.port, CONF_LINK: link}
    assert running.failed_logons == 1

    result = await hass.config_entries.flow.async_configure(result["flow_id"], running.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert running.failed_logons == 1


@pytest.mark.parametrize("key", ["too short", "0123456789ABCDEFGHIJK", "é" * 20, "0" * 39 + "g"])
async def test_user_invalid_key_format(hass: HomeAssistant, meter: RunningMeter, key: str) -> None:
    """A key that is neither 20 characters nor 40 hex digits never reaches the meter."""
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], meter.data | {CONF_KEY: key}
    )

    assert result["errors"] == {"base": "invalid_key_format"}
    assert meter.sim.connections == 0

    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (UnsupportedMeter("table format 0x00"), "unsupported_meter"),
        (NesError("something else"), "meter_error"),
        (RuntimeError("a bug of ours"), "unknown"),
    ],
)
async def test_user_connect_errors(
    hass: HomeAssistant,
    meter: RunningMeter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    reason: str,
) -> None:
    """Errors the simulator cannot produce on demand map to their own form errors; anything
    else is "unknown", logged with its traceback."""

    async def failing_connect(*args: Any, **kwargs: Any) -> MeterClient:
        raise error

    monkeypatch.setattr(config_flow, "connect", failing_connect)
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter.data)

    assert result["errors"] == {"base": reason}
    assert form_defaults(result) == {CONF_PORT: meter.port, CONF_LINK: "optical"}
    traced = [r for r in caplog.records if r.exc_info and r.name == config_flow.__name__]
    assert len(traced) == (reason == "unknown")

    monkeypatch.setattr(config_flow, "connect", real_connect)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_read_fails_after_identify(
    hass: HomeAssistant, start_meter: StartMeter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The meter identifies itself but its reading then fails: each failure is its error."""
    running = await start_meter(link="mep")
    faults = running.sim.faults
    result = await start_user_flow(hass)

    async def submit(
        arm: Callable[[], None], *, response_timeout: float | None = None
    ) -> FlowResult:
        connect = connect_then(arm)
        if response_timeout is not None:
            connect = partial(connect, response_timeout=response_timeout)
        monkeypatch.setattr(config_flow, "connect", connect)
        return await hass.config_entries.flow.async_configure(result["flow_id"], running.data)

    # The meter falls silent after answering who it is.
    result = await submit(lambda: setattr(faults, "silence", 99), response_timeout=0.05)
    assert result["errors"] == {"base": "timeout"}
    faults.clear()

    # Its answers keep failing their digests: never decoded, and said so.
    result = await submit(lambda: setattr(faults, "bad_digest", 99))
    assert result["errors"] == {"base": "integrity"}
    faults.clear()

    # The meter was given a new key between the identification and the reading.
    def rekey() -> None:
        running.meter.key = WRONG_KEY.encode()

    result = await submit(rekey)
    assert result["errors"] == {"base": "invalid_key"}
    assert form_defaults(result) == {CONF_PORT: running.port, CONF_LINK: "mep"}

    running.meter.key = b"0123456789ABCDEFGHIJ"
    monkeypatch.setattr(config_flow, "connect", real_connect)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], running.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_already_configured(hass: HomeAssistant, meter: RunningMeter) -> None:
    """The same meter again (on any port): aborted, nothing changed."""
    entry = make_entry(hass, meter, port="/dev/serial/by-id/old-probe")
    result = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], meter.data)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == "/dev/serial/by-id/old-probe"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# -- reconfigure -------------------------------------------------------------------------


async def test_reconfigure_moves_to_another_port(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """Same meter, new port and link: data updated, entry reloaded on the new port."""
    meter = SimulatedMeter()
    old = await start_meter(meter)
    new = await start_meter(meter, link="mep", via="pty")
    entry = make_entry(hass, old)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator

    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert form_defaults(result) == {CONF_PORT: old.port, CONF_LINK: "optical"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PORT: new.port, CONF_LINK: "mep", CONF_KEY: f"{new.key} "}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.data) == {CONF_PORT: new.port, CONF_LINK: "mep", CONF_KEY: new.key}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is not coordinator  # reloaded
    assert old.sim.connections == 1  # and not back on the old port
    assert hass.states.get("sensor.nes_83331_3i_energy_import").state == "33821.691"


async def test_reconfigure_wrong_meter(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """Another meter answers on the new port: aborted, the entry keeps its data."""
    mine = await start_meter()
    other = await start_meter(SimulatedMeter(serial_number="0710999999"))
    entry = make_entry(hass, mine)
    await setup_entry(hass, entry)
    before = dict(entry.data)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], other.data)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    assert dict(entry.data) == before
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_errors_then_success(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """Errors show on the reconfigure form with the input kept; a good input then saves."""
    running = await start_meter()
    entry = make_entry(hass, running, key=WRONG_KEY)  # e.g. after a key change
    bad_port = await closed_tcp_port(start_meter)

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], running.data | {CONF_PORT: bad_port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {"base": "cannot_connect"}
    assert form_defaults(result) == {CONF_PORT: bad_port, CONF_LINK: "optical"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], running.data | {CONF_KEY: WRONG_KEY}
    )
    assert result["errors"] == {"base": "invalid_key"}
    assert running.failed_logons == 1

    result = await hass.config_entries.flow.async_configure(result["flow_id"], running.data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_KEY] == running.key
    assert entry.state is ConfigEntryState.LOADED


# -- reauth ------------------------------------------------------------------------------


async def test_reauth(hass: HomeAssistant, meter: RunningMeter) -> None:
    """A wrong key, then the right one: only the key changes, and the entry loads."""
    entry = make_entry(hass, meter, key=WRONG_KEY)

    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["title"] == entry.title
    assert list(result["data_schema"].schema) == [CONF_KEY]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: "ANOTHERWRONGKEY12345"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_key"}
    assert meter.failed_logons == 1

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: f"  {meter.key}\n"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert dict(entry.data) == meter.data  # port and link untouched, key stripped
    assert entry.state is ConfigEntryState.LOADED
    assert meter.failed_logons == 1


async def test_reauth_after_failed_setup(hass: HomeAssistant, meter: RunningMeter) -> None:
    """The reauth flow that a rejected key starts at set-up leads back to a loaded entry."""
    entry = make_entry(hass, meter, key=WRONG_KEY)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = hass.config_entries.flow.async_progress()

    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_KEY: meter.key})
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    assert hass.config_entries.flow.async_progress() == []
    assert meter.failed_logons == 1


async def test_reauth_wrong_meter(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """The port now reaches another meter: the key is not saved for this entry."""
    other = await start_meter(SimulatedMeter(serial_number="0710999999"))
    entry = make_entry(hass, other, unique_id=SERIAL, key=WRONG_KEY)

    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_KEY: other.key}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    assert entry.data[CONF_KEY] == WRONG_KEY


async def test_reauth_invalid_key_format(hass: HomeAssistant, meter: RunningMeter) -> None:
    entry = make_entry(hass, meter, key=WRONG_KEY)

    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_KEY: "x"})

    assert result["errors"] == {"base": "invalid_key_format"}
    assert meter.sim.connections == 0


# -- options -----------------------------------------------------------------------------


async def test_options(hass: HomeAssistant, meter: RunningMeter) -> None:
    """Saved options reload the entry; the coordinator polls at the new interval."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    assert entry.runtime_data.coordinator.update_interval == timedelta(seconds=10)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert form_defaults(result) == {CONF_SCAN_INTERVAL: 10, CONF_STATUS_INTERVAL: 300}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SCAN_INTERVAL: 30, CONF_STATUS_INTERVAL: 600, CONF_TIMEOUT: 1.5},
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_SCAN_INTERVAL: 30, CONF_STATUS_INTERVAL: 600, CONF_TIMEOUT: 1.5}
    assert entry.state is ConfigEntryState.LOADED
    assert meter.sim.connections == 2  # reloaded
    assert entry.runtime_data.coordinator.update_interval == timedelta(seconds=30)

    # Opened again, the form suggests what is saved.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result) == {
        CONF_SCAN_INTERVAL: 30,
        CONF_STATUS_INTERVAL: 600,
        CONF_TIMEOUT: 1.5,
    }
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 5, CONF_STATUS_INTERVAL: 60}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.options == {CONF_SCAN_INTERVAL: 5, CONF_STATUS_INTERVAL: 60}
    assert entry.runtime_data.coordinator.update_interval == timedelta(seconds=5)


@pytest.mark.parametrize(
    "options",
    [
        {CONF_SCAN_INTERVAL: 2, CONF_STATUS_INTERVAL: 300},
        {CONF_SCAN_INTERVAL: 10, CONF_STATUS_INTERVAL: 59},
        {CONF_SCAN_INTERVAL: 10, CONF_STATUS_INTERVAL: 300, CONF_TIMEOUT: 0.1},
        {CONF_SCAN_INTERVAL: 10, CONF_STATUS_INTERVAL: 300, CONF_TIMEOUT: 11},
    ],
)
async def test_options_limits(
    hass: HomeAssistant, meter: RunningMeter, options: dict[str, float]
) -> None:
    """Polling faster than the meter allows, or absurd timeouts, are refused by the form."""
    entry = make_entry(hass, meter)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    with pytest.raises(vol.Invalid):
        await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert entry.options == {}
