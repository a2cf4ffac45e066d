"""The sections of scripts/bench.py: one module per job, the shared harness beside them.

recorder  what goes over the wire: each request and its bytes, counted on the byte stream
polls     the client against an in-process paced simulator (the runs plan and wire print)
plan      section "plan": every request of a connection, a first refresh, a poll, a status read
wire      section "wire": bytes and time per poll, floors, the shortest sustainable interval
hass      the Home Assistant harness: a core in this process, the simulator in a child process
setup     section "setup": config entry to first states
cpu       section "cpu": event-loop CPU per coordinator refresh
memory    section "memory": allocated blocks and RSS over many refreshes
"""
