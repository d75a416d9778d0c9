"""Register a prebuilt ExecuTorch runner (upstream ``executor_runner``, or ours) with provenance.

What the file itself tells (its strings and imported symbols), recorded in
``Provenance.executorch``:

* ``logging``: the runner's timing lines are format strings that a build
  without ``-DEXECUTORCH_ENABLE_LOGGING=ON`` compiles out; a runner carrying
  none of them would print no timing at all, so it is refused;
* ``pal``: a runner importing ``__android_log_print`` logs through the android
  PAL (to logcat, tag ``ExecuTorch``); one naming liblog's socket
  (``/dev/socket/logdw``: ours built with ``--logcat``) writes to logcat
  itself; else the posix PAL (stderr);
* ``event_tracer``: ETDump symbols mean ``-DEXECUTORCH_ENABLE_EVENT_TRACER=ON``,
  which can double an op-heavy graph's time: registered, with a warning;
* ``backends``: the delegates whose names it carries (XNNPACK, Vulkan, QNN...).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from benchorch.abi import check_abi
from benchorch.build.provenance import Provenance, read_sidecar, utc_now
from benchorch.errors import BuildUsageError, UsageError
from benchorch.files import sha256_file

log = logging.getLogger("benchorch.build")

TIMING_STRINGS = (b"Model loaded in %f ms.", b"Iteration %u of %u", b"time(s) in %f ms.")
LOGGING_FLAG = "-DEXECUTORCH_ENABLE_LOGGING=ON"
TRACER_MARKS = (b"ETDumpGen", b"etdump_path", b"ETDump")
BACKEND_MARKS = {
    "xnnpack": b"XnnpackBackend",
    "vulkan": b"VulkanBackend",
    "qnn": b"QnnBackend",
    "coreml": b"CoreMLBackend",
}
ANDROID_PAL = b"__android_log_print"
LIBLOG_SOCKET = b"/dev/socket/logdw"  # a runner writing liblog's datagrams itself


def read_facts(data: bytes) -> dict[str, str]:
    """The runtime facts a runner's bytes show (see the module docstring)."""
    backends = [name for name, mark in BACKEND_MARKS.items() if mark in data]
    return {
        "runner": "executor_runner" if b"executor_runner" in data else "unknown",
        "backends": ",".join(backends) or "none (portable)",
        "pal": (
            "android (logcat, tag ExecuTorch)"
            if ANDROID_PAL in data
            else "logcat (liblog's socket, tag ExecuTorch)"
            if LIBLOG_SOCKET in data
            else "posix (stderr)"
        ),
        "logging": "on" if all(s in data for s in TIMING_STRINGS) else "off",
        "event_tracer": "on" if any(m in data for m in TRACER_MARKS) else "off",
    }


def register_runner(
    path: Path | str, *, abi: str | None = None, target: str | None = None
) -> Provenance:
    """Provenance of a prebuilt ExecuTorch runner (origin "registered"), written beside it."""
    binary = Path(path).expanduser().resolve()
    if not binary.is_file():
        raise UsageError(f"binary {path} does not exist", hint="pass --binary an existing file")
    found_abi = check_abi(binary, abi)
    data = binary.read_bytes()
    facts = read_facts(data)
    if facts["logging"] == "off":
        raise BuildUsageError(
            f"{binary} prints no timing lines (no 'Model loaded in'/'Iteration' messages):"
            f" it was built without {LOGGING_FLAG}",
            hint=f"rebuild executor_runner with {LOGGING_FLAG}",
        )
    if facts["event_tracer"] == "on":
        log.warning(
            "%s was built with the event tracer (-DEXECUTORCH_ENABLE_EVENT_TRACER=ON): "
            "op-heavy graphs can run twice as slow; rebuild with it OFF for timing",
            binary,
        )
    digest = sha256_file(binary)
    previous = read_sidecar(binary)
    if previous is not None and previous.sha256 == digest and previous.flavour == "executorch":
        prov = replace(previous, path=str(binary), origin="registered", abi=found_abi)
    else:
        prov = Provenance(
            path=str(binary),
            sha256=digest,
            size_bytes=binary.stat().st_size,
            origin="registered",
            target=target or ("host" if found_abi in ("x86_64", "x86") else "android"),
            abi=found_abi,
            flavour="executorch",
            built_at=utc_now(),
            executorch=facts,
        )
    prov.write()
    return prov
