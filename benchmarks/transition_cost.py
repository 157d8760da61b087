"""Cost of one handled event on the Firestore emulator.

For a build status that only records progress (WORKING), one that moves the rollout
(SUCCESS: a transition with its outbox) and a redelivered duplicate, prints the Firestore RPCs
and transactions per event and the median time per event, against one raw transaction that
reads and writes the same documents with the client library, measured in the same run (and
the same transaction begun inside its read, as the bus's are: the floor for them).
Goals: one transaction per event; a duplicate costs one read and no write; <= 1.5x raw.

    .venv/bin/python benchmarks/transition_cost.py [--events 150]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from google.cloud import firestore

from benchmarks._emulator import firestore_emulator
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.adapters.lazy_transaction import LazyTransaction, attempts
from shared.config import EnvConfig, PlaneConfig
from shared.domain.builds import Build
from shared.domain.commands import CreateRelease, PromoteRelease
from shared.domain.messages import BuildStatusChanged
from shared.service.messagebus import MessageBus
from tests.builds import step_build
from tests.integration.core_stack import step_request
from tests.unit.fakes import FakeClock, fake_ports

RPCS = ("batch_get_documents", "begin_transaction", "commit", "rollback", "run_query")
WRITES = ("commit",)
TRANSACTIONS = "transactions"
SHA = "0123456789abcdef0123456789abcdef01234567"


def count_rpcs(client: Any) -> Counter[str]:
    """Count every RPC the client sends, by method (wrapping its GAPIC transport methods), and
    the transactions begun, by BeginTransaction or inside a first read (`newTransaction`)."""
    counts: Counter[str] = Counter()
    api = client._firestore_api
    for name in RPCS:
        real = getattr(api, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            counts[_name] += 1
            request = kwargs.get("request")
            begins = _name == "begin_transaction" or (
                _name == "batch_get_documents" and "new_transaction" in request
            )
            counts[TRANSACTIONS] += begins
            return _real(*args, **kwargs)

        setattr(api, name, counted)
    return counts


def make_bus(client: Any, envs: int) -> MessageBus:
    plane = PlaneConfig(
        environments={
            f"e{n}": EnvConfig(name=f"e{n}", project=f"demo-bench-{n:04d}") for n in range(envs)
        }
    )
    return MessageBus(
        uow=FirestoreUnitOfWork(client), plane=plane, clock=FakeClock(), ports=fake_ports()
    )


def build_message(version: str, env: str, status: str) -> BuildStatusChanged:
    body = step_build(step_request(version, env, "migrate"), status, f"b-{version}")
    return BuildStatusChanged(build=Build.model_validate_json(body))


def sample_documents(client: Any) -> dict[str, dict[str, Any]]:
    """Real documents of one transition, by the name the baseline stores them under."""
    paths = {
        "ro": "releases/1.0.0/rollouts/e0",
        "rel": "releases/1.0.0",
        "env": "environments/e0",
        "history": "releases/1.0.0/history/000002",
        "marker": "processedEvents/b:p0",
    }
    return {name: client.document(path).get().to_dict() for name, path in paths.items()}


def seed_raw(client: Any, items: list[int], docs: dict[str, dict[str, Any]]) -> None:
    """The documents the baseline reads, in the state a transition finds them: the release,
    environment and rollout exist, the event's record does not."""
    for n in items:
        for name in ("rel", "env", "ro"):
            client.document(f"raw/{n}/docs/{name}").set(docs[name])


def raw_transaction(client: Any, n: int, docs: dict[str, dict[str, Any]]) -> None:
    """The baseline: read the 4 documents a transition reads, write the 5 it writes, as plain
    dicts of the same shape and size, with the client library's transaction and no framework
    around it."""
    reads, writes = raw_refs(client, n)

    @firestore.transactional
    def run(tx: Any) -> None:
        list(client.get_all(reads, transaction=tx))
        for name, ref in writes.items():
            tx.set(ref, docs[name])

    run(client.transaction())


def raw_begun_by_read(client: Any, n: int, docs: dict[str, dict[str, Any]]) -> None:
    """The same, begun inside its read as the bus's transactions are: the floor for them."""
    reads, writes = raw_refs(client, n)

    def run(tx: LazyTransaction) -> None:
        tx.read(reads)
        for name, ref in writes.items():
            tx.set(ref, docs[name])

    attempts(client, run)()


def raw_refs(client: Any, n: int) -> tuple[list[Any], dict[str, Any]]:
    base = f"raw/{n}"
    names = ("marker", "rel", "env", "ro")
    reads = {name: client.document(f"{base}/docs/{name}") for name in names}
    return list(reads.values()), {**reads, "history": client.document(f"{base}/history/{n:06d}")}


def measure(
    counts: Counter[str], items: list[int], rows: dict[str, Callable[[int], object]]
) -> list[tuple[str, float, dict[str, float]]]:
    """Time each row's call for every item, interleaving rows so machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in rows}
    rpcs: dict[str, Counter[str]] = {name: Counter() for name in rows}
    for item in items:
        for name, once in rows.items():
            counts.clear()
            start = time.perf_counter()
            once(item)
            times[name].append(time.perf_counter() - start)
            rpcs[name].update(counts)
    return [
        (
            name,
            statistics.median(times[name]) * 1000,
            {k: v / len(items) for k, v in sorted(rpcs[name].items())},
        )
        for name in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=150)
    n = parser.parse_args().events
    with firestore_emulator():
        client = firestore.Client(project="demo-release-control")
        bus = make_bus(client, n)
        items = list(range(n))
        for i in items:  # one rollout per environment, each now migrating
            bus.handle(
                CreateRelease(
                    type="release.create", version=f"1.0.{i}", commit=SHA, branch="main", author="a"
                ),
                event_id=f"c{i}",
                topic="b",
            )
            bus.handle(
                PromoteRelease(type="release.promote", release=f"1.0.{i}", env=f"e{i}", actor="a"),
                event_id=f"p{i}",
                topic="b",
            )
        docs = sample_documents(client)
        seed_raw(client, [*items, *(i + n for i in items)], docs)
        counts = count_rpcs(client)

        def deliver(status: str, prefix: str) -> Callable[[int], object]:
            # messages are decoded before the clock starts: this measures the handling
            messages = [build_message(f"1.0.{i}", f"e{i}", status) for i in items]
            return lambda i: bus.handle(messages[i], event_id=f"{prefix}{i}", topic="cloud-builds")

        rows = measure(
            counts,
            items,
            {
                "raw transaction (baseline)": lambda i: raw_transaction(client, i, docs),
                "raw, begun by its read": lambda i: raw_begun_by_read(client, i + n, docs),
                "WORKING (records progress)": deliver("WORKING", "w"),
                "SUCCESS (transition + outbox)": deliver("SUCCESS", "s"),
                "SUCCESS redelivered (duplicate)": deliver("SUCCESS", "s"),
            },
        )
    baseline = rows[0][1]
    print(f"Firestore emulator, {n} events per row, median time per event\n")
    print(f"{'event':34} {'ms':>7} {'x raw':>6}  {'tx':>4} {'writes':>6}  RPCs per event")
    for name, ms, per in rows:
        tx = per.pop(TRANSACTIONS, 0.0)
        writes = sum(per.get(k, 0.0) for k in WRITES)
        rpcs = ", ".join(f"{k}={v:g}" for k, v in per.items())
        print(f"{name:34} {ms:7.2f} {ms / baseline:6.2f}  {tx:4g} {writes:6g}  {rpcs}")


if __name__ == "__main__":
    main()
