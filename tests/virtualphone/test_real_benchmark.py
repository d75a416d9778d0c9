"""The x86_64 emulator profile runs the real host-built speed_benchmark_torch.

Real parts end to end: the binary is compiled from PyTorch's own
``binaries/speed_benchmark_torch.cc`` (``host_binary_lite``), the model is
scripted and saved for the lite interpreter by Debian's torch 1.13.1 (the
libtorch the binary links), both go through ``adb push`` into the phone folder
and the binary runs through ``adb shell`` with ``taskset``, like on a phone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.adb_fixtures import AdbServer

pytestmark = pytest.mark.slow

DEBIAN_PYTHON = "/usr/bin/python3"
MAKE_MODEL = """
import sys, torch
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        return torch.relu(self.fc(x))
m = torch.jit.script(M().eval())
m._save_for_lite_interpreter(sys.argv[1])
"""


def _debian_model(out: Path) -> Path:
    script = out.with_suffix(".py")  # torch.jit.script needs the source in a file
    script.write_text(MAKE_MODEL)
    res = subprocess.run(
        [DEBIAN_PYTHON, str(script), str(out)], capture_output=True, text=True, timeout=300
    )
    if res.returncode != 0:
        pytest.skip(f"Debian's torch cannot save a lite model here: {res.stderr.strip()[-300:]}")
    return out


def test_speed_benchmark_torch_runs_on_the_x86_64_emulator(
    virtual_phone, adb_server: AdbServer, host_binary_lite, tmp_path: Path
) -> None:
    model = _debian_model(tmp_path / "tiny.ptl")
    phone = virtual_phone(profile="x86_64_emulator")
    for local, remote in (
        (host_binary_lite.path, "bin/speed_benchmark_torch"),
        (model, "models/tiny.ptl"),
    ):
        res = adb_server.run(
            "-s", phone.serial, "push", str(local), f"/data/local/tmp/benchorch/{remote}"
        )
        assert res.returncode == 0, res.stdout + res.stderr
    res = phone.shell(
        "cd /data/local/tmp/benchorch && chmod 755 bin/speed_benchmark_torch && "
        "taskset 1 ./bin/speed_benchmark_torch --model=/data/local/tmp/benchorch/models/tiny.ptl"
        " --input_dims=1,4 --input_type=float --warmup=2 --iter=7 --report_pep=true",
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "Main run finished" in out
    assert len(re.findall(r"PyTorchObserver", out)) >= 7
    # a missing model is the binary's own failure, with a non-zero exit through shell v2
    bad = phone.shell(
        "/data/local/tmp/benchorch/bin/speed_benchmark_torch --model=/data/local/tmp/none.ptl"
    )
    assert bad.returncode != 0
