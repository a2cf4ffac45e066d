"""The meter key inside Home Assistant: in no log line (debug level, every logger), in no
diagnostics, error message or repair, through set-up, polls, reconnections, a key change
with a wrong attempt, and unload, on both links and with an echoing IR head."""

from __future__ import annotations

import json
import logging

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.nes_echelon.const import CONF_KEY
from custom_components.nes_echelon.nes_client import mep
from nes_echelon_dev.simulator import Faults, SimulatedMeter
from tests.nes_client.test_security import assert_no_key

from .conftest import StartMeter, make_entry, poll, setup_entry

KEY = b"Kq9#vT2$wX7!pL4@zR8&"
NEW_KEY = b"Nn8*Mm7&Ll6^Kk5%Jj4$"
WRONG_KEY = b"Ww0!Ee9@Rr8#Tt7$Yy6%"


@pytest.mark.parametrize(
    ("link", "echo", "via"),
    [
        ("optical", False, "tcp"),
        ("optical", True, "pty"),  # the serial library logs every chunk of a device
        ("mep", False, "pty"),
    ],
    ids=["optical-bridge", "optical-echoing-head-device", "mep-device"],
)
async def test_the_key_is_never_shown(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    start_meter: StartMeter,
    caplog: pytest.LogCaptureFixture,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
    link: str,
    echo: bool,
    via: str,
) -> None:
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)
    caplog.set_level(logging.DEBUG)
    for name in ("custom_components.nes_echelon", "homeassistant", "serialx"):
        caplog.set_level(logging.DEBUG, logger=name)
    running = await start_meter(
        SimulatedMeter(key=KEY), link=link, via=via, faults=Faults(echo=echo)
    )
    entry = make_entry(hass, running, options={"timeout": 0.2})
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    coordinator = entry.runtime_data.coordinator

    # Polls, a dropped line or a meter reboot (the password sent again), a corrupt answer.
    await poll(hass)
    if via == "tcp":
        running.sim.faults.disconnect = 1  # a pty's simulator serves one connection only
    else:
        running.sim.reboot()
    await poll(hass)
    await poll(hass)
    running.sim.faults.bad_crc = running.sim.faults.bad_digest = 1
    await poll(hass)
    assert coordinator.last_update_success
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    # The grid company changes the key; the user first types a wrong one, then the new one.
    running.meter.key = NEW_KEY
    running.sim.reboot()
    await poll(hass)
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == SOURCE_REAUTH
    failed = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_KEY: WRONG_KEY.decode()}
    )
    assert failed["errors"] == {"base": "invalid_key"}
    done = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_KEY: NEW_KEY.decode()}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert done["reason"] == "reauth_successful"
    assert entry.state is ConfigEntryState.LOADED
    diagnostics_after = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    shown = [
        caplog.text,
        "\n".join(repr(record.args) for record in caplog.records),
        json.dumps(diagnostics),
        json.dumps(diagnostics_after),
        json.dumps(failed, default=str),
        json.dumps(done, default=str),
        str(entry.reason),
        str(coordinator.last_exception),
        repr(coordinator.last_exception),
        json.dumps([issue.to_json() for issue in issue_registry.issues.values()], default=str),
    ]
    assert "tx " in caplog.text  # the frames were logged, masked
    for key in (KEY, NEW_KEY, WRONG_KEY):
        for text in shown:
            assert_no_key(text, key)
