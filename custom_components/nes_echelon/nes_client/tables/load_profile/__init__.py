"""The load profile: BT61-BT63, the data tables BT64-BT67 and ET21 [OPT p.29-40; MEP p.29-34].

The meter logs up to 4 data sets, each up to 16 channels of INT32 register snapshots ("snapshot
mode": the value is the register at the end of the interval, not a delta) at its own interval.
Data lives in blocks (typically a day) in a circular list. A reader only reads: the list
headers and "unread" counters belong to the grid company's head-end.

Layouts, all little-endian (spec §6):

BT61 Actual Load Profile: 0-3 memory length (UINT32), 4-5 flags (UINT16: bits 0-3 inhibit
  overflow per set, 4 end readings, 5 end pulses, 6-9 scalars/divisors per set, 10 extended
  interval status, 11 simple interval status), 6 interval formats (bit 5 INT32), then per data
  set N at 7 + 6N: blocks (UINT16), intervals per block (UINT16), channels (UINT8), interval
  time (UINT8: 1-60 minutes, 84 = 24 h).
BT62 Load Profile Control, per set one after the other: channels x 3 bytes (flags: bit 0 end
  reading; interval source id; end-reading source id), 1 byte data format (32 = INT32), then
  if BT61 enables scalars for the set: channels x UINT16 scalars, channels x UINT16 divisors.
BT63 Load Profile Status, 13 bytes per set: 0 flags (bit 0 block order, 1 overflow, 2 circular
  list, 3 block inhibit overflow, 4 interval order, 5 active, 6 test mode), 1-2 valid blocks,
  3-4 last block (index of the newest), 5-8 last block sequence number (UINT32, +1 per block),
  9-10 unread blocks, 11-12 valid intervals in the newest block.
BT64-BT67 Load Profile Data, ARRAY[blocks] of: end time (STIME_DATE, UTC: end of the newest
  interval of the block, the block's end once it is complete), [end readings: INT32 x channels
  when BT61 bit 4], simple status SET((intervals + 7) / 8) (one bit per interval, 1 = valid;
  interval 0 = byte 0 bit 0, the C12.19 SET order), then intervals x records of
  extended status ((channels // 2) + 1 bytes) and INT32 x channels.
ET21 LP Internal Configuration, per set (131 bytes from firmware 3.50, where several sets
  exist; earlier firmware has one shorter element): 0 current block address, 4 current
  interval address (UINT32s), 8 block size (UINT32), 12 block header size, 14 valid blocks,
  16 valid intervals, 18 last block index, 20 last interval number (UINT16s), 22 simple-status
  offset, 23 simple-status size, 24 interval 0 offset, 25 interval record size, 26 channel 0
  offset, 27 extended status common, 28 channels, 29 interval time (UINT8s), 30-37 source ids
  of channels 0-7; 38-69 placeholders (fw 2.10q); 70-77 source ids 8-15, 78 LP config id,
  82 MEP billing start channel (fw 2.10s); 83-88 block start time (LTIME_DATE, UTC), 89-90
  requested block start hour and minute, 91-92 interval in progress, 93 options (fw 3.10);
  94-99 end of the last interval (UTC), 101-106 the same in local time (fw 3.30); 107-110 max
  memory length (fw 3.50), 111 flags (fw 3.60), 112-130 reserved. ET21 is MK/PK only on the
  optical port [OPT p.38]: an RK key gets "insufficient clearance" and the sizes must be
  computed from BT61 (see ``computed_layout``).

The guide's offsets give the 131-byte stride between sets (112 + 19 reserved bytes). Only bytes
0-37 are needed for reading; the later fields are decoded when present and never relied on.

Modules: ``common`` (table ids, sizes, status codes, interval arithmetic, STIME_DATE), ``sets``
(BT61-BT63), ``layout`` (ET21 and the layout computed from BT61), ``blocks`` (BT64-BT67 block
headers and interval records), ``sources`` (source ids). Import from this package.
"""

from __future__ import annotations

from .blocks import (
    BlockHeader,
    IntervalRecord,
    decode_block_header,
    decode_interval_record,
    encode_block_header,
    encode_interval_record,
)
from .common import (
    BT61,
    BT61_HEADER,
    BT61_SET_SIZE,
    BT62,
    BT63,
    BT63_SET_SIZE,
    BT64,
    CHANNEL_CLOCK_ERROR,
    CHANNEL_DECRYPTION_FAILURE,
    CHANNEL_DEVICE_MISSING,
    CHANNEL_LONG,
    CHANNEL_NOT_CURRENT,
    CHANNEL_OK,
    CHANNEL_OPT_OUT,
    CHANNEL_OVERFLOW,
    CHANNEL_PARTIAL,
    CHANNEL_PLACEHOLDER,
    CHANNEL_SKIPPED,
    CHANNEL_TEST_MODE,
    CLOCK_BACKWARD,
    CLOCK_FORWARD,
    DAILY_INTERVAL,
    DST_ACTIVE,
    ET21,
    ET21_NEEDED,
    ET21_SET_SIZE,
    INT32_FORMAT,
    MAX_CHANNELS,
    MAX_DATA_SETS,
    POWER_FAILURE,
    STIME_DATE_SIZE,
    USABLE_CHANNEL_CODES,
    data_table,
    decode_ltime_date,
    decode_stime_date,
    encode_ltime_date,
    encode_stime_date,
    extended_status_size,
    interval_length,
    interval_record_size,
    simple_status_size,
)
from .layout import (
    LpInternalConfiguration,
    ProfileLayout,
    computed_layout,
    decode_lp_internal_configuration,
    encode_lp_internal_configuration,
    layout_matches,
)
from .sets import (
    ActualLoadProfile,
    LoadProfileChannel,
    LoadProfileControl,
    LoadProfileSet,
    LoadProfileStatus,
    bt61_size,
    bt62_set_size,
    bt62_size,
    decode_actual_load_profile,
    decode_load_profile_control,
    decode_load_profile_status,
    encode_actual_load_profile,
    encode_load_profile_control,
    encode_load_profile_status,
)
from .sources import (
    MAPPED_SOURCES,
    SOURCE_EXPORT_VARH,
    SOURCE_EXPORT_WH,
    SOURCE_FWD_MINUS_REV_WH,
    SOURCE_FWD_PLUS_REV_WH,
    SOURCE_IMPORT_VARH,
    SOURCE_IMPORT_WH,
    TIER_SOURCE_BASE,
    TIER_SOURCE_STRIDE,
    TIER_SOURCE_TIERS,
    EnergySource,
    energy_source,
    source_name,
)

__all__ = [
    "BT61",
    "BT61_HEADER",
    "BT61_SET_SIZE",
    "BT62",
    "BT63",
    "BT63_SET_SIZE",
    "BT64",
    "CHANNEL_CLOCK_ERROR",
    "CHANNEL_DECRYPTION_FAILURE",
    "CHANNEL_DEVICE_MISSING",
    "CHANNEL_LONG",
    "CHANNEL_NOT_CURRENT",
    "CHANNEL_OK",
    "CHANNEL_OPT_OUT",
    "CHANNEL_OVERFLOW",
    "CHANNEL_PARTIAL",
    "CHANNEL_PLACEHOLDER",
    "CHANNEL_SKIPPED",
    "CHANNEL_TEST_MODE",
    "CLOCK_BACKWARD",
    "CLOCK_FORWARD",
    "DAILY_INTERVAL",
    "DST_ACTIVE",
    "ET21",
    "ET21_NEEDED",
    "ET21_SET_SIZE",
    "INT32_FORMAT",
    "MAPPED_SOURCES",
    "MAX_CHANNELS",
    "MAX_DATA_SETS",
    "POWER_FAILURE",
    "SOURCE_EXPORT_VARH",
    "SOURCE_EXPORT_WH",
    "SOURCE_FWD_MINUS_REV_WH",
    "SOURCE_FWD_PLUS_REV_WH",
    "SOURCE_IMPORT_VARH",
    "SOURCE_IMPORT_WH",
    "STIME_DATE_SIZE",
    "TIER_SOURCE_BASE",
    "TIER_SOURCE_STRIDE",
    "TIER_SOURCE_TIERS",
    "USABLE_CHANNEL_CODES",
    "ActualLoadProfile",
    "BlockHeader",
    "EnergySource",
    "IntervalRecord",
    "LoadProfileChannel",
    "LoadProfileControl",
    "LoadProfileSet",
    "LoadProfileStatus",
    "LpInternalConfiguration",
    "ProfileLayout",
    "bt61_size",
    "bt62_set_size",
    "bt62_size",
    "computed_layout",
    "data_table",
    "decode_actual_load_profile",
    "decode_block_header",
    "decode_interval_record",
    "decode_load_profile_control",
    "decode_load_profile_status",
    "decode_lp_internal_configuration",
    "decode_ltime_date",
    "decode_stime_date",
    "encode_actual_load_profile",
    "encode_block_header",
    "encode_interval_record",
    "encode_load_profile_control",
    "encode_load_profile_status",
    "encode_lp_internal_configuration",
    "encode_ltime_date",
    "encode_stime_date",
    "energy_source",
    "extended_status_size",
    "interval_length",
    "interval_record_size",
    "layout_matches",
    "simple_status_size",
    "source_name",
]
