"""Section "plan": every request on the wire of a connection, a first refresh, a regular poll
and a status read."""

from __future__ import annotations

from .polls import PollRun
from .recorder import Exchange, wire_floor


def print_plan(run: PollRun, *, full: bool) -> None:
    def rows(title: str, exchanges: list[Exchange]) -> None:
        print(f"  {title}")
        for e in exchanges:
            print(
                f"    {e.describe():28} {e.tx:4d} B out {e.rx:4d} B in"
                f" {e.wire_time * 1000:6.1f} ms on the wire"
            )
        tx = sum(e.tx for e in exchanges)
        rx = sum(e.rx for e in exchanges)
        print(
            f"    {'total':28} {tx:4d} B out {rx:4d} B in"
            f" {wire_floor(exchanges) * 1000:6.1f} ms on the wire"
        )

    print(f"{run.label}:")
    if full:
        rows("connect: once per connection (session, identity and layout)", run.connect)
        rows("first poll and status read (the first refresh)", run.first)
        rows("first poll after a status read: every tier block", run.after_status)
    rows(f"regular poll ({len(run.polls)} alike)", run.poll)
    if full:
        rows("status read: every status interval (default 300 s)", run.status)
    tables_read = sorted({e.describe().split()[0] for p in run.polls for e in p})
    print(f"  tables read by the regular polls: {', '.join(tables_read)}")


def print_plans(runs: list[PollRun]) -> None:
    print("== 2. Poll plan: every request on the wire ==")
    for run in runs:
        if not run.pattern:
            print_plan(run, full=run.entities == "default entities")
