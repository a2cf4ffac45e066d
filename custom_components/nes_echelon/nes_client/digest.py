"""The OMA digest: the 8-byte keyed check on every MEP packet (spec §4).

How it works, in short. The digest state D is 8 bytes, all zero at the start. The message is
consumed in *passes*; one pass walks ``k + k // 2`` key bytes (``K[i mod k]`` for i = 0, 1, …,
so 24 key bytes for the 16-byte MEP key). Every key bit, least significant first, drives one
update of one state byte, D[7] down to D[0] for the 8 bits of a key byte, and each update eats
one message byte (zero once the message has run out, until the pass ends). So one pass consumes
``8 * (k + k // 2)`` message bytes (192 for k = 16). Passes repeat while message bytes remain;
an empty message still gets one pass. With ``last`` the state byte written just before (D[0]
at the start of each key byte, 0 at the very start), and all arithmetic modulo 256::

    n = NOT(D[v] + v)
    r = rotate_left(n, 1) if the key bit is 1 else -rotate_right(n, 1)
    D[v] = last + m + r

Speed: the ``r`` term depends only on (key bit, v, D[v]), so it is looked up in one of 16
precomputed 256-entry tables, and the per-key sequence of (v, table) for a whole pass is cached.
An update is then a lookup and two additions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TypeAlias

DIGEST_SIZE = 8


def _rotl(x: int) -> int:
    return ((x << 1) | (x >> 7)) & 0xFF


def _rotr(x: int) -> int:
    return ((x >> 1) | (x << 7)) & 0xFF


def _build_tables() -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """``tables[bit][v][d]`` = the ``r`` term for key bit ``bit``, state index ``v``, D[v] = d."""
    zero_bit: list[bytes] = []
    one_bit: list[bytes] = []
    for v in range(DIGEST_SIZE):
        nots = [~(d + v) & 0xFF for d in range(256)]
        zero_bit.append(bytes(-_rotr(n) & 0xFF for n in nots))
        one_bit.append(bytes(_rotl(n) for n in nots))
    return tuple(zero_bit), tuple(one_bit)


_TABLES = _build_tables()

_Schedule: TypeAlias = tuple[tuple[int, bytes], ...]


@lru_cache(maxsize=8)
def _schedule(key: bytes) -> _Schedule:
    """The (state index, r table) of each update in one pass, in order, for this key."""
    k = len(key)
    steps: list[tuple[int, bytes]] = []
    for i in range(k + k // 2):
        key_byte = key[i % k]
        for bit in range(8):  # least significant key bit first ...
            v = 7 - bit  # ... updating D[7], D[6], ..., D[0]
            steps.append((v, _TABLES[(key_byte >> bit) & 1][v]))
    return tuple(steps)


def digest(key: bytes, data: bytes) -> bytes:
    """Return the 8-byte OMA digest of ``data`` under ``key``.

    This is the one-call form (the "end" step folded in), which is what the meter verifies.
    Any key length of at least 1 works; MEP uses exactly 16 bytes (the first 16 of its key).
    """
    if not key:
        raise ValueError("the digest key must not be empty")
    schedule = _schedule(bytes(key))
    per_pass = len(schedule)
    state = [0] * DIGEST_SIZE
    last = 0
    # An empty message still gets one pass (of zero bytes).
    for start in range(0, max(len(data), 1), per_pass):
        chunk = data[start : start + per_pass]
        if len(chunk) < per_pass:
            chunk = bytes(chunk) + bytes(per_pass - len(chunk))
        for (v, table), m in zip(schedule, chunk, strict=True):
            last = (last + m + table[state[v]]) & 0xFF
            state[v] = last
    return bytes(state)
