"""Polls the meter: one connection kept open, reopened after any failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_KEY,
    CONF_LINK,
    CONF_PORT,
    CONF_SCAN_INTERVAL,
    CONF_STATUS_INTERVAL,
    CONF_TIMEOUT,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_STATUS_INTERVAL,
    DOMAIN,
    ENERGY_KEYS,
    REACTIVE_ENERGY_KEYS,
    TIER_ENERGY_KEYS,
    tier_energy_key,
)
from .guard import EnergyGuard
from .nes_client import (
    AuthenticationFailed,
    IntegrityError,
    MeterClient,
    MeterIdentity,
    MeterStatus,
    NesError,
    NoResponse,
    PollOptions,
    PortMissing,
    Snapshot,
    connect,
    error_key,
    parse_key,
)
from .nes_client.tables import PRESENT_KEYS

_LOGGER = logging.getLogger(__name__)

CLOCK_DRIFT_LIMIT = 300  # seconds; a few minutes skews tariffs and the load profile
ENERGY_STORE_VERSION = 1
ENERGY_SAVE_DELAY = 300  # seconds; and at once when the entry unloads


@dataclass(frozen=True, slots=True)
class MeterData:
    """What the entities show: the last poll and the last status read."""

    snapshot: Snapshot
    status: MeterStatus | None
    read_at: datetime
    energy: dict[str, float | None]
    """Energy registers in kWh / kvarh after the guard: None where publishing would mislead."""
    clock_drift: float | None = None
    """Meter clock minus Home Assistant's, in seconds, as of the last status read."""


class NesEchelonCoordinator(DataUpdateCoordinator[MeterData]):
    """Owns the meter connection; entities only ever see verified, guarded values."""

    config_entry: ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        scan = entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=timedelta(seconds=scan),
        )
        self.identity: MeterIdentity | None = None
        self.guard = EnergyGuard()
        # The guard's last published values, so that a restart does not forget them.
        self._energy_store: Store[dict[str, float]] = energy_store(hass, entry.entry_id)
        self._client: MeterClient | None = None
        # One exchange at a time on the port: a close (unload, reload) waits for a poll in
        # progress instead of talking to the meter while the poll's read is pending.
        self._lock = asyncio.Lock()
        self._status: MeterStatus | None = None
        self._status_read: float | None = None
        self._clock_drift: float | None = None
        self._status_interval = entry.options.get(CONF_STATUS_INTERVAL, DEFAULT_STATUS_INTERVAL)
        self._first_poll_done = False  # the entities are made from the first poll

    async def _async_setup(self) -> None:
        self.guard.restore(await self._energy_store.async_load() or {})
        async with self._lock, self._translated_errors():
            await self._ensure_client()

    async def _async_update_data(self) -> MeterData:
        async with self._lock, self._translated_errors():
            client = await self._ensure_client()
            client.options = self._poll_options()
            snapshot = await client.read()
            status = await self._maybe_read_status(client)
        ir.async_delete_issue(self.hass, DOMAIN, self._port_issue_id)
        energy = {
            key: self.guard.accept(key, value, zero_ok=key.startswith("tier_"))
            for key, value in energy_registers(snapshot).items()
        }
        if resets := self.guard.take_resets():
            # Once per reset, not per poll: a new meter, or its registers cleared.
            _LOGGER.warning(
                "%s: energy registers went down and stayed down, published as a meter reset: %s",
                self.config_entry.title,
                ", ".join(resets),
            )
        self._energy_store.async_delay_save(self.guard.published, ENERGY_SAVE_DELAY)
        self._first_poll_done = True
        return MeterData(
            snapshot=snapshot,
            status=status,
            read_at=dt_util.utcnow(),
            energy=energy,
            clock_drift=self._clock_drift,
        )

    def _poll_options(self) -> PollOptions:
        """What the entities Home Assistant has (the enabled ones) need, from their contexts:
        the link is slow. The first poll reads everything (the entities are made from it);
        enabling or disabling an entity reloads the entry, and its entities' contexts follow."""
        if not self._first_poll_done:
            return PollOptions()
        needed: set[str] = set()
        for context in self.async_contexts():
            needed |= context
        return PollOptions(
            present=frozenset(needed & PRESENT_KEYS),
            tiers=not needed.isdisjoint(TIER_ENERGY_KEYS),
        )

    @asynccontextmanager
    async def _translated_errors(self) -> AsyncIterator[None]:
        """Close the port on any failure and say what went wrong in the user's language."""
        try:
            yield
        except AuthenticationFailed as err:
            # Never retried on our own: the meter logs each failure and may lock its port.
            await self._close_client()
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_key"
            ) from err
        except NesError as err:
            await self._close_client()
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key(err),
                translation_placeholders={"error": str(err)},
            ) from err

    async def _ensure_client(self) -> MeterClient:
        if self._client is not None:
            return self._client
        data = self.config_entry.data
        options = self.config_entry.options
        try:
            client = await connect(
                data[CONF_PORT],
                data[CONF_LINK],
                parse_key(data[CONF_KEY]),
                response_timeout=options.get(CONF_TIMEOUT),
                options=PollOptions(),
            )
        except PortMissing:
            self._raise_port_missing()
            raise
        assert client.identity is not None
        unique_id = self.config_entry.unique_id
        if unique_id is not None and client.identity.serial_number != unique_id:
            await client.close()
            if self.config_entry.state is ConfigEntryState.LOADED:
                # Found by a poll after set-up (the port now leads to another meter): a failed
                # poll would leave the entry loaded, retrying for ever. Set it up again, so that
                # set-up fails and the entry shows why.
                self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="wrong_meter",
                translation_placeholders={
                    "expected": unique_id,
                    "found": client.identity.serial_number,
                },
            )
        self.identity = client.identity
        self._client = client
        return client

    async def _maybe_read_status(self, client: MeterClient) -> MeterStatus | None:
        """Alarms, tier and clock change rarely and the link is slow: read them now and then."""
        now = self.hass.loop.time()
        if self._status_read is None or now - self._status_read >= self._status_interval:
            try:
                self._status = await client.read_status()
            except (NoResponse, IntegrityError) as err:
                # The poll itself succeeded; keep the last status rather than fail it.
                _LOGGER.debug("status read failed, keeping the last one: %s", err)
            else:
                self._status_read = now
                self._update_status_issues(self._status)
                if client.identity != self.identity:
                    # The meter re-read changed dimensions (tiers, slots): entities follow
                    # only through a reload.
                    _LOGGER.info("the meter's dimensions changed; reloading")
                    self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)
        return self._status

    def _update_status_issues(self, status: MeterStatus) -> None:
        """Repairs for what only the user (or the grid company) can fix."""
        entry_id = self.config_entry.entry_id
        drift = None
        if status.clock is not None:
            drift = (status.clock - dt_util.utcnow()).total_seconds()
        self._clock_drift = drift
        if drift is not None and abs(drift) > CLOCK_DRIFT_LIMIT:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"clock_drift_{entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="clock_drift",
                translation_placeholders={
                    "title": self.config_entry.title,
                    "minutes": str(round(abs(drift) / 60)),
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, f"clock_drift_{entry_id}")
        if status.alarms is not None and status.alarms.key_expiration_pending:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"key_expiration_{entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="key_expiration",
                translation_placeholders={"title": self.config_entry.title},
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, f"key_expiration_{entry_id}")

    @property
    def _port_issue_id(self) -> str:
        return f"port_missing_{self.config_entry.entry_id}"

    def _raise_port_missing(self) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._port_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="port_missing",
            translation_placeholders={
                "port": self.config_entry.data[CONF_PORT],
                "title": self.config_entry.title,
            },
        )

    @property
    def client(self) -> MeterClient | None:
        """The open client, if any (history/ reads the load profile through it)."""
        return self._client

    @asynccontextmanager
    async def async_exclusive_client(self) -> AsyncIterator[MeterClient | None]:
        """The port to oneself for one exchange between polls (history reads)."""
        async with self._lock:
            yield self._client

    async def async_close(self) -> None:
        """Close the port once no poll uses it; the next poll opens it again.

        On unload it runs once, from async_shutdown (DataUpdateCoordinator registers that
        with the entry itself)."""
        async with self._lock:
            await self._close_client()
        if self.guard.published():
            await self._energy_store.async_save(self.guard.published())

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def async_shutdown(self) -> None:
        await super().async_shutdown()
        await self.async_close()


def energy_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, float]]:
    """Where the last published energy values of an entry are kept."""
    return Store(hass, ENERGY_STORE_VERSION, f"{DOMAIN}.energy.{entry_id}")


def energy_registers(snapshot: Snapshot) -> dict[str, float | None]:
    """Every energy register by entity key, in kWh and kvarh (tier registers by
    tier_energy_key, the reactive ones too, though no entity shows those)."""
    values: dict[str, float | None] = {}
    for tier, block in enumerate((snapshot.total, *snapshot.tiers)):
        registers = (
            block.import_wh,
            block.export_wh,
            block.reactive_import_varh,
            block.reactive_export_varh,
        )
        for key, value in zip(ENERGY_KEYS + REACTIVE_ENERGY_KEYS, registers, strict=True):
            values[tier_energy_key(tier, key) if tier else key] = (
                None if value is None else value / 1000
            )
    return values
