"""Cloud Scheduler's stand-in on the local stack: publish `{}` to `monitoring-ticks` every N s.

python -m shared.local.ticker --project demo-release-control --interval 5
"""

from __future__ import annotations

import argparse
import time

from shared.adapters.pubsub import Publisher
from shared.topics import MONITORING_TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    publisher = Publisher(args.project)
    next_tick = time.monotonic()
    while True:  # a fixed period, as Cloud Scheduler keeps (no drift by the publish time)
        publisher.publish(MONITORING_TICKS, b"{}")
        next_tick += args.interval
        time.sleep(max(0.0, next_tick - time.monotonic()))


if __name__ == "__main__":
    main()
