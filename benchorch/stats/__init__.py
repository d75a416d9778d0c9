"""Pure statistics: launch summaries, speed-ups, run comparisons, history.

No I/O: numpy and pandas only (scipy is the tests' reference, never imported
here: it costs about a second). The method is ``docs/STATISTICS.md``:

* A **launch** is one process of the benchmark. Its value is the median of its
  per-iteration latencies (``samples_us``); a launch without samples falls back
  to the binary's own ``us_per_iter``; a load launch (``kind == "load"``) is its
  on-device wall time ``load_s`` in microseconds. Iterations inside a launch are
  not independent (frequency, thermal state and background work move a whole
  launch), launches are.
* A **configuration** is ``config_key``: device model + build fingerprint,
  binary sha256 + flavour, variant sha256, dims, types, memory format, threads,
  core mask and kind.
* Per configuration: ``m = median_i(median_j x_ij)`` over ok launches ``i`` and
  their iterations ``j``; a 95% percentile interval from a bootstrap of the
  launches (their medians; under ``summary.MIN_LAUNCHES_LEVEL_ONLY`` launches
  also each drawn launch's iterations, drawn from the exact law of their
  median, ``bootstrap.median_rank_tables``), seeded from the configuration
  key so a result never depends on the order of the rows; p10/p90 of all
  iterations pooled; the coefficient of variation between launches
  ``sd(launch medians) / mean(launch medians)``; the first iteration of each
  launch apart from the steady state (iterations 2..n).
* Speed-up of a variant over a baseline: ``m_base / m_variant`` with the
  interval of the ratio of independent bootstrap replicates.
* Comparison of two runs: ``compare.compare_frames``. History:
  ``history.change_points`` and ``history.creep``.

Modules: ``keys`` (identities, launch values), ``bootstrap`` (the two-level
bootstrap engine), ``nonparametric`` (the rank and trend tests and
Benjamini-Hochberg, Holm, numpy twins of scipy's), ``bimodal`` (two clusters
of launches), ``aa`` (the A/A check), ``confirm`` (screen, then confirm), ``pool`` (the
screen's baseline pooled with its earlier runs),
``summary`` (per-configuration
summaries, ratios), ``history``, ``compare``; everything public is re-exported
here.
"""

from benchorch.stats.aa import AACheck, aa_check, split_half_aa
from benchorch.stats.bimodal import Bimodal, bimodality
from benchorch.stats.bootstrap import (
    bootstrap_many,
    bootstrap_replicates,
    bootstrap_replicates_direct,
    median_rank_tables,
    percentile_interval,
)
from benchorch.stats.compare import (
    TESTS,
    Comparison,
    ComparisonRow,
    Verdict,
    causal_history,
    compare_frames,
    judge,
)
from benchorch.stats.confirm import (
    DEFAULT_ALPHA,
    DEFAULT_CONFIRM_TEST,
    Suspect,
    judge_confirmation,
    pick_suspects,
    screen_scores,
)
from benchorch.stats.history import (
    Creep,
    change_points,
    creep,
    noise_floor,
    robust_sigma,
    run_medians,
)
from benchorch.stats.keys import (
    COMPARABLE_FIELDS,
    CONFIG_FIELDS,
    DEFAULT_BOOT,
    DEFAULT_MIN_EFFECT,
    DEFAULT_Q,
    MIN_LAUNCHES_FOR_TEST,
    PAIR_FIELDS,
    cell_text,
    config_key,
    device_labels,
    keyed,
    launch_values,
    pair_label,
    with_config_key,
    with_series_key,
)
from benchorch.stats.nonparametric import (
    bh_adjust,
    holm_adjust,
    mann_whitney,
    mann_whitney_null_rate,
    welch_t,
)
from benchorch.stats.pool import (
    DEFAULT_WINDOW,
    pooled_baseline,
    pooled_comparison,
    pooled_scores,
)
from benchorch.stats.summary import (
    ConfigStats,
    Ratio,
    SummaryCache,
    ratio_of,
    speedup,
    summarize,
    summarize_config,
    summarize_groups,
    summarize_parts,
)

__all__ = [
    "COMPARABLE_FIELDS",
    "CONFIG_FIELDS",
    "DEFAULT_ALPHA",
    "DEFAULT_BOOT",
    "DEFAULT_CONFIRM_TEST",
    "DEFAULT_MIN_EFFECT",
    "DEFAULT_Q",
    "DEFAULT_WINDOW",
    "MIN_LAUNCHES_FOR_TEST",
    "PAIR_FIELDS",
    "TESTS",
    "AACheck",
    "Bimodal",
    "Comparison",
    "ComparisonRow",
    "ConfigStats",
    "Creep",
    "Ratio",
    "SummaryCache",
    "Suspect",
    "Verdict",
    "aa_check",
    "bh_adjust",
    "bimodality",
    "bootstrap_many",
    "bootstrap_replicates",
    "bootstrap_replicates_direct",
    "causal_history",
    "cell_text",
    "change_points",
    "compare_frames",
    "config_key",
    "creep",
    "device_labels",
    "holm_adjust",
    "judge",
    "judge_confirmation",
    "keyed",
    "launch_values",
    "mann_whitney",
    "mann_whitney_null_rate",
    "median_rank_tables",
    "noise_floor",
    "pair_label",
    "percentile_interval",
    "pick_suspects",
    "pooled_baseline",
    "pooled_comparison",
    "pooled_scores",
    "ratio_of",
    "robust_sigma",
    "run_medians",
    "screen_scores",
    "speedup",
    "split_half_aa",
    "summarize",
    "summarize_config",
    "summarize_groups",
    "summarize_parts",
    "welch_t",
    "with_config_key",
    "with_series_key",
]
