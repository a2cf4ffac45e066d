"""Section "wire": bytes and time per regular poll, the wire-time and meter floors, and the
shortest sustainable poll interval (simulator paced at 9600 baud)."""

from __future__ import annotations

import statistics

from .output import note
from .polls import PollRun
from .recorder import meter_floor, quantile, wire_floor


def print_wire(runs: list[PollRun]) -> None:
    print(
        f"{'link':18} {'entities':8} {'out':>4} {'in':>4} {'floor':>6} {'meter':>6}"
        f" {'median':>6} {'p95':>6} {'ratio':>5} {'p95':>5} {'ratio':>6} {'whole':>6}"
    )
    print(
        f"{'':18} {'':8} {'B':>4} {'B':>4} {'ms':>6} {'floor':>6} {'ms':>6} {'ms':>6}"
        f" {'':>5} {'ratio':>5} {'bytes':>6} {'tables':>6}"
    )
    for run in runs:
        tx = statistics.median(sum(e.tx for e in p) for p in run.polls)
        rx = statistics.median(sum(e.rx for e in p) for p in run.polls)
        floor = wire_floor(run.poll)
        mfloor = meter_floor(run.poll, run.link)
        median = statistics.median(run.times)
        p95 = quantile(run.times, 0.95)
        whole = sum(e.wire_bytes for e in run.whole_table)
        link = run.link + (" (a)" if run.pattern else "")
        print(
            f"{link:18} {run.entities.split()[0]:8} {tx:4.0f} {rx:4.0f} {floor * 1000:6.1f}"
            f" {mfloor * 1000:6.1f} {median * 1000:6.1f} {p95 * 1000:6.1f}"
            f" {median / mfloor:5.2f} {p95 / mfloor:5.2f} {median / floor:6.2f} {whole:5d}B"
        )
    note(
        "out/in = bytes on the wire per poll, each direction. floor = those bytes at 10 bits"
        " each, 9600 baud. meter floor = floor + the gaps the meter mandates: on MEP the next"
        " request >= 100 ms after the previous one started and a 25 ms pause per 117 reply"
        " bytes (none on optical). ratio = median (p95) poll time / meter floor, goal <= 1.25;"
        " ratio bytes = median / floor. (a) = optical polls >= 5 s apart: a C12.18 session per"
        " poll. default = the entities enabled by default (tier energy: this meter uses two"
        " tiers; per-phase power off); all = every entity enabled (per-phase power: one more"
        " read). whole tables = the same values read as all of BT23 and BT28 (optical: in"
        " 108-byte chunks)."
    )


def print_interval(runs: list[PollRun]) -> None:
    print("== 4a. Shortest sustainable poll interval (paced at 9600 baud) ==")
    for run in runs:
        status = run.status_time * 1000
        if run.pattern:
            median = statistics.median(run.times)
            print(
                f"{run.link:8} a session per poll (intervals >= 5 s): {median * 1000:.0f} ms per"
                f" poll, session included; the line busy {median / 10:.1%} at the default 10 s"
            )
            continue
        reads = len(run.poll)
        line = (
            f"{run.link:8} {run.cycle * 1000:4.0f} ms per poll back to back, + {status:.0f} ms"
            " per status read"
        )
        if run.link == "optical":
            line += " (one session kept open for intervals < 5 s)"
        else:
            line += f"; the guide's <= 1 table read/s on average: >= {reads} s for {reads} reads"
        print(line)
    note(
        "Home Assistant's poll interval option starts at 3 s (default 10 s); the first poll"
        " after each status read reads every tier block (see the plan)."
    )


def print_wire_section(runs: list[PollRun], polls: int) -> None:
    print(
        f"== 1. Bytes and time per regular poll: {polls} polls per row,"
        " simulator paced at 9600 baud 8N1 =="
    )
    print_wire(runs)
    print_interval([r for r in runs if r.entities == "default entities"])
