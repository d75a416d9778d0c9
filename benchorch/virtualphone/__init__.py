"""A virtual Android phone: an adbd of our own, over TCP.

Debian's real ``adb`` server attaches it with ``adb connect 127.0.0.1:PORT``.
Commands run on this host in a per-phone sandbox (``sandbox.py``); the phone's
facts come from a TOML profile (``profile.py``); faults are injected on demand
(``faults.py``). A test and dry-run tool: the device layer never knows it is
talking to one.
"""
