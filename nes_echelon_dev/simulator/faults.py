"""Faults the simulator injects on demand: everything a real link can do to a reader."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Faults:
    """One-shot faults count down as they fire (each number = how many responses to spoil).

    Both ports: silence, garbage, truncate, slow, disconnect, cut (half a response, then the
    line drops: a bumped probe or a bridge that goes away mid-packet), busy (a read answered
    0x06 "device busy") and not_possible (a read answered 0x04 "operation not possible").
    Optical: bad_crc, nak, duplicate_toggle, echo (permanent), mep_leak, first_frame_nak
    (permanent, per session). MEP: bad_digest (a corrupted response digest), forget_sequence
    (answer 0x0C), alert_before_response, alerts (permanent: `00 00` every second between
    packets).
    """

    silence: int = 0
    garbage: int = 0
    truncate: int = 0
    slow: int = 0
    slow_seconds: float = 1.0
    disconnect: int = 0
    bad_crc: int = 0
    nak: int = 0
    duplicate_toggle: int = 0
    mep_leak: int = 0
    bad_digest: int = 0
    forget_sequence: int = 0
    alert_before_response: int = 0
    cut: int = 0
    busy: int = 0
    not_possible: int = 0
    echo: bool = False
    first_frame_nak: bool = False
    alerts: bool = False

    def take(self, name: str) -> bool:
        """True (and one fewer left) if the named one-shot fault is armed."""
        left = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
            return True
        return False

    def clear(self) -> None:
        for item in fields(self):
            setattr(self, item.name, item.default)

    def refusal(self) -> bytes | None:
        """The response code an armed busy / not_possible fault puts in place of a read reply."""
        if self.take("busy"):
            return bytes([0x06])
        if self.take("not_possible"):
            return bytes([0x04])
        return None

    @classmethod
    def names(cls) -> list[str]:
        return [item.name for item in fields(cls) if item.type in ("int", int)]
