"""Which byte ranges a poll reads: only what is needed, merged where a gap is cheaper."""

from __future__ import annotations

from collections.abc import Iterable

# A separate request costs about 30 bytes on either wire (framing, ACKs, digest, header);
# reading a gap up to this size is cheaper than a second request.
MERGE_GAP = 32


def merge_ranges(
    ranges: Iterable[tuple[int, int]], *, max_gap: int = MERGE_GAP
) -> list[tuple[int, int]]:
    """Sort (offset, length) ranges and join those overlapping or separated by <= max_gap."""
    merged: list[tuple[int, int]] = []
    for offset, length in sorted(r for r in ranges if r[1] > 0):
        if merged:
            last_offset, last_length = merged[-1]
            last_end = last_offset + last_length
            if offset - last_end <= max_gap:
                merged[-1] = (last_offset, max(last_end, offset + length) - last_offset)
                continue
        merged.append((offset, length))
    return merged


def split_range(offset: int, length: int, max_read: int) -> list[tuple[int, int]]:
    """Chunks of at most max_read bytes that cover one range."""
    if max_read <= 0:
        raise ValueError("max_read must be positive")
    return [
        (start, min(max_read, offset + length - start))
        for start in range(offset, offset + length, max_read)
    ]
