"""The guard on a lab phone: which attempt may run benchmark processes on it.

A folder ``<workdir>/lab-guard`` holds the owning attempt's fencing token, its lab's
id and the PIDs its launches ran as. ``claim`` (at the start of an attempt) kills the
processes an older attempt left behind, removes its guard and creates the
guard again with ``mkdir`` (atomic: of two claimers one wins); it refuses when a
newer token of the same lab holds the phone. ``wrapped`` makes a launch check the guard on the
phone before it starts (a superseded attempt's launch exits ``SUPERSEDED_EXIT``
without running) and register its PID (``exec`` keeps it) so the next claim can
kill it. Device-agnostic: everything runs through ``Device.run``; every value is
passed as a positional argument of one fixed script, never pasted into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchorch.devices.base import Device
from benchorch.errors import DeviceError

__all__ = ["SUPERSEDED_EXIT", "GuardClaim", "claim", "guard_path", "release", "wrapped"]

SUPERSEDED_EXIT = 97

_CLAIM = r"""
g=$1; t=$2; l=$3
if [ -d "$g" ]; then
  old=$(cat "$g/token" 2>/dev/null); old=${old:-0}
  ol=$(cat "$g/lab" 2>/dev/null)
  if [ "$ol" = "$l" ] && [ "$old" -gt "$t" ]; then echo "newer $old"; exit 3; fi
  killed=0
  if [ -f "$g/pids" ]; then
    while read -r p; do
      [ -n "$p" ] && kill -9 "$p" 2>/dev/null && killed=$((killed + 1))
    done < "$g/pids"
  fi
  rm -rf "$g"
  echo "killed $killed"
fi
mkdir -p "${g%/*}" && mkdir "$g" || { echo "raced"; exit 4; }
echo "$t" > "$g/token" && echo "$l" > "$g/lab" && : > "$g/pids" && echo "claimed $t"
"""

_RUN = r"""
g=$1; t=$2; shift 2
[ "$(cat "$g/token" 2>/dev/null)" = "$t" ] || exit 97
echo $$ >> "$g/pids"
exec "$@"
"""

_RELEASE = r"""
g=$1; t=$2
[ "$(cat "$g/token" 2>/dev/null)" = "$t" ] && rm -rf "$g"
exit 0
"""


@dataclass(frozen=True)
class GuardClaim:
    token: int
    killed: int  # leftover processes of an earlier attempt killed first


def guard_path(device: Device) -> str:
    return f"{device.workdir.rstrip('/')}/lab-guard"


def _sh(device: Device, script: str, *args: str, timeout: float = 30) -> tuple[int | None, str]:
    result = device.run(["sh", "-c", script, "sh", *args], timeout=timeout)
    return result.exit_code, result.stdout


def claim(device: Device, token: int, lab: str = "") -> GuardClaim:
    """Make ``token`` the phone's owner (an older attempt's processes killed first).

    ``lab``: the lab's id (``state.lab_id``). Tokens are ordered within one lab only: a
    guard another lab left (the lab set up again on a new database numbers its tokens
    from 1 again, and a part whose host crashed never released its guard) is stale,
    never newer: its processes are killed and it is replaced."""
    code, out = _sh(device, _CLAIM, guard_path(device), str(token), lab)
    if code == 3:
        raise DeviceError(
            f"a newer lab attempt ({out.split()[-1]}) holds the phone; attempt {token} is "
            "superseded",
            serial=device.serial,
        )
    if code != 0 or f"claimed {token}" not in out:
        raise DeviceError(
            f"could not claim the lab guard {guard_path(device)} (exit {code}: {out.strip()!r})",
            serial=device.serial,
        )
    killed = next((int(w.split()[1]) for w in out.splitlines() if w.startswith("killed ")), 0)
    return GuardClaim(token, killed)


def wrapped(device: Device, token: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run only while ``token`` owns the phone, its PID registered in the guard."""
    return ["sh", "-c", _RUN, "sh", guard_path(device), str(token), *argv]


def release(device: Device, token: int) -> None:
    """Remove the guard if ``token`` still owns it (a newer owner's guard is left alone)."""
    _sh(device, _RELEASE, guard_path(device), str(token))
