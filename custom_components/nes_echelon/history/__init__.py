"""Fill the Energy dashboard's gaps from the meter's own history (its load profile).

When Home Assistant or the probe is down for hours, the recorder sees no reading for the hours
of the gap and puts the whole gap's consumption into the first hour after it: a spike, in the
wrong hour. The meter logged the truth: INT32 snapshots of its import/export registers at each
interval end. After a gap (no good read for longer than ``GAP_MIN``), the backfill reads the
profile for the gap, between regular polls and one request at a time, and rewrites the gap's
hourly statistics of the energy entities (see the README, "History from the meter").

Each entity's own statistics are rewritten (statistic id = entity id, source ``recorder``).
For a total_increasing sensor, ``sum - state`` is constant within a meter cycle, so each gap
hour H gets ``state = reading at H's end`` and ``sum = state + (sum - state of the row before
the gap)``: the ``sum`` stays continuous, the hour after the gap keeps only its own
consumption, and no row outside the gap is written. An hour whose reading is not usable (power
failure, a skipped or otherwise flagged value, or none) is left as the recorder had it and
logged; only where the recorder's row would make the sum run backwards (the flat rows it
compiles while Home Assistant was down) is it set to "no consumption", so the next known hour
gets that consumption, never a negative one.

The parts:
- ``backfill``: the lifecycle (gaps, stored jobs, when to work, when to give up);
- ``fill``: one job's work (read the profile, rewrite each entity's rows, log the outcome);
- ``meter``: the load profile, read through the coordinator's port one request at a time;
- ``hours``: the hour arithmetic (pure: no Home Assistant);
- ``recorder``: the only module that knows the recorder's internals;
- ``action``: the ``import_history`` action's checks;
- ``diagnostics``: the backfill's part of the entry's diagnostics.
"""

from __future__ import annotations

from .action import async_import_history
from .backfill import HistoryBackfill, history_store
from .diagnostics import backfill_diagnostics

__all__ = ["HistoryBackfill", "async_import_history", "backfill_diagnostics", "history_store"]
