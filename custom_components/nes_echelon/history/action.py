"""The `nes_echelon.import_history` action: check a request against the meter's profile, then
queue it for the backfill. A refusal is a translated error the user sees in the UI."""

from __future__ import annotations

from datetime import datetime
import logging

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util

from ..const import DOMAIN
from ..nes_client import NesError
from ..nes_client.history import NoLoadProfile
from .backfill import HistoryBackfill
from .fill import local_time
from .hours import HistoryJob
from .meter import Interrupted, describe_sets
from .recorder import recorder_running

_LOGGER = logging.getLogger(__name__)


def validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    """What the user asked for cannot be done (as opposed to: not now)."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def unavailable_error(error: str) -> HomeAssistantError:
    """The meter cannot be asked now; the same request may work later."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="history_unavailable",
        translation_placeholders={"error": error},
    )


async def async_import_history(backfill: HistoryBackfill, start: datetime, end: datetime) -> int:
    """Validate an import of the hours in (start, end] and queue it; the number of hours."""
    start, end = dt_util.as_utc(start), dt_util.as_utc(end)
    if start >= end:
        raise validation_error("history_invalid_range")
    if end > dt_util.utcnow():
        raise validation_error("history_in_future")
    if not recorder_running(backfill.hass):
        raise validation_error("history_no_recorder")
    profile = backfill.profile
    if profile.problem is not None:
        raise validation_error("history_no_profile", error=profile.problem)
    client = backfill.coordinator.client
    if client is None or client.identity is None:
        raise unavailable_error("the meter is not connected")
    reader = profile.new_reader(client)
    try:
        config = await profile.read_configuration(reader)
        data_set = config.energy_set()
        if data_set is None:
            raise validation_error("history_no_energy_channel", sources=describe_sets(config))
        extent = await profile.read_extent(reader, data_set)
    except NoLoadProfile as err:
        raise validation_error("history_no_profile", error=str(err)) from err
    except (NesError, Interrupted) as err:
        raise unavailable_error(str(err) or "reconnected") from err
    if extent is None or start < extent.oldest - data_set.interval:
        raise validation_error(
            "history_before_profile", oldest=local_time(extent.oldest) if extent else "-"
        )
    job = HistoryJob(start, end, "action")
    _LOGGER.info(
        "%s: importing the meter's history for %s to %s (%d hours)",
        backfill.entry.title,
        local_time(start),
        local_time(end),
        len(job.hours),
    )
    backfill.queue(job)
    return len(job.hours)
