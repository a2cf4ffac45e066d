"""Snapshots of every entity (registry entry and state) the integration makes for a meter.

The way core integrations do it: one platform loaded at a time (`snapshot_platform` wants a
single platform per entry), every entity enabled, the wall clock frozen and the simulated
meter static (its registers grow only when a test calls `advance()`), so that each run
writes the same snapshot. Update with `--snapshot-update` after a deliberate change.

Time stands still (the freezer does not tick): the time of the last read and the meter
clock's drift come out the same every run. The loop clock stands still too, so MEP's 100 ms
request spacing (an `asyncio.sleep`) would never end: it is set to 0, as in test_security.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from unittest.mock import PropertyMock, patch

from awesomeversion import AwesomeVersion
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform, __version__ as ha_version
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.nes_echelon.nes_client import mep
from nes_echelon_dev.simulator import SimulatedMeter

from .conftest import Link, StartMeter, make_entry, setup_entry

# The snapshots are written by HA 2026.10. Older versions serialize the same entities with
# other keys (2026.5: plain strings where 2026.10 has enum keys, e.g. 'state_class' for
# SensorEntityCapabilityAttribute.STATE_CLASS in capabilities, 'device_class' for
# EntityStateAttribute.DEVICE_CLASS in state attributes), so they cannot match one snapshot set.
SNAPSHOT_HA = "2026.10"
pytestmark = pytest.mark.skipif(
    AwesomeVersion(ha_version) < AwesomeVersion(SNAPSHOT_HA),
    reason=f"snapshots are written by HA >= {SNAPSHOT_HA}; HA {ha_version} serializes "
    "entity capabilities and state attributes with other keys",
)

FROZEN_AT = "2026-03-14T09:26:53+00:00"

# (id, meter factory, link): the default 3-phase, 4-tier meter on the optical port, and a
# single-phase, 1-tier meter on MEP.
METERS = [
    pytest.param(lambda: None, "optical", id="three_phase_optical"),
    pytest.param(lambda: SimulatedMeter(phases=1, tiers=1), "mep", id="single_phase_mep"),
]


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Syrupy's assertion with Home Assistant's serializer (and the `snapshots` folder).

    The harness defines this fixture too, but syrupy's own plugin, registered after it,
    shadows it; core has it in its conftest, which wins over both.
    """
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Every entity enabled when first registered (the core test fixture of this name)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.mark.freeze_time(FROZEN_AT)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.parametrize(("make_meter", "link"), METERS)
async def test_entities(
    hass: HomeAssistant,
    start_meter: StartMeter,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    make_meter: Callable[[], SimulatedMeter | None],
    link: Link,
    platform: Platform,
) -> None:
    """Every entity of the platform, enabled, with its registry entry and its state."""
    monkeypatch.setattr(mep, "MIN_REQUEST_SPACING", 0.0)  # a sleep on a clock that stands still
    running = await start_meter(make_meter(), link=link)
    entry = make_entry(hass, running)
    with patch("custom_components.nes_echelon.PLATFORMS", [platform]):
        await setup_entry(hass, entry)

    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
