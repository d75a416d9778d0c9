"""``sweep --confirm`` re-runs the baseline's exact bytes after its variants
folder was re-exported over: the sweep kept every file it used by content hash
(``benchorch.kept``). Real parts: two real exports into one folder, the real
host-built speed_benchmark_torch on ``--device local``, a real SQLite store,
the CLI as a subprocess. The later export writes a model with twelve more
convolutions (about 6.5x the work): the confirmation can only call it slower
if its baseline side ran the original file, not the file now at its path.

The third sweep's screen compares its launches with the first sweep's, stored a
minute or more earlier: on a shared 2-core host the load can change several-fold
in between (load average 2 to 15), which a 2.5x slowdown did not always outrun
("the third sweep found no suspect", once). The confirmation itself runs both
sides interleaved and needs no such margin; only the screen does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from benchorch.build.provenance import Provenance
from benchorch.store import Store
from tests.support.nets import benchorch_cli, same_and_slowed

pytestmark = [pytest.mark.slow, pytest.mark.torch]

DIMS = "1,3,32,32"


def _sweep(env: dict[str, str], binary: str, folder: Path, *extra: str) -> Any:
    res = benchorch_cli(
        env, "sweep", "--device", "local", "--binary", binary, "--variants", str(folder),
        "--dims", DIMS, "--launches", "6", "--iter", "20", "--warmup", "2",
        "--load-launches", "0", "--quiet", "--json", "--out", str(Path(env["HOME"]) / "r"),
        *extra,
    )  # fmt: skip
    return res


def test_confirm_runs_the_baseline_bytes_after_the_folder_was_exported_over(
    host_binary_lite: Provenance, tmp_path: Path
) -> None:
    models = same_and_slowed(tmp_path, 32, extra=12)
    env = dict(
        os.environ,
        HOME=str(tmp_path),
        BENCHORCH_DB=str(tmp_path / "results.sqlite"),
        BENCHORCH_LOCK_DIR=str(tmp_path / "locks"),
        BENCHORCH_CACHE=str(tmp_path / "cache"),
    )
    folder = tmp_path / "variants"

    def export(model: str) -> dict[str, str]:
        res = benchorch_cli(env, "variants", str(models[model]), "--out", str(folder),
                            "--dims", DIMS, "--recipe", "lite")  # fmt: skip
        assert res.returncode == 0, res.stderr
        doc = json.loads((folder / "manifest.json").read_text())
        return {f["name"]: f["sha256"] for f in doc["files"]}

    before = export("same")
    binary = str(host_binary_lite.path)
    first = _sweep(env, binary, folder)
    assert first.returncode == 0, first.stderr
    base_run = json.loads(first.stdout)["run_id"]

    after = export("slowed")  # the next night's export, into the same folder
    assert all(after[n] != before[n] for n in before)  # every file was rewritten

    second = _sweep(env, binary, folder, "--confirm", "--baseline", base_run,
                    "--vary", "variant_sha256")  # fmt: skip
    assert second.returncode == 1, (second.stdout, second.stderr)
    conf = json.loads(second.stdout)["confirmation"]
    rows = [r for r in conf["comparison"]["rows"] if r["confirm_base"]]
    assert rows and {r["verdict"] for r in rows} == {"slower"}, rows
    assert conf["cost"]["confirmed"]["suspects"] == len(rows)
    assert conf["cost"]["confirmed"]["launches"] == conf["launches"] >= 20 * len(rows)  # floor
    with Store(Path(env["BENCHORCH_DB"]), create=False) as store:
        ran = store.launches(conf["base_run"])
    ran_shas = dict(zip(ran["variant_file"], ran["variant_sha256"], strict=True))
    assert ran_shas and all(before[f] == sha for f, sha in ran_shas.items())
    name = next(iter(ran_shas))
    kept = tmp_path / "cache" / "kept" / before[name][:2] / before[name]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == before[name]

    # the kept copy gone as well: one line naming the hash and the fix, exit 3,
    # the sweep's own launches kept
    kept.unlink()
    third = _sweep(env, binary, folder, "--confirm", "--baseline", base_run,
                   "--vary", "variant_sha256")  # fmt: skip
    assert third.returncode == 3, (third.stdout, third.stderr)
    [line] = [ln for ln in third.stderr.splitlines() if before[name] in ln]
    assert "put the file with that hash back" in line and str(folder / name) in line
    runs = json.loads(benchorch_cli(env, "runs", "--json").stdout)
    assert len(runs) == 5  # 3 sweeps and the two sides of one confirmation

    # prune: only what no stored run references goes
    junk = tmp_path / "cache" / "kept" / "ab" / ("ab" + "0" * 62)
    junk.parent.mkdir(exist_ok=True)
    junk.write_bytes(b"no run used this")
    res = benchorch_cli(env, "db", "prune-files", "--older-than", "0")
    assert res.returncode == 0, res.stderr
    assert "removed 1 kept file(s)" in res.stdout and not junk.exists()
    assert (tmp_path / "cache" / "kept" / after[name][:2] / after[name]).is_file()
