"""Shell v1 for phones whose adbd has no shell v2 (Android 6 and older).

``shell:CMD`` gives one byte stream (stdout and stderr merged; through a pty
on such phones, so ``\\n`` may arrive as ``\\r\\n``) and no exit status: the
stream just closes, also when the phone drops. So the command runs in a child
shell and the outer shell reports on it with marker lines::

    e=/data/local/tmp/.benchorch-$$-NONCE.err; k=NONCE
    sh -c 'echo @@benchorch-pid@@$$; SCRIPT' 2>"$e" </dev/null; r=$?
    echo; echo "@@benchorch@@${k}@@exit@@$r"; cat "$e"; rm -f "$e"
    echo; echo "@@benchorch@@${k}@@end@@"

The stream is then: the PID line, the command's stdout, a newline and the exit
line, the command's stderr, a newline and the end line. An ``exit`` or
``exec`` in SCRIPT ends only the child shell, whose ``$$`` is the command's PID
once SCRIPT ``exec``s. The markers carry a random nonce and are assembled by
the shell (``${k}``), so they never occur verbatim in the command line: ``ps``
output cannot fake them, nor can a command that does not know the nonce.

Honesty: the result is ``complete`` only when the end line arrived (a stream
that closes before it ended early, whatever it printed), and only then does it
carry the exit code. Limits: stderr arrives after all of stdout (not
interleaved in time), and is lost if the phone cannot write the file under
``/data/local/tmp``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

PID_MARK = b"@@benchorch-pid@@"
ERR_DIR = "/data/local/tmp"


def wrap(script: str, nonce: str) -> str:
    """The v1 command line running ``script`` (already quoted) as described above."""
    inner = shlex.quote(f"echo {PID_MARK.decode()}$$; {script}")
    return (
        f"e={ERR_DIR}/.benchorch-$$-{nonce}.err; k={nonce}; "
        f'sh -c {inner} 2>"$e" </dev/null; r=$?; '
        'echo; echo "@@benchorch@@${k}@@exit@@$r"; cat "$e" 2>/dev/null; rm -f "$e"; '
        'echo; echo "@@benchorch@@${k}@@end@@"'
    )


def _markers(nonce: str) -> tuple[bytes, bytes]:
    base = b"\n@@benchorch@@" + nonce.encode()
    return base + b"@@exit@@", base + b"@@end@@\n"


@dataclass(frozen=True)
class V1Output:
    started: bool  # the PID line arrived
    pid: int | None
    stdout: bytes
    stderr: bytes
    exit_code: int | None  # only when complete
    complete: bool  # the end line arrived


def _normalise(data: bytes) -> bytes:
    """Undo a pty's ``\\n`` -> ``\\r\\n`` when the PID line shows it happened."""
    first, nl, _ = data.partition(b"\n")
    return data.replace(b"\r\n", b"\n") if nl and first.endswith(b"\r") else data


def take_pid(data: bytes) -> tuple[bool, int | None]:
    """(the PID line arrived, the PID in it)."""
    first, nl, _ = data.partition(b"\n")
    if not nl:
        return False, None
    digits = first.rstrip(b"\r").removeprefix(PID_MARK)
    return True, int(digits) if first.startswith(PID_MARK) and digits.isdigit() else None


def ended(data: bytes, nonce: str) -> bool:
    """Whether the end line has arrived (reading may stop)."""
    end = _markers(nonce)[1]
    return data.endswith(end) or data.endswith(end.replace(b"\n", b"\r\n"))


def parse(data: bytes, nonce: str) -> V1Output:
    """Split what a v1 stream carried (all of it, or what came before it broke)."""
    data = _normalise(data)
    started, pid = take_pid(data)
    if not started:
        return V1Output(False, None, b"", b"", None, False)
    rest = data.partition(b"\n")[2]
    exit_mark, end_mark = _markers(nonce)
    at = rest.find(exit_mark)
    if at < 0:
        return V1Output(True, pid, rest, b"", None, False)
    stdout, after = rest[:at], rest[at + len(exit_mark) :]
    code_text, nl, tail = after.partition(b"\n")
    end = tail.find(end_mark)
    complete = bool(nl) and end >= 0 and code_text.isdigit()
    stderr = tail[:end] if end >= 0 else tail
    return V1Output(True, pid, stdout, stderr, int(code_text) if complete else None, complete)
