"""The budget ledger, the top-up workflow and the append-only audit log.

Every function here only inserts rows. Top-ups change state by inserting a
newer version of the same ``topup_id``, so the history of each request stays
in the audit log.
"""

from __future__ import annotations

import getpass
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from otel_cost import config
from otel_cost.budgets.envelopes import Envelope
from otel_cost.errors import ConfigError
from otel_cost.store import Store

logger = logging.getLogger(__name__)

AUDIT_COLUMNS = [
    "audit_id",
    "ts",
    "action",
    "envelope",
    "scope",
    "instance",
    "actor",
    "reason",
    "amount_usd",
    "limit_usd",
    "spent_usd",
    "estimate_usd",
    "harness",
    "session_id",
    "details",
]
LEDGER_COLUMNS = [
    "entry_id",
    "ts",
    "envelope",
    "instance",
    "kind",
    "amount_usd",
    "actor",
    "reason",
    "topup_id",
]
TOPUP_COLUMNS = [
    "topup_id",
    "version",
    "envelope",
    "instance",
    "amount_usd",
    "status",
    "requested_by",
    "requested_at",
    "reason",
    "decided_by",
    "decided_at",
    "decision_reason",
]


def current_actor(explicit: str | None = None) -> str:
    """Return the actor: the explicit name, ``OTEL_COST_USER``, else the login name."""
    if explicit:
        return explicit
    from_env = os.environ.get(config.ENV_BUDGET_ACTOR)
    if from_env:
        return from_env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class AuditRecord:
    """One row of the audit log."""

    action: str
    envelope: str
    scope: str
    instance: str
    actor: str
    reason: str = ""
    amount_usd: Decimal | None = None
    limit_usd: Decimal | None = None
    spent_usd: Decimal | None = None
    estimate_usd: Decimal | None = None
    harness: str = ""
    session_id: str = ""
    details: dict[str, str] = field(default_factory=dict)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))


def append_audit(store: Store, records: list[AuditRecord]) -> None:
    """Append records to the audit log."""
    rows = [
        [
            uuid.uuid4().hex,
            r.ts,
            r.action,
            r.envelope,
            r.scope,
            r.instance,
            r.actor,
            r.reason,
            r.amount_usd,
            r.limit_usd,
            r.spent_usd,
            r.estimate_usd,
            r.harness,
            r.session_id,
            r.details,
        ]
        for r in records
    ]
    store.insert("budget_audit_log", rows, AUDIT_COLUMNS)
    for record in records:
        logger.info(
            "budget audit: %s on %s/%s by %s",
            record.action,
            record.envelope,
            record.instance,
            record.actor,
        )


def read_audit(
    store: Store,
    envelope: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Return audit rows, newest first, optionally for one envelope and since a time."""
    conditions = ["1"]
    parameters: dict[str, Any] = {}
    if envelope:
        conditions.append("envelope = {envelope:String}")
        parameters["envelope"] = envelope
    if since is not None:
        conditions.append("ts >= {since:DateTime64(3, 'UTC')}")
        parameters["since"] = since
    return store.query_dicts(
        f"SELECT {', '.join(AUDIT_COLUMNS)} FROM budget_audit_log "
        f"WHERE {' AND '.join(conditions)} "
        f"ORDER BY ts DESC, audit_id LIMIT {int(limit)}",
        parameters,
    )


@dataclass(frozen=True)
class Adjustments:
    """The ledger entries of one envelope instance, summed."""

    topups_usd: Decimal = Decimal(0)
    overrides_usd: Decimal = Decimal(0)
    lifted: bool = False


def add_ledger_entry(
    store: Store,
    envelope: str,
    instance: str,
    kind: str,
    amount_usd: Decimal | None,
    actor: str,
    reason: str,
    topup_id: str = "",
) -> None:
    """Append one adjustment (``topup`` or ``override``) to the ledger."""
    row = [
        uuid.uuid4().hex,
        datetime.now(UTC),
        envelope,
        instance,
        kind,
        amount_usd,
        actor,
        reason,
        topup_id,
    ]
    store.insert("budget_ledger", [row], LEDGER_COLUMNS)


def adjustments(store: Store, envelope: str, instance: str) -> Adjustments:
    """Return the summed top-ups and overrides of one envelope instance."""
    rows = store.query(
        "SELECT sumIf(amount_usd, kind = 'topup'), "
        "sumIf(amount_usd, kind = 'override' AND amount_usd IS NOT NULL), "
        "countIf(kind = 'override' AND amount_usd IS NULL) "
        "FROM budget_ledger "
        "WHERE envelope = {envelope:String} AND instance = {instance:String}",
        {"envelope": envelope, "instance": instance},
    )
    topups, overrides, lifts = rows[0]
    return Adjustments(
        topups_usd=topups if topups is not None else Decimal(0),
        overrides_usd=overrides if overrides is not None else Decimal(0),
        lifted=lifts > 0,
    )


def request_topup(
    store: Store,
    envelope: Envelope,
    instance: str,
    amount_usd: Decimal,
    actor: str,
    reason: str,
) -> str:
    """Record a top-up request and return its id."""
    if amount_usd <= 0:
        raise ConfigError(
            f"top-up amount {amount_usd} USD is invalid; expected more than 0"
        )
    topup_id = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    _write_topup(
        store,
        [
            topup_id,
            1,
            envelope.name,
            instance,
            amount_usd,
            "requested",
            actor,
            now,
            reason,
            "",
            None,
            "",
        ],
    )
    append_audit(
        store,
        [
            AuditRecord(
                "topup_request",
                envelope.name,
                envelope.scope.value,
                instance,
                actor,
                reason,
                amount_usd=amount_usd,
                limit_usd=envelope.limit_usd,
                details={"topup_id": topup_id},
            )
        ],
    )
    return topup_id


def get_topup(store: Store, topup_id: str) -> dict[str, Any]:
    """Return the latest state of a top-up or raise `ConfigError` when unknown."""
    rows = store.query_dicts(
        f"SELECT {', '.join(TOPUP_COLUMNS)} FROM budget_topups FINAL "
        "WHERE topup_id = {id:String}",
        {"id": topup_id},
    )
    if not rows:
        raise ConfigError(
            f"top-up {topup_id!r} not found; list them with `budget topup list`"
        )
    return rows[0]


def list_topups(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """Return every top-up in its latest state, newest request first."""
    where = "WHERE status = {status:String}" if status else ""
    return store.query_dicts(
        f"SELECT {', '.join(TOPUP_COLUMNS)} FROM budget_topups FINAL {where} "
        "ORDER BY requested_at DESC",
        {"status": status} if status else None,
    )


def decide_topup(
    store: Store,
    envelope: Envelope,
    topup_id: str,
    approver: str,
    approve: bool,
    reason: str = "",
) -> dict[str, Any]:
    """Approve (and apply to the ledger) or reject a requested top-up."""
    topup = get_topup(store, topup_id)
    if topup["status"] != "requested":
        raise ConfigError(
            f"top-up {topup_id!r} is already {topup['status']}; nothing to decide"
        )
    check_approver(envelope, approver, requested_by=topup["requested_by"])
    status = "approved" if approve else "rejected"
    now = datetime.now(UTC)
    _write_topup(
        store,
        [
            topup_id,
            topup["version"] + 1,
            topup["envelope"],
            topup["instance"],
            topup["amount_usd"],
            status,
            topup["requested_by"],
            topup["requested_at"],
            topup["reason"],
            approver,
            now,
            reason,
        ],
    )
    if approve:
        add_ledger_entry(
            store,
            topup["envelope"],
            topup["instance"],
            "topup",
            topup["amount_usd"],
            approver,
            topup["reason"],
            topup_id,
        )
    append_audit(
        store,
        [
            AuditRecord(
                f"topup_{'approve' if approve else 'reject'}",
                envelope.name,
                envelope.scope.value,
                topup["instance"],
                approver,
                reason or topup["reason"],
                amount_usd=topup["amount_usd"],
                limit_usd=envelope.limit_usd,
                details={"topup_id": topup_id, "requested_by": topup["requested_by"]},
            )
        ],
    )
    return get_topup(store, topup_id)


def check_approver(envelope: Envelope, approver: str, requested_by: str = "") -> None:
    """Raise `ConfigError` unless ``approver`` may approve changes to the envelope."""
    if not envelope.approvers:
        raise ConfigError(
            f"envelope {envelope.name!r} names no approvers; add 'approvers: [NAME]' "
            "to it in the budgets file"
        )
    if approver not in envelope.approvers:
        allowed = ", ".join(envelope.approvers)
        raise ConfigError(
            f"{approver!r} may not approve for envelope {envelope.name!r}; "
            f"approvers: {allowed}"
        )
    if requested_by and approver == requested_by:
        raise ConfigError(
            f"{approver!r} requested this top-up and cannot also approve it; "
            "ask another approver"
        )


def _write_topup(store: Store, row: list[Any]) -> None:
    store.insert("budget_topups", [row], TOPUP_COLUMNS)
