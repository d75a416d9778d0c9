"""Notifications: a Slack-style webhook and a GitHub-issue body file.

A webhook that is down, slow or refuses is logged and returns False: it
never changes the night's verdict or exit code."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from benchorch.files import atomic_write
from benchorch.nightly.headline import NightReport, _md, _pct, _table

log = logging.getLogger("benchorch.nightly")

__all__ = ["WEBHOOK_ENV", "issue_body", "post_webhook", "webhook_url"]

WEBHOOK_ENV = "BENCHORCH_WEBHOOK"
TIMEOUT_S = 10.0


def webhook_url(configured: str | None) -> str | None:
    return configured or os.environ.get(WEBHOOK_ENV) or None


def post_webhook(url: str, text: str) -> bool:
    """POST ``{"text": text}``; False (logged) when it failed."""
    if not url.startswith(("http://", "https://")):
        log.error("webhook %r is not an http(s) URL: not sent (the verdict is unchanged)", url)
        return False
    body = json.dumps({"text": text}).encode()
    req = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 - http(s) only
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.error("webhook %s failed: %s (the verdict is unchanged)", url, exc)
        return False
    if not ok:
        log.error("webhook %s answered %s (the verdict is unchanged)", url, resp.status)
    return ok


def issue_body(report: NightReport) -> str:
    """Title line, table, commands to reproduce, both nights' PyTorch revisions."""
    v, s = report.verdicts, report.status
    worst = max(v.regressions, key=lambda r: r.ratio_previous)
    prev = v.previous
    title = (
        f"Nightly {s.night}: {len(v.regressions)} confirmed regression(s), "
        f"{worst.label} {_pct(worst.ratio_previous)}"
    )
    prev_rev = report.previous_revisions
    lines = [
        f"# {title}",
        "",
        *_table(v.regressions),
        "",
        "## Revisions",
        "",
        f"- tonight ({s.night}, run `{s.run_id}`): PyTorch {_md(s.revisions.get('pytorch'))}"
        f" (commit {_md(s.revisions.get('pytorch_commit') or '-')}), benchorch"
        f" {_md(s.revisions.get('benchorch'))}",
        f"- previous night ({prev.night if prev else '-'}, run"
        f" `{prev.run_id if prev else '-'}`): PyTorch {_md(prev_rev.get('pytorch', '-'))}"
        f" (commit {_md(prev_rev.get('pytorch_commit') or '-')}), benchorch"
        f" {_md(prev_rev.get('benchorch', '-'))}",
        "",
        "## Reproduce",
        "",
        "```sh",
        f"benchorch nightly compare {prev.night if prev else 'PREVIOUS'} {s.night}"
        f" --config {report.config_path}",
        f"benchorch compare {prev.run_id if prev else 'BASE'} {s.run_id} --format markdown",
        f"benchorch nightly report --night {s.night} --config {report.config_path}",
        "```",
        "",
        f"Confirmed by an A/B re-run on the same phone ({v.confirm_launches} extra launches)"
        " with the previous night's exact binary and variant files.",
    ]
    return "\n".join(lines) + "\n"


def write_issue(path: Path, report: NightReport) -> Path:
    atomic_write(path, issue_body(report).encode())
    return path
