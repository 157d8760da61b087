"""Cloud Scheduler's stand-in on the local stack: publish `{}` to `monitoring-ticks` every N s.

python -m shared.local.ticker --project demo-release-control --interval 5
"""

from __future__ import annotations

import argparse
import logging
import time

from shared import log
from shared.adapters.pubsub import Publisher
from shared.dead_letters import brief
from shared.topics import MONITORING_TICKS

logger = logging.getLogger("shared.local.ticker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    log.configure()
    publisher = Publisher(args.project)
    next_tick = time.monotonic()
    while True:  # a fixed period, as Cloud Scheduler keeps (no drift by the publish time)
        try:
            publisher.publish(MONITORING_TICKS, b"{}")
        except Exception as exc:  # Pub/Sub down or restarting: Cloud Scheduler keeps ticking
            logger.warning("tick not published: %s", brief(exc))
        next_tick = max(next_tick + args.interval, time.monotonic())
        time.sleep(max(0.0, next_tick - time.monotonic()))


if __name__ == "__main__":
    main()
