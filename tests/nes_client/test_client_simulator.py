"""MeterClient against the simulated meter on a real port: what a user sees on each link."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.nes_echelon.nes_client import (
    EnergyRegisters,
    InsufficientClearance,
    IntegrityError,
    PollOptions,
    UnsupportedMeter,
)
from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.model import MeterIdentity, MeterStatus
from custom_components.nes_echelon.nes_client.optical import OpticalLink
from custom_components.nes_echelon.nes_client.tables import (
    BT00,
    BT01,
    BT03,
    BT20,
    BT21,
    BT52,
    BT55,
    ET03,
    ActualRegister,
    FirmwareVersion,
    GeneralConfig,
    encode_actual_register,
    encode_general_config,
)
from nes_echelon_dev.simulator import SimulatedMeter
from tests.nes_client.conftest import Link, MeterRefuses, StartMeter, Via, table_of
from tests.nes_client.expect import assert_snapshot
from tests.nes_client.scripted import ScriptedStream, optical_meter, requests_in, simulated_reads


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_identity_registers_and_present_values(
    start_meter: StartMeter, link: Link, via: Via
) -> None:
    running = await start_meter(link=link, via=via)
    client = await running.client()

    identity = client.identity
    assert identity is not None
    assert identity.serial_number == "0710123456"
    assert identity.manufacturer == "NES"
    assert identity.model == "83331-3I"
    assert identity.firmware == FirmwareVersion(3, 80, 5)
    assert str(identity.firmware) == "3.80.05"
    assert identity.phases == 3
    assert identity.dimensions == running.meter.dimensions

    snapshot = await client.read()
    assert_snapshot(snapshot, running.meter)
    # The same numbers a user reads off the meter's display and the spec's capture.
    assert snapshot.total == EnergyRegisters(33_821_691, 1_739_085, 4_210_339, 912_004)
    assert snapshot.present.voltage_l1 == 231.392
    assert snapshot.present.frequency == 50.012
    assert snapshot.present.power_import == 1070.0
    assert snapshot.present.power_export_l3 == 310.0


async def test_single_phase_meter(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(SimulatedMeter(phases=1, model="83331-1I"), link=link)
    client = await running.client()
    assert client.identity is not None
    assert client.identity.phases == 1
    assert client.identity.model == "83331-1I"
    snapshot = await client.read()
    assert_snapshot(snapshot, running.meter)
    # Its L2/L3 slots read as zero; it has no such phases, so no such values.
    assert snapshot.present.voltage_l1 == 231.392
    assert snapshot.present.voltage_l2 is None
    assert snapshot.present.voltage_l3 is None


@pytest.mark.parametrize("tiers", [0, 1, 4, 8])
async def test_tier_registers(start_meter: StartMeter, link: Link, tiers: int) -> None:
    meter = SimulatedMeter(tiers=tiers)
    if tiers:  # give every tier its own values, so a block mix-up shows
        for block in range(1, 1 + tiers):
            meter.energy[block] = [1_000.0 * block + n for n in range(4)]
    running = await start_meter(meter, link=link)
    client = await running.client()
    assert client.identity is not None
    assert client.identity.dimensions.tiers == tiers
    snapshot = await client.read()
    assert len(snapshot.tiers) == tiers
    assert_snapshot(snapshot, meter)


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_demand_enabled_layout(start_meter: StartMeter, link: Link, via: Via) -> None:
    """BT21 with demands and present demands moves every offset; values are still right."""
    meter = SimulatedMeter(demand_layout=True, tiers=4)
    running = await start_meter(meter, link=link, via=via)
    client = await running.client()
    assert client.identity is not None
    dims = client.identity.dimensions
    assert dims.bt23_prefix == 1  # a demand-reset count byte first
    assert dims.bt28_present_demand_size > 0
    assert dims.bt23_block_size > 15 * 4
    snapshot = await client.read()
    assert_snapshot(snapshot, meter)


async def test_poll_options_read_less(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    wanted = frozenset({"power_import", "voltage_l1", "neutral_current"})  # 3.80: no neutral
    options = PollOptions(present=wanted, tiers=False)
    client = await running.client(options=options)
    snapshot = await client.read()
    assert_snapshot(snapshot, running.meter, with_tiers=False, present_keys=wanted)
    assert snapshot.present.power_import == 1070.0
    assert snapshot.present.voltage_l1 == 231.392
    # Slots 1-6 came along inside the one merged read; the snapshot holds only what was asked.
    assert snapshot.present.power_export is None
    assert snapshot.present.current_l1 is None
    assert snapshot.present.power_import_l1 is None
    assert snapshot.present.neutral_current is None


DEFAULT_PRESENT = frozenset({"power_import", "power_export", "current_l1", "voltage_l1"})


async def test_default_entities_poll_reads_one_short_bt28_range() -> None:
    """What the integration's default entities need (slots 0, 1, 4, 7): one read of slots 0-7
    (32 bytes), not the 15 base slots of old (60 bytes); energy: the total and the tier in
    force. Two requests per steady-state poll."""
    meter = SimulatedMeter()  # tier 0 in force: its block is read with the total's
    stream = ScriptedStream(optical_meter(simulated_reads(meter)))
    link = OpticalLink(stream, meter.key, response_timeout=0.2)  # type: ignore[arg-type]
    client = MeterClient(link, options=PollOptions(present=DEFAULT_PRESENT))
    await client.connect()
    await client.read()
    await client.read_status()
    await client.read()  # every tier once after a status read
    meter.advance(60)
    before = len(requests_in(stream.written))
    snapshot = await client.read()
    reads = requests_in(stream.written)[before:]
    assert_snapshot(snapshot, meter, present_keys=DEFAULT_PRESENT)
    assert len(reads) == 2
    bt28 = [r for r in reads if r[0] == 0x3F and r[1:3] == (28).to_bytes(2, "big")]
    assert bt28 == [b"\x3f\x00\x1c\x00\x00\x00\x00\x20"]  # offset 0, 32 bytes


async def test_single_phase_meter_has_no_other_phases(start_meter: StartMeter) -> None:
    running = await start_meter(SimulatedMeter(phases=1, model="83331-1I"))
    client = await running.client()
    identity = client.identity
    assert identity is not None
    assert {"voltage_l1", "current_l1", "power_import_l1"} <= identity.present_keys
    assert not any(key.endswith(("_l2", "_l3")) for key in identity.present_keys)
    assert all(spec.phase in (None, 1) for spec in identity.present_slots)


@pytest.mark.parametrize(
    ("firmware", "expected"),
    [(FirmwareVersion(4, 30), True), (FirmwareVersion(3, 80, 5), False)],
)
async def test_neutral_current(
    start_meter: StartMeter, firmware: FirmwareVersion, expected: bool
) -> None:
    """Slot 71 (firmware 4.00 on): the simulator's phasor sum of the phase currents."""
    meter = SimulatedMeter(firmware=firmware)
    running = await start_meter(meter)
    client = await running.client()
    assert client.identity is not None
    assert ("neutral_current" in client.identity.present_keys) == expected
    snapshot = await client.read()
    assert_snapshot(snapshot, meter)
    if expected:
        assert snapshot.present.neutral_current == meter.present_slots()[71] / 1000
        assert 0 < snapshot.present.neutral_current < sum(load.current for load in meter.loads)
    else:
        assert snapshot.present.neutral_current is None


def test_identity_and_status_derived_values() -> None:
    meter = SimulatedMeter(tiers=8)
    identity = MeterIdentity(
        serial_number=meter.serial_number,
        manufacturer=meter.manufacturer,
        model=meter.model,
        firmware=meter.firmware,
        dimensions=meter.dimensions,
        phases=3,
    )
    assert identity.tiers == 8
    assert identity.has_reactive_energy
    assert not replace(
        identity, dimensions=replace(meter.dimensions, summations=2)
    ).has_reactive_energy
    assert MeterStatus(alarms=None, current_tier=0, clock=None).tier_number == 1
    assert MeterStatus(alarms=None, current_tier=7, clock=None).tier_number == 8
    assert MeterStatus(alarms=None, current_tier=None, clock=None).tier_number is None


@pytest.mark.parametrize(
    ("firmware", "present_values"),
    [
        (FirmwareVersion(3, 0, 24), 18),
        (FirmwareVersion(3, 10, 21), 26),
        (FirmwareVersion(4, 30), 72),
    ],
)
async def test_firmware_gates_per_phase_power(
    start_meter: StartMeter, firmware: FirmwareVersion, present_values: int
) -> None:
    meter = SimulatedMeter(firmware=firmware)
    running = await start_meter(meter)
    client = await running.client()
    assert client.identity is not None
    assert client.identity.firmware == firmware
    assert client.identity.dimensions.present_values == present_values
    snapshot = await client.read()
    assert_snapshot(snapshot, meter)
    per_phase = snapshot.present.power_import_l1
    assert (per_phase is None) == (firmware < FirmwareVersion(3, 50))


async def test_values_follow_the_meter(start_meter: StartMeter, link: Link) -> None:
    """An hour at the simulated load: every register moves by exactly what flowed."""
    running = await start_meter(link=link)
    meter = running.meter
    meter.current_tier = 1
    client = await running.client()
    before = await client.read()
    meter.advance(3600)
    after = await client.read()
    assert after.total.import_wh == before.total.import_wh + 1070
    assert after.total.export_wh == before.total.export_wh + 310
    assert after.tiers[1].import_wh == before.tiers[1].import_wh + 1070  # the tier in force
    assert after.tiers[0] == before.tiers[0]
    assert_snapshot(after, meter)
    status = await client.read_status()
    assert status.alarms is not None
    assert status.alarms.reverse_energy  # export flowed
    assert status.current_tier == 1


async def test_counter_reset_reports_true_zeros(start_meter: StartMeter, link: Link) -> None:
    """After a register reset the client reports the zeros; guarding the dashboard is the
    integration's job, not the client's."""
    running = await start_meter(link=link)
    client = await running.client()
    await client.read()
    running.meter.reset_counters()
    snapshot = await client.read()
    assert snapshot.total == EnergyRegisters(0, 0, 0, 0)
    assert all(tier == EnergyRegisters(0, 0, 0, 0) for tier in snapshot.tiers)
    assert_snapshot(snapshot, running.meter)


async def test_meter_reboot_between_polls(start_meter: StartMeter, link: Link) -> None:
    running = await start_meter(link=link)
    client = await running.client()
    assert_snapshot(await client.read(), running.meter)
    running.meter.advance(60)
    running.sim.reboot()
    assert_snapshot(await client.read(), running.meter)
    assert_snapshot(await client.read(), running.meter)
    if link == "optical":
        port = running.sim.port
        assert getattr(port, "sessions", None) == 2  # the lost session was opened again
    else:
        # The meter forgot its sequence number; the client adopted the one it sent (0x0C).
        assert client.link.sequence == running.sim.port.last_sequence + 1  # type: ignore[attr-defined]


async def test_read_status(start_meter: StartMeter, link: Link) -> None:
    meter = SimulatedMeter(current_tier=2, clock_drift=timedelta(minutes=-7, seconds=-30))
    meter.alarms = replace(meter.alarms, cover_removed=True, phase_loss=True, magnetic_tamper=True)
    running = await start_meter(meter, link=link)
    client = await running.client()
    status = await client.read_status()
    assert status.alarms == meter.alarms
    assert status.alarms is not None
    assert status.alarms.active == ("cover_removed", "phase_loss", "magnetic_tamper")
    assert status.current_tier == 2
    assert status.clock is not None
    drift = status.clock - datetime.now(UTC)
    assert abs(drift - meter.clock_drift) < timedelta(seconds=3)

    meter.alarms = replace(meter.alarms, cover_removed=False, power_failure=True)
    meter.current_tier = 7
    status = await client.read_status()
    assert status.alarms == meter.alarms
    assert status.current_tier == 7


async def test_status_without_clearance_is_partial_not_an_error(
    start_meter: StartMeter, link: Link, meter_refuses: MeterRefuses
) -> None:
    """A key without rights for BT03/BT55 (0x03) leaves those parts out of the status."""
    meter_refuses(lambda request: b"\x03" if table_of(request) in (BT03, BT55) else None)
    running = await start_meter(link=link)
    client = await running.client()
    status = await client.read_status()
    assert status.alarms is None
    assert status.current_tier is None
    assert status.clock is not None
    assert_snapshot(await client.read(), running.meter)


async def test_status_tables_missing_or_unsupported(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    refusals = {BT03: b"\x02", BT55: b"\x05", BT52: b"\x03"}
    meter_refuses(lambda request: refusals.get(table_of(request)))
    running = await start_meter()
    client = await running.client()
    status = await client.read_status()
    assert (status.alarms, status.current_tier, status.clock) == (None, None, None)
    assert status.as_dict() == {"alarms": None, "current_tier": None, "clock": None}


async def test_unset_meter_clock_is_none(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    unset = b"\x00\x00\x07" + bytes(7) + b"\x00"  # 00 count 7, all-zero date, checksum 0
    meter_refuses(lambda request: unset if table_of(request) == BT52 else None)
    running = await start_meter()
    client = await running.client()
    status = await client.read_status()
    assert status.clock is None
    assert status.alarms is not None


async def test_other_refusals_are_errors(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    """Clearance refused on a table every poll needs is an error the caller sees."""
    running = await start_meter()
    client = await running.client()
    meter_refuses(lambda request: b"\x03" if table_of(request) == 23 else None)
    with pytest.raises(InsufficientClearance):
        await client.read()


@pytest.mark.parametrize("refused", [BT01, BT21])
async def test_full_read_refused_falls_back_to_partial_reads(
    start_meter: StartMeter, link: Link, meter_refuses: MeterRefuses, refused: int
) -> None:
    meter_refuses(
        lambda request: b"\x02" if request[0] == 0x30 and table_of(request) == refused else None
    )
    running = await start_meter(link=link)
    client = await running.client()
    assert client._partial_only == {refused}
    assert client.identity is not None
    assert client.identity.model == "83331-3I"
    assert client.identity.dimensions == running.meter.dimensions
    assert_snapshot(await client.read(), running.meter)


async def test_mep_full_read_refused_with_0x0b_is_not_a_wrong_key(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    """Some meters refuse full reads with 0x0B even with the right key (spec §5)."""
    meter_refuses(lambda request: b"\x0b" if request[0] == 0x30 else None)
    running = await start_meter(link="mep")
    client = await running.client()
    assert client._partial_only == {BT01, BT21}
    assert_snapshot(await client.read(), running.meter)
    assert running.failed_logons == 0


async def test_bt21_refused_reads_bt20(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    """An "inappropriate action" on BT21 means the meter has BT20 instead [OPT p.19-20]."""
    meter = SimulatedMeter()
    bt20 = encode_actual_register(meter.dimensions)

    def rule(request: bytes) -> bytes | None:
        if table_of(request) == BT21:
            return b"\x05"
        if table_of(request) == BT20:
            return b"\x00" + len(bt20).to_bytes(2, "big") + bt20 + bytes([-sum(bt20) & 0xFF])
        return None

    meter_refuses(rule)
    running = await start_meter(meter)
    client = await running.client()
    assert client.identity is not None
    assert client.identity.dimensions == meter.dimensions
    assert_snapshot(await client.read(), meter)


async def test_dimension_change_alarm_rereads_the_layout(
    start_meter: StartMeter, link: Link
) -> None:
    running = await start_meter(link=link)
    meter = running.meter
    client = await running.client()
    assert_snapshot(await client.read(), meter)
    # A configuration change moves every offset, and the meter says so in BT03.
    meter.demand_layout = True
    meter.alarms = replace(meter.alarms, dimension_change=True)
    status = await client.read_status()
    assert status.alarms is not None
    assert status.alarms.dimension_change
    assert client.identity is not None
    assert client.identity.dimensions == meter.dimensions
    assert_snapshot(await client.read(), meter)


async def test_dimension_change_ends_the_session_before_identify() -> None:
    """Re-identifying after a dimension-change alarm opens a new session: Log Off (0x52) and
    Terminate (0x21) end the live one first, as Identify is only a session's first request."""
    meter = SimulatedMeter()
    stream = ScriptedStream(optical_meter(simulated_reads(meter)))
    client = MeterClient(OpticalLink(stream, meter.key, response_timeout=0.2))  # type: ignore[arg-type]
    await client.connect()
    await client.read()
    meter.alarms = replace(meter.alarms, dimension_change=True)
    await client.read_status()
    codes = [request[0] for request in requests_in(stream.written)]
    identifies = [index for index, code in enumerate(codes) if code == 0x20]
    assert len(identifies) == 2
    assert codes[identifies[1] - 2 : identifies[1]] == [0x52, 0x21]


async def test_read_before_connect(start_meter: StartMeter) -> None:
    running = await start_meter()
    client = await running.unconnected()
    with pytest.raises(RuntimeError, match="connect"):
        await client.read()


class _OddMeter(SimulatedMeter):
    """A meter whose tables can be overridden one by one."""

    overrides: dict[int, bytes]

    def table(self, table_id: int) -> bytes | None:
        if table_id in self.overrides:
            return self.overrides[table_id]
        return super().table(table_id)


def _odd(overrides: dict[int, bytes]) -> _OddMeter:
    meter = _OddMeter()
    meter.overrides = overrides
    return meter


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (GeneralConfig(False, 0x88, "NES", 6), "little endian False"),
        (GeneralConfig(True, 0x44, "NES", 6), "0x44"),
    ],
    ids=["big-endian", "not-int32"],
)
async def test_unsupported_table_format(
    start_meter: StartMeter, config: GeneralConfig, message: str
) -> None:
    running = await start_meter(_odd({BT00: encode_general_config(config)}))
    client = await running.unconnected()
    with pytest.raises(UnsupportedMeter, match=message):
        await client.connect()


async def test_serial_falls_back_to_the_manufacturer_serial(start_meter: StartMeter) -> None:
    running = await start_meter(_odd({ET03: bytes(143)}))  # ET03 empty
    client = await running.client()
    assert client.identity is not None
    assert client.identity.serial_number == "0000000710123456"  # BT01's BCD serial


async def test_meter_without_any_serial(start_meter: StartMeter) -> None:
    meter = _odd({ET03: bytes(143)})
    ident = meter.table(BT01) or b""
    # A character serial (ID_FORM 0): a 32-byte BT01 whose serial field is empty.
    meter.overrides[BT00] = encode_general_config(
        GeneralConfig(True, 0x88, "NES", 6, identification_bcd=False)
    )
    meter.overrides[BT01] = ident[:16] + bytes(16)
    running = await start_meter(meter)
    client = await running.unconnected()
    with pytest.raises(UnsupportedMeter, match="no serial"):
        await client.connect()


async def test_meter_without_energy_registers(start_meter: StartMeter) -> None:
    dims = ActualRegister(0, 0, 0, 1, 0, 0, 0, 0, 0, 32)
    running = await start_meter(_odd({BT21: encode_actual_register(dims)}))
    client = await running.client()
    with pytest.raises(UnsupportedMeter, match="no import/export"):
        await client.read()


async def test_two_summations_only(start_meter: StartMeter) -> None:
    """A meter with only active energy: reactive registers are None, not zero."""
    dims = ActualRegister(0, 0, 0, 2, 0, 0, 0, 0, 0, 32)
    meter = _odd({BT21: encode_actual_register(dims)})
    meter.overrides[23] = (123_456).to_bytes(4, "little") + (789).to_bytes(4, "little")
    running = await start_meter(meter)
    client = await running.client()
    snapshot = await client.read()
    assert snapshot.total == EnergyRegisters(123_456, 789, None, None)
    assert snapshot.tiers == ()


async def test_small_negotiated_packets() -> None:
    """A meter that grants only 32-byte packets: every table is read in small pieces, even
    BT01 (too big for one), and the values are the same."""
    meter = SimulatedMeter()
    stream = ScriptedStream(
        optical_meter(simulated_reads(meter), negotiate=b"\x00\x00\x20\x01\x06")
    )
    client = MeterClient(OpticalLink(stream, meter.key, response_timeout=0.2))  # type: ignore[arg-type]
    identity = await client.connect()
    assert client.link.max_read == 32 - 8 - 4
    assert identity.model == meter.model
    assert_snapshot(await client.read(), meter)
    reads = [r for r in requests_in(stream.written) if r[0] in (0x30, 0x3F)]
    assert b"\x30\x00\x01" not in reads  # BT01 (24 bytes) is not asked for whole
    assert b"\x30\x00\x15" in reads  # BT21 (10 bytes) is
    assert all(int.from_bytes(r[6:8], "big") <= 20 for r in reads if r[0] == 0x3F)
    assert client._partial_only == set()


async def test_short_full_read_is_an_integrity_error(
    start_meter: StartMeter, meter_refuses: MeterRefuses
) -> None:
    """A full read of BT21 that brings fewer bytes than its fields need is never decoded."""
    short = b"\x00\x00\x05" + bytes(5) + b"\x00"
    meter_refuses(
        lambda request: short if request[0] == 0x30 and table_of(request) == BT21 else None
    )
    running = await start_meter()
    client = await running.unconnected()
    with pytest.raises(IntegrityError, match="table 21: 5 bytes, need 10"):
        await client.connect()
