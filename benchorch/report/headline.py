"""The paragraph at the top of a run report (pure): per phone its fastest
variant against the baseline, and the variants that failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchorch.report.frames import finite_or_zero
from benchorch.report.problems import FailureRow
from benchorch.report.story import PhoneStory, StoryRow


@dataclass(frozen=True)
class PhoneHeadline:
    """A phone's one sentence: its fastest variant against the baseline, or none."""

    device: str
    serial: str
    best: StoryRow | None  # the largest speed-up over the baseline (None: nothing compared)
    n_configs: int


@dataclass(frozen=True)
class FailedVariant:
    """A variant whose launches failed, on which phones, and why."""

    variant: str
    error_kinds: tuple[str, ...]
    devices: tuple[str, ...]
    failed: int
    total: int


@dataclass(frozen=True)
class Headline:
    """The paragraph at the top of a run report."""

    phones: tuple[PhoneHeadline, ...]
    failed: tuple[FailedVariant, ...]
    n_skipped: int


def build_headline(
    stories: Sequence[PhoneStory], failures: Sequence[FailureRow], n_skipped: int
) -> Headline:
    """Per phone the configuration with the largest speed-up over its baseline;
    the variants that failed (all phones together)."""
    phones = []
    for s in stories:
        candidates = [r for r in s.rows if r.speedup is not None and not r.is_baseline]
        best = max(
            candidates,
            key=lambda r: finite_or_zero(r.speedup.value if r.speedup else 0.0),
            default=None,
        )
        phones.append(PhoneHeadline(s.device, s.serial, best, len(s.rows)))
    failed: dict[str, tuple[dict[str, None], dict[str, None], list[int]]] = {}
    for f in failures:
        kinds, devices, counts = failed.setdefault(f.variant, ({}, {}, [0, 0]))
        kinds[f.error_kind] = None
        devices[f.device] = None
        counts[0] += f.count
        counts[1] += f.total
    return Headline(
        tuple(phones),
        tuple(FailedVariant(v, tuple(k), tuple(d), n[0], n[1]) for v, (k, d, n) in failed.items()),
        n_skipped,
    )
