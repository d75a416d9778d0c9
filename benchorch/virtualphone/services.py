"""The phone's services: ``shell:`` (v1), ``shell,v2,...:``, ``exec:`` and ``sync:``.

Service names (what adb sends in OPEN):

* ``shell:CMD`` - v1: raw bytes both ways, stderr merged into stdout, no exit
  status (the stream just closes). Empty CMD: an interactive shell.
* ``shell,ARG,ARG...:CMD`` - ARGs among ``v2``, ``raw``, ``pty``, ``TERM=...``.
  With ``v2`` the shell protocol (AOSP ``shell_protocol.h``) frames both
  directions as packets ``id:u8, length:u32 LE, data``: 0 stdin, 1 stdout,
  2 stderr, 3 exit (one byte, the exit code), 4 close-stdin, 5 window size.
  Like adbd, the default is raw with a command and a pty without one; a pty
  (here: no real terminal) merges stderr into stdout, as a pty would.
* ``exec:CMD`` - raw, no protocol (``adb exec-out``).
* ``sync:`` - the file protocol in ``sync.py``.

Anything else (``reboot:``, ``root:``, ``reverse:``...) is refused: CLSE.

How a command ends, as AOSP adbd's ``shell_service.cpp`` does it (the child
calls ``setsid()``; ``shell:`` v1 and ``exec:`` get a raw-mode pty, because
without the shell protocol only a terminal hangup can stop a command):

* shell protocol, raw (``shell,v2,raw:``, what ``adb shell CMD`` and the
  device layer use): output passes until both stdout and stderr reach EOF (a
  background process that keeps one open keeps the stream open), then the exit
  packet. Nothing is signalled on a normal exit, so a background process with
  its output redirected outlives the command, as on a phone. When the stream
  closes first (host close, client killed, transport lost), the command's PID
  (not its group) gets SIGHUP and its output is dropped; one that ignores
  SIGHUP lives on.
* a terminal (v1, ``exec:``, ``pty``): emulated with pipes, stderr merged.
  When the shell exits, or the stream closes first, its process group gets
  SIGHUP, as from a terminal hangup; a non-interactive shell's background
  jobs are in that group. Output held open after that is passed on for at
  most ``PTY_DRAIN_S``.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from benchorch.virtualphone.faults import FaultState
from benchorch.virtualphone.sandbox import OutputRewriter, Sandbox, signal_group
from benchorch.virtualphone.server import Connection, Service, Stream, StreamClosed
from benchorch.virtualphone.sessions import SessionLog
from benchorch.virtualphone.sync import sync_service

log = logging.getLogger("benchorch.virtualphone")

#: After a terminal session's shell exits and its group got SIGHUP, how long
#: output still held open (by a process ignoring SIGHUP) is passed on.
PTY_DRAIN_S = 2.0

ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW = range(6)
PACKET = struct.Struct("<BI")


class Phone:
    """Resolves service names for one phone (its sandbox and faults)."""

    def __init__(
        self,
        sandbox: Sandbox,
        faults: FaultState,
        *,
        shell_v2: bool = True,
        sessions: SessionLog | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.faults = faults
        self.shell_v2 = shell_v2
        self.sessions = sessions  # the session log (sessions.py), when asked for

    def resolve(self, name: str, conn: Connection) -> Service | None:
        if name.startswith("shell:"):
            return self._shell(conn, name[len("shell:") :], v2=False, merge=True)
        if name.startswith("shell,") and self.shell_v2:  # adbd before 7 knows no "shell,"
            head, _, command = name.partition(":")
            args = head.split(",")[1:]
            # adbd's default: a pty without a command, raw with one; args override.
            pty = "pty" in args or (not command and "raw" not in args)
            return self._shell(conn, command, v2="v2" in args, merge=pty)
        if name.startswith("exec:"):
            return self._shell(conn, name[len("exec:") :], v2=False, merge=True)
        if name == "sync:" or name.startswith("sync:"):
            return lambda stream: sync_service(stream, self.sandbox, self.faults)
        return None

    def _shell(self, conn: Connection, command: str, *, v2: bool, merge: bool) -> Service:
        def run(stream: Stream) -> None:
            ShellSession(stream, conn, self.sandbox, self.faults, command, v2=v2, merge=merge).run(
                self.sessions
            )

        return run


class ShellSession:
    """One command on one stream: pumps stdin in, stdout/stderr out, exit last."""

    def __init__(
        self,
        stream: Stream,
        conn: Connection,
        sandbox: Sandbox,
        faults: FaultState,
        command: str,
        *,
        v2: bool,
        merge: bool,
    ) -> None:
        self.stream = stream
        self.conn = conn
        self.sandbox = sandbox
        self.faults = faults
        self.command = command
        self.v2 = v2
        self.merge = merge or not v2  # v1 has one byte stream only
        self._write_lock = threading.Lock()
        self._chunk = max(1024, conn.max_payload - PACKET.size)

    def _send(self, kind: int, data: bytes) -> None:
        if not data:
            return
        with self._write_lock:
            if self.v2:
                self.stream.write(PACKET.pack(kind, len(data)) + data)
            else:
                self.stream.write(data)

    def run(self, sessions: SessionLog | None = None) -> None:
        proc = self.sandbox.spawn(self.command, merge_stderr=self.merge)
        sid = None if sessions is None else sessions.started(self.command, proc.pid)
        ended = threading.Event()  # the command finished and its stream ends normally
        wake = threading.Event()

        def on_close() -> None:
            wake.set()
            if not ended.is_set():
                self._hangup(proc)

        self.stream.on_close(on_close)
        timer = self._drop_timer()
        if self.faults.take_launch_drop(self.command):
            log.info("dropping launch %r (fault)", self.command)
            flaky = threading.Timer(0.2, self.conn.drop)
            flaky.daemon = True
            flaky.start()
        outputs = [(proc.stdout, ID_STDOUT)] + ([] if self.merge else [(proc.stderr, ID_STDERR)])
        pumps = [
            threading.Thread(target=self._pump_out, args=(pipe, kind, wake), daemon=True)
            for pipe, kind in outputs
        ]
        threading.Thread(target=self._pump_in, args=(proc,), daemon=True).start()
        for t in pumps:
            t.start()
        try:
            if self.merge:
                code = self._end_terminal(proc, pumps)
            else:
                # raw: pass output until both pipes end (a background process that
                # keeps one open keeps the stream open) or the stream closes
                while any(t.is_alive() for t in pumps) and not self.stream.closed:
                    wake.wait(0.5)
                    wake.clear()
                code = Sandbox.exit_code(proc.wait())
            if timer is not None:
                timer.cancel()
            ended.set()
            if self.v2 and not self.stream.closed:
                self._send(ID_EXIT, bytes([code & 0xFF]))
        finally:
            if timer is not None:
                timer.cancel()
            proc.wait()  # like adbd's waitpid: after a hangup, until the command is gone
            if sessions is not None:
                sessions.ended(sid, proc.pid, Sandbox.exit_code(proc.returncode))

    def _end_terminal(self, proc: subprocess.Popen[bytes], pumps: list[threading.Thread]) -> int:
        """A terminal session ends with its shell: the terminal hangs up, and every
        process of the shell's group (a non-interactive shell's background jobs
        too) gets SIGHUP; output still held open after that is passed on for
        ``PTY_DRAIN_S``."""
        code = Sandbox.exit_code(proc.wait())
        # The terminal hangs up with its shell, whether or not the host has closed
        # the stream already (it may, as soon as the shell's output ends).
        signal_group(proc.pid, signal.SIGHUP)
        if not self.stream.closed:
            deadline = time.monotonic() + PTY_DRAIN_S
            for t in pumps:
                t.join(max(0.0, deadline - time.monotonic()))
        return code

    def _hangup(self, proc: subprocess.Popen[bytes]) -> None:
        """The stream closed before the command ended (host close, client killed,
        transport lost). adbd then sends SIGHUP to the command's PID only (raw,
        shell protocol) and closes its pipes; with a terminal the hangup reaches
        the whole foreground group. A command that ignores SIGHUP lives on."""
        if self.merge:  # a terminal: its group, even after the shell itself has ended
            signal_group(proc.pid, signal.SIGHUP)
        elif proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass

    def _drop_timer(self) -> threading.Timer | None:
        seconds = self.faults.faults.drop_after_shell_seconds
        if seconds is None or not self.faults.drops_left():
            return None

        def fire() -> None:
            if not self.stream.closed and self.faults.take_drop():
                log.info("dropping %.1f s into %r (fault)", seconds, self.command)
                self.conn.drop()

        timer = threading.Timer(seconds, fire)
        timer.daemon = True
        timer.start()
        return timer

    def _pump_out(self, pipe: IO[bytes] | None, kind: int, done: threading.Event) -> None:
        """Process output -> stream; after the stream closes the pipe is closed at
        the next output, so a command that lives on gets EPIPE (as from adbd)."""
        assert pipe is not None
        rewriter: OutputRewriter = self.sandbox.output_rewriter()
        read: Callable[[int], bytes] = getattr(pipe, "read1", pipe.read)
        try:
            while True:
                data = read(self._chunk)
                if not data:
                    break
                self._send(kind, rewriter.feed(data))
            self._send(kind, rewriter.flush())
        except StreamClosed:
            pass
        finally:
            pipe.close()
            done.set()

    def _pump_in(self, proc: subprocess.Popen[bytes]) -> None:
        """Host -> process stdin; v2 packets are unframed, close-stdin honoured."""
        stdin = proc.stdin
        assert stdin is not None
        buf = b""
        line = b""
        interactive = not self.command
        while True:
            chunk = self.stream.read()
            if chunk is None:
                break
            if not self.v2:
                payloads = [(ID_STDIN, chunk)]
            else:
                buf += chunk
                payloads = []
                while len(buf) >= PACKET.size:
                    kind, length = PACKET.unpack_from(buf)
                    if len(buf) < PACKET.size + length:
                        break
                    payloads.append((kind, buf[PACKET.size : PACKET.size + length]))
                    buf = buf[PACKET.size + length :]
            for kind, data in payloads:
                try:
                    if kind == ID_STDIN:
                        if interactive:  # rewrite phone paths line by line
                            line += data
                            *done, line = line.split(b"\n")
                            data = b"".join(
                                self.sandbox.rewrite(x.decode("utf-8", "surrogateescape")).encode(
                                    "utf-8", "surrogateescape"
                                )
                                + b"\n"
                                for x in done
                            )
                        stdin.write(data)
                        stdin.flush()
                    elif kind == ID_CLOSE_STDIN:
                        stdin.close()
                except (BrokenPipeError, ValueError, OSError):
                    pass
        try:
            stdin.close()
        except OSError:
            pass
