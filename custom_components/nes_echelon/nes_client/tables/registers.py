"""BT21 Actual Register (the dimensions) and BT23 Current Register Data (the energy registers).

BT21 [OPT p.22-23; MEP p.200-202]: byte 0 flags (bit 0 season, 1 date/time field, 2 demand
reset counter, 3 demand reset lockout, 4 cumulative demand, 5 continuous cumulative demand,
6 time remaining), byte 1 self-read flags, then UINT8 counts: 2 self-reads, 3 summations,
4 demands, 5 coincident values, 6 occurrences, 7 tiers, 8 present demands, 9 present values.

BT23 [OPT p.24-27; MEP p.207-211], confirmed against both guides:
  A = 1 if BT21.0.2 (a UINT8 demand-reset count at offset 0) else 0
  then a total block and BT21.7 tier blocks (tier 0 first), each laid out as
    summations:  BT21.3 x NI_FMAT1 (INT32)                      -> B = A + 4 * BT21.3
    demands:     BT21.4 x DmdRcd                                -> C = B + BT21.4 * DmdRcd
    coincidents: BT21.5 x CoinRcd                               -> D = C + BT21.5 * CoinRcd
  DmdRcd  = [BT21.6 x STIME_DATE (5 bytes) if BT21.0.1] + [INT32 if BT21.0.4]
            + [INT32 if BT21.0.5] + BT21.6 x NI_FMAT2 (INT32)
  CoinRcd = BT21.6 x NI_FMAT2: one value per occurrence. Both guides print it this way
            (OPT p.27, MEP p.210; it is also C12.19's COINCIDENTS_RCD), so a coincident value
            takes 4 * occurrences bytes, not 4: the same whenever occurrences = 1, as on
            every NES meter seen (BT20 maximum: 1 occurrence [OPT p.21]).
Checks: the MEP p.49 meter (flags 0x3F, 15 summations, 8 demands, 0 coincidents, 1 occurrence,
4 tiers) gives DmdRcd 5 + 4 + 4 + 4 = 17, a 196-byte block, 1 + 5 * 196 = 981 bytes; the
[FW] captures (11 summations, no demands, 4 tiers) give 5 * 44 = 220.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from ._common import check_uint8, decode_int32_le, encode_int32_le, require_length

BT21_SIZE = 10

_SEASON = 1 << 0
_DATE_TIME_FIELD = 1 << 1
_DEMAND_RESET_COUNTER = 1 << 2
_CUMULATIVE_DEMAND = 1 << 4
_CONTINUOUS_CUMULATIVE_DEMAND = 1 << 5
_TIME_REMAINING = 1 << 6

_INT32 = 4
_STIME_DATE = 5  # YY MM DD hh mm
_TIME = 3  # hh mm ss

# BT23 summation indices in the standard order [OPT p.25; MEP p.208]. BT22, when present,
# names the source of each summation: prefer it to this order.
SUM_IMPORT_WH = 0  # forward active energy, Wh
SUM_EXPORT_WH = 1  # reverse active energy, Wh
SUM_IMPORT_VARH = 2  # import reactive energy, varh
SUM_EXPORT_VARH = 3  # export reactive energy, varh


@dataclass(frozen=True, slots=True)
class ActualRegister:
    """BT21, bytes 0-9, and the BT23/BT28 layout they imply."""

    flags: int
    flags2: int  # byte 1: self-read flags
    self_reads: int
    summations: int
    demands: int
    coincident_values: int
    occurrences: int
    tiers: int
    present_demands: int
    present_values: int

    def __post_init__(self) -> None:
        for field in fields(self):
            check_uint8(getattr(self, field.name), f"BT21 {field.name}")

    # -- flags ---------------------------------------------------------------------------------
    @property
    def season_field(self) -> bool:
        return bool(self.flags & _SEASON)

    @property
    def date_time_field(self) -> bool:
        return bool(self.flags & _DATE_TIME_FIELD)

    @property
    def demand_reset_counter(self) -> bool:
        return bool(self.flags & _DEMAND_RESET_COUNTER)

    @property
    def cumulative_demand(self) -> bool:
        return bool(self.flags & _CUMULATIVE_DEMAND)

    @property
    def continuous_cumulative_demand(self) -> bool:
        return bool(self.flags & _CONTINUOUS_CUMULATIVE_DEMAND)

    @property
    def time_remaining(self) -> bool:
        return bool(self.flags & _TIME_REMAINING)

    # -- BT23 ----------------------------------------------------------------------------------
    @property
    def bt23_prefix(self) -> int:
        """A: the demand-reset count byte at BT23 offset 0, when there is one."""
        return 1 if self.demand_reset_counter else 0

    @property
    def demand_record_size(self) -> int:
        size = self.occurrences * _INT32
        if self.date_time_field:
            size += self.occurrences * _STIME_DATE
        if self.cumulative_demand:
            size += _INT32
        if self.continuous_cumulative_demand:
            size += _INT32
        return size

    @property
    def coincident_record_size(self) -> int:
        return self.occurrences * _INT32

    @property
    def bt23_block_size(self) -> int:
        """One data block (total or tier): summations + demand records + coincident records."""
        return (
            self.summations * _INT32
            + self.demands * self.demand_record_size
            + self.coincident_values * self.coincident_record_size
        )

    @property
    def bt23_size(self) -> int:
        return self.bt23_prefix + (1 + self.tiers) * self.bt23_block_size

    def summation_offset(self, block: int, index: int) -> int | None:
        """BT23 offset of summation ``index`` in ``block`` (0 = total, 1..tiers = tier 0..).

        None when the meter has no such summation or block.
        """
        if not (0 <= index < self.summations and 0 <= block <= self.tiers):
            return None
        return self.bt23_prefix + block * self.bt23_block_size + index * _INT32

    # -- BT28 ----------------------------------------------------------------------------------
    @property
    def bt28_present_demand_size(self) -> int:
        """The present-demand records before the slots: (TIME if time remaining) + INT32 each."""
        return self.present_demands * ((_TIME if self.time_remaining else 0) + _INT32)

    def bt28_slot_offset(self, slot: int) -> int | None:
        """BT28 offset of present-value slot ``slot``; None beyond BT21's count."""
        if not 0 <= slot < self.present_values:
            return None
        return self.bt28_present_demand_size + slot * _INT32

    @property
    def bt28_size(self) -> int:
        return self.bt28_present_demand_size + self.present_values * _INT32


def decode_actual_register(data: bytes) -> ActualRegister:
    require_length(data, BT21_SIZE, "BT21")
    return ActualRegister(*data[:BT21_SIZE])


def encode_actual_register(ar: ActualRegister) -> bytes:
    return bytes(getattr(ar, field.name) for field in fields(ar))


# --------------------------------------------------------------------------------------------
# BT23


def encode_bt23(ar: ActualRegister, blocks: Sequence[Sequence[int]]) -> bytes:
    """The whole of BT23 (``ar.bt23_size`` bytes).

    ``blocks[0]`` holds the total block's summations, ``blocks[i]`` those of tier block i
    (i = 1 is tier 0). Blocks or summations not given, demand records, coincident values and
    the demand-reset count are 0.
    """
    if len(blocks) > 1 + ar.tiers:
        raise ValueError(f"{len(blocks)} blocks given, BT21 has 1 total + {ar.tiers} tiers")
    out = bytearray(ar.bt23_size)
    for block, values in enumerate(blocks):
        if len(values) > ar.summations:
            raise ValueError(f"{len(values)} summations given, BT21 has {ar.summations}")
        start = ar.bt23_prefix + block * ar.bt23_block_size
        for index, value in enumerate(values):
            offset = start + index * _INT32
            out[offset : offset + _INT32] = encode_int32_le(value)
    return bytes(out)


def decode_summations(
    ar: ActualRegister, data: bytes, block: int, *, offset: int = 0
) -> tuple[int, ...]:
    """All summations of ``block`` (0 = total, 1..tiers = tier blocks), signed.

    ``data`` is BT23 from table offset ``offset`` (0 for a full read; the read's offset for a
    partial one) and must cover the whole block's summations.
    """
    if not 0 <= block <= ar.tiers:
        raise ValueError(f"BT23 block {block} does not exist: BT21 has {ar.tiers} tiers")
    if ar.summations == 0:
        return ()
    start = ar.bt23_prefix + block * ar.bt23_block_size - offset
    if start < 0:
        raise ValueError(f"BT23 data from offset {offset} starts after block {block}")
    require_length(data, start + ar.summations * _INT32, f"BT23 block {block}")
    return tuple(decode_int32_le(data, start + i * _INT32) for i in range(ar.summations))
