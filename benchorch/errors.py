"""One tree of errors: every error benchorch raises on purpose.

Three branches, each with its documented exit code, decided in one place,
``benchorch.exits.exit_code`` (README, "Exit codes"):

* ``UsageError`` (2): a bad flag or value, a missing or corrupt input file, an
  unwritable output folder: the user can fix it by changing the call.
* ``InfraError`` (3): the world failed: a device is unreachable, a build failed,
  the database is locked, a remote host refused us.
* ``VariantCheckFailed`` (1): an exported variant failed its accuracy check.

Every user-facing error is one line that names the thing (device serial, file,
flag) and says what to do (``hint``). Third-party exceptions (adbutils,
paramiko, sqlite3, subprocess) are mapped to these at the edge that calls them,
with ``raise ... from exc``.
"""

from __future__ import annotations


class BenchorchError(Exception):
    """Base of every error benchorch raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = " ".join(self.message.split())  # one line, always
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text


# --- failed (exit code 1) ----------------------------------------------------


class VariantCheckFailed(BenchorchError):
    """Exported variant files failed their accuracy check (the files are kept)."""


# --- usage (exit code 2) -----------------------------------------------------


class UsageError(BenchorchError):
    """The call itself is wrong: flag, value, input file or output folder."""


class ConfigError(UsageError):
    """A sweep.toml key or a flag value is invalid."""


class ModelError(UsageError):
    """A model (file, factory or demo) cannot be loaded, scripted or run."""


class AbiMismatch(UsageError):
    """A binary's ELF cannot run on the device it was meant for."""

    def __init__(self, message: str, *, serial: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.serial = serial


class OutputNotWritable(UsageError):
    pass


class RunNotFound(UsageError):
    """A run id that the results store does not hold (``benchorch runs`` lists them)."""


# --- infrastructure (exit code 3) -------------------------------------------


class InfraError(BenchorchError):
    """The world failed: a device, a build, the database, a remote host."""


class StoreError(InfraError):
    pass


class DatabaseLocked(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The database server cannot be reached now (refused, restarting, gone)."""


class BuildError(InfraError):
    """A build failed; ``log_path`` points at the full log when there is one."""

    def __init__(self, message: str, *, hint: str | None = None, log_path: str | None = None):
        super().__init__(message, hint=hint)
        self.log_path = log_path


class BuildUsageError(UsageError):
    """A build asked for something impossible (no NDK, wrong root...)."""


class RemoteError(InfraError):
    """An SSH build host failed us (connect, auth, command, transfer)."""

    def __init__(self, message: str, *, host: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.host = host


class HostKeyError(RemoteError):
    """The SSH host key is unknown or changed; never accepted silently."""


class AdbServerUnreachable(InfraError):
    """No adb server answers at the address given (``--adb`` / ANDROID_ADB_SERVER_PORT)."""


class DeviceError(InfraError):
    """Anything that went wrong with one device; always names its serial."""

    def __init__(self, message: str, *, serial: str, hint: str | None = None) -> None:
        super().__init__(f"{serial}: {message}", hint=hint)
        self.serial = serial


class DeviceNotFound(DeviceError):
    pass


class DeviceUnreachable(DeviceError):
    """The device is gone (offline, dropped) and did not come back in time."""


class DeviceDropped(DeviceUnreachable):
    """The connection broke in the middle of an operation."""


class DeviceTimeout(DeviceError):
    """A command ran past its timeout; it was killed on the device."""


class DeviceStorageFull(DeviceError):
    pass


class PushFailed(DeviceError):
    pass


class DeviceBusy(DeviceError):
    """Another sweep holds this device's lock."""


class BatteryTooLow(DeviceError):
    pass
