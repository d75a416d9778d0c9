"""The night's claim: a trigger while another lives says so (or waits with
--wait), and takes the night over once that holder is dead. Real SQLite, the
real adb server (the configured phone is not attached, so a night that runs
ends at once with it left out)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

from benchorch.nightly.config import load_nightly
from benchorch.nightly.night import config_hash
from benchorch.store import Store
from benchorch.store.nights import NightStore
from benchorch.sweep.settings import merge
from tests.nightly.conftest import NightlyEnv

NIGHT = "2026-12-20"


def test_a_live_holder_is_respected_and_a_dead_one_taken_over(nightly_env: NightlyEnv) -> None:
    cfg = nightly_env.config(devices=["127.0.0.1:9"], variants="variants", binary="sbt")
    chash = config_hash(merge(load_nightly(cfg).sweep_values, {}))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Store(nightly_env.db) as store:
            assert NightStore(store).claim(NIGHT, chash, f"{socket.gethostname()}:{holder.pid}", {})
        busy = nightly_env.invoke("run", "--config", str(cfg), "--night", NIGHT, "--json")
        assert busy.exit_code == 0, busy.output
        doc = json.loads(busy.stdout)
        assert doc["action"] == "in progress elsewhere" and str(holder.pid) in doc["message"]

        def kill_soon() -> None:
            time.sleep(1.0)
            holder.kill()
            holder.wait()

        threading.Thread(target=kill_soon, daemon=True).start()
        waited = nightly_env.invoke(
            "run", "--config", str(cfg), "--night", NIGHT, "--wait", "--json"
        )
    finally:
        holder.kill()
        holder.wait()
    # took the night over once its holder died: no healthy phone, so exit 3 naming it
    assert waited.exit_code == 3, waited.output
    doc = json.loads(waited.stdout)
    assert doc["action"] == "ran"
    [phone] = doc["status"]["phones"]
    assert phone["serial"] == "127.0.0.1:9" and phone["reason"].startswith("missing")
    [row] = nightly_env.rows("SELECT holder, status FROM nights")
    assert row["holder"].endswith(f":{os.getpid()}")
    assert row["status"] == "unfinished"  # a later trigger tries the phones again
