"""``benchorch build --runtime executorch --target host`` where the executorch extra is not
installed (Debian's Python with its own torch and no executorch, the real CLI as a
subprocess): one line with the install command, exit 2, nothing built."""

from __future__ import annotations

from pathlib import Path

from tests.support.debianvenv import benchorch_without_executorch


def test_the_host_runner_without_the_extra_names_the_install_command(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    argv = ["build", "--runtime", "executorch", "--target", "host", "--cache-dir", str(cache)]
    done = benchorch_without_executorch(tmp_path, *argv, env={"BENCHORCH_CACHE": str(cache)})
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert "executorch is not installed" in lines[0]
    assert "pip install 'benchorch[executorch]'" in lines[0]
    assert not any(cache.rglob("et_bench_runner"))
