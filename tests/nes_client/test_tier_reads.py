"""A poll reads the total and the tier in force; the other tiers only when the total says so.

Only the tier in force accumulates, so its registers move as the total's. Whenever they do not
(the tariff changed, a reset, the tier not known yet), every tier block is read again; so it is
at the first poll after each status read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from custom_components.nes_echelon.nes_client.client import MeterClient
from custom_components.nes_echelon.nes_client.tables import BT23
from nes_echelon_dev.simulator import SimulatedMeter
from tests.nes_client.conftest import Link, StartMeter, table_of
from tests.nes_client.expect import assert_snapshot


def record_bt23(client: MeterClient) -> list[tuple[int, int]]:
    """The (offset, count) of every BT23 read the client sends from now on."""
    reads: list[tuple[int, int]] = []
    request: Callable[[bytes], Awaitable[bytes]] = client.link.request

    async def recorded(psem: bytes) -> bytes:
        if psem[:1] == b"\x3f" and table_of(psem) == BT23:
            reads.append((int.from_bytes(psem[3:6], "big"), int.from_bytes(psem[6:8], "big")))
        return await request(psem)

    client.link.request = recorded  # type: ignore[method-assign]
    return reads


def bt23_bytes(reads: list[tuple[int, int]]) -> set[int]:
    return {offset + i for offset, count in reads for i in range(count)}


def block_bytes(meter: SimulatedMeter, *blocks: int) -> set[int]:
    """The BT23 bytes of summations 0-3 of these blocks (0 = total, 1.. = tier 0..)."""
    dims = meter.dimensions
    starts = [dims.summation_offset(block, 0) for block in blocks]
    return {start + i for start in starts if start is not None for i in range(16)}


async def test_a_poll_reads_the_total_and_the_tier_in_force(
    start_meter: StartMeter, link: Link
) -> None:
    meter = SimulatedMeter(tiers=8, current_tier=5)
    running = await start_meter(meter, link=link)
    client = await running.client()
    reads = record_bt23(client)
    assert_snapshot(await client.read(), meter)  # the tier in force is not known yet
    assert bt23_bytes(reads) >= block_bytes(meter, *range(9))
    await client.read_status()  # BT55 names it: tier 5
    await client.read()  # every tier once after a status read
    for _ in range(3):
        reads.clear()
        meter.advance(600)
        assert_snapshot(await client.read(), meter)
        assert bt23_bytes(reads) == block_bytes(meter, 0, 6)
        assert len(reads) == 2  # far apart: two small reads, not one of 280 bytes


async def test_every_tier_once_per_status_read(start_meter: StartMeter, link: Link) -> None:
    meter = SimulatedMeter(tiers=4, current_tier=1)
    running = await start_meter(meter, link=link)
    client = await running.client()
    await client.read()
    await client.read_status()
    reads = record_bt23(client)
    for _ in range(2):
        await client.read_status()
        for expected in (block_bytes(meter, *range(5)), block_bytes(meter, 0, 2)):
            reads.clear()
            meter.advance(600)
            assert_snapshot(await client.read(), meter)
            assert bt23_bytes(reads) >= expected


async def test_the_tier_in_force_is_found_without_the_status(
    start_meter: StartMeter, link: Link
) -> None:
    meter = SimulatedMeter(tiers=4, current_tier=2)
    running = await start_meter(meter, link=link)
    client = await running.client()
    await client.read()
    meter.advance(60)
    await client.read()  # everything again: the tier in force is the one that moved
    reads = record_bt23(client)
    meter.advance(60)
    assert_snapshot(await client.read(), meter)
    assert bt23_bytes(reads) == block_bytes(meter, 0, 3)


async def test_a_tariff_change_reads_every_tier(start_meter: StartMeter, link: Link) -> None:
    meter = SimulatedMeter(tiers=4, current_tier=0)
    running = await start_meter(meter, link=link)
    client = await running.client()
    await client.read()
    await client.read_status()
    await client.read()
    reads = record_bt23(client)

    meter.current_tier = 3  # the night tariff starts
    meter.advance(600)
    assert_snapshot(await client.read(), meter)  # tier 0 did not move as the total did
    assert bt23_bytes(reads) >= block_bytes(meter, *range(5))
    reads.clear()
    meter.advance(600)
    assert_snapshot(await client.read(), meter)
    assert bt23_bytes(reads) == block_bytes(meter, 0, 4)


async def test_a_change_between_polls_and_nothing_flowing(
    start_meter: StartMeter, link: Link
) -> None:
    """Energy in two tiers since the last poll: neither moved as the total, so the tier is
    not known and the next poll reads everything; so does one after which nothing moved."""
    meter = SimulatedMeter(tiers=4, current_tier=0)
    running = await start_meter(meter, link=link)
    client = await running.client()
    await client.read()
    await client.read_status()
    meter.advance(60)
    meter.current_tier = 1
    meter.advance(60)
    assert_snapshot(await client.read(), meter)
    reads = record_bt23(client)
    assert_snapshot(await client.read(), meter)  # nothing moved: still not known
    assert bt23_bytes(reads) >= block_bytes(meter, *range(5))
    reads.clear()
    meter.advance(60)
    assert_snapshot(await client.read(), meter)
    assert bt23_bytes(reads) >= block_bytes(meter, *range(5))
    reads.clear()
    meter.advance(60)
    assert_snapshot(await client.read(), meter)
    assert bt23_bytes(reads) == block_bytes(meter, 0, 2)


async def test_a_reset_reads_every_tier(start_meter: StartMeter, link: Link) -> None:
    meter = SimulatedMeter(tiers=4, current_tier=1)
    running = await start_meter(meter, link=link)
    client = await running.client()
    await client.read()
    await client.read_status()
    meter.reset_counters()
    assert_snapshot(await client.read(), meter)


async def test_reconnect_forgets_the_tier(start_meter: StartMeter) -> None:
    meter = SimulatedMeter(tiers=4, current_tier=1)
    running = await start_meter(meter)
    client = await running.client()
    await client.read()
    await client.read_status()
    await client.connect()  # e.g. the meter's dimensions changed
    reads = record_bt23(client)
    meter.energy[3] = [value + 1.0 for value in meter.energy[3]]  # unseen while disconnected
    assert_snapshot(await client.read(), meter)
    assert bt23_bytes(reads) >= block_bytes(meter, *range(5))
