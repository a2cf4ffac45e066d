"""The backfill in the entry's diagnostics: what the load profile logs, how far it reaches back,
what is pending, and why it cannot be used if it cannot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..nes_client.history import DataSet
from .backfill import HistoryBackfill
from .meter import entity_key


def backfill_diagnostics(backfill: HistoryBackfill) -> dict[str, Any]:
    profile = backfill.profile
    config = profile.configuration
    energy_set = config.energy_set() if config else None
    extent = profile.extent
    return {
        "problem": profile.problem,
        "last_read": backfill.last_read.isoformat() if backfill.last_read else None,
        "pending": [job.as_dict() for job in backfill.jobs],
        "extent": None
        if extent is None
        else {"oldest": extent.oldest.isoformat(), "newest": extent.newest.isoformat()},
        "sets": None
        if config is None
        else [
            _data_set(item, used=energy_set is not None and item.index == energy_set.index)
            for item in config.sets
        ],
    }


def _data_set(item: DataSet, *, used: bool) -> dict[str, Any]:
    return {
        "set": item.index + 1,
        "used_for_history": used,
        "interval_minutes": round(item.interval / timedelta(minutes=1)),
        "blocks": item.dimensions.blocks,
        "intervals_per_block": item.dimensions.intervals,
        "depth_days": round(item.depth / timedelta(days=1), 2),
        "channels": [
            {
                "channel": channel.channel,
                "source": channel.source,
                "name": channel.name,
                "entity": entity_key(channel.energy) if channel.energy else None,
            }
            for channel in item.channels
        ],
    }
