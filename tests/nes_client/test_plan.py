"""The poll plan: which byte ranges are read, and in how many requests."""

from __future__ import annotations

import itertools

from hypothesis import given, strategies as st
import pytest

from custom_components.nes_echelon.nes_client.plan import MERGE_GAP, merge_ranges, split_range


@pytest.mark.parametrize(
    ("ranges", "merged"),
    [
        ([], []),
        ([(0, 16)], [(0, 16)]),
        ([(0, 0), (10, 0)], []),  # empty ranges read nothing
        ([(44, 16), (0, 16)], [(0, 60)]),  # sorted; a 28-byte gap is cheaper than a request
        ([(0, 16), (16 + MERGE_GAP, 4)], [(0, 16 + MERGE_GAP + 4)]),  # gap == limit: merged
        ([(0, 16), (17 + MERGE_GAP, 4)], [(0, 16), (17 + MERGE_GAP, 4)]),  # one more: not
        ([(0, 16), (4, 4)], [(0, 16)]),  # contained
        ([(0, 16), (8, 16)], [(0, 24)]),  # overlapping
        ([(0, 4), (4, 4), (8, 4)], [(0, 12)]),  # adjacent
        ([(0, 4), (60, 4), (40, 4)], [(0, 4), (40, 24)]),
    ],
)
def test_merge_ranges(ranges: list[tuple[int, int]], merged: list[tuple[int, int]]) -> None:
    assert merge_ranges(ranges) == merged


def test_merge_ranges_gap_is_configurable() -> None:
    assert merge_ranges([(0, 4), (5, 4)], max_gap=0) == [(0, 4), (5, 4)]
    assert merge_ranges([(0, 4), (4, 4)], max_gap=0) == [(0, 8)]


@pytest.mark.parametrize(
    ("offset", "length", "max_read", "chunks"),
    [
        (0, 0, 52, []),
        (0, 52, 52, [(0, 52)]),
        (0, 53, 52, [(0, 52), (52, 1)]),
        (10, 200, 108, [(10, 108), (118, 92)]),
        (5, 3, 1, [(5, 1), (6, 1), (7, 1)]),
    ],
)
def test_split_range(
    offset: int, length: int, max_read: int, chunks: list[tuple[int, int]]
) -> None:
    assert split_range(offset, length, max_read) == chunks


@pytest.mark.parametrize("max_read", [0, -1])
def test_split_range_needs_a_positive_size(max_read: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        split_range(0, 10, max_read)


@given(
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 300)), max_size=12),
    st.integers(0, 64),
)
def test_merged_ranges_cover_every_byte_and_stay_apart(
    ranges: list[tuple[int, int]], gap: int
) -> None:
    merged = merge_ranges(ranges, max_gap=gap)
    for offset, length in ranges:
        if length:
            assert any(o <= offset and offset + length <= o + n for o, n in merged)
    for (a, n), (b, _) in itertools.pairwise(merged):
        assert b - (a + n) > gap


@given(st.integers(0, 10_000), st.integers(0, 3000), st.integers(1, 300))
def test_split_chunks_tile_the_range(offset: int, length: int, max_read: int) -> None:
    chunks = split_range(offset, length, max_read)
    assert sum(n for _, n in chunks) == length
    assert all(0 < n <= max_read for _, n in chunks)
    position = offset
    for start, n in chunks:
        assert start == position
        position += n
