"""Diagnostics: everything needed to understand a report, never the meter key nor personal
data (the meter's serial number, a network port's host)."""

from __future__ import annotations

import json

from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.nes_echelon.const import CONF_KEY, CONF_LINK, CONF_PORT
from custom_components.nes_echelon.diagnostics import (
    async_get_config_entry_diagnostics,
    redact_port_host,
)

from .conftest import SERIAL, RunningMeter, StartMeter, make_entry, setup_entry


@pytest.mark.parametrize("link", ["optical", "mep"])
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    start_meter: StartMeter,
    link: str,
) -> None:
    """Served over HTTP as users download it: entry, meter identity, last reading."""
    running = await start_meter(link=link)
    entry = make_entry(hass, running, options={"scan_interval": 30})
    await setup_entry(hass, entry)

    diag = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diag["entry"] == {
        "data": {
            CONF_PORT: f"socket://{REDACTED}:{running.tcp_port}",
            CONF_LINK: link,
            CONF_KEY: REDACTED,
        },
        "options": {"scan_interval": 30},
        "unique_id": REDACTED,
    }
    meter = diag["meter"]
    assert meter["serial_number"] == REDACTED
    assert meter["manufacturer"] == "NES"
    assert meter["model"] == "83331-3I"
    assert meter["firmware"] == "3.80.05"
    assert meter["phases"] == 3
    assert meter["dimensions"]["tiers"] == 4
    assert diag["last_update_success"] is True

    snapshot = diag["snapshot"]
    assert snapshot["total"]["import_wh"] == 33_821_691
    assert snapshot["total"]["export_wh"] == 1_739_085
    assert len(snapshot["tiers"]) == 4
    assert snapshot["present"]["power_import"] == 1070.0
    assert snapshot["present"]["voltage_l1"] == 231.392
    status = diag["status"]
    assert status["current_tier"] == 0
    assert status["alarms"]["power_failure"] is False
    assert isinstance(status["clock"], str)
    assert diag["published_energy"]["energy_import"] == 33821.691
    assert diag["published_energy"]["tier_3_energy_import"] == 0.0  # a tier never in force

    text = json.dumps(diag)
    assert running.key not in text
    assert running.meter.key.hex() not in text.lower()
    assert SERIAL not in text
    assert "127.0.0.1" not in text


async def test_diagnostics_redacts_a_hex_key(hass: HomeAssistant, meter: RunningMeter) -> None:
    """The key as 40 hex digits is redacted just the same (direct call, no HTTP)."""
    hex_key = meter.meter.key.hex()
    entry = make_entry(hass, meter, key=hex_key)
    await setup_entry(hass, entry)

    diag = await async_get_config_entry_diagnostics(hass, entry)

    text = json.dumps(diag)
    assert hex_key not in text.lower()
    assert meter.key not in text
    assert diag["entry"]["data"][CONF_KEY] == REDACTED
    assert diag["snapshot"] is not None


async def test_diagnostics_while_the_meter_is_gone(
    hass: HomeAssistant, meter: RunningMeter
) -> None:
    """After a failed poll the last good reading is still there, and marked as stale."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    await meter.sim.close()
    await entry.runtime_data.coordinator.async_refresh()

    diag = await async_get_config_entry_diagnostics(hass, entry)

    assert diag["last_update_success"] is False
    assert diag["snapshot"]["total"]["import_wh"] == 33_821_691
    assert meter.key not in json.dumps(diag)


async def test_diagnostics_keep_a_device_path(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """A /dev/... path names the adapter, not the home: it stays, for support."""
    running = await start_meter(via="pty")
    entry = make_entry(hass, running)
    await setup_entry(hass, entry)

    diag = await async_get_config_entry_diagnostics(hass, entry)

    assert diag["entry"]["data"][CONF_PORT] == running.port
    assert diag["entry"]["unique_id"] == REDACTED
    assert SERIAL not in json.dumps(diag)


async def test_diagnostics_redact_the_serial_number_in_any_text(
    hass: HomeAssistant, meter: RunningMeter
) -> None:
    """The serial number names the entry and the device too ("83331-3I 0710123456"): wherever
    it turns up in a text (here: a problem the load profile reported), it is redacted."""
    entry = make_entry(hass, meter)
    await setup_entry(hass, entry)
    entry.runtime_data.history.profile.problem = f"{entry.title}: no load profile"

    diag = await async_get_config_entry_diagnostics(hass, entry)

    assert diag["load_profile"]["problem"] == f"83331-3I {REDACTED}: no load profile"
    assert SERIAL not in json.dumps(diag)


@pytest.mark.parametrize(
    ("port", "shown"),
    [
        ("socket://192.168.1.5:2000", f"socket://{REDACTED}:2000"),
        ("rfc2217://meter-bridge.local:4000", f"rfc2217://{REDACTED}:4000"),
        ("socket://[fe80::1]:2000", f"socket://{REDACTED}:2000"),
        ("socket://bridge", f"socket://{REDACTED}"),
        ("rfc2217://user:secret@10.0.0.2:4000", f"rfc2217://{REDACTED}:4000"),
        (
            "esphome://10.0.0.7:6053/?port_name=probe&key=c2VjcmV0",
            f"esphome://{REDACTED}:6053/?port_name=probe&key=REDACTED",
        ),
        ("/dev/serial/by-id/usb-FTDI_FT232R-if00-port0", None),
        ("/dev/ttyUSB0", None),
    ],
)
def test_port_hosts_are_redacted(port: str, shown: str | None) -> None:
    assert redact_port_host(port) == (shown or port)
