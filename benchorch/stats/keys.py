"""Configuration identities and per-launch numbers (pure).

A **launch** is one process of the benchmark. Its value is the median of its
per-iteration latencies (``samples_us``); a launch without samples falls back
to the binary's own ``us_per_iter``; a load launch (``kind == "load"``) is its
on-device wall time ``load_s`` in microseconds. A **configuration** is
``config_key`` (INTERNALS.md); a **series** is ``series_key``: the same thing
measured across runs, whatever binary or variant file it used.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from benchorch import benchflags

#: The identity of a configuration for statistics (INTERNALS.md, "Store").
CONFIG_FIELDS: tuple[str, ...] = (
    "device_model",
    "device_fingerprint",
    "binary_sha256",
    "binary_flavour",
    "variant_sha256",
    "dims",
    "types",
    "memory_format",
    "threads",
    "core_mask",
    "kind",
)
#: Fields that must be equal for two runs' configurations to be compared.
COMPARABLE_FIELDS: tuple[str, ...] = (
    "device_model",
    "device_fingerprint",
    "binary_sha256",
    "binary_flavour",
    "variant_sha256",
    "core_mask",
)
#: What pairs a configuration of one run with one of another (``device`` is a label).
PAIR_FIELDS: tuple[str, ...] = (
    "device",
    "variant",
    "variant_format",
    "dims",
    "types",
    "memory_format",
    "threads",
    "kind",
)

DEFAULT_Q = 0.05
DEFAULT_MIN_EFFECT = 0.02
DEFAULT_BOOT = 1000
MIN_LAUNCHES_FOR_TEST = 2


def cell_text(value: Any) -> str:
    """A stable text form of one key field: ``-`` for missing, ``4`` not ``4.0``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "-"
    if isinstance(value, float):
        if np.isnan(value):
            return "-"
        if value.is_integer():
            return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    if isinstance(value, np.floating):
        return cell_text(float(value))
    return str(value)


def config_key(row: Mapping[str, Any]) -> str:
    """The configuration identity of one launch row, as one ``|``-joined string."""
    return "|".join(cell_text(row.get(f)) for f in CONFIG_FIELDS)


def keyed(df: pd.DataFrame, fields: Sequence[str], name: str) -> pd.DataFrame:
    """A copy of ``df`` with column ``name``: the ``|``-joined ``cell_text`` of
    ``fields``, computed once per distinct combination (group codes, then a
    lookup), so 100,000 rows cost one groupby."""
    out = df.copy()
    for f in fields:
        if f not in out.columns:
            out[f] = None
    if out.empty:
        out[name] = pd.Series(dtype=object)
        return out
    codes = out.groupby(list(fields), dropna=False, sort=False).ngroup().to_numpy()
    _, firsts = np.unique(codes, return_index=True)
    columns = [out[f].iloc[firsts].tolist() for f in fields]
    labels = ["|".join(cell_text(v) for v in row) for row in zip(*columns, strict=True)]
    lookup = np.asarray(labels, dtype=object)
    out[name] = lookup[codes]
    return out


def with_config_key(launches: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``launches`` with a ``config_key`` column (vectorised by groups)."""
    return keyed(launches, CONFIG_FIELDS, "config_key")


#: A launch counts when at least this share of its samples is finite (NaN
#: or inf samples are dropped, counted in ``n_dropped`` and shown).
MIN_FINITE_SHARE = 0.5


def launch_values(launches: pd.DataFrame) -> pd.DataFrame:
    """Add the per-launch numbers: ``value_us`` (launch median), ``first_us``,
    ``steady_us`` (median of iterations 2..n), ``n_iter``, ``n_dropped`` and
    ``ok``.

    Non-finite samples (NaN, inf: a timer glitch, a parse hiccup) are dropped
    from the launch, counted in ``n_dropped``, and the launch's numbers are
    taken over its finite samples; the launch fails only when fewer than
    ``MIN_FINITE_SHARE`` of its samples (or none) are finite. Launches are
    grouped by their number of samples and each group's medians are taken on
    one 2-D array, so 100,000 launches cost a few numpy calls.
    """
    df = launches.copy()
    n = len(df)
    value = np.full(n, np.nan)
    first = np.full(n, np.nan)
    steady = np.full(n, np.nan)
    finite_n = np.zeros(n, dtype=np.int64)
    samples = df["samples_us"].tolist() if "samples_us" in df.columns else [None] * n
    lens = np.fromiter(
        (len(s) if isinstance(s, list | tuple | np.ndarray) else 0 for s in samples), int, count=n
    )
    for length in np.unique(lens[lens > 0]):
        idx = np.flatnonzero(lens == length)
        mat = np.asarray([samples[i] for i in idx], dtype=float)
        good = np.isfinite(mat)
        finite_n[idx] = good.sum(axis=1)
        if good.all():
            value[idx] = np.median(mat, axis=1)
            if length > 1:
                first[idx] = mat[:, 0]
                steady[idx] = np.median(mat[:, 1:], axis=1)
            continue
        mat = np.where(good, mat, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN
            value[idx] = np.nanmedian(mat, axis=1)
            if length > 1:
                first[idx] = mat[:, 0]
                steady[idx] = np.nanmedian(mat[:, 1:], axis=1)
    enough = finite_n >= np.maximum(1, np.ceil(MIN_FINITE_SHARE * lens))
    value = np.where((lens == 0) | enough, value, np.nan)
    if "us_per_iter" in df.columns:
        fallback = pd.to_numeric(df["us_per_iter"], errors="coerce").to_numpy(dtype=float)
        value = np.where(lens == 0, fallback, value)
    kind = df["kind"].astype(object).to_numpy() if "kind" in df.columns else np.full(n, "latency")
    if "load_s" in df.columns:
        load = pd.to_numeric(df["load_s"], errors="coerce").to_numpy(dtype=float) * 1e6
        value = np.where(kind == "load", load, value)
    status = df["status"].astype(object).to_numpy() if "status" in df.columns else np.full(n, "ok")
    df["value_us"] = value
    df["first_us"] = first
    df["steady_us"] = steady
    df["n_iter"] = np.where(kind == "load", 0, finite_n)
    df["n_dropped"] = np.where(kind == "load", 0, lens - finite_n)
    df["ok"] = (status == "ok") & np.isfinite(value)
    return df


def device_labels(frames: Sequence[pd.DataFrame]) -> dict[tuple[Any, Any], str]:
    """``(model, serial) -> label``: the model, or "model (serial)" when a model
    has several serials in any one run, or the serial when the model is unknown."""
    labels: dict[tuple[Any, Any], str] = {}
    ambiguous: set[Any] = set()
    for df in frames:
        if df.empty:
            continue
        serials = df.groupby(df["device_model"].astype(object).fillna("\0"))[
            "device_serial"
        ].nunique()
        ambiguous |= {m for m, n in serials.items() if n > 1}
    for df in frames:
        for model, serial in (
            df[["device_model", "device_serial"]].drop_duplicates().itertuples(index=False)
        ):
            known = cell_text(model) != "-"
            if not known:
                labels[(model, serial)] = str(serial)
            elif model in ambiguous:
                labels[(model, serial)] = f"{model} ({serial})"
            else:
                labels[(model, serial)] = str(model)
    return labels


def with_series_key(launches: pd.DataFrame) -> pd.DataFrame:
    """Add ``device`` (a label, see ``compare_frames``) and ``series_key``: the
    ``PAIR_FIELDS`` identity, which stays the same when a nightly build changes
    the binary or the variant file (a trend follows it across such changes)."""
    labels = device_labels([launches])
    df = launches.copy()
    if df.empty:
        df["device"] = pd.Series(dtype=object)
    else:
        pairs = df[["device_model", "device_serial"]]
        codes = pairs.groupby(list(pairs.columns), dropna=False, sort=False).ngroup().to_numpy()
        _, firsts = np.unique(codes, return_index=True)
        models = pairs["device_model"].iloc[firsts].tolist()
        serials = pairs["device_serial"].iloc[firsts].tolist()
        lookup = np.asarray(
            [_label(labels, m, s) for m, s in zip(models, serials, strict=True)], dtype=object
        )
        df["device"] = lookup[codes]
    return keyed(df, PAIR_FIELDS, "series_key")


def _label(labels: Mapping[tuple[Any, Any], str], model: Any, serial: Any) -> str:
    """``labels[(model, serial)]``, matching a missing model whatever its NA flavour."""
    if (model, serial) in labels:
        return labels[(model, serial)]
    if cell_text(model) == "-":
        return str(serial)
    return labels.get((model, serial), str(model))


def pair_label(pair: Sequence[str]) -> str:
    """``phone · variant (format) · dims types · Nt`` plus the memory format
    when not contiguous and ``load`` for load launches."""
    f = dict(zip(PAIR_FIELDS, pair, strict=True))
    parts = [f["device"], f"{f['variant']} ({f['variant_format']})", f"{f['dims']} {f['types']}"]
    parts.append(f"{f['threads']}t")
    if f["memory_format"] not in (benchflags.CONTIGUOUS, "-"):
        parts.append(f["memory_format"])
    if f["kind"] != "latency":
        parts.append(f["kind"])
    return " · ".join(parts)
