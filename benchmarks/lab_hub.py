"""Hub mode's costs, side by side with edge mode in one run, on real parts.

A real PostgreSQL (``benchorch.store.pgserver``), Debian's adb server with two virtual
phones, and Debian's sshd on loopback with the lab's restricted key
(``benchorch.lab.sshdserver``). Host ``edge`` talks to the adb server directly; host
``hub`` reaches the same adb server through sshd (one phone each). Measured:

* idle: each ``benchorch lab worker`` subprocess's own CPU time over ``--seconds`` with
  nothing queued (the hub's includes its forward's supervision: one ``host:version``
  through SSH each second), side by side over the same window;
* a short adb shell (``echo``) straight to the adb server, through benchorch's
  forward, and through OpenSSH's own ``ssh -N -L`` to the same sshd, interleaved,
  ``--calls`` each: medians and their ratios to direct;
* black hole: sshd and its sessions SIGSTOPped until the hub worker records the host
  ``down`` in the lab database, then SIGCONT until it records ``up`` (``--rounds``);
* a dropped SSH connection (its sessions killed): time until a shell through the same
  local port answers again.

    .venv/bin/python benchmarks/lab_hub.py [--seconds 60] [--calls 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchorch.devices.adb import AdbDevice  # noqa: E402
from benchorch.devices.adbhost import ServerAddr  # noqa: E402
from benchorch.lab import state  # noqa: E402
from benchorch.lab.config import load_lab_config  # noqa: E402
from benchorch.lab.hosts import client_adb_version  # noqa: E402
from benchorch.lab.link import HostLink  # noqa: E402
from benchorch.lab.sshdserver import SshdServer, hub_host_toml, restricted_to  # noqa: E402
from benchorch.store.pgserver import pg_server  # noqa: E402
from benchorch.virtualphone.harness import AdbServer, VirtualPhone, free_port  # noqa: E402
from tests.support.labproc import idle_cpu_per_minute, lab_init, lab_worker  # noqa: E402


def host_status(url: str, name: str) -> str | None:
    with state.connect(url) as conn:
        row = state.hosts(conn).get(name)
    return None if row is None else row.status


def until(predicate: object, timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` (polled every 50 ms)."""
    assert callable(predicate)
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def echo_s(dev: AdbDevice) -> float:
    t0 = time.perf_counter()
    out = dev.run(["echo", "x"], timeout=20)
    assert out.stdout.strip() == "x", out
    return time.perf_counter() - t0


def _answers(dev: AdbDevice) -> bool:
    try:
        echo_s(dev)
    except Exception:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--calls", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with pg_server() as pg, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        url = pg.url(pg.new_database())
        adb = AdbServer(tmp / "adb-home")
        adb.start()
        phones = [VirtualPhone(adb, tmp / f"p{i}", "pixel8", {}, tmp / f"p{i}.log") for i in (1, 2)]
        sshd = SshdServer(tmp / "sshd", key_options=restricted_to(adb.port)).start()
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for p in phones:
                p.root.mkdir()
                p.start()
            known = sshd.info.known_hosts(tmp / "known_hosts")
            config = tmp / "lab.toml"
            config.write_text(
                f'[database]\nurl = "{url}"\n[hosts.edge]\nadb_port = {adb.port}\n'
                + hub_host_toml("hub", sshd.info, adb.port, known)
                + f'[phones."{phones[0].serial}"]\nhost = "edge"\nmodel = "m"\n'
                + f'[phones."{phones[1].serial}"]\nhost = "hub"\nmodel = "m"\n'
            )
            lab_init(config)
            workers += [lab_worker(config, host) for host in ("edge", "hub")]
            until(lambda: host_status(url, "hub") == "up", 60, "the hub worker's forward")
            (edge_m, hub_m), wall = idle_cpu_per_minute(workers, args.seconds)
            print(
                f"idle worker, 1 phone, over {wall:.0f} s: edge {edge_m:.2f} CPU s/min, "
                f"hub {hub_m:.2f} CPU s/min ({hub_m / edge_m:.2f}x edge)"
            )

            hub_cfg = load_lab_config(config).hosts["hub"]
            with HostLink(hub_cfg, client_adb_version()) as link:
                assert link.open(strict=True).up
                openssh_port = free_port()
                openssh = subprocess.Popen(
                    [
                        "ssh", "-N", "-L", f"127.0.0.1:{openssh_port}:127.0.0.1:{adb.port}",
                        "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
                        "-o", f"UserKnownHostsFile={known}", "-i", str(sshd.info.client_key),
                        "-p", str(sshd.port), f"{sshd.info.user}@127.0.0.1",
                    ],
                    stdin=subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    serial = phones[1].serial
                    devs = {
                        "direct": AdbDevice(serial, addr=ServerAddr("127.0.0.1", adb.port)),
                        "benchorch's forward": AdbDevice(serial, addr=link.addr),
                        "ssh -N -L": AdbDevice(serial, addr=ServerAddr("127.0.0.1", openssh_port)),
                    }
                    until(lambda: _answers(devs["ssh -N -L"]), 30, "ssh -L")
                    times: dict[str, list[float]] = {k: [] for k in devs}
                    for _ in range(args.calls):
                        for name, dev in devs.items():
                            times[name].append(echo_s(dev))
                finally:
                    openssh.terminate()
                    openssh.wait(10)
                med = {k: statistics.median(v) for k, v in times.items()}
                print(
                    f"adb shell echo ({args.calls} each, interleaved, median): "
                    + ", ".join(
                        f"{k} {v * 1000:.1f} ms ({v / med['direct']:.2f}x)" for k, v in med.items()
                    )
                )
                forwarded = devs["benchorch's forward"]
                t_kill = time.monotonic()
                sshd.kill_sessions()
                while True:
                    try:
                        echo_s(forwarded)
                        break
                    except Exception:
                        if time.monotonic() - t_kill > 60:
                            raise
                        time.sleep(0.05)
                print(
                    f"SSH connection killed: a shell through the same local port answers "
                    f"again after {time.monotonic() - t_kill:.2f} s"
                )

            downs, ups = [], []
            for _ in range(args.rounds):
                sshd.pause()
                downs.append(until(lambda: host_status(url, "hub") == "down", 60, "down"))
                sshd.resume()
                ups.append(until(lambda: host_status(url, "hub") == "up", 60, "up"))
                time.sleep(2)
            print(
                f"black-holed hub host ({args.rounds} rounds): recorded down after median "
                f"{statistics.median(downs):.2f} s (max {max(downs):.2f}), up again after "
                f"median {statistics.median(ups):.2f} s (max {max(ups):.2f}) once it answers"
            )
        finally:
            sshd.resume()
            for w in workers:
                w.terminate()
                w.wait(30)
            sshd.stop()
            for p in phones:
                p.close()
            adb.stop()


if __name__ == "__main__":
    main()
