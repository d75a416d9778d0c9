"""``benchorch sweep --confirm --baseline RUN``: the sweep confirms its own suspects.

After a sweep, its comparison with the baseline run is the **screen**
(``stats.confirm``); the suspects it picks within the budget are measured
again on their own phones: for each, the baseline's exact binary and variant
file (found by content hash: kept by the sweep that used them,
``benchorch.kept``, else at their original paths checked against the sha256;
neither: exit 3 naming the hash) and the candidate's,
**A/B interleaved launch by launch** (ABBA order, so neither side always runs
second; one launch at a time), each suspect its
own ``per_side`` launches a side (a larger share for the screen's first
suspects, ``stats.pick_suspects``; equal shares for suspects a caller chose,
``choose_suspects``). The launches are stored as two runs,
``side`` ``base`` and ``cand`` in their ``params["confirm"]``, so ``compare``
and the report judge the suspects on them later too
(``report.api.confirmation_of``).

Error control and the choice of suspects are ``stats.confirm``'s; this module
only plans, runs and stores the launches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from benchorch import stats
from benchorch.build.provenance import Provenance
from benchorch.captured import imported_labels
from benchorch.devices import open_device
from benchorch.devices.lock import DeviceLock
from benchorch.domain import ModelFormat
from benchorch.errors import InfraError, UsageError
from benchorch.files import sha256_file
from benchorch.kept import find_kept, kept_path, kept_root
from benchorch.stats.confirm import DEFAULT_ALPHA, DEFAULT_MAX_SUSPECTS, DEFAULT_Z, MIN_PER_SIDE
from benchorch.store import Store
from benchorch.store.location import DbLocation
from benchorch.sweep.executor import DeviceProgress, DeviceWork, Executor, SweepSettings
from benchorch.sweep.inputs import Binary, hostrunner_binary
from benchorch.sweep.launch import LaunchPolicy
from benchorch.sweep.plan import LaunchSpec
from benchorch.sweep.settings import merge

log = logging.getLogger("benchorch.sweep")

#: Share of the screened run's launches the confirmation may add by default.
DEFAULT_BUDGET = 0.14
#: The budget's floor: every suspect the screen picks (at most
#: ``stats.confirm.DEFAULT_MAX_SUSPECTS``) gets at least this many extra launches
#: (``MIN_PER_SIDE`` a side: 10 + 10 interleaved launches reach an exact
#: two-sided p of 1.1e-5, far under Holm's ``alpha / K``), however small the
#: night: at 14% a night under about 143 launches could confirm nothing.
MIN_LAUNCHES_PER_SUSPECT = 2 * MIN_PER_SIDE


@dataclass(frozen=True)
class Confirmation:
    """What ``confirm_run`` did and the night's verdicts after it."""

    comparison: stats.Comparison
    suspects: tuple[stats.Suspect, ...]
    base_run: str | None
    cand_run: str | None
    launches: int
    #: extra launches spent on each suspect (label -> launches, both sides)
    spent: tuple[tuple[str, int], ...] = ()

    def confirmed(self) -> set[str]:
        """The suspects the confirmation called what the screen suspected."""
        got = {r.label: r.verdict for r in self.comparison.rows}
        return {s.label for s in self.suspects if got.get(s.label) is s.direction}

    def cost(self) -> dict[str, dict[str, float]]:
        """Extra launches spent on the confirmed and on the rejected suspects:
        ``{"confirmed"|"rejected": {"suspects", "launches", "per_suspect"}}``."""
        yes, spent = self.confirmed(), dict(self.spent)
        out = {}
        for name, labels in (
            ("confirmed", [s.label for s in self.suspects if s.label in yes]),
            ("rejected", [s.label for s in self.suspects if s.label not in yes]),
        ):
            n = sum(spent.get(lbl, 0) for lbl in labels)
            out[name] = {
                "suspects": len(labels),
                "launches": n,
                "per_suspect": n / len(labels) if labels else float("nan"),
            }
        return out

    def lines(self) -> list[str]:
        c = self.comparison.counts
        head = (
            f"confirmation against {self.comparison.base}: {len(self.suspects)} suspects,"
            f" {self.launches} extra launches"
        )
        cost = self.cost()
        if self.suspects:
            head += "; " + ", ".join(
                f"{v['suspects']} {k} ({v['launches']} launches)" for k, v in cost.items()
            )
        counts = ", ".join(f"{n} {v}" for v, n in c.items() if n)
        return [head, f"  verdicts: {counts}"] + [
            f"  {r.verdict.value}: {r.label}: {r.reason}"
            for r in self.comparison.rows
            if r.confirm_base
        ]


@dataclass(frozen=True)
class AbStep:
    """One A/B launch: on which phone, which side (``base``/``cand``), for which suspect."""

    serial: str
    side: str
    label: str
    spec: LaunchSpec
    binary_sha: str


def _binary(store: Store, run_id: str, sha: str) -> Binary:
    rows = store.binaries(run_id)
    found = rows[rows["sha256"] == sha]
    if found.empty:
        raise UsageError(f"run {run_id} recorded no binary {sha[:12]}")
    prov = Provenance.from_dict(
        {
            k: v
            for k, v in found.iloc[0].to_dict().items()
            if k != "first_seen" and not (v is None or (isinstance(v, float) and v != v))
        }
    )
    if prov.origin == "hostrunner":
        runner = hostrunner_binary()
        if runner.sha256 != sha:
            raise UsageError(
                f"run {run_id}'s host runner ({sha[:12]}) is not this one",
                hint="confirm with the torch and benchorch that ran it",
            )
        return runner
    path = _exact(run_id, "binary", Path(prov.path), sha)
    # the provenance stays the recorded one; only the bytes come from where they are
    return dataclasses.replace(Binary.from_provenance(prov), local_path=path)


def _variant_file(store: Store, run_id: str, file: str, sha: str) -> Path:
    root = Path(str(store.run(run_id)["params"].get("manifest", "")))
    return _exact(run_id, "variant file", root / file, sha)


def _exact(run_id: str, what: str, original: Path, sha: str) -> Path:
    """The file with exactly ``sha``'s bytes: kept by content hash
    (``benchorch.kept``), else still at its original path; else ``InfraError``
    (exit 3) naming the hash and the fix."""
    kept = find_kept(sha)
    if kept is not None:
        return kept
    if original.is_file() and sha256_file(original) == sha:
        return original
    raise InfraError(
        f"run {run_id}'s {what} sha256 {sha} is gone: not kept in {kept_root()}"
        f" and {original} is gone or changed",
        hint=f"put the file with that hash back at {original} (or at {kept_path(sha)}),"
        " or confirm against a later baseline run",
    )


def _row_of(keyed: pd.DataFrame, key: str, serial: Any) -> pd.Series:
    """A launch of configuration ``key`` on the phone ``serial`` (any phone
    when the label named none)."""
    rows = keyed[keyed["config_key"] == key]
    if serial is not None:
        rows = rows[rows["device_serial"] == serial]
    return rows.iloc[0]


def _spec(row: pd.Series, index: int, side: str, label: str) -> LaunchSpec:
    key = f"confirm/{side}/{label}/{index}"
    return LaunchSpec(
        variant=str(row["variant"]),
        file=str(row["variant_file"]),
        format=ModelFormat(str(row["variant_format"])),
        sha256=str(row["variant_sha256"]),
        dims=str(row["dims"]),
        types=str(row["types"]),
        memory_format=str(row["memory_format"]),
        threads=int(row["threads"]),
        kind="load" if str(row["kind"]) == "load" else "latency",
        launch_index=index,
        iters=int(row["iters"]),
        warmup=int(row["warmup"]),
        config_key=f"confirm/{side}/{label}",
        launch_key=key,
    )


def _run_here(
    db: Path | DbLocation,
    cfg: Any,
    steps: Sequence[AbStep],
    sides: dict[str, dict[str, Any]],
    executors: dict[str, Executor],
    suspects: Sequence[stats.Suspect],
) -> tuple[int, dict[str, int]]:
    """The A/B launches on this host's phones, each phone locked for the whole step."""
    done = 0
    spent = dict.fromkeys((s.label for s in suspects), 0)
    with contextlib.ExitStack() as stack:
        devices = {}
        for serial in sorted({step.serial for step in steps}):
            stack.enter_context(DeviceLock(serial))
            device = open_device(serial, adb_addr=cfg.adb_server)
            stack.callback(device.close)
            devices[serial] = (device, device.info())
            with Store(db) as store:
                for d in sides.values():
                    store.record_device(d["run"], devices[serial][1])
        # one launch at a time, even on several phones: run on both phones at once
        # (virtual phones: this host's CPU), one quiet night's identical bytes came
        # out "slower" (p 0.0005): each phone's launches beside the other's pushes
        # and probes, in step with the ABBA order, are not exchangeable
        for step in steps:
            device, info = devices[step.serial]
            binary = sides[step.side]["binaries"][step.binary_sha]
            prog = DeviceProgress(info.serial, 1)
            executors[step.side].run_device(DeviceWork(device, info, binary, [step.spec]), prog)
            if prog.message:
                log.warning("%s: confirmation launch: %s", info.serial, prog.message)
            done += 1
            spent[step.label] += 1
    return done, spent


def confirm_budget(
    screen: stats.Comparison,
    share: float,
    launches: int,
    scores: Mapping[str, float] | None = None,
    z_min: float = DEFAULT_Z,
) -> int:
    """Extra launches the confirmation may spend: ``share`` of the screened
    run's ``launches``, at least ``MIN_LAUNCHES_PER_SUSPECT`` for each suspect
    the screen would pick with no limit but its own."""
    unlimited = 2 * MIN_PER_SIDE * DEFAULT_MAX_SUSPECTS
    wanted = stats.pick_suspects(screen, budget=unlimited, scores=scores, z_min=z_min)
    return max(int(share * launches), MIN_LAUNCHES_PER_SUSPECT * len(wanted))


def earlier_runs(store: Store, base_id: str, cand_id: str, window: int) -> list[str]:
    """The ``window`` latest runs that started before the candidate on one of
    the baseline's phones, other than the two compared and confirmation runs
    (whose launches ``stats.pooled_baseline`` then keeps only where they
    measured one of the baseline's configurations: same phone, binary and
    file by content hash)."""
    if window <= 0:
        return []
    runs = store.runs()
    starts = dict(zip(runs["run_id"], runs["started_at"], strict=True))
    phones = set(store.run(base_id)["devices"])
    cut = starts.get(cand_id)
    found = [
        str(r["run_id"])
        for _, r in runs.iterrows()
        if r["run_id"] not in (base_id, cand_id)
        and not (isinstance(r["params"], dict) and r["params"].get("confirm"))
        and phones & set(r["devices"])
        and (cut is None or float(r["started_at"]) <= float(cut))
    ]
    return found[-window:]


def choose_suspects(
    store: Store,
    base_id: str,
    cand_id: str,
    *,
    budget_share: float = DEFAULT_BUDGET,
    vary: Sequence[str] = (),
    window: int = stats.DEFAULT_WINDOW,
    chosen: Mapping[str, float] | None = None,
) -> tuple[stats.Comparison, tuple[stats.Suspect, ...], list[str]]:
    """The screen (``cand_id`` against ``base_id``), its suspects within
    ``budget_share`` of the candidate's launches, ranked with the baseline
    pooled with its ``window`` earlier runs (``earlier_runs``), and those runs.

    ``chosen``: the caller's own suspects (label -> screen score, positive
    for slower, negative for faster), e.g. the nightly's, which screens each
    configuration against the previous night and a window of nights: then
    only those are suspects (at most ``DEFAULT_MAX_SUSPECTS``, the highest
    scores first, the budget shared equally, its floor paying for each) and
    nothing is pooled."""
    from benchorch.report.api import compare_runs

    screen = compare_runs(store, base_id, cand_id, vary=vary)
    cand_launches = store.launches(cand_id, include_output=False)
    # a phone imported from captured logs cannot be run again: its suspects stay suspects
    frames = [store.launches(base_id, include_output=False), cand_launches]
    imported = imported_labels(store, (base_id, cand_id), frames)
    if chosen is not None:
        rows = {r.label: r for r in screen.rows}
        mine = {
            k: float(z)
            for k, z in chosen.items()
            if k in rows and z != 0 and not (rows[k].pair and rows[k].pair[0] in imported)
        }
        if not mine:
            return screen, (), []
        z_min = min(abs(z) for z in mine.values())
        budget = confirm_budget(screen, budget_share, len(cand_launches), mine, z_min)
        # equal shares: the floor then pays MIN_PER_SIDE a side for every one of them
        # (the taper would leave the last ones under it, and so unconfirmed)
        picked = stats.pick_suspects(screen, budget=budget, scores=mine, z_min=z_min, taper=0.0)
        return screen, picked, []
    earlier = earlier_runs(store, base_id, cand_id, window)
    scores = None
    if earlier:
        scores = stats.pooled_scores(
            store.launches(base_id, include_output=False),
            store.launches(earlier, include_output=False),
            cand_launches,
            cand_id=cand_id,
            vary=vary,
        )
    budget = confirm_budget(screen, budget_share, len(cand_launches), scores)
    picked = stats.pick_suspects(screen, budget=budget, scores=scores)
    return screen, tuple(s for s in picked if not s.pair or s.pair[0] not in imported), earlier


def confirm_run(
    *,
    db: Path | DbLocation,
    cand_run: str,
    baseline: str,
    budget_share: float = DEFAULT_BUDGET,
    vary: Sequence[str] = (),
    alpha: float = DEFAULT_ALPHA,
    window: int = stats.DEFAULT_WINDOW,
    suspects: Mapping[str, float] | None = None,
    lab: Path | None = None,
    lab_wait: float | None = None,
) -> Confirmation:
    """Screen ``cand_run`` against ``baseline`` (its baseline side pooled with
    the ``window`` earlier runs of the same configurations: ``earlier_runs``,
    ``stats.pooled_scores``), measure the suspects again A/B interleaved on
    their phones, store both sides and judge them. ``suspects``: the caller
    screened already (label -> score): confirm exactly those
    (``choose_suspects``' ``chosen``). ``lab``: the phones are a lab's (lab.toml):
    each phone's A/B launches are one job of the lab holding the phone's lock
    (``benchorch.lab.confirm_lab``), run by its host's worker; ``lab_wait``: seconds
    such a job may wait for its phone (held by a reservation, another sweep) before
    it ends not run (None: until the phone is free)."""
    from benchorch.report.api import confirmation_of

    with Store(db) as store:
        base_id, cand_id = store.resolve_run_id(baseline), store.resolve_run_id(cand_run)
        screen, picked, earlier = choose_suspects(
            store, base_id, cand_id, budget_share=budget_share, vary=vary, window=window,
            chosen=suspects,
        )  # fmt: skip
        cand_launches = store.launches(cand_id, include_output=False)
        base_launches = store.launches(base_id, include_output=False)
        if not picked:
            return Confirmation(screen, (), None, None, 0)
        values = dict(store.run(cand_id)["params"].get("settings", {}))
        cfg = merge(values, {}, flag_names={})
        b_keyed = stats.with_config_key(base_launches)
        c_keyed = stats.with_config_key(cand_launches)
        # a configuration key names the phone's model and build, not the phone:
        # two phones of one model share it, and the suspect's phone is its label's
        serial_of = {
            label: serial
            for (_model, serial), label in stats.device_labels(
                [base_launches, cand_launches]
            ).items()
        }
        plan: list[tuple[stats.Suspect, pd.Series, pd.Series]] = []
        for s in picked:
            serial = serial_of.get(str(s.pair[0])) if s.pair else None
            b_row = _row_of(b_keyed, s.base_key, serial)
            c_row = _row_of(c_keyed, s.cand_key, serial)
            plan.append((s, b_row, c_row))
        sides: dict[str, dict[str, Any]] = {}
        for side, run_id in (("base", base_id), ("cand", cand_id)):
            rows = [b if side == "base" else c for _, b, c in plan]
            binaries = {str(r["binary_sha256"]): _binary(store, run_id, str(r["binary_sha256"]))
                        for r in rows}  # fmt: skip
            # through a lab, a file is its sha256: the lab's sweep stored its bytes in
            # the lab database, where the phone's worker fetches them
            files = {
                str(r["variant_file"]): str(r["variant_sha256"])
                if lab is not None
                else _variant_file(store, run_id, str(r["variant_file"]), str(r["variant_sha256"]))
                for r in rows
            }
            new = store.create_run(
                command=f"confirm {cand_id} against {base_id} ({side})",
                params={
                    "confirm": {
                        "baseline": base_id,
                        "cand": cand_id,
                        "side": side,
                        "suspects": [s.label for s in picked],
                        "directions": {s.label: s.direction.value for s in picked},
                        "pooled_runs": earlier,
                    },
                    "settings": values,
                },
            )
            for b in binaries.values():
                store.record_binary(new, b.provenance)
            sides[side] = {"run": new, "binaries": binaries, "files": files}
    per_side = max(s.per_side for s in picked)  # the first suspect's share is the largest
    executors = {
        side: Executor(
            store_path=db,
            settings=SweepSettings(
                run_id=d["run"],
                launch=LaunchPolicy(
                    timeout_s=cfg.timeout,
                    cooldown_temp_c=cfg.cooldown_c,
                    cooldown_max_wait_s=cfg.cooldown_max_wait,
                ),
                min_battery=None,
                retries=cfg.retries,
                reconnect_s=cfg.reconnect_timeout,
                pin=cfg.pin,
            ),
            variant_files=d["files"],
        )
        for side, d in sides.items()
    }
    steps = []
    for i in range(per_side):
        order = ("base", "cand") if i % 2 == 0 else ("cand", "base")  # ABBA
        for s, b_row, c_row in plan:
            if i >= s.per_side:  # this suspect's share is spent
                continue
            for side in order:
                row = b_row if side == "base" else c_row
                steps.append(
                    AbStep(
                        str(c_row["device_serial"]),
                        side,
                        s.label,
                        _spec(row, i, side, s.label),
                        str(row["binary_sha256"]),
                    )
                )
    if lab is not None:  # each phone's steps one job of the lab, holding the phone's lock
        from benchorch.lab.confirm_lab import run_ab_in_lab

        spent = dict.fromkeys((s.label for s in picked), 0)
        spent.update(run_ab_in_lab(lab, steps, sides, cfg, wait_s=lab_wait))
        done = sum(spent.values())
    else:
        done, spent = _run_here(db, cfg, steps, sides, executors, picked)
    with Store(db) as store:
        for d in sides.values():
            store.finish_run(d["run"], "ok")
        final = confirmation_of(store, screen, vary=vary, alpha=alpha)
    return Confirmation(
        final, picked, sides["base"]["run"], sides["cand"]["run"], done, tuple(spent.items())
    )
