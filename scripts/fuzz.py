"""Driver of scripts/fuzz: runs tests/nes_client/fuzzing.py for a number of packets.

    scripts/run python scripts/fuzz.py [--packets N] [--seed S] [--jobs J] [--replay CASE]

Each job runs its own seed (S, S + 1, …) until its share of the packets went through, then
the figures are summed: packets per target, how the client runs ended, failures (seed and
case, to replay), time and rate. Exit status 1 if anything but a typed error came out.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
import os
from pathlib import Path
import sys
import time
import traceback

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nes_echelon_dev import fuzzing


def _job(seed: int, packets: int) -> fuzzing.Stats:
    return fuzzing.run(seed, packets=packets)


def replay(seed: int, case: int) -> int:
    loop = asyncio.new_event_loop()
    saved = fuzzing.quick_links()
    try:
        target, count = fuzzing.run_case(seed, case, loop)
    except Exception:  # show it whole
        traceback.print_exc()
        return 1
    finally:
        fuzzing.restore(saved)
        loop.close()
    print(f"seed {seed} case {case}: {target}, {count} packets, no failure")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--replay", type=int, default=None, metavar="CASE")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    if args.replay is not None:
        return replay(seed, args.replay)

    jobs = max(1, args.jobs)
    share = -(-args.packets // jobs)
    print(f"fuzzing {args.packets:,} packets: seeds {seed}..{seed + jobs - 1}, {jobs} jobs")
    began = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        results = list(pool.map(_job, [seed + j for j in range(jobs)], [share] * jobs))
    seconds = time.perf_counter() - began

    packets: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    cases = 0
    for stats in results:
        packets.update(stats.packets)
        outcomes.update(stats.outcomes)
        failures += stats.failures
        cases += stats.cases
    total = sum(packets.values())
    print(f"{total:,} packets in {cases:,} cases, {seconds:.0f} s ({total / seconds:,.0f}/s)")
    for target, count in packets.most_common():
        print(f"  {target:16} {count:>10,}")
    print("client runs ended: " + ", ".join(f"{k} {v:,}" for k, v in outcomes.most_common()))
    if fuzzing.missing_decoders():
        print(f"NOT FUZZED (no entry in fuzzing.DECODERS): {fuzzing.missing_decoders()}")
    if failures:
        print(f"{len(failures)} FAILURES (replay: scripts/fuzz --seed S --replay CASE):")
        for failure in failures[:50]:
            print("  " + failure)
        return 1
    print("no failures: only typed errors came out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
