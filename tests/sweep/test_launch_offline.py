"""Below the CLI: ``run_launch`` on a phone that went away *between* launches (adb
already says ``offline``) is a retryable drop, and after a reconnect it runs; a
worker that crashes makes the run ``partial``, never ``ok``.

Real parts: the Debian adb server, a virtual phone killed with SIGKILL and
started again on the same port, the real speed_benchmark_torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from benchorch.devices.adb import AdbDevice
from benchorch.devices.adbhost import ServerAddr
from benchorch.sweep.launch import LaunchPolicy, run_launch
from tests.support.adb_fixtures import AdbServer, VirtualPhone

PhoneFactory = Callable[..., VirtualPhone]


def test_launch_on_an_offline_phone_is_retryable_and_runs_after_reconnect(
    adb_server: AdbServer,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
) -> None:
    phone = virtual_phone(profile="x86_64_emulator")
    device = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    binary = device.push(sweep_binaries["lite"], "speed_benchmark_torch", executable=True)
    model = device.push(small_variants / "baseline.ptl", "baseline.ptl")
    argv = (
        binary.remote_path,
        f"--model={model.remote_path}",
        "--input_dims=1,3,32,32",
        "--input_type=float",
        "--iter=2",
        "--report_pep=true",
    )
    policy = LaunchPolicy(timeout_s=60, cooldown_temp_c=45.0, cooldown_max_wait_s=0)

    def launch() -> object:
        return run_launch(device, argv, "latency", policy, cwd=device.workdir)

    phone.kill()
    adb_server.wait_state(phone.serial, "offline")
    lost = launch()
    assert lost.retryable  # type: ignore[attr-defined]
    assert lost.parsed.error_kind == "device_lost"  # type: ignore[attr-defined]

    phone.start(connect=False)  # back on the same port; nobody re-attaches it
    device.reconnect(within_s=20)
    done = launch()
    assert not done.retryable  # type: ignore[attr-defined]
    assert done.ok, done.parsed  # type: ignore[attr-defined]
    assert len(done.parsed.samples_us) == 2  # type: ignore[attr-defined]


def test_a_worker_that_crashes_makes_the_run_partial_never_ok(
    adb_server: AdbServer,
    virtual_phone: PhoneFactory,
    small_variants: Path,
    sweep_binaries: dict[str, Path],
    tmp_path: Path,
) -> None:
    """A bug inside a worker (here: a planned file the executor was not given) ends
    that phone's part with status ``error`` and the run is ``partial``, not ``ok``."""
    from benchorch.build.provenance import register_binary
    from benchorch.store import Store
    from benchorch.sweep.executor import DeviceWork, Executor, SweepSettings, overall_status
    from benchorch.sweep.inputs import Binary
    from benchorch.sweep.plan import make_plan, plan_variants
    from benchorch.sweep.settings import SweepConfig
    from benchorch.variants.manifest import Manifest

    phone = virtual_phone(profile="x86_64_emulator")
    device = AdbDevice(phone.serial, addr=ServerAddr("127.0.0.1", adb_server.port))
    binary = Binary.from_provenance(register_binary(sweep_binaries["lite"]))
    cfg = SweepConfig(devices=(phone.serial,), launches=1, load_launches=0, iters=2, warmup=0)
    plan = make_plan(plan_variants(Manifest.load(small_variants)), binary, cfg)
    assert plan.launches
    store = Store(tmp_path / "r.sqlite")
    run_id = store.create_run("test", {})
    settings = SweepSettings(
        run_id=run_id,
        launch=LaunchPolicy(timeout_s=60, cooldown_temp_c=None, cooldown_max_wait_s=0),
        min_battery=None,
        retries=0,
        reconnect_s=1,
    )
    executor = Executor(store_path=tmp_path / "r.sqlite", settings=settings, variant_files={})
    result = executor.run([DeviceWork(device, device.info(), binary, plan.launches)])
    part = result.devices[phone.serial]
    assert part.status == "error" and "KeyError" in part.message
    assert overall_status(result) == "partial"
