"""A real lab on one machine: hosts in PID namespaces, workers as subprocesses.

* ``LabHost``: one lab host. ``python -m tests.lab_e2e.hostproc`` runs as the
  first process of a new PID namespace (``unshare --pid --fork --kill-child
  --mount-proc``: root only, which CI is) and starts the host's adb server on
  its own port, its virtual phones (attached only to that server; ports
  outside 5555-5585 and ``ADB_EMU=0`` keep the other hosts' adb servers from
  finding them), each with a session log, and its sshd when it has one.
  ``crash()`` SIGKILLs the namespace (every process of the host dies at once,
  the phones' commands too); ``blackhole()`` SIGSTOPs its adb server and sshd
  (nothing answers, connections hang); ``start()`` again is the same host
  (same ports, serials, folders).
* ``Lab``: three hosts (``lab-a``, ``lab-b``, ``lab-c``), each with a
  ``pixel_7`` and a ``galaxy_s22`` (a model on every host, so work can move),
  on the session's PostgreSQL; ``fresh()`` gives each scenario its own
  database (``lab init`` run) and lab.toml, stops every worker, and brings
  every host back healthy; ``worker()`` starts ``benchorch lab worker`` as a
  real subprocess in its own process group; ``check()`` asserts the
  invariants every scenario ends with.

Everything started here is stopped by its PID (or its own group) at ``close()``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchorch.lab import queue, state
from benchorch.virtualphone.harness import child_pids, free_port
from tests.support.postgres import PgServer
from tests.support.sessions import Session, assert_no_overlap
from tests.support.sshd import Sshd, SshdServer, hub_host_toml, restricted_to

REPO = Path(__file__).resolve().parents[2]
BENCHORCH = [sys.executable, "-m", "benchorch"]
MODELS = ("pixel_7", "galaxy_s22")
HOSTS = ("lab-a", "lab-b", "lab-c")
PROFILE = "x86_64_emulator"  # the real host-built speed_benchmark_torch runs on it
#: a new PID namespace (with its own /proc, so PIDs the phones' shells print are the ones
#: their kill and pkill see) whose every process dies with unshare
NAMESPACE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--"]


def until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = child_pids(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@dataclass
class LabPhone:
    serial: str
    port: int
    model: str
    host: str
    folder: Path

    @property
    def session_log(self) -> Path:
        return self.folder / "sessions.jsonl"

    @property
    def root(self) -> Path:
        return self.folder / "data_local_tmp"


class LabHost:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.adb_port = free_port()
        self.phones = []
        for model in MODELS:
            port = free_port()
            self.phones.append(
                LabPhone(f"127.0.0.1:{port}", port, model, name, folder / f"phone-{port}")
            )
        self.faults: dict[str, dict[str, Any]] = {}  # serial -> virtual phone faults
        self.sshd_config: Path | None = None
        self.sshd: Sshd | None = None  # its sshd, once ``with_sshd`` gave it one
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "host.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spec(self) -> dict[str, Any]:
        return {
            "adb": {"port": self.adb_port, "home": str(self.folder / "adb-home")},
            "phones": [
                {
                    "port": p.port,
                    "root": str(p.root),
                    "log": str(p.folder / "phone.log"),
                    "session_log": str(p.session_log),
                    "profile": PROFILE,
                    "faults": self.faults.get(p.serial, {}),
                }
                for p in self.phones
            ],
            "sshd_config": str(self.sshd_config) if self.sshd_config else None,
            "sshd_log": str(self.folder / "sshd.log"),
        }

    def start(self, timeout: float = 60) -> None:
        assert not self.running, f"{self.name} is running"
        spec = self.folder / "spec.json"
        spec.write_text(json.dumps(self.spec(), indent=2))
        for p in self.phones:
            p.folder.mkdir(parents=True, exist_ok=True)
        marker = self.log.read_text().count("host ready") if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*NAMESPACE, sys.executable, "-m", "tests.lab_e2e.hostproc", str(spec)],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"host {self.name} exited: {self.log.read_text()[-3000:]}")
            return self.log.read_text().count("host ready") > marker

        until(ready, timeout, f"host {self.name}")

    def crash(self) -> None:
        """Every process of the host dies at once (SIGKILL to the namespace)."""
        if self.proc is None:
            return
        for init in child_pids(self.proc.pid):  # the namespace's first process: all of it dies
            _signal(init, signal.SIGKILL)
        _signal(self.proc.pid, signal.SIGKILL)  # and unshare (--kill-child would do the same)
        self.proc.wait(10)
        until(lambda: not self._alive_phones(), 10, f"{self.name}'s processes to die")

    def stop(self) -> None:
        """A clean shutdown: the host's init stops its phones, adb server and sshd."""
        if not self.running:
            return
        assert self.proc is not None
        self.resume()
        for pid in child_pids(self.proc.pid):
            _signal(pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.crash()

    def _alive_phones(self) -> list[int]:
        """PIDs of this host's virtual phone processes still alive (seen from outside)."""
        ports = {str(p.port) for p in self.phones}
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                argv = _cmdline(int(entry.name))
                if "benchorch.virtualphone" in argv and "--port" in argv:
                    i = argv.index("--port")
                    if i + 1 < len(argv) and argv[i + 1] in ports:
                        out.append(int(entry.name))
        return out

    def drop_phone(self, serial: str) -> None:
        """A phone vanishes (SIGKILL to its virtual phone and the commands it runs); the rest
        of the host stays. ``start()`` after ``crash()`` (or ``Lab.fresh()``) brings it back."""
        phone = next(p for p in self.phones if p.serial == serial)
        for pid in self._alive_phones():
            argv = _cmdline(pid)
            if argv[argv.index("--port") + 1] == str(phone.port):
                leaders = child_pids(pid)
                _signal(pid, signal.SIGKILL)
                for leader in leaders:  # its commands lead their own process groups
                    try:
                        os.killpg(leader, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def _services(self) -> list[int]:
        """The PIDs of the host's adb server and sshd (outside the namespace's numbering)."""
        if not self.running:
            return []
        assert self.proc is not None
        out = []
        for pid in _descendants(self.proc.pid):
            argv = _cmdline(pid)
            if argv and (argv[0].endswith("adb") or argv[0].endswith("sshd")):
                out.append(pid)
        return out

    def blackhole(self) -> list[int]:
        """The host stops answering: its adb server and sshd (and their sessions) stopped."""
        pids = self._services()
        for pid in pids:
            _signal(pid, signal.SIGSTOP)
        return pids

    def resume(self) -> None:
        for pid in self._services():
            _signal(pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def with_sshd(self) -> Sshd:
        """From the next ``start()`` on, the host runs sshd in its namespace (own host
        key; root's key limited by the README's options to the one forward to its adb
        server): a hub worker reaches the host through it."""
        if self.sshd is None:
            # the keys and config only: hostproc runs sshd inside the host's namespace
            server = SshdServer(self.folder / "sshd", key_options=restricted_to(self.adb_port))
            self.sshd, self.sshd_config = server.info, server.folder / "sshd_config"
        return self.sshd


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    args: tuple[str, ...]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Lab:
    folder: Path
    pg: PgServer
    hosts: dict[str, LabHost] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    sweeps: list[subprocess.Popen[str]] = field(default_factory=list)
    config: Path | None = None
    url: str = ""
    _round: int = 0

    @classmethod
    def build(cls, folder: Path, pg: PgServer) -> Lab:
        lab = cls(folder, pg)
        for name in HOSTS:
            lab.hosts[name] = LabHost(name, folder / name)
        for host in lab.hosts.values():
            host.start()
        return lab

    @property
    def phones(self) -> list[LabPhone]:
        return [p for h in self.hosts.values() for p in h.phones]

    def phone(self, host: str, model: str) -> LabPhone:
        return next(p for p in self.hosts[host].phones if p.model == model)

    def host_toml(self, host: LabHost, hub: bool = False) -> str:
        if hub:
            assert host.sshd is not None
            known = host.sshd.known_hosts(self.folder / f"known_hosts-{host.name}")
            return hub_host_toml(host.name, host.sshd, host.adb_port, known)
        return f"\n[hosts.{host.name}]\nadb_port = {host.adb_port}\n"

    def fresh(
        self,
        faults: dict[str, dict[str, Any]] | None = None,
        pg: PgServer | None = None,
        hub: bool = False,
    ) -> Path:
        """A new database (on ``pg``, else the session's server) and lab.toml; no worker;
        every host up, with ``faults`` (serial -> virtual phone faults) on its phones and
        none elsewhere; session logs emptied. ``hub``: every host reached through its
        sshd (hub mode: ``ssh`` in its [hosts.NAME]), else directly (edge mode)."""
        self.stop_workers()
        faults = faults or {}
        for host in self.hosts.values():
            wanted = {p.serial: faults[p.serial] for p in host.phones if p.serial in faults}
            broken = not host.running or self._frozen(host)
            if hub and host.sshd is None:
                host.with_sshd()
                broken = True  # started again, with its sshd
            if broken or host.faults != wanted or len(host._alive_phones()) != len(host.phones):
                host.crash() if host.running else None
                host.faults = wanted
                host.start()
        for p in self.phones:  # emptied in place: the phone appends to the file it opened
            with p.session_log.open("w"):
                pass
        self._round += 1
        server = pg or self.pg
        url = server.url(server.new_database())
        path = self.folder / f"lab-{self._round}.toml"
        text = f'[database]\nurl = "{url}"\n'
        text += "".join(self.host_toml(h, hub) for h in self.hosts.values())
        for p in self.phones:
            text += f'\n[phones."{p.serial}"]\nhost = "{p.host}"\nmodel = "{p.model}"\n'
        path.write_text(text)
        self.config, self.url = path, url
        code, out = self.cli("lab", "init")
        assert code == 0, out
        return path

    @staticmethod
    def _frozen(host: LabHost) -> bool:
        for pid in host._services():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2] == "T":
                return True
        return False

    # --- processes ------------------------------------------------------------------
    def env(self, who: str) -> dict[str, str]:
        """Each process its own cache and local lock folder, as if on a machine of its own:
        only the lab keeps two of them off one phone (and files reach a worker only
        through the lab database)."""
        return {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "BENCHORCH_CACHE": str(self.folder / "machines" / who / "cache"),
            "BENCHORCH_LOCK_DIR": str(self.folder / "machines" / who / "locks"),
        }

    def cli(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        """``benchorch ARGS --config LAB`` as a real subprocess: its exit code and output."""
        assert self.config is not None
        done = subprocess.run(
            [*BENCHORCH, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.folder,
            env=self.env("cli"),
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    def sweep(self, variants: Path, binary: Path, *args: str) -> subprocess.Popen[str]:
        """``benchorch sweep --lab LAB`` as a real subprocess: small, fast settings."""
        assert self.config is not None
        argv = [*BENCHORCH, "sweep", "--lab", str(self.config), "--variants", str(variants)]
        argv += ["--binary", str(binary), "--dims", "1,3,32,32", "--iter", "3", "--warmup", "1"]
        argv += ["--out", str(self.folder / "reports"), "--quiet", "--json", "--load-launches"]
        argv += ["0", *args]  # a later --load-launches wins
        return self.start(argv, "sweeper")

    def start(self, argv: list[str], role: str) -> subprocess.Popen[str]:
        """``argv`` (a benchorch command) as a real subprocess in the lab's folder with
        ``role``'s environment, its output piped; stopped by its PID at ``fresh()`` or
        ``close()`` if a failed scenario left it running."""
        proc = subprocess.Popen(
            argv,
            cwd=self.folder,
            env=self.env(role),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.sweeps.append(proc)
        return proc

    def worker(self, *args: str) -> Worker:
        """``benchorch lab worker ARGS`` in its own process group (its log in the lab folder)."""
        assert self.config is not None
        name = f"worker-{self._round}-{len(self.workers)}"
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*BENCHORCH, "-v", "lab", "worker", "--config", str(self.config), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                env=self.env(name),
                start_new_session=True,
            )
        w = Worker(proc, log, args)
        self.workers.append(w)
        return w

    def stop_workers(self) -> None:
        for sweep in self.sweeps:  # a failed scenario's sweep still waiting: by its PID
            if sweep.poll() is None:
                sweep.kill()
                sweep.communicate(timeout=10)
        self.sweeps.clear()
        for w in self.workers:
            w.kill(signal.SIGCONT)
            w.kill(signal.SIGKILL)
            w.proc.wait(10)
        self.workers.clear()

    def close(self) -> None:
        self.stop_workers()
        for host in self.hosts.values():
            host.crash()

    # --- what the scenarios read ---------------------------------------------------------
    def doing(self) -> list[queue.JobRow]:
        """Jobs the queue says are running, on any phone."""
        rows: list[queue.JobRow] = []
        for p in self.phones:
            rows += [
                j
                for j in queue.jobs_on_lock(self.url, queue.device_lock(p.serial))
                if j.status == "doing"
            ]
        return rows

    def attempts(self, serial: str) -> list[state.Attempt]:
        with state.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT * FROM benchorch_lab_attempts WHERE serial = %s ORDER BY token", (serial,)
            ).fetchall()
        return [state.Attempt(**r) for r in rows]

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with state.connect(self.url) as conn:
            return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]

    def stored(self, serial: str) -> int:
        """Launches stored on the phone so far (any run)."""
        try:
            return int(
                self.rows("SELECT count(*) AS n FROM launches WHERE device_serial = %s", (serial,))[
                    0
                ]["n"]
            )
        except Exception:  # the results tables are made by the first sweep
            return 0

    def check_run(self, run_id: str, exit_code: int) -> list[dict[str, Any]]:
        """A lab sweep's end: each phone's part ended; every planned launch stored, failed
        with a reason, or not run with its part's reason; at most one stored (ok) result
        per launch key; the exit code is what the parts say (0 all ok, 1 a benchmark
        failed, 3 a part did not run to its end)."""
        parts = self.rows(
            "SELECT serial, status, message, total FROM benchorch_lab_parts WHERE run_id = %s",
            (run_id,),
        )
        assert parts, f"run {run_id} has no parts"
        launches = self.rows(
            "SELECT launch_key, device_serial, status, error_kind, message FROM launches"
            " WHERE run_id = %s",
            (run_id,),
        )
        ok_per_key: dict[str, int] = {}
        for r in launches:
            ok_per_key[r["launch_key"]] = ok_per_key.get(r["launch_key"], 0) + (r["status"] == "ok")
            if r["status"] != "ok":
                assert r["error_kind"] or r["message"], f"a failed launch with no reason: {r}"
        assert max(ok_per_key.values(), default=0) <= 1, "a launch key stored twice"
        for p in parts:
            mine = [r for r in launches if r["device_serial"] == p["serial"]]
            keys = {r["launch_key"] for r in mine}
            assert len(keys) <= p["total"], p
            if p["status"] == "ok":
                assert len(keys) == p["total"] and all(r["status"] == "ok" for r in mine), p
            elif len(keys) < p["total"]:  # launches not run: the part says why
                assert p["message"], f"part not run to its end, with no reason: {p}"
        statuses = {p["status"] for p in parts}
        if statuses == {"ok"}:
            assert exit_code == 0, parts
        elif statuses <= {"ok", "failed"}:
            assert exit_code == 1, parts
        else:
            assert exit_code == 3, parts
        return parts

    def sessions(self) -> dict[Path, list[Session]]:
        return assert_no_overlap(p.session_log for p in self.phones)

    def check(self) -> dict[Path, list[Session]]:
        """What every scenario ends with: no two sessions at once on any phone; no job
        still running and no attempt still open (no lock left held); every session's
        token, when it has one, was an attempt on that phone."""
        by_log = self.sessions()
        until(lambda: not self.doing(), 30, "every phone's lock to be free")
        for p in self.phones:
            attempts = self.attempts(p.serial)
            assert [a for a in attempts if a.ended_at is None] == [], p.serial
            tokens = {a.token for a in attempts}
            for s in by_log[p.session_log]:
                assert s.token is None or s.token in tokens, s.describe()
        return by_log
