"""Short forms of the reasons a rollout records, for views that have one line to spare.

A bake or live-watch failure records every breaching window's note
(`error_rate: breached in 3 consecutive windows (limit 3): error rate 100.00% (must stay below
5.00%); error rate 100.00% (…); …`), which is the right evidence and the wrong headline. The
short form says each metric once: its last breaching value against its limit and how many
windows in a row breached. Anything else passes through unchanged. The full text stays on the
rollout, in `history` and in `--json`. Pure: strings in, strings out.
"""

from __future__ import annotations

import re

# One metric's confirmed breach, as `shared.monitoring.analysis.judge_metric` words it.
_BREACH = re.compile(
    r"(?P<metric>[a-z0-9_]+): breached in (?P<run>\d+) consecutive windows "
    r"\(limit (?P<needed>\d+)\): "
)


def summarise(reason: str | None) -> str:
    """The reason with each metric's breach said once; other reasons as they are."""
    if not reason:
        return ""
    starts = list(_BREACH.finditer(reason))
    if not starts:
        return reason
    prefix = reason[: starts[0].start()]  # e.g. "while live: "
    segments = []
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(reason)
        notes = [n for n in reason[match.end() : end].strip().rstrip(";").split("; ") if n]
        last = notes[-1] if notes else "breached"
        segments.append(f"{match['metric']}: {last}, {match['run']} windows in a row")
    return prefix + "; ".join(segments)
