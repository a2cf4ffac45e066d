"""A household behind a 3-phase meter: base load, a kettle now and then, solar export at midday.

`HouseholdProfile` sets `SimulatedMeter.loads` from the time of day. It is deterministic: the
loads at a moment depend only on the seed and the clock's reading, so a test that gives its own
clock knows exactly what the meter shows. `MeterSimulator(live=True, on_tick=profile)` applies
it once a second, after the energy registers have grown by the second just gone.

What it models, per phase (L1, L2, L3):
- a base load that follows the day (low at night, more while people are at home, a morning and
  a larger evening peak), with a little variation from minute to minute;
- a fridge compressor on L2 (on 15 minutes in every 40);
- a 2 kW kettle on L1 for 3 minutes, now and then (more often by day than at night);
- a solar installation (3 kW at its best) feeding all three phases evenly, from 07:00 to 19:00
  with its peak at 13:00 and passing clouds; a phase that uses less than its share exports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import math
import random

from .meter import PhaseLoad, SimulatedMeter

BASE_W = (110.0, 70.0, 50.0)  # standby and always-on loads per phase
DAYTIME_W = (180.0, 90.0, 140.0)  # people at home, 07:00-23:00
MORNING_W = (250.0, 120.0, 80.0)  # extra around 07:30
EVENING_W = (450.0, 250.0, 600.0)  # extra around 18:30 (the cooker is on L3)
FRIDGE_W = 90.0  # on L2
FRIDGE_CYCLE_MIN = 40
FRIDGE_ON_MIN = 15
KETTLE_W = 2000.0  # on L1
KETTLE_MINUTES = 3
KETTLE_SLOT_MIN = 15  # at most one kettle per quarter of an hour
KETTLE_CHANCE_DAY = 0.35  # per slot, 06:00-23:00
KETTLE_CHANCE_NIGHT = 0.03
SOLAR_PEAK_W = 3000.0
SOLAR_START_H, SOLAR_END_H = 7.0, 19.0
NOMINAL_V = 230.0
LINE_OHMS = 0.25  # the voltage drops with import and rises with export
PHASE_OFFSET_V = (1.4, 3.1, 0.6)


def _local_now() -> datetime:
    return datetime.now().astimezone()


class HouseholdProfile:
    """The loads of one household over the day; call it with a meter to set the meter's loads."""

    def __init__(
        self,
        seed: int = 0,
        clock: Callable[[], datetime] = _local_now,
        *,
        solar_peak_w: float = SOLAR_PEAK_W,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.solar_peak_w = solar_peak_w

    def __call__(self, meter: SimulatedMeter) -> None:
        """Set the meter's loads for now (the tick hook of a live `MeterSimulator`)."""
        meter.loads = self.loads_at(self.clock(), phases=meter.phases)

    # -- the parts ---------------------------------------------------------------------------

    def _random(self, *what: object) -> random.Random:
        """A generator seeded by the seed and `what` (a slot of time): same inputs, same draws."""
        return random.Random(":".join(str(part) for part in (self.seed, *what)))

    def consumption(self, when: datetime) -> tuple[float, float, float]:
        """What each phase draws, in W, before solar."""
        hour = _hours(when)
        minute_of_day = int(hour * 60)
        wobble = self._random("base", when.date(), minute_of_day)
        loads = []
        for phase in range(3):
            watts = (
                BASE_W[phase]
                + DAYTIME_W[phase] * (7 <= hour < 23)
                + MORNING_W[phase] * _bump(hour, 7.5, 1.0)
                + EVENING_W[phase] * _bump(hour, 18.5, 1.8)
            )
            loads.append(watts * wobble.uniform(0.9, 1.1))
        if self.fridge_on(when):
            loads[1] += FRIDGE_W
        if self.kettle_on(when):
            loads[0] += KETTLE_W
        return loads[0], loads[1], loads[2]

    def fridge_on(self, when: datetime) -> bool:
        offset = self._random("fridge").randrange(FRIDGE_CYCLE_MIN)
        return (int(_hours(when) * 60) + offset) % FRIDGE_CYCLE_MIN < FRIDGE_ON_MIN

    def kettle_start(self, when: datetime) -> float | None:
        """The minute of the day the kettle is switched on in `when`'s slot, if it is."""
        hour = _hours(when)
        slot = int(hour * 60) // KETTLE_SLOT_MIN
        draw = self._random("kettle", when.date(), slot)
        chance = KETTLE_CHANCE_DAY if 6 <= hour < 23 else KETTLE_CHANCE_NIGHT
        if draw.random() >= chance:
            return None
        return slot * KETTLE_SLOT_MIN + draw.uniform(0, KETTLE_SLOT_MIN - KETTLE_MINUTES)

    def kettle_on(self, when: datetime) -> bool:
        start = self.kettle_start(when)
        return start is not None and start <= _hours(when) * 60 < start + KETTLE_MINUTES

    def solar(self, when: datetime) -> float:
        """The total solar production, in W (0 at night)."""
        hour = _hours(when)
        if not SOLAR_START_H < hour < SOLAR_END_H:
            return 0.0
        day = math.sin(math.pi * (hour - SOLAR_START_H) / (SOLAR_END_H - SOLAR_START_H))
        clouds = self._random("clouds", when.date(), int(hour * 12)).uniform(0.55, 1.0)
        return self.solar_peak_w * math.pow(day, 1.5) * clouds

    def loads_at(self, when: datetime, phases: int = 3) -> list[PhaseLoad]:
        """The three phases at `when`: net of solar, each either importing or exporting.

        A single-phase meter carries the whole household and all the solar on L1.
        """
        used_per_phase: tuple[float, ...] = self.consumption(when)
        if phases == 1:
            used_per_phase = (sum(used_per_phase),)
        share = self.solar(when) / len(used_per_phase)
        loads = []
        for phase, used in enumerate(used_per_phase):
            net = used - share
            voltage = NOMINAL_V + PHASE_OFFSET_V[phase] - LINE_OHMS * net / NOMINAL_V
            # Household loads lag a little; the inverter feeds in at unity power factor.
            power_factor = 0.96 if net > 0 else 0.99
            reactive = abs(net) * math.tan(math.acos(power_factor))
            loads.append(
                PhaseLoad(
                    voltage=round(voltage, 3),
                    import_w=round(max(net, 0.0), 1),
                    export_w=round(max(-net, 0.0), 1),
                    power_factor=power_factor,
                    reactive_var=round(reactive, 1),
                )
            )
        while len(loads) < 3:
            loads.append(PhaseLoad(voltage=0.0))
        return loads


def _hours(when: datetime) -> float:
    """The time of day in hours (local time of `when`)."""
    return when.hour + when.minute / 60 + when.second / 3600


def _bump(hour: float, centre: float, width: float) -> float:
    """A smooth peak of height 1 at `centre` that fades over about `width` hours either side."""
    return math.exp(-(((hour - centre) / width) ** 2))
