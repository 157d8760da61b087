"""Detection without the tick: a stored batch has its env judged at once.

At most one analysis runs per env: the runner holds the env's lease (`DetectionLease`, a
Firestore document). A batch that arrives while the lease is held marks the env `pending`,
and the holder runs once more when it finishes, so no batch waits for the scheduler's tick.
Runs are debounced: at most one starts per `detect_debounce_seconds` per env (the holder waits
out the rest of the interval), so a fleet of instances reporting together costs one analysis,
not one per batch. The monitoring tick stays as the backstop for silence (no batches at all).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from shared.clock import Clock
from shared.monitoring.ports import DetectionLease

log = logging.getLogger(__name__)
# longer than one analysis can take: a holder that died frees the env after this
LEASE = timedelta(seconds=60)
MAX_ROUNDS = 20  # then the holder lets go: a steady stream of batches is not one endless run

Analyse = Callable[[str, str], None]  # (env, run id): judge the env as a tick naming it would


class Detector:
    def __init__(
        self,
        *,
        lease: DetectionLease,
        analyse: Analyse,
        clock: Clock,
        debounce: Callable[[str], float],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.lease, self.analyse, self.clock = lease, analyse, clock
        self.debounce, self.sleep = debounce, sleep

    def poke(self, env: str, key: str) -> int:
        """Judge `env` now (or leave it to the runner holding its lease). Returns the runs
        made here. An analysis that fails lets the lease go and raises (the batch is
        redelivered, and pokes again)."""
        now = self.clock()
        taken, last_run = self.lease.acquire(env, key, now, now + LEASE)
        if not taken:
            return 0
        runs = 0
        while True:
            if last_run is not None:
                due = last_run + timedelta(seconds=self.debounce(env))
                wait = (due - self.clock()).total_seconds()
                if wait > 0:
                    self.sleep(wait)
            started = self.clock()
            try:
                self.analyse(env, f"{key}#{runs}")
            except Exception:
                self.lease.release(env, key, started)
                raise
            runs += 1
            last_run = started
            again = self.lease.finish(env, key, started, self.clock() + LEASE)
            if not again or runs >= MAX_ROUNDS:
                if again:
                    self.lease.release(env, key, started)
                return runs
