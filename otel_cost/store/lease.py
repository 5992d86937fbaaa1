"""Leases in ClickHouse, so that one process at a time runs a maintenance job.

ClickHouse has no locks or compare-and-set, but it drops an insert whose
deduplication token it has already seen. A lease is a series of terms in
``maintenance_leases``. To take a lease, a process reads the latest term, and
when that term has expired (or there is none) it inserts the next term with
the token ``<name>-<term>``. Of several processes that claim the same term at
once, only the first insert is kept, and each process reads the term back to
learn whether its row is the one stored. Times come from the server's clock
(``now64``), so the hosts' clocks do not matter.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from otel_cost.errors import ConfigError, StoreError
from otel_cost.store.connection import Store

logger = logging.getLogger(__name__)

LEASE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class LeaseHeldError(StoreError):
    """Another process holds the lease."""


@dataclass(frozen=True)
class Lease:
    """One term of a lease, owned by ``holder`` until it expires or is released."""

    name: str
    term: int
    holder: str


def new_holder_id() -> str:
    """Return an id naming this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(store: Store, name: str, ttl: timedelta) -> Lease:
    """Take the lease ``name`` for ``ttl``, or raise `LeaseHeldError`."""
    if not LEASE_NAME.match(name):
        raise ConfigError(f"invalid lease name {name!r}; use a-z, 0-9, _ and -")
    if ttl.total_seconds() < 1:
        raise ConfigError(f"lease time {ttl} is too short; use at least 1 second")
    lease = Lease(name, _next_term(store, name), new_holder_id())
    _insert_term(store, lease, ttl)
    _confirm_claim(store, lease)
    logger.info("acquired lease %s term %s as %s", name, lease.term, lease.holder)
    return lease


def _next_term(store: Store, name: str) -> int:
    """Return the term to claim, or raise `LeaseHeldError` if the latest is live."""
    latest = _latest_term(store, name)
    if latest is None:
        return 1
    term, holder, live = latest
    if live:
        raise LeaseHeldError(
            f"the {name} lease is held by {holder} (term {term}); "
            "wait for that run to finish or for its lease to expire"
        )
    return term + 1


def _confirm_claim(store: Store, lease: Lease) -> None:
    """Raise `LeaseHeldError` unless the stored row of the term is this claim."""
    winner = _holder_of(store, lease.name, lease.term)
    if winner is None:
        # The claim was dropped as a duplicate, but the winning row is not
        # visible here yet (another replica), or the table was emptied while
        # ClickHouse still remembers the token.
        raise LeaseHeldError(
            f"the claim of the {lease.name} lease (term {lease.term}) was not "
            "stored and no other holder is visible; try again later, and if rows "
            "were deleted from maintenance_leases, insert an expired row with a "
            "higher term"
        )
    if winner != lease.holder:
        raise LeaseHeldError(
            f"the {lease.name} lease was taken by {winner} (term {lease.term}) at "
            "the same moment; try again later"
        )


def check_lease(store: Store, lease: Lease) -> None:
    """Raise `LeaseHeldError` unless ``lease`` is still the live, latest term."""
    latest = _latest_term(store, lease.name)
    if latest is None or latest[0] != lease.term or latest[1] != lease.holder:
        raise LeaseHeldError(
            f"the {lease.name} lease term {lease.term} is no longer the latest; "
            "another process took the lease"
        )
    if not latest[2]:
        raise LeaseHeldError(
            f"the {lease.name} lease term {lease.term} expired before the run ended; "
            "give a longer lease time"
        )


def release_lease(store: Store, lease: Lease) -> None:
    """End ``lease`` by storing the next term, already expired."""
    ended = Lease(lease.name, lease.term + 1, lease.holder)
    _insert_term(store, ended, timedelta(0))
    logger.info("released lease %s term %s", lease.name, lease.term)


def _latest_term(store: Store, name: str) -> tuple[int, str, bool] | None:
    # Of two rows for one term (possible only if deduplication is disabled),
    # every reader picks the same one: the smallest holder.
    rows = store.query(
        "SELECT term, holder, expires_at > now64(3) FROM maintenance_leases "
        "WHERE name = {name:String} ORDER BY term DESC, holder LIMIT 1",
        {"name": name},
    )
    if not rows:
        return None
    term, holder, live = rows[0]
    return int(term), str(holder), bool(live)


def _holder_of(store: Store, name: str, term: int) -> str | None:
    rows = store.query(
        "SELECT holder FROM maintenance_leases "
        "WHERE name = {name:String} AND term = {term:UInt64} ORDER BY holder LIMIT 1",
        {"name": name, "term": term},
    )
    return str(rows[0][0]) if rows else None


def _insert_term(store: Store, lease: Lease, ttl: timedelta) -> None:
    # In cluster mode Keeper stores the tokens, so a losing insert is dropped on
    # every replica. A read-back from a replica that has not fetched the winning
    # row yet finds no row, and the claim fails without granting the lease.
    token = f"{lease.name}-{lease.term}"
    milliseconds = int(ttl.total_seconds() * 1000)
    store.command(
        "INSERT INTO maintenance_leases "
        f"SETTINGS insert_deduplicate = 1, insert_deduplication_token = '{token}' "
        "SELECT {name:String}, {term:UInt64}, {holder:String}, now64(3), "
        "now64(3) + toIntervalMillisecond({ttl:UInt64})",
        {
            "name": lease.name,
            "term": lease.term,
            "holder": lease.holder,
            "ttl": milliseconds,
        },
    )
