"""Section "memory": allocated blocks and RSS after 1,000 and after N refreshes in Home
Assistant (unpaced)."""

from __future__ import annotations

from .cpu import measure_cpu, no_mep_spacing
from .hass import HomeAssistantBench
from .output import note
from .polls import LINKS


async def print_memory(bench: HomeAssistantBench, memory_polls: int) -> None:
    print(f"== 4b. Memory over {memory_polls} polls in Home Assistant (unpaced) ==")
    print(f"{'link':8} {'after polls':>11} {'blocks':>9} {'RSS MiB':>8}")
    with no_mep_spacing():
        for link in LINKS:
            run = await measure_cpu(bench, link, pace=False, refreshes=100, memory=memory_polls)
            for polls, blocks, rss in run.memory:
                print(f"{link:8} {polls:11d} {blocks:9d} {rss:8.1f}")
            (_, blocks1, rss1), *_, (_, blocks2, rss2) = run.memory
            print(f"{link:8} {'growth':>11} {blocks2 - blocks1:+9d} {rss2 - rss1:+8.1f}")
    note(
        "blocks = sys.getallocatedblocks() after gc.collect(): every live Python object of"
        " the process (Home Assistant included). MEP without its 100 ms request spacing here"
        " (the simulator does not need it), so that 10,000 polls take minutes, not hours."
    )
