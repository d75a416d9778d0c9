"""Lab mode: phones on many hosts shared through a queue on PostgreSQL (issue 12).

``config`` reads lab.toml; ``queue`` is the only module that knows the job
engine (procrastinate); ``state`` holds benchorch's own lab tables (device
state, attempts with their fencing tokens, reservations, the event log);
``hold`` is a reservation's job body. See docs/LAB.md for the design.
"""
