"""Hostile bytes: only the client's own typed errors come out, and nothing grows without bound.

A short fuzz run (the long one is scripts/fuzz) and property-based tests of the same
promises: any bytes into the frame and packet scanners, the MEP digest check, the PSEM
response checks and every table decoder; mutated and re-signed answers through both links.
"""

from __future__ import annotations

import contextlib
import os

from hypothesis import given, settings, strategies as st

from custom_components.nes_echelon.guard import EnergyGuard
from custom_components.nes_echelon.nes_client import psem, tables
from custom_components.nes_echelon.nes_client.errors import NesError
from custom_components.nes_echelon.nes_client.mep_packet import (
    MAX_BODY,
    PacketScanner,
    verify_response,
)
from custom_components.nes_echelon.nes_client.optical_frame import FrameScanner
from nes_echelon_dev import fuzzing

SEED = int(os.environ.get("NES_ECHELON_FUZZ_SEED", "2026"))
SHORT_RUN_CASES = 10_000


def test_short_fuzz_run() -> None:
    """~10,000 cases (~22,000 packets) of random and mutated input through every target."""
    stats = fuzzing.run(SEED, cases=SHORT_RUN_CASES)
    assert stats.failures == [], "\n".join(stats.failures[:20])
    assert stats.cases == SHORT_RUN_CASES
    assert set(stats.packets) == set(fuzzing.WEIGHTS)  # every target had its turn
    # The client runs got somewhere: whole polls, and each kind of refusal.
    assert stats.outcomes["ok"] > 0
    for error in ("IntegrityError", "NoResponse", "UnsupportedMeter", "AuthenticationFailed"):
        assert stats.outcomes[error] > 0, error


def test_every_table_decoder_is_fuzzed() -> None:
    """A decoder added to the tables module must get a line in fuzzing.DECODERS."""
    assert fuzzing.missing_decoders() == []


def test_a_replayed_case_is_the_same_case() -> None:
    """A failure reports (seed, case): replaying that pair runs exactly the same input."""
    assert fuzzing.case_rng(7, 1234).random() == fuzzing.case_rng(7, 1234).random()
    assert fuzzing.case_rng(7, 1234).random() != fuzzing.case_rng(7, 1235).random()


# -- properties --------------------------------------------------------------------------------

chunk_sizes = st.lists(st.integers(1, 300), min_size=1, max_size=20)


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    out, position, index = [], 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        out.append(data[position : position + size])
        position += size
        index += 1
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=20_000), sizes=chunk_sizes)
def test_frame_scanner_takes_anything_and_stays_bounded(data: bytes, sizes: list[int]) -> None:
    """Any bytes: events only, never an exception, and never more than one frame held."""
    scanner = FrameScanner()
    for piece in _pieces(data, sizes):
        scanner.feed(piece)
        while scanner.next_event() is not None:
            pass
        assert scanner.buffered < fuzzing.MAX_FRAME


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=5_000), sizes=chunk_sizes)
def test_packet_scanner_takes_anything_and_stays_bounded(data: bytes, sizes: list[int]) -> None:
    """Any bytes: packets, alerts or IntegrityError (lost framing), and never more than one
    packet held: a length field cannot make it wait for more than 476 bytes."""
    scanner = PacketScanner()
    for piece in _pieces(data, sizes):
        scanner.feed(piece)
        while True:
            try:
                event = scanner.next_event()
            except NesError:
                continue
            if event is None:
                break
        assert scanner.buffered < 2 + MAX_BODY


@settings(max_examples=300, deadline=None)
@given(core=st.binary(max_size=40), body=st.binary(max_size=600))
def test_verify_response_only_raises_integrity_errors(core: bytes, body: bytes) -> None:
    with contextlib.suppress(NesError):
        verify_response(core, body, fuzzing.MEP_KEY)


@settings(max_examples=300, deadline=None)
@given(
    response=st.binary(max_size=300),
    checksum=st.booleans(),
    expected=st.none() | st.integers(0, 300),
)
def test_psem_checks_only_raise_typed_errors(
    response: bytes, checksum: bool, expected: int | None
) -> None:
    for call in (
        lambda: psem.check(response),
        lambda: psem.read_data(response, checksum=checksum, expected=expected),
    ):
        with contextlib.suppress(NesError):
            call()


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), seed=st.integers(0, 2**32))
def test_table_decoders_only_raise_value_errors(data: bytes, seed: int) -> None:
    """Each decoder raises ValueError on input it cannot take (as documented), nothing else."""
    rng = fuzzing.case_rng(seed, 0)
    for name, call in fuzzing.DECODERS.items():
        if name != "from_packed" and not hasattr(tables, name):
            continue
        with contextlib.suppress(ValueError):
            call(rng, data)


# -- the energy guard: what reaches the Energy dashboard ---------------------------------------

readings = st.lists(
    st.one_of(st.none(), st.integers(0, 50).map(float), st.integers(0, 10**6).map(float)),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(values=readings, confirmations=st.integers(1, 4))
def test_published_energy_never_drops_unless_the_drop_persists(
    values: list[float | None], confirmations: int
) -> None:
    """Whatever the meter reads, a published value is never below the last published one,
    except after `confirmations` readings in a row below it that counted up from their new
    base (a real reset, which total_increasing takes as a new cycle); a total never starts at
    0. None (a register the meter does not have) is not a reading."""
    guard = EnergyGuard(confirmations=confirmations)
    last: float | None = None
    low_run: list[float] = []  # readings in a row below the last published one
    for value in values:
        published = guard.accept("energy_import", value)
        if value is None:  # no such register: not a reading
            assert published is None
            continue
        if last is not None and value < last:
            low_run = [*low_run, value] if low_run and value >= low_run[-1] else [value]
        else:
            low_run = []
        if published is None:
            # Unknown only for a first 0 or a drop not yet confirmed.
            assert (last is None and value == 0) or (last is not None and value < last)
            continue
        assert published == value
        if last is None:
            assert published != 0
        elif published < last:
            assert len(low_run) >= confirmations
            assert low_run == sorted(low_run)
            low_run = []
        last = published
