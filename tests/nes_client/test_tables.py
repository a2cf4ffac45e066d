"""Table codecs: fixtures from the spec's real captures and guide examples, round-trips."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, strategies as st
import pytest

from custom_components.nes_echelon.nes_client import tables as t
from custom_components.nes_echelon.nes_client.tables import (
    ActualRegister,
    Alarms,
    FirmwareVersion,
    GeneralConfig,
    ManufacturerIdentification,
)

# BT21 of the demand-enabled meter printed in MEP p.49, and one like the [FW] captures
# (11 summations, no demands, 4 tiers, 55 present values, no present demands).
DEMAND_BT21 = bytes.fromhex("3F 0E 0C 0F 08 00 01 04 08 1A")
CAPTURE_AR = ActualRegister(
    flags=0x03,
    flags2=0x0E,
    self_reads=0x0C,
    summations=11,
    demands=0,
    coincident_values=0,
    occurrences=1,
    tiers=4,
    present_demands=0,
    present_values=55,
)
FW_3_50 = FirmwareVersion(3, 50, 0)

# The [CAP] optical frames (CRC-valid), table data cut out by hand.
BT23_REPLY_FRAME = bytes.fromhex("EE0020 00000C 00 0008 FB1304024D891A00 FC 92F2")
BT28_SLOTS_0_9 = (0, 231, 0, 71, 598, 700, 705, 231392, 233137, 230613)
BT28_REPLY_DATA = b"".join(v.to_bytes(4, "little") for v in BT28_SLOTS_0_9)


def printable(max_size: int) -> st.SearchStrategy[str]:
    """ASCII text a space-padded CHAR field gives back unchanged."""
    return st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=max_size
    ).filter(lambda s: s == s.strip(" "))


uint8 = st.integers(0, 255)
int32 = st.integers(-(2**31), 2**31 - 1)
firmware_versions = st.builds(
    FirmwareVersion, st.integers(0, 15), st.integers(0, 127), st.integers(0, 31)
)
actual_registers = st.builds(ActualRegister, *([uint8] * 10))
# Small enough that a whole BT23 stays small.
small_actual_registers = st.builds(
    ActualRegister,
    flags=uint8,
    flags2=uint8,
    self_reads=uint8,
    summations=st.integers(0, 20),
    demands=st.integers(0, 4),
    coincident_values=st.integers(0, 4),
    occurrences=st.integers(0, 3),
    tiers=st.integers(0, 8),
    present_demands=st.integers(0, 8),
    present_values=st.integers(0, 90),
)


# --------------------------------------------------------------------------------------------
# Firmware version


@pytest.mark.parametrize(
    ("packed", "version", "text"),
    [
        (0x3018, FirmwareVersion(3, 0, 24), "3.00.24"),
        (0x3155, FirmwareVersion(3, 10, 21), "3.10.21"),
        (0x4000, FirmwareVersion(4, 0, 0), "4.00.00"),
    ],
)
def test_firmware_packed_examples(packed: int, version: FirmwareVersion, text: str) -> None:
    assert FirmwareVersion.from_packed(packed) == version
    assert version.packed == packed
    assert str(version) == text


def test_firmware_ordering_gates_features() -> None:
    assert FirmwareVersion(3, 10, 21) > FirmwareVersion(3, 0, 24)
    assert FirmwareVersion(3, 50, 0) >= FirmwareVersion(3, 50)
    assert FirmwareVersion(3, 49, 31) < FirmwareVersion(3, 50)
    assert FirmwareVersion(4, 0, 0) > FirmwareVersion(3, 99, 31)


@pytest.mark.parametrize("args", [(16, 0, 0), (3, 128, 0), (3, 0, 32), (-1, 0, 0)])
def test_firmware_rejects_what_cannot_be_packed(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="firmware"):
        FirmwareVersion(*args)


@pytest.mark.parametrize("packed", [-1, 0x10000])
def test_firmware_from_packed_rejects_non_16_bit(packed: int) -> None:
    with pytest.raises(ValueError, match="16 bits"):
        FirmwareVersion.from_packed(packed)


@given(st.integers(0, 0xFFFF))
def test_firmware_packed_round_trip(packed: int) -> None:
    assert FirmwareVersion.from_packed(packed).packed == packed


@given(firmware_versions)
def test_firmware_version_round_trip(version: FirmwareVersion) -> None:
    assert FirmwareVersion.from_packed(version.packed) == version


# --------------------------------------------------------------------------------------------
# BT00


def test_general_config_decodes_guide_values() -> None:
    data = bytes.fromhex("02 2A 88 4E455320 02 00 FF 0C 01 00 0A 0D 02 0C 06 03")
    cfg = t.decode_general_config(data)
    assert cfg == GeneralConfig(
        little_endian=True,
        ni_format=0x88,
        manufacturer="NES",
        manufacturer_status_length=6,
        identification_bcd=True,
    )
    assert cfg.bt03_size == 10


def test_general_config_big_endian_and_char_ids() -> None:
    data = bytearray(t.encode_general_config(GeneralConfig(True, 0x88, "ELON", 4)))
    data[0] |= 0x01
    data[1] &= ~0x20
    cfg = t.decode_general_config(bytes(data))
    assert cfg.little_endian is False
    assert cfg.identification_bcd is False
    assert cfg.manufacturer == "ELON"


def test_general_config_encodes_a_full_gen_config() -> None:
    data = t.encode_general_config(GeneralConfig(True, t.NI_FORMAT_INT32, "NES", 9))
    assert len(data) == 79  # 19 + 2 x (10 + 13) + 2 + 12
    assert data[0] & 0x01 == 0
    assert data[2] == 0x88
    assert data[3:7] == b"NES "
    assert data[17] == 9
    assert data[13:17] == bytes((10, 13, 2, 12))
    std_tables_used = data[19:29]
    assert std_tables_used[23 // 8] >> (23 % 8) & 1  # BT23 announced


def test_general_config_short_input() -> None:
    with pytest.raises(ValueError, match="BT00"):
        t.decode_general_config(bytes(17))


def test_general_config_rejects_bad_fields() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        t.encode_general_config(GeneralConfig(True, 0x88, "NÉS", 6))
    with pytest.raises(ValueError, match="longer"):
        t.encode_general_config(GeneralConfig(True, 0x88, "NESXY", 6))
    with pytest.raises(ValueError, match="status length"):
        t.encode_general_config(GeneralConfig(True, 0x88, "NES", 256))


@given(st.builds(GeneralConfig, st.booleans(), uint8, printable(4), uint8, st.booleans()))
def test_general_config_round_trip(cfg: GeneralConfig) -> None:
    assert t.decode_general_config(t.encode_general_config(cfg)) == cfg


# --------------------------------------------------------------------------------------------
# BT01

BT01_BCD = (
    b"NES "
    + b"83334-3I"
    + bytes((0x30, 0x18))  # bytes 12-13
    + bytes((0x31, 0x55))  # bytes 14-15: 3.10.21, byte 14 high
    + bytes.fromhex("0000000123456789")
)


def test_manufacturer_identification_bcd_serial() -> None:
    ident = t.decode_manufacturer_identification(BT01_BCD)
    assert ident == ManufacturerIdentification(
        manufacturer="NES",
        model="83334-3I",
        firmware=FirmwareVersion(3, 10, 21),
        hardware_version=0x30,
        hardware_revision=0x18,
        serial="0000000123456789",
    )
    assert ident.application_firmware == FirmwareVersion(3, 0, 24)
    assert t.encode_manufacturer_identification(ident) == BT01_BCD


def test_manufacturer_identification_char_serial() -> None:
    data = BT01_BCD[:16] + b"ABC123 \x00\x00\x00\x00\x00\x00\x00\x00\x00" + b"trailing"
    ident = t.decode_manufacturer_identification(data, bcd_serial=False)
    assert ident.serial == "ABC123"
    assert ident.model == "83334-3I"


def test_manufacturer_identification_model_padding_stripped() -> None:
    data = b"ELON" + b"8333\x00\x00\x00\x00" + BT01_BCD[12:]
    ident = t.decode_manufacturer_identification(data)
    assert (ident.manufacturer, ident.model) == ("ELON", "8333")


def test_manufacturer_identification_invalid_bcd_nibbles_shown_not_guessed() -> None:
    data = BT01_BCD[:16] + bytes.fromhex("FFFFFFFF0000ABCD")
    assert t.decode_manufacturer_identification(data).serial == "FFFFFFFF0000ABCD"


def test_manufacturer_identification_short_input() -> None:
    with pytest.raises(ValueError, match="BT01"):
        t.decode_manufacturer_identification(BT01_BCD[:23])
    with pytest.raises(ValueError, match="BT01"):
        t.decode_manufacturer_identification(BT01_BCD + bytes(7), bcd_serial=False)


def test_manufacturer_identification_rejects_bad_bcd_serial() -> None:
    ident = t.decode_manufacturer_identification(BT01_BCD)
    for serial in ("123", "12345678901234567", "ABCDEFGHIJKLMNOP"):
        bad = ManufacturerIdentification(
            ident.manufacturer, ident.model, ident.firmware, 0, 0, serial
        )
        with pytest.raises(ValueError, match="BCD"):
            t.encode_manufacturer_identification(bad)


@given(
    st.builds(
        ManufacturerIdentification,
        manufacturer=printable(4),
        model=printable(8),
        firmware=firmware_versions,
        hardware_version=uint8,
        hardware_revision=uint8,
        serial=st.text(alphabet="0123456789ABCDEF", min_size=16, max_size=16),
    )
)
def test_manufacturer_identification_round_trip_bcd(ident: ManufacturerIdentification) -> None:
    data = t.encode_manufacturer_identification(ident)
    assert len(data) == t.BT01_SIZE_BCD
    assert t.decode_manufacturer_identification(data) == ident


@given(
    st.builds(
        ManufacturerIdentification,
        manufacturer=printable(4),
        model=printable(8),
        firmware=firmware_versions,
        hardware_version=uint8,
        hardware_revision=uint8,
        serial=printable(16),
    )
)
def test_manufacturer_identification_round_trip_char(ident: ManufacturerIdentification) -> None:
    data = t.encode_manufacturer_identification(ident, bcd_serial=False)
    assert len(data) == t.BT01_SIZE_CHAR
    assert t.decode_manufacturer_identification(data, bcd_serial=False) == ident


# --------------------------------------------------------------------------------------------
# ET03


def test_utility_serial_null_terminated() -> None:
    data = b"  5706567000012345 \x00garbage after the NUL" + bytes(120)
    assert t.decode_utility_serial(data) == "5706567000012345"


def test_utility_serial_fills_all_30_bytes() -> None:
    assert t.decode_utility_serial(b"A" * 30 + b"B" * 113) == "A" * 30


def test_utility_serial_short_input() -> None:
    with pytest.raises(ValueError, match="ET03"):
        t.decode_utility_serial(b"12345\x00" + bytes(23))


def test_utility_information_layout() -> None:
    data = t.encode_utility_information("5706567000012345", image_crc=0xBEEF)
    assert len(data) == t.ET03_SIZE == 143
    assert data[:17] == b"5706567000012345\x00"
    assert data[17:30] == bytes(13)
    assert data[137:139] == bytes((0xEF, 0xBE))


@pytest.mark.parametrize("serial", ["x" * 31, "nul\x00inside", "ünïcode"])
def test_utility_information_rejects_bad_serials(serial: str) -> None:
    with pytest.raises(ValueError, match="serial"):
        t.encode_utility_information(serial)


@given(printable(30).filter(lambda s: s == s.strip()))
def test_utility_serial_round_trip(serial: str) -> None:
    assert t.decode_utility_serial(t.encode_utility_information(serial)) == serial


# --------------------------------------------------------------------------------------------
# BT03

# (field, byte, bit) from spec §6 / OPT p.45-47, written out independently of the module.
ALARM_POSITIONS = [
    ("clock_error", 1, 6),
    ("measurement_error", 1, 7),
    ("power_failure", 2, 3),
    ("cover_removed", 2, 4),
    ("reverse_energy", 2, 5),
    ("phase_loss", 4, 4),
    ("phase_inversion", 4, 5),
    ("invalid_password", 5, 0),
    ("dimension_change", 7, 0),
    ("magnetic_tamper", 7, 1),
    ("key_expiration_pending", 8, 2),
]


def test_alarm_positions_cover_every_field() -> None:
    assert [name for name, _, _ in ALARM_POSITIONS] == [f.name for f in fields(Alarms)]


@pytest.mark.parametrize(("name", "byte", "bit"), ALARM_POSITIONS)
def test_each_alarm_bit(name: str, byte: int, bit: int) -> None:
    data = bytearray(10)
    data[byte] = 1 << bit
    alarms = t.decode_alarms(bytes(data))
    assert alarms.active == (name,)
    assert t.encode_alarms(Alarms(**{name: True}))[byte] & (1 << bit)


def test_alarms_ignore_unmodelled_bits() -> None:
    # Everything set except the modelled bits: no alarm of ours is reported.
    data = bytearray(b"\xff" * 10)
    for _, byte, bit in ALARM_POSITIONS:
        data[byte] &= ~(1 << bit)
    assert t.decode_alarms(bytes(data)) == Alarms()


def test_alarms_length() -> None:
    assert len(t.encode_alarms(Alarms())) == 10
    assert t.decode_alarms(bytes(9)) == Alarms()
    assert t.decode_alarms(bytes(13)) == Alarms()  # BT03 of a MEP-guide meter: 4 + 9 bytes
    with pytest.raises(ValueError, match="BT03"):
        t.decode_alarms(bytes(8))


@given(st.builds(Alarms, *([st.booleans()] * len(ALARM_POSITIONS))))
def test_alarms_round_trip(alarms: Alarms) -> None:
    assert t.decode_alarms(t.encode_alarms(alarms)) == alarms


# --------------------------------------------------------------------------------------------
# BT21


def test_actual_register_demand_enabled_example() -> None:
    ar = t.decode_actual_register(DEMAND_BT21)
    assert ar == ActualRegister(0x3F, 0x0E, 12, 15, 8, 0, 1, 4, 8, 26)
    assert ar.season_field
    assert ar.date_time_field
    assert ar.demand_reset_counter
    assert ar.cumulative_demand
    assert ar.continuous_cumulative_demand
    assert not ar.time_remaining
    # BT23 per OPT p.24-27: A = 1, DmdRcd = 5 (STIME_DATE) + 4 + 4 + 4 = 17.
    assert ar.bt23_prefix == 1
    assert ar.demand_record_size == 17
    assert ar.bt23_block_size == 15 * 4 + 8 * 17 == 196
    assert ar.bt23_size == 1 + 5 * 196 == 981  # the spec's "~981 bytes"
    assert ar.summation_offset(0, t.SUM_IMPORT_WH) == 1
    assert ar.summation_offset(0, t.SUM_EXPORT_VARH) == 13
    assert ar.summation_offset(1, 0) == 197
    assert ar.summation_offset(4, 14) == 1 + 4 * 196 + 56
    assert ar.summation_offset(5, 0) is None  # only 4 tiers
    assert ar.summation_offset(0, 15) is None  # only 15 summations
    assert ar.summation_offset(-1, 0) is None
    # BT28: 8 present demands of 4 bytes (no time remaining), then 26 slots.
    assert ar.bt28_present_demand_size == 32
    assert ar.bt28_slot_offset(0) == 32
    assert ar.bt28_slot_offset(25) == 32 + 100
    assert ar.bt28_slot_offset(26) is None
    assert ar.bt28_size == 32 + 26 * 4
    assert t.encode_actual_register(ar) == DEMAND_BT21


def test_actual_register_capture_like() -> None:
    ar = CAPTURE_AR
    assert ar.bt23_prefix == 0
    assert ar.bt23_block_size == 44
    assert ar.bt23_size == 220  # "seen: 220 = 5 x 44"
    assert ar.summation_offset(1, t.SUM_IMPORT_WH) == 44
    assert ar.summation_offset(4, 10) == 4 * 44 + 40
    assert ar.bt28_slot_offset(54) == 216
    assert ar.bt28_slot_offset(55) is None
    assert ar.bt28_size == 220


def test_actual_register_time_remaining_and_coincidents() -> None:
    ar = ActualRegister(0x40 | 0x02, 0, 0, 2, 1, 2, 3, 0, 2, 4)
    assert ar.time_remaining
    assert ar.bt28_present_demand_size == 2 * (3 + 4)
    assert ar.bt28_slot_offset(0) == 14
    # DmdRcd: 3 x STIME_DATE + 3 x INT32; CoinRcd: one INT32 per occurrence (OPT p.27).
    assert ar.demand_record_size == 3 * 5 + 3 * 4
    assert ar.coincident_record_size == 12
    assert ar.bt23_block_size == 8 + 27 + 2 * 12


def test_actual_register_short_input_and_range() -> None:
    with pytest.raises(ValueError, match="BT21"):
        t.decode_actual_register(DEMAND_BT21[:9])
    with pytest.raises(ValueError, match="tiers"):
        ActualRegister(0, 0, 0, 0, 0, 0, 0, 256, 0, 0)
    assert t.decode_actual_register(DEMAND_BT21 + b"\x99") == t.decode_actual_register(DEMAND_BT21)


@given(actual_registers)
def test_actual_register_round_trip(ar: ActualRegister) -> None:
    data = t.encode_actual_register(ar)
    assert len(data) == t.BT21_SIZE
    assert t.decode_actual_register(data) == ar


@given(small_actual_registers)
def test_actual_register_offsets_consistent(ar: ActualRegister) -> None:
    # Summations never overlap the next block; the last one ends inside the table.
    for block in range(ar.tiers + 1):
        for index in range(ar.summations):
            offset = ar.summation_offset(block, index)
            assert offset is not None
            start = ar.bt23_prefix + block * ar.bt23_block_size
            assert start <= offset <= start + ar.bt23_block_size - 4
    for slot in range(ar.present_values):
        offset = ar.bt28_slot_offset(slot)
        assert offset is not None
        assert offset + 4 <= ar.bt28_size


# --------------------------------------------------------------------------------------------
# BT23


def test_bt23_capture_import_export() -> None:
    frame = BT23_REPLY_FRAME
    assert frame[6] == 0x00  # response code ok
    count = int.from_bytes(frame[7:9], "big")
    data = frame[9 : 9 + count]
    assert (-sum(data)) & 0xFF == frame[9 + count]  # the read's checksum
    offset_import = CAPTURE_AR.summation_offset(0, t.SUM_IMPORT_WH)
    offset_export = CAPTURE_AR.summation_offset(0, t.SUM_EXPORT_WH)
    assert offset_import is not None
    assert offset_export is not None
    assert t.decode_int32_le(data, offset_import) == 33_821_691
    assert t.decode_int32_le(data, offset_export) == 1_739_085


def test_bt23_mep_guide_read() -> None:
    # MEP p.53-54: 44 bytes of BT23 at offset 0, all 0 but byte 16 = 8, 20 = 3 and 40 = 6:
    # the total block of an 11-summation meter without a reset counter (outage seconds,
    # outage count, error counter).
    data = bytearray(44)
    data[16], data[20], data[40] = 8, 3, 6
    assert t.decode_summations(CAPTURE_AR, bytes(data), 0) == (0, 0, 0, 0, 8, 3, 0, 0, 0, 0, 6)


def test_bt23_partial_read_is_too_short_for_a_whole_block() -> None:
    with pytest.raises(ValueError, match="BT23"):
        t.decode_summations(CAPTURE_AR, bytes.fromhex("FB1304024D891A00"), 0)


def test_bt23_decode_tier_block_from_partial_read() -> None:
    blocks = [[10 * b + i for i in range(11)] for b in range(5)]
    table = t.encode_bt23(CAPTURE_AR, blocks)
    assert t.decode_summations(CAPTURE_AR, table[88:132], 2, offset=88) == tuple(blocks[2])
    with pytest.raises(ValueError, match="starts after"):
        t.decode_summations(CAPTURE_AR, table[90:], 2, offset=90)
    with pytest.raises(ValueError, match="block 5"):
        t.decode_summations(CAPTURE_AR, table, 5)


def test_bt23_demand_enabled_layout() -> None:
    ar = t.decode_actual_register(DEMAND_BT21)
    table = t.encode_bt23(ar, [[100, 200], [], [], [], [7]])
    assert len(table) == 981
    assert table[0] == 0  # demand-reset count
    assert t.decode_int32_le(table, 1) == 100
    assert t.decode_int32_le(table, 5) == 200
    assert t.decode_int32_le(table, 1 + 4 * 196) == 7
    assert t.decode_summations(ar, table, 4)[:2] == (7, 0)


def test_bt23_encode_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="blocks"):
        t.encode_bt23(CAPTURE_AR, [[]] * 6)
    with pytest.raises(ValueError, match="summations"):
        t.encode_bt23(CAPTURE_AR, [[0] * 12])
    with pytest.raises(ValueError, match="32-bit"):
        t.encode_bt23(CAPTURE_AR, [[2**31]])


def test_decode_int32_le_signed_and_bounded() -> None:
    assert t.decode_int32_le(b"\xff\xff\xff\xff", 0) == -1
    assert t.decode_int32_le(b"\x00\x00\x00\x00\x00\x80", 2) == -(2**31)
    with pytest.raises(ValueError, match="outside"):
        t.decode_int32_le(b"\x00\x00\x00", 0)
    with pytest.raises(ValueError, match="outside"):
        t.decode_int32_le(b"\x00" * 8, 5)
    with pytest.raises(ValueError, match="outside"):
        t.decode_int32_le(b"\x00" * 8, -1)


@given(small_actual_registers, st.data())
def test_bt23_round_trip(ar: ActualRegister, data: st.DataObject) -> None:
    blocks = data.draw(
        st.lists(st.lists(int32, max_size=ar.summations), max_size=ar.tiers + 1), label="blocks"
    )
    table = t.encode_bt23(ar, blocks)
    assert len(table) == ar.bt23_size
    for block in range(ar.tiers + 1):
        given_values = blocks[block] if block < len(blocks) else []
        expected = tuple(given_values) + (0,) * (ar.summations - len(given_values))
        assert t.decode_summations(ar, table, block) == expected


# --------------------------------------------------------------------------------------------
# BT28


def test_present_slots_table_matches_present_values() -> None:
    keys = [spec.key for spec in t.PRESENT_SLOTS]
    assert keys == [f.name for f in fields(t.PresentValues)]
    slots = [spec.slot for spec in t.PRESENT_SLOTS]
    assert len(set(slots)) == len(slots)
    by_key = {spec.key: spec for spec in t.PRESENT_SLOTS}
    assert by_key["current_l1"].slot == 4
    assert by_key["voltage_l3"].slot == 9
    assert by_key["frequency"].slot == 11
    assert by_key["reactive_q1"].min_firmware == FirmwareVersion(3, 10)
    assert by_key["power_export_l3"].slot == 31
    assert by_key["power_export_l3"].min_firmware == FirmwareVersion(3, 50)
    assert by_key["power_export_avg"].slot == 48
    assert by_key["neutral_current"].min_firmware == FirmwareVersion(4, 0)


def test_bt28_capture() -> None:
    # [CAP]: partial read BT28 offset 0, 40 bytes: "00 00 28" + slots 0-9 + checksum F1.
    assert (-sum(BT28_REPLY_DATA)) & 0xFF == 0xF1
    raw = t.decode_bt28_slots(CAPTURE_AR, BT28_REPLY_DATA)
    assert raw == dict(enumerate(BT28_SLOTS_0_9))
    values = t.decode_present_values(CAPTURE_AR, FW_3_50, raw)
    assert values.power_import == 0.0
    assert values.power_export == 231.0
    assert values.reactive_import == 0.0
    assert values.reactive_export == 71.0
    assert values.current_l1 == 0.598
    assert values.current_l2 == 0.7
    assert values.current_l3 == 0.705
    assert values.voltage_l1 == 231.392
    assert values.voltage_l2 == 233.137
    assert values.voltage_l3 == 230.613
    # Not read: absent, not zero.
    assert values.frequency is None
    assert values.power_factor_l1 is None
    assert values.power_import_l1 is None


def test_bt28_scales() -> None:
    raw = {10: -950, 11: 50_012, 12: 1234, 15: 312, 44: 230_001, 47: 1500, 71: 42}
    ar = replace(CAPTURE_AR, present_values=72)
    values = t.decode_present_values(ar, FirmwareVersion(4, 10), raw)
    assert values.power_factor_l1 == -0.95  # sign kept as read
    assert values.frequency == 50.012
    assert values.apparent_power == 1234.0
    assert values.sin_phi_l1 == 0.312
    assert values.voltage_avg_l1 == 230.001
    assert values.power_import_avg == 1500.0
    assert values.neutral_current == 0.042


def test_bt28_slot_beyond_bt21_count_is_absent() -> None:
    ar = ActualRegister(0, 0, 0, 11, 0, 0, 1, 4, 0, 26)
    raw = dict.fromkeys(range(72), 1000)
    values = t.decode_present_values(ar, FirmwareVersion(4, 0), raw)
    assert values.reactive_q4 == 1000.0  # slot 25 < 26
    assert values.power_import_l1 is None  # slot 26 >= 26
    assert values.neutral_current is None


def test_bt28_too_old_firmware_is_absent() -> None:
    ar = ActualRegister(0, 0, 0, 11, 0, 0, 1, 4, 0, 72)
    raw = dict.fromkeys(range(72), 1000)
    old = t.decode_present_values(ar, FirmwareVersion(3, 0, 24), raw)
    assert old.current_l1 == 1.0  # ungated
    assert old.reactive_q1 is None  # 3.10
    assert old.power_import_l1 is None  # 3.50
    v349 = t.decode_present_values(ar, FirmwareVersion(3, 49, 31), raw)
    assert v349.reactive_q1 == 1000.0
    assert v349.power_import_l1 is None
    v350 = t.decode_present_values(ar, FirmwareVersion(3, 50), raw)
    assert v350.power_import_l1 == 1000.0
    assert v350.voltage_avg_l1 is None  # 3.70
    v370 = t.decode_present_values(ar, FirmwareVersion(3, 70), raw)
    assert v370.voltage_avg_l1 == 1.0
    assert v370.neutral_current is None  # 4.0
    assert t.decode_present_values(ar, FirmwareVersion(4, 0), raw).neutral_current == 1.0
    assert t.available_present_slots(ar, FirmwareVersion(3, 0, 24)) == tuple(
        spec for spec in t.PRESENT_SLOTS if spec.min_firmware is None
    )


def test_every_phase_value_names_its_phase() -> None:
    """A key ending _l1/_l2/_l3 is a value of that phase; every other key is the meter's."""
    for spec in t.PRESENT_SLOTS:
        suffix = spec.key[-3:]
        expected = int(suffix[2]) if suffix in ("_l1", "_l2", "_l3") else None
        assert spec.phase == expected, spec.key
    assert frozenset(spec.key for spec in t.PRESENT_SLOTS) == t.PRESENT_KEYS
    by_key = {spec.key: spec for spec in t.PRESENT_SLOTS}
    assert by_key["neutral_current"].slot == 71
    assert by_key["neutral_current"].phase is None


def test_available_present_slots_drop_missing_phases() -> None:
    ar = t.ActualRegister(0, 0, 0, 11, 0, 0, 0, 4, 0, 72)
    fw = FirmwareVersion(4, 30)
    three = t.available_present_slots(ar, fw)
    assert three == t.PRESENT_SLOTS  # phases=3 by default: everything the guides list
    single = {spec.key for spec in t.available_present_slots(ar, fw, phases=1)}
    assert {"voltage_l1", "current_l1", "power_import_l1", "neutral_current"} <= single
    assert not any(key.endswith(("_l2", "_l3")) for key in single)
    two = {spec.key for spec in t.available_present_slots(ar, fw, phases=2)}
    assert "voltage_l2" in two
    assert "voltage_l3" not in two


def test_bt28_read_span_and_partial_decode() -> None:
    ar = t.decode_actual_register(DEMAND_BT21)  # 8 present demands first, 26 slots
    table = t.encode_bt28(ar, {slot: slot * 11 for slot in range(26)})
    assert t.bt28_read_span(ar, range(15)) == (32, 60)
    span = t.bt28_read_span(ar, range(26, 32))
    assert span is None  # this meter has 26 slots
    assert t.bt28_read_span(ar, [3, 25, 40]) == (32 + 12, 23 * 4)
    offset, count = 32 + 12, 8
    assert t.decode_bt28_slots(ar, table[offset : offset + count], offset=offset) == {
        3: 33,
        4: 44,
    }
    # Zeros past the table's end (a read past the end) are never taken as slots.
    assert max(t.decode_bt28_slots(ar, table + bytes(40))) == 25


def test_bt28_truncated_reads_raise() -> None:
    with pytest.raises(ValueError, match="ends inside"):
        t.decode_bt28_slots(CAPTURE_AR, BT28_REPLY_DATA[:39])
    with pytest.raises(ValueError, match="starts inside"):
        t.decode_bt28_slots(CAPTURE_AR, BT28_REPLY_DATA[2:], offset=2)
    with pytest.raises(ValueError, match="negative"):
        t.decode_bt28_slots(CAPTURE_AR, BT28_REPLY_DATA, offset=-4)


def test_bt28_encode() -> None:
    ar = ActualRegister(0x40, 0, 0, 0, 0, 0, 0, 0, 2, 3)
    table = t.encode_bt28(ar, {1: -5})
    assert len(table) == ar.bt28_size == 14 + 12
    assert table[:14] == bytes(14)  # present demands (with time remaining) zero-filled
    assert table[18:22] == (-5).to_bytes(4, "little", signed=True)
    with pytest.raises(ValueError, match="beyond"):
        t.encode_bt28(ar, {3: 1})
    with pytest.raises(ValueError, match="32-bit"):
        t.encode_bt28(ar, {0: 2**31})


@given(small_actual_registers, st.data())
def test_bt28_round_trip(ar: ActualRegister, data: st.DataObject) -> None:
    slots = data.draw(
        st.dictionaries(st.integers(0, max(ar.present_values - 1, 0)), int32)
        if ar.present_values
        else st.just({}),
        label="slots",
    )
    table = t.encode_bt28(ar, slots)
    assert len(table) == ar.bt28_size
    raw = t.decode_bt28_slots(ar, table)
    assert raw == {slot: slots.get(slot, 0) for slot in range(ar.present_values)}
    values = t.decode_present_values(ar, FirmwareVersion(4, 30), raw)
    for spec in t.PRESENT_SLOTS:
        value = getattr(values, spec.key)
        if spec.slot < ar.present_values:
            assert value == pytest.approx(raw[spec.slot] * spec.scale)
        else:
            assert value is None


# --------------------------------------------------------------------------------------------
# BT52 / BT55

TUESDAY = datetime(2024, 11, 26, 12, 34, 56, tzinfo=UTC)


def test_clock_encode_decode_fixture() -> None:
    data = t.encode_clock(TUESDAY)
    assert data == bytes((24, 11, 26, 12, 34, 56, 2 | 0x10))  # Tuesday = 2, GMT bit
    assert t.decode_clock(data) == TUESDAY
    assert t.decode_clock(data[:6]) == TUESDAY
    assert t.decode_clock(data).tzinfo is UTC


def test_clock_weekday_sunday_is_zero() -> None:
    assert t.encode_clock(datetime(2025, 1, 5, tzinfo=UTC))[6] & 0x07 == 0


def test_clock_converts_aware_times_to_utc() -> None:
    cet = timezone(timedelta(hours=1))
    data = t.encode_clock(datetime(2025, 1, 1, 0, 30, tzinfo=cet))
    assert t.decode_clock(data) == datetime(2024, 12, 31, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "data",
    [
        bytes((24, 13, 1, 0, 0, 0, 0)),  # month 13
        bytes((24, 2, 30, 0, 0, 0, 0)),  # 30 February
        bytes((24, 1, 1, 24, 0, 0, 0)),  # hour 24
        bytes((100, 1, 1, 0, 0, 0, 0)),  # not a two-digit year
    ],
)
def test_clock_invalid_dates(data: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - datetime's own messages vary
        t.decode_clock(data)


def test_clock_short_and_unencodable() -> None:
    with pytest.raises(ValueError, match="BT52"):
        t.decode_clock(bytes((24, 1, 1, 0, 0)))
    with pytest.raises(ValueError, match="aware"):
        t.encode_clock(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="two-digit"):
        t.encode_clock(datetime(2100, 1, 1, tzinfo=UTC))


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31, 23, 59, 59),
        timezones=st.just(UTC),
    ).map(lambda dt: dt.replace(microsecond=0))
)
def test_clock_round_trip(dt: datetime) -> None:
    data = t.encode_clock(dt)
    assert len(data) == t.BT52_SIZE
    assert t.decode_clock(data) == dt
    assert data[6] & 0x07 == dt.isoweekday() % 7


def test_current_tier_fixture() -> None:
    # 2024-11-26 13:34:00 local, Tuesday, TZ+DST applied; bytes 7-8 = 0x3142: tier 2,
    # tier drive 1, special schedule 1, season 3 (bits 0-2, 6-7, 8-11, 12-15).
    data = bytes((24, 11, 26, 13, 34, 0, 0x62, 0x42, 0x31))
    assert t.decode_current_tier(data) == 2
    assert t.decode_current_tier(data[:8]) == 2
    assert t.decode_local_time(data) == datetime(2024, 11, 26, 13, 34)
    with pytest.raises(ValueError, match="BT55"):
        t.decode_current_tier(data[:7])


def test_local_clock_encode() -> None:
    data = t.encode_local_clock(datetime(2024, 11, 26, 13, 34), 7)
    assert len(data) == t.BT55_SIZE == 9
    assert data[7:9] == bytes((0x07, 0x00))
    assert data[6] & 0x07 == 2
    with pytest.raises(ValueError, match="tier"):
        t.encode_local_clock(datetime(2024, 1, 1), 8)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31, 23, 59, 59),
    ).map(lambda dt: dt.replace(microsecond=0)),
    st.integers(0, 7),
)
def test_local_clock_round_trip(dt: datetime, tier: int) -> None:
    data = t.encode_local_clock(dt, tier)
    assert t.decode_current_tier(data) == tier
    assert t.decode_local_time(data) == dt
