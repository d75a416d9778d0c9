"""One test lab host, run as the first process of its own PID namespace.

``python -m tests.lab_e2e.hostproc SPEC.json`` (under ``unshare --pid --fork
--kill-child --mount-proc``, see ``lab.py``) starts the host's processes from
the spec: its adb server (Debian's ``adb -P PORT nodaemon server``), its
virtual phones attached only to that server (each with its session log), and
its sshd when the spec has a config. Every process is in the namespace, so a
SIGKILL of the namespace's parent kills the whole host at once (a crash),
processes the phones started included. It prints ``host ready`` when every
phone is attached and stops everything on SIGTERM (a clean shutdown).
The ports and folders come from the spec, so a restarted host is the same
host: same ports, same phone serials, same sshd host key.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

from benchorch.virtualphone.harness import AdbServer, VirtualPhone


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    stop = threading.Event()
    # PID 1 of a namespace ignores every signal it has no handler for
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    adb = AdbServer(Path(spec["adb"]["home"]), port=spec["adb"]["port"])
    adb.start()
    phones = []
    for p in spec["phones"]:
        phone = VirtualPhone(
            adb,
            Path(p["root"]),
            p["profile"],
            p.get("faults", {}),
            Path(p["log"]),
            session_log=Path(p["session_log"]),
            port=p["port"],
        )
        Path(p["root"]).mkdir(parents=True, exist_ok=True)
        phone.start()
        phones.append(phone)
    sshd = None
    if spec.get("sshd_config"):
        log = open(spec["sshd_log"], "ab")
        sshd = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", spec["sshd_config"]],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    print("host ready", flush=True)
    while not stop.wait(0.5):
        pass
    if sshd is not None:
        sshd.kill()
    for phone in phones:
        phone.stop()
    adb.stop()


if __name__ == "__main__":
    main(sys.argv[1])
