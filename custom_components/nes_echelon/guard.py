"""Keeps bad energy values out of the Energy dashboard.

A total_increasing sensor that drops to 0 or below its last value starts a new meter cycle in
the statistics: one bad value is a spike in every energy graph. The wire checks already keep
corrupt bytes out; this guard catches what a verified read can still show (a register reset).
"""

from __future__ import annotations

from collections.abc import Mapping

# A drop is published only after this many readings in a row stayed below the last published
# value and counted on from their new base (never down again): a real reset (meter replaced,
# registers cleared) does that while the house keeps using power, a glitch does not.
CONFIRMATIONS = 3


class EnergyGuard:
    """Per-register filter: returns the value to publish, or None for unknown."""

    def __init__(self, confirmations: int = CONFIRMATIONS) -> None:
        self._confirmations = confirmations
        self._last: dict[str, float] = {}
        self._drops: dict[str, tuple[float, int]] = {}  # key: (latest low reading, how many)
        self._resets: list[str] = []

    def accept(self, key: str, value: float | None, *, zero_ok: bool = False) -> float | None:
        """`zero_ok`: a register that may truly stay 0 for ever (a tier never in force)."""
        if value is None:
            return None
        last = self._last.get(key)
        if last is None or value >= last:
            if value == 0 and last is None and not zero_ok:
                # A total that reads 0 from the start looks like a failed read; if it is not,
                # the first Wh counted makes it appear.
                return None
            self._last[key] = value
            self._drops.pop(key, None)
            return value
        previous, seen = self._drops.get(key, (value, 0))
        seen = seen + 1 if value >= previous else 1  # a register counts up from its new base
        if seen >= self._confirmations:
            self._last[key] = value
            self._drops.pop(key, None)
            self._resets.append(key)
            return value
        self._drops[key] = (value, seen)
        return None

    def published(self) -> dict[str, float]:
        """The last value published for each register: kept across restarts and reloads."""
        return dict(self._last)

    def restore(self, published: Mapping[str, object]) -> None:
        """Start from the values published before a restart or reload, so that a lower first
        reading is a drop like any other, not a new start (a spike in the statistics)."""
        for key, value in published.items():
            if isinstance(value, int | float) and key not in self._last:
                self._last[key] = float(value)

    def take_resets(self) -> list[str]:
        """The registers whose drop was published (a reset) since the last call."""
        resets, self._resets = self._resets, []
        return resets
